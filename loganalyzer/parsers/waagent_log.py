"""WALinuxAgent log lines (``/var/log/waagent.log`` and per-extension ``CommandExecution.log``).

One file may mix all five header eras (agent-logs.md §1.2, §1.5)::

    ERROR:HTTP Err: response is empty.                                            E0, pasted without a timestamp
    2015/09/20 14:00:52 ERROR:Retry=1                                             E0, local time, no level word
    2017/09/20 08:15:01.123456 INFO [Microsoft.OSTCExtensions.Foo-1.5.2] msg      E1, local time
    2019/10/31 14:10:44.653792 INFO ExtHandler Wire server endpoint:168.63.129.16 E2, local time
    2020-01-20T10:00:00.123456Z INFO Daemon Azure Linux Agent Version:2.2.46      E3, UTC
    2024-09-30T06:39:27.159929Z INFO ExtHandler ExtHandler ProcessExtensions...   E4, UTC, thread + prefix

Lines without a header continue the previous record (tracebacks, ``[stdout]``/``[stderr]`` dumps,
``Inner error:``). Lines wrapped by syslog/journal (``... python3[1611]: <agent line>``), by an
appliance console (``Waagent - <agent line>``) or pasted as quoted strings are unwrapped.

:class:`AgentLineParser` is the header logic; the syslog parser reuses it for agent payloads.
"""
from __future__ import annotations

import re
from functools import partial
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable, Iterable, Iterator, NamedTuple

from ..redact import _PEM_HEAD, MARK, PEM_END, needs_scrub, scrub
from ..redact import redact as redact_full
from ..model import Record
from . import ParseContext, text_parser

UTC = timezone.utc
_ZERO = timedelta(0)
PEM_MAX_LINES = 200  # lines a key block spanning records is masked for, at most (no END line seen)
# what a line inside a key block looks like: base64, a PEM/SSH2 header, or nothing; only such lines
# are masked (red team 16: a BEGIN whose END was lost hid the next 200 log lines). Whether a block is
# open depends on its BEGIN and END lines only: the fast reader sees those, not every line between.
_KEY_BODY = re.compile(r"(?=\S*[0-9+/=_-])[A-Za-z0-9+/_-]{3,}={0,2}|(?:Proc-Type|DEK-Info|Comment|Subject): [^\n]*|")


CHPASSWD_LINES = 50  # lines after a 'chpasswd' line that may list users and their passwords
_CHPASSWD_LINE = re.compile(r"[ \t]*(?:- )?[\"']?[a-z_][a-z0-9_.-]{0,31}:(?![/\s])[^\s'\"]+[\"']?[ \t]*")
ORPHAN_KEY_CHARS = 40  # a whole message this long that can only be a key line is masked anywhere
ORPHAN_KEY_SHORT = 16  # ... and one this long with a key's mix of characters (a body's last line)
_KEY_MIX = re.compile(r"(?=[^a-z]*[a-z])(?=[^A-Z]*[A-Z])(?=[^0-9+/=]*[0-9+/=])")


def orphan_key_line(message: str) -> bool:
    """A one-token message of key characters: a key's body line even where its BEGIN is out of
    sight (red team 16: BEGIN in waagent.log.1, the body in waagent.log). ORPHAN_KEY_CHARS+ of them,
    or ORPHAN_KEY_SHORT+ with lower and upper case and a digit, '+', '/' or '=' (red team 17: the
    short last line of a body, ``x9LEAKRT17AAAAAAAAAAAAAAAAAAA==``, leaked)."""
    return len(message) >= ORPHAN_KEY_SHORT and " " not in message and "\n" not in message \
        and _KEY_BODY.fullmatch(message) is not None \
        and (len(message) >= ORPHAN_KEY_CHARS or _KEY_MIX.match(message) is not None)


def orphan_key_text(parts: list[str]) -> bool:
    """A record of several lines that are all key lines (or a key's END line), one at least an
    :func:`orphan_key_line`: the body of a key whose BEGIN is in an older rotation, read as the
    headerless first record of the newer one (red team 17)."""
    return len(parts) > 1 and key_lines(parts) and any(orphan_key_line(x.strip()) for x in parts)


def key_lines(parts: list[str]) -> bool:
    """Whether each of ``parts`` is a key line or a key's END line."""
    return all(_KEY_BODY.fullmatch(x.strip()) or PEM_END.match(x.strip()) for x in parts)


def key_body(text: str) -> bool:
    """Whether every line of ``text`` can be a line of a key block."""
    return all(_KEY_BODY.fullmatch(line.strip().strip("\"'")) for line in text.split("\n"))
