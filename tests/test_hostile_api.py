"""Hostile input through the front door: every bad argument is an InputError naming it, before heavy work;
odd-but-valid input (string labels, DataFrames, NumPy scalars, huge magnitudes) works."""

from __future__ import annotations

import math
import types
import typing
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coreselect
from coreselect import InputError, registry
from coreselect.methods import regression
from coreselect.pool import MAX_ROW_NORM
from coreselect.signals import DynamicsRecorder
from coreselect.subset import Subset
from coreselect.tuning import tune

N = 60
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, 4)).astype(np.float32)
Y = np.repeat(np.arange(3), N // 3)
NAMES = np.array(["bird", "cat", "dog"])[Y]
SIGNALS = {"el2n": RNG.random(N), "aum": RNG.normal(size=N), "forgetting": RNG.integers(0, 4, N).astype(float),
           "grand": RNG.random(N), "loss": RNG.random(N)}
TARGETS = X.astype(np.float64) @ np.arange(1.0, 5.0)
ORACLE = RNG.random(N) + 0.1
#: Everything any method may read, so that every method can run on it.
EVERYTHING = {"labels": Y, "targets": TARGETS, "signals": SIGNALS, "oracle": ORACLE}


def _select(method: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unused inputs are warned about elsewhere
        return coreselect.select(method, **{"features": X, "fraction": 0.2, **kwargs})


class Dataset:
    """A torch-style dataset: indexable and sized, but not an array."""

    def __len__(self) -> int:
        return N

    def __getitem__(self, i: int):
        return X[i], Y[i]


def _masked():
    return np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool) | (np.arange(N) == 7)[:, None])


def _with(row: int, value: float) -> np.ndarray:
    out = ORACLE.copy()
    out[row] = value
    return out


