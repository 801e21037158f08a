"""What the front door counts as an integer and as a real number (one definition for every check).

Booleans are neither (``True`` is not a size), NumPy scalars are both what their Python twins are, and a
float is never an integer, even ``5.0`` — scikit-learn's rule for integer parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Seeds are below this: torch's generators take no larger (NumPy's take any non-negative integer).
SEED_LIMIT = 2**64


def is_integer(value: Any) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A Python or NumPy integer or float, not a bool (may be NaN or inf: check finiteness separately)."""
    number = isinstance(value, (int, float, np.integer, np.floating))
    return number and not isinstance(value, (bool, np.bool_))
