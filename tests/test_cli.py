"""The command line: the contract of DESIGN.md, and every bad input → one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from coreselect.cli.main import main


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "coreselect", *argv], capture_output=True, text=True)


def test_select_inspect_roundtrip_and_byte_identical(files):
    a, b = files / "a.npz", files / "b.npz"
    for out in (a, b):
        r = _cli("select", "kcenter", "--features", str(files / "x.npy"), "--fraction", "0.05", "--out", str(out))
        assert r.returncode == 0, r.stderr
    assert a.read_bytes() == b.read_bytes()
    r = _cli("inspect", str(a), "--labels", str(files / "y.npy"), "--json")
    info = json.loads(r.stdout)
    assert info["size"] == 30 and info["unique_indices"] == 30 and info["weights"]["sum"] == pytest.approx(600)
    assert sum(info["class_counts"].values()) == 30


def test_methods_table(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["method", "needs", "weighted", "reference"]
    assert "kcenter" in out and "Sener" in out


def test_select_with_signal_and_params(files, capsys):
    out = files / "s.npz"
    code = main(["select", "prune", "--features", str(files / "x.npy"), "--labels", str(files / "y.npy"),
                 "--signal", f"el2n={files / 'el2n.npy'}", "--size", "12", "--param", "per_class=true",
                 "--param", "keep=easy", "--allocation", "balanced", "--out", str(out)])
    assert code == 0
    from coreselect import Subset

    s = Subset.load(out)
    assert s.params["per_class"] is True and s.params["keep"] == "easy" and s.params["allocation"] == "balanced"
    assert np.bincount(np.load(files / "y.npy")[s.indices]).tolist() == [4, 4, 4]


def _bad_inputs(files):
    x = np.load(files / "x.npy")
    nan = x.copy()
    nan[3, 0] = np.nan
    np.save(files / "nan.npy", nan)
    np.save(files / "short.npy", np.zeros(10, int))
    with open(files / "pickled.npy", "wb") as fh:
        np.save(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (files / "garbage.npy").write_bytes(b"not an array")
    (files / "pickle.pkl").write_bytes(pickle.dumps([1, 2]))
    small = np.load(files / "y.npy").copy()
    small[:2] = 7
    np.save(files / "small.npy", small)
    f = str(files / "x.npy")
    return {
        "nan features": (["select", "uniform", "--features", str(files / "nan.npy"), "--fraction", "0.1"], "NaN or inf at row 3"),
        "length mismatch": (["select", "uniform", "--features", f, "--labels", str(files / "short.npy"),
                             "--fraction", "0.1"], "labels has 10 rows but features have 600"),
        "fraction zero": (["select", "uniform", "--features", f, "--fraction", "0"], "fraction must be in (0, 1]"),
        "fraction above one": (["select", "uniform", "--features", f, "--fraction", "1.5"], "fraction must be in (0, 1]"),
        "size above n": (["select", "uniform", "--features", f, "--size", "601"], "size must be in [1, n]"),
        "class smaller than share": (["select", "uniform", "--features", f, "--labels", str(files / "small.npy"),
                                      "--size", "40", "--allocation", "7=5", "--param", "stratified=true"],
                                     "class 7 has 2 members"),
        "unknown method": (["select", "nope", "--features", f, "--fraction", "0.1"], "unknown method 'nope'"),
        "unknown param": (["select", "uniform", "--features", f, "--fraction", "0.1", "--param", "foo=1"],
                          "has no parameter 'foo'"),
        "ill-typed param": (["select", "uniform", "--features", f, "--fraction", "0.1", "--param", "stratified=perhaps"],
                            "expected true or false"),
        "malformed param": (["select", "uniform", "--features", f, "--fraction", "0.1", "--param", "stratified"],
                            "--param expects KEY=VALUE"),
        "missing signal": (["select", "prune", "--features", f, "--fraction", "0.1"], "missing signal 'el2n'"),
        "missing file": (["select", "uniform", "--features", str(files / "absent.npy"), "--fraction", "0.1"],
                         "absent.npy"),
        "pickled file": (["select", "uniform", "--features", str(files / "pickled.npy"), "--fraction", "0.1"], "pickle"),
        "unreadable file": (["select", "uniform", "--features", str(files / "garbage.npy"), "--fraction", "0.1"],
                            "garbage.npy"),
        "unknown format": (["select", "uniform", "--features", str(files / "pickle.pkl"), "--fraction", "0.1"],
                           "pickle.pkl"),
        "labels not integers": (["select", "uniform", "--features", f, "--labels", str(files / "el2n.npy"),
                                 "--fraction", "0.1"], "integer class labels"),
        "missing size": (["select", "uniform", "--features", f], "one of the arguments --fraction --size is required"),
        "negative seed": (["select", "uniform", "--features", f, "--fraction", "0.1", "--seed", "-3"], "seed"),
        "unused signal name": (["select", "uniform", "--features", f, "--fraction", "0.1", "--signal", "el2n"],
                               "--signal expects KEY=VALUE"),
        "bad labels for inspect": (["inspect", str(files / "absent.npz")], "no such subset file"),
    }


BAD_INPUT_CASES = [
    "nan features", "length mismatch", "fraction zero", "fraction above one", "size above n",
    "class smaller than share", "unknown method", "unknown param", "ill-typed param", "malformed param",
    "missing signal", "missing file", "pickled file", "unreadable file", "unknown format", "labels not integers",
    "missing size", "negative seed", "unused signal name", "bad labels for inspect",
]


@pytest.mark.parametrize("case", BAD_INPUT_CASES)
def test_bad_input_leaves_output_untouched(files, capsys, case):
    argv, message = _bad_inputs(files)[case]
    out = files / "existing.npz"
    out.write_bytes(b"keep me")
    before = sorted(p.name for p in files.iterdir())
    code = main([*argv, "--out", str(out)] if argv[0] == "select" else argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert out.read_bytes() == b"keep me"
    assert sorted(p.name for p in files.iterdir()) == before


def test_output_in_missing_directory(files, capsys):
    out = files / "nowhere" / "s.npz"
    code = main(["select", "uniform", "--features", str(files / "x.npy"), "--fraction", "0.1", "--out", str(out)])
    assert code == 2 and "output directory does not exist" in capsys.readouterr().err
    assert not out.parent.exists()


def test_bad_input_through_subprocess_exit_code(files):
    r = _cli("select", "uniform", "--features", str(files / "x.npy"), "--fraction", "2", "--out", str(files / "o.npz"))
    assert r.returncode == 2 and r.stderr.startswith("error: fraction") and not (files / "o.npz").exists()


def test_demo_runs_and_puts_random_first():
    r = _cli("demo", "--fractions", "0.1", "--seeds", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("method"))):]
    assert table[2].startswith("random (uniform)")
    assert any(line.startswith("full data") for line in table)


def test_allocation_names_text_and_boolean_classes_by_their_values(tmp_path, capsys):
    from coreselect.subset import Subset

    x = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for labels, allocation, expected in (
        (np.array(["0", "1", "cat"] * 20), "0=5,cat=3", {"0": 5, "cat": 3}),
        (np.array([True, False] * 30), "True=4,False=2", {True: 4, False: 2}),
        (np.arange(60) % 3, "0=5,2=3", {0: 5, 2: 3}),
    ):
        np.save(tmp_path / "y.npy", labels)
        out = tmp_path / "s.npz"
        assert main(["select", "uniform", "--features", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                     "--param", "stratified=true", "--allocation", allocation, "--size", str(sum(expected.values())),
                     "--out", str(out)]) == 0
        s = Subset.load(out)
        got = {labels[i].item(): 0 for i in s.indices}
        for i in s.indices:
            got[labels[i].item()] += 1
        assert got == expected
    np.save(tmp_path / "y.npy", np.array(["0", "1", "cat"] * 20))
    assert main(["select", "uniform", "--features", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--param", "stratified=true", "--allocation", "dog=5", "--size", "5",
                 "--out", str(tmp_path / "t.npz")]) == 2
    assert "--allocation: no class 'dog'; the classes are '0', '1', 'cat'" in capsys.readouterr().err
