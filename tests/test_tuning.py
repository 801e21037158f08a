"""Grid tuning, active refinement and imbalanced variants on small synthetic data."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

import coreselect
from coreselect.errors import InputError
from coreselect.tuning import DEFAULT_GRID, keep_fraction_for_share, make_imbalanced, refine, tune
from coreselect.tuning.grid import class_shares
from shared_data import DATA_ROOT

SHARED_DATA = DATA_ROOT
SMALL = {"deterministic": (0.0, 1.0), "allocation": ("proportional", "balanced"), "weighting": ("keep", "inv")}


def _split(n: int = 900, pos: float = 0.1, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos).astype(np.int64)
    x = (rng.normal(size=(n, 5)) + 1.2 * y[:, None] * np.array([1, 0.5, 0, 0, 0])).astype(np.float32)
    return x[:600], y[:600], x[600:], y[600:]


def test_tune_returns_best_subset_and_whole_grid():
    x, y, xv, yv = _split()
    r = tune(x, y, xv, yv, "logreg", sizes=(30, 0.1), grid=SMALL, seed=0)
    assert len(r.table) == 2 * 8 and set(r.best_by_size) == {30, 60}
    for m, row in r.best_rows.items():
        f1s = [t["f1"] for t in r.table if t["size"] == m]
        assert row["f1"] == max(f1s)
        assert len(r.best_by_size[m]) == row["n_unique"]
    best_m = max(r.best_rows, key=lambda m: (r.best_rows[m]["f1"], r.best_rows[m]["balanced_accuracy"]))
    assert r.best == r.best_by_size[best_m]
    md = r.table.to_markdown()
    assert md.count("\n") == len(r.table) + 2 and "| size |" in md
    assert r.seconds > 0 and r.positive == 1
    for subset in (r.best, *r.best_by_size.values()):  # every output sums to n, whatever won
        assert subset.weights.sum() == pytest.approx(600)


def test_tuned_subset_is_reproduced_by_select():
    x, y, xv, yv = _split(seed=1)
    r = tune(x, y, xv, yv, "logreg", sizes=(40,), grid=SMALL, seed=3)
    p = r.best.params
    again = coreselect.select("coreset", features=x, labels=y, size=40, seed=3, sensitivity=p["sensitivity"],
                              deterministic=p["deterministic"], weighting=p["weighting"],
                              allocation={int(c): k for c, k in p["allocation"].items()})
    np.testing.assert_array_equal(again.indices, r.best.indices)
    np.testing.assert_allclose(again.weights, r.best.weights)


def test_tune_is_deterministic_and_default_grid_size():
    x, y, xv, yv = _split(seed=2)
    a = tune(x, y, xv, yv, "linsvm", sizes=(50,), seed=1)
    b = tune(x, y, xv, yv, "linsvm", sizes=(50,), seed=1)
    assert a.best == b.best
    assert [(t["f1"], t["n_unique"]) for t in a.table] == [(t["f1"], t["n_unique"]) for t in b.table]
    assert len(a.table) == math.prod(len(v) for v in DEFAULT_GRID.values())


def test_xgboost_and_sparse_input():
    x, y, xv, yv = _split(seed=3)
    x[np.abs(x) < 0.7] = 0
    r = tune(sp.csr_matrix(x), y, sp.csr_matrix(xv), yv, "xgboost", sizes=(60,),
             grid={"deterministic": (0.5,), "allocation": ("balanced",), "weighting": ("prop",)})
    assert len(r.table) == 1 and 0 <= r.table[0]["f1"] <= 1


def test_multiclass_uses_macro_f1(blobs):
    x, y = blobs
    r = tune(x[::2], y[::2], x[1::2], y[1::2], LogisticRegression(max_iter=500), sizes=(30,), grid=SMALL)
    assert r.positive is None and r.best_rows[30]["f1"] > 0.9


def test_balanced_falls_back_to_capping_and_bad_mapping_is_a_nan_row():
    x, y, xv, yv = _split(seed=4)
    n_pos = int(y.sum())
    r = tune(x, y, xv, yv, "logreg", sizes=(3 * n_pos,),
             grid={"allocation": ("balanced", {0: 10, 1: 10_000}), "deterministic": (1.0,), "weighting": ("keep",)})
    capped, bad = r.table
    assert capped["class_sizes"] == f"0:{2 * n_pos}/1:{n_pos} capped"
    assert math.isnan(bad["f1"]) and "class 1 has" in bad["note"]


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 200), min_size=2, max_size=4), q=st.floats(0, 1), data=st.data())
def test_class_shares_sum_and_caps(sizes, q, data):
    total = data.draw(st.integers(1, sum(sizes)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numeric warning, even when every class is full (total = n)
        shares, _ = class_shares(dict(enumerate(sizes)), total, q)
    assert sum(shares.values()) == total
    assert all(0 <= shares[c] <= sizes[c] for c in shares)


def test_class_shares_at_all_of_n_leaves_no_room_and_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shares, capped = class_shares({0: 67, 1: 67, 2: 66}, 200, 0.5)  # rounding fills all three
    assert shares == {0: 67, 1: 67, 2: 66} and capped


def test_bad_input():
    x, y, xv, yv = _split(seed=5)
    with pytest.raises(InputError, match="sample_weight"):
        tune(x, y, xv, yv, KNeighborsClassifier(), sizes=(30,))
    with pytest.raises(InputError, match="sample_weight"):
        refine(coreselect.select("uniform", features=x, size=30), x, y, xv, yv, KNeighborsClassifier())
    with pytest.raises(InputError, match="at least two classes"):
        tune(x, np.zeros_like(y), xv, yv, "logreg", sizes=(30,))
    bad = sp.csr_matrix(x)
    bad.data[3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        tune(bad, y, xv, yv, "logreg", sizes=(30,))
    with pytest.raises(InputError, match="columns"):
        tune(x, y, xv[:, :3], yv, "logreg", sizes=(30,))
    with pytest.raises(InputError, match="unknown keys"):
        tune(x, y, xv, yv, "logreg", sizes=(30,), grid={"temperature": (1,)})
    with pytest.raises(InputError, match="estimator must be"):
        tune(x, y, xv, yv, "forest", sizes=(30,))
    with pytest.raises(InputError, match="size must be"):
        tune(x, y, xv, yv, "logreg", sizes=(10_000,))


def test_refine_records_path_and_never_loses_validation_f1():
    x, y, xv, yv = _split(seed=6)
    start = tune(x, y, xv, yv, "logreg", sizes=(30,), grid=SMALL).best
    r = refine(start, x, y, xv, yv, "logreg", batch=5, patience=2, max_rounds=6, seed=0)
    assert r.path[0]["size"] == len(start)
    assert [p["size"] for p in r.path] == [len(start) + 5 * i for i in range(len(r.path))]
    f1 = [p["f1"] for p in r.path]
    assert r.path[r.best_round]["f1"] == max(f1) and len(r.best) == r.path[r.best_round]["size"]
    no_gain = len(r.path) - 1 - r.best_round
    assert no_gain == 2 or len(r.path) == 7  # stopped by patience, or ran out of rounds
    assert set(start.indices) <= set(r.best.indices)
    added = np.setdiff1d(r.best.indices, start.indices)
    unit = r.best.params["unit_weight"]  # an added example keeps its prior weight 1, scaled with the rest
    np.testing.assert_allclose(r.best.weights[np.isin(r.best.indices, added)], unit)
    assert r.best.weights.sum() == pytest.approx(600) and r.last.weights.sum() == pytest.approx(600)
    kept = np.isin(r.best.indices, start.indices)  # the start's weights all scaled by one factor
    np.testing.assert_allclose(r.best.weights[kept] / start.weights, unit / start.params["unit_weight"])
    again = refine(start, x, y, xv, yv, "logreg", batch=5, patience=2, max_rounds=6, seed=0)
    assert again.best == r.best and again.path == r.path


def test_refine_adds_the_smallest_margin_examples():
    x, y, xv, yv = _split(seed=7)
    start = coreselect.select("coreset", features=x, labels=y, size=60, allocation="balanced", deterministic=1.0)
    r = refine(start, x, y, xv, yv, "logreg", batch=7, patience=1, max_rounds=1, seed=0)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x[start.indices], y[start.indices],
                                                         sample_weight=start.weights / start.weights.mean())
    rest = np.setdiff1d(np.arange(600), start.indices)
    expect = rest[np.argsort(np.abs(model.decision_function(x[rest])))[:7]]
    assert set(np.setdiff1d(r.last.indices, start.indices)) == set(expect)
    assert len(r.path) == 2 and r.path[1]["size"] == len(r.last) == 67


def test_make_imbalanced():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [800, 200])
    x = sp.csr_matrix(rng.normal(size=(1000, 3)))
    f = keep_fraction_for_share(y, 0.02)
    xi, yi, rows = make_imbalanced(x, y, f, seed=1)
    assert yi.mean() == pytest.approx(0.02, abs=0.002) and (yi == 0).sum() == 800
    np.testing.assert_array_equal(xi.toarray(), x[rows].toarray())
    assert np.array_equal(rows, make_imbalanced(x, y, f, seed=1)[2])
    assert not np.array_equal(rows, make_imbalanced(x, y, f, seed=2)[2])
    with pytest.raises(InputError, match="keep_fraction"):
        make_imbalanced(x, y, 0.0)
    with pytest.raises(InputError, match="no example of the positive class"):
        make_imbalanced(x, y, 0.5, positive=7)
    with pytest.raises(InputError, match="already"):
        keep_fraction_for_share(y, 0.5)


def _cli(*argv: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coreselect", *argv], cwd=cwd, capture_output=True, text=True,
                          check=False)


def test_cli_tune_from_files(tmp_path):
    x, y, xv, yv = _split(seed=8)
    for name, arr in {"x": x, "y": y, "xv": xv, "yv": yv}.items():
        np.save(tmp_path / f"{name}.npy", arr)
    files = ["--features", "x.npy", "--labels", "y.npy", "--val-features", "xv.npy", "--val-labels", "yv.npy"]
    r = _cli("tune", *files, "--sizes", "40", "--grid", "deterministic=0,1", "--grid", "allocation=proportional,0.5",
             "--out", "s.npz", "--table", "t.md", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = coreselect.Subset.load(tmp_path / "s.npz")
    assert s.method == "coreset" and s.n == 600 and len(s) <= 40
    assert (tmp_path / "t.md").read_text().count("\n") == 2 + 2 * 2 * 3

    before = (tmp_path / "s.npz").read_bytes()
    for bad, message in ((["--grid", "weighting=sqrt"], "weighting"), (["--sizes", "abc"], "--sizes"),
                         (["--features", "missing.npy"], "missing.npy")):
        r = _cli("tune", *files, *bad, "--out", "s.npz", cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("error:") and message in r.stderr, r.stderr
    assert (tmp_path / "s.npz").read_bytes() == before
    r = _cli("tune", "--features", "x.npy", "--out", "n.npz", cwd=tmp_path)
    assert r.returncode == 2 and not (tmp_path / "n.npz").exists()
    r = _cli("tune", *files, "--out", "nodir/s.npz", cwd=tmp_path)
    assert r.returncode == 2 and "directory" in r.stderr


def test_cli_tune_builtin_dataset(tmp_path):
    if not (SHARED_DATA / "a9a").is_dir():
        pytest.skip("a9a not available")
    r = _cli("tune", "--dataset", "a9a", "--data-root", str(SHARED_DATA), "--imbalance", "0.02", "--sizes", "100",
             "--grid", "deterministic=1", "--grid", "weighting=keep", "--out", str(tmp_path / "s.npz"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = coreselect.Subset.load(tmp_path / "s.npz")
    assert s.n == 32561 and s.params["dataset"] == "a9a" and len(s) == 100


def test_tabular_protocol_runs_resumes_and_checks_options(tmp_path):
    from coreselect.bench.config import BenchConfig
    from coreselect.bench.protocols import tabular
    from coreselect.bench.store import ResultStore

    config = BenchConfig(dataset="four-moons", protocol="tabular", out=tmp_path, methods=("uniform", "coreset"),
                         fractions=(0.05,), seeds=1, options={"grid": "small", "max_rounds": "2"})
    store = ResultStore(tmp_path)
    tabular.run(config, store)
    records = list(store.records())
    assert sorted(r["key"]["method"] for r in records) == ["coreset", "full", "tuned", "tuned+active", "uniform"]
    assert all(0 <= r["metrics"]["f1"] <= 1 for r in records)
    tuned = next(r for r in records if r["key"]["method"] == "tuned")
    assert tuned["timings"]["tune"] > 0 and "val_f1" in tuned["metrics"]
    tabular.run(config, ResultStore(tmp_path))
    assert len(list(ResultStore(tmp_path).records())) == len(records)
    for options, message in (({"arms": "best"}, "arms"), ({"estimator": "forest"}, "estimator"),
                             ({"colour": "red"}, "no option")):
        with pytest.raises(InputError, match=message):
            tabular.validate(BenchConfig(dataset="four-moons", protocol="tabular", out=tmp_path,
                                         methods=("uniform",), options=options))
    with pytest.raises(InputError, match="needs"):
        tabular.validate(BenchConfig(dataset="four-moons", protocol="tabular", out=tmp_path, methods=("prune",)))
