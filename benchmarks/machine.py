"""One description of the machine a benchmark ran on, for every results file."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    """'CPU model, N cores, M GiB, Python X.Y.Z', read from /proc/cpuinfo and sysconf (no subprocess)."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or platform.machine())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"
