"""Fast path for the big agent logs (``waagent.log`` and its rotations, ``CommandExecution.log``).

Most records of a 1M-line waagent.log are INFO lines that no rule reads: they match no pattern,
or only context patterns nothing looks at. The slow path builds a :class:`Record` for each and
runs the pattern scanner on it; this path does not:

1. a literal pre-filter runs over each raw chunk (Hyperscan when installed, else Aho-Corasick)
   with the hints of the *needed* patterns (benign, causal, or read by a rule) and the literals
   that call for redaction, and marks the lines where one occurs;
2. one tight loop reads the lines, recognises the common headers by fixed positions
   (``2024-09-30T06:39:27.159929Z INFO ExtHandler ExtHandler msg``, and the local-time
   ``2019/10/31 14:10:44.653792 INFO ExtHandler msg``) as well as plain continuation lines, and
   hands every other line to the exact parser (:meth:`AgentLineParser.classify`);
   Blocks of thousands of lines are first planned by :mod:`loganalyzer.quiet`: whole stretches of
   quiet records (INFO/VERBOSE headers, plain continuation lines, no marked line) are found with
   array operations over the raw chunk and counted at once; the loop reads only the other lines;
3. a record that holds a marked line, or is a WARNING/ERROR (the residue miner reads those),
   becomes the very Record that :func:`parse_agent_lines` builds and goes through the collector;
   every other record only updates the counters (records, eras, timeline, first/last time), and
   so does a record whose hits are only counted (noise, context patterns): memo by its text.

Other text logs (extension.log, syslog, ...) keep their parsers; :class:`Tap` shows the raw chunks
to the pre-filter and :func:`candidates` lets only marked or WARNING/ERROR records be matched.

The report is the slow path's, byte for byte (``tests/test_fastpath.py`` compares the two on the
samples, the real excerpts, generated logs and random line mixtures).
"""
from __future__ import annotations

import fnmatch
import itertools
from collections import Counter
from datetime import datetime, timezone
from typing import BinaryIO

import ahocorasick

from .parsers import ParseContext
from .parsers.waagent_log import (MARK, _EXT_FULL_RE, MAX_RECORD_CHARS, MAX_RECORD_LINES, PREFIX_WORDS,
                                  AgentHeader, AgentLineParser, KeyBlocks, _make, masked_raw,
                                  key_lines, needs_scrub_seen, orphan_key_line, orphan_key_text)
from .analyzer import TIMELINE_BUCKET
from .literals import digit_uniform, required_literals
from .patterns import Library
from .redact import _SCRUB_HINTS, INVISIBLE_UTF8_PREFIXES, needs_scrub
from .residue import tokens_of
from .redact import redact as redact_full
from .rules import RuleSet
from .textio import iter_line_blocks

FACT_PATTERN_IDS = ("start.daemon", "start.exthandler")  # read by analyzer.FACT_PATTERNS and fact rules
RAW_CHUNK = 1 << 22
FIRST_CHUNK = 1 << 16  # a small first read: the eras a file uses are known before the big chunks
QUIET_MIN_LINES = 2000  # blocks this long are planned with loganalyzer.quiet (numpy), ...
QUIET_MAX_LINES = 100_000  # ... up to this many lines (its arrays peak at ~320 bytes per line)
SHARP_HINT = 8  # a hint this long is kept (the regex's literals are longer, not always rarer)
_LEVELS = frozenset(("VERBOSE", "INFO", "WARNING", "ERROR"))
_LOUD = frozenset(("WARNING", "ERROR"))
_SEC4 = frozenset(f":{s:02d}." for s in range(60))  # line[16:20] of an ISO stamp
_DIGIT_POS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12)
# first characters after which classify() can only return the line itself (when no "]: " wraps it)
_PLAIN_START = frozenset(("", "[", "\t", "(", "{", "}", ")", "-", "=", "*", "#", "/", "|", ".", ",", ":", ";"))
_MIN3 = frozenset(f":{m:02d}" for m in range(60))  # line[13:16] of an ISO stamp
_MINSEC = frozenset(f":{m:02d}:{s:02d}." for m in range(60) for s in range(60))  # line[13:20]
UTC = timezone.utc
_fromiso = datetime.fromisoformat


class _Residue(tuple):
    """A lean plan: a WARNING/ERROR record no pattern explains; only the residue miner reads it
    (its tokens, see :func:`loganalyzer.residue.tokens_of`)."""

    __slots__ = ()


def needed_patterns(library: Library, rules: RuleSet) -> set[str]:
    """IDs of the patterns whose hits can change a report: benign (counted as noise), causal,
    or named by a rule (fact rules, thresholds, routes, escalations) or by the analyser."""
    refs = rules.referenced_patterns() | set(FACT_PATTERN_IDS)
    return {p.id for p in library.patterns
            if p.benign or p.causes or any(fnmatch.fnmatchcase(p.id, g) for g in refs)}


