"""A PyTorch sampler that re-selects the training examples every epoch (dynamic data selection).

The loop reports the per-example losses it already computes (:meth:`DynamicSampler.observe`) and
multiplies each loss by :meth:`DynamicSampler.weights`; the sampler's policy
(:mod:`coreselect.train.dynamic.policies`) turns the latest losses into the next epoch's examples and
weights. No extra forward pass, no change to the dataset or the DataLoader beyond ``sampler=``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from coreselect.checks import is_integer
from coreselect.errors import InputError
from coreselect.npyio import check_memory
from coreselect.train.dynamic.policies import EpochPlan, Policy, make_policy


def _process_group() -> bool:
    return dist.is_available() and dist.is_initialized()


def _integer(name: str, value: Any, low: int) -> int:
    if not (is_integer(value) and value >= low):
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _as_numpy(name: str, values: Any, dtype: type) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach()
        values = (values.double() if values.is_floating_point() else values).cpu().numpy()
    try:
        out = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not an array ({exc})") from None
    if out.dtype.kind not in ("iu" if dtype is np.int64 else "iuf"):
        raise InputError(f"{name} must hold {'integers' if dtype is np.int64 else 'numbers'}, got dtype {out.dtype}")
    return out.reshape(-1).astype(dtype)


class DynamicSampler(Sampler[int]):
    """Yields the dataset indices of each epoch's selection, shuffled, as a ``DataLoader(sampler=...)``.

    `policy` is ``"infobatch"`` (:class:`~coreselect.train.dynamic.policies.InfoBatch`: `prune_ratio`,
    `delta`), ``"random"`` (:class:`~coreselect.train.dynamic.policies.RandomBudget`: `fraction` or
    `size`), ``"reselect"`` (:class:`~coreselect.train.dynamic.policies.Reselect`: `method`, `pool`,
    `every`, `fraction` or `size`, `method_params`), each with its `policy_params`, or any
    :class:`~coreselect.train.dynamic.policies.Policy` instance.

    The contract with the loop:

    * call :meth:`set_epoch` at the start of every epoch, as with ``DistributedSampler``. It fixes that
      epoch's selection, so ``len(sampler)`` (and ``len(loader)``) is the exact number of examples
      (steps: ``ceil(len / batch_size)``) the epoch will yield, known before it starts and unchanged
      until the next :meth:`set_epoch`. Without it every iteration replays the current epoch;
    * :meth:`observe` the batch's per-example losses (unweighted, ``reduction="none"``) with the
      dataset indices of the batch; they are what the next epoch's selection sees;
    * multiply each example's loss by :meth:`weights` before reducing.

    Epoch e's draws come from ``SeedSequence([seed, e])`` alone: the same seed and the same observed
    losses give the same index stream, whatever epochs were planned before.

    Distributed: with ``num_replicas > 1`` (default: the world size of an initialised
    ``torch.distributed`` process group, else 1) each rank yields every `num_replicas`-th index of the
    epoch's shuffled selection starting at its `rank`, padded by repeating its head to a multiple of
    `num_replicas` as ``DistributedSampler`` does, so every rank takes the same number of steps. The
    losses observed on all ranks are summed across ranks in :meth:`set_epoch` (an ``all_reduce``, on the
    current CUDA device under NCCL), and rank 0's selection is broadcast, so every rank shards the same
    selection: :meth:`set_epoch` is a collective that every rank must call.
    """

    def __init__(
        self,
        n: int,
        policy: str | Policy = "infobatch",
        *,
        epochs: int,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        **policy_params: Any,
    ) -> None:
        self.n = _integer("n", n, 1)
        check_memory(32 * self.n, f"DynamicSampler: per-example state of n = {self.n:,} rows")
        self.epochs = _integer("epochs", epochs, 1)
        self.seed = _integer("seed", seed, 0)
        if isinstance(policy, str):
            self.policy: Policy = make_policy(policy, self.n, self.epochs, policy_params)
        elif callable(getattr(policy, "plan", None)):
            if policy_params:
                raise InputError(f"policy parameters {sorted(policy_params)} given with a policy object; "
                                 "set them on the object")
            self.policy = policy
        else:
            raise InputError(f"policy must be a policy name or an object with plan(epoch, losses, rng), got {policy!r}")
        world = dist.get_world_size() if _process_group() else 1
        self.num_replicas = _integer("num_replicas", world if num_replicas is None else num_replicas, 1)
        self.rank = _integer("rank", (dist.get_rank() if _process_group() else 0) if rank is None else rank, 0)
        if self.rank >= self.num_replicas:
            raise InputError(f"rank must be in [0, num_replicas) = [0, {self.num_replicas}), got {self.rank}")
        if self.num_replicas > 1 and not _process_group():
            raise InputError(f"num_replicas={self.num_replicas} needs an initialised torch.distributed process "
                             "group (losses and selections are shared across ranks)")
        self.epoch = 0
        self._losses = np.full(self.n, np.nan)
        self._sums = np.zeros(self.n)
        self._counts = np.zeros(self.n)
        self._plan: EpochPlan | None = None
        self._weights = torch.zeros(self.n)
        self._shard = np.empty(0, dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Fix epoch `epoch`'s selection (in ``[0, epochs)``) from the losses observed so far. Calling it
        again with the same epoch keeps the selection."""
        epoch = _integer("epoch", epoch, 0)
        if epoch >= self.epochs:
            raise InputError(f"epoch must be in [0, epochs) = [0, {self.epochs}), got {epoch}")
        if self._plan is None or epoch != self.epoch:
            self.epoch = epoch
            self._prepare()

    @property
    def plan(self) -> EpochPlan:
        """The current epoch's whole selection (all ranks) and its loss weights."""
        return self._current()

    @property
    def losses(self) -> np.ndarray:
        """A copy of the latest loss of every example as of the last :meth:`set_epoch` (NaN: never seen)."""
        return self._losses.copy()

    def observe(self, indices: Any, losses: Any) -> None:
        """Record the per-example `losses` of the dataset examples `indices` (tensors or arrays of one
        batch, e.g. ``F.cross_entropy(out, y, reduction="none")``; detached here). The next
        :meth:`set_epoch` makes them each example's latest loss (the mean, for an example observed more
        than once since: a padded distributed epoch)."""
        idx = _as_numpy("indices", indices, np.int64)
        values = _as_numpy("losses", losses, np.float64)
        if values.shape != idx.shape:
            raise InputError(f"losses has {values.size} values for {idx.size} indices")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise InputError(f"indices must be in [0, n) = [0, {self.n})")
        if not np.isfinite(values).all():
            raise InputError("losses contain NaN or inf")
        np.add.at(self._sums, idx, values)
        np.add.at(self._counts, idx, 1.0)

    def weights(self, indices: Any) -> torch.Tensor:
        """The loss weights of the examples `indices` in the current epoch, float32 (on the device of
        `indices` when it is a tensor). An index outside the epoch's selection is an InputError."""
        self._current()
        idx = torch.as_tensor(_as_numpy("indices", indices, np.int64))
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n):
            raise InputError(f"indices must be in [0, n) = [0, {self.n})")
        w = self._weights[idx]
        if not bool((w > 0).all()):
            outside = idx[w <= 0][:5].tolist()
            raise InputError(f"indices {outside} are not in epoch {self.epoch}'s selection")
        return w.to(indices.device) if isinstance(indices, torch.Tensor) else w

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep for an exact resume: the epoch, every example's latest loss and the
        observations not yet folded in (numpy arrays; the seed and policy come from the constructor)."""
        return {"epoch": self.epoch, "losses": self._losses.copy(), "sums": self._sums.copy(),
                "counts": self._counts.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` into a sampler built with the same `n`, policy and seed: the next
        :meth:`set_epoch` then plans as the uninterrupted run would have (``infobatch`` and ``random``
        exactly; ``reselect`` re-selects at the first epoch it plans, as documented)."""
        try:
            epoch = _integer("state epoch", state["epoch"], 0)
            arrays = {k: np.asarray(state[k], dtype=np.float64) for k in ("losses", "sums", "counts")}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a DynamicSampler state ({exc!r})") from None
        if any(a.shape != (self.n,) for a in arrays.values()):
            raise InputError(f"the state is for another dataset size (this sampler has n = {self.n})")
        self.epoch = epoch
        self._losses, self._sums, self._counts = arrays["losses"], arrays["sums"], arrays["counts"]
        self._plan = None

    def __len__(self) -> int:
        self._current()
        return int(self._shard.size)

    def __iter__(self) -> Iterator[int]:
        self._current()
        return iter(self._shard.tolist())

    def _current(self) -> EpochPlan:
        """The current epoch's plan, prepared on first use (epoch 0 when set_epoch was never called)."""
        if self._plan is None:
            self._prepare()
        assert self._plan is not None
        return self._plan

    def _comm_device(self) -> torch.device:
        nccl = dist.get_backend() == "nccl"
        return torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")

    def _merge_observations(self) -> None:
        sums, counts = self._sums, self._counts
        if self.num_replicas > 1:
            both = torch.from_numpy(np.stack([sums, counts])).to(self._comm_device())
            dist.all_reduce(both)
            sums, counts = both.cpu().numpy()
        seen = counts > 0
        self._losses[seen] = sums[seen] / counts[seen]
        self._sums[:] = 0
        self._counts[:] = 0

    def _check(self, plan: EpochPlan) -> EpochPlan:
        idx = np.asarray(plan.indices)
        w = np.asarray(plan.weights, dtype=np.float64)
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" or w.shape != idx.shape:
            raise InputError("a policy's plan must hold k >= 1 integer indices and k weights")
        if idx.min() < 0 or idx.max() >= self.n or np.unique(idx).size != idx.size:
            raise InputError(f"a policy's plan must hold unique indices in [0, {self.n})")
        if not (np.isfinite(w).all() and (w > 0).all()):
            raise InputError("a policy's plan must hold finite weights > 0")
        return EpochPlan(idx.astype(np.int64), w)

    def _prepare(self) -> None:
        self._merge_observations()
        policy_seed, order_seed = np.random.SeedSequence([self.seed, self.epoch]).spawn(2)
        plan = self._check(self.policy.plan(self.epoch, self._losses.copy(), np.random.default_rng(policy_seed)))
        if self.num_replicas > 1:
            shared = [plan]
            dist.broadcast_object_list(shared, src=0, device=self._comm_device())
            plan = shared[0]
        order = plan.indices[np.random.default_rng(order_seed).permutation(plan.indices.size)]
        per_rank = -(-order.size // self.num_replicas)
        self._shard = np.resize(order, per_rank * self.num_replicas)[self.rank :: self.num_replicas]
        self._weights = torch.zeros(self.n)
        self._weights[torch.from_numpy(plan.indices)] = torch.from_numpy(plan.weights).float()
        self._plan = plan
