"""A new user's habits: missing extras, global options anywhere, warnings for ignored inputs, progress off a
terminal, thread limits, the scikit-learn sampler, and outputs that read well."""

from __future__ import annotations

import doctest
import json
import io
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import coreselect
from coreselect import progress, threads
from coreselect.cli.main import main
from coreselect.errors import InputError, UnusedInputWarning

#: Runs the CLI with some top-level modules made unimportable, as on a machine without that extra.
_WITHOUT = textwrap.dedent("""
    import sys

    class Hide:
        def __init__(self, names):
            self.names = names

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.names:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, Hide(set(sys.argv[1].split(","))))
    from coreselect.cli.main import main
    sys.exit(main(sys.argv[2:]))
""")


def _cli_without(modules: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WITHOUT, modules, *argv], capture_output=True, text=True)


@pytest.mark.parametrize(("modules", "argv", "extra"), [
    ("torch", ["score", "--dataset", "digits", "--epochs", "1"], "torch"),
    ("torch", ["bench", "--dataset", "digits", "--methods", "uniform", "--seeds", "1"], "torch"),
    ("dask,distributed", ["select", "uniform", "--features", "shards/*.npy", "--fraction", "0.1"], "dask"),
])
def test_missing_extra_is_one_clear_error(tmp_path, modules, argv, extra):
    out = tmp_path / ("bench" if argv[0] == "bench" else "out.npz")
    r = _cli_without(modules, *argv, "--out", str(out))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith("error: ") and f"needs the '{extra}' extra" in lines[0]
    assert f'pip install "coreselect[{extra}]"' in lines[0]
    assert not out.exists()


def test_global_options_stand_before_or_after_the_command(files, capsys):
    args = ["select", "uniform", "--features", str(files / "x.npy"), "--size", "10"]
    assert main([*args, "--out", str(files / "a.npz"), "--quiet", "--threads", "1"]) == 0
    assert main(["--quiet", "--threads", "1", *args, "--out", str(files / "b.npz")]) == 0
    assert (files / "a.npz").read_bytes() == (files / "b.npz").read_bytes()
    assert main([*args, "--out", str(files / "c.npz"), "--threads", "0"]) == 2
    assert "--threads must be in [1, 4096], got 0" in capsys.readouterr().err
    assert main([*args, "--out", str(files / "c.npz"), "--threads", str(2**64)]) == 2  # not a C int overflow
    assert "--threads must be in [1, 4096]" in capsys.readouterr().err


