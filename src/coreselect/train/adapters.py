"""Use a coreselect :class:`~coreselect.Subset` with an ordinary PyTorch training pipeline.

Two ways, not to be combined:

- :class:`WeightedSubset` visits every coreset example once per epoch and hands its weight to the
  loss: train with ``(w * F.cross_entropy(out, y, reduction="none")).mean()``. Exact weighted ERM on
  the coreset, low variance; the loss must use the weights.
- :func:`weighted_sampler` draws dataset indices with probability ∝ weight (zero outside the
  coreset), so the weights are realised by how often an example is seen; train with the plain,
  unweighted loss. Works with any existing loop, at the price of sampling noise (and, with
  replacement, repeats and misses within an epoch).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from coreselect.errors import InputError
from coreselect.subset import Subset


class WeightedSubset(Dataset):
    """The coreset rows of `dataset` as a Dataset of ``(x, y, weight)`` items.

    `dataset[i]` must return ``(x, y)``. Item ``j`` is ``dataset[subset.indices[j]]`` with its weight
    as a float32 scalar tensor; weights are normalised to mean 1 over the coreset (the training
    convention), so ``mean(w · loss)`` has the scale of an unweighted mean.
    """

    def __init__(self, dataset: Any, subset: Subset) -> None:
        if hasattr(dataset, "__len__") and len(dataset) != subset.n:
            raise InputError(f"dataset has {len(dataset)} examples, the subset was chosen from {subset.n}")
        self.dataset = dataset
        self.indices = subset.indices
        w = subset.weights
        self.weights = torch.as_tensor(w / w.mean() if w.size else w, dtype=torch.float32)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, j: int) -> tuple[Any, Any, torch.Tensor]:
        item = self.dataset[int(self.indices[j])]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InputError("WeightedSubset needs a dataset whose items are (x, y) pairs")
        x, y = item
        return x, y, self.weights[j]


def weighted_sampler(
    subset: Subset,
    n: int | None = None,
    replacement: bool = True,
    generator: torch.Generator | None = None,
    num_samples: int | None = None,
) -> WeightedRandomSampler:
    """A sampler over all `n` dataset indices (default ``subset.n``) drawing coreset examples with
    probability ∝ their weights and never anything else. `num_samples` per epoch defaults to the
    coreset size; without replacement it may not exceed it. Use with an unweighted loss."""
    n = subset.n if n is None else int(n)
    m = len(subset)
    if m == 0:
        raise InputError("weighted_sampler: the subset is empty")
    if n <= int(subset.indices.max()):
        raise InputError(
            f"n={n} is smaller than the subset's largest index + 1 ({int(subset.indices.max()) + 1})"
        )
    num_samples = m if num_samples is None else int(num_samples)
    if num_samples < 1:
        raise InputError(f"num_samples must be >= 1, got {num_samples}")
    if not replacement and num_samples > m:
        raise InputError(f"without replacement at most {m} (the coreset size) samples, got {num_samples}")
    full = np.zeros(n, dtype=np.float64)
    full[subset.indices] = subset.weights
    return WeightedRandomSampler(
        torch.as_tensor(full, dtype=torch.double), num_samples, replacement=replacement, generator=generator
    )
