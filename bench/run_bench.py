#!/usr/bin/env python3
"""Benchmark harness for "fast on the biggest bundles".

    python bench/run_bench.py [--bundle DIR] [--lines N] [--out results.md]
                              [--memory] [--memory-lines 7000000] [--profile]
                              [--naive-budget 60] [--no-scaling] [--no-startup]

Generates the large bundle if missing (``bench/data/``, git-ignored; see make_large_bundle.py),
then measures side by side, on this machine, in one run:

* floor      ``zcat -f`` of every waagent.log* file to /dev/null (best of 3);
* naive      every pattern regex of the library on every physical line (no pre-filter, no
             header parsing), in a child process, for --naive-budget seconds -> lines/s;
* analyzer   ``python -m loganalyzer.cli BUNDLE --format json`` (stdout to /dev/null) wall
             time, CPU time (its worker processes included) and peak RSS (os.wait4), best of
             --repeat; once with the default (one process per core), once with ``--jobs 1``;
* ratios     analyzer / floor (goal <= 4x) and naive / analyzer (goal >= 10x);
* memory     (--memory) the analyzer's peak RSS on a ~1 GB log (separate generated bundle);
* scaling    the analyzer with the pattern library at 1x and 4x its size (--patterns DIR
             holding 3 renamed copies of every pattern file, ids suffixed);
* start-up   median wall time of 5 runs on a small sample bundle.

Works while the project is incomplete: a failing step prints its stderr and the run goes on.
The machine is busy when others run tests, so CPU seconds (user+sys) are printed next to the
wall clock; compare CPU seconds when the load average is high.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DATA = BENCH / "data"
PY = sys.executable
GOAL_FLOOR = 4.0
GOAL_NAIVE = 10.0
WAAGENT_RE = re.compile(r"^waagent\.log(?:\.\d+|-\d{8}|-\d{4}-\d{2}-\d{2}-\d+)?(?:\.gz)?$")


# --- helpers ---------------------------------------------------------------------------------

def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.pop("LOGANALYZE_DEBUG", None)
    e.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with a bytecode cache, as an installed package runs
    return e


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
                break
    except OSError:
        pass
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram": ram, "python": platform.python_version(),
            "platform": platform.platform(), "load": load,
            "date": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())}


def run_measured(cmd: list[str], timeout: float, stdout=subprocess.DEVNULL, cwd: Path = ROOT) -> dict:
    """Run ``cmd``; wall time, user/sys CPU and peak RSS of this child alone (os.wait4)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=err, stdin=subprocess.DEVNULL, cwd=str(cwd), env=env())
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return {"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime, "cpu": ru.ru_utime + ru.ru_stime,
            "maxrss_mb": ru.ru_maxrss / 1024, "rc": proc.returncode, "stderr": stderr,
            "timed_out": wall >= timeout}


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return "%.0f ms" % (x * 1000) if x < 1 else ("%.2f s" % x if x < 100 else "%.0f s" % x)


def fmt_n(x: float) -> str:
    return "{:,.0f}".format(x)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the bundle --------------------------------------------------------------------------------

def ensure_bundle(path: Path, lines: int, seed: int) -> dict:
    """Generate ``path`` unless a complete one with the same parameters is there; return its summary.

    The generator runs in a child process so that this harness stays small: on Linux a child's
    peak RSS (``ru_maxrss``) includes the image it was forked from.
    """
    stamp = path.with_name(path.name + ".json")
    if path.is_dir() and stamp.is_file():
        try:
            s = json.loads(stamp.read_text())
            if s.get("requested_lines") == lines and s.get("seed") == seed:
                return s
        except (OSError, ValueError):
            pass
    if path.is_dir() and any(path.iterdir()) and not stamp.is_file():
        # someone else's bundle: measure it as it is
        return describe_bundle(path)
    say(f"generating {lines:,} lines into {path} ...")
    path.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([PY, str(BENCH / "make_large_bundle.py"), str(path), "--lines", str(lines),
                        "--seed", str(seed), "--force", "--json"], capture_output=True, text=True, cwd=str(ROOT))
    if p.returncode != 0:
        raise SystemExit(f"make_large_bundle.py failed:\n{p.stderr}")
    s = json.loads(p.stdout)
    s["requested_lines"] = lines
    stamp.write_text(json.dumps(s, indent=1))
    say(f"  done in {s['seconds']} s: {s['waagent_lines']:,} lines, {s['waagent_bytes'] / 1e6:.1f} MB")
    return s