# a repeated hour's stamps going back this far: its second pass began. The agent writes at least a
# heartbeat every 30 minutes, so at the fall-back its stamps go back ~30 - 60 minutes; a step of a
# few minutes is a late write of another thread or an NTP step (red team 15: 2 minutes back moved
# the rest of the first pass an hour on and escalated a crash loop)
FOLD_BACK_SECONDS = 600
MAX_RECORD_LINES = 200  # physical lines joined into one record before a new one is started
MAX_RECORD_CHARS = 64 * 1024

PREFIX_WORDS = frozenset(("Daemon", "ExtHandler", "LogCollector", "Firewall"))
THREAD_WORDS = frozenset((
    "Daemon", "ExtHandler", "LogCollector", "Firewall", "MainThread", "MonitorHandler",
    "EnvHandler", "SendTelemetryHandler", "TelemetryEventsCollector", "CollectLogsHandler",
    "LogCollectorMonitorHandler",
))

# "[<Handler>-<Version>]" / "[<Handler>.<Ext>-<Version>]"; stricter than the agent team's \[\S+\]
# so that message tags such as [PERIODIC], [HEARTBEAT], [CGW] or [ProtocolError] are not prefixes.
_EXT = r"\[[^\]\s]+-\d+(?:\.\d+)*\]"

_LEVELS = frozenset(("VERBOSE", "INFO", "WARNING", "ERROR"))
_ISO_TS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z ")
_SLASH_TS_RE = re.compile(r"[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?(?: |$)")
_EXT_FULL_RE = re.compile(_EXT)
_THREAD_FULL_RE = re.compile(r"[A-Za-z][\w.-]*")
_NUMBERED_THREAD_RE = re.compile(r"(?:Thread|Dummy)-\d+")
# E0 rest: optional "ERROR:"/"WARNING:" marker, optional extension prefix
_E0_RE = re.compile(r"(?:(ERROR|WARNING):)?(?:(" + _EXT + r") ?)?(.*)$", re.S)
# syslog/journal wrapper: "May 29 21:27:14 host python3[4974]: <line>", "waagent[916]: <line>"
WRAP_RE = re.compile(r"(?:^|[\s/])(?:python[\d.]*|waagent|WALinuxAgent)\[\d+\]: ?(.*)$", re.S)
# appliance / serial console: "Waagent - 2018/07/05 20:55:38.587424 INFO ..."
_APPLIANCE_RE = re.compile(r"[A-Za-z][\w.-]{0,30} - (?=\d{4}[-/])")
# pasted as a quoted string: '"2018/01/17 05:50:32.443746 ERROR Command: ...", '
# terminal control sequences: CSI (colour: ESC[0;31m), OSC (a window title: ESC]0;t BEL), a charset
# (ESC(B of tput sgr0), a two-byte one (ESC7); and a carriage return (a capture of a progress line)
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]{0,32}[ -/]{0,4}[@-~]|\x1b\][^\x07\x1b\n]{0,512}(?:\x07|\x1b\\)?"
                      r"|\x1b[()*+][0-9A-Za-z]|\x1b[=>78cDEHM]|\r")
# a line that starts like a header (any digits, colour codes before it) but is not one
_HEADERISH_RE = re.compile(r"(?:\x1b\[[0-9;?]{0,32}[@-~])*\d{1,40}[-/]\d{1,2}[-/]\d{1,2}[ T]\d{1,2}:\d{1,2}:\d{1,2}")
_QUOTED_RE = re.compile(r"\s*([\"'])(\d{4}[-/].*)\1[\s,\]]*$", re.S)

_DIGITS = frozenset("0123456789")

# secrets never leave a parser: one redaction for the whole project (loganalyzer/redact.py)
redact = scrub


def aware_ts(date: str, time: str, frac: str | None, zone: str | None,
             agent: "AgentLineParser") -> tuple[datetime | None, bool]:
    """UTC datetime and tz_guess for ``YYYY-MM-DD``, ``HH:MM:SS``, fraction and zone (None = local time)."""
    text = f"{date} {time}" + (f".{frac[:6].ljust(6, '0')}" if frac else "")
    if zone is None:
        return agent.local_ts(text), agent.tz_guess
    try:
        if zone == "Z":
            return datetime.fromisoformat(text).replace(tzinfo=timezone.utc), False
        if ":" not in zone:
            zone = zone[:3] + ":" + zone[3:]
        return datetime.fromisoformat(text + zone).astimezone(timezone.utc), False
    except (ValueError, OverflowError):
        return None, False


class AgentHeader(NamedTuple):
    """What the header of one agent line says; ``message`` is the text after the header."""

    ts: datetime | None
    tz_guess: bool
    level: str | None
    thread: str | None
    prefix: str | None
    era: str | None
    message: str
    bare: bool = False  # no timestamp (pasted "ERROR:msg" / "WARNING ExtHandler ... msg")


