"""The benchmark runner, the oneshot protocol, data transforms and reports (tiny runs, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from coreselect.bench import BenchConfig, ResultStore
from coreselect.bench import datasets as bd
from coreselect.bench.protocols import oneshot
from coreselect.bench.report import write_report
from coreselect.bench.runner import known_protocols, run_bench
from coreselect.cli.main import main
from coreselect.data import load_dataset
from coreselect.errors import InputError


def _config(out: Path, **kw) -> BenchConfig:
    base = dict(dataset="four-moons", protocol="oneshot", out=out, methods=("uniform", "moderate"),
                fractions=(0.1,), seeds=2, epochs=2, device="cpu",
                options={"train_size": "600", "proxy_epochs": "2"})
    return BenchConfig(**{**base, **kw})


def _records(out: Path) -> list[dict]:
    return list(ResultStore(out).records())


def _by_key(records: list[dict]) -> dict[str, dict]:
    return {json.dumps(r["key"], sort_keys=True): r for r in records}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "a"
    run_bench(_config(out))
    return out


def test_oneshot_records_every_run(finished):
    records = _records(finished)
    assert len(records) == 2 * 3  # per seed: full + 2 methods × 1 fraction
    methods = sorted(r["key"]["method"] for r in records)
    assert methods == ["full", "full", "moderate", "moderate", "uniform", "uniform"]
    for r in records:
        assert 0 <= r["metrics"]["test_accuracy"] <= 1
        assert r["key"]["transform"] == "train_size=600" and r["key"]["data_seed"] == r["key"]["seed"]
        assert r["key"]["subset_budget"] == "steps" and r["steps"] == 2 * 5  # as many steps as 2 epochs of 600
        assert r["metrics"]["final_train_loss"] > 0
        if r["key"]["method"] == "full":
            assert set(r["timings"]) == {"signal", "train_full"} and r["size"] == 600
        else:
            assert set(r["timings"]) == {"select", "signal", "train_subset"}
            assert r["size"] == 60 and len(r["subset_sha256"]) == 64


def test_same_command_twice_gives_identical_subsets_and_accuracies(finished, tmp_path):
    run_bench(_config(tmp_path / "b"))
    a, b = _by_key(_records(finished)), _by_key(_records(tmp_path / "b"))
    assert a.keys() == b.keys()
    for k in a:
        assert a[k]["metrics"] == b[k]["metrics"]
        assert a[k].get("subset_sha256") == b[k].get("subset_sha256")


def test_resume_after_kill_runs_only_the_rest(finished, tmp_path, monkeypatch):
    out = tmp_path / "resume"
    out.mkdir()
    lines = (finished / "results.jsonl").read_text().splitlines(keepends=True)
    k = 2
    cut = lines[k][: len(lines[k]) // 2]  # a run killed while its line was being written
    (out / "results.jsonl").write_text("".join(lines[:k]) + cut)
    calls = []
    real = oneshot.train_subset
    monkeypatch.setattr(oneshot, "train_subset", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    run_bench(_config(out))
    records = _records(out)
    assert _by_key(records).keys() == _by_key(_records(finished)).keys() and len(records) == len(lines)
    done_before = [json.loads(x)["key"] for x in lines[:k]]
    rest = [json.loads(x)["key"] for x in lines[k:]]
    assert len(calls) == sum(key["method"] != "full" for key in rest)  # seed 0's full came from the proxy
    assert [r["key"] for r in records[:k]] == done_before
    again, first = _by_key(records), _by_key(_records(finished))
    for key in first:  # the redone runs match the uninterrupted ones
        assert again[key]["metrics"] == first[key]["metrics"]
        assert again[key].get("subset_sha256") == first[key].get("subset_sha256")
    calls.clear()
    run_bench(_config(out))  # everything done: nothing runs
    assert calls == [] and len(_records(out)) == len(lines)


def test_report_writes_markdown_and_png_with_random_first(finished):
    md, png = write_report(finished)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    table = rows[1: 1 + 3]  # the test_accuracy table: header, then methods
    assert rows[0].startswith("| method | 10% |")
    assert table[0].startswith("| uniform (random) |") and table[-1].startswith("| full data |")
    assert "**" in table[0] + table[1]  # the best of the column is bold
    assert "mean ± std over 2 seeds" in text


def test_report_cli_and_errors(finished, tmp_path, capsys):
    assert main(["report", str(finished)]) == 0
    assert "report.md" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 2
    assert "results.jsonl" in capsys.readouterr().err


def test_transforms_are_seeded_and_recorded():
    ds = load_dataset("four-moons", seed=0)
    t = bd.Transforms.from_options({"noise": "0.4", "imbalance": "10"})
    a, b, c = bd.prepare(ds, t, 0), bd.prepare(ds, t, 0), bd.prepare(ds, t, 1)
    assert a.transform == "imbalance=10,noise=0.4" and a.data_seed == 0 and c.data_seed == 1
    assert np.array_equal(a.y_train, b.y_train) and np.array_equal(a.rows, b.rows)
    assert not np.array_equal(a.rows, c.rows)
    counts = np.bincount(ds.y_train[a.rows], minlength=4)
    assert counts[0] == np.bincount(ds.y_train).min() and counts[0] // counts[-1] == 10
    assert a.noisy.sum() == round(0.4 * a.n) and np.all(a.y_train[a.noisy] != ds.y_train[a.rows][a.noisy])
    assert np.array_equal(a.y_train[~a.noisy], ds.y_train[a.rows][~a.noisy])
    fixed = bd.Transforms.from_options({"noise": "0.4", "data_seed": "7"})
    assert np.array_equal(bd.prepare(ds, fixed, 0).y_train, bd.prepare(ds, fixed, 1).y_train)
    np.testing.assert_allclose(a.x_train.mean(axis=0), 0, atol=1e-5)  # standardised with train statistics
    np.testing.assert_allclose(a.x_train.std(axis=0), 1, atol=1e-4)


def test_uniform_mix_noise_redraws_labels_from_all_classes_and_marks_the_changed_ones():
    labels = np.repeat(np.arange(10), 10_000)
    noisy, changed = bd.uniform_mix_noise(labels, 10, 0.4, np.random.default_rng(0))
    assert np.array_equal(changed, noisy != labels)
    assert abs(changed.mean() - 0.4 * 9 / 10) < 0.005  # a redraw may land on the same class
    moved = np.bincount((noisy[changed] - labels[changed]) % 10, minlength=10) / changed.sum()
    assert moved[0] == 0 and np.allclose(moved[1:], 1 / 9, atol=0.01)  # the wrong label is any other class
    ds = load_dataset("four-moons", seed=0)
    t = bd.Transforms.from_options({"noise": "0.4", "noise_kind": "uniform_mix"})
    a, b, sym = bd.prepare(ds, t, 0), bd.prepare(ds, t, 0), bd.prepare(ds, bd.Transforms(noise=0.4), 0)
    assert a.transform == "noise=0.4,noise_kind=uniform_mix" and np.array_equal(a.y_train, b.y_train)
    assert np.array_equal(a.noisy, a.y_train != ds.y_train[a.rows]) and not np.array_equal(a.y_train, sym.y_train)
    expected = bd.uniform_mix_noise(ds.y_train[a.rows], 4, 0.4, np.random.default_rng([0, 3]))[0]
    assert np.array_equal(a.y_train, expected)  # the noise stream of every transform: [data_seed, 3]


def test_noise_kind_symmetric_is_the_default_and_keeps_the_key():
    explicit = bd.Transforms.from_options({"noise": "0.4", "imbalance": "10", "noise_kind": "symmetric"})
    assert explicit == bd.Transforms.from_options({"noise": "0.4", "imbalance": "10"})
    assert explicit.describe() == "imbalance=10,noise=0.4"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"noise": "0.4", "noise_kind": "pair"}, "noise_kind='pair': choose one of symmetric, uniform_mix"),
        ({"noise_kind": "uniform_mix"}, "needs a noise rate: add --option noise=r"),
        ({"noise": "0", "noise_kind": "symmetric"}, "needs a noise rate"),
    ],
)
def test_bad_noise_kind_is_refused(options, message):
    with pytest.raises(InputError, match=message):
        bd.Transforms.from_options(options)


def test_noise_is_recorded_in_key_and_metrics(tmp_path):
    out = tmp_path / "noise"
    run_bench(_config(out, methods=("uniform",), seeds=1, options={"train_size": "400", "noise": "0.3"}))
    runs = [r for r in _records(out) if r["key"]["method"] == "uniform"]
    assert runs[0]["key"]["transform"] == "train_size=400,noise=0.3"
    assert 0 < runs[0]["metrics"]["noisy_fraction"] < 1


def test_methods_needing_missing_inputs_are_skipped_with_reason(tmp_path):
    out = tmp_path / "skip"
    run_bench(_config(out, methods=("sensitivity", "prune:signal=aum"), seeds=1))
    by_method = {r["key"]["method"]: r for r in _records(out)}
    assert "oracle" in by_method["sensitivity"]["skipped"]
    assert "test_accuracy" in by_method["prune:signal=aum"]["metrics"]
    md, _ = write_report(out)
    assert "Skipped:" in md.read_text() and "`sensitivity`" in md.read_text()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(protocol="nope"), "known protocols: " + ", ".join(known_protocols())),
        (dict(dataset="nope"), "unknown dataset"),
        (dict(methods=("uniform", "bogus")), "unknown method 'bogus'"),
        (dict(methods=("prune:signal",)), "expected name:key=value"),
        (dict(methods=("prune:colour=red",)), "no parameter 'colour'"),
        (dict(methods=("uniform", "uniform")), "given twice"),
        (dict(fractions=(0.0,)), "fractions must be in (0, 1]"),
        (dict(fractions=(), sizes=()), "at least one fraction or size"),
        (dict(sizes=(10_000,)), "exceed the 600 training examples"),
        (dict(seeds=0), "seeds must be a positive integer"),
        (dict(model="vgg"), "unknown model"),
        (dict(options={"colour": "red"}), "has no option colour"),
        (dict(options={"noise": "1.5"}), "noise"),
        (dict(options={"train_size": "100000"}), "train_size"),
        (dict(options={"subset_epochs": "3", "subset_budget": "epochs"}), "not both"),
        (dict(options={"subset_budget": "minutes"}), "subset_budget must be one of steps, epochs"),
        (dict(options={"subset_weights": "equal"}), "subset_weights must be one of selected, uniform"),
        (dict(options={"feature_epoch": "3", "proxy_epochs": "2"}), "feature_epoch must be in [1, 2]"),
        (dict(options={"el2n_epochs": "9", "proxy_epochs": "2"}), "el2n_epochs must be in [1, 2]"),
        (dict(model="cnn"), "needs image input"),
    ],
)
def test_bad_input_fails_before_any_training(tmp_path, monkeypatch, change, message):
    def forbidden(*a, **kw):
        raise AssertionError("trained before validating")

    monkeypatch.setattr(oneshot, "train_proxy", forbidden)
    monkeypatch.setattr(oneshot, "train_subset", forbidden)
    with pytest.raises(InputError) as err:
        run_bench(_config(tmp_path / "x", **change))
    assert message in str(err.value)
    assert not (tmp_path / "x" / "results.jsonl").exists()


def test_bench_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["--quiet", "bench", "--dataset", "four-moons", "--methods", "uniform,kcenter", "--fractions", "0.1",
                 "--seeds", "1", "--epochs", "2", "--device", "cpu", "--option", "train_size=300", "--out", str(out)])
    assert code == 0
    assert (out / "report.md").is_file() and (out / "report.png").is_file()
    assert len(_records(out)) == 3
    assert main(["bench", "--dataset", "four-moons", "--methods", "uniform", "--fractions", "2",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "fractions must be in (0, 1]" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_methods_default_to_the_protocol_s_own(tmp_path):
    from coreselect.bench import BenchConfig
    from coreselect.bench.runner import with_default_methods
    from coreselect.errors import InputError

    config = BenchConfig(dataset="digits", protocol="reweight", out=tmp_path, methods=())
    assert with_default_methods(config).methods == ("moderate:per_class=true",)
    with pytest.raises(InputError, match="--methods is required for the 'oneshot' protocol"):
        with_default_methods(BenchConfig(dataset="digits", protocol="oneshot", out=tmp_path, methods=()))


def test_subset_budget_steps_trains_subsets_as_long_as_the_full_model(tmp_path):
    """At 10% of digits, `steps` gives the subset model the full model's SGD steps, `epochs` its epochs."""
    steps = {}
    for budget in ("steps", "epochs"):
        out = tmp_path / budget
        run_bench(BenchConfig(dataset="digits", protocol="oneshot", out=out, methods=("uniform",), fractions=(0.1,),
                              seeds=1, epochs=3, device="cpu", options={"subset_budget": budget,
                                                                        "proxy_epochs": "3"}))
        records = {r["key"]["method"]: r for r in _records(out)}
        assert records["uniform"]["key"]["subset_budget"] == budget
        steps[budget] = (records["full"]["steps"], records["uniform"]["steps"])
    full = 3 * 12  # 1,437 rows in batches of 128: 12 steps per epoch
    assert steps["steps"] == (full, 3 * 12) and steps["epochs"] == (full, 3 * 2)  # 144 rows: 2 steps per epoch


