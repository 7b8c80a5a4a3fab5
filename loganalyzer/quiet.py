"""Quiet records of a raw chunk of an agent log, found with whole-array operations (numpy).

Most records of a big waagent.log are one INFO header and a few continuation lines that no
pattern can match: the report only counts them (records, eras, timeline, first/last time). The
line loop of :mod:`loganalyzer.fastpath` would read each of their lines in Python; here the first
bytes of all of a chunk's lines are looked at at once, and the loop skips the *stretches* of such
records (a fifth of the bench bundle's lines are left to it).

A record is counted here only when every one of its lines is, beyond doubt, what the exact parser
(:meth:`AgentLineParser.classify`) would make of it, and when no rule could want it:

* its header is a local-time or UTC header with level INFO or VERBOSE, read by position exactly
  as the loop's fast branches read it (``2024-09-30T06:39:27.159929Z INFO ExtHandler ...``,
  ``2019/10/31 14:10:44.653792 INFO ExtHandler ...``), with a date that exists;
* each other line is plain text that classify() returns as it is: it starts with a character
  that begins no header, wrapper or quote (``[stdout]``, ``  File "x.py"``, ``uptime: 10:42``),
  holds no ``]: `` (a syslog wrapper) and, if it starts with a letter, no `` - `` (an appliance
  wrapper); no line of the record is marked by the literal pre-filter;
* it is not the chunk's first or last record (those may span chunks), has at most 199 lines and
  60,000 bytes (so no overflow split can happen).

Anything else (any doubt) is left to the loop, line by line, as before. ``tests/test_quiet.py``
checks every plan against classify(), record by record; ``tests/test_fastpath.py`` compares the
reports with and without this step.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

WIDTH = 36  # bytes of each line read by position: "YYYY-MM-DDTHH:MM:SS.ffffffZ VERBOSE "
WORDS = 48  # ... and of a local-time header, up to its first word ("... VERBOSE LogCollector ")
MAX_LINES = 199  # lines of a record counted here (the loop splits records at 200)
MAX_BYTES = 60_000  # bytes of a record counted here (the loop splits them at 64 Ki characters)
PREFIX_WORDS = (b"Daemon", b"ExtHandler", b"LogCollector", b"Firewall")
_SP, _NL, _TAB = 32, 10, 9
_SHAPE = np.arange(256, dtype=np.uint8)  # a byte, with every digit read as "0"
_SHAPE[48:58] = 48
_PLAIN_FIRST = np.zeros(256, bool)  # first bytes after which classify() returns the line itself
_PLAIN_FIRST[0x21:0x7F] = True
for _c in b"0123456789EWIV\"'":
    _PLAIN_FIRST[_c] = False
_PLAIN_FIRST[_TAB] = _PLAIN_FIRST[_NL] = True  # a tab, or an empty line
_LETTER = np.zeros(256, bool)  # str.isalpha() of an ASCII byte
_LETTER[65:91] = _LETTER[97:123] = True
_BLANK_OK = _PLAIN_FIRST.copy()  # the first byte after the leading blanks of a line that starts
_BLANK_OK[list(b"0123456789EWIV")] = True  # with " " (there only a quote starts a quoted header)
_POW10 = 10 ** np.arange(9, -1, -1, dtype=np.int64)
_HOUR_POS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12]  # YYYYMMDDHH of either stamp
_MS = np.array([600_000_000, 60_000_000, 10_000_000, 1_000_000], np.int64)  # M M S S -> microseconds


@dataclass
class Plan:
    """What the loop does with one block: the lines it reads and the stretches it skips."""

    visit: list[int]  # indexes of the block's lines the loop reads
    begin: list[int]  # the stretches it skips, in order: first index, ...
    end: list[int]  # ... index after it, ...
    n_iso: list[int]  # ... UTC records in it, ...
    n_slash: list[int]  # ... local-time records in it
    iso_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (hour key, level) -> records
    iso_min: str = ""  # smallest and largest UTC stamp ("2024-09-30T06:39:27.159929") counted here
    iso_max: str = ""
    slash_rows: list = field(default_factory=list)  # (hour key, level, era, bucket, (min, max stamp), records)


def _is(col: np.ndarray, word: bytes, at: int) -> np.ndarray:
    ok = col[:, at] == word[0]
    for i, b in enumerate(word[1:], at + 1):
        ok &= col[:, i] == b
    return ok


def _word_end(col: np.ndarray, at: int) -> np.ndarray:
    return (col[:, at] == _SP) | (col[:, at] == _NL)


def _header(m: np.ndarray, shape: np.ndarray, template: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(INFO, VERBOSE) masks of the lines that are a header of ``template``'s shape (``0`` for a
    digit, e.g. ``0000-00-00T00:00:00.000000Z ``) with minutes and seconds below 60, and the
    level word right after it, followed by a blank or the line end."""
    n = len(template)
    ok = np.ascontiguousarray(shape[:, :n]).view(f"S{n}")[:, 0] == template
    ok &= (m[:, 14] < 54) & (m[:, 17] < 54)  # digits already: "0".."5"
    word5 = np.ascontiguousarray(m[:, n:n + 5]).view("S5")[:, 0]
    word8 = np.ascontiguousarray(m[:, n:n + 8]).view("S8")[:, 0]
    info = ok & ((word5 == b"INFO ") | (word5 == b"INFO\n"))
    verbose = ok & ((word8 == b"VERBOSE ") | (word8 == b"VERBOSE\n"))
    return info, verbose


