"""System logs: syslog / messages / kern.log / journal text exports, and cloud-init logs.

``syslog``::

    May 17 07:01:22 host kernel: [18823778.902598] python3 invoked oom-killer: gfp_mask=...   RFC 3164
    2023-05-17T07:01:22.123456+00:00 host python3[20236]: 2023-05-17T07:01:22.1Z INFO ...    ISO / RFC 5424
    <30>1 2023-05-17T07:01:22.123Z host waagent 916 - - <agent line>                          RFC 5424

RFC 3164 stamps carry no year: it is inferred from the collection time (or the last time seen),
rolling over when months go backwards; such records have ``tz_guess=True``. Payloads of
python/python3/waagent are agent lines: their header gives level/thread/prefix/message (the
record kind stays ``syslog``), and header-less payloads from the same process continue the
previous agent record (``[stdout]`` dumps, tracebacks). Kernel lines lose the ``kernel:`` tag and
the uptime stamp. Blank lines between records are skipped.

``cloud_init_log``::

    2023-07-03 15:51:26,042 - util.py[DEBUG]: Running command ['mount', '-o', 'ro', ...]      cloud-init.log
    Cloud-init v. 23.1.2 running 'init' at Mon, 03 Jul 2023 15:51:20 +0000. Up 7.3 seconds.  cloud-init-output.log
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Iterable, Iterator

from ..model import Record
from . import ParseContext, text_parser
from .extension_log import token_level
from .waagent_log import AgentLineParser, RecordBuilder, aware_ts, say_undated

UTC = timezone.utc
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
AGENT_PROGRAMS = re.compile(r"(?:.*/)?(?:python[\d.]*|waagent|WALinuxAgent)$")

_BSD_RE = re.compile(
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? "
    r"(.*)$", re.S)
_ISO_RE = re.compile(
    r"(?:<\d{1,3}>\d{0,2} ?)?(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)? "
    r"(.*)$", re.S)
# "<host> <prog>[<pid>]: <msg>" / "<host> <prog>: <msg>"
_HOST_TAG_RE = re.compile(r"(\S+) ([^\s\[\]:]+)(?:\[(\d+)\])?: ?(.*)$", re.S)
_TAG_RE = re.compile(r"([^\s\[\]:]+)(?:\[(\d+)\])?: ?(.*)$", re.S)
# RFC 5424 after the stamp: "<host> <app> <procid> <msgid> <structured-data|-> <msg>"
_R5424_RE = re.compile(r"(\S+) (\S+) (\S+) (\S+) (-|\[.*?\](?:\[.*?\])*) ?(.*)$", re.S)
_UPTIME_RE = re.compile(r"\[\s*\d+\.\d+\]\s?")


def journal_json(line: str) -> str | None:
    """A ``journalctl -o json`` record as the short-iso line journalctl would print, or None.

    SAMPLE: ``{"__REALTIME_TIMESTAMP":"1731308482100000","_HOSTNAME":"vm","SYSLOG_IDENTIFIER":"python3","_PID":"974","MESSAGE":"..."}``
    -> ``2024-11-11T07:01:22.100000Z vm python3[974]: ...`` (red team 14: an export read as text gave
    no time and no finding). MESSAGE may be a list of byte values (binary text)."""
    doc = _journal_doc(line)
    return None if doc is None else _journal_line(doc)[0]


def _journal_doc(line: str) -> dict | None:
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) and "MESSAGE" in doc else None


def _journal_line(doc: dict) -> tuple[str | None, bool]:
    """(the short line of a journal record, whether its time was readable). A record whose
    ``__REALTIME_TIMESTAMP`` is no positive number of microseconds journald could write becomes the
    undated ``python3[974]: ...`` (red team 16: it stayed raw JSON, unsaid); None: no text."""
    msg = doc["MESSAGE"]
    if isinstance(msg, list):
        msg = bytes(b for b in msg if isinstance(b, int) and 0 <= b < 256).decode("utf-8", "replace")
    if not isinstance(msg, str):
        return None, True
    stamp = None
    try:
        micros = int(doc.get("__REALTIME_TIMESTAMP"))
        if micros > 0:
            stamp = datetime.fromtimestamp(micros / 1e6, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    host = (str(doc.get("_HOSTNAME") or "-").split() or ["-"])[0][:200]  # red team 15: " " crashed
    ident = "".join(str(doc.get("SYSLOG_IDENTIFIER") or doc.get("_COMM") or "-").split())[:200] or "-"
    pid = str(doc.get("_PID") or doc.get("SYSLOG_PID") or "")
    tag = f"{ident}[{pid}]" if pid.isdigit() else ident
    text = msg.replace("\r\n", "\n").replace("\n", " ")
    return (f"{stamp} {host} {tag}: " if stamp else f"{tag}: ") + text, stamp is not None

_KERNEL_ERR_RE = re.compile(
    r"invoked oom-killer|Out of memory|Killed process|oom-kill:|oom_reaper|I/O error|"
    r"EXT4-fs error|XFS \(\S+\): (?:Corruption|metadata I/O error)|Remounting filesystem read-only|"
    r"Kernel panic|BUG: |general protection fault|segfault")
_KERNEL_WARN_RE = re.compile(r"blocked for more than \d+ seconds|hung_task_timeout|soft lockup")
_SYSTEMD_ERR_RE = re.compile(
    r"Failed to start |failed with result|status=\d+/(?!SUCCESS)[A-Z]+|code=killed|"
    r"Main process exited, code=exited, status=(?!0/)\d+")


def _reference(ctx: ParseContext) -> tuple[datetime, bool]:
    """The time the bundle was taken (or the last time seen), and whether the bundle told it.
    Without results.txt: the newest stamp with a year in the bundle's agent logs and syslogs (the
    analyzer puts it in ``ctx.scratch``) and a month, for lines written after it."""
    ref = ctx.facts.collection_time or ctx.facts.last_seen
    if ref is None and ctx.scratch.get("year_reference") is not None:
        ref = ctx.scratch["year_reference"] + timedelta(days=31)
    if ref is None:
        return datetime.now(UTC), False
    return (ref if ref.tzinfo is not None else ref.replace(tzinfo=UTC)), True


class _YearGuess:
    """Year for RFC 3164 stamps: the reference year (or the one before, for stamps after the
    reference), then +1 whenever the month goes backwards by more than one, unless the reference is
    the collection time and the new year would pass it. Without a known reference the year of the
    first embedded agent stamp of the same month wins (:meth:`anchor`)."""

    __slots__ = ("ref", "known", "bounded", "year", "last_month")

    def __init__(self, ref: datetime, known: bool) -> None:
        self.ref = ref
        self.known = known
        self.bounded = known  # the reference is the collection time: no stamp comes a day after it
        self.year: int | None = None
        self.last_month = 0

    def anchor(self, ts: datetime) -> None:
        if not self.known and ts.month == self.last_month:
            self.year = ts.year
        self.known = True

    def __call__(self, month: int, day: int) -> int:
        if self.year is None:
            self.year = self.ref.year
            if (month, day) > (self.ref.month, self.ref.day + 1):
                self.year -= 1
        elif month < self.last_month - 1 or (self.last_month == 12 and month == 1):
            # a new year, unless that would pass the collection time: then the line is a glitch
            # (red team 14: one early-boot 'Jan  1' line dated every later line a year ahead)
            if not self.bounded or (self.year + 1, month, day) <= (self.ref.year, self.ref.month, self.ref.day + 1):
                self.year += 1
        self.last_month = month
        return self.year





@text_parser("syslog")
def parse_syslog(lines: Iterable[str], source: str, ctx: ParseContext) -> Iterator[Record]:
    """Syslog/journal text. SAMPLE: ``May 29 21:27:14 host python3[4974]: 2016/05/29 21:26:43.913018 ERROR run cmd 'pidof dhclient' failed``"""
    agent = AgentLineParser(ctx)
    year = _YearGuess(*_reference(ctx))
    b = RecordBuilder(source, "syslog", lean=ctx.lean)
    agent_key: tuple[str, str | None] | None = None  # (prog, pid) of the open agent record
    bad = 0
    n = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line[:1] == "{" and '"MESSAGE"' in line and (doc := _journal_doc(line)) is not None:
            short, dated = _journal_line(doc)
            if short is not None:
                line = short
                bad += not dated
                if ctx.lean is not None:  # JSON escapes can hide a pre-filter literal: always matched
                    ctx.lean.marks.add(n)
        ts: datetime | None = None
        guess = False
        host = prog = pid = None
        payload = line
        c = line[:1]
        m = _BSD_RE.match(line) if c.isalpha() else None
        if m is not None:
            mon, day, hh, mi, ss, frac, rest = m.groups()
            try:
                naive = datetime(year(_MONTHS[mon], int(day)), _MONTHS[mon], int(day), int(hh),
                                 int(mi), int(ss), int(frac.ljust(6, "0")) if frac else 0)
                ts, guess = agent.local_ts(naive.isoformat(" ")), True
            except (ValueError, OverflowError):
                bad += 1
            m2 = _HOST_TAG_RE.match(rest)
            if m2 is not None:
                host, prog, pid, payload = m2.groups()
            else:
                payload = rest
        elif (c in "0123456789<") and (m := _ISO_RE.match(line)) is not None:
            date, time, frac, zone, rest = m.groups()
            ts, guess = aware_ts(date, time, frac, zone, agent)
            if ts is None:
                bad += 1
            m2 = _R5424_RE.match(rest) if c == "<" else None
            if m2 is not None:
                host, prog, pid, _msgid, _sd, payload = m2.groups()
                pid = None if pid == "-" else pid
            elif (m2 := _HOST_TAG_RE.match(rest)) is not None:
                host, prog, pid, payload = m2.groups()
            else:
                payload = rest
        elif (m := _TAG_RE.match(line)) is not None and m.group(2) is not None:
            prog, pid, payload = m.groups()  # pasted without date and host: "python3[1611]: msg"
        elif line[:1] in " \t" and b.open:
            done = b.add(n, line)  # journalctl indents the continuation lines of multi-line messages
            if done is not None:
                yield done
            continue

        done: Record | None = None
        if prog is not None and AGENT_PROGRAMS.match(prog):
            h = agent.header(payload)
            if h is not None:
                if h.ts is not None and not year.known and m is not None and ts is not None:
                    year.anchor(h.ts)
                done = b.start(n, line, h.message, h.ts or ts,
                               h.level, h.thread, h.prefix or prog, h.era,
                               h.tz_guess if h.ts is not None else guess)
                agent_key = (prog, pid)
            elif agent_key == (prog, pid) and b.open:
                done = b.add(n, payload, line)
            else:
                done = b.start(n, line, payload, ts, None, None, prog, None, guess)
                agent_key = (prog, pid)
        else:
            agent_key = None
            level = None
            if prog == "kernel":
                payload = _UPTIME_RE.sub("", payload, count=1) if payload[:1] == "[" else payload
                if _KERNEL_ERR_RE.search(payload):
                    level = "ERROR"
                elif _KERNEL_WARN_RE.search(payload):
                    level = "WARNING"
            elif prog is not None and prog.startswith("systemd") and _SYSTEMD_ERR_RE.search(payload):
                level = "ERROR"
            done = b.start(n, line, payload, ts, level, None, prog, None, guess)
        if done is not None:
            yield done
    last = b.finish()
    if last is not None:
        yield last
    if bad:
        ctx.problem(source, f"{bad} syslog line(s) with an impossible date; kept without time",
                    key="problem.bad_syslog_dates", params={"n": bad})
    say_undated(b, ctx, n)  # e.g. 'journalctl -o export' (KEY=VALUE lines): red team 14


# -- cloud-init -----------------------------------------------------------------------------
_CI_RE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) - ([^\s\[]+)\[(\w+)\]: ?(.*)$", re.S)
_CI_BANNER_RE = re.compile(
    r"Cloud-init v\. \S+ (?:running '[^']*'|finished) at "
    r"(\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4})")
_CI_LEVELS = {"DEBUG": "VERBOSE", "INFO": "INFO", "WARNING": "WARNING", "WARN": "WARNING",
              "ERROR": "ERROR", "CRITICAL": "ERROR", "FATAL": "ERROR"}


@text_parser("cloud_init_log")
def parse_cloud_init_log(lines: Iterable[str], source: str, ctx: ParseContext) -> Iterator[Record]:
    """cloud-init.log and cloud-init-output.log. SAMPLE: ``2023-07-03 15:51:26,042 - util.py[DEBUG]: Running command``"""
    agent = AgentLineParser(ctx)
    b = RecordBuilder(source, "cloud_init_log", lean=ctx.lean)
    in_ci_record = False  # the open record is a cloud-init.log record (continuations join it)
    n = 0
    for n, line in enumerate(lines, 1):
        done = None
        c = line[:1]
        if c.isdigit() and (m := _CI_RE.match(line)) is not None:
            stamp, ms, module, lvl, msg = m.groups()
            ts = agent.local_ts(f"{stamp}.{ms}000")
            done = b.start(n, line, msg, ts, _CI_LEVELS.get(lvl.upper()), None, module, None,
                           agent.tz_guess)
            in_ci_record = True
        elif c == "C" and (m := _CI_BANNER_RE.match(line)) is not None:
            try:
                ts = parsedate_to_datetime(m.group(1)).astimezone(UTC)
            except (ValueError, TypeError, OverflowError):
                ts = None
            done = b.start(n, line, line, ts, "INFO")
            in_ci_record = False
        elif b.open and (in_ci_record or c in " \t" or not line.strip()):
            done = b.add(n, line)
        else:
            done = b.start(n, line, line, None, token_level(line) if line.strip() else None)
            in_ci_record = False
        if done is not None:
            yield done
    last = b.finish()
    if last is not None:
        yield last