def test_subset_weights_uniform_trains_the_same_rows_with_unit_weights(tmp_path, monkeypatch):
    """`subset_weights=uniform` keeps CRAIG's rows (same digest) but trains them with weight 1, under its own key,
    on the cached proxy of the default run."""
    seen: dict[str, np.ndarray] = {}
    train = oneshot.train_subset

    def recording(data, recipe, seed, rows=None, weights=None, epochs=None):
        seen[mode] = np.asarray(weights)
        return train(data, recipe, seed, rows, weights, epochs)

    monkeypatch.setattr(oneshot, "train_subset", recording)
    out = tmp_path / "b"
    for mode in ("selected", "uniform"):
        run_bench(_config(out, methods=("craig",), seeds=1, options={"train_size": "600", "proxy_epochs": "2",
                                                                      "subset_weights": mode}))
        if mode == "selected":
            monkeypatch.setattr(oneshot, "train_proxy", lambda *a, **kw: pytest.fail("the proxy was trained twice"))
    craig = [r for r in _records(out) if r["key"]["method"] == "craig"]
    assert [r["key"].get("subset_weights") for r in craig] == [None, "uniform"]
    assert craig[0]["subset_sha256"] == craig[1]["subset_sha256"]
    assert seen["selected"].std() > 0 and np.array_equal(seen["uniform"], np.ones(60))


