"""Selection after a first step (`within=`, `select --within`, the bench's `dedup` option): a method run
among some rows only equals the method run on those rows, with indices mapped back and weights rescaled."""

from __future__ import annotations

import numpy as np
import pytest

import coreselect
from coreselect.cli.main import main
from coreselect.errors import InputError, UnusedInputWarning
from coreselect.subset import Subset


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 5)).astype(np.float32)
    x[300:330] = x[:30]  # exact duplicates for semdedup to remove
    return x, np.arange(600) % 3


def test_within_equals_the_method_on_the_kept_rows_mapped_back(data):
    x, y = data
    kept = coreselect.select("semdedup", features=x, fraction=0.5, seed=0)
    got = coreselect.select("facility-location", features=x, labels=y, fraction=0.1, within=kept, seed=4)
    rows = np.sort(kept.indices)
    alone = coreselect.select("facility-location", features=x[rows], labels=y[rows], size=60, seed=4)
    np.testing.assert_array_equal(got.indices, rows[alone.indices])
    np.testing.assert_allclose(got.weights, alone.weights * 600 / 300)
    assert got.n == 600 and len(got) == 60 and got.params["within"] == 300
    assert np.isin(got.indices, kept.indices).all()


def test_within_asks_the_oracle_for_the_original_rows(data):
    x, _ = data
    loss = np.abs(x[:, 0]).astype(np.float64) + 0.1
    rows = np.arange(0, 600, 2)
    asked: list[np.ndarray] = []

    def oracle(idx: np.ndarray) -> np.ndarray:
        asked.append(np.asarray(idx))
        return loss[idx]

    got = coreselect.select("sensitivity", features=x, oracle=oracle, size=80, within=rows, seed=1, k=6)
    alone = coreselect.select("sensitivity", features=x[rows], oracle=loss[rows], size=80, seed=1, k=6)
    np.testing.assert_array_equal(got.indices, rows[alone.indices])
    assert np.isin(np.concatenate(asked), rows).all() and got.n_queries == alone.n_queries


@pytest.mark.parametrize("within, message", [
    (np.ones(600, dtype=bool), "not a boolean mask"),
    ([4, 4, 5], "repeats 1 row"),
    ([0, 600], r"outside \[0, 600\)"),
    ([-1, 3], r"outside \[0, 600\)"),
    (np.array([1.0, 2.0]), "integer row indices"),
    ([], "non-empty"),
    (np.arange(4).reshape(2, 2), "1-d array"),
    (Subset.uniform_weights(np.arange(5), 50), "a subset of 50 examples, but the features have 600 rows"),
    (np.arange(10), "budget of 60 rows exceeds the 10 rows of within"),
])
def test_bad_within_is_refused(data, within, message):
    x, _ = data
    with pytest.raises(InputError, match=message):
        coreselect.select("uniform", features=x, fraction=0.1, within=within)


def test_within_is_refused_for_dask_arrays(data):
    da = pytest.importorskip("dask.array")
    with pytest.raises(InputError, match="in-memory features"):
        coreselect.select("uniform", features=da.from_array(data[0], chunks=100), fraction=0.1, within=[1, 2])


def test_cli_select_within_a_subset_file(data, tmp_path):
    x, y = data
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    kept = coreselect.select("semdedup", features=x, fraction=0.5, seed=0)
    kept.save(tmp_path / "kept.npz")
    out = tmp_path / "sub.npz"
    base = ["select", "facility-location", "--features", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
            "--within", str(tmp_path / "kept.npz"), "--seed", "4"]
    assert main([*base, "--fraction", "0.1", "--out", str(out)]) == 0
    expected = coreselect.select("facility-location", features=x, labels=y, fraction=0.1, within=kept, seed=4)
    assert Subset.load(out) == expected
    before = (tmp_path / "kept.npz").read_bytes()
    assert main([*base, "--fraction", "0.6", "--out", str(tmp_path / "big.npz")]) == 2
    assert main([*base, "--fraction", "0.1", "--out", str(tmp_path / "kept.npz")]) == 2
    assert not (tmp_path / "big.npz").exists() and (tmp_path / "kept.npz").read_bytes() == before


def test_bench_dedup_option_selects_among_the_rows_semdedup_kept(tmp_path):
    pytest.importorskip("torch")
    from coreselect.bench import BenchConfig, ResultStore
    from coreselect.bench.runner import run_bench

    def config(**options: str) -> BenchConfig:
        return BenchConfig(dataset="digits", protocol="oneshot", out=tmp_path, methods=("uniform",),
                           fractions=(0.1,), seeds=1, epochs=1, device="cpu", options={"proxy_epochs": "1", **options})

    run_bench(config())
    run_bench(config(dedup="0.5"))
    assert len(list((tmp_path / "cache").glob("proxy-*"))) == 1  # the proxy does not depend on dedup
    records = {r["key"]["method"]: r for r in ResultStore(tmp_path).records() if "dedup" in r["key"]}
    uniform = records["uniform"]
    assert uniform["key"]["dedup"] == 0.5 and records["full"]["key"]["dedup"] == 0.5
    n = records["full"]["size"]
    assert uniform["params"]["within"] == round(0.5 * n) and uniform["size"] == round(0.1 * n)
    assert "dedup" in uniform["timings"]
    for bad in ("1", "0", "-0.5"):
        with pytest.raises(InputError, match="dedup"):
            run_bench(config(dedup=bad))


def test_unused_input_warning_points_at_the_callers_line(data):
    x, y = data
    with pytest.warns(UnusedInputWarning) as record:
        coreselect.select("kcenter", features=x, labels=y, fraction=0.1)
    assert record[0].filename == __file__


def test_unused_input_warning_points_at_the_callers_line_on_dask_too(data):
    da = pytest.importorskip("dask.array")
    x, y = data
    with pytest.warns(UnusedInputWarning) as record:
        coreselect.select("kcenter", features=da.from_array(x, chunks=200), labels=y, fraction=0.1)
    assert record[0].filename == __file__
    from coreselect.distributed import select as select_on_chunks  # the same runner, called directly

    with pytest.warns(UnusedInputWarning) as record:
        select_on_chunks("kcenter", features=da.from_array(x, chunks=200), labels=y, fraction=0.1)
    assert record[0].filename == __file__
