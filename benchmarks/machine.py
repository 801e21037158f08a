"""What every results file shares: one description of the machine a benchmark ran on, and the writer."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path


def describe() -> str:
    """'CPU model, N cores, M GiB, Python X.Y.Z', read from /proc/cpuinfo and sysconf (no subprocess)."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor() or platform.machine())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


RESULTS = Path(__file__).resolve().parent / "results"


def publish(name: str, lines: list[str]) -> None:
    """Write `lines` as ``benchmarks/results/<name>`` and print them."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text("\n".join(lines))
    print("\n".join(lines))


def timed_command(argv: list[str]) -> tuple[int, float, float, float, str]:
    """Run `argv` under ``/usr/bin/time -v``: (exit code, wall s, CPU s, peak RSS MB, stderr)."""
    t = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v", *argv], check=False, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    lines = out.stderr.splitlines()
    peak = [ln for ln in lines if "Maximum resident" in ln]
    cpu = sum(float(ln.split()[-1]) for ln in lines if "User time" in ln or "System time" in ln)
    return out.returncode, elapsed, cpu, int(peak[0].split()[-1]) / 1024 if peak else float("nan"), out.stderr