def test_width_option_sets_the_cnn_channels_and_is_refused_for_other_models(tmp_path):
    from coreselect.bench.proxy import Recipe

    data = bd.prepare(load_dataset("digits"), bd.Transforms(), 0)
    model = Recipe("cnn", 1, 0.05, width=8).build(data, seed=0)
    assert model.body[0].out_channels == 8 and model.body[7].out_channels == 16
    with pytest.raises(InputError, match="width=8 sets the cnn's channels; model 'mlp'"):
        run_bench(_config(tmp_path / "a", model="mlp", options={"width": "8", "train_size": "600"}))
    assert not (tmp_path / "a").exists()


def test_a_one_class_dataset_is_refused_before_any_training(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "one.npz", x=rng.random((100, 8)).astype(np.float32), y=np.zeros(100, int))
    assert main(["bench", "--dataset", str(tmp_path / "one.npz"), "--methods", "uniform", "--epochs", "1",
                 "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert "has 1 class; a classification benchmark needs at least two" in captured.err
    assert "training" not in captured.err + captured.out and not (tmp_path / "out").exists()


def test_dataset_aliases_load_dataset_takes_are_taken():
    from coreselect.bench.runner import check_dataset_name

    for name in ("FMNIST", "fashion_mnist", "gas"):
        check_dataset_name(name)  # raises InputError for an unknown name
    with pytest.raises(InputError, match="unknown dataset"):
        check_dataset_name("fmnist2")
