"""CW-ERM: reweight a small coreset with Meta-Weight-Net and broadcast the weights to the full set.

>>> from coreselect.reweight import broadcast, cwerm  # doctest: +SKIP
>>> result = cwerm(x, y, lambda: build_model("mlp", (784,), 10, seed=0), features=h, trusted=verified)  # doctest: +SKIP
>>> result.save("weights.npz")  # doctest: +SKIP
>>> w = reweight(features, labels, trusted=verified).weights  # any learner's sample_weight  # doctest: +SKIP

:func:`broadcast` and :func:`split_threshold` need no torch; :class:`MetaWeightNet`, :func:`cwerm` and
:func:`reweight` import it when first used.
"""

from __future__ import annotations

from typing import Any

from coreselect.reweight.broadcast import broadcast
from coreselect.reweight.flags import split_threshold

#: How Meta-Weight-Net normalises the weights of a batch (:func:`coreselect.reweight.mwnet.weighted_loss`).
NORMALIZE = ("batch", "none")

_LAZY = {
    "MetaWeightNet": "coreselect.reweight.mwnet",
    "cwerm": "coreselect.reweight.pipeline",
    "reweight": "coreselect.reweight.pipeline",
}

__all__ = ["NORMALIZE", "MetaWeightNet", "broadcast", "cwerm", "reweight", "split_threshold"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coreselect.reweight' has no attribute {name!r}")
