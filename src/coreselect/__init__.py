"""coreselect: select small, weighted subsets (coresets) of training sets.

>>> import coreselect
>>> subset = coreselect.select("uniform", features=X, labels=y, fraction=0.1, seed=0)  # doctest: +SKIP
"""

from coreselect.api import select
from coreselect.budget import Budget
from coreselect.errors import InputError
from coreselect.oracle import Oracle
from coreselect.pool import Pool
from coreselect.registry import available as available_methods
from coreselect.registry import register
from coreselect.subset import Subset

__version__ = "0.1.0"
__all__ = ["Budget", "CoresetSampler", "InputError", "Oracle", "Pool", "Subset", "available_methods", "register", "select", "tune"]


def __getattr__(name: str):
    """``coreselect.tune`` and ``coreselect.CoresetSampler`` are imported on first use (they bring
    scikit-learn's estimators)."""
    if name == "tune":
        from coreselect.tuning import tune

        return tune
    if name == "CoresetSampler":
        from coreselect.resample import CoresetSampler

        return CoresetSampler
    raise AttributeError(f"module 'coreselect' has no attribute {name!r}")
