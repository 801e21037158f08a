"""``coreselect reweight``: weights and flags from features, labels and trusted rows; the CLI contract
(bad input → one ``error:`` line, exit 2, nothing written, existing files untouched)."""

from __future__ import annotations

import numpy as np
import pytest

from coreselect.cli.main import main
from shared_data import DATA_ROOT

pytest.importorskip("torch")


@pytest.fixture
def noisy(tmp_path):
    """A 4-class problem (1,200 rows, 40% of the labels moved), 100 verified rows; files in tmp_path."""
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(4, 8))
    truth = rng.integers(0, 4, 1200)
    x = (rng.normal(size=(1200, 8)) + centers[truth]).astype(np.float32)
    y = truth.copy()
    flipped = rng.random(1200) < 0.4
    y[flipped] = (truth[flipped] + rng.integers(1, 4, flipped.sum())) % 4
    trusted = np.sort(rng.choice(1200, 100, replace=False))
    y[trusted] = truth[trusted]
    for name, value in {"x": x, "y": y, "trusted": trusted, "floats": trusted.astype(float),
                        "repeated": np.r_[trusted, trusted[:1]], "outside": np.r_[trusted, 5000]}.items():
        np.save(tmp_path / f"{name}.npy", value)
    np.save(tmp_path / "short.npy", y[:10])
    return tmp_path, y != truth


def _args(files, *extra):
    return ["reweight", "--features", str(files / "x.npy"), "--labels", str(files / "y.npy"), "--fraction", "0.25",
            "--selector", "uniform", "--device", "cpu", *extra]


def test_reweight_writes_weights_and_flags_and_is_reproducible(noisy, capsys):
    files, flipped = noisy
    for out in ("a", "b"):
        code = main(_args(files, "--trusted", str(files / "trusted.npy"), "--out", str(files / f"w{out}.npy"),
                          "--flags", str(files / f"f{out}.npy")))
        assert code == 0, capsys.readouterr().err
    assert (files / "wa.npy").read_bytes() == (files / "wb.npy").read_bytes()
    w, flags = np.load(files / "wa.npy"), np.load(files / "fa.npy")
    assert w.shape == (1200,) and w.dtype == np.float64 and (w > 0).all()
    assert flags.dtype == np.int64 and np.all(np.diff(flags) > 0)
    assert w[flipped].mean() < 0.5 * w[~flipped].mean()
    assert flipped[flags].mean() > 0.9 and np.isin(np.flatnonzero(flipped), flags).mean() > 0.9
    out = capsys.readouterr().out
    assert "100 trusted meta rows" in out and f"{flags.size} rows below weight" in out


def test_reweight_without_a_trusted_set_warns(noisy, capsys):
    files, _ = noisy
    assert main(_args(files, "--no-trusted", "--epochs", "2", "--out", str(files / "w.npy"))) == 0
    captured = capsys.readouterr()
    assert "untrusted meta rows" in captured.out
    assert captured.err.startswith("warning: no trusted set")


BAD = {
    "no meta choice": ([], "one of the arguments --trusted --no-trusted is required"),
    "both meta choices": (["--trusted", "trusted.npy", "--no-trusted"], "not allowed with argument"),
    "repeated trusted": (["--trusted", "repeated.npy"], "trusted has repeated entries"),
    "trusted out of range": (["--trusted", "outside.npy"], "trusted out of range [0, 1200): [5000]"),
    "trusted not integers": (["--trusted", "floats.npy"], "trusted must be integers"),
    "missing trusted file": (["--trusted", "absent.npy"], "absent.npy: no such file"),
    "fraction zero": (["--trusted", "trusted.npy", "--fraction", "0"], "--fraction must be in (0, 1]"),
    "epochs zero": (["--trusted", "trusted.npy", "--epochs", "0"], "--epochs must be >= 1"),
    "unknown normalize": (["--trusted", "trusted.npy", "--normalize", "sum"], "invalid choice: 'sum'"),
    "flags is out": (["--trusted", "trusted.npy", "--flags", "existing.npy"], "--flags and --out name the same file"),
    "out not npy": (["--trusted", "trusted.npy", "--flags", "flags.txt"], "outputs are .npy files"),
    "out is an input": (["--trusted", "trusted.npy", "--flags", "y.npy"], "y.npy"),
    "short labels": (["--trusted", "trusted.npy", "--labels", "short.npy"], "--labels has 10 rows but --features have 1200"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_reweight_bad_input_one_error_line_and_nothing_written(noisy, capsys, case):
    files, _ = noisy
    extra, message = BAD[case]
    extra = [str(files / a) if a.endswith((".npy", ".txt")) else a for a in extra]
    out = files / "existing.npy"
    out.write_bytes(b"keep me")
    before = sorted(p.name for p in files.iterdir())
    code = main([*_args(files, *extra), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert out.read_bytes() == b"keep me"
    assert sorted(p.name for p in files.iterdir()) == before


@pytest.mark.skipif(not (DATA_ROOT / "a9a").exists(), reason="a9a not available")
def test_docs_example_a9a_flipped_labels_with_logistic_regression(tmp_path, capsys):
    """The example of docs/cw-erm.md, smaller: a9a with 30% of the labels flipped and 300 verified rows."""
    from sklearn.linear_model import LogisticRegression

    from coreselect.data import load_dataset

    data = load_dataset("a9a", root=DATA_ROOT)
    rng = np.random.default_rng(0)
    flipped = rng.random(data.y_train.size) < 0.3
    y = np.where(flipped, 1 - data.y_train, data.y_train)
    trusted = np.sort(rng.choice(y.size, 300, replace=False))
    y[trusted], flipped[trusted] = data.y_train[trusted], False
    np.save(tmp_path / "x.npy", data.x_train.toarray())
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "trusted.npy", trusted)
    code = main(["reweight", "--features", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--trusted", str(tmp_path / "trusted.npy"), "--selector", "uniform", "--device", "cpu",
                 "--out", str(tmp_path / "w.npy"), "--flags", str(tmp_path / "flags.npy")])
    assert code == 0, capsys.readouterr().err
    w, flags = np.load(tmp_path / "w.npy"), np.load(tmp_path / "flags.npy")
    assert w[flipped].mean() < w[~flipped].mean()
    assert flipped[flags].mean() > flipped.mean() + 0.1  # flags hold more label errors than chance
    model = LogisticRegression(max_iter=1000).fit(data.x_train, y, sample_weight=w)
    assert model.score(data.x_test, data.y_test) > 0.8
