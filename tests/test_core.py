"""Pool, Budget, Subset, registry and the front door."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coreselect
from coreselect import Budget, InputError, Pool, Subset, registry
from coreselect.budget import balanced_split


def test_import_does_not_pull_torch_or_dask():
    code = "import sys, coreselect; coreselect.available_methods(); print('torch' in sys.modules, 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


class TestPool:
    def test_nan_rows_are_named(self):
        x = np.ones((10, 3))
        x[4, 1] = np.nan
        x[7, 0] = np.inf
        with pytest.raises(InputError, match="features contains NaN or inf at rows 4, 7"):
            Pool.build(x)

    def test_length_mismatch(self):
        with pytest.raises(InputError, match="labels has 9 rows but features have 10"):
            Pool.build(np.ones((10, 3)), labels=np.zeros(9, int))

    def test_negative_magnitude_signal(self):
        with pytest.raises(InputError, match="signal 'el2n' must be >= 0"):
            Pool.build(np.ones((4, 2)), signals={"el2n": [0.1, -1, 0.2, 0.3]})
        Pool.build(np.ones((4, 2)), signals={"aum": [0.1, -1, 0.2, 0.3]})  # margins may be negative

    def test_non_integer_labels(self):
        with pytest.raises(InputError, match="integer class labels"):
            Pool.build(np.ones((3, 2)), labels=[0.5, 1, 2])

    def test_features_converted_once(self):
        x = np.ones((5, 2), dtype=np.float32)
        assert Pool.build(x).features is x  # already float32 and contiguous: no copy
        assert Pool.build(np.ones((5, 2))).features.dtype == np.float32


class TestBudget:
    @pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan")])
    def test_bad_fraction(self, fraction):
        with pytest.raises(InputError, match="fraction"):
            Budget.from_request(100, fraction=fraction)

    def test_size_bounds_and_exclusive(self):
        with pytest.raises(InputError, match=r"size must be in \[1, n\]"):
            Budget.from_request(100, size=101)
        with pytest.raises(InputError, match="exactly one"):
            Budget.from_request(100, fraction=0.1, size=10)

    def test_proportional_sums_exactly(self):
        sizes = {0: 333, 1: 333, 2: 334}
        for total in range(1, 1001, 37):
            split = Budget(total, 1000).split(sizes)
            assert sum(split.values()) == total
            assert all(abs(split[c] - total * s / 1000) < 1 for c, s in sizes.items())

    def test_balanced_and_too_small_class(self):
        assert Budget(30, 600, "balanced").split({0: 300, 1: 200, 2: 100}) == {0: 10, 1: 10, 2: 10}
        assert Budget(31, 600, "balanced").split({0: 300, 1: 200, 2: 100}) == {0: 11, 1: 10, 2: 10}
        # a class smaller than its share gives all its members; the others share the rest equally
        assert Budget(30, 305, "balanced").split({0: 200, 1: 100, 2: 5}) == {0: 13, 1: 12, 2: 5}
        assert Budget(305, 305, "balanced").split({0: 200, 1: 100, 2: 5}) == {0: 200, 1: 100, 2: 5}
        with pytest.raises(InputError, match="class 2 has 5 members but its share of the budget is 10"):
            Budget(0, 305, {0: 10, 1: 10, 2: 10}).split({0: 200, 1: 100, 2: 5})

    @settings(max_examples=80, deadline=None)
    @given(sizes=st.lists(st.integers(0, 60), min_size=1, max_size=6), data=st.data())
    def test_balanced_is_as_equal_as_the_classes_allow(self, sizes, data):
        total = data.draw(st.integers(0, sum(sizes)))
        shares = balanced_split(np.array(sizes), total)
        assert shares.sum() == total and (0 <= shares).all() and (shares <= np.array(sizes)).all()
        open_ = shares < np.array(sizes)  # classes with room differ by at most one, and a full class holds
        if open_.any():                  # at most one more than any of them (it may be full at level + 1)
            assert shares[open_].max() - shares[open_].min() <= 1
            assert (shares[~open_] <= shares[open_].min() + 1).all()

    def test_mapping(self):
        assert Budget(0, 600, {0: 5, 2: 7}).split({0: 300, 1: 200, 2: 100}) == {0: 5, 1: 0, 2: 7}
        assert Budget(0, 600, {0: 0.1, 1: 0.5}).split({0: 300, 1: 200, 2: 100}) == {0: 30, 1: 100, 2: 0}
        with pytest.raises(InputError, match="do not exist"):
            Budget(0, 600, {9: 5}).split({0: 300})


class TestSubset:
    def test_roundtrip_and_bytes(self, tmp_path):
        s = Subset(np.array([5, 1, 9]), np.array([1.0, 2.0, 3.5]), n=10, method="m", params={"a": 1}, seed=3)
        a, b = tmp_path / "a.npz", tmp_path / "b.npz"
        s.save(a)
        s.save(b)
        assert a.read_bytes() == b.read_bytes()
        t = Subset.load(a)
        assert t == s and t.params == {"a": 1} and t.seed == 3

    def test_from_draws_merges_duplicates(self):
        s = Subset.from_draws(np.array([3, 1, 3, 3]), np.array([1.0, 2.0, 1.0, 1.0]), n=5)
        assert s.indices.tolist() == [1, 3] and s.weights.tolist() == [2.0, 3.0]

    def test_invalid(self):
        with pytest.raises(ValueError, match="unique"):
            Subset(np.array([1, 1]), np.ones(2), n=3)
        with pytest.raises(ValueError, match="> 0"):
            Subset(np.array([1]), np.zeros(1), n=3)

    def test_save_failure_keeps_existing_file(self, tmp_path, monkeypatch):
        out = tmp_path / "s.npz"
        out.write_bytes(b"precious")
        s = Subset(np.array([1]), np.ones(1), n=3)
        monkeypatch.setattr(np.lib.format, "write_array", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))
        with pytest.raises(InputError, match="cannot write .*s.npz: disk"):  # a full disk: one clear error line
            s.save(out)
        assert out.read_bytes() == b"precious"
        assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]  # no temp file left behind

    def test_helpers(self):
        s = Subset(np.array([2, 0]), np.array([3.0, 1.0]), n=4)
        assert s.as_sample_weight().tolist() == [1.0, 0.0, 3.0, 0.0]
        assert s.take(np.arange(4) * 10).tolist() == [20, 0]


class TestRegistry:
    def test_every_method_constructible_with_defaults(self):
        for name in coreselect.available_methods():
            method = registry.make(name, {})
            assert method.name == name and isinstance(method.requires(), frozenset)

    def test_unknown_method_and_param(self):
        with pytest.raises(InputError, match="unknown method 'nope'; available: .*uniform"):
            registry.get_method("nope")
        with pytest.raises(InputError, match="has no parameter 'bogus'; parameters: stratified"):
            registry.make("uniform", {"bogus": 1})

    def test_parse_param_types(self):
        assert registry.parse_param("prune", "keep", "easy") == "easy"
        assert registry.parse_param("prune", "per_class", "true") is True
        assert registry.parse_param("prune", "higher_is_harder", "none") is None
        with pytest.raises(InputError, match="expected one of hard, easy"):
            registry.parse_param("prune", "keep", "medium")
        with pytest.raises(InputError, match="expected true or false"):
            registry.parse_param("uniform", "stratified", "maybe")


class TestSelect:
    def test_missing_signal_lists_needs(self, blobs):
        x, y = blobs
        with pytest.raises(InputError, match="missing signal 'el2n' \\(it needs: el2n\\)"):
            coreselect.select("prune", features=x, fraction=0.1)

    def test_records_metadata(self, blobs):
        x, y = blobs
        s = coreselect.select("uniform", features=x, labels=y, fraction=0.1, seed=7, stratified=True)
        assert s.method == "uniform" and s.seed == 7 and s.params == {"stratified": True}
        assert "select" in s.timings

    def test_bad_seed(self, blobs):
        with pytest.raises(InputError, match="seed"):
            coreselect.select("uniform", features=blobs[0], fraction=0.1, seed=-1)