BAD = {  # case: (method, kwargs, words the message must contain)
    "misspelt method": ("kcentre", {}, ["did you mean 'kcenter'"]),
    "method not a name": (3, {}, ["method"]),
    "int param given 2.5": ("sensitivity", {"oracle": ORACLE, "k": 2.5}, ["parameter k"]),
    "int param given True": ("sensitivity", {"oracle": ORACLE, "k": True}, ["parameter k"]),
    "int param given '3'": ("sensitivity", {"oracle": ORACLE, "k": "3"}, ["parameter k"]),
    "int param given 5.0": ("sensitivity", {"oracle": ORACLE, "k": 5.0}, ["parameter k", "integer"]),
    "literal given True": ("sensitivity", {"oracle": ORACLE, "z": True}, ["parameter z"]),
    "bool given 'yes'": ("kcenter", {"labels": Y, "per_class": "yes"}, ["parameter per_class"]),
    "bool given None": ("kcenter", {"per_class": None}, ["parameter per_class"]),
    "bool given 1": ("uniform", {"stratified": 1}, ["parameter stratified"]),
    "float given inf": ("facility-location", {"dense_mb": math.inf}, ["parameter dense_mb", "finite"]),
    "float given nan": ("sensitivity", {"oracle": ORACLE, "lam": math.nan}, ["parameter lam"]),
    "lam inf": ("gradmatch", {"labels": Y, "lam": math.inf}, ["parameter lam"]),
    "str given a list": ("prune", {"signals": SIGNALS, "signal": ["el2n"]}, ["parameter signal"]),
    "unknown parameter": ("facility-location", {"neighbours": 3}, ["neighbours", "did you mean 'neighbors'"]),
    "signals as a list": ("prune", {"signals": [SIGNALS["el2n"]]}, ["signals", "mapping"]),
    "allocation as a list": ("uniform", {"labels": Y, "stratified": True, "allocation": [10, 2]}, ["allocation"]),
    "allocation value a string": ("uniform", {"labels": Y, "stratified": True, "allocation": {0: "5"}}, ["allocation"]),
    "allocation value True": ("uniform", {"labels": Y, "stratified": True, "allocation": {0: True}}, ["allocation"]),
    "allocation unknown name": ("uniform", {"labels": NAMES, "stratified": True, "allocation": {"cow": 3}},
                                ["allocation", "cow"]),
    "allocation code for string labels": ("uniform", {"labels": NAMES, "stratified": True, "allocation": {0: 3}},
                                          ["allocation"]),
    "fraction a string": ("uniform", {"fraction": "0.1"}, ["fraction"]),
    "fraction True": ("uniform", {"fraction": True}, ["fraction"]),
    "fraction nan": ("uniform", {"fraction": math.nan}, ["fraction"]),
    "size 5.0": ("uniform", {"fraction": None, "size": 5.0}, ["size", "integer"]),
    "size True": ("uniform", {"fraction": None, "size": True}, ["size"]),
    "seed 1.5": ("uniform", {"seed": 1.5}, ["seed"]),
    "seed negative": ("uniform", {"seed": -1}, ["seed"]),
    "masked features": ("uniform", {"features": _masked()}, ["features", "masked", "row 7"]),
    "masked labels": ("uniform", {"labels": np.ma.masked_array(Y, mask=np.arange(N) == 3)}, ["labels", "row 3"]),
    "complex features": ("kcenter", {"features": X + 1j}, ["features", "complex"]),
    "complex sparse features": ("coreset", {"features": sp.csr_matrix(X + 1j), "labels": Y}, ["features", "complex"]),
    "complex labels": ("uniform", {"labels": Y + 0j}, ["labels"]),
    "complex targets": ("regression-sensitivity", {"targets": TARGETS + 1j}, ["targets", "complex"]),
    "complex signal": ("prune", {"signals": {"el2n": SIGNALS["el2n"] + 1j}}, ["signal 'el2n'", "complex"]),
    "complex oracle": ("sensitivity", {"oracle": ORACLE + 1j}, ["oracle", "complex"]),
    "oracle inf at an unqueried row": ("sensitivity", {"oracle": _with(N - 1, math.inf)}, ["oracle", f"row {N - 1}"]),
    "oracle negative": ("sensitivity", {"oracle": _with(5, -1.0)}, ["oracle", ">= 0"]),
    "callable oracle returns complex": ("sensitivity", {"oracle": lambda i: ORACLE[i] + 1j}, ["oracle", "complex"]),
    "a dataset object as features": ("kcenter", {"features": Dataset()}, ["features", "np.stack", "DynamicsRecorder"]),
    "ragged features": ("kcenter", {"features": [[1.0, 2.0], [3.0]]}, ["features"]),
    "labels NaN": ("uniform", {"labels": np.where(np.arange(N) == 4, np.nan, Y)}, ["labels", "row 4"]),
    "labels None": ("uniform", {"labels": np.array([None] + list(NAMES[1:]), dtype=object)}, ["labels", "row 0"]),
    "labels mixing kinds": ("uniform", {"labels": np.array([1] + list(NAMES[1:]), dtype=object)}, ["labels"]),
    "labels not integral": ("uniform", {"labels": Y + 0.5}, ["labels", "integer class labels"]),
    "features beyond float32": ("kcenter", {"features": np.full((N, 2), 1e39)}, ["features", "float32"]),
    "scale-dependent method on huge features": ("sensitivity", {"features": X * 2.0**80, "oracle": ORACLE},
                                               ["row norm", f"{MAX_ROW_NORM:.0e}", "sensitivity"]),
    "regression on huge features": ("regression-sensitivity", {"features": X * 2.0**80, "targets": TARGETS},
                                    ["row norm"]),
    "labels a list mixing ints and text": ("uniform", {"labels": [1] + ["a"] * (N - 1), "stratified": True},
                                           ["labels", "mix strings with int"]),
    "dense_mb beyond a 64-bit address space": ("facility-location", {"dense_mb": 1e308}, ["dense_mb", "2**43"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_an_input_error_naming_the_argument(case):
    method, kwargs, words = BAD[case]
    with pytest.raises(InputError) as err:
        _select(method, **kwargs)
    for word in words:
        assert word in str(err.value), (case, str(err.value))


#: Checked inside a method's select, by design: the class split (its first step) and a callable's values.
CHECKED_IN_SELECT = {"allocation unknown name", "allocation code for string labels", "callable oracle returns complex"}


def test_the_bad_inputs_are_rejected_before_any_work(monkeypatch):
    """Validation comes first: no method's select runs for the other bad inputs above."""
    for name in registry.available():
        monkeypatch.setattr(registry.get_method(name), "select", lambda *a: pytest.fail("select ran"))
    for case, (method, kwargs, _) in BAD.items():
        if case not in CHECKED_IN_SELECT:
            with pytest.raises(InputError):
                _select(method, **kwargs)


def test_dataframe_with_text_columns_names_them():
    pd = pytest.importorskip("pandas")
    with pytest.raises(InputError, match="column 'city'"):
        _select("kcenter", features=pd.DataFrame({"a": X[:, 0], "city": NAMES}))


# --- odd but valid input ---------------------------------------------------------------------------------


def test_numpy_scalars_are_plain_values():
    s = _select("sensitivity", oracle=ORACLE, fraction=np.float32(0.2), seed=np.int64(3), k=np.int32(4),
                lam=np.float32(0.5))
    assert s.params["k"] == 4 and type(s.params["k"]) is int and s.params["lam"] == 0.5
    assert s.seed == 3 and len(s) <= 12


def test_string_labels_give_the_integer_subset_and_record_the_classes(tmp_path):
    a = _select("kcenter", labels=Y, per_class=True)
    b = _select("kcenter", labels=NAMES, per_class=True)
    params = {k: v for k, v in b.params.items() if k != "classes"}
    assert params["per_class"] is True and a == Subset(b.indices, b.weights, b.n, b.method, params, b.seed)
    assert b.params["classes"] == ["bird", "cat", "dog"] and "classes" not in a.params
    b.save(tmp_path / "s.npz")
    assert Subset.load(tmp_path / "s.npz").params["classes"] == ["bird", "cat", "dog"]


def test_allocation_names_classes_by_their_values():
    s = _select("uniform", labels=NAMES, stratified=True, fraction=None, size=9, allocation={"cat": 6, "dog": 3})
    assert np.unique(NAMES[s.indices], return_counts=True)[1].tolist() == [6, 3]
    assert s.params["allocation"] == {"cat": 6, "dog": 3}


@pytest.mark.parametrize("labels", [NAMES.astype(object), NAMES.astype("S"), Y == 1])
def test_object_bytes_and_boolean_labels(labels):
    s = _select("uniform", labels=labels, stratified=True)
    assert len(s) == 12 and len(s.params["classes"]) == np.unique(labels).size


def test_pandas_categorical_labels_and_dataframe_features():
    pd = pytest.importorskip("pandas")
    s = _select("kcenter", features=pd.DataFrame(X, columns=list("abcd")), labels=pd.Categorical(NAMES),
                per_class=True)
    assert s == _select("kcenter", labels=NAMES, per_class=True)
    frame = pd.DataFrame({"a": X[:, 0], "flag": X[:, 1] > 0, "count": pd.array(np.arange(N), dtype="Int64")})
    assert len(_select("kcenter", features=frame)) == 12
    frame.loc[2, "count"] = pd.NA
    with pytest.raises(InputError, match="NaN or inf at row 2"):
        _select("kcenter", features=frame)


def test_masked_array_with_nothing_masked_is_taken_as_is():
    assert _select("kcenter", features=np.ma.masked_array(X)) == _select("kcenter")


@pytest.mark.parametrize("method", ["kcenter", "herding", "moderate", "facility-location", "craig", "boss"])
def test_scale_invariant_methods_give_the_same_subset_at_any_magnitude(method):
    huge = X.astype(np.float64) * 2.0**90  # squared norms would overflow float32
    kwargs = {"labels": Y, "signals": SIGNALS}
    assert _select(method, features=huge, **kwargs) == _select(method, **kwargs)


def test_dask_features_follow_the_same_magnitude_rule():
    da = pytest.importorskip("dask.array")
    huge = da.from_array(X.astype(np.float64) * 2.0**90, chunks=(20, 4))
    assert _select("kcenter", features=huge) == _select("kcenter", features=da.from_array(X, chunks=(20, 4)))
    with pytest.raises(InputError, match="row norm"):
        _select("sensitivity", features=huge, oracle=ORACLE)


# --- every method, random parameter values ---------------------------------------------------------------

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 200), st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(-2, 2), st.sampled_from(["", "lazy", "euclidean", "aum", "hard", "keep", "unified"]),
                   st.lists(st.integers(0, 3), max_size=2))


def _param_values(name: str):
    params = list(registry.parameters(registry.get_method(name)))
    return st.dictionaries(st.sampled_from(params), VALUES, max_size=3) if params else st.just({})


@pytest.mark.parametrize("name", coreselect.available_methods())
def test_random_parameters_give_a_subset_or_an_input_error(name):
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(params=_param_values(name), fraction=st.sampled_from([0.05, 0.2, 0.5, 1.0]))
    def check(params, fraction):
        try:
            s = _select(name, fraction=fraction, **EVERYTHING, **params)
        except InputError:
            return
        assert isinstance(s, Subset) and 1 <= len(s) <= N
        assert np.unique(s.indices).size == len(s) and np.all(s.weights > 0) and np.all(np.isfinite(s.weights))

    check()


def test_parameter_hints_are_all_checkable():
    """Every parameter of every method has a type the registry checks (no silently unchecked parameter)."""
    known = (bool, int, float, str)
    for name in coreselect.available_methods():
        cls = registry.get_method(name)
        for key in registry.parameters(cls):
            hint = typing.get_type_hints(cls)[key]
            union = typing.get_origin(hint) in (typing.Union, types.UnionType)
            arms = [a for a in typing.get_args(hint) if a is not type(None)] if union else [hint]
            assert all(a in known or typing.get_origin(a) is typing.Literal for a in arms), (name, key, hint)


# --- the weight convention -------------------------------------------------------------------------------


#: What the importance-sampling methods' weights average to (their ``weight_total`` says so and why).
EXPECTED_TOTAL = {"sensitivity": N, "leverage": N, "coreset": N, "regression-sensitivity": N}


@pytest.mark.parametrize("name", coreselect.available_methods())
def test_weights_sum_to_n_or_the_method_says_what_they_sum_to(name):
    cls = registry.get_method(name)
    if cls.weight_total == "n":
        for fraction in (0.05, 0.2, 1.0):
            s = _select(name, fraction=fraction, **EVERYTHING)
            assert s.weights.sum() == pytest.approx(N, rel=1e-6), fraction
        return
    assert "in expectation" in cls.weight_total
    totals = np.array([_select(name, fraction=0.2, seed=seed, **EVERYTHING).weights.sum() for seed in range(60)])
    assert abs(totals.mean() - EXPECTED_TOTAL[name]) < 4 * totals.std(ddof=1) / np.sqrt(totals.size)


def test_coreset_totals_are_those_its_docstring_states():
    exact = _select("coreset", labels=Y, weighting="prop", deterministic=1.0)
    top_m = _select("coreset", labels=Y, weighting="keep", deterministic=1.0)
    assert exact.weights.sum() == pytest.approx(N) and top_m.weights.sum() == pytest.approx(N)


# --- defaults that work at every n -----------------------------------------------------------------------


def test_regression_default_k_never_exceeds_the_rows_clustered(monkeypatch):
    assert [regression.default_k(n, 20_000) for n in (100, 8192, 81_921, 10**7)] == [50, 4096, 4096, 4096]
    monkeypatch.setattr(regression, "PAM_MAX_ROWS", 50)  # n = 600 then needs the sample, as n > 8,192 does
    a = RNG.normal(size=(600, 3)).astype(np.float32)
    s = coreselect.select("regression-sensitivity", features=a, targets=a.sum(axis=1), fraction=0.1, zeta=1.0)
    assert s.n_queries == 60 and (s.weights == 1).sum() >= 25  # k = 25 (half the 50 rows clustered), 35 draws
    with pytest.raises(InputError, match="k=51 exceeds the 50 rows"):
        coreselect.select("regression-sensitivity", features=a, targets=a.sum(axis=1), fraction=0.1, k=51)


# --- tune ------------------------------------------------------------------------------------------------


def _tune_data():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], [90, 30])
    x = (rng.normal(size=(120, 3)) + y[:, None]).astype(np.float32)
    return x, y


