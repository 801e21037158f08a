"""Hostile files through the command line: every bad input or output path is exit 2 with exactly one
``error:`` line, no traceback, every file (inputs and any existing output) byte-identical with its mode,
and no stray file; plus what must keep holding (atomic saves, modes, stale temp files, concurrent
writers, torn caches and results lines)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from coreselect import Subset
from coreselect.bench.proxy import read_cache, write_npz
from coreselect.cli.main import main
from coreselect.errors import InputError

N = 60


def _npy_with_header(path: Path, header: dict, version: tuple[int, int] = (1, 0), pad: int = 0) -> Path:
    """A .npy file whose header is `header` (padded by `pad` spaces), followed by 64 bytes of data."""
    text = repr(header).encode("latin-1") + b" " * pad + b"\n"
    width = 2 if version == (1, 0) else 4
    path.write_bytes(b"\x93NUMPY" + bytes(version) + len(text).to_bytes(width, "little") + text + bytes(64))
    return path


def _subset_file(path: Path, indices=None, weights=None, metadata=None, raw_metadata: bytes | None = None,
                 drop: str | None = None) -> Path:
    """A subset-like .npz with the given members (defaults: a valid 3-of-10 subset)."""
    members = {
        "indices": np.array([1, 4, 7]) if indices is None else indices,
        "weights": np.array([3.0, 3.0, 4.0]) if weights is None else weights,
        "metadata": np.frombuffer(
            raw_metadata if raw_metadata is not None
            else json.dumps({"n": 10, "method": "m"} if metadata is None else metadata).encode(), dtype=np.uint8),
    }
    members.pop(drop, None)
    with open(path, "wb") as fh:
        np.savez(fh, **members)
    return path


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A directory of valid inputs, an existing output (0644) and a saved subset; the cwd is moved there."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(N, 4)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.arange(N) % 3)
    np.save(tmp_path / "el2n.npy", rng.random(N))
    np.save(tmp_path / "loss.npy", rng.random(N))
    (tmp_path / "out.npz").write_bytes(b"keep me")
    (tmp_path / "out.npz").chmod(0o644)
    Subset(np.arange(0, N, 6), np.full(10, 6.0), n=N, method="uniform", seed=0).save(tmp_path / "s.npz")
    return tmp_path


def _select(*extra: str, out: str = "out.npz") -> list[str]:
    return ["select", "uniform", "--features", "x.npy", "--fraction", "0.1", *extra, "--out", out]


def _fifo(name: str) -> str:
    os.mkfifo(name)
    return name


def _socket(name: str) -> str:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(name)
    sock.close()
    return name


def _char_device(name: str) -> str:
    try:
        os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here")
    return name


def _link(target: str, name: str, hard: bool = False) -> str:
    (os.link if hard else os.symlink)(target, name)
    return name


def _complex_npz(name: str) -> str:
    np.savez(name, features=np.ones((N, 4)), el2n=np.ones(N) + 1j)
    return name


def _jsonl(lines: list[bytes]) -> str:
    Path("bench").mkdir()
    good = json.dumps({"key": {"method": "uniform", "budget": 0.1, "seed": 0}, "metrics": {"test_accuracy": 0.5},
                       "timings": {}}).encode()
    Path("bench/results.jsonl").write_bytes(b"\n".join(good if line == b"GOOD" else line for line in lines) + b"\n")
    return "bench"


def _bench(out: str, dataset: str = "four-moons") -> list[str]:
    return ["bench", "--dataset", dataset, "--methods", "uniform", "--fractions", "0.1", "--seeds", "1",
            "--epochs", "1", "--device", "cpu", "--out", out]


def _tune(out: str = "out.npz", *extra: str) -> list[str]:
    return ["tune", "--features", "x.npy", "--labels", "y.npy", "--val-features", "x.npy", "--val-labels", "y.npy",
            *extra, "--out", out]


#: name → (build(): argv, in the work directory; a substring of the one error line)
CASES: dict[str, tuple[Callable[[], list[str]], str]] = {
    # ---- output paths that must never be replaced
    "out is a directory": (lambda: _select(out=os.mkdir("adir") or "adir"), "is a directory"),
    "out is a FIFO": (lambda: _select(out=_fifo("pipe")), "is a FIFO"),
    "out is a socket": (lambda: _select(out=_socket("sock")), "is a socket"),
    "out is a character device": (lambda: _select(out=_char_device("null")), "is a character device"),
    "out is the features file": (lambda: _select(out="x.npy"), "is the input file x.npy"),
    "out links to the labels": (lambda: _select("--labels", "y.npy", out=_link("y.npy", "o.npz")), "is the input file"),
    "out is a hard link of a signal": (
        lambda: ["select", "prune", "--features", "x.npy", "--signal", "el2n=el2n.npy", "--fraction", "0.1",
                 "--out", _link("el2n.npy", "o.npz", hard=True)], "is the input file el2n.npy"),
    "out is the oracle file": (lambda: _select("--oracle", "loss.npy", out="loss.npy"), "is the input file"),
    "out is a symlink loop": (lambda: _select(out=_link("loop", "loop")), "symbolic link loop"),
    "out name too long": (lambda: _select(out="a" * 252 + ".npzz"), "file name too long"),
    "out in a missing directory": (lambda: _select(out="nowhere/s.npz"), "output directory does not exist"),
    "tune out is the validation labels": (lambda: _tune("y.npy"), "is the input file y.npy"),
    "tune table is out": (lambda: _tune("out.npz", "--table", "out.npz"), "--table and --out name the same file"),
    "score out is the dataset": (
        lambda: ["score", "--dataset", _link("s.npz", "data.npz", hard=True), "--out", "s.npz"], "is the input file"),
    "bench out is a FIFO": (lambda: _bench(_fifo("pipe")), "is a FIFO (named pipe), not a directory"),
    "bench results.jsonl links to the dataset": (
        lambda: _bench(os.mkdir("b") or _link("../s.npz", "b/results.jsonl") and "b", "s.npz"), "is the input file"),
    "report.md is a directory": (
        lambda: ["report", _jsonl([b"GOOD"]) and os.mkdir("bench/report.md") or "bench"], "is a directory"),
    "report.png links to results.jsonl": (
        lambda: ["report", _jsonl([b"GOOD"]) and _link("results.jsonl", "bench/report.png") and "bench"],
        "is the input file"),
    # ---- input files that must be refused before reading
    "features is a FIFO": (lambda: ["select", "uniform", "--features", _fifo("f.npy"), "--size", "3",
                                    "--out", "out.npz"], "f.npy: is a FIFO (named pipe), not a regular file"),
    "features in a symlink loop": (
        lambda: ["select", "uniform", "--features", _link("l.npy", "l.npy"), "--size", "3", "--out", "out.npz"],
        "l.npy: symbolic link loop"),
    "features a dangling link": (
        lambda: ["select", "uniform", "--features", _link("gone.npy", "d.npy"), "--size", "3", "--out", "out.npz"],
        "dangling symbolic link"),
    "npy header claims 10^12 x 64": (
        lambda: ["select", "uniform", "--features", str(_npy_with_header(
            Path("h.npy"), {"descr": "<f8", "fortran_order": False, "shape": (10**12, 64)})),
            "--size", "3", "--out", "out.npz"], "is truncated: its header gives shape (1000000000000, 64)"),
    "npy header of 2 MB": (
        lambda: ["select", "uniform", "--features", str(_npy_with_header(
            Path("h.npy"), {"descr": "<f8", "fortran_order": False, "shape": (8,)}, (2, 0), pad=2 * 10**6)),
            "--size", "3", "--out", "out.npz"], "has a header of 2000"),
    "npy header not a dict": (
        lambda: ["select", "uniform", "--features", str(_npy_with_header(Path("h.npy"), [1, 2])),  # type: ignore[arg-type]
                 "--size", "3", "--out", "out.npz"], "malformed .npy header"),
    "complex features": (
        lambda: ["select", "uniform", "--features", np.save("c.npy", np.ones((N, 4)) * 1j) or "c.npy",
                 "--size", "3", "--out", "out.npz"], "holds complex numbers"),
    "complex signal in --signals-from": (
        lambda: ["select", "prune", "--signals-from", _complex_npz("sig.npz"), "--size", "3", "--out", "out.npz"],
        "array 'el2n' holds complex numbers"),
    "npz cut in half": (
        lambda: ["select", "uniform", "--features",
                 Path("cut.npz").write_bytes(Path("s.npz").read_bytes()[:200]) and "cut.npz",
                 "--size", "3", "--out", "out.npz"], "cut.npz"),
    "pickle inside npz": (
        lambda: ["select", "uniform", "--features", np.savez("p.npz", x=np.array([{}], dtype=object)) or "p.npz",
                 "--size", "3", "--out", "out.npz"], "array 'x' contains Python objects (pickle)"),
    # ---- damaged subset files
    "subset: negative weight": (lambda: ["inspect", str(_subset_file(Path("d.npz"), weights=np.array([1.0, -1, 1])))],
                                "weights must be finite and > 0"),
    "subset: zero weight": (lambda: ["inspect", str(_subset_file(Path("d.npz"), weights=np.array([1.0, 0, 1])))],
                            "weights must be finite and > 0"),
    "subset: NaN weight": (lambda: ["inspect", str(_subset_file(Path("d.npz"), weights=np.array([1.0, np.nan, 1])))],
                           "weights must be finite and > 0"),
    "subset: string weights": (lambda: ["inspect", str(_subset_file(Path("d.npz"), weights=np.array(["1", "2", "3"])))],
                               "weights must be real numbers"),
    "subset: index out of range": (lambda: ["inspect", str(_subset_file(Path("d.npz"), indices=np.array([1, 4, 10])))],
                                   "indices out of range [0, 10)"),
    "subset: negative index": (lambda: ["inspect", str(_subset_file(Path("d.npz"), indices=np.array([1, -4, 7])))],
                               "indices out of range"),
    "subset: repeated index": (lambda: ["inspect", str(_subset_file(Path("d.npz"), indices=np.array([1, 4, 4])))],
                               "indices must be unique"),
    "subset: float indices": (lambda: ["inspect", str(_subset_file(Path("d.npz"), indices=np.array([1.0, 4, 7])))],
                              "indices must be integers"),
    "subset: string indices": (lambda: ["inspect", str(_subset_file(Path("d.npz"), indices=np.array(["1", "4", "7"])))],
                               "indices must be integers"),
    "subset: 2-D indices": (lambda: ["inspect", str(_subset_file(Path("d.npz"), indices=np.array([[1, 4, 7]])))],
                            "indices must be 1-D"),
    "subset: length mismatch": (lambda: ["inspect", str(_subset_file(Path("d.npz"), weights=np.ones(2)))],
                                "weights has 2 entries but indices has 3"),
    "subset: empty": (lambda: ["inspect", str(_subset_file(Path("d.npz"), indices=np.array([], int),
                                                           weights=np.array([])))], "indices is empty"),
    "subset: metadata a list": (lambda: ["inspect", str(_subset_file(Path("d.npz"), metadata=[10]))],
                                "metadata must be a JSON object"),
    "subset: metadata lacks n": (lambda: ["inspect", str(_subset_file(Path("d.npz"), metadata={"method": "m"}))],
                                 "lacks the pool size 'n'"),
    "subset: n a float": (lambda: ["inspect", str(_subset_file(Path("d.npz"), metadata={"n": 10.0}))],
                          "n must be an integer"),
    "subset: n below the indices": (lambda: ["inspect", str(_subset_file(Path("d.npz"), metadata={"n": 2}))],
                                    "n = 2 is smaller than the 3 indices"),
    "subset: n_queries text": (lambda: ["inspect", str(_subset_file(Path("d.npz"), metadata={"n": 10, "n_queries": "x"}))],
                               "n_queries must be an integer"),
    "subset: params a list": (lambda: ["inspect", str(_subset_file(Path("d.npz"), metadata={"n": 10, "params": []}))],
                              "params must be a dict"),
    "subset: newer format": (lambda: ["inspect", str(_subset_file(Path("d.npz"), metadata={"n": 10, "format": 2}))],
                             "metadata format 2"),
    "subset: metadata not JSON": (lambda: ["inspect", str(_subset_file(Path("d.npz"), raw_metadata=b"{n: 10"))],
                                  "metadata is not JSON text"),
    "subset: metadata not UTF-8": (lambda: ["inspect", str(_subset_file(Path("d.npz"), raw_metadata=b"\xff\xfe"))],
                                   "metadata is not JSON text"),
    "subset: no weights": (lambda: ["inspect", str(_subset_file(Path("d.npz"), drop="weights"))], "it has no weights"),
    "subset: empty file": (lambda: ["inspect", Path("e.npz").write_bytes(b"") or "e.npz"], "not an .npz (zip) archive"),
    "subset: a .npy": (lambda: ["inspect", "x.npy"], "not an .npz (zip) archive"),
    "subset: a CSV": (lambda: ["inspect", Path("t.csv").write_text("1,2\n3,4\n") and "t.csv"],
                      "not an .npz (zip) archive"),
    "subset: missing": (lambda: ["inspect", "absent.npz"], "no such subset file"),
    # ---- inspect --labels
    "labels: NaN": (lambda: ["inspect", "s.npz", "--labels", np.save("l.npy", np.r_[np.nan, np.zeros(N - 1)]) or "l.npy"],
                    "--labels are NaN or inf at row 0"),
    "labels: fractions": (lambda: ["inspect", "s.npz", "--labels", np.save("l.npy", np.full(N, 0.5)) or "l.npy"],
                          "hold non-integer numbers"),
    "labels: 2-D": (lambda: ["inspect", "s.npz", "--labels", np.save("l.npy", np.zeros((N, 2), int)) or "l.npy"],
                    "must be one value per example, shape (n,)"),
    "labels: wrong length": (lambda: ["inspect", "s.npz", "--labels", np.save("l.npy", np.zeros(N - 1, int)) or "l.npy"],
                             f"drawn from n = {N}"),
    "labels: a FIFO": (lambda: ["inspect", "s.npz", "--labels", _fifo("l.npy")], "is a FIFO"),
    "labels: complex": (lambda: ["inspect", "s.npz", "--labels", np.save("l.npy", np.zeros(N, complex)) or "l.npy"],
                        "complex"),
    # ---- results.jsonl that report cannot use
    "report: a record without key": (lambda: ["report", _jsonl([b"GOOD", b'{"metrics": {}}'])], "line 2: the record has no 'key'"),
    "report: method not a string": (
        lambda: ["report", _jsonl([b'{"key": {"method": 3, "budget": 0.1}}'])], "line 1: key 'method' must be a string"),
    "report: budget text": (
        lambda: ["report", _jsonl([b"GOOD", b"GOOD", b'{"key": {"method": "a", "budget": "x"}}'])], "line 3: key 'budget'"),
    "report: metrics a list": (
        lambda: ["report", _jsonl([b'{"key": {"method": "a", "budget": 1}, "metrics": [1]}'])], "'metrics' must be an object"),
    "report: not UTF-8": (lambda: ["report", _jsonl([b"GOOD", b"GOOD", b'{"key": "\xff"}'])], "line 3: not UTF-8"),
    "report: not a record": (lambda: ["report", _jsonl([b"GOOD", b"hello"])], "line 2: not a JSON record"),
    "report: budget beyond a float": (
        lambda: ["report", _jsonl([b'{"key": {"method": "a", "budget": ' + b"9" * 400 + b"}}"])],
        "key 'budget' must be a finite number, got 999"),
    # ---- found by an independent probe
    "csv: hex text in the first row": (lambda: _select_from(Path("h.csv").write_text("0x10,2\n3,4\n") and "h.csv"),
                                       "the first row mixes numbers with text"),
    "csv: complex text": (lambda: _select_from(Path("c.csv").write_text("1,2\n1+2j,2\n") and "c.csv"),
                          "could not convert string '1+2j'"),
    "sparse: a shape no memory holds": (
        lambda: _select_from(_save_sparse("big.npz", sp.coo_matrix(([1.0], ([0], [0])), shape=(10**10, 2)))),
        "a sparse matrix of 10,000,000,000 rows needs"),
    "input: ~unknown user": (lambda: _select_from("~no-such-user-here/x.npy"), "~no-such-user-here"),
    "output: a trailing slash": (lambda: _select(out="new.npz/"), "ends in a slash, so it names a directory"),
    "output: a read-only file system": (lambda: _select(out="/proc/version"), "cannot write in /proc"),
    "select: ccs strata beyond n": (
        lambda: ["select", "ccs", "--features", "x.npy", "--signal", "aum=el2n.npy", "--size", "5",
                 "--param", "strata=1000000000000", "--out", "out.npz"], "strata must be at most the number of examples"),
    "select: a signal named twice, once with a space": (
        lambda: _select("--signal", "el2n=el2n.npy", "--signal", "el2n =loss.npy"), "--signal el2n given twice"),
    "select: a sparse oracle": (
        lambda: ["select", "sensitivity", "--features", "x.npy", "--oracle", _save_sparse("o.npz", sp.csr_matrix(
            np.ones((1, N)))), "--size", "5", "--out", "out.npz"], "--oracle o.npz: is a sparse matrix"),
    "select: worker memory garbage": (lambda: _select("--workers", "1", "--worker-memory", "lots"),
                                      "--worker-memory must be auto or a size"),
    "bench: an empty fraction entry": (lambda: ["bench", "--dataset", "four-moons", "--methods", "uniform",
                                                "--fractions", "0.1,,", "--out", "b"], "fractions must be numbers"),
    "demo: no seeds": (lambda: ["demo", "--seeds", "0"], "seeds must be an integer in [1, 100]"),
    "tune: --patience without --active": (lambda: _tune("out.npz", "--patience", "2"), "--patience applies only with --active"),
    "tune: --val-fraction without --dataset": (lambda: _tune("out.npz", "--val-fraction", "0.3"),
                                               "--val-fraction applies only with --dataset"),
    "tune: scalar features": (lambda: ["tune", "--features", np.save("f.npy", np.float32(1)) or "f.npy", "--labels",
                                       "y.npy", "--val-features", "x.npy", "--val-labels", "y.npy", "--out", "out.npz"],
                              "features"),
    "score: a learning rate beyond float32": (
        lambda: ["score", "--dataset", "four-moons", "--epochs", "1", "--option", "lr=1e308", "--out", "s.npz"],
        "TrainConfig.lr must be > 0 and a float32"),
    "bench: a dataset with no feature columns": (
        lambda: ["bench", "--dataset", np.savez("d.npz", x=np.zeros((40, 0)), y=np.arange(40) % 2) or "d.npz",
                 "--methods", "uniform", "--fractions", "0.1", "--seeds", "1", "--epochs", "1", "--out", "b"],
        "is empty"),
    "select: more workers than 4 per core": (lambda: _select("--workers", "100000"), "--workers must be an integer in"),
    "select: worker memory below 256 MiB": (lambda: _select("--workers", "1", "--worker-memory", "1KB"),
                                            "--worker-memory must be at least 256 MiB"),
    "labels: a scalar": (lambda: ["inspect", "s.npz", "--labels", np.save("l.npy", np.int64(3)) or "l.npy"],
                         "must be one value per example"),
    "labels: sparse": (lambda: ["inspect", "s.npz", "--labels", _save_sparse("l.npz", sp.csr_matrix(np.ones((1, N))))],
                       "is a sparse matrix"),
    "select: an empty --labels path": (lambda: _select("--labels", ""), "argument --labels: an empty path names no file"),
    "select: an empty --oracle path": (lambda: _select("--oracle", ""), "argument --oracle: an empty path"),
    "inspect: an empty --labels path": (lambda: ["inspect", "s.npz", "--labels", ""], "argument --labels: an empty path"),
    "tune: an empty --table path": (lambda: _tune("out.npz", "--table", ""), "argument --table: an empty path"),
    "bench: an empty --out": (lambda: _bench(""), "argument --out: an empty path"),
    "select: coreset lewis_iters of a billion": (
        lambda: ["select", "coreset", "--features", "x.npy", "--labels", "y.npy", "--fraction", "0.2", "--param",
                 "sensitivity=lewis", "--param", "lewis_iters=1000000000", "--out", "out.npz"],
        "lewis_iters must be in [1, 100]"),
    "score: a seed beyond 2**64": (
        lambda: ["score", "--dataset", "four-moons", "--epochs", "1", "--seed", str(2**64), "--out", "s.npz"],
        "--seed must be an integer in [0, 2**64)"),
    "reweight: a seed beyond 2**64": (
        lambda: ["reweight", "--features", "x.npy", "--labels", "y.npy", "--no-trusted", "--seed", str(2**64),
                 "--out", "w.npy"], "--seed must be an integer in [0, 2**64)"),
    "subset: uint64 indices beyond int64": (
        lambda: ["inspect", str(_subset_file(Path("d.npz"), indices=np.array([1, 2**63 + 5], np.uint64),
                                             weights=np.ones(2), metadata={"n": 2**64}))],
        "n must be at most 2**63 - 1 (indices are int64)"),
}


def _select_from(features: str) -> list[str]:
    return ["select", "uniform", "--features", features, "--fraction", "0.1", "--out", "out.npz"]


def _save_sparse(name: str, matrix: sp.spmatrix) -> str:
    sp.save_npz(name, matrix)
    return name


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root`: its kind and mode, and the bytes of regular files (links not followed)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(path) if path.is_symlink() else None
        out[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), data)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_bad_path_or_file_is_one_error_line_and_touches_nothing(work, capsys, case):
    if case.startswith(("bench", "score")):
        pytest.importorskip("torch")
    build, message = CASES[case]
    argv = build()
    capsys.readouterr()
    before = _snapshot(work)
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert code == 2, captured
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert "Traceback" not in captured.err
    assert _snapshot(work) == before


def test_rejected_bench_leaves_no_directory(work, capsys):
    pytest.importorskip("torch")
    code = main(["--quiet", *_bench("fresh"), "--sizes", "100000"])  # too large: found once the data are loaded
    assert code == 2 and "training examples" in capsys.readouterr().err
    assert not (work / "fresh").exists()


def test_inspect_on_a_fifo_does_not_hang(work):
    r = subprocess.run([sys.executable, "-m", "coreselect", "inspect", _fifo("s.pipe")], capture_output=True, check=False,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr == "error: s.pipe: is a FIFO (named pipe), not a regular file\n"


def test_zip_bomb_is_refused_from_the_directory(tmp_path):
    from coreselect.data import load_array

    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("x.npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array(fh, np.zeros((300 * 2**20 // 32, 4), np.float64))
    assert bomb.stat().st_size < 2**20
    with pytest.raises(InputError, match=r"expand to 300\.0 MiB, more than 100 times .* \(a zip bomb\?\)"):
        load_array(bomb)


def test_array_larger_than_memory_is_refused_from_its_header(tmp_path):
    from coreselect.data import load_array

    path = _npy_with_header(tmp_path / "huge.npy", {"descr": "<f8", "fortran_order": False, "shape": (2**37, 1)})
    try:
        os.truncate(path, 2**40 + 128)  # a sparse file that really holds 1 TiB
    except OSError:
        pytest.skip("the file system has no sparse files this large")
    with pytest.raises(InputError, match="needs 1.0 TiB, more than the .* of memory available"):
        load_array(path)


def test_scipy_sparse_file_is_read_as_its_matrix(work, capsys):
    matrix = sp.random(480, 20, density=0.2, format="csr", random_state=0, dtype=np.float32)
    sp.save_npz(work / "m.npz", matrix)
    from coreselect.data import load_array

    loaded = load_array(work / "m.npz")
    assert sp.issparse(loaded) and (loaded != matrix).nnz == 0
    assert main(["select", "uniform", "--features", "m.npz", "--fraction", "0.1", "--out", "o.npz"]) == 0
    assert "selected 48 of 480" in capsys.readouterr().out
    np.savez(work / "bad.npz", format=b"csr", shape=np.array([4, 4]), data=np.ones(2), indices=np.array([0, 9]),
             indptr=np.array([0, 1, 2, 2, 2]))
    with pytest.raises(InputError, match="not a valid scipy.sparse csr matrix"):
        load_array(work / "bad.npz")


def test_csv_with_a_byte_order_mark_reads_as_numbers(work, capsys):
    """Spreadsheet programs begin UTF-8 text with a byte-order mark; it is not part of the first field."""
    from coreselect.data import load_array

    (work / "bom.csv").write_text("\ufeff1,2\n3,4\n5,6\n", encoding="utf-8")
    (work / "bom-header.csv").write_text("\ufeffa,b\n1,2\n3,4\n", encoding="utf-8")
    assert load_array(work / "bom.csv").tolist() == [[1, 2], [3, 4], [5, 6]]
    assert load_array(work / "bom-header.csv", key="a").tolist() == [1, 3]
    assert main(["select", "uniform", "--features", "bom.csv", "--size", "2", "--out", "o.npz"]) == 0
    assert "selected 2 of 3" in capsys.readouterr().out


def test_inspect_labels_by_name_and_whole_floats(work, capsys):
    np.save(work / "names.npy", np.array(["cat", "dog", "eel"])[np.arange(N) % 3])
    assert main(["inspect", "s.npz", "--labels", "names.npy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["class_counts"] == {"cat": 10}
    np.save(work / "floats.npy", (np.arange(N) % 3).astype(float))
    assert main(["inspect", "s.npz", "--labels", "floats.npy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["class_counts"] == {"0": 10}


def test_report_skips_a_line_cut_short_by_a_kill(work, capsys):
    good = json.dumps({"key": {"method": "uniform", "budget": 0.1, "seed": 0}, "metrics": {"test_accuracy": 0.5}})
    _jsonl([good[:30].encode(), b"GOOD"])  # a resumed bench: the torn line stays, the run was redone
    assert main(["report", "bench"]) == 0
    assert "uniform (random)" in (work / "bench" / "report.md").read_text()


def test_warnings_before_a_clean_error_are_dropped_and_kept_on_success(work):
    script = (
        "import sys, warnings\n"
        "from coreselect.cli import inspect_cmd\n"
        "from coreselect.errors import InputError\n"
        "def run(args):\n"
        "    warnings.warn('overflow encountered in cast', RuntimeWarning)\n"
        "    if args.json:\n"
        "        raise InputError('bad input')\n"
        "    return 0\n"
        "inspect_cmd.run = run\n"
        "from coreselect.cli.main import main\n"
        "sys.exit(main(['inspect', 's.npz', *sys.argv[1:]]))\n"
    )
    failed = subprocess.run([sys.executable, "-c", script, "--json"], capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and failed.stderr == "error: bad input\n"
    passed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert passed.returncode == 0 and "overflow encountered in cast" in passed.stderr


# ---------------------------------------------------------------- what must keep holding


def _temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_modes_follow_the_umask_and_a_replaced_file_keeps_its_own(tmp_path):
    s = Subset(np.array([1, 2]), np.array([1.0, 2.0]), n=5, seed=0)
    old = os.umask(0o027)
    try:
        s.save(tmp_path / "new.npz")
        assert stat.S_IMODE((tmp_path / "new.npz").stat().st_mode) == 0o640
        (tmp_path / "old.npz").write_bytes(b"x")
        (tmp_path / "old.npz").chmod(0o604)
        s.save(tmp_path / "old.npz")
        assert stat.S_IMODE((tmp_path / "old.npz").stat().st_mode) == 0o604
    finally:
        os.umask(old)
    assert Subset.load(tmp_path / "old.npz") == s
    assert (tmp_path / "new.npz").read_bytes() == (tmp_path / "old.npz").read_bytes()  # same seed, same bytes


def test_a_254_byte_name_works_and_a_link_is_written_through(tmp_path):
    s = Subset(np.array([3]), np.array([5.0]), n=5)
    long = tmp_path / ("a" * 250 + ".npz")
    s.save(long)
    assert Subset.load(long) == s and _temps(tmp_path) == []
    (tmp_path / "link.npz").symlink_to(long.name)
    t = Subset(np.array([4]), np.array([5.0]), n=5)
    t.save(tmp_path / "link.npz")
    assert (tmp_path / "link.npz").is_symlink() and Subset.load(long) == t


_WRITER = """
import os, sys
import numpy as np
from coreselect import Subset
real = os.replace
def paused(src, dst):
    print("written", flush=True)
    if sys.stdin.readline().strip() == "die":
        os.kill(os.getpid(), 9)
    real(src, dst)
