#!/usr/bin/env python3
"""Instructions (valgrind callgrind) the analyzer spends on one part of the bench bundle.

    python bench/count_instructions.py [--root CHECKOUT ...] [--bundle DIR] [--no-quiet]

Wall and CPU time of the same code vary by 25 % and more on the shared machine this project is
measured on; the instruction count of a run is the same from run to run. For each checkout given
with ``--root`` (default: this one; e.g. a ``git worktree`` of an older commit) this analyses, in
one process, one UTC-era part and one local-time-era part of the bench bundle, and a small sample
(the start-up and import share, to subtract), and prints the instructions of each run.
``--no-quiet`` also measures this checkout (when given) with loganalyzer.quiet switched off.
Needs valgrind; each run takes about a minute.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bench" / "data" / "large-1000000-s1"
PARTS = {"UTC era": "waagent.log-2025-11-09-1762672954.gz", "local-time era": "waagent.log.1.gz"}
RUNNER = """
import os, sys
sys.path.insert(0, os.environ["LA_ROOT"])
from loganalyzer import analyzer, fastpath
if os.environ.get("LA_NO_QUIET"):
    fastpath.QUIET_MIN_LINES = 10 ** 12
import numpy  # noqa: F401 - imported in every run, so that the runs differ only in the analysis
analyzer.analyze(sys.argv[1], jobs=1)
"""


def count(root: Path, bundle: Path, no_quiet: bool = False) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        runner = Path(tmp) / "run.py"
        runner.write_text(RUNNER)
        out = Path(tmp) / "callgrind.out"
        env = dict(os.environ, LA_ROOT=str(root), PYTHONDONTWRITEBYTECODE="1")
        env.pop("LA_NO_QUIET", None)
        if no_quiet:
            env["LA_NO_QUIET"] = "1"
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            os.path.realpath(sys.executable), str(runner), str(bundle)],
                           env=env, capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", r.stderr)
        if not m:
            raise SystemExit(f"valgrind gave no count:\n{r.stderr[-2000:]}")
        return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", action="append", type=Path, help="checkout to measure (repeatable)")
    ap.add_argument("--bundle", type=Path, default=BUNDLE)
    ap.add_argument("--no-quiet", action="store_true")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    if not args.bundle.is_dir():
        raise SystemExit(f"{args.bundle} is missing: run python bench/run_bench.py first")
    roots = args.root or [ROOT]
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"small sample (start-up)": ROOT / "samples" / "healthy"}
        for label, name in PARTS.items():
            part = Path(tmp) / label.replace(" ", "-") / "var" / "log"
            part.mkdir(parents=True)
            shutil.copy(args.bundle / "var" / "log" / name, part / name)
            cases[f"{label}: {name}"] = part.parents[1]
        print(f"{'checkout':<40} {'input':<52} {'instructions':>15}")
        for root in roots:
            for label, path in cases.items():
                print(f"{str(root):<40} {label:<52} {count(root.resolve(), path):>15,}", flush=True)
                if args.no_quiet and root.resolve() == ROOT and not label.startswith("small"):
                    print(f"{str(root) + ' (no quiet)':<40} {label:<52} "
                          f"{count(root.resolve(), path, True):>15,}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
