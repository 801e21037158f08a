"""`coreselect score` → `coreselect select --signals-from` round trip, through a subprocess."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from coreselect import Subset  # noqa: E402
from coreselect.cli.main import main  # noqa: E402


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "coreselect", "--quiet", *argv], capture_output=True, text=True)


@pytest.fixture(scope="module")
def signals(tmp_path_factory):
    out = tmp_path_factory.mktemp("score") / "signals.npz"
    r = _cli("score", "--dataset", "digits", "--epochs", "2", "--device", "cpu", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout
    return out


def test_score_file_layout(signals):
    with np.load(signals, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    n = arrays["labels"].shape[0]
    for name in ("el2n", "forgetting", "aum", "grand", "loss"):
        assert arrays[name].shape == (n,) and arrays[name].dtype == np.float64
        assert np.all(np.isfinite(arrays[name]))
    assert arrays["features"].shape[0] == n and arrays["features"].dtype == np.float32
    assert arrays["logits"].shape == (n, 10) and arrays["labels"].dtype == np.int64
    assert arrays["features_test"].shape[0] == arrays["labels_test"].shape[0] == arrays["logits_test"].shape[0]
    assert np.all(arrays["forgetting"] >= 0) and np.all(arrays["el2n"] >= 0)


@pytest.mark.parametrize("method, params", [("prune", ["--param", "signal=aum"]), ("moderate", [])])
def test_select_reads_score_output(signals, tmp_path, method, params):
    out = tmp_path / "subset.npz"
    r = _cli("select", method, "--signals-from", str(signals), "--fraction", "0.1", *params, "--out", str(out))
    assert r.returncode == 0, r.stderr
    subset = Subset.load(out)
    n = np.load(signals)["labels"].shape[0]
    assert subset.n == n and len(subset) == round(0.1 * n)


def test_score_is_deterministic(signals, tmp_path):
    again = tmp_path / "again.npz"
    assert main(["--quiet", "score", "--dataset", "digits", "--epochs", "2", "--device", "cpu", "--out", str(again)]) == 0
    with np.load(signals) as a, np.load(again) as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "nope"], "unknown dataset"),
        (["--dataset", "digits", "--option", "colour=red"], "score has no option colour"),
        (["--dataset", "digits", "--option", "noise=2"], "noise"),
        (["--dataset", "digits", "--model", "vgg"], "unknown model"),
        (["--dataset", "digits", "--epochs", "0"], "--epochs must be >= 1"),
    ],
)
def test_score_bad_input_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "s.npz"
    assert main(["score", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_score_output_directory_must_exist(tmp_path, capsys):
    assert main(["score", "--dataset", "digits", "--out", str(tmp_path / "missing" / "s.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