os.replace = paused
Subset(np.arange(1000), np.ones(1000), n=2000, seed=7).save(sys.argv[1])
"""


def _writer(out: Path) -> subprocess.Popen:
    """A process that saves a subset to `out` and waits, its temp file written, before the rename."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    return proc


def test_concurrent_writers_and_a_killed_one_leave_no_partial_file(tmp_path):
    out = tmp_path / "s.npz"
    mine = Subset(np.array([1, 2]), np.array([1.0, 3.0]), n=2000, seed=1)
    live = _writer(out)
    mine.save(out)  # the live writer's temp file is locked: this save leaves it alone
    assert len(_temps(tmp_path)) == 1 and Subset.load(out) == mine
    live.communicate("go\n", timeout=60)
    assert live.returncode == 0 and Subset.load(out).seed == 7 and _temps(tmp_path) == []

    killed = _writer(out)
    killed.communicate("die\n", timeout=60)
    assert killed.returncode == -9 and Subset.load(out).seed == 7  # the old file is whole
    assert len(_temps(tmp_path)) == 1  # the killed writer's temp file, left behind ...
    mine.save(out)
    assert _temps(tmp_path) == [] and Subset.load(out) == mine  # ... is removed by the next save


def test_a_torn_cache_file_reads_as_missing(tmp_path):
    path = tmp_path / "cache.npz"
    write_npz(path, {"a": np.arange(4), "b": np.ones(3)})
    assert read_cache(path, ("a", "b"))["a"].tolist() == [0, 1, 2, 3]
    path.write_bytes(path.read_bytes()[:-40])  # cut short, as by a crash before the rename was durable
    assert read_cache(path, ("a", "b")) is None
    assert read_cache(tmp_path / "absent.npz", ("a",)) is None