def test_refine_names_a_start_that_is_not_a_subset():
    x, y = _tune_data()
    from coreselect.tuning import refine

    with pytest.raises(InputError, match="subset must be a coreselect.Subset"):
        refine([1, 2], x, y, x, y)


def test_tune_with_a_validation_class_absent_from_training_is_an_error():
    x, y = _tune_data()
    with pytest.raises(InputError, match=r"validation labels hold classes absent from the training labels: \[2\]"):
        tune(x, y, x[:10], np.r_[y[:9], 2], sizes=(20,))
    with pytest.raises(InputError, match="different kinds"):
        tune(x, y, x[:10], np.where(y[:10] == 1, "a", "b"), sizes=(20,))


def test_tune_sizes_one_point_zero_is_all_of_n_and_floats_are_never_sizes():
    x, y = _tune_data()
    grid = {"deterministic": (0.0,), "allocation": ("proportional",), "weighting": ("prop",)}
    r = tune(x, y, x, y, sizes=(1.0,), grid=grid)
    assert set(r.best_by_size) == {120}
    for bad in ((20.0,), (1.5,), (True,), "0.1"):
        with pytest.raises(InputError, match="sizes"):
            tune(x, y, x, y, sizes=bad, grid=grid)


def test_tune_with_string_labels_records_classes_and_names_the_positive_class():
    x, y = _tune_data()
    names = np.where(y == 1, "fraud", "ok")
    grid = {"deterministic": (0.0,), "allocation": ("proportional",), "weighting": ("prop",)}
    r = tune(x, names, x, names, sizes=(30,), grid=grid)
    assert r.positive == "fraud" and r.best.params["classes"] == ["fraud", "ok"]
    assert set(r.best.params["allocation"]) == {"fraud", "ok"}