def test_bare_command_prints_usage_on_stderr():
    r = subprocess.run([sys.executable, "-m", "coreselect"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("usage: coreselect") and "error: give a command" in r.stderr


def test_unused_labels_warn_once_and_name_the_switch(blobs):
    x, y = blobs
    with pytest.warns(UnusedInputWarning, match=r"'kcenter' does not use labels.*per_class=True"):
        coreselect.select("kcenter", features=x, labels=y, fraction=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coreselect.select("kcenter", features=x, labels=y, fraction=0.05, per_class=True)
        coreselect.select("herding", features=x, labels=y, fraction=0.05)  # class by class when labelled
        coreselect.select("moderate", features=x, labels=y, fraction=0.05)  # class medians when labelled
    with pytest.warns(UnusedInputWarning, match=r"'uniform' does not use labels, signal 'aum'.*stratified"):
        coreselect.select("uniform", features=x, labels=y, signals={"aum": np.ones(len(x))}, fraction=0.1)


def test_signal_names_are_case_insensitive(blobs):
    x, y = blobs
    el2n = np.random.default_rng(1).random(len(x))
    upper = coreselect.select("prune", features=x, signals={"EL2N": el2n}, fraction=0.1)
    lower = coreselect.select("prune", features=x, signals={"el2n": el2n}, fraction=0.1)
    assert upper == lower
    with pytest.raises(InputError, match="given twice"):
        coreselect.select("prune", features=x, signals={"EL2N": el2n, "el2n": el2n}, fraction=0.1)
    with pytest.raises(InputError, match=r"missing signal 'el2n'.*signals given: 'el2'"):
        coreselect.select("prune", features=x, signals={"el2": el2n}, fraction=0.1)


def test_cli_warns_about_an_unused_input_after_success(files):
    r = subprocess.run([sys.executable, "-m", "coreselect", "select", "kcenter", "--features", str(files / "x.npy"),
                        "--labels", str(files / "y.npy"), "--size", "12", "--out", str(files / "s.npz")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == [
        "warning: method 'kcenter' does not use labels: ignored; pass per_class=True to select class by class"]


def test_cli_signals_file_gives_a_method_only_what_it_reads(files, capsys):
    x, y = np.load(files / "x.npy"), np.load(files / "y.npy")
    bundle = files / "signals.npz"
    np.savez(bundle, features=x, labels=y, el2n=np.random.default_rng(2).random(len(y)), aum=np.zeros(len(y)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["select", "kcenter", "--signals-from", str(bundle), "--size", "12",
                     "--out", str(files / "k.npz")]) == 0
    assert "warning" not in capsys.readouterr().err


def test_craig_from_a_signals_file_builds_gradient_embeddings(files, capsys):
    from coreselect.geometry.gradients import gradient_embedding

    rng = np.random.default_rng(3)
    x, y = np.load(files / "x.npy"), np.load(files / "y.npy")
    logits = rng.normal(size=(len(y), 3)).astype(np.float32)
    bundle = files / "signals.npz"
    np.savez(bundle, features=x, labels=y, logits=logits)
    assert main(["select", "craig", "--signals-from", str(bundle), "--size", "30", "--out", str(files / "c.npz")]) == 0
    expected = coreselect.select("craig", features=gradient_embedding("logits", logits, y), labels=y, size=30)
    assert coreselect.Subset.load(files / "c.npz") == expected  # CRAIG's default embedding: p - y
    assert main(["select", "craig", "--signals-from", str(bundle), "--size", "30", "--param", "gradient=full",
                 "--out", str(files / "f.npz")]) == 0
    full = coreselect.select("craig", features=gradient_embedding("full", logits, y, x), labels=y, size=30,
                             gradient="full")
    assert coreselect.Subset.load(files / "f.npz") == full
    np.savez(bundle, features=x, labels=y)  # no logits: refuse, saying why
    assert main(["select", "gradmatch", "--signals-from", str(bundle), "--size", "30",
                 "--out", str(files / "g.npz")]) == 2
    err = capsys.readouterr().err
    assert "last-layer gradient embeddings" in err and "lacks logits" in err and not (files / "g.npz").exists()


def test_sampling_methods_say_why_they_return_fewer_rows(files):
    r = subprocess.run([sys.executable, "-m", "coreselect", "select", "sensitivity", "--features",
                        str(files / "x.npy"), "--oracle", str(files / "loss.npy"), "--size", "200", "--param", "k=10",
                        "--out", str(files / "s.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = len(coreselect.Subset.load(files / "s.npz"))
    assert m < 200
    assert f"selected {m} of 600 (200 draws, {m} distinct: repeats merged into their weights)" in r.stdout


def test_progress_writes_plain_lines_off_a_terminal(monkeypatch):
    stream = io.StringIO()  # not a TTY
    monkeypatch.setattr(sys, "stderr", stream)
    with progress.Progress(10, "work", unit="steps", interval=0.0) as report:
        for _ in range(10):
            report.update()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11  # one per update, and the last one again on close
    assert lines[4].startswith("work: 5/10 steps (50%), 0:00 elapsed, ETA 0:00")
    stream.truncate(0)
    with progress.quiet(), progress.Progress(10, "work", interval=0.0) as report:
        report.update(10)
    with progress.Progress(10, "short work") as report:  # under the interval: nothing at all
        report.update(10)
    assert stream.getvalue() == ""


def test_training_progress_advances_within_an_epoch(monkeypatch):
    torch = pytest.importorskip("torch")
    from coreselect.train import TrainConfig, fit

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.0)
    x = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    fit(torch.nn.Linear(4, 2), x, y, TrainConfig(epochs=2, batch_size=64, device="cpu"))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("train: 1/8 batches")  # the first batch, long before the first epoch ends
    assert "epoch 2/2, loss" in lines[-1]


def test_thread_limits_apply_and_are_restored(monkeypatch):
    from threadpoolctl import threadpool_info

    before = [p["num_threads"] for p in threadpool_info()]
    with threads.limit(work=1000) as count:
        assert count == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert [p["num_threads"] for p in threadpool_info()] == before
    monkeypatch.setenv(threads.ENV_VAR, "3")
    assert threads.threads_for(threads.SMALL_WORK) == 3 and threads.threads_for(10) == 1
    monkeypatch.setenv(threads.ENV_VAR, "many")
    with pytest.raises(InputError, match=r"CORESELECT_NUM_THREADS must be an integer in \[1, 4096\]"):
        threads.default_threads()
    with pytest.raises(InputError, match=r"threads must be an integer in \[1, 4096\]"):
        with threads.limit(0):
            pass


def test_training_uses_the_configured_torch_threads():
    torch = pytest.importorskip("torch")
    from coreselect.train import TrainConfig, fit

    seen = []

    class Probe(torch.nn.Linear):
        def forward(self, x):
            seen.append(torch.get_num_threads())
            return super().forward(x)

    before = torch.get_num_threads()
    x = np.zeros((8, 2), np.float32)
    fit(Probe(2, 2), x, np.zeros(8, np.int64), TrainConfig(epochs=1, device="cpu", threads=1), progress=False)
    assert seen[-1] == 1 and torch.get_num_threads() == before
    with pytest.raises(InputError, match="threads"):
        TrainConfig(threads=0)


def test_sampler_docstring_example_runs():
    import coreselect.resample

    result = doctest.testmod(coreselect.resample, raise_on_error=False)
    assert result.attempted >= 5 and result.failed == 0


def test_sampler_in_an_imbalanced_learn_pipeline(blobs):
    pytest.importorskip("imblearn")
    from imblearn.pipeline import make_pipeline
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    x, y = blobs
    pipe = make_pipeline(coreselect.CoresetSampler("herding", fraction=0.1), LogisticRegression())
    pipe.fit(x, y)
    sampler = pipe.steps[0][1]
    assert len(sampler.sample_indices_) == 60 and sampler.sample_weight_.sum() == pytest.approx(600)
    assert (pipe.predict(x) == y).mean() > 0.9
    assert clone(sampler).get_params()["method"] == "herding"  # a proper scikit-learn estimator
    with pytest.raises(InputError, match="y has 5 rows but features have 600"):
        coreselect.CoresetSampler().fit_resample(x, y[:5])


def test_sampler_passes_labels_only_to_methods_that_read_them(blobs):
    x, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x_s, y_s = coreselect.CoresetSampler("kcenter", size=30).fit_resample(x, y)
    assert x_s.shape == (30, 8) and y_s.shape == (30,)
    s = coreselect.CoresetSampler("uniform", size=30, params={"stratified": True})
    s.fit_resample(x, y)
    assert np.bincount(y[s.sample_indices_]).tolist() == [15, 10, 5]


def test_demo_table_marks_the_best_and_explains_zero_spread():
    from coreselect.bench.demo import DemoResult

    r = DemoResult(fractions=(0.1, 0.2), full_accuracy=0.97)
    r.accuracy = {"uniform": {0.1: [0.8, 0.9], 0.2: [0.92, 0.94]}, "herding": {0.1: [0.88, 0.88], 0.2: [0.91, 0.91]}}
    text = r.table()
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith(("random", "herding"))}
    assert "0.880 ± 0.000 *" in rows["herding"] and "0.930 ± 0.010 *" in rows["random"]
    assert "0.910 ± 0.000 *" not in rows["herding"]
    assert "best mean accuracy in the column (10%: herding, 20%: uniform)" in text
    assert "± 0.000: the same accuracy for every seed" in text


def test_report_plot_styles_differ_for_forty_methods():
    from coreselect.bench.report import _style

    styles = {(s["color"], s["marker"]) for s in map(_style, range(40))}
    assert len(styles) == 40


def test_an_allocation_nothing_splits_by_class_is_named(blobs):
    x, y = blobs
    with pytest.warns(UnusedInputWarning, match=r"'kcenter' does not use the allocation.*per_class=True"):
        coreselect.select("kcenter", features=x, size=20, allocation="balanced")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coreselect.select("kcenter", features=x, labels=y, size=21, allocation="balanced", per_class=True)


def test_craig_from_a_signals_file_with_class_names(files):
    x, y = np.load(files / "x.npy"), np.load(files / "y.npy")
    names = np.array(["ant", "bee", "cat"])[y]
    logits = np.random.default_rng(4).normal(size=(len(y), 3)).astype(np.float32)
    np.savez(files / "named.npz", features=x, labels=names, logits=logits)
    np.savez(files / "coded.npz", features=x, labels=y, logits=logits)
    for name in ("named", "coded"):
        assert main(["select", "craig", "--signals-from", str(files / f"{name}.npz"), "--size", "30",
                     "--out", str(files / f"{name}-subset.npz")]) == 0
    named, coded = (coreselect.Subset.load(files / f"{n}-subset.npz") for n in ("named", "coded"))
    assert np.array_equal(named.indices, coded.indices) and np.array_equal(named.weights, coded.weights)


def test_report_shows_dollar_signs_in_names_as_written(tmp_path):
    pytest.importorskip("matplotlib")
    from coreselect.bench.report import write_report

    lines = [{"key": {"method": m, "budget": 0.1, "seed": s, "dataset": "$x$"}, "metrics": {"acc$": 0.5 + s / 10},
              "timings": {}} for m in ("uniform", r"$\frac{a", "b$") for s in (0, 1)]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    md, png = write_report(tmp_path)
    assert png.read_bytes()[:4] == b"\x89PNG" and r"$\frac{a" in md.read_text()