def prefilter_literals(p) -> tuple[str, ...]:
    """The sharper of the pattern's hint and the literals its regex requires (both necessary)."""
    derived = required_literals(p.regex)
    if derived:
        shortest = min(map(len, p.hint))
        if shortest < SHARP_HINT and min(map(len, derived)) >= shortest + 4:
            return derived
    return p.hint


def literals_for(library: Library, needed: set[str], kind: str) -> list[str] | None:
    """The pre-filter literals of ``kind``; None when the fast path cannot be exact for it
    (a needed pattern without a hint, or a hint the decoder could create or split)."""
    lits: set[str] = set(_SCRUB_HINTS)
    for p in library.for_kind(kind):
        if p.id not in needed:
            continue
        if not p.hint:
            return None
        for h in prefilter_literals(p):
            if not h or any(c in h for c in "\n\r\x00\ufffd"):
                return None
            lits.add(h)
    return sorted(lits)


_ZERO_DIGITS = str.maketrans("123456789", "000000000")
_UNSHARED = object()  # a digit class whose plan may differ between its texts
LEAN_MEMO = 20_000  # plans kept per file; when full, the older half goes


class DigitGuard:
    """Which records may share a lean plan with records that differ only in their digits.

    ``Executing command: .../handle.sh enable`` with a new sequence number each run, request
    counters, etags: three quarters of the plan memo's misses on the bench were such repeats. A
    plan found for one text holds for every text with other digits when no pattern that reads
    digits can match: every regex of the kind is :func:`digit_uniform` and has digit-free hints,
    or the text (digits read as 0) holds none of the hints of those that are not."""

    def __init__(self, automaton) -> None:
        self.automaton = automaton

    def sensitive(self, norm: str) -> bool:
        """Whether a pattern that reads digits may match some text of this class."""
        return self.automaton is not None and next(self.automaton.iter(norm), None) is not None


