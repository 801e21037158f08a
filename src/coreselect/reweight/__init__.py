"""CW-ERM: reweight a small coreset with Meta-Weight-Net and broadcast the weights to the full set.

>>> from coreselect.reweight import broadcast, cwerm  # doctest: +SKIP
>>> result = cwerm(x, y, lambda: build_model("mlp", (784,), 10, seed=0), features=h)  # doctest: +SKIP
>>> result.save("weights.npz")  # doctest: +SKIP

:func:`broadcast` needs no torch; :class:`MetaWeightNet` and :func:`cwerm` import it when first used.
"""

from __future__ import annotations

from typing import Any

from coreselect.reweight.broadcast import broadcast

_LAZY = {"MetaWeightNet": "coreselect.reweight.mwnet", "cwerm": "coreselect.reweight.pipeline"}

__all__ = ["MetaWeightNet", "broadcast", "cwerm"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coreselect.reweight' has no attribute {name!r}")
