"""Tests for coreselect.data: file readers, safe array loading, toy data and the dataset registry."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from coreselect.data import (
    DATASETS,
    Dataset,
    default_data_root,
    digits,
    four_moons,
    load_array,
    load_arrays_npz,
    load_dataset,
)
from coreselect.data.gas import read_gas_batch, read_gas_sensor
from coreselect.data.idx import read_idx
from coreselect.data.libsvm import load_libsvm
from coreselect.data.split import split_indices
from coreselect.errors import InputError
from shared_data import DATA_ROOT

SHARED = DATA_ROOT
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no datasets at {SHARED}")

_IDX_CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}


def idx_bytes(arr: np.ndarray) -> bytes:
    """The idx encoding of `arr` (a tiny writer, for round trips)."""
    big = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    header = bytes([0, 0, _IDX_CODES[big.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + big.tobytes()


def write_idx(path: Path, arr: np.ndarray, compress: bool = False) -> Path:
    data = idx_bytes(arr)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# ---------------------------------------------------------------- idx


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    arr = (np.arange(2 * 3 * 4) - 5).astype(np.dtype(dtype).newbyteorder("=")).reshape(2, 3, 4)
    if dtype == "u1":
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = read_idx(write_idx(tmp_path / "a.idx", arr, compress))
    assert out.shape == arr.shape and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_idx_truncated(tmp_path):
    data = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    (tmp_path / "t.idx").write_bytes(data[:-5])
    with pytest.raises(InputError, match="truncated"):
        read_idx(tmp_path / "t.idx")
    (tmp_path / "h.idx").write_bytes(data[:6])
    with pytest.raises(InputError, match="truncated idx header"):
        read_idx(tmp_path / "h.idx")


def test_idx_trailing_bytes_and_bad_magic(tmp_path):
    data = idx_bytes(np.zeros(5, np.uint8))
    (tmp_path / "x.idx").write_bytes(data + b"\x00")
    with pytest.raises(InputError, match="trailing bytes"):
        read_idx(tmp_path / "x.idx")
    (tmp_path / "m.idx").write_bytes(b"\x01\x02" + data[2:])
    with pytest.raises(InputError, match="magic"):
        read_idx(tmp_path / "m.idx")
    (tmp_path / "c.idx").write_bytes(b"\x00\x00\x07\x01" + data[4:])
    with pytest.raises(InputError, match="type code"):
        read_idx(tmp_path / "c.idx")


def test_idx_truncated_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8).reshape(10, 100)))
    (tmp_path / "g.idx.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InputError, match="gzip"):
        read_idx(tmp_path / "g.idx.gz")


def test_idx_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_idx(tmp_path / "nope.gz")


def test_mnist_layout_from_root(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    d = tmp_path / "mnist"
    d.mkdir()
    for prefix, n in (("train", 12), ("t10k", 5)):
        write_idx(
            d / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), True
        )
        write_idx(d / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    monkeypatch.delenv("CORESELECT_DATA", raising=False)
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.x_train.shape == (12, 784) and ds.x_test.shape == (5, 784)
    assert ds.x_train.dtype == np.float32 and 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert ds.y_train.dtype == np.int64 and ds.image_shape == (1, 28, 28) and ds.num_classes == 10
    assert load_dataset("mnist", root=d).n_train == 12  # root may also be the dataset folder itself
    monkeypatch.setenv("CORESELECT_DATA", str(tmp_path))
    assert default_data_root() == tmp_path.resolve()
    assert load_dataset("mnist").n_test == 5


def write_idx_folder(d: Path, n_train: int, n_test: int) -> Path:
    """A folder in the MNIST idx layout: random 28×28 images, labels 1..3 (gzipped label files)."""
    rng = np.random.default_rng(1)
    d.mkdir()
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(d / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(d / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 3 + 1).astype(np.uint8), True)
    return d


def test_user_idx_folder(tmp_path):
    """A folder in the MNIST idx layout is a dataset by its path (KMNIST and other MNIST-like sets)."""
    d = write_idx_folder(tmp_path / "kmnist-like", 30, 8)
    ds = load_dataset(str(d))
    assert ds.name == "kmnist-like" and ds.image_shape == (1, 28, 28) and ds.x_train.max() <= 1.0
    assert (ds.n_train, ds.n_test, ds.num_classes) == (30, 8, 4)  # labels 1..3 are kept: nearly dense
    with pytest.raises(InputError, match="takes none"):
        load_dataset(str(d), test_fraction=0.5)
    (d / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(InputError, match="t10k-images-idx3-ubyte"):
        load_dataset(str(d))


def test_bench_takes_an_idx_folder(tmp_path):
    pytest.importorskip("torch")
    from coreselect.bench import BenchConfig, ResultStore
    from coreselect.bench.runner import run_bench

    d = write_idx_folder(tmp_path / "kmnist-like", 60, 12)
    out = tmp_path / "out"
    run_bench(BenchConfig(dataset=str(d), protocol="oneshot", out=out, methods=("uniform",), fractions=(0.5,),
                          seeds=1, epochs=1, model="mlp", device="cpu", options={"proxy_epochs": "1"}))
    records = [r for r in ResultStore(out).records() if r["key"].get("method") == "uniform"]
    assert len(records) == 1 and 0.0 <= records[0]["metrics"]["test_accuracy"] <= 1.0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="MNIST idx layout"):
        run_bench(BenchConfig(dataset=str(empty), protocol="oneshot", out=out, methods=("uniform",)))


def test_idx_label_count_mismatch(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(d / f"{prefix}-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
        write_idx(d / f"{prefix}-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(InputError, match="4 images but .* 3 labels"):
        load_dataset("mnist", root=tmp_path)


# ---------------------------------------------------------------- libsvm and gas sensor


def test_libsvm_small(tmp_path):
    text = "+1 1:1 3:0.5\n-1 2:1\n+1 5:2\n"
    path = tmp_path / "tiny.svm.gz"
    path.write_bytes(gzip.compress(text.encode()))
    x, y = load_libsvm(path, n_features=6, zero_based=False)
    assert sp.isspmatrix_csr(x) and x.dtype == np.float32 and x.shape == (3, 6)
    np.testing.assert_array_equal(y, [1, 0, 1])
    assert y.dtype == np.int64
    np.testing.assert_allclose(x.toarray()[0], [1, 0, 0.5, 0, 0, 0])
    with pytest.raises(InputError, match="n_features"):
        load_libsvm(path, n_features=3, zero_based=False)
    (tmp_path / "bad.svm").write_text("+1 1:x\n")
    with pytest.raises(InputError, match="LIBSVM"):
        load_libsvm(tmp_path / "bad.svm")


def test_gas_batches(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path / "gas-sensor"
    d.mkdir()
    names = ["Ethanol", "Acetone", "Toluene"]
    for b, n in ((1, 3), (3, 2)):
        rows = [
            f"{names[i % 3]},{10.0 * (i + 1):f}," + ",".join(f"{v:f}" for v in rng.normal(size=128)) + " "
            for i in range(n)
        ]
        (d / f"batch{b}.dat.gz").write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    x, conc, gas = read_gas_batch(d / "batch1.dat.gz")
    assert x.shape == (3, 128) and x.dtype == np.float32 and conc.dtype == np.float64
    np.testing.assert_array_equal(conc, [10.0, 20.0, 30.0])
    assert list(gas) == names
    x, conc, gas, batch = read_gas_sensor(d)
    assert x.shape == (5, 128) and list(batch) == [1, 1, 1, 3, 3]
    assert read_gas_sensor(d, batches=(3,))[0].shape == (2, 128)
    with pytest.raises(InputError, match=r"batch\(es\) \[2\]"):
        read_gas_sensor(d, batches=(2,))
    ds = load_dataset("gas-sensor", root=tmp_path, test_fraction=0.4)
    assert ds.task == "regression" and ds.num_classes is None and ds.y_train.dtype == np.float64
    assert ds.n_train + ds.n_test == 5
    (d / "batch2.dat").write_text("Ethanol,1.0,2.0\n")
    with pytest.raises(InputError, match="130"):
        read_gas_sensor(d)


# ---------------------------------------------------------------- arrays


def test_npy_npz_csv(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(load_array(tmp_path / "a.npy"), a)
    np.savez(tmp_path / "z.npz", first=a, second=np.arange(4))
    np.testing.assert_array_equal(load_array(tmp_path / "z.npz"), a)
    np.testing.assert_array_equal(load_array(str(tmp_path / "z.npz"), key="second"), np.arange(4))
    assert set(load_arrays_npz(tmp_path / "z.npz")) == {"first", "second"}
    with pytest.raises(InputError, match="no array 'third'.*'first', 'second'"):
        load_array(tmp_path / "z.npz", key="third")
    (tmp_path / "h.csv").write_text("f1,f2,label\n1,2,0\n3,4.5,1\n")
    np.testing.assert_array_equal(load_array(tmp_path / "h.csv"), [[1, 2, 0], [3, 4.5, 1]])
    np.testing.assert_array_equal(load_array(tmp_path / "h.csv", key="label"), [0, 1])
    (tmp_path / "n.csv").write_text("1,2\n3,4\n")
    np.testing.assert_array_equal(load_array(tmp_path / "n.csv"), [[1, 2], [3, 4]])
    (tmp_path / "one.csv").write_text("y\n0\n1\n2\n")
    assert load_array(tmp_path / "one.csv").shape == (3,)
    (tmp_path / "bad.csv").write_text("a,b\n1,oops\n")
    with pytest.raises(InputError, match="bad.csv: not a numeric CSV"):
        load_array(tmp_path / "bad.csv")


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"a": [1.0, 2.0], "b": [3, 4], "name": ["x", "y"]}), tmp_path / "t.parquet")
    np.testing.assert_array_equal(load_array(tmp_path / "t.parquet"), [[1, 3], [2, 4]])
    np.testing.assert_array_equal(load_array(tmp_path / "t.parquet", key="b"), [3, 4])
    pq.write_table(pa.table({"emb": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}), tmp_path / "e.parquet")
    emb = load_array(tmp_path / "e.parquet")
    assert emb.shape == (2, 3) and emb[1, 2] == 6.0
    pq.write_table(pa.table({"emb": [[1.0, 2.0], [4.0, 5.0]], "y": [0, 1]}), tmp_path / "m.parquet")
    with pytest.raises(InputError, match="key="):
        load_array(tmp_path / "m.parquet")
    assert load_array(tmp_path / "m.parquet", key="emb").shape == (2, 2)
    pq.write_table(pa.table({"emb": [[1.0, 2.0], [4.0]]}), tmp_path / "r.parquet")
    with pytest.raises(InputError, match="different lengths"):
        load_array(tmp_path / "r.parquet")
    with pytest.raises(InputError, match="no column 'zz'"):
        load_array(tmp_path / "t.parquet", key="zz")


def test_pickle_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"contains Python objects \(pickle\); refusing to load"):
        load_array(tmp_path / "obj.npy")
    (tmp_path / "raw.npy").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError, match="refusing to load"):
        load_array(tmp_path / "raw.npy")
    np.savez(tmp_path / "obj.npz", x=np.zeros(3), y=np.array([[1], "a"], dtype=object))
    with pytest.raises(InputError, match="'y' contains Python objects"):
        load_arrays_npz(tmp_path / "obj.npz")
    with pytest.raises(InputError, match="refusing to load"):
        load_array(tmp_path / "obj.npz", key="y")
    np.testing.assert_array_equal(load_array(tmp_path / "obj.npz", key="x"), np.zeros(3))


def test_array_errors_name_the_path(tmp_path):
    missing = tmp_path / "missing.npy"
    with pytest.raises(InputError, match=f"{missing}: no such file"):
        load_array(missing)
    (tmp_path / "a.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="a.txt: unknown file type"):
        load_array(tmp_path / "a.txt")
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(InputError, match="text.npy is not a .npy array"):
        load_array(tmp_path / "text.npy")
    (tmp_path / "t.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(InputError, match="t.npz"):
        load_array(tmp_path / "t.npz")
    with pytest.raises(InputError, match="directory|regular file"):
        load_array(tmp_path)


# ---------------------------------------------------------------- toy data and splits


def test_four_moons():
    x, y = four_moons(2000, seed=0)
    assert x.shape == (2000, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert sorted(np.unique(y)) == [0, 1, 2, 3] and np.bincount(y).min() == 500
    x2, y2 = four_moons(2000, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, four_moons(2000, seed=1)[0])
    assert x[y <= 1, 0].mean() < x[y >= 2, 0].mean()  # the second pair sits to the right
    ds = load_dataset("four-moons", seed=3, n=100, n_test=40)
    assert (ds.n_train, ds.n_test, ds.num_classes) == (100, 40, 4)


def test_digits_split():
    a, b, c = digits(seed=0), digits(seed=0), digits(seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)
    assert a.n_train + a.n_test == 1797 and a.image_shape == (1, 8, 8)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    # stratified: every class is represented in test close to its share
    assert np.all(np.abs(np.bincount(a.y_test) / a.n_test - np.bincount(a.y_train) / a.n_train) < 0.01)


def test_split_indices():
    y = np.array([0] * 10 + [1] * 5 + [2])
    train, test = split_indices(len(y), 0.2, seed=0, strata=y)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 16
    assert np.bincount(y[test], minlength=3).tolist() == [2, 1, 0]
    with pytest.raises(InputError):
        split_indices(10, 1.5, seed=0)


# ---------------------------------------------------------------- registry and user npz


def test_npz_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), np.repeat([-1, 1], 25)
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    ds = load_dataset(str(tmp_path / "mine.npz"), seed=0)
    assert ds.name == "mine" and ds.task == "classification" and ds.num_classes == 2
    assert (ds.n_train, ds.n_test) == (40, 10) and set(ds.y_test.tolist()) == {0, 1}
    assert ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(load_dataset(str(tmp_path / "mine.npz"), seed=0).y_train, ds.y_train)
    np.savez(tmp_path / "reg.npz", x=x[:40], y=x[:40, 0] * 2.0, x_test=x[40:], y_test=x[40:, 0])
    reg = load_dataset(str(tmp_path / "reg.npz"))
    assert reg.task == "regression" and (reg.n_train, reg.n_test) == (40, 10)
    np.savez(tmp_path / "img.npz", x=rng.integers(0, 256, (20, 4, 4), dtype=np.uint8), y=np.arange(20) % 2)
    img = load_dataset(str(tmp_path / "img.npz"))
    assert img.image_shape == (1, 4, 4) and img.x_train.shape[1] == 16 and img.x_train.max() <= 1.0
    rgb_first = rng.integers(0, 256, (20, 3, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "rgb_last.npz", x=np.moveaxis(rgb_first, 1, 3), y=np.arange(20) % 2,
             x_test=np.moveaxis(rgb_first[:4], 1, 3), y_test=np.arange(4) % 2)
    np.savez(tmp_path / "rgb_first.npz", x=rgb_first, y=np.arange(20) % 2, x_test=rgb_first[:4], y_test=np.arange(4) % 2)
    last, first = load_dataset(str(tmp_path / "rgb_last.npz")), load_dataset(str(tmp_path / "rgb_first.npz"))
    assert last.image_shape == first.image_shape == (3, 5, 5)
    np.testing.assert_array_equal(last.x_train, first.x_train)
    np.testing.assert_array_equal(last.x_test, first.x_test)
    np.savez(tmp_path / "nox.npz", features=x, y=y)
    with pytest.raises(InputError, match="'x' and 'y'"):
        load_dataset(str(tmp_path / "nox.npz"))
    with pytest.raises(InputError, match="unknown option"):
        load_dataset(str(tmp_path / "mine.npz"), bogus=1)


def test_unknown_name_and_missing_root(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="known datasets: mnist, fashion-mnist"):
        load_dataset("cifar-11")
    monkeypatch.setenv("CORESELECT_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(InputError) as info:
        load_dataset("a9a")
    message = str(info.value)
    assert (
        str(tmp_path / "nowhere" / "a9a") in message and "root=" in message and "CORESELECT_DATA" in message
    )
    with pytest.raises(InputError, match="unknown option"):
        load_dataset("mnist", root=tmp_path, noise=1)
    assert set(DATASETS) == {"mnist", "fashion-mnist", "digits", "a9a", "gas-sensor", "four-moons"}


def test_dataset_validates():
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(InputError):
        Dataset("bad", x, np.zeros(3), x, np.zeros(3, np.int64), "classification", 2)
    ds = Dataset("ok", x, np.zeros(3, np.int64), x, np.zeros(3, np.int64), "classification", 2)
    assert "ok" in repr(ds) and ds.n_features == 2


# ---------------------------------------------------------------- the real data (skipped when absent)


@needs_shared
@pytest.mark.parametrize(("name", "mean"), [("mnist", 0.1307), ("fashion-mnist", 0.2860)])
def test_real_mnist_like(name, mean, monkeypatch):
    monkeypatch.setenv("CORESELECT_DATA", str(SHARED))
    assert default_data_root() == SHARED
    ds = load_dataset(name)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == np.float32 and ds.image_shape == (1, 28, 28)
    assert sorted(np.unique(ds.y_train)) == list(range(10)) and ds.y_test.max() == 9
    assert abs(float(ds.x_train.mean(dtype=np.float64)) - mean) < 0.001


@needs_shared
def test_real_a9a(monkeypatch):
    monkeypatch.setenv("CORESELECT_DATA", str(SHARED))
    ds = load_dataset("a9a")
    assert sp.isspmatrix_csr(ds.x_train) and ds.x_train.dtype == np.float32
    assert ds.x_train.shape == (32561, 123) and ds.x_test.shape == (16281, 123)
    assert int(ds.y_train.sum()) == 7841 and int(ds.y_test.sum()) == 3846


@needs_shared
def test_real_gas_sensor(monkeypatch):
    monkeypatch.delenv("CORESELECT_DATA", raising=False)
    x, conc, _, batch = read_gas_sensor(SHARED / "gas-sensor")
    assert x.shape == (6697, 128) and np.all(conc > 0)
    assert np.bincount(batch).tolist()[1:] == [445, 1244, 1586, 161, 197, 2300, 0, 294, 470]
    ds = load_dataset("gas-sensor", root=SHARED, seed=0)
    assert ds.n_train + ds.n_test == 6697 and ds.n_features == 128
    assert abs(ds.n_test - 0.2 * 6697) < 1


def test_sparse_label_codes_are_ranked_not_one_output_each(tmp_path):
    """Labels such as {0, 10⁹} would give a model 10⁹ outputs: sparse codes are mapped to their ranks."""
    from coreselect.data.userdata import load_npz_dataset

    y = np.where(np.arange(100) % 2 == 0, 0, 10**9)
    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(100, 3)), y=y)
    ds = load_npz_dataset(tmp_path / "d.npz")
    assert ds.num_classes == 2 and set(np.unique(ds.y_train)) == {0, 1}
    np.savez(tmp_path / "dense.npz", x=np.zeros((100, 3)), y=np.arange(100) % 3)
    assert load_npz_dataset(tmp_path / "dense.npz").num_classes == 3


def test_csv_header_rules(tmp_path):
    """Names are a header; pandas' default names 0..d-1 too; a row mixing numbers and text is an error."""
    (tmp_path / "named.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "pandas.csv").write_text("0,1,2\n1.5,2,3\n4,5,6\n")
    (tmp_path / "data.csv").write_text("1,2,3\n4,5,6\n")
    (tmp_path / "mixed.csv").write_text("0x10,2\n3,4\n")
    assert load_array(tmp_path / "named.csv").shape == (2, 2)
    assert load_array(tmp_path / "pandas.csv").shape == (2, 3)
    assert load_array(tmp_path / "data.csv").shape == (2, 3)
    with pytest.raises(InputError, match="mixes numbers with text"):
        load_array(tmp_path / "mixed.csv")
    (tmp_path / "underscore.csv").write_text("1,2\n3,1_000\n")  # Python's float() would read 1000
    with pytest.raises(InputError, match=r"not a numeric CSV file .*'1_000'"):
        load_array(tmp_path / "underscore.csv")
    (tmp_path / "forms.csv").write_text("1e3,-.5\n+2.,-inf\n")
    np.testing.assert_array_equal(load_array(tmp_path / "forms.csv"), [[1000, -0.5], [2, -np.inf]])