def test_tiny_features_are_scaled_up_exactly_or_refused():
    x = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    y = np.arange(200) % 3
    for method, kw in (("kcenter", {}), ("herding", {"labels": y}), ("facility-location", {"labels": y})):
        assert (coreselect.select(method, features=x, fraction=0.1, **kw)
                == coreselect.select(method, features=x * np.float32(2.0**-100), fraction=0.1, **kw))
    with pytest.raises(InputError, match="all below the 1e-18"):
        coreselect.select("sensitivity", features=x * np.float32(2.0**-100), oracle=np.ones(200), fraction=0.1)


@pytest.mark.parametrize(("call", "match"), [
    (lambda x, y: coreselect.select("uniform", features=x, fraction=10**400), "fraction must be in"),
    (lambda x, y: coreselect.select("uniform", features=x, labels=np.array([2**70] * len(y), dtype=object),
                                    fraction=0.1, stratified=True), "beyond 64 bits"),
    (lambda x, y: coreselect.select("sensitivity", features=x, fraction=0.1,
                                    oracle=lambda idx: [[1.0, 2.0]] + [1.0] * (len(idx) - 1)), "oracle returned"),
    (lambda x, y: coreselect.Subset.load(3), "a path must be a str or os.PathLike"),
    (lambda x, y: coreselect.Subset.load(b"s.npz"), "a path must be a str or os.PathLike"),
    (lambda x, y: coreselect.tune(x, y, x, y, "logreg", sizes=(10,), grid=["a"]), "grid must be a mapping"),
    (lambda x, y: coreselect.tune(x, y, x, y, "logreg", sizes=(10,), grid={"allocation": [None]}),
     "grid allocation values"),
    (lambda x, y: coreselect.CoresetSampler("kcenter", params=[1]).fit_resample(x, y), "params must be a mapping"),
    (lambda x, y: coreselect.CoresetSampler("kcenter").fit_resample(x, None), "y must be one class label"),
    (lambda x, y: coreselect.CoresetSampler("kcenter").fit_resample(5, y), "X must be an array of rows"),
    (lambda x, y: coreselect.CoresetSampler("kcenter").fit_resample(x, y.astype(complex)), "complex"),
    (lambda x, y: coreselect.CoresetSampler().fit_resample(np.zeros((60, 2, 2)), y), "X must be an .n, d. array"),
    (lambda x, y: Subset(np.array([2**63 + 5], np.uint64), np.ones(1), n=2**64), r"n must be at most 2\*\*63 - 1"),
    (lambda x, y: Subset([1], [1.0], n=3, params={"a": object()}).save("never-written.npz"), "params must hold JSON"),
    (lambda x, y: Subset([1], [1.0], n=3, params={"a": math.nan}).save("never-written.npz"), "params must hold JSON"),
    (lambda x, y: Subset([1, 5], [1.0, 1.0], n=6).as_sample_weight(3), "n must be >= 6"),
    (lambda x, y: Subset([1, 5], [1.0, 1.0], n=6).take(np.arange(3)), "x has 3 rows but the subset was drawn from n = 6"),
    (lambda x, y: Subset([1, 5], [1.0, 1.0], n=6).take([0, 1, 2]), "x has 3 rows"),
    (lambda x, y: coreselect.Oracle(lambda i: i, -1), "Oracle n must be a positive integer"),
    (lambda x, y: coreselect.Oracle(np.ones(3), 3)(np.array([0.7])), "oracle indices must be integers"),
    (lambda x, y: coreselect.Budget(total=-3, n=10), r"total must be an integer in \[0, n\]"),
    (lambda x, y: coreselect.Budget(total=3, n=10, allocation="bogus"), "allocation must be one of"),
    (lambda x, y: coreselect.Budget.from_request(0, fraction=0.5), "n must be a positive integer"),
    (lambda x, y: DynamicsRecorder(10, 2, features_epoch=1.5), "features_epoch must be None or an integer"),
    (lambda x, y: DynamicsRecorder(2**62, 2), "DynamicsRecorder: running sums of n = "),
    (lambda x, y: DynamicsRecorder(4, 2).update(0, np.arange(4), np.full((4, 2), "a"), np.zeros(4, int)),
     "logits must be real numbers"),
])
def test_more_bad_api_inputs_are_input_errors(call, match):
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    y = np.arange(60) % 2
    with pytest.raises(InputError, match=match):
        call(x, y)


