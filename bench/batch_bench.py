"""Batch machinery benchmark: ``--jobs 1`` vs ``--jobs 2`` and the per-bundle overhead.

    python bench/batch_bench.py FLEET_DIR [--jobs 1 2] [--limit N] [--timeout 600] [--dask]

FLEET_DIR holds N bundles (any input ``loganalyze batch`` takes). For each jobs value the
whole batch runs into a fresh output folder (``--force``, nothing reused) and the script prints:

* wall time, bundles per second, speed-up over the first jobs value;
* analysis time: the sum of the per-bundle ``seconds`` (time inside ``analyze`` in the worker);
* machinery overhead per bundle: (wall x jobs - analysis) / N, i.e. worker start, imports,
  pattern loading, pickling the result, hashing, writing the report, state line and tables;
* the fixed cost of one worker process (start + imports + pattern library), measured apart;
* the cost of a re-run where every bundle is unchanged (hashing + state only).

With ``--dask`` the same is measured for the dask engine on a LocalCluster.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loganalyzer import fleet as B  # noqa: E402


def worker_start_cost(repeat: int = 3) -> float:
    """Seconds to start one local-engine worker and warm it (imports, patterns, rules)."""
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = ctx.Process(target=B._warm, args=({"analyze": None, "options": {}},))
        p.start()
        p.join()
        times.append(time.perf_counter() - t0)
    return min(times)


def one_run(inputs: list[str], jobs: int, timeout: float, engine: str, out: Path, force: bool = True) -> dict:
    t0 = time.perf_counter()
    fleet = B.execute(inputs, out, jobs=jobs, timeout=timeout, force=force, engine=engine, progress="none")
    wall = time.perf_counter() - t0
    b = fleet.bundles
    analysed = b[b["status"].isin(["ok", "error", "timeout"])]
    return {"wall": wall, "n": len(analysed), "analysis": float(analysed["seconds"].fillna(0).sum()),
            "ok": int((b["status"] == "ok").sum()), "failed": len(fleet.failed), "analysed": fleet.analysed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fleet", help="folder of bundles (or a glob / list file)")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--limit", type=int, default=0, help="use only the first N bundles")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--dask", action="store_true", help="also measure the dask engine (LocalCluster)")
    args = ap.parse_args(argv)

    paths, problems = B.expand_inputs([args.fleet])
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        print(f"no bundles in {args.fleet}", file=sys.stderr)
        return 2
    inputs = [str(p) for p in paths]
    total_bytes = sum(B.content_hash(p)[1] for p in paths)
    print(f"{len(paths)} bundles, {total_bytes / 1e6:.1f} MB ({len(problems)} inputs skipped)")

    t0 = time.perf_counter()
    for p in paths:
        B.content_hash(p)
    hash_s = time.perf_counter() - t0
    start = worker_start_cost()
    print(f"worker start + warm-up (imports, patterns, rules): {start * 1000:.0f} ms per worker process")
    print(f"content hashing (one thread): {hash_s * 1000 / len(paths):.1f} ms per bundle")

    engines = ["local"] + (["dask"] if args.dask else [])
    tmp = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    try:
        for engine in engines:
            base = None
            print(f"\nengine {engine}")
            print(f"{'jobs':>4} {'wall s':>8} {'bundles/s':>10} {'speed-up':>8} {'analysis s':>10} "
                  f"{'overhead ms/bundle':>18} {'ok':>4} {'failed':>6}")
            for jobs in args.jobs:
                out = tmp / f"{engine}-{jobs}"
                r = one_run(inputs, jobs, args.timeout, engine, out)
                base = base or r["wall"]
                overhead = max(0.0, r["wall"] * jobs - r["analysis"]) / max(1, r["n"])
                print(f"{jobs:>4} {r['wall']:8.2f} {r['n'] / r['wall']:10.2f} {base / r['wall']:8.2f} "
                      f"{r['analysis']:10.2f} {overhead * 1000:18.1f} {r['ok']:4d} {r['failed']:6d}")
            again = one_run(inputs, args.jobs[-1], args.timeout, engine, out, force=False)
            print(f"re-run, nothing changed: {again['wall']:.2f} s ({again['analysed']} analysed again, "
                  f"{again['wall'] * 1000 / len(paths):.1f} ms per bundle)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