_new_header = partial(tuple.__new__, AgentHeader)  # AgentHeader._make without a Python frame
_fromiso = datetime.fromisoformat


class AgentLineParser:
    """Header logic for agent lines, with per-file memory of the eras seen (E3 vs E4, E1 vs E2)."""

    __slots__ = ("tz", "tz_guess", "seen_e4", "seen_e2", "bad_ts", "headers", "odd", "_utc", "_offsets", "_folds")

    def __init__(self, ctx: ParseContext | None = None) -> None:
        tz = ctx.tz if ctx is not None else UTC
        self.tz: tzinfo = tz if tz is not None else UTC
        self.tz_guess = not (ctx.tz_known if ctx is not None else False)
        self._utc = self.tz is UTC or self.tz == UTC
        self.seen_e4 = False
        self.seen_e2 = False
        self._offsets: dict[str, timedelta | tuple[timedelta, timedelta]] = {}
        self._folds: dict[str, list[int]] = {}  # repeated hour -> [fold, latest second of the hour seen]
        self.bad_ts = 0  # header lines whose date did not exist (2023/02/30 ...)
        self.headers = 0  # lines classify() read as a header
        self.odd = 0  # lines that look like a header but are not one (kept as continuation text)

    # -- timestamps --------------------------------------------------------------------
    def _hour_offsets(self, key: str) -> timedelta | tuple[timedelta, timedelta]:
        """The UTC offset of the wall-clock hour ``YYYY-MM-DD HH``; for the hour a fall-back
        repeats, (offset of its first pass, offset of its second). Raises ValueError."""
        off = self._offsets.get(key)
        if off is None:  # one zone lookup per wall-clock hour
            naive = _fromiso(key + ":30")
            first = naive.replace(tzinfo=self.tz).utcoffset() or _ZERO
            second = naive.replace(tzinfo=self.tz, fold=1).utcoffset() or _ZERO
            off = first if first <= second else (first, second)  # first < second: a spring gap
            if len(self._offsets) > 4096:
                self._offsets.clear()
            self._offsets[key] = off
        return off

    def hour_offset(self, key: str) -> timedelta | None:
        """The UTC offset of the local hour ``YYYY-MM-DD HH`` (``/`` accepted), None for an hour
        a fall-back repeats (which pass a stamp is on depends on the lines before it)."""
        if self._utc:
            return _ZERO
        try:
            off = self._hour_offsets(key.replace("/", "-"))
        except (ValueError, OverflowError, TypeError):
            return None
        return None if off.__class__ is tuple else off

    def local_ts(self, text: str) -> datetime | None:
        """'YYYY/MM/DD HH:MM:SS[.ffffff]' (or with '-') in the assumed local zone -> UTC.

        In the hour a fall-back repeats (Berlin's 02:00 - 02:59 on the last Sunday of October)
        a stamp is on the first pass until one goes back more than FOLD_BACK_SECONDS (10 minutes)
        behind the latest stamp of that hour read so far: from there on (file order) it is the
        second pass.
        Red team 11: 02:52 CEST, 02:47 CET, 02:56 CET (64 minutes) were read as 9 minutes."""
        iso = text.replace("/", "-")
        try:
            if self._utc:
                return _fromiso(iso + "+00:00")
            off = self._hour_offsets(iso[:13])
            ts = _fromiso(iso + "+00:00")
            if off.__class__ is tuple:
                off = off[self._fold(iso[:13], ts.minute * 60 + ts.second)]
            return ts - off
        except (ValueError, OverflowError, TypeError):
            self.bad_ts += 1
            return None

    def _fold(self, key: str, second: int) -> int:
        """Which pass (0, 1) of the repeated hour ``key`` a stamp at ``second`` of it is on."""
        state = self._folds.get(key)
        if state is None:
            self._folds[key] = [0, second]
            return 0
        if state[0] == 0:
            if second < state[1] - FOLD_BACK_SECONDS:
                state[0] = 1
            elif second > state[1]:
                state[1] = second
        return state[0]

    # -- headers -------------------------------------------------------------------------
    def header(self, line: str) -> AgentHeader | None:
        """Parse an (unwrapped) agent line; None when it carries no agent header.

        Fixed-position string checks instead of regexes on the hot path: this runs per line.
        """
        c = line[:1]
        if c in _DIGITS and c:
            sep = line[4:5]
            if sep == "-":  # E3/E4 "YYYY-MM-DDTHH:MM:SS.ffffffZ LEVEL ..."
                if line[10:11] != "T" or line[26:28] != "Z " or line[19:20] != ".":
                    return None
                sp = line.find(" ", 28)
                level = line[28:sp] if sp != -1 else line[28:]
                if level not in _LEVELS:
                    return None
                ts = self._utc_ts(line, 26, _ISO_TS_RE)
                if ts is False:
                    return None
                return self._iso(ts, level, line[sp + 1:] if sp != -1 else "", False)
            if sep == "/" and line[10:11] == " " and line[13:14] == ":" and line[16:17] == ":":
                c19 = line[19:20]
                if c19 == ".":  # E1/E2 "YYYY/MM/DD HH:MM:SS.ffffff LEVEL ..."
                    if line[26:27] not in (" ", ""):
                        return None
                    ts = self._slash_ts(line, 26)
                    if ts is False:
                        return None
                    sp = line.find(" ", 27)
                    level = line[27:sp] if sp != -1 else line[27:]
                    if level not in _LEVELS:  # fraction but no level word: still a header
                        return _new_header((ts, self.tz_guess, None, None, None, "E1", line[27:],
                                            False))
                    return self._e12(ts, level, line[sp + 1:] if sp != -1 else "")
                if c19 == " " or c19 == "":  # E0 "YYYY/MM/DD HH:MM:SS [ERROR:|WARNING:]msg"
                    ts = self._slash_ts(line, 19)
                    if ts is False:
                        return None
                    return self._e0(ts, line[20:], False)
            return None
        if c == "E" or c == "W":
            if line.startswith("ERROR:") or line.startswith("WARNING:"):
                return self._e0(None, line, True)
        if c == "E" or c == "W" or c == "I" or c == "V":
            sp = line.find(" ")
            if sp > 0 and line[:sp] in _LEVELS:
                h = self._iso(None, line[:sp], line[sp + 1:], True)
                if h.thread is not None or h.prefix is not None:
                    return h
        return None

    def _utc_ts(self, line: str, end: int, shape: re.Pattern) -> datetime | None | bool:
        """UTC stamp from line[:end]; None for an impossible date, False when not a stamp."""
        try:
            return _fromiso(line[:end] + "+00:00")
        except ValueError:
            if shape.match(line) is None:
                return False
            self.bad_ts += 1
            return None

    def _slash_ts(self, line: str, end: int) -> datetime | None | bool:
        ts = self.local_ts(line[:end])
        if ts is None and _SLASH_TS_RE.match(line) is None:
            self.bad_ts -= 1  # not a stamp at all, so not an impossible date either
            return False
        return ts

    def _iso(self, ts: datetime | None, level: str, rest: str, bare: bool) -> AgentHeader:
        sp = rest.find(" ")
        if sp > 0:
            tok1 = rest[:sp]
            sp2 = rest.find(" ", sp + 1)
            tok2 = rest[sp + 1:sp2] if sp2 != -1 else rest[sp + 1:]
            if (tok2 in PREFIX_WORDS or (tok2[:1] == "[" and _EXT_FULL_RE.fullmatch(tok2))) and (
                    tok1 in THREAD_WORDS or _THREAD_FULL_RE.fullmatch(tok1)):
                self.seen_e4 = True
                return _new_header((ts, False, level, tok1, tok2, "E4",
                                    rest[sp2 + 1:] if sp2 != -1 else "", bare))
            who, msg = tok1, rest[sp + 1:]
        elif sp == -1:
            who, msg = rest, ""
        else:
            who, msg = "", rest
        if who in THREAD_WORDS or (who[:1] == "[" and _EXT_FULL_RE.fullmatch(who)) or (
                who[:1] in "TD" and _NUMBERED_THREAD_RE.fullmatch(who)):
            if who[0] == "[":
                return _new_header((ts, False, level, None, who, "E4" if self.seen_e4 else "E3",
                                    msg, bare))
            if who in PREFIX_WORDS and not self.seen_e4:
                return _new_header((ts, False, level, None, who, "E3", msg, bare))
            return _new_header((ts, False, level, who, None, "E4", msg, bare))
        return _new_header((ts, False, level, None, None, "E4" if self.seen_e4 else "E3", rest,
                            bare))

    def _e12(self, ts: datetime | None, level: str, rest: str) -> AgentHeader:
        sp = rest.find(" ")
        tok = rest[:sp] if sp != -1 else rest
        if tok in PREFIX_WORDS:
            self.seen_e2 = True
            msg = rest[sp + 1:] if sp != -1 else ""
            if msg[:1] == "[":  # "ExtHandler [Handler-1.2] msg"
                sp2 = msg.find(" ")
                tok2 = msg[:sp2] if sp2 != -1 else msg
                if _EXT_FULL_RE.fullmatch(tok2):
                    return _new_header((ts, self.tz_guess, level, None, tok2, "E2",
                                        msg[sp2 + 1:] if sp2 != -1 else "", False))
            return _new_header((ts, self.tz_guess, level, None, tok, "E2", msg, False))
        if tok[:1] == "[" and _EXT_FULL_RE.fullmatch(tok):
            return _new_header((ts, self.tz_guess, level, None, tok, "E2" if self.seen_e2 else "E1",
                                rest[sp + 1:] if sp != -1 else "", False))
        return _new_header((ts, self.tz_guess, level, None, None, "E1", rest, False))

    def _e0(self, ts: datetime | None, rest: str, bare: bool) -> AgentHeader:
        marker, ext, msg = _E0_RE.match(rest).groups()  # always matches
        if bare:
            return AgentHeader(None, False, marker, None, ext, "E0", msg, True)
        return AgentHeader(ts, self.tz_guess, marker or "INFO", None, ext, "E0", msg)

    # -- wrappers ----------------------------------------------------------------------
    def classify(self, line: str) -> AgentHeader | str:
        """The header of ``line`` (after unwrapping), or the text to join as a continuation."""
        r = self._classify(line)
        if r.__class__ is AgentHeader:
            self.headers += 1
        return r

    def _classify(self, line: str) -> AgentHeader | str:
        c = line[:1]
        if c in _DIGITS and c:
            h = self.header(line)
            if h is not None and (h.level is not None or "\x1b" not in line):
                return h
            if "\x1b" in line:  # grep --color=always on the level word
                h2 = self._without_controls(line)
                if h2 is not None:
                    return h2
            if h is not None:
                return h
        elif c in "EWIV" and c:
            h = self.header(line)
            if h is not None:
                return h
        elif c == "\x1b" or c == "\r":  # a coloured or terminal capture: read without the controls
            h = self._without_controls(line)
            if h is not None:
                return h
        if "]: " in line:
            m = WRAP_RE.search(line)
            if m is not None:
                payload = m.group(1)
                h = self.header(payload)
                return payload if h is None else h
        if c == '"' or c == "'" or c == " ":
            m = _QUOTED_RE.match(line)
            if m is not None:
                h = self.header(m.group(2))
                if h is not None:
                    return h
        elif c.isalpha() and " - " in line[:36]:
            m = _APPLIANCE_RE.match(line)
            if m is not None:
                h = self.header(line[m.end():])
                if h is not None:
                    return h
        if c.isdigit() and _HEADERISH_RE.match(line):  # e.g. non-ASCII digits, a 30-digit year
            self.odd += 1
        return line

    def _without_controls(self, line: str) -> AgentHeader | None:
        """The header of ``line`` read without its terminal control sequences, or None (red team
        15: lines led by ESC(B, an OSC title or a CR were joined to the record before silently)."""
        clean = _ANSI_RE.sub("", line)
        if clean == line:
            return None
        r = self._classify(clean)
        return r if r.__class__ is AgentHeader else None

    def report(self, source: str, ctx: ParseContext, lines: int) -> None:
        """Problems of the file just read: impossible dates, header-like lines that were not
        headers, or no header at all in a file with ``lines`` lines."""
        say_bad_dates(ctx, source, self.bad_ts)
        if self.odd:
            ctx.problem(source, f"{self.odd} line(s) look like log lines but their header could not be read "
                        "(other digits, a date out of range); kept as text of the record before them",
                        key="problem.odd_headers", params={"n": self.odd})
        if not self.headers and lines:
            ctx.problem(source, f"none of its {lines} line(s) has an agent log header "
                        "('2024-09-30T06:39:27.159929Z INFO ...'): is it an agent log?",
                        key="problem.no_headers", params={"n": lines})


