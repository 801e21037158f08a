"""Tests for coreselect.train.DynamicSampler and its policies (InfoBatch, per-epoch random, re-selection)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, TensorDataset

import coreselect
from coreselect import Pool
from coreselect.errors import InputError
from coreselect.geometry.gradients import last_layer_gradients
from coreselect.train import DynamicSampler, predict
from coreselect.train.dynamic import EpochPlan

torch.set_num_threads(1)

README = Path(__file__).resolve().parents[1] / "README.md"


def _losses(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(2.0, size=n)


def _observed(n: int, losses: np.ndarray, **kwargs) -> DynamicSampler:
    """A sampler that has seen `losses` for every example."""
    sampler = DynamicSampler(n, **kwargs)
    sampler.observe(np.arange(n), losses)
    return sampler


# --- InfoBatch ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prune_ratio", [0.3, 0.5, 0.8])
def test_infobatch_plan_follows_the_definition(prune_ratio):
    n = 301
    losses = _losses(n)
    low = losses < losses.mean()
    for seed in range(20):
        sampler = _observed(n, losses, epochs=10, seed=seed, prune_ratio=prune_ratio)
        sampler.set_epoch(1)
        plan = sampler.plan
        kept = np.zeros(n, dtype=bool)
        kept[plan.indices] = True
        assert kept[~low].all()  # only below-mean examples are pruned
        expected = (1 - prune_ratio) * low.sum()
        assert (kept & low).sum() in (math.floor(expected), math.ceil(expected))
        w = np.zeros(n)
        w[plan.indices] = plan.weights
        assert np.allclose(w[kept & low], 1 / (1 - prune_ratio))
        assert np.all(w[~low] == 1)
        assert len(sampler) == plan.indices.size == len(list(sampler))
        assert torch.equal(sampler.weights(torch.as_tensor(plan.indices)), torch.as_tensor(plan.weights).float())


def test_infobatch_rescaled_loss_is_unbiased():
    """E[Σ_kept w·ℓ]/n = mean ℓ for fixed losses (Qin et al. 2024, expectation rescaling); the unweighted
    sum over the kept examples is measurably biased, so the check has the power to fail."""
    n, runs = 200, 1500
    losses = _losses(n, seed=1)
    weighted, plain = np.empty(runs), np.empty(runs)
    for seed in range(runs):
        sampler = _observed(n, losses, epochs=8, seed=seed)
        sampler.set_epoch(1)
        plan = sampler.plan
        weighted[seed] = (plan.weights * losses[plan.indices]).sum() / n
        plain[seed] = losses[plan.indices].sum() / n
    assert weighted.std() > 0
    se = weighted.std(ddof=1) / np.sqrt(runs)
    assert abs(weighted.mean() - losses.mean()) < 4 * se
    assert losses.mean() - plain.mean() > 20 * se


def test_last_delta_epochs_are_full_and_the_first_epoch_too():
    n = 100
    losses = _losses(n)
    for epochs, delta, full_from in ((8, 0.125, 7), (10, 0.125, 8), (10, 0.3, 7), (5, 0.0, 5), (4, 1.0, 0)):
        sampler = DynamicSampler(n, epochs=epochs, delta=delta)
        sizes = []
        for e in range(epochs):
            sampler.set_epoch(e)
            sizes.append(len(sampler))
            sampler.observe(list(sampler), losses[list(sampler)])
        assert sizes[0] == n  # nothing observed yet
        assert all(s == n for s in sizes[full_from:]), (epochs, delta, sizes)
        assert all(s < n for s in sizes[1:full_from]), (epochs, delta, sizes)
        if full_from < epochs:
            sampler.set_epoch(epochs - 1)
            assert np.all(sampler.plan.weights == 1)


def test_infobatch_keeps_unseen_examples_and_latest_losses_win():
    n = 50
    sampler = DynamicSampler(n, epochs=10, seed=0, prune_ratio=0.9)
    sampler.observe(np.arange(25), np.linspace(0.0, 1.0, 25))  # rows 25.. never observed
    sampler.set_epoch(1)
    assert set(range(25, n)) <= set(sampler.plan.indices.tolist())
    assert np.isnan(sampler.losses[25:]).all()
    sampler.observe([0], [7.0])
    sampler.set_epoch(2)
    assert sampler.losses[0] == 7.0 and sampler.losses[1] == pytest.approx(1 / 24)


def test_prune_ratio_zero_trains_on_everything():
    sampler = _observed(40, _losses(40), epochs=4, prune_ratio=0.0)
    sampler.set_epoch(1)
    assert len(sampler) == 40 and np.all(sampler.plan.weights == 1)


# --- the sampler's contract ----------------------------------------------------------------------


def _stream(seed: int, epochs: int = 6, n: int = 120, policy: str = "infobatch", **params) -> list[list[int]]:
    sampler = DynamicSampler(n, policy, epochs=epochs, seed=seed, **params)
    losses = _losses(n, seed=5)
    out = []
    for e in range(epochs):
        sampler.set_epoch(e)
        order = list(sampler)
        sampler.observe(torch.as_tensor(order), torch.as_tensor(losses[order]))
        out.append(order)
    return out


@pytest.mark.parametrize("policy, params", [("infobatch", {}), ("random", {"fraction": 0.25})])
def test_same_seed_same_index_stream(policy, params):
    a, b = _stream(3, policy=policy, **params), _stream(3, policy=policy, **params)
    assert a == b
    assert a != _stream(4, policy=policy, **params)
    assert a[1] != a[2]  # each epoch is shuffled afresh


def test_set_epoch_semantics():
    n, losses = 90, _losses(90)
    sampler = DynamicSampler(n, epochs=6, seed=1)
    assert list(sampler) == list(sampler)  # no set_epoch: epoch 0, replayed
    assert sampler.epoch == 0 and len(sampler) == n
    sampler.observe(np.arange(n), losses)
    sampler.set_epoch(0)  # the same epoch keeps its selection, even after new observations
    assert len(sampler) == n
    sampler.set_epoch(3)
    first = list(sampler)
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=16, sampler=sampler)
    assert len(loader) == math.ceil(len(first) / 16) == sum(1 for _ in loader)
    sampler.observe(np.arange(n), losses[::-1].copy())
    sampler.set_epoch(3)
    assert list(sampler) == first  # unchanged until the next set_epoch
    # epoch 3's draws depend on the seed, the epoch and the losses only, not on the epochs planned before
    direct = _observed(n, losses, epochs=6, seed=1)
    direct.set_epoch(3)
    assert list(direct) == first
    for bad in (6, -1, 1.0, True):
        with pytest.raises(InputError, match="epoch"):
            sampler.set_epoch(bad)


def test_random_policy_fixed_budget_every_epoch():
    n = 200
    sampler = DynamicSampler(n, "random", epochs=5, seed=0, size=50)
    seen = []
    for e in range(5):
        sampler.set_epoch(e)
        order = list(sampler)
        assert len(order) == len(sampler) == 50 == len(set(order))
        assert torch.all(sampler.weights(order) == 1)
        seen.append(frozenset(order))
    assert len(set(seen)) == 5
    assert DynamicSampler(n, "random", epochs=1, fraction=0.1).plan.indices.size == 20


def test_weights_follow_the_device_and_refuse_unselected_indices():
    sampler = DynamicSampler(30, "random", epochs=2, seed=0, size=10)
    chosen = torch.as_tensor(sampler.plan.indices[:3])
    w = sampler.weights(chosen)
    assert w.dtype == torch.float32 and w.device == chosen.device and w.shape == (3,)
    outside = min(set(range(30)) - set(sampler.plan.indices.tolist()))
    with pytest.raises(InputError, match=rf"\[{outside}\] are not in epoch 0"):
        sampler.weights([outside])


def test_policy_objects_plug_in_and_bad_plans_are_refused():
    class EvenIndices:
        def plan(self, epoch, losses, rng):
            idx = np.arange(0, losses.size, 2)
            return EpochPlan(idx, np.full(idx.size, 2.0))

    sampler = DynamicSampler(10, EvenIndices(), epochs=3)
    assert sorted(sampler) == [0, 2, 4, 6, 8] and torch.all(sampler.weights([2, 4]) == 2)

    class Repeats:
        def plan(self, epoch, losses, rng):
            return EpochPlan(np.array([1, 1]), np.ones(2))

    with pytest.raises(InputError, match="unique"):
        len(DynamicSampler(10, Repeats(), epochs=3))
    with pytest.raises(InputError, match="policy object"):
        DynamicSampler(10, EvenIndices(), epochs=3, prune_ratio=0.5)


# --- re-selection with a one-shot method ------------------------------------------------------------


def _blobs(n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), n // 3)
    x = (rng.normal(size=(n, 6)) + 3 * np.eye(3, 6)[y]).astype(np.float32)
    return x, y


def test_reselect_runs_the_method_every_r_epochs():
    x, y = _blobs()
    calls = []

    def pool(epoch: int) -> Pool:
        calls.append(epoch)
        return Pool.build(x + epoch, labels=y)

    sampler = DynamicSampler(len(x), "reselect", epochs=5, seed=0, method="facility-location", pool=pool,
                             every=2, size=30)
    plans = []
    for e in range(5):
        sampler.set_epoch(e)
        assert len(sampler) == 30
        plans.append(sampler.plan)
    assert calls == [0, 2, 4]
    for a, b in ((0, 1), (2, 3)):
        np.testing.assert_array_equal(plans[a].indices, plans[b].indices)
        np.testing.assert_array_equal(plans[a].weights, plans[b].weights)
    assert set(plans[0].indices.tolist()) != set(plans[2].indices.tolist())
    expected = coreselect.select("facility-location", features=x + 4, labels=y, size=30, seed=0)
    np.testing.assert_array_equal(plans[4].indices, expected.indices)
    np.testing.assert_allclose(plans[4].weights, expected.weights / expected.weights.mean())
    assert np.mean(plans[4].weights) == pytest.approx(1.0)


def test_reselect_craig_on_the_current_models_gradients():
    x, y = _blobs(90)
    model = torch.nn.Linear(6, 3)

    def gradient_pool(epoch: int) -> Pool:
        logits = predict(model, x, device="cpu")
        return Pool.build(last_layer_gradients(logits, y), labels=y)

    sampler = DynamicSampler(len(x), "reselect", epochs=2, seed=0, method="craig", pool=gradient_pool,
                             every=1, fraction=0.2)
    sampler.set_epoch(0)
    assert len(sampler) == 18 and sampler.plan.weights.mean() == pytest.approx(1.0)
    assert np.unique(y[sampler.plan.indices]).size == 3  # CRAIG selects class by class


def test_reselect_sensitivity_rounds_query_the_current_losses():
    """Algorithm 3 as a policy: each re-selection queries the loop's latest losses of k rows per round
    through the pool's oracle, and trains on the last round's weighted sample until the next one."""
    x, y = _blobs(120)
    queried: list[np.ndarray] = []

    def loss_pool(epoch: int) -> Pool:
        losses = _losses(len(x), seed=epoch)  # stands for the current model's per-example losses

        def oracle(rows: np.ndarray) -> np.ndarray:
            queried.append(np.asarray(rows))
            return losses[rows]

        return Pool.build(x, labels=y, oracle=oracle)

    sampler = DynamicSampler(len(x), "reselect", epochs=4, seed=0, method="sensitivity", pool=loss_pool,
                             every=2, size=24, method_params={"k": 6, "rounds": 2})
    plans = []
    for e in range(4):
        sampler.set_epoch(e)
        plans.append(sampler.plan)
    assert 0 < np.unique(np.concatenate(queried)).size <= 2 * 2 * 6  # two selections of two rounds of k = 6
    for a, b in ((0, 1), (2, 3)):
        np.testing.assert_array_equal(plans[a].indices, plans[b].indices)
    assert len(plans[0].indices) <= 24 and plans[0].weights.mean() == pytest.approx(1.0)
    assert not np.array_equal(plans[0].indices, plans[2].indices)


# --- bad parameters ------------------------------------------------------------------------------------


def _pool(epoch: int) -> Pool:
    return Pool.build(np.zeros((20, 2), np.float32))


@pytest.mark.parametrize("kwargs, word", [
    ({"n": 0}, "n must"),
    ({"n": 5.0}, "n must"),
    ({"epochs": 0}, "epochs"),
    ({"seed": -1}, "seed"),
    ({"policy": "infobach"}, "infobach"),
    ({"policy": 3}, "policy"),
    ({"prune_ratio": 1.0}, "prune_ratio"),
    ({"prune_ratio": "0.5"}, "prune_ratio"),
    ({"delta": -0.1}, "delta"),
    ({"ratio": 0.5}, "'ratio'"),
    ({"policy": "random"}, "fraction or size"),
    ({"policy": "random", "fraction": 1.5}, "fraction"),
    ({"policy": "random", "size": 21}, "size"),
    ({"policy": "reselect", "size": 5, "pool": _pool}, "method"),
    ({"policy": "reselect", "size": 5, "method": "kcentre", "pool": _pool}, "kcentre"),
    ({"policy": "reselect", "size": 5, "method": "kcenter", "pool": None}, "pool"),
    ({"policy": "reselect", "size": 5, "method": "kcenter", "pool": _pool, "every": 0}, "every"),
    ({"policy": "reselect", "size": 5, "method": "kcenter", "pool": _pool, "method_params": {"k": 1}}, "'k'"),
    ({"num_replicas": 2, "rank": 0}, "num_replicas"),
    ({"num_replicas": 2, "rank": 2}, "rank"),
])
def test_bad_parameters_are_input_errors_naming_them(kwargs, word):
    args = {"n": 20, "epochs": 3, **kwargs}
    with pytest.raises(InputError, match=re.escape(word)):
        DynamicSampler(args.pop("n"), args.pop("policy", "infobatch"), **args)


def test_bad_observations_and_pools_are_input_errors():
    sampler = DynamicSampler(20, epochs=3)
    with pytest.raises(InputError, match="losses has 2 values for 3 indices"):
        sampler.observe([0, 1, 2], [0.1, 0.2])
    with pytest.raises(InputError, match="indices must be in"):
        sampler.observe([20], [0.1])
    with pytest.raises(InputError, match="indices must hold integers"):
        sampler.observe(torch.tensor([0.5]), [0.1])
    with pytest.raises(InputError, match="NaN"):
        sampler.observe([0], [float("nan")])
    small = DynamicSampler(10, "reselect", epochs=2, method="kcenter", pool=_pool, size=5)
    with pytest.raises(InputError, match="20 examples, the sampler 10"):
        small.set_epoch(0)


# --- distributed: two gloo ranks -----------------------------------------------------------------------

N_DIST, EPOCHS_DIST = 101, 4
DIST_POLICIES = (("infobatch", {"delta": 0.25}), ("random", {"size": 60}))


def _dist_loss(idx: np.ndarray) -> np.ndarray:
    return ((np.asarray(idx) * 37) % 101) / 101.0


def _rank_main(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        out = {}
        for name, params in DIST_POLICIES:
            sampler = DynamicSampler(N_DIST, name, epochs=EPOCHS_DIST, seed=3, **params)
            for e in range(EPOCHS_DIST):
                sampler.set_epoch(e)
                shard = np.array(list(sampler), dtype=np.int64)
                sampler.observe(shard, _dist_loss(shard))  # each rank reports only its own shard
                out[f"{name}/{e}/shard"] = shard
                out[f"{name}/{e}/plan"] = sampler.plan.indices
        np.savez(Path(out_dir) / f"rank{rank}.npz", **out)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_see_disjoint_covering_shards(tmp_path):
    mp.spawn(_rank_main, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2)
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for name, params in DIST_POLICIES:
        single = DynamicSampler(N_DIST, name, epochs=EPOCHS_DIST, seed=3, **params)  # one process, all losses
        sizes = []
        for e in range(EPOCHS_DIST):
            single.set_epoch(e)
            order = np.array(list(single))
            single.observe(order, _dist_loss(order))
            s0, s1 = (r[f"{name}/{e}/shard"] for r in ranks)
            np.testing.assert_array_equal(ranks[0][f"{name}/{e}/plan"], ranks[1][f"{name}/{e}/plan"])
            np.testing.assert_array_equal(ranks[0][f"{name}/{e}/plan"], single.plan.indices)
            k = order.size
            assert s0.size == s1.size == math.ceil(k / 2)
            assert set(s0) | set(s1) == set(order.tolist())
            assert len(set(s0) & set(s1)) == 2 * s0.size - k  # only the padding repeats
            padded = np.resize(order, 2 * s0.size)
            np.testing.assert_array_equal(s0, padded[0::2])
            np.testing.assert_array_equal(s1, padded[1::2])
            sizes.append(k)
        if name == "infobatch":
            assert sizes[0] == sizes[-1] == N_DIST and min(sizes) < N_DIST  # pruned from shared losses
        else:
            assert sizes == [60] * EPOCHS_DIST


# --- the documented example --------------------------------------------------------------------------------


def test_documented_training_loop_runs():
    """The README's DynamicSampler example (also in docs/dynamic-selection.md), run verbatim."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    code = next(b for b in blocks if "DynamicSampler(" in b)
    namespace: dict = {}
    torch.manual_seed(0)
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    sampler, model, X, y = (namespace[k] for k in ("sampler", "model", "X", "y"))
    assert len(sampler) == 1000  # the last epoch trains on everything
    with torch.no_grad():
        assert torch.nn.functional.cross_entropy(model(X), y) < 0.7 * math.log(4)
    sampler.set_epoch(3)  # the losses it observed now prune an epoch
    assert 500 < len(sampler) < 1000


@pytest.mark.parametrize("policy, params", [("infobatch", {}), ("random", {"fraction": 0.25})])
def test_a_checkpointed_sampler_resumes_the_same_stream(policy, params):
    n = 120
    losses = [_losses(n, seed) for seed in range(4)]

    def run(epochs_done, sampler):
        shards = []
        for e in epochs_done:
            sampler.set_epoch(e)
            shards.append(list(sampler))
            sampler.observe(np.arange(n), losses[e])
        return shards

    whole = run(range(4), DynamicSampler(n, policy, epochs=8, seed=2, **params))
    first = DynamicSampler(n, policy, epochs=8, seed=2, **params)
    head = run(range(2), first)
    state = first.state_dict()
    resumed = DynamicSampler(n, policy, epochs=8, seed=2, **params)
    resumed.load_state_dict(state)
    assert head + run(range(2, 4), resumed) == whole
    with pytest.raises(InputError, match="another dataset size"):
        DynamicSampler(n + 1, policy, epochs=8, seed=2, **params).load_state_dict(state)
    with pytest.raises(InputError, match="not a DynamicSampler state"):
        resumed.load_state_dict({"epoch": 1})
