"""Tuned coresets: grid tuning, active refinement, imbalanced dataset variants.

Reference: arXiv 2507.16729 ("Improving Model Classification by Optimizing the Training Dataset").
"""

from coreselect.tuning.active import RefineResult, refine
from coreselect.tuning.estimators import ESTIMATORS, make_estimator
from coreselect.tuning.grid import DEFAULT_GRID, TuneResult, TuneTable, tune
from coreselect.tuning.imbalance import keep_fraction_for_share, make_imbalanced

__all__ = ["DEFAULT_GRID", "ESTIMATORS", "RefineResult", "TuneResult", "TuneTable", "keep_fraction_for_share",
           "make_estimator", "make_imbalanced", "refine", "tune"]
