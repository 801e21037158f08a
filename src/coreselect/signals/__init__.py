"""Per-example signals from training dynamics: EL2N, GraNd, forgetting, AUM (and aum_prob), loss, features.

Nothing here imports torch: :class:`DynamicsRecorder` takes numpy arrays or torch tensors.
``HIGHER_IS_HARDER[name]`` says which direction of each signal means "harder example".
"""

from coreselect.signals.recorder import SIGNAL_NAMES, DynamicsRecorder

HIGHER_IS_HARDER: dict[str, bool] = {
    "el2n": True,
    "grand": True,
    "forgetting": True,
    "loss": True,
    "aum": False,
    "aum_prob": False,
}

__all__ = ["HIGHER_IS_HARDER", "SIGNAL_NAMES", "DynamicsRecorder"]
