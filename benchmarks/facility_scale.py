"""Facility location at scale: coreselect against apricot and submodlib, side by side in one run.

    python benchmarks/facility_scale.py --part a [--repeats 3]   # 5k/10k/20k x 128 at 10%: apricot, submodlib, ours
    python benchmarks/facility_scale.py --part b      # one class of 100k (and 20k) x 128 at 10%: k / exact table
    python benchmarks/facility_scale.py --part c      # `coreselect select boss` on 1M x 128, 10 classes

apricot (`pip install apricot-select`) and submodlib (`pip install submodlib-py`) are benchmark-only
dependencies. Every measurement runs in a fresh subprocess (so peak RSS is its own), on the same
synthetic data: a Gaussian mixture of 50 anisotropic components of unequal size and spread in 128
dimensions. Every subset is scored with the *dense* objectives, computed blockwise:
F = Σ_i max_{j∈S} (0.5 + 0.5·cos) (what coreselect maximises), Σ_i max cos, and Σ_i max cos²
(apricot's cosine similarity is 1 − (1 − cos²) up to a constant). Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe, timed_command

D = 128


def mixture(n: int, d: int = D, components: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A structured Gaussian mixture: unequal weights and spreads, random centres; (x, component)."""
    r = np.random.default_rng(seed)
    centres = r.normal(size=(components, d)).astype(np.float32)
    weights = r.dirichlet(np.full(components, 2.0))
    comp = r.choice(components, size=n, p=weights)
    spread = r.uniform(0.3, 1.0, size=components).astype(np.float32)
    x = np.empty((n, d), dtype=np.float32)
    for a in range(0, n, 100_000):
        b = min(n, a + 100_000)
        x[a:b] = centres[comp[a:b]] + r.normal(size=(b - a, d)).astype(np.float32) * spread[comp[a:b], None]
    return x, comp


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dense_objectives(x: np.ndarray, chosen: np.ndarray) -> dict[str, float]:
    from coreselect.geometry.blocks import row_blocks
    from coreselect.geometry.distances import normalize_rows

    xn = normalize_rows(x)
    xs = xn[chosen]
    f = c = c2 = 0.0
    for a, b in row_blocks(xn.shape[0], chosen.size):
        blk = xn[a:b] @ xs.T
        cos = blk.max(axis=1).astype(np.float64)
        sq = np.square(blk, out=blk).max(axis=1).astype(np.float64)
        f += float((0.5 + 0.5 * np.clip(cos, -1, 1)).sum())
        c += float(cos.sum())
        c2 += float(sq.sum())
    return {"F": f, "cos": c, "cos2": c2}


# ---- one measurement (run in a subprocess) ------------------------------------------------------


def run_one(spec: dict) -> dict:
    x, _ = mixture(spec["n"], seed=spec.get("seed", 0))
    m = spec["n"] // 10
    impl = spec["impl"]
    if impl == "apricot":
        if spec.get("threads") == 1:
            os.environ["NUMBA_NUM_THREADS"] = "1"
        from apricot import FacilityLocationSelection
        from threadpoolctl import threadpool_limits

        warm, _ = mixture(500, seed=1)
        FacilityLocationSelection(50, metric="cosine", optimizer="lazy").fit(warm)  # numba JIT, not timed
        base = rss_mb()
        t, cpu = time.perf_counter(), time.process_time()
        with threadpool_limits(limits=spec.get("threads")):
            sel = FacilityLocationSelection(m, metric="cosine", optimizer="lazy").fit(x)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        chosen = np.asarray(sel.ranking, dtype=np.int64)
    elif impl == "submodlib":
        from submodlib import FacilityLocationFunction

        warm, _ = mixture(500, seed=1)
        FacilityLocationFunction(n=500, mode="dense", data=warm, metric="cosine").maximize(
            budget=50, optimizer="LazyGreedy", stopIfZeroGain=False, stopIfNegativeGain=False, show_progress=False)
        base = rss_mb()
        t, cpu = time.perf_counter(), time.process_time()
        obj = FacilityLocationFunction(n=x.shape[0], mode="dense", data=x, metric="cosine")
        res = obj.maximize(budget=m, optimizer="LazyGreedy", stopIfZeroGain=False, stopIfNegativeGain=False,
                           show_progress=False)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        chosen = np.array([i for i, _ in res], dtype=np.int64)
    else:
        from coreselect.geometry import facility
        from coreselect.geometry.greedy import lazy_greedy

        warm, _ = mixture(500, seed=1)
        lazy_greedy(facility.build(warm), 50)
        base = rss_mb()
        kw = spec.get("kw", {})
        t, cpu = time.perf_counter(), time.process_time()
        fn = facility.build(x, **kw)
        t_graph = time.perf_counter() - t
        chosen, _ = lazy_greedy(fn, m)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        spec = {**spec, "graph_s": t_graph, "mode": "sparse" if fn.sparse else "dense"}
        if fn.sparse and spec.get("recall"):
            spec["recall"] = knn_recall(x, kw.get("neighbors", facility.DEFAULT_NEIGHBORS), kw.get("probes", 4))
    peak = peak_mb() - base
    return {**spec, "time": elapsed, "cpu": cpu, "peak_mb": peak, "m": int(chosen.size),
            **dense_objectives(x, chosen)}