def _room(memo: dict) -> None:
    """Make room in a full plan memo: the older half goes (recent texts come back soonest)."""
    if len(memo) >= LEAN_MEMO:
        for k in list(itertools.islice(memo, len(memo) // 2)):
            del memo[k]


def digit_guard(library: Library, kind: str) -> DigitGuard | None:
    """The guard of ``kind``, or None when plans are never shared (a pattern that reads digits
    and has no hint: it runs on every text)."""
    hints: set[str] = set()
    for p in library.for_kind(kind):
        if digit_uniform(p.regex) and not any(c.isdigit() for h in p.hint for c in h):
            continue
        if not p.hint:
            return None
        hints.update(h.translate(_ZERO_DIGITS) for h in p.hint)
    if not hints:
        return DigitGuard(None)
    automaton = ahocorasick.Automaton()
    for h in hints:
        automaton.add_word(h, h)
    automaton.make_automaton()
    return DigitGuard(automaton)


# --- pre-filters: mark the line numbers where a literal occurs -------------------------------------

class _LineMarker:
    """Feeds raw chunks to a literal scanner and collects 1-based numbers of the lines hit."""

    def __init__(self, marks: set[int]) -> None:
        self.marks = marks
        self.newlines = 0  # newlines before the current chunk
        self.offset = 0  # bytes before the current chunk
        self.everything = False  # a NUL byte: the decoder drops it, so literals may form; mark all

    def _mark(self, chunk: bytes, ends: list[int]) -> None:
        """``ends``: end offsets of hits relative to ``chunk``."""
        marks = self.marks
        n = self.newlines
        prev = 0
        for rel in sorted(ends):
            if rel > prev:
                n += chunk.count(b"\n", prev, rel)
                prev = rel
            marks.add(n + 1)

    def feed(self, chunk: bytes) -> None:
        if b"\x00" in chunk:
            self.everything = True
        if not self.everything:
            self._mark(chunk, self._scan(chunk))
        self.newlines += chunk.count(b"\n")
        self.offset += len(chunk)

    def _scan(self, chunk: bytes) -> list[int]:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        pass


class _AhoMarker(_LineMarker):
    """Aho-Corasick over the chunk read as Latin-1 (one char per byte: offsets are byte offsets)."""

    def __init__(self, marks: set[int], automaton: ahocorasick.Automaton, longest: int) -> None:
        super().__init__(marks)
        self.automaton = automaton
        self.keep = max(longest - 1, 0)
        self.tail = ""

    def _scan(self, chunk: bytes) -> list[int]:
        text = self.tail + chunk.decode("latin-1")
        skip = len(self.tail)
        ends = [end + 1 - skip for end, _ in self.automaton.iter(text) if end >= skip]
        self.tail = text[-self.keep:] if self.keep else ""
        return ends


class _HyperMarker(_LineMarker):
    """Hyperscan in stream mode (matches across chunk borders are found)."""

    def __init__(self, marks: set[int], database) -> None:
        super().__init__(marks)
        self.ends: list[int] = []
        ends = self.ends

        def on_match(_id, _from, to, _flags, _ctx) -> None:
            ends.append(to)

        self._on_match = on_match  # the extension keeps a borrowed reference: keep it alive here
        self._database = database
        self.stream = database.stream(match_event_handler=on_match)
        self.stream.__enter__()

    def _scan(self, chunk: bytes) -> list[int]:
        self.ends.clear()
        try:
            self.stream.scan(chunk)
        except Exception:  # noqa: BLE001 - the library failed: every line is looked at from here on
            self.everything = True
            return []
        base = self.offset
        return [to - base for to in self.ends]

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:  # noqa: BLE001 - a stream that failed to open has nothing to close
            pass


class Prefilter:
    """Builds line markers for one kind's literal set."""

    def __init__(self, literals: list[str], needed: frozenset[str], engine: str | None = None) -> None:
        self.literals = literals
        self.needed = needed
        # a line with an invisible character is redacted without it (redact.py): read it exactly
        raw = [lit.encode("utf-8") for lit in literals] + list(INVISIBLE_UTF8_PREFIXES)
        self.engine = engine or ("hyperscan" if _hyperscan() is not None else "aho-corasick")
        if self.engine == "hyperscan":
            hs = _hyperscan()
            try:
                db = hs.Database(mode=hs.HS_MODE_STREAM)
                exprs = [b"".join(b"\\x%02x" % b for b in lit) for lit in raw]
                db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs),
                           flags=[0] * len(exprs))
                self.database = db
            except Exception:  # noqa: BLE001 - e.g. a CPU the library does not support
                if engine:
                    raise
                self.engine = "aho-corasick"
        if self.engine != "hyperscan":
            self.automaton = ahocorasick.Automaton()
            for lit in raw:
                text = lit.decode("latin-1")
                self.automaton.add_word(text, text)
            self.automaton.make_automaton()
            self.longest = max((len(lit) for lit in raw), default=1)

    def guard(self, library: Library, kind: str) -> DigitGuard | None:
        """:func:`digit_guard` of ``kind`` (the pre-filter is built once per library and kind)."""
        if not hasattr(self, "_guard"):
            self._guard = digit_guard(library, kind)
        return self._guard

    def marker(self, marks: set[int]) -> _LineMarker:
        if self.engine == "hyperscan":
            return _HyperMarker(marks, self.database)
        return _AhoMarker(marks, self.automaton, self.longest)


_HS: list = []


def _hyperscan():
    """The hyperscan module, or None (not installed, or no wheel for this machine)."""
    if not _HS:
        try:
            import hyperscan  # noqa: PLC0415 - optional accelerator, imported only for big files
            _HS.append(hyperscan)
        except Exception:  # noqa: BLE001 - ImportError, or a library that fails to load
            _HS.append(None)
    return _HS[0]


# --- any other text log: records of no interest are counted, not matched ---------------------------

class Tap:
    """A binary stream that shows every chunk read to a line marker (the parser reads through it).

    It is also the parser's ``ParseContext.lean``: :class:`RecordBuilder` asks it which lines are
    marked and lets it count the quiet one-line records it does not build (:meth:`tally`).
    """

    def __init__(self, stream: BinaryIO, prefilter: Prefilter, collector) -> None:
        self.stream = stream
        self.marks: set[int] = set()
        self.marker = prefilter.marker(self.marks)
        self.records = 0  # records the parser read, matched, counted or never built
        self._tally = collector.tally

    def tally(self, source: str, kind: str, ts: datetime | None, level: str | None, era: str | None,
              prefix: str | None, tz_guess: bool) -> None:
        """Count a record the parser did not build (no marked line, not WARNING/ERROR)."""
        self.records += 1
        self._tally(source, kind, ts, level, era, prefix, tz_guess)

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        if data:
            self.marker.feed(data)
        return data

    def close(self) -> None:
        self.marker.close()
        self.stream.close()


def candidates(records, tap: Tap, collector):
    """Yield the records that need matching; count the others (no marked line, not WARNING/ERROR)."""
    marks = tap.marks
    count = collector.count
    seen = 0
    for record in records:
        tap.records += 1
        line = record.line
        end = record.end_line
        if (record.level in _LOUD or end is None or line in marks or tap.marker.everything
                or (end != line and any(i in marks for i in range(line + 1, end + 1)))):
            yield record
        else:
            count(record)
        seen += 1
        if seen >= 4096 and marks:  # records come in line order: forget marks behind this one
            seen = 0
            kept = [m for m in marks if m >= record.line]
            marks.clear()
            marks.update(kept)