def test_subset_take_by_position_and_one_line_repr():
    s = Subset(np.array([2, 0]), np.array([3.0, 1.0]), n=4, method="kcenter", seed=0)
    assert repr(s) == "Subset(method='kcenter', m=2 of n=4, weights 1..3, seed=0)"

    class Labelled:  # a pandas-like object: [] looks labels up, .iloc positions
        iloc = np.array([10, 11, 12, 13])

        def __getitem__(self, key):
            raise KeyError(key)

    assert s.take(Labelled()).tolist() == [12, 10]
    assert s.take(["a", "b", "c", "d"]) == ["c", "a"]
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"v": [10, 11, 12, 13]}, index=[7, 5, 3, 1])
    assert s.take(frame)["v"].tolist() == [12, 10] and s.take(frame["v"]).tolist() == [12, 10]


@pytest.mark.parametrize("kwargs, field", [
    ({"indices": [1.0], "weights": [1.0], "n": 3}, "indices"),
    ({"indices": [[1]], "weights": [1.0], "n": 3}, "indices"),
    ({"indices": [1], "weights": ["1"], "n": 3}, "weights"),
    ({"indices": [1], "weights": [1.0], "n": True}, "n"),
    ({"indices": [1], "weights": [1.0], "n": 3, "params": [1]}, "params"),
    ({"indices": [1], "weights": [1.0], "n": 3, "seed": -1}, "seed"),
    ({"indices": [1], "weights": [1.0], "n": 3, "n_queries": 1.5}, "n_queries"),
    ({"indices": [1], "weights": [1.0], "n": 3, "method": None}, "method"),
])
def test_subset_constructor_names_the_bad_field(kwargs, field):
    with pytest.raises(InputError, match=f"^{field}"):
        Subset(**kwargs)