def test_torch_bfloat16_features_are_widened_exactly():
    torch = pytest.importorskip("torch")
    x = torch.randn(50, 3).bfloat16()
    assert coreselect.select("kcenter", features=x, size=5) == coreselect.select("kcenter", features=x.float().numpy(),
                                                                                 size=5)


def test_torch_seeds_and_sizes_beyond_what_torch_holds():
    pytest.importorskip("torch")
    from coreselect.reweight.mwnet import MetaConfig
    from coreselect.train import TrainConfig
    from coreselect.train.dynamic import DynamicSampler

    for config in (TrainConfig, MetaConfig):
        with pytest.raises(InputError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
            config(seed=2**64)
    with pytest.raises(InputError, match="DynamicSampler: per-example state of n = "):
        DynamicSampler(2**62, epochs=2)


def test_torch_tensor_features_that_require_grad():
    torch = pytest.importorskip("torch")
    x = torch.randn(50, 3, requires_grad=True)
    assert len(coreselect.select("kcenter", features=x, size=5)) == 5


def test_undecodable_byte_labels_stay_distinct():
    x = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    s = coreselect.select("uniform", features=x, labels=np.array([b"\xff", b"\xfe", b"\xff", b"\xfe"]), size=2,
                          stratified=True)
    assert len(s.params["classes"]) == 2


def test_sparse_features_with_more_columns_than_memory_holds():
    x = sp.coo_matrix(([1.0], ([0], [0])), shape=(50, 2**62))
    with pytest.raises(InputError, match="a sparse matrix of shape"):
        coreselect.select("leverage", features=x, fraction=0.1)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(features=np.random.default_rng(0).random((50, 3)) * 1e-50), "all below float32's range"),
    (dict(labels=np.array([1e30, 2e30] * 25), stratified=True), "beyond 2\\*\\*53"),
])
def test_values_float32_or_int64_cannot_hold(kwargs, match):
    kwargs = {"features": np.random.default_rng(0).random((50, 3)), **kwargs}
    with pytest.raises(InputError, match=match):
        coreselect.select("uniform", fraction=0.1, **kwargs)