# --- the reading loop ------------------------------------------------------------------------------

def _hour_of(key: str, date_sep: str, time_sep: str) -> datetime | None:
    """The (naive) hour ``YYYY<sep>MM<sep>DD<T or space>HH`` when it exists, else None."""
    if len(key) != 13 or key[4] != date_sep or key[7] != date_sep or key[10] != time_sep:
        return None
    if not all("0" <= key[i] <= "9" for i in _DIGIT_POS):
        return None
    try:
        return datetime(int(key[:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]))
    except (ValueError, OverflowError):
        return None


def _hour(key: str) -> int:
    """Epoch seconds of the UTC hour ``YYYY-MM-DDTHH``, or -1 when it does not exist."""
    hour = _hour_of(key, "-", "T")
    return -1 if hour is None else int(hour.replace(tzinfo=UTC).timestamp())


ISO, SLASH = 1, 2  # headers read by position: 2024-09-30T06:39:27.159929Z / 2019/10/31 14:10:44.653792


def _widen(c, ts: datetime) -> None:
    """Move the collector's first/last (agent) time to include ``ts``."""
    if c.first is None or ts < c.first:
        c.first = ts
    if c.last is None or ts > c.last:
        c.last = ts
    if c.last_agent is None or ts > c.last_agent:
        c.last_agent = ts


def _slash_hour(key: str, p: AgentLineParser) -> tuple[int, bool] | None:
    """(UTC epoch of the local hour ``YYYY/MM/DD HH``, offset is whole hours), or None: an invalid
    hour, or one a fall-back repeats (its lines go to the exact parser, which tells the passes
    apart by file order)."""
    naive = _hour_of(key, "/", " ")
    if naive is None:
        return None
    off = p.hour_offset(key)
    if off is None:
        return None
    shift = int(off.total_seconds())
    return int(naive.replace(tzinfo=UTC).timestamp()) - shift, shift % 3600 == 0


def _e12_era(tok: str) -> str:
    """The era _e12 gives a line whose first word after the level is ``tok`` (E2 seen before)."""
    if tok in PREFIX_WORDS or (tok[:1] == "[" and _EXT_FULL_RE.fullmatch(tok)):
        return "E2"
    return "E1"


assert TIMELINE_BUCKET == 3600, "the fast path buckets the timeline by the hour"


