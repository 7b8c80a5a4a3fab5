#!/usr/bin/env python3
"""Where the analyzer's CPU time goes on a big bundle, in one process (``--jobs 1``).

    python bench/cost_breakdown.py [BUNDLE]      # default: bench/data/large-1000000-s1

Four runs, each in a fresh child process, CPU seconds of that process (import included):

* ``import``      ``import loganalyzer`` and nothing else;
* ``read``        every text log member of the bundle opened, decompressed, decoded and split
                  into lines (``textio.iter_line_blocks``), nothing else: the Python floor;
* ``no-candidates`` the full analysis with no record handed on for matching (pre-filter marks
                  dropped, WARNING/ERROR treated as quiet): the engine's own per-line cost;
* ``full``        ``loganalyzer.analyze(BUNDLE, jobs=1)``.

``full - no-candidates`` is what the candidate records (marked or WARNING/ERROR) cost;
``no-candidates - read`` the line loop, quiet-block plans and pre-filter; ``read - import`` the
decompression and decoding. The ``zcat`` floor of run_bench.py is C code on one core: compare
it with ``read``. Best of --repeat runs each (default 2).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "bench" / "data" / "large-1000000-s1"

CHILD = r"""
import resource, sys, time
sys.path.insert(0, {root!r})
mode, bundle = sys.argv[1], sys.argv[2]
import loganalyzer
from loganalyzer import analyzer, fastpath, ingest, textio
if mode == "read":
    lines = 0
    with ingest.open_bundle(bundle) as b:
        for m in b.members:
            if m.kind is None or m.kind.endswith(("_xml", "_json")):
                continue
            with m.open() as stream:
                for block in textio.iter_line_blocks(stream, chunk=fastpath.RAW_CHUNK):
                    lines += len(block)
    print("lines", lines, file=sys.stderr)
elif mode == "no-candidates":
    fastpath._LOUD = frozenset()
    fastpath._LineMarker._mark = lambda self, chunk, ends: None
    analyzer.analyze(bundle, jobs=1)
elif mode == "full":
    analyzer.analyze(bundle, jobs=1)
ru = resource.getrusage(resource.RUSAGE_SELF)
print(f"{{ru.ru_utime + ru.ru_stime:.3f}}")
"""


def run(mode: str, bundle: Path) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, str(bundle)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if not args.bundle.exists():
        print(f"cost_breakdown: no bundle at {args.bundle} (python bench/run_bench.py makes it)", file=sys.stderr)
        return 2
    best = {}
    for mode in ("import", "read", "no-candidates", "full"):
        best[mode] = min(run(mode, args.bundle) for _ in range(max(1, args.repeat)))
    prev = 0.0
    print(f"{'stage':<15}{'CPU s':>8}{'step s':>9}")
    for mode, cpu in best.items():
        print(f"{mode:<15}{cpu:>8.2f}{cpu - prev:>9.2f}")
        prev = cpu
    return 0


if __name__ == "__main__":
    sys.exit(main())