def test_report_refuses_a_damaged_line_in_the_middle(work, capsys):
    """Only a line that stops short (a kill) is skipped; a complete but invalid line is named."""
    _jsonl([b"GOOD", b'{"key": {"method": "kcenter" "budget": 0.1, "seed": 0}, "metrics": {}}', b"GOOD"])
    assert main(["report", "bench"]) == 2
    assert "line 2: not a JSON record (Expecting ',' delimiter" in capsys.readouterr().err


def test_signals_file_with_a_name_twice_in_two_cases(work, capsys):
    np.savez("b.npz", features=np.load("x.npy"), EL2N=np.ones(N), el2n=np.zeros(N))
    assert main(["select", "prune", "--signals-from", "b.npz", "--size", "5", "--out", "out.npz"]) == 2
    assert "['el2n'] given twice" in capsys.readouterr().err
    assert Path("out.npz").read_bytes() == b"keep me"


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_memory_checks_honour_a_control_group_limit(tmp_path, version):
    from coreselect.npyio import cgroup_headroom

    root = tmp_path / "cgroup"
    proc = tmp_path / "proc-cgroup"
    if version == "v2":
        (root / "box").mkdir(parents=True)
        proc.write_text("0::/box\n")
        limit, usage = root / "box" / "memory.max", root / "box" / "memory.current"
        unlimited = "max"
    else:
        (root / "memory" / "box").mkdir(parents=True)
        proc.write_text("9:pids:/box\n4:memory:/box\n")
        limit, usage = root / "memory" / "box" / "memory.limit_in_bytes", root / "memory" / "box" / "memory.usage_in_bytes"
        unlimited = "9223372036854771712"
    limit.write_text(f"{2 * 2**30}\n")
    usage.write_text(f"{2**29}\n")
    assert cgroup_headroom(str(proc), str(root)) == 2 * 2**30 - 2**29
    limit.write_text(unlimited + "\n")
    assert cgroup_headroom(str(proc), str(root)) is None
    assert cgroup_headroom(str(tmp_path / "absent"), str(root)) is None