class KeyBlocks:
    """A private key an agent log writes one line per record (a header on every body line; red team
    15 found its body lines in the unexplained errors): after a ``-----BEGIN ... PRIVATE KEY-----``
    without its END, to the END line or PEM_MAX_LINES lines on, the records that look like key lines
    (:func:`key_body`) are masked.
    Both readers call :meth:`step` for every record that holds 'PRIVATE KEY' or while a block is
    open, in file order (the fast one sees all such records: 'PRIVATE KEY' marks a line)."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until = 0  # last line of the open block (0: none)

    def open_at(self, line: int) -> bool:
        """Whether a block is open at ``line`` (what both readers agree on, whatever they saw)."""
        return bool(self.until) and line <= self.until

    def step(self, start: int, end: int, text: str) -> str | None:
        """The masked message of the record ``start``-``end`` with message ``text``, or None."""
        masked = None
        if self.until and start <= self.until:
            m = PEM_END.search(text)
            if m is not None and "PRIVATE KEY" in text[m.start():]:
                self.until = 0
                masked = MARK + text[m.start():] if m.start() else None
            elif key_body(text):
                masked = MARK
        else:
            self.until = 0
        if not self.until and "BEGIN" in text:
            heads = list(_PEM_HEAD.finditer(text))
            if heads and "PRIVATE KEY" in heads[-1].group(0) and not PEM_END.search(text, heads[-1].end()):
                self.until = end + PEM_MAX_LINES
        return masked


def masked_raw(raw: str, first: str, masked: str) -> str:
    """``raw`` with its message line ``first`` replaced by the masked message's first line."""
    return raw.replace(first, masked.split("\n", 1)[0]) if first and first in raw else MARK


