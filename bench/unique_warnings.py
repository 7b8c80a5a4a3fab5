"""Worst case for the per-record work: a waagent.log of WARNING lines that share no text.

    python bench/unique_warnings.py [--lines 400000] [--seed 1] [--out DIR]

A crash loop that logs a different error text every time (or a bundle made to be slow) sends every
line through matching and the residue miner, and every memo misses. The script writes such a log
(random lower-case words after an E4 header) into DIR (default: a temporary folder), runs
``loganalyze DIR --format json`` once and prints wall time, CPU seconds and peak RSS of that run.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_log(path: Path, lines: int, seed: int) -> int:
    """Write ``lines`` WARNING records of 2-8 random words; return the bytes written."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="ascii") as fh:
        for i in range(lines):
            words = " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))
                             for _ in range(rng.randint(2, 8)))
            fh.write(f"2024-03-02T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1_000_000:06d}Z "
                     f"WARNING ExtHandler ExtHandler {words}\n")
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=400_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="bundle folder to write (kept); default: a temporary one")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="unique-warnings-"))
    try:
        size = write_log(out / "var/log/waagent.log", args.lines, args.seed)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "loganalyzer.cli", str(out), "--format", "json"],
                                    stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            code = os.waitstatus_to_exitcode(status)
            print(f"{args.lines:,} unique WARNING lines, {size / 1e6:.1f} MB: {wall:.1f} s wall, "
                  f"{usage.ru_utime + usage.ru_stime:.1f} s CPU, peak RSS {usage.ru_maxrss / 1024:.0f} MB, "
                  f"exit {code}")
            if code not in (0, 1):
                err.seek(0)
                print(err.read().decode(errors="replace"), file=sys.stderr)
                return 1
        return 0
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