def test_atomic_write_without_posix_locks_keeps_every_temp_file_it_cannot_judge(tmp_path, monkeypatch):
    """Where fcntl does not exist (Windows), saves still replace the file atomically, and a temp file left
    by another writer is never removed: without a lock, a live writer cannot be told from a dead one."""
    import hashlib

    from coreselect import files

    monkeypatch.setattr(files, "fcntl", None)
    target = tmp_path / "out.bin"
    pattern = f".coreselect-{hashlib.sha256(b'out.bin').hexdigest()[:12]}-{{}}.tmp"
    other = tmp_path / pattern.format("deadbeef")
    other.write_bytes(b"someone else's half-written save")
    files.atomic_write(target, lambda fh: fh.write(b"first"))
    files.atomic_write(target, lambda fh: fh.write(b"second"))
    assert target.read_bytes() == b"second" and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, other.name])


def test_compressed_csv_and_parquet_beyond_memory_are_refused_before_parsing(tmp_path, monkeypatch):
    import gzip

    from coreselect.data import load_array

    with gzip.open(tmp_path / "bomb.csv.gz", "wt") as fh:
        fh.write("1,2\n" * 300_000)  # 1.2 MB of text from a few KB
    monkeypatch.setattr("coreselect.npyio.available_memory", lambda: 1_000_000)
    with pytest.raises(InputError, match=r"bomb\.csv\.gz: decompresses to more than the 976\.6 KiB of memory"):
        load_array(tmp_path / "bomb.csv.gz")
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    pq.write_table(pa.table({"x": np.zeros(300_000)}), tmp_path / "z.parquet")  # encodes to a few bytes
    with pytest.raises(InputError, match=r"z\.parquet: 300,000 values of columns .x. needs"):
        load_array(tmp_path / "z.parquet")
    monkeypatch.setattr("coreselect.npyio.available_memory", lambda: 10**10)
    assert load_array(tmp_path / "bomb.csv.gz").shape == (300_000, 2)
    assert load_array(tmp_path / "z.parquet").shape == (300_000,)