def plain(line: str) -> str:
    """``line`` without terminal control sequences (a coloured or terminal capture)."""
    return _ANSI_RE.sub("", line) if "\x1b" in line or "\r" in line else line


def say_bad_dates(ctx: ParseContext, source: str, bad: int) -> None:
    """The problem for ``bad`` header lines whose date does not exist (kept without time)."""
    if bad:
        ctx.problem(source, f"{bad} header line(s) with an impossible date; kept without time",
                    key="problem.bad_dates", params={"n": bad})


def say_undated(b: "RecordBuilder", ctx: ParseContext, lines: int) -> None:
    """A problem when none of a file's ``lines`` opened a dated record (red team 14: a coloured or
    foreign extension.log became one record of 130 lines without a word)."""
    if lines and not b.dated and b.text:
        ctx.problem(b.source, f"none of its {lines} line(s) starts with a time stamp of this log's format: "
                              "read as plain text", key="problem.undated", params={"n": lines})


_SCRUB_SEEN: dict[str, bool] = {}  # message -> needs_scrub(message), for messages that repeat
SCRUB_SEEN_MAX = 4096


def needs_scrub_seen(msg: str) -> bool:
    """:func:`needs_scrub`, remembered for the last messages asked (a log that repeats one error a
    million times pays its secret test once; the fast path asks before it builds the record)."""
    dirty = _SCRUB_SEEN.get(msg)
    if dirty is None:
        dirty = needs_scrub(msg)
        if len(msg) < 2000:
            if len(_SCRUB_SEEN) >= SCRUB_SEEN_MAX:
                _SCRUB_SEEN.clear()
            _SCRUB_SEEN[msg] = dirty
    return dirty