def _first_rows(values: np.ndarray) -> dict[int, int]:
    """Distinct value -> index of its first occurrence (values come in long runs: no sort)."""
    if len(values) == 0:
        return {}
    change = np.empty(len(values), bool)
    change[0] = True
    np.not_equal(values[1:], values[:-1], out=change[1:])
    at = np.flatnonzero(change)
    first: dict[int, int] = {}
    for v, i in zip(values[at].tolist(), at.tolist()):
        first.setdefault(v, i)
    return first


def _starts(raw: bytes, lines: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Byte offset and length of each line in ``raw`` (line 0: of its part in ``raw``)."""
    nl = np.flatnonzero(np.frombuffer(raw, np.uint8) == _NL)
    if len(nl) != len(lines):
        return None
    starts = np.empty(len(lines), np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    return starts, nl - starts


def plan(raw: bytes, lines: list[str], marked: list[int], iso: bool, slash: bool,
         iso_hour, slash_hour, slash_era) -> Plan | None:
    """The plan for one block (``lines``, read from ``raw``), or None when nothing can be skipped.

    ``marked``: indexes of lines the pre-filter marked. ``iso``/``slash``: whether the loop reads
    UTC / local-time headers by position (it has seen the E4 / E2 era). ``iso_hour(key)`` is the
    loop's epoch of a UTC hour ``2024-09-30T06`` (-1: no such date); ``slash_hour(key)`` its
    (UTC epoch, whole-hour offset) of a local hour, or None; ``slash_era(word)`` its era of a
    local-time record whose first word after the level is ``word``.
    """
    m_lines = len(lines)
    where = _starts(raw, lines) if m_lines >= 3 else None
    if where is None:
        return None
    # line k >= 1 is raw[starts[k]:starts[k]+lengths[k]]; line 0 holds text of the chunk before
    starts, lengths = where
    padded = np.concatenate([np.frombuffer(raw, np.uint8), np.zeros(WORDS + 1, np.uint8)])
    m = sliding_window_view(padded, WIDTH)[starts]
    shape = np.take(_SHAPE, m[:, :28])

    n_iso = np.zeros(m_lines, bool)
    verbose = None
    if iso:
        info, verbose = _header(m, shape, b"0000-00-00T00:00:00.000000Z ")
        n_iso = info | verbose
    n_slash = np.zeros(m_lines, bool)
    s_verbose = None
    if slash:
        s_info, s_verbose = _header(m, shape, b"0000/00/00 00:00:00.000000 ")
        n_slash = s_info | s_verbose
    n_iso[0] = n_slash[0] = False
    hour_num = (m[:, _HOUR_POS].astype(np.int64) - 48) @ _POW10  # YYYYMMDDHH (meaningful on headers)
    for mask, conv in ((n_iso, iso_hour), (n_slash, slash_hour)):
        rows = np.flatnonzero(mask)
        bad_hours = [h for h, i in _first_rows(hour_num[rows]).items()
                     if conv(lines[int(rows[i])][:13]) in (None, -1)]
        if bad_hours:  # no such date: the loop's exact path says why (one pass, however many)
            mask &= ~np.isin(hour_num, bad_hours)

    first = m[:, 0]
    plain = _PLAIN_FIRST[first]
    spaced = np.flatnonzero(first == _SP)
    if len(spaced):
        sub = m[spaced]
        lead = np.argmin((sub == _SP) | (sub == _TAB), axis=1)  # 0: all blank (refused)
        plain[spaced] = _BLANK_OK[sub[np.arange(len(spaced)), lead]] & (lead > 0)
    plain[0] = False
    # "May 29 vm python3[4974]: <agent line>" (a syslog wrapper), "Waagent - 2018/07/05 ..." (an
    # appliance console): classify() may unwrap them
    wrapped = [i for i in np.flatnonzero(plain).tolist() if "]: " in lines[i]]
    wrapped += [i for i in np.flatnonzero(plain & _LETTER[first]).tolist() if " - " in lines[i]]
    if wrapped:
        plain[wrapped] = False

    header = n_iso | n_slash
    ok = header | plain
    if marked:
        ok[marked] = False
    rid = np.cumsum(header)
    groups = int(rid[-1])
    if groups < 3:
        return None
    bad = np.bincount(rid[~ok], minlength=groups + 1)
    size = np.bincount(rid, minlength=groups + 1)
    nbytes = np.bincount(rid, weights=lengths + 1, minlength=groups + 1)
    counted = (bad == 0) & (size <= MAX_LINES) & (nbytes <= MAX_BYTES)
    counted[0] = counted[groups] = False
    skip_line = counted[rid]
    if not skip_line.any():
        return None

    edges = np.diff(skip_line.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    begin = np.flatnonzero(edges == 1)
    end = np.flatnonzero(edges == -1)
    iso_rows = n_iso & skip_line
    slash_rows = n_slash & skip_line
    c_iso = np.concatenate(([0], np.cumsum(iso_rows)))
    c_slash = np.concatenate(([0], np.cumsum(slash_rows)))
    out = Plan(np.flatnonzero(~skip_line).tolist(), begin.tolist(), end.tolist(),
               (c_iso[end] - c_iso[begin]).tolist(), (c_slash[end] - c_slash[begin]).tolist())
    if iso_rows.any():
        _count_iso(out, np.flatnonzero(iso_rows), m, hour_num, verbose, lines)
    if slash_rows.any():
        _count_slash(out, np.flatnonzero(slash_rows), padded, starts, hour_num, s_verbose, lines,
                     slash_hour, slash_era)
    return out


def _within(sub: np.ndarray) -> np.ndarray:
    """Microseconds into the hour of each stamp (MM:SS.ffffff at 14..25)."""
    return (sub[:, [14, 15, 17, 18]].astype(np.int64) - 48) @ _MS + \
        (sub[:, 20:26].astype(np.int64) - 48) @ _POW10[4:]


def _count_iso(out: Plan, rows: np.ndarray, m: np.ndarray, hour_num: np.ndarray,
               verbose: np.ndarray, lines: list[str]) -> None:
    """Records per (hour, level) and the first/last stamp of the UTC headers ``rows``."""
    hours = hour_num[rows]
    for pick, h, attr in ((np.argmin, hours.min(), "iso_min"), (np.argmax, hours.max(), "iso_max")):
        sel = rows[hours == h]
        setattr(out, attr, lines[int(sel[pick(_within(m[sel]))])][:26])
    key = hours * 2 + verbose[rows]
    first = _first_rows(key)
    keys = sorted(first)
    counts = np.bincount(np.searchsorted(keys, key), minlength=len(keys))
    for k, count in zip(keys, counts.tolist()):
        out.iso_counts[(lines[int(rows[first[k]])][:13], "VERBOSE" if k & 1 else "INFO")] = count


def _count_slash(out: Plan, rows: np.ndarray, padded: np.ndarray, starts: np.ndarray,
                 hour_num: np.ndarray, s_verbose: np.ndarray, lines: list[str], slash_hour,
                 slash_era) -> None:
    """Records per (local hour, level, era, timeline bucket) of the local-time headers ``rows``."""
    sub = sliding_window_view(padded, WORDS + 1)[starts[rows]]
    at = np.where(s_verbose[rows], 35, 32)  # first byte of the word after the level
    has_word = sub[np.arange(len(rows)), at - 1] == _SP  # else the level ends the line: E1
    e2 = np.zeros(len(rows), bool)
    for word in PREFIX_WORDS:
        for lvl_at in (32, 35):
            e2 |= (at == lvl_at) & _is(sub, word, lvl_at) & _word_end(sub, lvl_at + len(word))
    e2 &= has_word
    bracket = np.flatnonzero(has_word & (sub[np.arange(len(rows)), at] == 91)).tolist()
    if bracket:  # "[Handler-1.0]": the loop's own rule, per line (ASCII: bytes are characters)
        eras = []
        for row, s in zip(rows[bracket].tolist(), at[bracket].tolist()):
            line = lines[row]
            sp = line.find(" ", s)
            eras.append(slash_era(line[s:sp] if sp != -1 else line[s:]) == "E2")
        e2[bracket] = eras
    hours = hour_num[rows]
    mins = (sub[:, 14].astype(np.int64) - 48) * 10 + sub[:, 15] - 48
    secs = (sub[:, 17].astype(np.int64) - 48) * 10 + sub[:, 18] - 48
    within = _within(sub)
    key = (hours * 2 + s_verbose[rows]) * 2 + e2
    order = np.argsort(key, kind="stable")  # the rows of each key together, in line order
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    for sel in np.split(order, cuts):  # one group per key: no pass over all rows per key
        k = int(key[sel[0]])
        hour_key = lines[int(rows[sel[0]])][:13]
        epoch, whole = slash_hour(hour_key)
        level = "VERBOSE" if (k >> 1) & 1 else "INFO"
        era = "E2" if k & 1 else "E1"
        w = within[sel]
        stamps = (lines[int(rows[sel[np.argmin(w)]])][:26], lines[int(rows[sel[np.argmax(w)]])][:26])
        if whole:
            out.slash_rows.append((hour_key, level, era, epoch, stamps, len(sel)))
        else:  # a zone that is not a whole hour off UTC: buckets by the minute and second
            buckets = (epoch + mins[sel] * 60 + secs[sel]) // 3600 * 3600
            for b, c in zip(*np.unique(buckets, return_counts=True)):
                out.slash_rows.append((hour_key, level, era, int(b), stamps, int(c)))