def read_agent_log(stream: BinaryIO, source: str, kind: str, ctx: ParseContext, collector,
                   partial: bool, prefilter: Prefilter, stats: dict | None = None) -> int:
    """Read one agent log; feed candidate records to ``collector.add``, count the rest; return the
    number of records (what the slow path would have yielded)."""
    p = AgentLineParser(ctx)
    classify = p.classify
    header = p.header
    marks: set[int] = set()
    marker = prefilter.marker(marks)
    hours: dict[str, int] = {}
    timeline: dict[tuple[str, int], int] = {}  # (level, bucket) of counted ISO records
    add = collector.add
    needed = prefilter.needed
    loud = _LOUD
    levels = _LEVELS
    sec4 = _SEC4
    plain_start = _PLAIN_START
    quotes = ("'", '"')
    min3 = _MIN3
    minsec = _MINSEC
    counted = 0  # counted records (not ISO ones) the collector has not been told of yet
    n_fast = 0  # counted ISO records (era E4), ...
    n_fast_told = 0  # ... of which the collector has been told
    smin, smax = "\uffff", ""  # ISO stamps of counted records (one format: text order is time order)
    run_level, run_bucket, run_n = "", 0, 0  # the timeline's current run of counted ISO records

    def sync() -> None:
        nonlocal counted, n_fast_told
        k = counted + n_fast - n_fast_told
        if k:
            collector.ordinal[source] = collector.ordinal.get(source, 0) + k
            collector.kinds[kind] += k
            counted = 0
            n_fast_told = n_fast

    def count_exact(h: AgentHeader | None) -> None:
        """A record with an exactly parsed header (or none) that is not a candidate."""
        if h is None:
            collector.tally(source, kind, None, None, None, None, False)
        else:
            collector.tally(source, kind, h.ts, h.level, h.era, h.prefix, h.tz_guess and h.ts is not None)

    # The current record. A header read by position: fast is ISO or SLASH, hline its line, rest_at
    # where the text after the level starts, parts None until a continuation line or emission
    # needs the message. Otherwise (fast 0) h is the exact header (None: headerless) and parts
    # holds the text.
    fast = 0  # ISO, SLASH: header read by position; 0: exact header (h) or none
    hline = ""
    f_hour: tuple[int, bool] = (0, True)
    f_era = ""
    eras: Counter = Counter()  # eras of counted E1/E2 records
    slash_hours: dict[str, tuple[int, bool] | None] = {}
    slash_range: dict[str, list[str]] = {}  # local hour -> [min, max] stamp of counted E1/E2 records
    tok_era: dict[str, str] = {}
    seen_e2 = False
    rest_at = 0
    f_level = ""
    f_bucket = 0
    h: AgentHeader | None = None
    parts: list[str] | None = None
    open_ = False
    raw = ""
    start = 0
    nchars = 0
    exact_chars = True  # nchars counts the message proper (False: also the thread/prefix words)
    blank_only = False
    cand = False
    n = 0
    seen_e4 = False

    lean: dict[tuple, tuple | bool] = {}  # (header form, level, text after it) -> hit patterns, False: full path
    keys = KeyBlocks()  # a private key logged one line per record (see parse_agent_lines)
    lean2: dict[tuple, object] = {}  # the same with digits read as 0 -> the plan all its texts share, or _UNSHARED
    guard = prefilter.guard(collector.library, kind)
    lean_noise: dict[str, list] = {}  # benign pattern -> [count, first, last stamp] of lean hits
    scan_message = collector.library.scan_text  # memo shared with the collector's matching
    samples = collector.pattern_samples
    keep_last = collector.keep_last
    noise = collector.noise
    pattern_counts = collector.pattern_counts
    last_pos = collector.last_pos

    def iso_hour(key: str) -> int:
        b = hours.get(key)
        if b is None:
            b = hours[key] = _hour(key)
        return b

    def slash_hour(key: str) -> tuple[int, bool] | None:
        if key not in slash_hours:
            slash_hours[key] = _slash_hour(key, p)
        return slash_hours[key]

    def slash_era(tok: str) -> str:
        era = tok_era.get(tok)
        if era is None:
            era = tok_era[tok] = _e12_era(tok)
        return era

    def quiet_plan(raw: bytes, block: list[str], base: int, marks: set[int], iso: bool, slash: bool):
        """Plan the block with :mod:`loganalyzer.quiet` and count its quiet records at once."""
        nonlocal smin, smax
        from . import quiet  # noqa: PLC0415 - numpy is imported only for big files

        top = base + len(block)
        marked = [i - base - 1 for i in marks if base < i <= top]
        qp = quiet.plan(raw, block, marked, iso, slash, iso_hour, slash_hour, slash_era)
        if qp is None:
            return None
        for (key, level), k in qp.iso_counts.items():
            tkey = (level, hours[key])
            timeline[tkey] = timeline.get(tkey, 0) + k
        if qp.iso_min:
            smin = min(smin, qp.iso_min)
            smax = max(smax, qp.iso_max)
        for key, level, era, bucket, (lo, hi), k in qp.slash_rows:
            eras[era] += k
            tkey = (level, bucket)
            timeline[tkey] = timeline.get(tkey, 0) + k
            mm = slash_range.get(key)
            if mm is None:
                slash_range[key] = [lo, hi]
            else:
                if lo < mm[0]:
                    mm[0] = lo
                if hi > mm[1]:
                    mm[1] = hi
        return qp

    parsed: list = []  # (line, its header) of the last lean_plan

    def lean_plan(level: str, line: str, more: list[str] | None) -> tuple | bool:
        """The patterns a record hits, when all of them are only counted; False otherwise (or
        when a WARNING/ERROR hits nothing: the residue miner needs the Record)."""
        h = header(line)
        parsed[:] = (line, h)  # close() builds the Record from it when the plan is False
        message = h.message
        if more is not None and len(more) > 1:
            message = "\n".join([message, *more[1:]]).rstrip("\n")
        if needs_scrub_seen(message):  # what _make does: the patterns see the redacted text
            message = redact_full(message)
        if level in loud:  # the collector matches a WARNING/ERROR with every pattern: scan once
            every = scan_message(kind, None, level, message)
            hits = [hit for hit in every if hit[0].id in needed]
            if not hits:  # explained by a pattern no report shows? (else: residue)
                return () if every else _Residue(tokens_of(message))
        else:
            hits = scan_message(kind, needed, level, message)
        if all((pt.benign or not pt.causes) and pt.id not in FACT_PATTERN_IDS for pt, _ in hits):
            return tuple(pt for pt, _ in hits)
        return False

    residue = collector.residue

    def count_iso() -> str:
        """Count the current ISO record (the hot loop does the same inline); return its stamp."""
        nonlocal smin, smax, n_fast
        n_fast += 1
        ts = hline[:26]
        if ts < smin:
            smin = ts
        if ts > smax:
            smax = ts
        key = (f_level, f_bucket)
        timeline[key] = timeline.get(key, 0) + 1
        return ts

    def count_slash() -> None:
        """Count the current E1/E2 record."""
        nonlocal counted
        counted += 1
        eras[f_era] += 1
        ts = hline[:26]
        utc_hour, whole = f_hour
        mm = slash_range.get(hline[:13])
        if mm is None:
            slash_range[hline[:13]] = [ts, ts]
        else:
            if ts < mm[0]:
                mm[0] = ts
            if ts > mm[1]:
                mm[1] = ts
        bucket = utc_hour if whole else (utc_hour + int(hline[14:16]) * 60 + int(hline[17:19])) // 3600 * 3600
        key = (f_level, bucket)
        timeline[key] = timeline.get(key, 0) + 1

    def close(end: int) -> None:
        """Hand the current record on (candidate) or count it (blank lines before any text: neither)."""
        if blank_only and not fast:
            return
        if cand:  # a private key's line is masked: what parse_agent_lines' make() does, in file order
            masked = None
            single = parts is None or len(parts) == 1
            if single and not keys.open_at(start) and \
                    orphan_key_line(hline[hline.rfind(" ") + 1:] if fast else parts[0]):  # cheap screen first
                hh = header(hline) if fast else h
                msg_parts = [hh.message] if fast else parts
                if orphan_key_line(msg_parts[0]):  # the whole message is a key line out of a block
                    masked = MARK
            elif not single and not keys.open_at(start) and key_lines(parts[1:]):  # cheap screen first
                hh = header(hline) if fast else h
                msg_parts = [hh.message] + parts[1:] if fast else parts
                if orphan_key_text(msg_parts):  # every line a key line: its BEGIN is in an older rotation
                    masked = MARK
            if masked is None and (keys.until or "PRIVATE KEY" in (hline if fast else raw)
                                   or (not single and any("PRIVATE KEY" in x for x in parts))):
                hh = header(hline) if fast else h
                msg_parts = parts if not fast else [hh.message] if parts is None else [hh.message] + parts[1:]
                masked = keys.step(start, end, msg_parts[0] if len(msg_parts) == 1
                                   else "\n".join(msg_parts).rstrip("\n"))
            if masked is not None:
                sync()
                add(_make(source, kind, start, end, hh, masked_raw(hline if fast else raw, msg_parts[0], masked),
                          [masked]), partial, needed)
                return
        if fast:
            if not cand:
                if fast == ISO:
                    count_iso()
                else:
                    count_slash()
                return
            if (nchars if parts is not None else len(hline) - rest_at) < 4000:
                # a record whose hits are only counted (noise, context), and that explains itself
                # if it is a WARNING/ERROR: counted like the rest, no Record (memo by its text)
                key = (fast, f_level, hline[rest_at:]) if parts is None else \
                    (fast, f_level, hline[rest_at:], *parts[1:])
                plan = lean.get(key)
                if plan is None:
                    nkey = None
                    if guard is not None and parts is None:  # the plan of a text with other digits?
                        text = key[2]
                        norm = text.translate(_ZERO_DIGITS)
                        if norm != text and not needs_scrub(text):
                            nkey = (fast, f_level, norm)
                            plan = lean2.get(nkey)
                    if plan is None or plan is _UNSHARED:
                        plan = lean_plan(f_level, hline, parts)
                        if nkey is not None and nkey not in lean2:
                            _room(lean2)
                            lean2[nkey] = _UNSHARED if plan.__class__ is _Residue or guard.sensitive(norm) \
                                else plan
                    _room(lean)
                    lean[key] = plan
                if plan.__class__ is _Residue:
                    # an unexplained WARNING/ERROR whose tokens the miner has: counted, no Record
                    # (red team 8/13: 600 MB of such lines took 96 s, a Record each)
                    if fast == ISO:
                        if residue.add_seen(plan, f_level, _fromiso(hline[:26] + "+00:00")):
                            count_iso()
                            return
                    elif residue.add_seen(plan, f_level, p.local_ts(hline[:26])):
                        count_slash()
                        return
                elif plan is not False and all(pt.id in samples and (not pt.benign or pt.id in noise)
                                               and pt.id not in keep_last for pt in plan):
                    ordinal = collector.ordinal.get(source, 0) + counted + n_fast - n_fast_told + 1
                    if fast == ISO:
                        ts = count_iso()
                        for pt in plan:
                            pid = pt.id
                            pattern_counts[pid] += 1
                            last_pos[(pid, source)] = ordinal
                            if pt.benign:
                                seen = lean_noise.get(pid)
                                if seen is None:
                                    lean_noise[pid] = [1, ts, ts]
                                else:
                                    seen[0] += 1
                                    if ts < seen[1]:
                                        seen[1] = ts
                                    if ts > seen[2]:
                                        seen[2] = ts
                    else:  # local time: the noise counts take the UTC time at once
                        count_slash()
                        stamp = p.local_ts(hline[:26])
                        for pt in plan:
                            pid = pt.id
                            pattern_counts[pid] += 1
                            last_pos[(pid, source)] = ordinal
                            if pt.benign:
                                nc = noise[pid]
                                nc.count += 1
                                if nc.first_seen is None or stamp < nc.first_seen:
                                    nc.first_seen = stamp
                                if nc.last_seen is None or stamp > nc.last_seen:
                                    nc.last_seen = stamp
                    return
            hh = parsed[1] if parsed and parsed[0] is hline else header(hline)
            msg_parts = [hh.message] if parts is None else [hh.message] + parts[1:]
            sync()
            add(_make(source, kind, start, end, hh, raw, msg_parts), partial, needed)
        elif cand:
            sync()
            add(_make(source, kind, start, end, h, raw, parts), partial, needed)
        else:
            count_exact(h)

    held: list[bytes] = []  # the raw chunk the current block was decoded from

    def feed(data: bytes) -> None:
        marker.feed(data)
        held[:] = (data,)

    def skipped(at: int) -> None:
        """The quiet records of the plan's next stretch (it starts at block index ``at``) are
        counted: the record before it ends there."""
        nonlocal open_, n_fast, counted, stretch
        if open_:
            close(base + at)
            open_ = False
        n_fast += plan.n_iso[stretch]
        counted += plan.n_slash[stretch]
        stretch += 1

    try:
        for block in iter_line_blocks(stream, chunk=RAW_CHUNK, on_raw=feed, first_chunk=FIRST_CHUNK,
                                      stats=stats):
            everything = marker.everything
            base = n
            plan = None
            if held and not everything and (seen_e4 or seen_e2) and \
                    QUIET_MIN_LINES <= len(block) <= QUIET_MAX_LINES:
                plan = quiet_plan(held[0], block, base, marks, seen_e4, seen_e2)
            held.clear()
            visit = range(len(block)) if plan is None else plan.visit
            nxt = stretch = 0
            for k in visit:
                if k != nxt:
                    skipped(nxt)
                nxt = k + 1
                line = block[k]
                n = base + nxt
                # -- the common case: an ISO header, read by position ---------------------------
                if seen_e4 and line[26:28] == "Z " and line[13:20] in minsec:
                    b = hours.get(line[:13])
                    if b is None:
                        b = hours[line[:13]] = _hour(line[:13])
                    fr = line[20:26]
                    if b >= 0 and fr.isdigit() and fr.isascii():
                        sp = line.find(" ", 28)
                        level = line[28:sp] if sp != -1 else line[28:]
                        if level in levels:
                            if open_:
                                if fast == ISO and not cand:  # inline close() of a counted ISO record
                                    n_fast += 1
                                    ts = hline[:26]
                                    if ts < smin:
                                        smin = ts
                                    if ts > smax:
                                        smax = ts
                                    if f_bucket == run_bucket and f_level == run_level:
                                        run_n += 1
                                    else:
                                        if run_n:
                                            key = (run_level, run_bucket)
                                            timeline[key] = timeline.get(key, 0) + run_n
                                        run_level = f_level
                                        run_bucket = f_bucket
                                        run_n = 1
                                else:
                                    close(n - 1)
                            fast = ISO
                            hline = line
                            f_level = level
                            f_bucket = b
                            rest_at = sp + 1 if sp != -1 else len(line)
                            h = None
                            raw = line
                            start = n
                            parts = None
                            open_ = True
                            exact_chars = False
                            blank_only = False
                            cand = level in loud or n in marks or everything
                            continue
                # -- an E1/E2 header (local time), read by position -------------------------------
                if seen_e2 and line[26:27] == " " and line[16:20] in sec4 and line[13:16] in min3 \
                        and line[4:5] == "/":
                    hv = slash_hours.get(line[:13])
                    if hv is None:
                        hv = slash_hours[line[:13]] = _slash_hour(line[:13], p)
                    fr = line[20:26]
                    if hv and fr.isdigit() and fr.isascii():
                        sp = line.find(" ", 27)
                        level = line[27:sp] if sp != -1 else line[27:]
                        if level in levels:
                            if open_:
                                close(n - 1)
                            rest_at = sp + 1 if sp != -1 else len(line)
                            sp2 = line.find(" ", rest_at)
                            tok = line[rest_at:sp2] if sp2 != -1 else line[rest_at:]
                            era = tok_era.get(tok)
                            if era is None:
                                era = tok_era[tok] = _e12_era(tok)
                            fast, hline, f_level, f_hour, f_era = SLASH, line, level, hv, era
                            h, raw, start, parts, open_ = None, line, n, None, True
                            exact_chars = False
                            blank_only = False
                            cand = level in loud or n in marks or everything
                            continue
                # -- a continuation line (what classify says, without asking it) ------------------
                c = line[:1]
                if (c in plain_start or (c == " " and line.lstrip()[:1] not in quotes)) and "]: " not in line:
                    r = line
                else:
                    # -- everything else: the exact parser -------------------------------------
                    r = classify(line)
                    seen_e4 = p.seen_e4
                    seen_e2 = p.seen_e2
                if r.__class__ is AgentHeader and not (r.bare and open_ and (
                        fast or (h is not None and h.ts is not None))):
                    if open_:
                        close(n - 1)
                    fast = 0
                    h, raw, start, parts, open_ = r, line, n, [r.message], True
                    nchars, exact_chars = len(r.message), True
                    blank_only = False
                    cand = r.level in loud or n in marks or everything
                    continue
                text = line if r.__class__ is AgentHeader else r
                if not open_:
                    fast = 0
                    h, raw, start, parts, open_ = None, line, n, [text], True
                    nchars, exact_chars = len(text), True
                    blank_only = not text.strip()
                    cand = n in marks or everything
                    continue
                if blank_only and text.strip():
                    close(n - 1)
                    fast = 0
                    h, raw, start, parts = None, line, n, [text]
                    nchars, exact_chars = len(text), True
                    blank_only = False
                    cand = n in marks or everything
                    continue
                if parts is None:  # first continuation of an ISO record
                    parts = [hline[rest_at:]]
                    nchars = len(parts[0])
                if len(parts) >= MAX_RECORD_LINES or nchars >= MAX_RECORD_CHARS:
                    if not exact_chars:  # the thread/prefix words do not count: the exact size
                        message = header(hline).message
                        nchars -= len(parts[0]) - len(message)
                        parts[0] = message
                        exact_chars = True
                if len(parts) >= MAX_RECORD_LINES or nchars >= MAX_RECORD_CHARS:
                    close(n - 1)
                    if fast:  # the overflow keeps when/who, but not the level
                        h = header(hline)
                        fast = 0
                    if h is not None:
                        h = h._replace(level=None, message=text, bare=False)
                    raw, start, parts = line, n, [text]
                    nchars, exact_chars = len(text), True
                    blank_only = blank_only and not fast and not text.strip()  # still no text: no record
                    cand = n in marks or everything
                    continue
                parts.append(text)
                nchars += len(text) + 1
                if not cand and (n in marks or everything):
                    cand = True
            if nxt != len(block):  # pragma: no cover - the plan never skips a block's last record
                skipped(nxt)
            n = base + len(block)
            if marks:  # lines up to n are read; a mark beyond is for the next block's first line
                kept = [m for m in marks if m > n]
                marks.clear()
                marks.update(kept)
        if open_ and not (blank_only and not fast):
            close(n)
            last = header(hline) if fast else h  # the file's last record (what tally saw last)
            collector.tail_agent[source] = (None, False) if last is None or last.ts is None else \
                (last.ts, last.tz_guess)
        p.report(source, ctx, 0 if open_ and blank_only and not fast else n)  # blank lines only: just 'empty'
    finally:
        marker.close()
        sync()
        if run_n:
            key = (run_level, run_bucket)
            timeline[key] = timeline.get(key, 0) + run_n
        if n_fast:
            collector.eras["E4"] += n_fast
        if eras:
            collector.eras.update(eras)
            if p.tz_guess:
                collector.tz_guess[source] += sum(eras.values())
        stamps = [s for pair in slash_range.values() for s in pair]
        for ts in (p.local_ts(s) for s in stamps):
            _widen(collector, ts)
        for (level, bucket), k in timeline.items():
            collector.timeline[(kind, level, bucket)] += k
        if smax:
            for s in (smin, smax):
                _widen(collector, datetime.fromisoformat(s + "+00:00"))
        for pid, (k, first, last) in lean_noise.items():
            nc = collector.noise[pid]
            nc.count += k
            first, last = datetime.fromisoformat(first + "+00:00"), datetime.fromisoformat(last + "+00:00")
            if nc.first_seen is None or first < nc.first_seen:
                nc.first_seen = first
            if nc.last_seen is None or last > nc.last_seen:
                nc.last_seen = last
    return collector.ordinal.get(source, 0)