def _make(source: str, kind: str, start: int, end: int, h: AgentHeader | None,
          raw: str, parts: list[str]) -> Record:
    msg = parts[0] if len(parts) == 1 else "\n".join(parts).rstrip("\n")
    if needs_scrub_seen(msg):  # the header never holds a secret: raw needs it only when the message does
        msg, raw = redact_full(msg), redact_full(raw)
    if h is None:
        return Record(source, start, None, None, msg, kind, None, None, None, False, raw, end)
    # positional for speed: source, line, ts, level, message, kind, thread, prefix, era,
    # tz_guess, raw, end_line
    return Record(source, start, h.ts, h.level, msg, kind, h.thread, h.prefix, h.era,
                  h.tz_guess and h.ts is not None, raw, end)


def parse_agent_lines(lines: Iterable[str], source: str, ctx: ParseContext,
                      kind: str = "waagent_log") -> Iterator[Record]:
    """Group physical lines into agent records (see the module docstring)."""
    p = AgentLineParser(ctx)
    classify = p.classify
    keys = KeyBlocks()

    def make(start: int, end: int, h: AgentHeader | None, raw: str, parts: list[str]) -> Record:
        if not keys.open_at(start) and (orphan_key_line(parts[0]) if len(parts) == 1 else orphan_key_text(parts)):
            return _make(source, kind, start, end, h, masked_raw(raw, parts[0], MARK), [MARK])
        if keys.until or "PRIVATE KEY" in raw or (len(parts) > 1 and any("PRIVATE KEY" in x for x in parts)):
            text = parts[0] if len(parts) == 1 else "\n".join(parts).rstrip("\n")
            masked = keys.step(start, end, text)
            if masked is not None:
                return _make(source, kind, start, end, h, masked_raw(raw, parts[0], masked), [masked])
        return _make(source, kind, start, end, h, raw, parts)
    h: AgentHeader | None = None  # header of the current record (None: headerless)
    parts: list[str] | None = None
    raw = ""
    start = 0
    nchars = 0
    blank_only = False  # current record is headerless and so far only blank lines (never emitted)
    n = 0
    for n, line in enumerate(lines, 1):
        r = classify(line)
        if r.__class__ is AgentHeader and not (r.bare and parts is not None and h is not None
                                               and h.ts is not None):
            if parts is not None and not blank_only:
                yield make(start, n - 1, h, raw, parts)
            h, raw, start, parts = r, line, n, [r.message]
            nchars = len(r.message)
            blank_only = False
            continue
        text = line if r.__class__ is AgentHeader else r
        if parts is None:
            h, raw, start, parts, nchars = None, line, n, [text], len(text)
            blank_only = not text.strip()
            continue
        if blank_only and text.strip():
            # blank lines before the first text are no record (red team 10: a phantom empty record)
            h, raw, start, parts, nchars = None, line, n, [text], len(text)
            blank_only = False
            continue
        if len(parts) >= MAX_RECORD_LINES or nchars >= MAX_RECORD_CHARS:
            if not blank_only:
                yield make(start, n - 1, h, raw, parts)
            if h is not None:  # the overflow keeps when/who, but not the level
                h = h._replace(level=None, message=text, bare=False)
            raw, start, parts, nchars = line, n, [text], len(text)
            blank_only = blank_only and not text.strip()  # still no text: no record
            continue
        parts.append(text)
        nchars += len(text) + 1
    if parts is not None and not blank_only:
        yield make(start, n, h, raw, parts)
    p.report(source, ctx, 0 if parts is not None and blank_only else n)  # blank lines only: just 'empty'