def waagent_files(bundle: Path) -> list[Path]:
    return sorted(p for p in bundle.rglob("waagent.log*") if p.is_file() and WAAGENT_RE.match(p.name))


def describe_bundle(bundle: Path) -> dict:
    """Line and byte counts of a bundle we did not generate (one decompressing pass)."""
    files, lines, size = [], 0, 0
    for p in waagent_files(bundle):
        opener = gzip.open if p.suffix == ".gz" else open
        n = b = 0
        with opener(p, "rb") as f:
            while chunk := f.read(1 << 20):
                n += chunk.count(b"\n")
                b += len(chunk)
        files.append({"path": str(p.relative_to(bundle)), "lines": n, "bytes": b, "disk_bytes": p.stat().st_size})
        lines += n
        size += b
    return {"bundle": str(bundle), "waagent_lines": lines, "waagent_bytes": size,
            "waagent_disk_bytes": sum(f["disk_bytes"] for f in files), "files": files}


# --- measurements ------------------------------------------------------------------------------

def measure_floor(files: list[Path], repeat: int = 3) -> dict:
    best = None
    for _ in range(repeat):
        r = run_measured(["zcat", "-f", *map(str, files)], timeout=600)
        if r["rc"] != 0:
            return {"error": r["stderr"].strip()[-500:] or f"zcat exit {r['rc']}"}
        if best is None or r["wall"] < best["wall"]:
            best = r
    return best  # type: ignore[return-value]


NAIVE_SCRIPT = r'''
import gzip, json, sys, time
sys.path.insert(0, sys.argv[1])
from loganalyzer.patterns import load_library
budget = float(sys.argv[2])
files = sys.argv[3:]
t_load = time.perf_counter()
compiled = [p.compiled for p in load_library().patterns]
t0 = time.perf_counter()
searches = [c.search for c in compiled]
lines = hits = 0
complete = True
share = budget / max(1, len(files))  # every file (every era) gets its share of the budget
for i, path in enumerate(files):
    deadline = t0 + share * (i + 1)
    f = gzip.open(path, "rt", encoding="utf-8", errors="replace") if path.endswith(".gz") \
        else open(path, encoding="utf-8", errors="replace")
    with f:
        for line in f:
            for s in searches:
                if s(line) is not None:
                    hits += 1
            lines += 1
            if not lines & 255 and time.perf_counter() > deadline:
                complete = False
                break
el = time.perf_counter() - t0
print(json.dumps({"patterns": len(compiled), "lines": lines, "hits": hits, "seconds": el,
                  "load_seconds": t0 - t_load, "complete": complete}))
'''


