"""Property: whatever damage a subset file takes, `Subset.load` returns a valid `Subset` or raises
`InputError`, never anything else (truncation, flipped bytes, members of the wrong dtype, shape or
value, metadata that is not the JSON object it should be)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from coreselect import Subset
from coreselect.errors import InputError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

VALID = Subset(np.array([0, 3, 8, 9]), np.array([2.5, 2.5, 3.0, 2.0]), n=10, method="kcenter",
               params={"k": 2, "per_class": True}, seed=4, n_queries=7)


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("subset") / "valid.npz"
    VALID.save(path)
    return path.read_bytes()


def _check_load(path: Path) -> None:
    """Load `path`: a valid Subset (that saves and loads back equal) or an InputError, nothing else."""
    try:
        s = Subset.load(path)
    except InputError:
        return
    assert s.indices.dtype == np.int64 and s.indices.ndim == 1 and len(s) >= 1
    assert np.unique(s.indices).size == len(s) and s.indices.min() >= 0 and s.indices.max() < s.n
    assert s.weights.dtype == np.float64 and s.weights.shape == s.indices.shape
    assert np.all(np.isfinite(s.weights)) and np.all(s.weights > 0)
    assert isinstance(s.params, dict) and isinstance(s.method, str) and isinstance(s.n_queries, int)
    again = path.with_suffix(".again.npz")
    s.save(again)
    assert Subset.load(again) == s


damage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("insert"), st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=16))),
)


@SETTINGS
@given(damage)
def test_damaged_bytes(original, tmp_path, how):
    kind, arg = how
    data = bytearray(original)
    if kind == "truncate":
        data = data[: int(arg * len(data))]
    elif kind == "flip":
        for where, mask in arg:
            data[min(int(where * len(data)), len(data) - 1)] ^= mask
    else:
        where, extra = arg
        at = int(where * len(data))
        data[at:at] = extra
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(data))
    _check_load(path)


_DTYPES = st.sampled_from(["i1", "i4", "i8", "u2", "u8", "f2", "f4", "f8", "c16", "?", "U3", "S3", "M8[s]"])
_ARRAYS = _DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=2, max_side=5)))
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 20) | st.floats(allow_nan=True) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                     max_leaves=8)
_FIELDS = st.fixed_dictionaries({}, optional={
    "n": st.one_of(st.integers(-2, 20), _JSON), "format": st.one_of(st.integers(0, 3), _JSON),
    "method": _JSON, "params": _JSON, "seed": _JSON, "n_queries": _JSON,
})
_METADATA = st.one_of(
    _FIELDS.map(lambda d: np.frombuffer(json.dumps(d).encode(), dtype=np.uint8)),
    _JSON.map(lambda v: np.frombuffer(json.dumps(v).encode(), dtype=np.uint8)),
    st.binary(max_size=40).map(lambda b: np.frombuffer(b, dtype=np.uint8)),
    _ARRAYS,
)
_MEMBER = {"indices": st.one_of(hnp.arrays("i8", st.integers(0, 6), elements=st.integers(-2, 12)), _ARRAYS),
           "weights": st.one_of(hnp.arrays("f8", st.integers(0, 6)), _ARRAYS),
           "metadata": _METADATA}


@SETTINGS
@given(st.fixed_dictionaries({}, optional=_MEMBER), st.booleans())
def test_members_of_any_dtype_shape_and_value(tmp_path, members, compressed):
    path = tmp_path / "members.npz"
    with open(path, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **members)
    _check_load(path)


def test_object_members_are_refused_as_pickles(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, indices=np.array([1, "a"], dtype=object), weights=np.ones(2),
             metadata=np.frombuffer(b'{"n": 3}', dtype=np.uint8))
    with pytest.raises(InputError, match="'indices' contains Python objects"):
        Subset.load(path)