def knn_recall(x: np.ndarray, k: int, probes: int, queries: int = 2000) -> float:
    """Recall of the approximate neighbour lists on `queries` rows, against exact (faiss flat) search."""
    from coreselect.geometry.cellknn import cell_knn
    from coreselect.geometry.distances import normalize_rows
    from coreselect.geometry.neighbors import knn, recall

    xn = normalize_rows(x)
    _, approx = cell_knn(xn, k, probes=probes, seed=0)
    rows = np.random.default_rng(0).choice(x.shape[0], size=queries, replace=False)
    _, exact = knn(xn, k, metric="ip", exact=True, queries=xn[rows])
    return recall(approx[rows], exact)


def measure(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], check=False, capture_output=True, text=True)
    if out.returncode != 0:
        return {**spec, "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- parts ---------------------------------------------------------------------------------------


def header(cmd: str) -> str:
    return (f"Command: `{cmd}`  \nMachine: {describe()} (shared with other "
            f"users; 1-min load average at start {os.getloadavg()[0]:.2f})  \nDate: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")


def median_of(specs: list[dict], repeats: int) -> list[dict]:
    """Measure every spec `repeats` times, interleaved (so load drifts hit all alike); median time and CPU."""
    runs = [[measure(s) for s in specs] for _ in range(repeats)]
    out = []
    for i, s in enumerate(specs):
        rs = [r[i] for r in runs]
        if any("error" in r for r in rs):
            out.append(next(r for r in rs if "error" in r))
            continue
        med = dict(rs[0])
        for key in ("time", "cpu", "peak_mb", "graph_s"):
            if key in med:
                med[key] = float(np.median([r[key] for r in rs]))
        out.append(med)
    return out


def part_a(repeats: int, sizes: tuple[int, ...]) -> str:
    rows = []
    for n in sizes:
        specs = [{"impl": "apricot", "n": n}, {"impl": "apricot", "n": n, "threads": 1, "label": "apricot, 1 thread"},
                 {"impl": "coreselect", "n": n}]
        specs.append({"impl": "coreselect", "n": n, "kw": {"dense_bytes": 2**31}, "label": "coreselect dense"}
                     if n <= 10000 else {"impl": "coreselect", "n": n, "kw": {"neighbors": 64},
                                         "label": "coreselect k=64"})
        results = median_of(specs, repeats)
        if n <= 10000:  # once: it takes minutes
            results.append(measure({"impl": "submodlib", "n": n}))
        ref = min(results[:2], key=lambda r: r.get("time", np.inf))  # the faster apricot setting
        for r in results:
            name = r.get("label", r["impl"]) + (f" ({r['mode']})" if "mode" in r and "label" not in r else "")
            if "error" in r:
                rows.append(f"| {n} | {name} | error: {r['error']} | | | | | | |")
                continue
            rows.append(
                f"| {n} | {name} | {r['time']:.2f} | {r['cpu']:.2f} | {ref['time'] / r['time']:.1f}× "
                f"| {ref['cpu'] / r['cpu']:.1f}× | {r['peak_mb']:.0f} | {r['F']:.1f} ({r['F'] / ref['F']:.5f}) "
                f"| {r['cos']:.1f} ({r['cos'] / ref['cos']:.5f}) | {r['cos2']:.1f} ({r['cos2'] / ref['cos2']:.5f}) |")
            print(rows[-1], file=sys.stderr, flush=True)
    return (f"Times: median of {repeats} interleaved runs (submodlib: one run). Ratios are against the faster "
            "of apricot's two settings at that n (its default threads, or one thread), on wall time.\n\n"
            "| n | implementation | wall (s) | CPU (s) | speed vs apricot (wall) | (CPU) | peak MB beyond data "
            "| dense F (÷ apricot) | Σ max cos (÷ apricot) | Σ max cos² (÷ apricot) |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))


def part_b() -> str:
    out = []
    for n, ks, extra in ((100_000, (16, 32, 64), []),
                         (20_000, (8, 16, 32, 64),
                          [{"kw": {"neighbors": 32, "exact": True}, "label": "k=32, exact kNN"},
                           {"kw": {"dense_bytes": 2**31}, "label": "dense (no graph)"}])):
        specs = [{"impl": "coreselect", "n": n, "kw": {"neighbors": k}, "label": f"k={k}", "recall": True}
                 for k in ks]
        specs.append({"impl": "coreselect", "n": n, "kw": {"neighbors": 32, "probes": 8}, "label": "k=32, probes=8",
                      "recall": True})
        specs += [{"impl": "coreselect", "n": n, **e} for e in extra]
        results = [measure(s) for s in specs]
        best = max(r.get("F", 0) for r in results)
        rows = []
        for r in results:
            if "error" in r:
                rows.append(f"| {r['label']} | error: {r['error']} | | | | | |")
                continue
            rec = f"{r['recall']:.3f}" if isinstance(r.get("recall"), float) else "1 (exact)"
            if r.get("mode") == "dense":
                rec = "(all pairs)"
            rows.append(f"| {r['label']} | {r['time']:.2f} ({r['graph_s']:.2f} graph) | {r['cpu']:.2f} | {r['peak_mb']:.0f} "
                        f"| {rec} | {r['F']:.1f} ({r['F'] / best:.5f}) | {r['cos']:.1f} |")
            print(rows[-1], file=sys.stderr, flush=True)
        out.append(f"### {n:,} × 128, one class, 10%\n\n"
                   "| neighbourhood | wall (s) | CPU (s) | peak MB beyond data | kNN recall@k | dense F (÷ best) "
                   "| Σ max cos |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    return "\n\n".join(out)


def select_boss(folder: Path, rows: int | None = None) -> tuple[int, float, float, float, str]:
    """Run ``coreselect select boss`` on the arrays in `folder` (their first `rows` rows when given)
    under /usr/bin/time: (exit code, wall s, CPU s, peak RSS MB, stderr)."""
    if rows is not None:
        small = folder / "small"
        small.mkdir(exist_ok=True)
        for name in ("x", "y", "el2n", "aum"):
            np.save(small / f"{name}.npy", np.load(folder / f"{name}.npy", mmap_mode="r")[:rows])
        folder = small
    return timed_command(["coreselect", "--quiet", "select", "boss", "--features", str(folder / "x.npy"),
                          "--labels", str(folder / "y.npy"), "--signal", f"el2n={folder / 'el2n.npy'}",
                          "--signal", f"aum={folder / 'aum.npy'}", "--fraction", "0.1", "--seed", "0",
                          "--out", str(folder / "s.npz")])


def part_c() -> str:
    n, classes = 1_000_000, 10
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        x, comp = mixture(n, components=50, seed=0)
        labels = (comp % classes).astype(np.int64)
        r = np.random.default_rng(0)
        np.save(tmp / "x.npy", x)
        np.save(tmp / "y.npy", labels)
        np.save(tmp / "el2n.npy", r.beta(2, 5, size=n))
        np.save(tmp / "aum.npy", r.normal(1.0, 1.0, size=n))
        feature_mb = x.nbytes / 2**20
        del x
        _, _, _, base_mb, _ = select_boss(tmp, rows=1000)
        code, elapsed, cpu, peak_mb, err = select_boss(tmp)
        size = np.load(tmp / "s.npz")["indices"].size if code == 0 else 0
    return (f"exit code {code}; {size} examples selected. 'Baseline' is the peak RSS of the same command on the "
            "first 1,000 rows (interpreter, imports).\n\n"
            "| n × d, classes | wall time (s) | CPU (s) | peak RSS (MB) | baseline (MB) | features (MB) "
            "| beyond features and baseline (MB) |\n|---|---|---|---|---|---|---|\n"
            f"| 1,000,000 × 128, 10 | {elapsed:.1f} | {cpu:.1f} | {peak_mb:.0f} | {base_mb:.0f} | {feature_mb:.0f} "
            f"| {peak_mb - base_mb - feature_mb:.0f} |" + ("" if code == 0 else f"\n\n{err[-2000:]}"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["a", "b", "c"])
    ap.add_argument("--one")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="5000,10000,20000", help="part a: comma-separated n")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    cmd = f"python benchmarks/facility_scale.py --part {args.part}" + (
        f" --repeats {args.repeats} --sizes {args.sizes}" if args.part == "a" else "")
    head = header(cmd)
    body = part_a(args.repeats, tuple(int(v) for v in args.sizes.split(","))) if args.part == "a" else {"b": part_b, "c": part_c}[args.part]()
    print(head + f"1-min load average at end {os.getloadavg()[0]:.2f}\n\n" + body)


if __name__ == "__main__":
    main()
