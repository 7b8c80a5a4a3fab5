"""Extension logs under ``/var/log/azure/**``: VMSnapshotLinux (backup) logs and a generic reader.

``vmsnapshot_log`` (extension.log, host_based_extension.log; backup-extension.md §1.3), with
``P`` = ``[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]``::

    2024-01-14 22:16:48.792020 Pmsg                   A  py3, UTC, fraction optional, no space, no level
    2024/01/14 23:16:55 Pmsg                          B  py2, local time; continuation lines carry
    2024/01/14 23:16:55  StatusCode.Failed...,           only the time prefix
    2016/11/02 11:22:56 P2016-11-02 11:22:56.1  Info  msg   C  legacy: B wrapping an inner line
    2024/01/14 22:16:48.815002  Info  msg             D  freeze-window buffer (own time, UTC, level)
    2024-01-14 22:16:55.130501 P2024-01-14 22:16:51 Freezing: /mnt   E  safefreeze output (inner text kept)

``vmsnapshot_shell_log`` (shell.log)::

    Sun Jan 14 22:16:40 UTC 2024- python3 path exists            S  handle.sh, UTC
    [2024-01-14 22:16:40:123456789] Starting the daemon          host-daemon form, UTC

``extension_log``: anything else (CustomScript handler.log logfmt, ISO/slash stamps, plain text).

The ``era`` field carries the format letter ("A".."E", "S", "H") for the backup logs.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator

from ..model import Record
from . import ParseContext, text_parser
from .waagent_log import AgentLineParser, RecordBuilder, aware_ts, plain, say_bad_dates, say_undated

UTC = timezone.utc
VMSNAPSHOT_PREFIX = "[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]"
_DIGITS = frozenset("0123456789")

_A_RE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{6})?) (\[[^\]\n]*\])(.*)$", re.S)
_B_RE = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)(?: (.*))?$", re.S)
_B_PREFIX_RE = re.compile(r"(\[[^\]\s]+-\d+(?:\.\d+)*\]) ?(.*)$", re.S)
_D_RE = re.compile(
    r"(\d{4}[-/]\d\d[-/]\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?)\s+(Info|Warning|Error|Verbose|Debug)"
    r"(?:\s+(.*))?$", re.S | re.I)
_INNER_TS_RE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?) (.*)$", re.S)
_D_LEVELS = {"info": "INFO", "warning": "WARNING", "error": "ERROR", "verbose": "VERBOSE",
             "debug": "VERBOSE"}

# backup-extension.md §2: messages that report a failure (the extension writes no level). Each
# alternative with a literal that occurs in every match of it: only the alternatives whose literal
# is in a message are tried (the whole alternation took ~11 us on a 120-character message).
_FAIL_ALTERNATIVES = (
    ("ailed", r"Enable failed|[Ff]ailed to |\b[Ff]ailed\b|StatusCode\.Failed"),
    ("Error", r"\bError\b"),
    ("error:", r"\berror:"),
    ("xception", r"[Ee]xception"),
    ("Traceback", r"Traceback \(most recent"),
    ("timed", r"timed[ -]out"),
    ("Hitting", r"Hitting wrong WireServer"),
    ("BHS", r"BHS is not runn"),
    ("CRP", r"CRP timeout limit"),
    ("Unable", r"Unable to "),
    ("nconsistent", r"[Ii]nconsistent"),
    ("is missing", r"is missing"),
    ("does not", r"does not exist|does not have desired permissions"),
    ("but not root", r"but not root"),
    ("IsSuccessful", r"IsSuccessful:\s*false"),
    (",error,", r"^\w+,error,"),
    ("annot ", r"cannot |Cannot "),
    ("is none", r"is none\b"),
)
_FAIL_RE = re.compile("|".join(rx for _, rx in _FAIL_ALTERNATIVES))  # the same, in one (tests compare)
_FAIL_BY_LITERAL = {lit: re.compile(rx) for lit, rx in _FAIL_ALTERNATIVES}
# benign per §2.1 row 316: no pre/post scripts configured
_BENIGN_RE = re.compile(
    r"FailedPrepostPluginConfigNotFound|Plugin host file does not exist|^\w+,success,")


def _literal_scanner():
    import ahocorasick  # noqa: PLC0415
    automaton = ahocorasick.Automaton()
    for lit, _ in _FAIL_ALTERNATIVES:
        automaton.add_word(lit, _FAIL_BY_LITERAL[lit])
    automaton.make_automaton()
    return automaton


_FAIL_SCAN = _literal_scanner()


def failure_level(message: str) -> str | None:
    """"ERROR" when a backup-extension message reports a failure, else None."""
    tried: list = []  # each alternative at most once, however often its literal occurs
    for _, rx in _FAIL_SCAN.iter(message):
        if rx not in tried:
            if rx.search(message) is not None:
                return None if _BENIGN_RE.search(message) else "ERROR"
            tried.append(rx)
    return None


_fromiso = datetime.fromisoformat


def _utc(text: str) -> datetime | None:
    """``2024-01-14 22:16:48.792020`` or ``2024/01/14 22:16:48`` read as UTC."""
    try:
        return _fromiso(text.replace("/", "-") + "+00:00")
    except ValueError:
        return None


@text_parser("vmsnapshot_log")
def parse_vmsnapshot_log(lines: Iterable[str], source: str, ctx: ParseContext) -> Iterator[Record]:
    """VMSnapshotLinux extension.log. SAMPLE: ``2024-01-14 22:16:48.792020 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]Taking Snapshot through Host``"""
    agent = AgentLineParser(ctx)  # local-time conversion for formats B and C
    b = RecordBuilder(source, "vmsnapshot_log", failure_level, ctx.lean)
    prefix = VMSNAPSHOT_PREFIX
    freeze_ts: datetime | None = None  # flush time of the open "Logs during Freeze" block
    bad = [0]  # header lines with an impossible date (red team 14: their time was lost without a word)

    def utc(text: str) -> datetime | None:
        ts = _utc(text)
        if ts is None:
            bad[0] += 1
        return ts
    n = 0
    for n, raw in enumerate(lines, 1):
        line = plain(raw)
        done = None
        c = line[:1]
        if c in _DIGITS and c:
            m = _A_RE.match(line)
            if m is not None:
                ts_text, prefix, msg = m.groups()
                ts, era = utc(ts_text), "A"
                if "Logs during Freeze Start" in msg:
                    freeze_ts = ts
                else:
                    m2 = _INNER_TS_RE.match(msg)
                    if m2 is not None:  # safefreeze binary output / HttpUtil inner stamp
                        msg, era = m2.group(2), "E"
                done = b.start(n, raw, msg, ts, None, None, prefix, era)
            elif (m := _D_RE.match(line)) is not None:
                ts_text, lvl, msg = m.groups()
                done = b.start(n, raw, (msg or "").rstrip(" "), utc(ts_text),
                               _D_LEVELS.get(lvl.lower()), None, prefix, "D")
            elif (m := _B_RE.match(line)) is not None:
                ts_text, rest = m.group(1), m.group(2) or ""
                m2 = _B_PREFIX_RE.match(rest)
                if m2 is not None:
                    prefix, rest = m2.groups()
                    m3 = _D_RE.match(rest.lstrip())
                    if m3 is not None:  # format C: inner line with its own UTC time and level
                        done = b.start(n, raw, (m3.group(3) or "").rstrip(" "), utc(m3.group(1)),
                                       _D_LEVELS.get(m3.group(2).lower()), None, prefix, "C")
                    else:
                        done = b.start(n, raw, rest, agent.local_ts(ts_text), None, None, prefix,
                                       "B", agent.tz_guess)
                elif (m3 := _D_RE.match(rest.lstrip())) is not None:
                    done = b.start(n, raw, (m3.group(3) or "").rstrip(" "), utc(m3.group(1)),
                                   _D_LEVELS.get(m3.group(2).lower()), None, prefix, "C")
                elif b.open:
                    done = b.add(n, rest, raw)  # B continuation: time prefix only
                else:
                    done = b.start(n, raw, rest, agent.local_ts(ts_text), None, None, prefix,
                                   "B", agent.tz_guess)
            else:
                done = b.add(n, line, raw)
        elif c == "=" and "Logs during Freeze End" in line:
            done = b.start(n, raw, line.strip(), freeze_ts, None, None, prefix, "D")
            freeze_ts = None
        else:
            done = b.add(n, line, raw)
        if done is not None:
            yield done
    last = b.finish()
    if last is not None:
        yield last
    say_undated(b, ctx, n)
    say_bad_dates(ctx, source, bad[0] + agent.bad_ts)


_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_S_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) "
    r"(\d\d):(\d\d):(\d\d) ([A-Z]{1,5}|[+-]\d{4}) (\d{4}) ?- ?(.*)$", re.S)
_H_RE = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d):(\d{1,9})\] ?(.*)$", re.S)
_SHELL_FAIL_RE = re.compile(
    r"\b[1-9]\d* returned from handle\.py|version unknown|[Ff]ail|[Ee]rror|not found|"
    r"No such file|[Pp]ermission denied|[Cc]annot |[Uu]nable to ")


def _shell_level(message: str) -> str | None:
    return "ERROR" if _SHELL_FAIL_RE.search(message) else None


@text_parser("vmsnapshot_shell_log")
def parse_vmsnapshot_shell_log(lines: Iterable[str], source: str,
                               ctx: ParseContext) -> Iterator[Record]:
    """VMSnapshotLinux shell.log. SAMPLE: ``Sun Jan 14 22:16:40 UTC 2024- python3 path exists``"""
    agent = AgentLineParser(ctx)
    b = RecordBuilder(source, "vmsnapshot_shell_log", _shell_level, ctx.lean)
    bad = 0  # header lines with an impossible date or zone
    n = 0
    for n, raw in enumerate(lines, 1):
        line = plain(raw)
        c = line[:1]
        done = None
        if c.isalpha() and (m := _S_RE.match(line)) is not None:
            mon, day, hh, mm, ss, zone, year, msg = m.groups()
            ts, guess = None, False
            try:
                naive = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss))
                if zone in ("UTC", "GMT", "Z"):
                    ts = naive.replace(tzinfo=UTC)
                elif zone[0] in "+-":
                    if int(zone[1:3]) > 14 or int(zone[3:5]) > 59:  # -9999 is no zone (red team 14)
                        raise ValueError(zone)
                    off = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
                    ts = (naive - off if zone[0] == "+" else naive + off).replace(tzinfo=UTC)
                else:  # a zone abbreviation: local time of the VM
                    ts, guess = agent.local_ts(naive.isoformat(" ")), agent.tz_guess
            except (ValueError, OverflowError):
                ts = None
                bad += 1
            done = b.start(n, raw, msg, ts, None, None, None, "S", guess)
        elif c == "[" and (m := _H_RE.match(line)) is not None:
            base, frac, msg = m.groups()
            ts = _utc(f"{base}.{frac[:6].ljust(6, '0')}")
            bad += ts is None
            done = b.start(n, raw, msg, ts, None, None, None, "H")
        else:
            done = b.add(n, line, raw)
        if done is not None:
            yield done
    last = b.finish()
    if last is not None:
        yield last
    say_undated(b, ctx, n)
    say_bad_dates(ctx, source, bad + agent.bad_ts)


# -- generic extension logs ---------------------------------------------------------------
_LOGFMT_RE = re.compile(r"time=(\"?)([^\s\"]+)\1(?: (.*))?$", re.S)
_GEN_TS_RE = re.compile(
    r"\[?(\d{4}[-/]\d\d[-/]\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)?\]?"
    r"[\s,:|-]*(.*)$", re.S)
_ERR_RE = re.compile(
    r"\b(?:ERROR|FATAL|CRITICAL|CRIT)\b|\[(?:Error|error|ERR)\]|\b(?:level|lvl)=\"?(?:error|fatal|crit)"
    r"|\berror=(?!(?:\"\"|nil|null|none|<nil>)(?:\s|$))|\bError:")
_WARN_RE = re.compile(r"\b(?:WARN|WARNING)\b|\[(?:Warning|warning|Warn)\]|\b(?:level|lvl)=\"?warn")
_INFO_RE = re.compile(r"\bINFO\b|\b(?:level|lvl)=\"?info|\[Info\]")


def token_level(text: str) -> str | None:
    """Level named by a token in ``text`` ("ERROR", "WARN", "error=", "level=info", ...)."""
    if _ERR_RE.search(text):
        return "ERROR"
    if _WARN_RE.search(text):
        return "WARNING"
    if _INFO_RE.search(text):
        return "INFO"
    return None


def _aware(date: str, time: str, frac: str | None, zone: str | None,
           agent: AgentLineParser) -> tuple[datetime | None, bool]:
    return aware_ts(date.replace("/", "-"), time, frac, zone, agent)


@text_parser("extension_log")
def parse_extension_log(lines: Iterable[str], source: str, ctx: ParseContext) -> Iterator[Record]:
    """Any other extension log. SAMPLE: ``time=2018-07-23T02:21:26Z version=v2.0.6/git@abc operation=enable seq=0 event="start"``"""
    agent = AgentLineParser(ctx)
    b = RecordBuilder(source, "extension_log", token_level, ctx.lean)
    n = 0
    for n, line in enumerate(lines, 1):
        done = None
        c = line[:1]
        h = agent.header(line) if c in _DIGITS or c in "EWIV" else None
        if h is not None and not (h.bare and b.open_ts is not None):
            done = b.start(n, line, h.message, h.ts, h.level, h.thread, h.prefix, h.era, h.tz_guess)
        elif c == "t" and (m := _LOGFMT_RE.match(line)) is not None:
            ts = None
            m2 = _GEN_TS_RE.match(m.group(2))
            if m2 is not None:
                ts, _ = _aware(*m2.group(1, 2, 3, 4), agent)
            rest = m.group(3) or ""
            done = b.start(n, line, rest, ts, token_level(rest), era="logfmt")
        elif (c in _DIGITS or c == "[") and (m := _GEN_TS_RE.match(line)) is not None:
            date, time, frac, zone, msg = m.groups()
            ts, guess = _aware(date, time, frac, zone, agent)
            done = b.start(n, line, msg, ts, token_level(msg), tz_guess=guess)
        else:
            lvl = token_level(line) if line else None
            if lvl in ("ERROR", "WARNING") or not b.open:
                done = b.start(n, line, line, None, lvl)  # never hide an ERROR line in another record
            else:
                done = b.add(n, line)
        if done is not None:
            yield done
    last = b.finish()
    if last is not None:
        yield last
