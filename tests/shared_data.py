"""Where the tests find the optional real datasets: ``$CORESELECT_DATA`` when it is set (as the library
itself looks), else ``../shared/data`` beside the repository. Tests that need them skip when absent."""

from __future__ import annotations

import os
from pathlib import Path

_ENV = os.environ.get("CORESELECT_DATA", "").strip()
DATA_ROOT = Path(_ENV).expanduser().resolve() if _ENV else Path(__file__).resolve().parents[1].parent / "shared" / "data"
