"""`d2` and `semdedup` on 1,000,000 × 128: wall time and peak memory of `coreselect select`.

    python benchmarks/d2_semdedup_scale.py [--rows 1000000]

Each command runs under ``/usr/bin/time -v`` in its own process on the data of
``facility_scale.mixture`` (50 Gaussian components of unequal size and spread in 128 dimensions,
10 classes = component mod 10; an EL2N-like signal drawn from Beta(2, 5)): ``d2`` per class at 10%
(its defaults: k = 5, γ_r = 0.1, γ_f = 1, approximate kNN beyond 2,048 rows a class), and ``semdedup``
with the budget deciding at 50% (√n clusters). 'Baseline' is the peak RSS of the same command on the
first 1,000 rows (interpreter and imports). The library's default threads (one on a 2-core machine).
Target: under 2 minutes and under 4 GB beyond the features.
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
from pathlib import Path

import numpy as np
from facility_scale import mixture
from machine import describe, publish, timed_command

COMMANDS = {
    "d2": ["select", "d2", "--labels", "{dir}/y.npy", "--signal", "el2n={dir}/el2n.npy", "--fraction", "0.1"],
    "semdedup": ["select", "semdedup", "--fraction", "0.5"],
}


def timed(method: str, folder: Path) -> tuple[int, float, float, float, str]:
    """(exit code, wall s, CPU s, peak RSS MB, stderr) of ``coreselect select METHOD`` on `folder`'s arrays."""
    args = [a.format(dir=folder) for a in COMMANDS[method]]
    return timed_command(["coreselect", "--quiet", *args, "--features", str(folder / "x.npy"), "--seed", "0",
                          "--out", str(folder / f"{method}.npz")])


def write(folder: Path, x: np.ndarray, labels: np.ndarray, el2n: np.ndarray) -> None:
    folder.mkdir(exist_ok=True)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", labels)
    np.save(folder / "el2n.npy", el2n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    load0, started = os.getloadavg()[0], datetime.datetime.now().isoformat(timespec="minutes")
    x, comp = mixture(args.rows, components=50, seed=0)
    labels = (comp % 10).astype(np.int64)
    el2n = np.random.default_rng(0).beta(2, 5, size=args.rows)
    feature_mb = x.nbytes / 2**20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        full, small = Path(tmp) / "full", Path(tmp) / "small"
        write(full, x, labels, el2n)
        write(small, x[:1000], labels[:1000], el2n[:1000])
        del x
        for method in COMMANDS:
            base = timed(method, small)[3]
            code, wall, cpu, peak, err = timed(method, full)
            kept = np.load(full / f"{method}.npz")["indices"].size if code == 0 else 0
            rows.append(f"| {method} | {code} | {kept:,} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | {base:.0f} | "
                        f"{feature_mb:.0f} | {peak - base - feature_mb:.0f} |" + ("" if code == 0 else f" {err[-300:]!r}"))
    publish("d2-semdedup-scale.md", [
        "# `d2` and `semdedup` on 1,000,000 × 128", "",
        f"Command: `python benchmarks/d2_semdedup_scale.py --rows {args.rows}`  ",
        (f"Machine: {describe()}. Date: {started}. 1-min load average {load0:.2f} at start, "
         f"{os.getloadavg()[0]:.2f} at end."), "",
        *(line.strip() for line in __doc__.split("\n\n")[2].splitlines()), "",
        ("| method | exit | kept | wall (s) | CPU (s) | peak RSS (MB) | baseline (MB) | features (MB) "
         "| beyond features and baseline (MB) |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|", *rows, ""])


if __name__ == "__main__":
    main()
