"""What the front door counts as an integer and as a real number (one definition for every check).

Booleans are neither (``True`` is not a size), NumPy scalars are both what their Python twins are, and a
float is never an integer, even ``5.0`` — scikit-learn's rule for integer parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coreselect.errors import InputError

#: Seeds are below this: torch's generators take no larger (NumPy's take any non-negative integer).
SEED_LIMIT = 2**64


def is_integer(value: Any) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A Python or NumPy integer or float, not a bool (may be NaN or inf: check finiteness separately)."""
    number = isinstance(value, (int, float, np.integer, np.floating))
    return number and not isinstance(value, (bool, np.bool_))


def check_seed(name: str, value: Any) -> None:
    """An :class:`InputError` naming `name` unless `value` is an integer in ``[0, SEED_LIMIT)``."""
    if not (is_integer(value) and 0 <= value < SEED_LIMIT):
        raise InputError(f"{name} must be an integer in [0, 2**64), got {value!r}")
