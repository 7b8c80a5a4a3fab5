"""results.txt of the agent's log collector (agent-logs.md §3.4; ``common/logcollector.py``).

Python logging, UTC, no fractions::

    2024-05-01T10:00:00Z INFO Starting log collection at 2024-05-01T10:00:00Z
    2024-05-01T10:00:01Z INFO Adding file /var/log/waagent.log, size 1234 b
    2024-05-01T10:00:01Z WARNING Archive too big, done with adding files.

Fills ``facts.collection_time`` (source "results.txt") and ``facts.extra['collector']``; yields a
record (kind ``results_txt``) for each WARNING/ERROR entry, with its continuation lines.
"""
from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any, Iterator

from ..model import Record
from ..textio import iter_lines
from . import ParseContext, data_parser
from .misc import parse_utc, redact

_HEADER = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z) (?P<level>INFO|WARNING|ERROR) (?P<msg>.*)$")
_START = re.compile(r"^Starting log collection at (\S+)")
_FINISH = re.compile(r"^Finishing log collection at (\S+)")
_MODE = re.compile(r"^Using log collection mode (\w+)")
_ADD = re.compile(r"^Adding file (?P<path>.+), size (?P<size>\d+) b$")
_ADD_TRUNC = re.compile(r"^Adding truncated file (?P<path>.+), size (?P<size>\d+) b$")
_DISCARD = re.compile(r"^Discarding large binary file (?P<path>.+)$")
_MISSING = re.compile(r"^File (?P<path>.+) does not exist, skipping collection for this file")
_UNCOMPRESSED = re.compile(r"^Uncompressed archive size is (\d+) b")
_COMPRESSED = re.compile(r"^Successfully compressed files\. Compressed archive size is (\d+) b")
_ELAPSED = re.compile(r"^Elapsed time: (\d+) ms")
_FAILED = re.compile(r"^Failed to collect logs")
MAX_CONT = 50  # continuation lines kept per WARNING/ERROR record
MAX_LISTED = 200  # paths listed per category
MAX_ADDED = 20_000  # paths of added files kept (checked against the bundle's members)


def _ts(value: str) -> datetime | None:
    return parse_utc(value)


@data_parser("results_txt")
def parse_results_txt(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """Collection time, per-file outcome counts, 'Archive too big'; records for WARNING/ERROR."""
    col: dict[str, Any] = {
        "source": source, "mode": None, "start": None, "finish": None,
        "added": 0, "truncated": 0, "discarded": 0, "missing": 0,
        "added_files": [], "truncated_files": [], "discarded_files": [], "archive_too_big": False,
        "uncompressed_bytes": None, "compressed_bytes": None, "elapsed_ms": None,
        "failed": False, "warnings": 0, "errors": 0,
    }
    pending: Record | None = None
    cont = 0
    headers = 0
    for no, line in enumerate(iter_lines(io.BytesIO(data)), 1):
        m = _HEADER.match(line)
        if not m:
            if pending is not None and cont < MAX_CONT and line.strip():
                pending.message += "\n" + redact(line)
                pending.end_line = no
                cont += 1
            continue
        headers += 1
        if pending is not None:
            yield pending
            pending = None
        ts = _ts(m.group("ts"))
        level, msg = m.group("level"), m.group("msg")
        if (mm := _START.match(msg)):
            col["start"] = mm.group(1)
            start = _ts(mm.group(1)) or ts
            if start is not None:
                ctx.facts.collection_time = start
                ctx.facts.collection_time_source = "results.txt"
        elif (mm := _FINISH.match(msg)):
            col["finish"] = mm.group(1)
        elif (mm := _MODE.match(msg)):
            col["mode"] = mm.group(1)
        elif (mm := _ADD_TRUNC.match(msg)):
            col["truncated"] += 1
            if len(col["truncated_files"]) < MAX_LISTED:
                col["truncated_files"].append(mm.group("path"))
        elif (mm := _ADD.match(msg)):
            col["added"] += 1
            if len(col["added_files"]) < MAX_ADDED:
                col["added_files"].append(mm.group("path"))
        elif (mm := _DISCARD.match(msg)):
            col["discarded"] += 1
            if len(col["discarded_files"]) < MAX_LISTED:
                col["discarded_files"].append(mm.group("path"))
        elif msg.startswith("Archive too big"):
            col["archive_too_big"] = True
        elif _MISSING.match(msg):
            col["missing"] += 1
        elif (mm := _UNCOMPRESSED.match(msg)):
            col["uncompressed_bytes"] = int(mm.group(1))
        elif (mm := _COMPRESSED.match(msg)):
            col["compressed_bytes"] = int(mm.group(1))
        elif (mm := _ELAPSED.match(msg)):
            col["elapsed_ms"] = int(mm.group(1))
        elif _FAILED.match(msg):
            col["failed"] = True
        if level in ("WARNING", "ERROR"):
            col["warnings" if level == "WARNING" else "errors"] += 1
            text = redact(msg)
            pending = Record(source=source, line=no, ts=ts, level=level, message=text,
                             kind="results_txt", raw=redact(line), end_line=no)
            cont = 0
    if pending is not None:
        yield pending
    if headers == 0:
        ctx.problem(source, "no results.txt log line found")
        return
    if col["start"] is None:
        ctx.problem(source, "results.txt has no 'Starting log collection' line", severity="info")
    ctx.facts.extra["collector"] = col
    # what the collector itself left out (red team 10: only facts.extra said so)
    if col["archive_too_big"]:
        ctx.problem(source, "the log collector stopped adding files ('Archive too big'): the files it would have "
                            "added after that are not in the bundle", partial=True)
    if col["truncated"]:
        ctx.problem(source, f"the log collector added {col['truncated']} file(s) cut to their last part "
                            "(truncated_*): their older lines are not in the bundle", severity="info")
    if col["discarded"]:
        names = ", ".join(col["discarded_files"][:5]) + (", ..." if col["discarded"] > 5 else "")
        ctx.problem(source, f"the log collector left out {col['discarded']} large binary file(s): {names}",
                    severity="info")