@text_parser("waagent_log")
def parse_waagent_log(lines: Iterable[str], source: str, ctx: ParseContext) -> Iterator[Record]:
    """``/var/log/waagent.log*``. SAMPLE: ``2024-09-30T06:39:27.159929Z INFO ExtHandler ExtHandler msg``"""
    return parse_agent_lines(lines, source, ctx, "waagent_log")


@text_parser("command_execution_log")
def parse_command_execution_log(lines: Iterable[str], source: str,
                                ctx: ParseContext) -> Iterator[Record]:
    """``/var/log/azure/<Handler>/CommandExecution*.log`` (agent lines with the extension prefix).

    SAMPLE: ``2024-01-14T22:16:40.101234Z INFO ExtHandler [Microsoft.Azure.X-1.0.1] Executing command: ...``
    """
    return parse_agent_lines(lines, source, ctx, "command_execution_log")


class RecordBuilder:
    """Groups physical lines into records for the simpler text parsers (extension, syslog, ...).

    ``start`` opens a record at a header line, ``add`` joins a continuation line (or opens a
    headerless record when there is none, or when the current one reached the size cap).
    Every method returns the record it closed, or None. ``level_of(message)`` gives the level of a
    record whose header has none (e.g. the backup extension's failure words), read from its whole
    message when it is closed.

    ``lean`` (the fast reading path sets ``ParseContext.lean``): a one-line record that it calls
    quiet (no marked line, not WARNING/ERROR) is counted by ``lean.tally`` instead of being built;
    a record that gets a continuation line is built as usual.
    """

    __slots__ = ("source", "kind", "level_of", "lean", "dated", "text", "_cur", "_parts", "_chars", "_end", "_lite",
                 "_pem", "_chpw")

    def __init__(self, source: str, kind: str, level_of: Callable[[str], str | None] | None = None,
                 lean=None) -> None:
        self.source = source
        self.kind = kind
        self.level_of = level_of
        self.lean = lean
        self._cur: Record | None = None
        self._parts: list[str] = []
        self._chars = 0
        self._end = 0
        self._lite: tuple | None = None  # the fields of a quiet one-line record not built (yet)
        self._pem = 0  # lines still to mask of a key block begun on an earlier line (0: none)
        self._chpw = 0  # lines after a 'chpasswd' line in which a lone 'user:password' line is masked
        self.dated = 0  # records opened with a time (a file with none is not in the expected format)
        self.text = False  # a line with text was seen (a file of blank lines is only 'empty')

    def _in_key_block(self, line: str, body: str) -> bool:
        """Whether ``line`` is inside a ``-----BEGIN ... KEY-----`` block begun on an earlier line
        (syslog and cloud-init-output make a record of every line: red team 14 found the body lines
        of a private key in reports; redaction masks a block only inside one message) and looks like
        a key line. A block ends at its END line or after PEM_MAX_LINES lines."""
        if self._pem:
            if "END" in line and PEM_END.search(line):  # the END line stays: redaction matches a block by
                self._pem = 0  # it (red team 15: without it a key in one record masked the rest of it)
                return False
            self._pem -= 1
            return key_body(body)  # ``body``: the line's text after its header
        m = _PEM_HEAD.search(line)
        if m is not None and not PEM_END.search(line, m.end()):
            self._pem = PEM_MAX_LINES
        return False

    @property
    def current(self) -> Record | None:
        """The open record (its message holds only the first line until it is closed)."""
        if self._lite is not None:
            self._build_lite()
        return self._cur

    @property
    def open(self) -> bool:
        """Whether a record is open (cheaper than :attr:`current`: builds nothing)."""
        return self._cur is not None or self._lite is not None

    @property
    def open_ts(self) -> datetime | None:
        """The time of the open record, if any (builds nothing)."""
        return self._lite[3] if self._lite is not None else self._cur.ts if self._cur is not None else None

    def start(self, n: int, raw: str, message: str, ts: datetime | None = None,
              level: str | None = None, thread: str | None = None, prefix: str | None = None,
              era: str | None = None, tz_guess: bool = False) -> Record | None:
        done = self.finish()
        if ts is not None:
            self.dated += 1
        if not self.text and raw.strip():
            self.text = True
        if self._chpw:
            self._chpw -= 1
        # a lone 'user:password' line after 'chpasswd' (its list printed a line per record) or anywhere
        # in cloud-init's output ("Set the following 'random' passwords", then root:Xyz): red team 18
        if "chpasswd" in raw:
            self._chpw = CHPASSWD_LINES
        if ((self._pem or "BEGIN" in raw) and self._in_key_block(raw, message)) or \
                (not self._pem and orphan_key_line(message)) or \
                ((self._chpw or self.kind == "cloud_init_log") and _CHPASSWD_LINE.fullmatch(message) is not None):
            raw = raw.replace(message, MARK) if message and message in raw else MARK
            message = MARK
        lean = self.lean
        if lean is not None and ts is not None and n not in lean.marks and not lean.marker.everything:
            shown = level if level is not None or self.level_of is None else self.level_of(message)
            if shown != "ERROR" and shown != "WARNING":
                self._lite = (n, raw, message, ts, level, shown, thread, prefix, era, tz_guess)
                return done
        self._open(n, raw, message, ts, level, thread, prefix, era, tz_guess)
        return done

    def _open(self, n: int, raw: str, message: str, ts: datetime | None, level: str | None,
              thread: str | None, prefix: str | None, era: str | None, tz_guess: bool) -> None:
        self._cur = Record(source=self.source, line=n, ts=ts, level=level, message=message,
                           kind=self.kind, thread=thread, prefix=prefix, era=era,
                           tz_guess=tz_guess and ts is not None, raw=raw, end_line=n)
        self._parts = [message]
        self._chars = len(message)
        self._end = n

    def _build_lite(self) -> None:
        """Build the quiet record held by fields: a continuation line makes it a record to read."""
        n, raw, message, ts, level, _shown, thread, prefix, era, tz_guess = self._lite
        self._lite = None
        self._open(n, raw, message, ts, level, thread, prefix, era, tz_guess)

    def add(self, n: int, text: str, raw: str | None = None) -> Record | None:
        if not self.text and text.strip():
            self.text = True
        if (self._pem or "BEGIN" in (raw if raw is not None else text)) and \
                self._in_key_block(raw if raw is not None else text, text):
            text = raw = MARK
        if self._lite is not None:
            self._build_lite()
        cur = self._cur
        if cur is None:
            return self.start(n, raw if raw is not None else text, text)
        if len(self._parts) >= MAX_RECORD_LINES or self._chars >= MAX_RECORD_CHARS:
            # overflow: a new record that keeps when/who but not the level
            return self.start(n, raw if raw is not None else text, text, cur.ts, None, cur.thread,
                              cur.prefix, cur.era, cur.tz_guess)
        self._parts.append(text)
        self._chars += len(text) + 1
        self._end = n
        return None

    def finish(self) -> Record | None:
        lite = self._lite
        if lite is not None:
            self._lite = None
            _n, _raw, _message, ts, _level, shown, _thread, prefix, era, tz_guess = lite
            self.lean.tally(self.source, self.kind, ts, shown, era, prefix, tz_guess)
            return None
        cur = self._cur
        if cur is None:
            return None
        self._cur = None
        parts = self._parts
        raw = cur.raw
        if len(parts) == 1 and not needs_scrub(raw) and parts[0] in raw:
            cur.message = parts[0]  # a line without a secret hint: so is any text inside it
        else:
            cur.message = redact(parts[0] if len(parts) == 1 else "\n".join(parts).rstrip("\n"))
            cur.raw = redact(raw)
        cur.end_line = self._end
        if cur.level is None and self.level_of is not None:
            cur.level = self.level_of(cur.message)
        return cur
