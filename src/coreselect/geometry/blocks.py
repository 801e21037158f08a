"""Memory budget for blocked array math: how many rows of an (rows × cols) block fit."""

from __future__ import annotations

import os

#: Bytes one temporary block may take (override with the CORESELECT_BLOCK_BYTES environment variable).
DEFAULT_BLOCK_BYTES = int(os.environ.get("CORESELECT_BLOCK_BYTES", str(64 * 2**20)))


def block_rows(cols: int, itemsize: int = 4, budget: int | None = None) -> int:
    """Rows per block so that a `rows × cols` block of `itemsize`-byte values stays within `budget`."""
    budget = DEFAULT_BLOCK_BYTES if budget is None else budget
    return max(1, budget // max(1, cols * itemsize))


def row_blocks(n: int, cols: int, itemsize: int = 4, budget: int | None = None):
    """Yield `(start, stop)` row ranges covering `range(n)` in memory-bounded blocks."""
    step = block_rows(cols, itemsize, budget)
    for start in range(0, n, step):
        yield start, min(n, start + step)