def measure_naive(files: list[Path], budget: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(NAIVE_SCRIPT)
        script = f.name
    try:
        with tempfile.TemporaryFile() as out:
            r = run_measured([PY, script, str(ROOT), str(budget), *map(str, files)], timeout=budget + 600, stdout=out)
            out.seek(0)
            text = out.read().decode("utf-8", "replace").strip()
    finally:
        os.unlink(script)
    if r["rc"] != 0 or not text:
        return {"error": r["stderr"].strip()[-1500:] or f"exit {r['rc']}"}
    res = json.loads(text.splitlines()[-1])
    res["lines_per_s"] = res["lines"] / res["seconds"] if res["seconds"] else 0.0
    res["cpu"] = r["cpu"]
    res["maxrss_mb"] = r["maxrss_mb"]
    return res


def cli_cmd(bundle: Path, extra: list[str] | None = None) -> list[str]:
    return [PY, "-m", "loganalyzer.cli", str(bundle), "--format", "json", *(extra or [])]


def measure_cli(bundle: Path, timeout: float, extra: list[str] | None = None, label: str = "",
                repeat: int = 1) -> dict:
    """The analyzer's run (the best wall of ``repeat``, like the floor's best of 3)."""
    say(f"running the analyzer{label} on {bundle} ...")
    r = None
    for _ in range(repeat):
        one = run_measured(cli_cmd(bundle, extra), timeout=timeout)
        if r is None or one["rc"] not in (0, 1) or one["wall"] < r["wall"]:
            r = one
        if r["rc"] not in (0, 1) or r["timed_out"]:
            break
    r["repeat"] = repeat
    r["ok"] = r["rc"] in (0, 1) and not r["timed_out"]
    if not r["ok"]:
        say(f"  analyzer failed (exit {r['rc']}{', timed out' if r['timed_out'] else ''}); stderr:")
        say("  " + "\n  ".join((r["stderr"].strip() or "(empty)").splitlines()[-30:]))
    else:
        say(f"  {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, peak RSS {r['maxrss_mb']:.0f} MB, exit {r['rc']}")
    return r


def make_4x_patterns(dest: Path) -> int:
    """Three renamed copies of every built-in pattern file with suffixed ids; returns patterns written."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from loganalyzer.paths import patterns_dir; "
            "from loganalyzer.patterns import pattern_files; "
            "print(json.dumps([str(p) for p in pattern_files(patterns_dir())]))")
    p = subprocess.run([PY, "-c", code, str(ROOT)], capture_output=True, text=True, env=env(), cwd=str(ROOT))
    if p.returncode != 0:
        raise RuntimeError((p.stderr.strip().splitlines() or ["cannot list pattern files"])[-1])
    id_line = re.compile(r'^(\s*id\s*=\s*)(["\'])(.+?)\2(\s*(?:#.*)?)$', re.M)
    n = 0
    for src in map(Path, json.loads(p.stdout)):
        text = src.read_text(encoding="utf-8")
        for k in (2, 3, 4):
            new, count = id_line.subn(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}.copy{k}{m.group(2)}{m.group(4)}",
                                      text)
            (dest / f"{src.stem}_copy{k}.toml").write_text(new, encoding="utf-8")
            n += count
    return n


def library_size(extra: Path | None = None) -> int | str:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from loganalyzer.patterns import load_library; "
            "print(len(load_library(sys.argv[2] if len(sys.argv) > 2 else None).patterns))")
    cmd = [PY, "-c", code, str(ROOT)] + ([str(extra)] if extra else [])
    p = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=str(ROOT))
    if p.returncode != 0:
        return "error: " + (p.stderr.strip().splitlines() or ["?"])[-1]
    return int(p.stdout.strip())


def small_sample() -> Path:
    """A folder bundle under samples/, else a tiny one written to bench/data/tiny."""
    samples = ROOT / "samples"
    if samples.is_dir():
        dirs = sorted(d for d in samples.iterdir() if d.is_dir() and not d.name.startswith(("_", ".")))
        for pref in ("healthy",):
            for d in dirs:
                if d.name == pref:
                    return d
        if dirs:
            return dirs[0]
    tiny = DATA / "tiny"
    log = tiny / "var" / "log" / "waagent.log"
    if not log.is_file():
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            "2025-11-20T08:00:00.100000Z INFO Daemon Daemon Azure Linux Agent Version: 2.15.0.1\n"
            "2025-11-20T08:00:00.120000Z INFO Daemon Daemon Run daemon\n"
            "2025-11-20T08:00:01.000000Z INFO ExtHandler ExtHandler Azure Linux Agent (Goal State Agent version 2.15.0.1)\n"
            "2025-11-20T08:00:02.000000Z INFO ExtHandler ExtHandler WALinuxAgent-2.15.0.1 running as process 1321\n"
            "2025-11-20T08:30:03.000000Z INFO ExtHandler ExtHandler [HEARTBEAT] Agent WALinuxAgent-2.15.0.1 is running "
            "as the goal state agent [DEBUG HeartbeatCounter: 1;HeartbeatId: 3A1E0000-0000-4000-8000-000000000001;"
            "UpdateGSErrors: 0;AutoUpdate: 1;UpdateMode: SelfUpdate;]\n")
    return tiny


def measure_startup(sample: Path, runs: int = 5) -> dict:
    """Median of ``runs`` after one warm-up run that writes the bytecode cache, as an installed
    package has it (pip compiles on install); PYTHONDONTWRITEBYTECODE would make every run
    compile the sources again."""
    walls, rcs, err = [], [], ""
    subprocess.run(cli_cmd(sample), env=env(), cwd=str(ROOT), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    for _ in range(runs):
        r = run_measured(cli_cmd(sample), timeout=120)
        walls.append(r["wall"])
        rcs.append(r["rc"])
        if r["rc"] not in (0, 1):
            err = r["stderr"].strip()[-800:]
    base = [run_measured([PY, "-c", "pass"], timeout=60)["wall"] for _ in range(runs)]
    imp = [run_measured([PY, "-c", "import loganalyzer.cli, loganalyzer.analyzer"], timeout=60)["wall"]
           for _ in range(runs)]
    return {"sample": str(sample.relative_to(ROOT)) if sample.is_relative_to(ROOT) else str(sample),
            "median": statistics.median(walls), "min": min(walls), "max": max(walls), "rcs": rcs,
            "python_median": statistics.median(base), "import_median": statistics.median(imp), "error": err}


def profile_cli(bundle: Path, timeout: float, top: int = 30) -> str:
    prof = Path(tempfile.mkstemp(suffix=".prof")[1])
    try:
        say("profiling the analyzer (cProfile) ...")
        r = run_measured([PY, "-m", "cProfile", "-o", str(prof), "-m", "loganalyzer.cli", str(bundle),
                          "--format", "json"], timeout=timeout)
        if r["rc"] not in (0, 1) or not prof.stat().st_size:
            return "profile failed (exit %s): %s" % (r["rc"], r["stderr"].strip()[-800:])
        import io
        import pstats
        out = io.StringIO()
        st = pstats.Stats(str(prof), stream=out)
        st.sort_stats("cumulative").print_stats(top)
        out.write("\n--- by own time ---\n")
        st.sort_stats("tottime").print_stats(top)
        text = out.getvalue()
        text = text.replace(str(ROOT) + "/", "")
        return "profiled run: %.1f s wall (cProfile overhead included)\n%s" % (r["wall"], text)
    finally:
        prof.unlink(missing_ok=True)


# --- report ----------------------------------------------------------------------------------

def verdict(value: float | None, goal: float, le: bool) -> str:
    if value is None:
        return "n/a"
    ok = value <= goal if le else value >= goal
    return "met" if ok else "NOT met"


def report(m: dict) -> str:
    mc, s = m["machine"], m["bundle"]
    L: list[str] = []
    L.append("# Benchmark: fast on the biggest bundles\n")
    L.append(f"Machine: {mc['nproc']} CPUs ({mc['cpu']}), {mc['ram']} RAM, Python {mc['python']}, "
             f"{mc['platform']}; load average at start {mc['load']}; run at {mc['date']}.\n")
    L.append(f"Bundle: `{s['bundle']}`: {s['waagent_lines']:,} waagent.log lines in {len(s['files'])} files, "
             f"{s['waagent_bytes'] / 1e6:.1f} MB uncompressed ({s['waagent_disk_bytes'] / 1e6:.1f} MB on disk)"
             + (f", WARNING+ERROR {100 * s['warn_error_share']:.1f} % of records" if "warn_error_share" in s else "")
             + ".\n")
    lines = s["waagent_lines"]
    L.append("| measure | wall | CPU (user+sys) | throughput | peak RSS | notes |")
    L.append("|---|---|---|---|---|---|")
    fl = m.get("floor") or {}
    if "error" in fl:
        L.append(f"| floor: `zcat -f waagent.log*` | - | - | - | - | failed: {fl['error']} |")
    elif fl:
        L.append(f"| floor: `zcat -f waagent.log*` > /dev/null | {fmt_s(fl['wall'])} | {fmt_s(fl['cpu'])} | "
                 f"{fmt_n(lines / max(fl['wall'], 1e-6))} lines/s, {s['waagent_bytes'] / 1e6 / max(fl['wall'], 1e-6):.0f} MB/s | "
                 f"{fl['maxrss_mb']:.0f} MB | best of 3 |")
    nv = m.get("naive") or {}
    if "error" in nv:
        L.append(f"| naive: every regex on every line | - | - | - | - | failed: {nv['error'].splitlines()[-1]} |")
    elif nv:
        proj = lines / nv["lines_per_s"] if nv["lines_per_s"] else None
        L.append(f"| naive: {nv['patterns']} regexes x every line | {fmt_s(proj)} (projected) | "
                 f"{fmt_s(nv['cpu'])} for {nv['lines']:,} lines | {fmt_n(nv['lines_per_s'])} lines/s | "
                 f"{nv['maxrss_mb']:.0f} MB | {'all lines' if nv['complete'] else 'time budget, extrapolated'}; "
                 f"{nv['hits']:,} hits |")
    cl = m.get("cli") or {}
    for name, run in (("loganalyze (json, 1x patterns, one process per core)", cl),
                      ("loganalyze --jobs 1 (one process)", m.get("cli1") or {})):
        if not run:
            continue
        best = f"best of {run.get('repeat', 1)}, " if run.get("repeat", 1) > 1 else ""
        if run["ok"]:
            L.append(f"| {name} | {fmt_s(run['wall'])} | {fmt_s(run['cpu'])} | "
                     f"{fmt_n(lines / run['wall'])} lines/s | {run['maxrss_mb']:.0f} MB | {best}exit {run['rc']} |")
        else:
            L.append(f"| {name} | {fmt_s(run['wall'])} | {fmt_s(run['cpu'])} | - | "
                     f"{run['maxrss_mb']:.0f} MB | FAILED exit {run['rc']} (stderr below) |")
    sc = m.get("scaling") or {}
    if sc.get("cli4"):
        c4 = sc["cli4"]
        if c4["ok"]:
            L.append(f"| loganalyze, 4x patterns ({sc['n4']} patterns) | {fmt_s(c4['wall'])} | {fmt_s(c4['cpu'])} | "
                     f"{fmt_n(lines / c4['wall'])} lines/s | {c4['maxrss_mb']:.0f} MB | exit {c4['rc']} |")
        else:
            L.append(f"| loganalyze, 4x patterns | {fmt_s(c4['wall'])} | - | - | - | FAILED exit {c4['rc']} |")
    mem = m.get("memory") or {}
    if mem.get("cli"):
        mm, ms = mem["cli"], mem["bundle"]
        L.append(f"| loganalyze on {ms['waagent_bytes'] / 1e9:.2f} GB ({ms['waagent_lines']:,} lines) | "
                 f"{fmt_s(mm['wall'])} | {fmt_s(mm['cpu'])} | "
                 + (f"{fmt_n(ms['waagent_lines'] / mm['wall'])} lines/s" if mm["ok"] else "-")
                 + f" | {mm['maxrss_mb']:.0f} MB | {'exit %d' % mm['rc'] if mm['ok'] else 'FAILED exit %d' % mm['rc']} |")
    st = m.get("startup") or {}
    if st:
        L.append(f"| start-up: `loganalyze {st['sample']}` | {fmt_s(st['median'])} median of 5 "
                 f"({fmt_s(st['min'])}..{fmt_s(st['max'])}) | - | - | - | `python -c pass` {fmt_s(st['python_median'])}, "
                 f"import only {fmt_s(st['import_median'])}; exits {st['rcs']} |")
    L.append("")
    L.append("| ratio | wall | CPU | goal | verdict (wall / CPU) |")
    L.append("|---|---|---|---|---|")
    if cl.get("ok") and fl and "error" not in fl:
        rw, rc = cl["wall"] / fl["wall"], cl["cpu"] / max(fl["cpu"], 1e-3)
        L.append(f"| loganalyze / zcat floor | {rw:.1f}x | {rc:.1f}x | <= {GOAL_FLOOR:g}x | "
                 f"{verdict(rw, GOAL_FLOOR, True)} / {verdict(rc, GOAL_FLOOR, True)} |")
    if cl.get("ok") and nv and "error" not in nv and nv["lines_per_s"]:
        naive_wall = lines / nv["lines_per_s"]
        naive_cpu = nv["cpu"] * lines / max(nv["lines"], 1)
        rw, rc = naive_wall / cl["wall"], naive_cpu / max(cl["cpu"], 1e-3)
        L.append(f"| naive / loganalyze | {rw:.1f}x | {rc:.1f}x | >= {GOAL_NAIVE:g}x | "
                 f"{verdict(rw, GOAL_NAIVE, False)} / {verdict(rc, GOAL_NAIVE, False)} |")
    if cl.get("ok") and sc.get("cli4", {}).get("ok"):
        c4 = sc["cli4"]
        L.append(f"| 4x patterns / 1x patterns | {c4['wall'] / cl['wall']:.2f}x | {c4['cpu'] / max(cl['cpu'], 1e-3):.2f}x "
                 f"| close to 1x (pre-filter) | - |")
    L.append("")
    own = m.get("harness_rss_mb")
    if own:
        L.append(f"Peak RSS figures are per child (os.wait4); on Linux they include the image the child was "
                 f"forked from, i.e. this harness ({own:.0f} MB), so no figure above can be lower than that.\n")
    if sc:
        L.append(f"Pattern library: {sc.get('n1')} patterns built in; with the 4x folder: {sc.get('n4')}.\n")
    failures = [(k, v) for k, v in (("loganalyze", cl), ("loganalyze --jobs 1", m.get("cli1") or {}),
                                    ("loganalyze 4x", sc.get("cli4") or {}),
                                    ("loganalyze memory", mem.get("cli") or {})) if v and not v.get("ok")]
    for name, v in failures:
        L.append(f"### {name} failed (exit {v['rc']})\n\n```\n{v['stderr'].strip()[-3000:]}\n```\n")
    if st.get("error"):
        L.append(f"### start-up run failed\n\n```\n{st['error']}\n```\n")
    if m.get("profile"):
        L.append("## Profile (cProfile, top functions)\n\n```\n" + m["profile"].rstrip() + "\n```\n")
    return "\n".join(L) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, help="bundle folder (generated there if missing)")
    ap.add_argument("--lines", type=int, default=1_000_000, help="waagent.log lines of the generated bundle")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="also write the markdown report to this file")
    ap.add_argument("--memory", action="store_true", help="also measure peak RSS on a ~1 GB log (slow)")
    ap.add_argument("--memory-lines", type=int, default=7_000_000)
    ap.add_argument("--naive-budget", type=float, default=60.0, help="seconds for the naive baseline (extrapolated)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per analyzer run")
    ap.add_argument("--no-scaling", action="store_true", help="skip the 4x pattern library run")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up measurement")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    ap.add_argument("--profile", action="store_true", help="append a cProfile of one analyzer run")
    ap.add_argument("--repeat", type=int, default=3, help="analyzer runs on the big bundle; the best wall counts")
    args = ap.parse_args(argv)

    m: dict = {"machine": machine()}
    bundle = args.bundle or DATA / f"large-{args.lines}-s{args.seed}"
    m["bundle"] = ensure_bundle(bundle.resolve(), args.lines, args.seed)
    bundle = Path(m["bundle"]["bundle"])
    files = waagent_files(bundle)
    if not files:
        say(f"no waagent.log* files under {bundle}")
        return 2

    say("floor: zcat -f ...")
    m["floor"] = measure_floor(files)
    if not args.no_naive:
        say(f"naive baseline ({args.naive_budget:g} s budget) ...")
        m["naive"] = measure_naive(files, args.naive_budget)
        if "error" in m["naive"]:
            say("  naive baseline failed:\n  " + m["naive"]["error"].replace("\n", "\n  "))
        else:
            say(f"  {m['naive']['lines_per_s']:,.0f} lines/s over {m['naive']['lines']:,} lines")
    m["cli"] = measure_cli(bundle, args.timeout, repeat=args.repeat)
    m["cli1"] = measure_cli(bundle, args.timeout, ["--jobs", "1"], label=" in one process", repeat=args.repeat)

    if not args.no_scaling:
        with tempfile.TemporaryDirectory(prefix="bench-patterns-") as tmp:
            sc: dict = {}
            try:
                written = make_4x_patterns(Path(tmp))
                sc["n1"] = library_size()
                sc["n4"] = library_size(Path(tmp))
                sc["written"] = written
                sc["cli4"] = measure_cli(bundle, args.timeout, ["--patterns", tmp], label=" with 4x patterns")
            except Exception as exc:  # the library may be half-written
                say(f"pattern scaling skipped: {type(exc).__name__}: {exc}")
                sc["error"] = str(exc)
            m["scaling"] = sc

    if args.memory:
        big = DATA / f"large-{args.memory_lines}-s{args.seed}"
        mb = ensure_bundle(big.resolve(), args.memory_lines, args.seed)
        m["memory"] = {"bundle": mb, "cli": measure_cli(Path(mb["bundle"]), args.timeout * 4, label=" (memory)")}

    if not args.no_startup:
        sample = small_sample()
        say(f"start-up on {sample} ...")
        m["startup"] = measure_startup(sample)

    if args.profile and m["cli"]["ok"]:
        m["profile"] = profile_cli(bundle, args.timeout * 2)

    import resource
    m["harness_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = report(m)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        say(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