def test_oracle_values_whose_sums_overflow():
    with pytest.raises(InputError, match="oracle values must be at most"):
        coreselect.select("sensitivity", features=np.random.default_rng(0).random((50, 3)),
                          oracle=np.full(50, 1e307), fraction=0.1)


def test_overflowing_sampling_scores_are_refused_not_made_uniform():
    x = np.random.default_rng(0).random((200, 3)).astype(np.float32)
    with pytest.raises(InputError, match="overflow float64 with lam"):
        coreselect.select("sensitivity", features=x, oracle=np.random.default_rng(1).random(200), size=30, k=4,
                          lam=1e308)
    with pytest.raises(InputError, match="overflow float64; lower zeta"):
        coreselect.select("regression-sensitivity", features=x, targets=np.random.default_rng(2).random(200),
                          size=30, zeta=1e308)


def test_meta_tensor_features():
    torch = pytest.importorskip("torch")
    with pytest.raises(InputError, match="cannot be read"):
        coreselect.select("kcenter", features=torch.zeros((30, 2), device="meta"), size=3)


def test_nan_in_saved_metadata_is_not_json(tmp_path):
    path = tmp_path / "s.npz"
    meta = b'{"n": 10, "params": {"x": NaN}}'
    np.savez(path, indices=np.array([1, 2]), weights=np.array([5.0, 5.0]), metadata=np.frombuffer(meta, np.uint8))
    with pytest.raises(InputError, match="NaN is not JSON"):
        coreselect.Subset.load(path)
