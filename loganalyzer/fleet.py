"""Batch triage: many bundles, each analysed in isolation, into one fleet table.

    loganalyze batch fleet/ more/*.zip list.txt --out triage/ --jobs 8 --timeout 300
    loganalyze batch fleet/ --out triage/ --engine dask --scheduler tcp://10.0.0.5:8786

    >>> from loganalyzer.fleet import batch
    >>> fleet = batch(["fleet/"], jobs=4)
    >>> fleet.bundles.groupby("top_cause", observed=True).size()

Inputs (:func:`expand_inputs`): a folder is one bundle when it looks like one (it holds
``var/``, ``results.txt`` or ``waagent.log``), otherwise each child that is an archive, a folder
or a log file is a bundle; a glob's matches are bundles; a text file of paths (one a line, ``#``
comments, relative to the file) is read as a list. The same resolved path twice is analysed
once and gets one ``duplicate`` row; a missing or unreadable input gets an ``error`` row.

Isolation: every bundle is analysed in a worker process. Engine ``local`` keeps ``jobs`` worker
processes (forkserver) and kills and replaces one whose bundle exceeds ``timeout`` seconds or
that dies (segfault, OOM killer). Engine ``dask`` submits the same per-bundle function to a
dask.distributed cluster (``scheduler`` address, or a LocalCluster of ``jobs`` processes); there
each bundle runs in a persistent child process of the dask worker, killed (and replaced) at the
timeout. A remote cluster
must see the bundle paths and return results to this process, which writes every output. A
crash, timeout, MemoryError or InputError becomes that bundle's row; the rest go on.

Outputs in ``out`` (each written to a temporary file and renamed into place):

bundles.parquet / bundles.csv, one row per input, always:
    bundle string (id, also the report's file name), path string, content_hash string (sha256
    of the file, or of a folder's sorted relative paths and contents), status cat (ok | error |
    timeout | duplicate), error string, seconds float64 (analysis time in the worker),
    agent_version string (goal-state agent, else daemon), os string, top_cause string (most
    likely cause), top_severity cat ordered (worst severity of the findings), causes string
    (comma list, most likely first), finding_count Int64, patterns_version string,
    extensions string (comma list of the extension handlers the bundle knows),
    partial bool (the bundle or one of its files was read only in part: a limit, a zip bomb, an
    unreadable member; its findings may be incomplete), note string (why it is partial),
    analyzed_at datetime64[ns, UTC]
findings.parquet / findings.csv, one row per finding of an ``ok`` bundle:
    bundle string, cause cat, severity cat ordered, confidence float64, count Int64,
    first_seen / last_seen datetime64[ns, UTC], extension string (extensions the evidence names)

Times outside what ``datetime64[ns]`` holds (before 1677 or after 2262, e.g. a clock stamped
year 9999) are missing (NaT) in the tables; the JSON report keeps them. Anything in one bundle's
report that cannot become table rows makes that bundle an ``error`` row; the batch goes on.
In the CSV files every text cell that starts with = + - @ TAB or CR gets a leading ``'`` (a
spreadsheet would run it as a formula); the DataFrames and parquet files keep the true text.
reports/<bundle>.json
    the bundle's JSON report (:func:`loganalyzer.render.json_out.render_json`)
state.jsonl
    one line per finished bundle, appended as results arrive; the tables are rebuilt from it.
    A bundle's entry is keyed by a hash of its path (:func:`state_key`), its stored path scrubbed.

Incremental: a bundle whose content hash and patterns version match an earlier ``ok`` row (or an
earlier input error) is not analysed again unless ``force``; an interrupted run therefore
resumes where it stopped, without losing or repeating rows.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import multiprocessing as mp
import os
import pickle
import re
import signal
import stat
import struct
import subprocess
import sys
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing.connection import wait as _mp_wait
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .model import SEVERITIES, iso
from .redact import scrub
from .textio import visible

STATUSES = ("ok", "error", "timeout", "duplicate")
STATE_FILE = "state.jsonl"
ROW_SCHEMA = 2  # rows stored in state.jsonl by an older layout are analysed again, never reused
MARKERS = ("var", "results.txt", "waagent.log")
LIST_SUFFIXES = (".txt", ".lst", ".list", ".paths")
MAX_LIST_BYTES = 4 * 1024 * 1024
STARTUP_TIMEOUT = 120.0  # seconds a new worker may take to start before its bundle's clock runs
MAX_TASKS_PER_WORKER = 200  # a fresh worker process after this many bundles (leaks stay bounded)
_GLOB = re.compile(r"[*?\[]")
_LOG_NAME = re.compile(r"(?:\.log|syslog|messages)(?:[.-]\d+|-\d{8})?(?:\.gz|\.xz|\.bz2)?$|\.gz$", re.I)
_ARCHIVE_NAME = re.compile(r"\.(?:zip|tar|tgz|tbz2?|txz|tar\.(?:gz|bz2|xz))$", re.I)

BUNDLE_COLUMNS = {"bundle": "string", "path": "string", "content_hash": "string", "status": "category",
                  "error": "string", "seconds": "float64", "agent_version": "string", "os": "string",
                  "top_cause": "string", "top_severity": "category", "causes": "string",
                  "finding_count": "Int64", "patterns_version": "string", "extensions": "string",
                  "partial": "bool", "note": "string", "analyzed_at": "datetime64[ns, UTC]"}
FINDING_COLUMNS = {"bundle": "string", "cause": "category", "severity": "category", "confidence": "float64",
                   "count": "Int64", "first_seen": "datetime64[ns, UTC]", "last_seen": "datetime64[ns, UTC]",
                   "extension": "string"}
_CATS = {"status": (STATUSES, False), "top_severity": (SEVERITIES, True), "severity": (SEVERITIES, True),
         "cause": ((), False)}


class BatchError(Exception):
    """Unusable arguments (exit code 2)."""


@dataclass
class InputProblem:
    """An input that gives a row without an analysis: missing, unreadable or a duplicate."""

    input: str
    status: str  # error | duplicate
    error: str
    path: str | None = None


# --- inputs --------------------------------------------------------------------------------------
def looks_like_bundle_dir(path: Path) -> bool:
    """A folder that is itself one bundle (holds var/, results.txt or waagent.log)."""
    return any((path / m).exists() for m in MARKERS)


def _bundle_child(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name == STATE_FILE:
        return False
    if path.is_dir():
        return True
    return bool(_ARCHIVE_NAME.search(name) or _LOG_NAME.search(name) or name.endswith(".txt")
                and name != "results.txt" and _looks_logish(name))


def _looks_logish(name: str) -> bool:
    try:
        from .inputs import classify
        return classify(name) is not None
    except Exception:  # noqa: BLE001
        return False


def _list_entries(path: Path) -> list[tuple[str, Path | None]] | None:
    """The entries of a text file that lists bundle paths, or None when it is not such a file.

    It is a list when it is small text, its name ends in .txt/.lst/.list/.paths, and at least
    half of its entries (non-blank, non-# lines) exist or are globs. Each entry comes back with
    its resolved candidate path (None for a glob).
    """
    if path.suffix.lower() not in LIST_SUFFIXES or path.name == "results.txt":
        return None
    try:
        if path.stat().st_size > MAX_LIST_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    entries: list[tuple[str, Path | None]] = []
    valid = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line).expanduser()
        if not p.is_absolute():
            beside = path.parent / p
            p = beside if beside.exists() or not Path(line).exists() else Path(line).absolute()
        if _GLOB.search(line) and not p.exists():
            entries.append((str(p), None))
            valid += 1
            continue
        entries.append((str(p), p))
        valid += p.exists()
    if not entries or valid * 2 < len(entries):
        return None
    return entries


def expand_inputs(inputs: Iterable[str | os.PathLike], exclude: Iterable[str | os.PathLike] = ()
                  ) -> tuple[list[Path], list[InputProblem]]:
    """Bundle paths (resolved, in input order, each once) and the inputs that give problem rows.

    ``exclude`` paths (the output folder) are never taken as bundles.
    """
    excluded = {_resolve(Path(e)) for e in exclude}
    paths: list[Path] = []
    problems: list[InputProblem] = []
    seen: dict[Path, str] = {}
    dups: Counter = Counter()

    def add(p: Path, given: str) -> None:
        try:
            rp = _resolve(p)
        except OSError as exc:
            problems.append(InputProblem(given, "error", f"cannot resolve: {exc.strerror or exc}", str(p)))
            return
        if rp in excluded:
            return
        if rp in seen:
            dups[rp] += 1
            return
        if not os.path.lexists(rp) or (os.path.islink(rp) and not os.path.exists(rp)):
            # a link loop or a dangling link: realpath stops resolving there, os.access says "no"
            problems.append(InputProblem(given, "error", "a symbolic link that leads nowhere (a loop or "
                                         "a missing target)", str(rp)))
            seen[rp] = given
            return
        if not os.access(rp, os.R_OK) or (rp.is_dir() and not os.access(rp, os.X_OK)):
            problems.append(InputProblem(given, "error", "permission denied", str(rp)))
            seen[rp] = given
            return
        seen[rp] = given
        paths.append(rp)

    def expand(given: str, p: Path, direct: bool, depth: int = 0) -> None:
        if not p.exists():
            if _GLOB.search(str(given)) and not p.exists():
                matches = sorted(glob.glob(str(p), recursive=True))
                matches = [m for m in matches if not Path(m).name.startswith(".")]
                if not matches:
                    problems.append(InputProblem(given, "error", "no file matches this pattern"))
                for m in matches:
                    add(Path(m), m)
                return
            problems.append(InputProblem(given, "error", "no such file or directory", str(p)))
            return
        if p.is_dir():
            if not direct or looks_like_bundle_dir(p):
                add(p, given)
                return
            try:
                children = sorted(p.iterdir())
            except OSError as exc:
                problems.append(InputProblem(given, "error", f"cannot list folder: {exc.strerror or exc}", str(p)))
                return
            found = [c for c in children if _resolve(c) not in excluded and _bundle_child(c)]
            if not found:
                problems.append(InputProblem(given, "error", "no bundles in this folder", str(p)))
            for c in found:
                add(c, str(c))
            return
        entries = _list_entries(p) if direct and depth == 0 else None
        if entries is None:
            add(p, given)
            return
        for text, candidate in entries:
            expand(text, Path(text) if candidate is None else candidate, True, depth + 1)

    for item in inputs:
        given = os.fspath(item)
        expand(given, Path(given).expanduser(), True)
    for rp, n in dups.items():
        problems.append(InputProblem(seen[rp], "duplicate",
                                     f"same bundle as {rp} (given {n + 1} times); analysed once", str(rp)))
    return paths, problems


def _resolve(p: Path) -> Path:
    return Path(os.path.realpath(p))


MAX_HASH_DEPTH = 100  # folder levels of a folder bundle hashed (the analysis reads no deeper)


def content_hash(path: str | os.PathLike) -> tuple[str, int]:
    """sha256 of a file's bytes, or of a folder's sorted relative paths and file contents; and the size.

    Never blocks on a FIFO or a device: a bundle that is one raises OSError; inside a folder one
    counts by its name only. Folders deeper than ``MAX_HASH_DEPTH`` are left out.
    """
    p = Path(path)
    h = hashlib.sha256()
    total = 0
    if p.is_dir():
        h.update(b"dir\0")
        for rel, full in _files(p):
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
            if os.path.islink(full):
                h.update(b"link:" + os.readlink(full).encode("utf-8", "surrogateescape") + b"\0")
                continue
            total += _hash_file(full, h, inside=True)
            h.update(b"\0")
    else:
        h.update(b"file\0")
        total = _hash_file(p, h, inside=False)
    return h.hexdigest(), total


def _files(root: Path) -> list[tuple[str, str]]:
    """(relative path, full path) of every non-folder entry under ``root``, sorted by the former."""
    files: list[tuple[str, str]] = []
    for dirpath, dirs, names in os.walk(root, followlinks=False):
        rel = os.path.relpath(dirpath, root)
        if rel != "." and rel.count(os.sep) + 1 >= MAX_HASH_DEPTH:
            dirs[:] = []  # os.walk recurses: a folder 1,000 levels deep must not reach the limit
        dirs.sort()
        for name in names:
            full = os.path.join(dirpath, name)
            files.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
    return sorted(files)


def _hash_file(path: str | os.PathLike, h, inside: bool) -> int:
    """Feed a regular file's bytes to ``h``; a FIFO, socket or device is never read from."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            if not inside:
                raise OSError(errno.EINVAL, "not a regular file or folder")
            h.update(b"special:%o" % stat.S_IFMT(mode))
            return 0
        n = 0
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return n


def bundle_ids(paths: Sequence[Path]) -> dict[Path, str]:
    """A short unique id per path: its name, with parent folder names prepended on clashes."""
    def name(p: Path, k: int) -> str:
        parts = [x for x in p.parts if x not in ("/", "")][-k:]
        text = re.sub(r"[^A-Za-z0-9._-]+", "_", scrub("-".join(parts))).strip("._-") or "bundle"
        return text[-120:]

    depth = {p: 1 for p in paths}
    for _ in range(64):
        ids = {p: name(p, depth[p]) for p in paths}
        clash = Counter(ids.values())
        todo = [p for p in paths if clash[ids[p]] > 1]
        if not todo:
            return ids
        grew = False
        for p in todo:
            if depth[p] < len(p.parts):
                depth[p] += 1
                grew = True
        if not grew:
            break
    ids = {p: name(p, depth[p]) for p in paths}
    clash = Counter(ids.values())
    return {p: (f"{ids[p]}-{hashlib.sha1(str(p).encode()).hexdigest()[:8]}" if clash[ids[p]] > 1 else ids[p])
            for p in paths}


# --- the per-bundle function (runs in a worker process) -----------------------------------------
def _default_analyze(path: str, **options: Any):
    from .analyzer import analyze
    options.setdefault("jobs", 1)  # the batch already runs one bundle per core
    return analyze(path, **options)


def _resolve_fn(fn: Callable | str | None) -> Callable:
    if fn is None:
        return _default_analyze
    if isinstance(fn, str):
        import importlib
        mod, _, attr = fn.partition(":")
        obj: Any = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj
    return fn


def _one_line(text: str, limit: int = 500) -> str:
    text = scrub(" ".join(str(text).split()))  # an error can quote a path or a line
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failure(status: str, kind: str, error: str, seconds: float | None = None) -> dict[str, Any]:
    return {"status": status, "error_kind": kind, "error": _one_line(error), "seconds": seconds,
            "findings": [], "json": None}


def _report_json(report) -> str:
    try:
        from .render.json_out import render_json
        return render_json(report)
    except ImportError:
        pass
    data = {"bundle": str(report.bundle), "schema_version": report.schema_version,
            "tool_version": report.tool_version, "patterns_version": report.patterns_version,
            "findings": [f.to_dict() for f in report.findings], "facts": report.facts.to_dict(),
            "inputs": [i.to_dict() for i in report.inputs], "problems": [p.to_dict() for p in report.problems],
            "noise": [n.to_dict() for n in report.noise], "unexplained": [t.to_dict() for t in report.unexplained],
            "not_evaluable": [n.to_dict() for n in report.not_evaluable], "timings": report.timings}
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def partial_of(report) -> tuple[bool, list[str]]:
    """Whether the report was drawn from a bundle read only in part, and why.

    ``Report.partial`` / ``partial_reasons`` when the report has them; a report without them
    (older model) is partial when an input was truncated or a problem says "(bundle is partial)".
    """
    given = getattr(report, "partial_reasons", None) or []
    reasons = [_one_line(r, 300) for r in ([given] if isinstance(given, str) else given) if r]
    partial = bool(getattr(report, "partial", False))
    if not hasattr(report, "partial"):
        for p in getattr(report, "problems", None) or []:
            msg = str(getattr(p, "message", "") or "")
            if "bundle is partial" in msg:
                partial = True
                reasons.append(_one_line(f"{getattr(p, 'source', '')}: {msg}".strip(": "), 300))
        for i in getattr(report, "inputs", None) or []:
            if getattr(i, "truncated", False):
                partial = True
                reasons.append(f"{getattr(i, 'path', '?')}: read only in part")
    return partial, list(dict.fromkeys(reasons))


def _partial_note(reasons: Sequence[str], limit: int = 3) -> str:
    if not reasons:
        return "bundle read only in part; findings may be incomplete"
    more = f" (+{len(reasons) - limit} more)" if len(reasons) > limit else ""
    return _one_line("bundle read only in part: " + "; ".join(reasons[:limit]) + more)


def summarise(report, seconds: float | None = None) -> dict[str, Any]:
    """The bundle-row fields, finding rows and JSON text of one report (picklable, small)."""
    facts = report.facts
    partial, reasons = partial_of(report)
    findings = list(report.findings)
    worst = max((f.severity for f in findings), key=lambda s: SEVERITIES.index(s) if s in SEVERITIES else 0,
                default=None)
    os_text = " ".join(x for x in (facts.os_name, facts.os_version) if x) or None
    rows = []
    for f in findings:
        ext = (f.details or {}).get("ext")
        rows.append({"cause": f.cause, "severity": f.severity, "confidence": round(float(f.confidence), 4),
                     "count": f.count, "first_seen": iso(f.first_seen), "last_seen": iso(f.last_seen),
                     "extension": ",".join(map(str, ext)) if isinstance(ext, (list, tuple)) and ext
                     else (str(ext) if ext else None)})
    return {
        "status": "ok", "error": None, "error_kind": None, "seconds": seconds,
        "agent_version": facts.agent_goal_state_version or facts.agent_daemon_version,
        "os": os_text,
        "top_cause": findings[0].cause if findings else None,
        "top_severity": worst,
        "causes": ",".join(dict.fromkeys(f.cause for f in findings)) or None,
        "finding_count": len(findings),
        "patterns_version": report.patterns_version or None,
        "extensions": ",".join(sorted(map(str, facts.extensions))) or None,
        "partial": partial,
        "note": _partial_note(reasons) if partial else None,
        "findings": rows,
        "json": _report_json(report),
    }


@contextlib.contextmanager
def _temp_folder(path: str | None):
    """Temporary files of this process go to ``path`` (made here) while the bundle is analysed: the
    batch's parent removes it when the row is in, also after it killed this process."""
    if not path:
        yield
        return
    os.makedirs(path, mode=0o700, exist_ok=True)
    before, tempfile.tempdir = tempfile.tempdir, path
    try:
        yield
    finally:
        tempfile.tempdir = before


def analyze_bundle(task: dict[str, Any]) -> dict[str, Any]:
    """Analyse one bundle and return its row; never raises (the error is the row)."""
    t0 = time.perf_counter()
    try:
        fn = _resolve_fn(task.get("analyze"))
        with _temp_folder(task.get("tmp_dir")):
            report = fn(task["path"], **(task.get("options") or {}))
        return summarise(report, round(time.perf_counter() - t0, 4))
    except MemoryError:
        return _failure("error", "memory", "out of memory (MemoryError)", round(time.perf_counter() - t0, 4))
    except Exception as exc:  # noqa: BLE001 - the error text is the bundle's row
        kind = "input" if type(exc).__name__ == "InputError" else "exception"
        text = str(exc) if kind == "input" else f"{type(exc).__name__}: {exc}"
        return _failure("error", kind, text or type(exc).__name__, round(time.perf_counter() - t0, 4))


def _warm(task: dict[str, Any]) -> None:
    """Load the pattern library, rules and catalogue once per worker, outside the bundle's time."""
    if task.get("analyze") is not None:
        return
    try:
        from . import analyzer
        extra = (task.get("options") or {}).get("patterns")
        analyzer.parsers.load_all()
        analyzer._library(Path(extra) if extra else None)
        analyzer._rules()
        analyzer.load_causes()
    except Exception:  # noqa: BLE001 - the analysis itself will report what is wrong
        pass


def _worker_main(conn) -> None:
    """A local-engine worker: analyse the tasks sent on ``conn`` until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and kills us
    done = 0
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if task.get("warm_only"):  # started ahead of its first bundle: load the library now
            _warm(task)
            continue
        if done == 0:
            _warm(task)
        try:
            conn.send(("started", None))  # the bundle's timeout runs from here
        except (OSError, ValueError):
            return
        result = analyze_bundle(task)
        done += 1
        result["_exit"] = result.get("error_kind") == "memory" or done >= MAX_TASKS_PER_WORKER
        try:
            conn.send(("result", result))
        except Exception as exc:  # noqa: BLE001 - an unpicklable result must not kill the batch
            try:
                conn.send(("result", _failure("error", "exception", f"cannot return result: {exc}",
                                              result.get("seconds"))))
            except Exception:  # noqa: BLE001
                return
        if result["_exit"]:
            return


def _exit_text(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# --- engines -------------------------------------------------------------------------------------
class _Slot:
    __slots__ = ("proc", "conn", "task", "started", "deadline", "running")

    def __init__(self) -> None:
        self.proc = self.conn = self.task = None
        self.running = False
        self.started = 0.0
        self.deadline: float | None = None


class LocalEngine:
    """``jobs`` worker processes; a worker past its deadline or dead is replaced."""

    def __init__(self, jobs: int, timeout: float | None) -> None:
        self.jobs = max(1, jobs)
        self.timeout = timeout
        methods = mp.get_all_start_methods()
        self.ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            self.ctx.set_forkserver_preload(["loganalyzer.fleet", "loganalyzer.analyzer"])
        self._ready: list[_Slot] = []  # workers started by prestart(), not yet given a bundle
        self._starting: threading.Thread | None = None

    def prestart(self, n: int, task: dict) -> None:
        """Start up to ``n`` workers in a thread and let them load the pattern library (``task``:
        its ``analyze`` and ``options``) while the caller does other work (hashing the inputs)."""
        self._starting = threading.Thread(target=self._prestart, args=(n, task), daemon=True,
                                          name="loganalyzer-prestart")
        self._starting.start()

    def _joined(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None

    def _prestart(self, n: int, task: dict) -> None:
        for _ in range(min(n, self.jobs) - len(self._ready)):
            slot = _Slot()
            try:
                self._start(slot)
                slot.conn.send({"analyze": task.get("analyze"), "options": task.get("options"),
                                "warm_only": True})
            except (OSError, EOFError, ValueError):
                self._stop(slot, kill=True)
                continue
            self._ready.append(slot)

    def close(self) -> None:
        """Stop the workers prestart() started that run() did not use."""
        self._joined()
        for slot in self._ready:
            try:
                slot.conn.send(None)
            except (OSError, EOFError, ValueError):
                pass
            self._stop(slot, kill=False)
        self._ready = []

    def _start(self, slot: _Slot) -> None:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=_worker_main, args=(child,), daemon=True, name="loganalyzer-batch")
        proc.start()
        child.close()
        slot.proc, slot.conn = proc, parent

    def _stop(self, slot: _Slot, kill: bool) -> None:
        if slot.proc is None:
            return
        if kill and slot.proc.is_alive():
            slot.proc.kill()
        slot.proc.join(5)
        if slot.proc.is_alive():
            slot.proc.kill()
            slot.proc.join(5)
        try:
            slot.conn.close()
        except OSError:
            pass
        slot.proc = slot.conn = None

    def _send(self, slot: _Slot, task: dict) -> bool:
        for _ in range(2):
            if slot.proc is None or not slot.proc.is_alive():
                self._stop(slot, kill=True)
                self._start(slot)
            try:
                slot.conn.send(task)
                return True
            except (OSError, EOFError, ValueError):
                self._stop(slot, kill=True)
        return False

    def run(self, tasks: Sequence[dict], on_result: Callable[[dict, dict], None]) -> None:
        pending = deque(tasks)
        n = min(self.jobs, len(pending))
        self._joined()
        slots, self._ready = self._ready[:n], self._ready[n:]
        slots += [_Slot() for _ in range(n - len(slots))]
        self.close()  # prestarted workers beyond the tasks
        clean = False

        def refill() -> None:
            for s in slots:
                while s.task is None and pending:
                    task = pending.popleft()
                    if self._send(s, task):
                        s.task, s.started, s.running = task, time.monotonic(), False
                        # until the worker says it started: time to start a process and import
                        s.deadline = s.started + max(STARTUP_TIMEOUT, self.timeout or 0)
                    else:
                        on_result(task, _failure("error", "crash", "cannot start a worker process"))

        try:
            while pending or any(s.task is not None for s in slots):
                refill()
                busy = [s for s in slots if s.task is not None]
                if not busy:
                    continue
                deadlines = [s.deadline for s in busy if s.deadline is not None]
                wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                _mp_wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], wait_for)
                now = time.monotonic()
                finished: list[tuple[dict, dict]] = []
                for s in busy:
                    result = None
                    try:
                        has_data = s.conn.poll()
                    except (OSError, EOFError):
                        has_data = False
                    if has_data:
                        try:
                            what, result = s.conn.recv()
                        except Exception:  # noqa: BLE001 - EOF or a broken message: the worker died
                            what, result = "result", None
                        if what == "started":
                            s.started, s.running = time.monotonic(), True
                            s.deadline = s.started + self.timeout if self.timeout else None
                            continue
                        if result is None:  # EOF: the worker died
                            s.proc.join(2)
                            code = s.proc.exitcode
                            self._stop(s, kill=True)
                            result = _failure("error", "crash", f"worker process died ({_exit_text(code)})",
                                              round(now - s.started, 4))
                        elif result.pop("_exit", False):
                            self._stop(s, kill=False)
                    elif not s.proc.is_alive():
                        s.proc.join(1)
                        code = s.proc.exitcode
                        self._stop(s, kill=True)
                        result = _failure("error", "crash", f"worker process died ({_exit_text(code)})",
                                          round(now - s.started, 4))
                    elif s.deadline is not None and now >= s.deadline:
                        self._stop(s, kill=True)
                        waited = round(now - s.started, 4)
                        result = _failure("timeout", "timeout",
                                          f"no result after {waited:.1f} s; worker process killed" if s.running
                                          else "the worker process did not start; killed", waited)
                    if result is not None:
                        task, s.task = s.task, None
                        finished.append((task, result))
                if finished:
                    refill()  # the next bundles start before the finished ones are written out
                    for task, result in finished:
                        on_result(task, result)
            clean = True
        finally:
            for s in slots:
                if s.proc is not None and clean and s.task is None:
                    try:
                        s.conn.send(None)
                    except (OSError, EOFError, ValueError):
                        pass
                self._stop(s, kill=not clean)


class _Child:
    """A persistent ``python -m loganalyzer.fleet --serve`` process (the dask engine's isolation).

    It reads length-prefixed pickled tasks on stdin and answers ``("started", None)`` once the
    task is loaded and the pattern library warm, then ``("result", row)``. A child past its
    deadline is killed; the next bundle starts a new one.
    """

    def __init__(self) -> None:
        pkg_parent = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [x for x in env.get("PYTHONPATH", "").split(os.pathsep) if x])
        self.sys_path = [pkg_parent] + [p for p in sys.path if p]
        self.err = tempfile.TemporaryFile(mode="a+b")
        self.proc = subprocess.Popen([sys.executable, "-m", "loganalyzer.fleet", "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, env=env, bufsize=0)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, task: dict) -> None:
        self.err.seek(0)
        self.err.truncate()
        data = pickle.dumps({"sys_path": self.sys_path, "task": pickle.dumps(task)})
        self.proc.stdin.write(struct.pack("!Q", len(data)) + data)
        self.proc.stdin.flush()

    def recv(self, deadline: float | None) -> tuple[str, Any]:
        n = struct.unpack("!Q", self._read(8, deadline))[0]
        return pickle.loads(self._read(n, deadline))

    def _read(self, n: int, deadline: float | None) -> bytes:
        import select
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def error_tail(self) -> str:
        try:
            self.err.seek(0)
            lines = self.err.read().decode("utf-8", "replace").strip().splitlines()
            return lines[-1] if lines else ""
        except (OSError, ValueError):
            return ""

    def close(self, kill: bool = False) -> int | None:
        try:
            if kill:
                self.proc.kill()
            else:
                self.proc.stdin.close()
            code = self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            code = self.proc.wait()
        self.err.close()
        return code


_children: dict[int, _Child] = {}


def run_isolated(task: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    """:func:`analyze_bundle` in a child process of this (dask worker) process, killed at ``timeout``.

    One persistent child per calling thread; the bundle's clock starts when the child has
    loaded the task, so starting a fresh interpreter does not count against the bundle.
    """
    key = threading.get_ident()
    for attempt in range(2):
        child = _children.get(key)
        if child is None or not child.alive():
            if child is not None:
                child.close(kill=True)
            child = _children[key] = _Child()
        try:
            child.send(task)
            break
        except OSError:
            _children.pop(key).close(kill=True)
            if attempt:
                return _failure("error", "crash", "cannot start a worker process")
    t0 = time.monotonic()
    running = False
    try:
        what, _ = child.recv(t0 + max(STARTUP_TIMEOUT, timeout or 0))
        running, t0 = True, time.monotonic()
        what, result = child.recv(t0 + timeout if timeout else None)
    except TimeoutError:
        _children.pop(key).close(kill=True)
        waited = round(time.monotonic() - t0, 4)
        return _failure("timeout", "timeout", f"no result after {waited:.1f} s; worker process killed" if running
                        else "the worker process did not start; killed", waited)
    except (EOFError, OSError, pickle.UnpicklingError, struct.error) as exc:
        child = _children.pop(key)
        tail = child.error_tail()
        code = child.close(kill=isinstance(exc, pickle.UnpicklingError))
        return _failure("error", "crash", f"worker process died ({_exit_text(code)}) {tail}".strip(),
                        round(time.monotonic() - t0, 4))
    if result.pop("_exit", False):
        _children.pop(key).close()
    return result


def _serve_main() -> int:
    """``python -m loganalyzer.fleet --serve``: the loop of a :class:`_Child`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the analysis prints goes to stderr, not into the protocol
    stdin = sys.stdin.buffer

    def send(msg) -> None:
        data = pickle.dumps(msg)
        out.write(struct.pack("!Q", len(data)) + data)
        out.flush()

    done = 0
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return 0
        outer = pickle.loads(stdin.read(struct.unpack("!Q", head)[0]))
        for p in reversed(outer.get("sys_path", [])):
            if p not in sys.path:
                sys.path.insert(0, p)
        try:
            task = pickle.loads(outer["task"])
        except Exception as exc:  # noqa: BLE001
            send(("started", None))
            send(("result", _failure("error", "exception", f"cannot load the task: {type(exc).__name__}: {exc}")))
            continue
        if done == 0:
            _warm(task)
        send(("started", None))
        result = analyze_bundle(task)
        done += 1
        result["_exit"] = result.get("error_kind") == "memory" or done >= MAX_TASKS_PER_WORKER
        try:
            send(("result", result))
        except Exception as exc:  # noqa: BLE001
            send(("result", _failure("error", "exception", f"cannot return result: {exc}", result.get("seconds"))))
        if result["_exit"]:
            return 0


def _undo_scratch(config, scratch: str | None) -> None:
    if config is not None:
        config.__exit__(None, None, None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


def run_dask(tasks: Sequence[dict], jobs: int, timeout: float | None, scheduler: str | None,
             on_result: Callable[[dict, dict], None]) -> None:
    """Submit :func:`run_isolated` per bundle to a dask.distributed cluster and gather the rows."""
    try:
        import logging

        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise BatchError(f"the dask engine needs dask[distributed]: {exc}") from None
    cluster = None
    scratch = None  # the local cluster's worker folders (dask-scratch-space): ours, removed at the end
    config = None  # dask's setting for them, undone at the end
    try:
        if scheduler:
            client = Client(scheduler, timeout=30)
        else:
            scratch = tempfile.mkdtemp(prefix="loganalyzer-dask-")
            import dask  # noqa: PLC0415 - present with distributed
            config = dask.config.set({"temporary-directory": scratch})  # scheduler's and workers' files
            cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR, local_directory=scratch)
            client = Client(cluster)
    except Exception as exc:  # noqa: BLE001 - an unreachable scheduler is an unusable argument
        if cluster is not None:
            cluster.close()
        _undo_scratch(config, scratch)
        raise BatchError(f"cannot start or reach the dask cluster: {type(exc).__name__}: {exc}") from None
    run = uuid.uuid4().hex[:8]
    futures = {}
    try:
        for i, task in enumerate(tasks):
            fut = client.submit(run_isolated, task, timeout, key=f"loganalyzer-{run}-{i}", pure=False)
            futures[fut] = task
        for fut in as_completed(list(futures)):
            task = futures.pop(fut)
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, lost worker, ...
                result = _failure("error", "crash", f"dask: {type(exc).__name__}: {exc}")
            on_result(task, result)
    finally:
        if futures:
            try:
                client.cancel(list(futures))
            except Exception:  # noqa: BLE001
                pass
        client.close()
        if cluster is not None:
            cluster.close()
        _undo_scratch(config, scratch)


# --- state and outputs ---------------------------------------------------------------------------
def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def state_key(path: str) -> str:
    """The key of a bundle's entry in ``state.jsonl``: a hash of its path, not the path (a file
    named ``...sig=X.zip`` must not leave its secret in the output folder)."""
    return "blake2b:" + hashlib.blake2b(path.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class State:
    """``state.jsonl``: the newest entry per bundle (keyed by :func:`state_key` of its path);
    appended one line per finished bundle. Entries of an older layout, keyed by the path itself,
    are re-keyed on load and their path and error texts scrubbed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        if path.exists():
            with open(path, "rb") as fh:
                for raw in fh:
                    try:
                        entry = json.loads(raw)
                    except ValueError:
                        continue  # a line cut by an interruption
                    if isinstance(entry, dict) and isinstance(entry.get("row"), dict) and \
                            isinstance(entry.get("key"), str) and entry["key"]:
                        if not entry["key"].startswith("blake2b:"):  # keyed by its path
                            entry["key"] = state_key(entry["key"])
                        entry["row"] = _stored(entry["row"])
                        self.entries[entry["key"]] = entry
            self.compact()
        self._fh = None

    def compact(self) -> None:
        data = "".join(json.dumps(e) + "\n" for e in self.entries.values())  # ASCII: a path's lone
        # surrogates (undecodable names) are \u escapes that read back as the same key
        _atomic_write(self.path, data.encode("utf-8"))

    def by_hash(self, content_hash: str, patterns_version: str | None) -> list[dict]:
        return [e for e in self.entries.values() if e["row"].get("content_hash") == content_hash
                and e["row"].get("patterns_version") == patterns_version]

    def append(self, entry: dict) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.entries[entry["key"]] = entry

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _reusable(entry: dict) -> bool:
    row = entry["row"]
    return row.get("row_schema") == ROW_SCHEMA and (row.get("status") == "ok" or row.get("error_kind") == "input")


_ROW_EXTRA = ("error_kind", "row_schema")  # kept in state.jsonl beside the table columns


def _seconds_of(result: Any) -> float | None:
    try:
        value = result.get("seconds")
        return None if value is None else float(value)
    except Exception:  # noqa: BLE001
        return None


def _utf8(text: str) -> bytes:
    """JSON text as UTF-8; a lone surrogate (an undecodable file name) becomes its JSON escape."""
    return text.encode("utf-8", "backslashreplace") if isinstance(text, str) else bytes(text)


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """A normalised row as JSON values (times as ISO text; a path or error without secrets: a
    bundle named ``...sig=X.zip`` stays a file name, not a report of its secret)."""
    return {k: iso(v) if isinstance(v, datetime) else scrub(v) if k in _SCRUBBED and isinstance(v, str) else v
            for k, v in values.items()}


_SCRUBBED = frozenset({"path", "error"})


def _entry(task: dict, result: dict, patterns_version: str | None) -> tuple[dict, str | None]:
    """The state entry (row and finding rows, normalised) and the JSON text of one result.

    Raises when the result cannot become rows (a value no column can hold, not a dict, ...).
    """
    from .frames import normalise
    if not isinstance(result, dict):
        raise TypeError(f"the analysis returned {type(result).__name__}, not a row")
    result = dict(result)
    text = result.pop("json", None)
    if text is not None and not isinstance(text, str):
        raise TypeError(f"report text is {type(text).__name__}, not str")
    findings = result.pop("findings", None) or []
    result.pop("_exit", None)
    row = {"analyzed_at": datetime.now(timezone.utc)}
    row.update(result)
    row.update(bundle=task["id"], path=task["path"], content_hash=task["hash"], row_schema=ROW_SCHEMA)
    if not row.get("patterns_version"):
        row["patterns_version"] = patterns_version
    clean = normalise({k: row.get(k) for k in (*BUNDLE_COLUMNS, *_ROW_EXTRA)}, BUNDLE_COLUMNS)
    clean["error_kind"] = None if row.get("error_kind") is None else str(row["error_kind"])
    rows = [_stored(normalise({k: dict(f).get(k) for k in FINDING_COLUMNS} | {"bundle": task["id"]},
                              FINDING_COLUMNS)) for f in findings]
    return {"key": state_key(task["path"]), "row": _stored(clean), "findings": rows}, text


def _tabulate(entry: dict) -> tuple[dict, list[dict]]:
    """The bundle row and finding rows of one state entry, normalised to the table columns; an
    entry that cannot be (a value no column holds) becomes an error row, never a failed batch."""
    from .frames import normalise
    row = entry["row"]
    try:
        clean = normalise(row, BUNDLE_COLUMNS)
        findings = []
        if clean.get("status") == "ok":
            findings = [normalise(dict(f, bundle=clean["bundle"]), FINDING_COLUMNS)
                        for f in entry.get("findings") or []]
        return clean, findings
    except Exception as exc:  # noqa: BLE001
        bid = row.get("bundle") if isinstance(row, dict) else None
        return ({"bundle": _safe_id(bid), "path": _safe_text(row.get("path")) if isinstance(row, dict) else None,
                 "status": "error", "error": _one_line(f"cannot tabulate the report: {type(exc).__name__}: {exc}"),
                 "analyzed_at": datetime.now(timezone.utc)}, [])


def _safe_id(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._#-]+", "_", str(value)) if value is not None else "bundle"


def _safe_text(value: Any) -> str | None:
    from .frames import coerce
    return coerce(value, "string")


def tables(bundle_rows: list[dict], finding_rows: list[dict]):
    """The bundles and findings DataFrames (columns and dtypes of the module docstring)."""
    from .frames import _build
    return _build(bundle_rows, BUNDLE_COLUMNS, _CATS), _build(finding_rows, FINDING_COLUMNS, _CATS)


def write_tables(out: Path, bundles, findings) -> None:
    """bundles/findings as parquet and CSV, each written atomically.

    CSV text cells that a spreadsheet would run as a formula get a leading ``'``
    (:func:`loganalyzer.frames.csv_safe`); parquet keeps the true values.
    """
    import io

    from .frames import csv_safe
    for name, df in (("bundles", bundles), ("findings", findings)):
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        _atomic_write(out / f"{name}.parquet", buf.getvalue())
        _atomic_write(out / f"{name}.csv", csv_safe(df).to_csv(index=False).encode("utf-8", "replace"))


# --- progress and summary ------------------------------------------------------------------------
class _Progress:
    """A rich progress bar on a terminal, plain lines otherwise, or nothing."""

    def __init__(self, total: int, mode: str | bool, stream=None) -> None:
        self.stream = stream or sys.stderr
        if mode is True:
            mode = "auto"
        if mode in (False, None):
            mode = "none"
        if mode == "auto":
            mode = "rich" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self.total = total
        self.done = self.failed = 0
        self.causes: Counter = Counter()
        self._bar = None
        self._task = None

    def __enter__(self) -> "_Progress":
        if self.mode == "rich":
            try:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
                self._bar = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("[red]{task.fields[failed]} failed"),
                                     TimeElapsedColumn(), TextColumn("{task.fields[causes]}"),
                                     console=Console(file=self.stream), transient=False)
                self._bar.start()
                self._task = self._bar.add_task("batch", total=self.total, failed=0, causes="")
            except Exception:  # noqa: BLE001 - no rich, no bar
                self.mode = "plain"
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def skipped(self, n: int) -> None:
        if n and self.mode == "plain":
            print(f"{n} bundle(s) unchanged since the last run: not analysed again (--force to redo)",
                  file=self.stream, flush=True)
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, advance=n)

    def update(self, row: dict) -> None:
        self.done += 1
        if row["status"] in ("error", "timeout"):
            self.failed += 1
        if row.get("top_cause"):
            self.causes[row["top_cause"]] += 1
        if self.mode == "plain":
            what = row.get("error") if row["status"] != "ok" else (row.get("causes") or "no cause found")
            if row.get("partial"):
                what = f"{what} [partial: {row.get('note') or 'bundle read only in part'}]"
            secs = f"{row['seconds']:.1f}s" if row.get("seconds") is not None else "-"
            print(visible(f"[{self.done}/{self.total}] {row['status']:7} {row['bundle']} {secs} {what}"),
                  file=self.stream, flush=True)
        elif self._bar is not None:
            top = ", ".join(f"{c} {n}" for c, n in self.causes.most_common(3))
            self._bar.update(self._task, advance=1, failed=self.failed, causes=top)


def fleet_summary(bundles, findings) -> str:
    """Causes by number of bundles, by agent version and by extension, as plain text."""
    lines: list[str] = []
    counts = bundles["status"].value_counts()
    parts = [f"{int(counts.get(s, 0))} {s}" for s in STATUSES if counts.get(s, 0)]
    lines.append(f"Fleet: {len(bundles)} bundle(s): {', '.join(parts) or 'none'}")
    n_partial = int(bundles["partial"].sum()) if "partial" in bundles and len(bundles) else 0
    if n_partial:
        lines.append(f"  {n_partial} bundle(s) read only in part (column partial, why in note): "
                     "their findings may be incomplete")
    ok = bundles[bundles["status"] == "ok"]
    per_cause = (findings.groupby("cause", observed=True)["bundle"].nunique().sort_values(ascending=False)
                 if len(findings) else None)
    lines.append("")
    lines.append("Causes by number of bundles:")
    if per_cause is None or per_cause.empty:
        lines.append("  (no cause found)")
    else:
        width = max(len(str(c)) for c in per_cause.index)
        for cause, n in per_cause.items():
            lines.append(f"  {str(cause):{width}}  {n:5d}  ({100 * n / max(1, len(ok)):.0f}% of analysed)")
    no_cause_rows = ok[ok["finding_count"].fillna(0) == 0] if len(ok) else ok
    no_cause = len(no_cause_rows)
    if no_cause:
        part = int(no_cause_rows["partial"].sum()) if "partial" in no_cause_rows else 0
        lines.append(f"  {'(none)':{10}}  {no_cause:5d} bundle(s) without a finding"
                     + (f" ({part} of them read only in part)" if part else ""))

    def top(frame) -> str:
        c = Counter()
        for causes in frame["causes"].dropna():
            c.update(x for x in str(causes).split(",") if x)
        return ", ".join(f"{k} {v}" for k, v in c.most_common(4)) or "-"

    lines.append("")
    lines.append("By agent version:")
    if len(ok):
        versions = ok.assign(v=ok["agent_version"].fillna("(unknown)").astype(str))
        for v, frame in sorted(versions.groupby("v"), key=lambda kv: (-len(kv[1]), kv[0])):
            lines.append(f"  {v:20} {len(frame):5d} bundle(s)  {top(frame)}")
    else:
        lines.append("  (no bundle analysed)")

    lines.append("")
    lines.append("By extension:")
    ext_bundles: dict[str, set] = {}
    for b, exts in zip(ok["bundle"], ok["extensions"]):
        if isinstance(exts, str):
            for e in exts.split(","):
                ext_bundles.setdefault(e, set()).add(b)
    if len(findings):
        for b, exts in zip(findings["bundle"], findings["extension"]):
            if isinstance(exts, str):
                for e in exts.split(","):
                    ext_bundles.setdefault(e, set()).add(b)
    if not ext_bundles:
        lines.append("  (no extension seen)")
    for ext, bs in sorted(ext_bundles.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        named = Counter()
        if len(findings):
            sub = findings[findings["extension"].fillna("").str.split(",").apply(lambda xs: ext in xs)]
            for cause, grp in sub.groupby("cause", observed=True):
                named[str(cause)] = grp["bundle"].nunique()
        frame = ok[ok["bundle"].isin(bs)]
        causes = ", ".join(f"{k} {v}" for k, v in named.most_common(4)) if named else top(frame)
        lines.append(f"  {ext:50} {len(bs):5d} bundle(s)  {causes}")
    return "\n".join(visible(line) for line in lines)


# --- the run -------------------------------------------------------------------------------------
@dataclass
class Fleet:
    """The result of a batch: the two tables and where the reports are."""

    bundles: Any
    findings: Any
    out: Path | None = None
    analysed: int = 0
    skipped: int = 0
    wall_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self):
        """The rows of bundles that could not be analysed (error or timeout)."""
        return self.bundles[self.bundles["status"].isin(["error", "timeout"])]

    @property
    def exit_code(self) -> int:
        return 1 if len(self.failed) else 0

    def report(self, bundle: str) -> dict:
        """The JSON report of one bundle (by its ``bundle`` id)."""
        if self.out is None:
            raise FileNotFoundError("this fleet has no output folder")
        return json.loads((self.out / "reports" / f"{bundle}.json").read_text(encoding="utf-8"))

    def summary(self) -> str:
        return fleet_summary(self.bundles, self.findings)

    def __repr__(self) -> str:
        return (f"Fleet({len(self.bundles)} bundles, {len(self.failed)} failed, {len(self.findings)} findings, "
                f"out={str(self.out)!r})")


def _current_patterns_version(options: dict) -> str | None:
    try:
        from .patterns import library_version
        return library_version(Path(options["patterns"]) if options.get("patterns") else None)
    except Exception:  # noqa: BLE001 - no version: nothing is reused, the analysis reports the error
        return None


def execute(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, *, jobs: int = 1,
            timeout: float | None = 600.0, force: bool = False, engine: str = "local",
            scheduler: str | None = None, analyze_fn: Callable | str | None = None,
            options: dict[str, Any] | None = None, patterns_version: str | None = None,
            progress: str | bool = "auto", progress_stream=None) -> Fleet:
    """The batch itself; raises :class:`BatchError` for unusable arguments."""
    t_start = time.perf_counter()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise BatchError("no inputs given")
    if engine not in ("local", "dask"):
        raise BatchError(f"unknown engine {engine!r} (use local or dask)")
    if not isinstance(jobs, int) or jobs < 1:
        raise BatchError(f"--jobs must be 1 or more, not {jobs!r}")
    if timeout is not None and not timeout > 0:
        raise BatchError(f"--timeout must be more than 0 seconds, not {timeout!r}")
    if scheduler and engine != "dask":
        raise BatchError("--scheduler needs --engine dask")
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {out} exists and is not a folder")
    try:
        (out / "reports").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    options = dict(options or {})
    if analyze_fn is None and patterns_version is None:
        patterns_version = _current_patterns_version(options)

    lock = _lock(out)
    try:
        return _execute(inputs, out, jobs=jobs, timeout=timeout, force=force, engine=engine, scheduler=scheduler,
                        analyze_fn=analyze_fn, options=options, patterns_version=patterns_version,
                        progress=progress, progress_stream=progress_stream, t_start=t_start)
    finally:
        lock.close()


def _lock(out: Path):
    """An exclusive lock on ``out/.lock``: two runs never write one output folder at once."""
    fh = open(out / ".lock", "a+")
    try:
        import fcntl
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - not POSIX: no lock
        pass
    except OSError:
        fh.close()
        raise BatchError(f"another batch run is writing to {out}") from None
    return fh


def _execute(inputs, out: Path, *, jobs, timeout, force, engine, scheduler, analyze_fn, options,
             patterns_version, progress, progress_stream, t_start) -> Fleet:
    paths, problems = expand_inputs(inputs, exclude=[out])
    if not paths:
        why = "; ".join(f"{p.input}: {p.error}" for p in problems[:5])
        raise BatchError(f"no bundles found ({why})" if why else "no bundles found")
    ids = bundle_ids(paths)
    state = State(out / STATE_FILE)
    _import_in_background("pandas")  # the tables at the end need it: import it while bundles run
    engine_ = None
    if engine == "local":
        engine_ = LocalEngine(jobs, timeout)
        # bundles new to this folder (or all, with --force) will be analysed: their workers start
        # and load the patterns while the inputs are hashed
        known = [state.entries.get(state_key(str(p))) for p in paths]
        new = sum(1 for e in known if force or e is None or e["row"].get("patterns_version") != patterns_version)
        if new:
            engine_.prestart(min(jobs, new), {"analyze": analyze_fn, "options": options})
    try:
        return _execute_with(paths, problems, ids, out, state, engine_, force=force, engine=engine,
                             scheduler=scheduler, analyze_fn=analyze_fn, options=options, jobs=jobs,
                             timeout=timeout, patterns_version=patterns_version, progress=progress,
                             progress_stream=progress_stream, t_start=t_start)
    finally:
        if engine_ is not None:
            engine_.close()


def _import_in_background(module: str) -> None:
    """Import ``module`` in a daemon thread (a free core does it while the workers analyse)."""
    def run() -> None:
        try:
            __import__(module)
        except Exception:  # noqa: BLE001 - the real import later says what is wrong
            pass
    threading.Thread(target=run, name=f"import-{module}", daemon=True).start()


def _execute_with(paths, problems, ids, out: Path, state: State, engine_, *, force, engine, scheduler,
                  analyze_fn, options, jobs, timeout, patterns_version, progress, progress_stream,
                  t_start) -> Fleet:
    reports = out / "reports"
    now = iso(datetime.now(timezone.utc))

    # content hashes, in threads (hashlib releases the GIL on big buffers)
    def hashed(p: Path):
        try:
            return content_hash(p)
        except Exception as exc:  # noqa: BLE001 - OSError mostly; any error is the bundle's row
            return exc

    with ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
        hashes = dict(zip(paths, pool.map(hashed, paths)))

    final: dict[str, dict] = {}  # state key -> entry, for this run's bundles
    tasks: list[dict] = []
    skipped = 0
    for p in paths:
        key, bid, h = str(p), ids[p], hashes[p]
        skey = state_key(key)
        base = {"bundle": bid, "path": key, "analyzed_at": now}
        if isinstance(h, Exception):
            row = dict(base, content_hash=None, status="error", error_kind="unreadable",
                       error=_one_line(f"cannot read: {h.strerror or h}" if isinstance(h, OSError) else str(h)),
                       patterns_version=patterns_version)
            final[key] = {"key": skey, "row": row, "findings": []}
            continue
        digest, size = h
        if not force:
            prev = state.entries.get(skey)
            candidates = ([prev] if prev else []) + state.by_hash(digest, patterns_version)
            reuse = next((e for e in candidates if e["row"].get("content_hash") == digest
                          and e["row"].get("patterns_version") == patterns_version and _reusable(e)), None)
            if reuse is not None:
                old_id = reuse["row"].get("bundle")
                entry = {"key": skey, "row": dict(reuse["row"], bundle=bid, path=scrub(key)),
                         "findings": reuse.get("findings", [])}
                src, dst = reports / f"{old_id}.json", reports / f"{bid}.json"
                if old_id != bid and src.exists() and not dst.exists():
                    _atomic_write(dst, src.read_bytes())
                if entry != state.entries.get(skey):
                    state.append(entry)
                final[key] = entry
                skipped += 1
                continue
        tasks.append({"id": bid, "path": key, "hash": digest, "size": size, "analyze": analyze_fn,
                      "options": options})
    tasks.sort(key=lambda t: -t["size"])  # biggest first: the pool stays busy to the end
    # each bundle's spooled copies go to a folder of this run's, removed when its row is in: a
    # worker killed at its timeout cannot clean up (red team 17: 66 MB of a bundle's logs, secrets
    # included, were left in TMPDIR per timeout). Not for a remote dask cluster: other machines.
    scratch = tempfile.mkdtemp(prefix="loganalyzer-batch-") if tasks and not (engine == "dask" and scheduler) \
        else None
    for i, task in enumerate(tasks):
        task["tmp_dir"] = os.path.join(scratch, f"{i:06d}") if scratch else None

    prog = _Progress(len(paths), progress, progress_stream)

    def on_result(task: dict, result: dict) -> None:
        """Store one bundle's result; whatever fails here makes it that bundle's error row."""
        if task.get("tmp_dir"):
            shutil.rmtree(task["tmp_dir"], ignore_errors=True)
        try:
            entry, text = _entry(task, result, patterns_version)
        except Exception as exc:  # noqa: BLE001 - the report cannot become rows: the bundle's row says so
            entry, text = _entry(task, _failure("error", "exception", f"cannot tabulate the report: "
                                                f"{type(exc).__name__}: {exc}", _seconds_of(result)),
                                 patterns_version)
        target = reports / f"{task['id']}.json"
        try:
            if text is not None:
                _atomic_write(target, _utf8(text))
            elif target.exists():
                target.unlink()
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: this bundle's row says so
            entry, _ = _entry(task, _failure("error", "exception", f"cannot write the report: "
                                             f"{type(exc).__name__}: {exc}", _seconds_of(result)),
                              patterns_version)
        state.append(entry)
        final[task["path"]] = entry
        try:
            prog.update(entry["row"])
        except Exception:  # noqa: BLE001 - a progress line is never worth the batch
            pass

    try:
        with prog:
            prog.skipped(skipped)
            if tasks:
                if engine == "dask":
                    run_dask(tasks, jobs, timeout, scheduler, on_result)
                else:
                    engine_.run(tasks, on_result)
    finally:
        state.close()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    bundle_rows: list[dict] = []
    finding_rows: list[dict] = []
    for p in paths:
        entry = final.get(str(p)) or {"key": str(p), "row": {
            "bundle": ids[p], "path": str(p), "status": "error", "error_kind": "exception",
            "error": "no result came back for this bundle", "analyzed_at": now}}
        row, rows = _tabulate(entry)
        bundle_rows.append(row)
        finding_rows.extend(rows)
    for prob in problems:
        if prob.status == "duplicate":
            rp = Path(prob.path) if prob.path else None
            orig = final.get(str(rp)) if rp else None
            bid = (orig["row"]["bundle"] if orig else re.sub(r"[^A-Za-z0-9._-]+", "_", prob.input)) + "#dup"
            bundle_rows.append({"bundle": bid, "path": prob.path, "status": "duplicate", "error": prob.error,
                                "content_hash": orig["row"].get("content_hash") if orig else None,
                                "analyzed_at": now})
        else:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(prob.input).name or prob.input).strip("._-") or "input"
            bundle_rows.append({"bundle": name, "path": prob.path or prob.input, "status": "error",
                                "error": prob.error, "analyzed_at": now})
    bundle_rows[len(paths):] = [_tabulate({"row": r})[0] for r in bundle_rows[len(paths):]]
    bundles_df, findings_df = tables(bundle_rows, finding_rows)
    write_tables(out, bundles_df, findings_df)
    state.compact()
    return Fleet(bundles_df, findings_df, out, analysed=len(tasks), skipped=skipped,
                 wall_seconds=time.perf_counter() - t_start)


def run_batch(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, jobs: int = 1,
              timeout: float | None = 600.0, force: bool = False, engine: str = "local",
              scheduler: str | None = None, **kwargs: Any) -> int:
    """The ``loganalyze batch`` command: run, print the fleet summary; 0 all analysed, 1 some
    failed, 2 unusable arguments. ``kwargs`` go to :func:`execute` (``analyze_fn``, ``options``,
    ``progress``, ...)."""
    stdout = kwargs.pop("stdout", None) or sys.stdout
    old: dict = {}
    if threading.current_thread() is threading.main_thread():
        def _term(signum, frame):  # a killed run stops its workers and keeps what is finished
            raise KeyboardInterrupt
        hup = getattr(signal, "SIGHUP", None)  # a closed terminal too, unless nohup ignores it
        for sig in (signal.SIGTERM, hup):
            if sig is not None and (sig == signal.SIGTERM or signal.getsignal(sig) is not signal.SIG_IGN):
                old[sig] = signal.signal(sig, _term)
    try:
        fleet = execute(inputs, out, jobs=jobs, timeout=timeout, force=force, engine=engine,
                        scheduler=scheduler, **kwargs)
    except BatchError as exc:
        print(f"loganalyze: error: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    outp = Path(out)
    print(fleet.summary(), file=stdout)
    print(f"\n{fleet.analysed} analysed, {fleet.skipped} unchanged (skipped), {len(fleet.failed)} failed "
          f"in {fleet.wall_seconds:.1f} s. Tables: {outp / 'bundles.parquet'}, {outp / 'findings.parquet'} "
          f"(and .csv); reports: {outp / 'reports'}", file=stdout)
    return fleet.exit_code


def batch(paths: Sequence[str | os.PathLike] | str | os.PathLike, jobs: int | None = None,
          timeout: float | None = 600.0, out: str | os.PathLike | None = None, force: bool = False,
          engine: str = "local", scheduler: str | None = None, progress: str | bool = False,
          analyze_fn: Callable | str | None = None, **options: Any) -> Fleet:
    """Analyse many bundles for a notebook: returns a :class:`Fleet` (``.bundles``, ``.findings``).

    ``out`` defaults to a new temporary folder (kept, so ``fleet.report(id)`` works); ``options``
    go to :func:`loganalyzer.analyze` (``patterns=``, ``since=``, ``until=``). Raises
    :class:`BatchError` for unusable arguments.
    """
    if out is None:
        out = tempfile.mkdtemp(prefix="loganalyzer-batch-")
    return execute(paths, out, jobs=jobs or os.cpu_count() or 1, timeout=timeout, force=force,
                   engine=engine, scheduler=scheduler, analyze_fn=analyze_fn, options=options,
                   progress=progress)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        sys.exit(_serve_main())
    print("usage: loganalyze batch INPUTS... --out DIR", file=sys.stderr)
    sys.exit(2)
