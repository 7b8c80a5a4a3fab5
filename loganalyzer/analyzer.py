"""``analyze(path) -> Report``: ingest, parse, classify, combine, rank.

One pass over every input: data files first (they give the collection time, leases, the goal
state), then text logs, each record matched against the patterns of its input kind as it
streams by. Only aggregates are kept (pattern statistics with a few samples, residue
templates, timeline counts), so memory does not grow with log size; ``keep_records=True``
keeps every record for notebooks.
"""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from . import __version__, parallel, parsers
from .causes import load_causes
from .ingest import InputError, Limits, open_bundle
from .model import Evidence, Facts, Hit, InputFile, NoiseCount, ParseProblem, Record, Report, iso
from .redact import redact_data, scrub
from .patterns import Library, load_library
from .residue import Recorder, ResidueMiner
from .rules import (SAMPLES, Context, PatternStats, RuleSet, Sample, evaluate, evidence_text, load_rules,
                    route_causes, sample_of)
from .textio import MAX_LINE, cr_line_ends, iter_lines, looks_binary, read_capped

DATA_CAP = 16 * 1024 * 1024  # bytes read of one structured file
AGENT_KINDS = ("waagent_log", "command_execution_log")
FAST_KINDS = AGENT_KINDS  # read by loganalyzer.fastpath when big enough
FAST_MIN_BYTES = 1 << 20  # smaller files: the slow path costs less than building the pre-filter
FACT_PATTERNS = {
    "start.daemon": "agent_daemon_version",
    "start.exthandler": "agent_goal_state_version",
}
TIMELINE_BUCKET = 3600  # seconds
_EPOCH_DAY = 719163  # date(1970, 1, 1).toordinal()
_NO_GROUPS: dict[str, str] = {}  # shared, never mutated
GROUPS_MEMO = 4096  # matches whose named groups a collector keeps at once

_cache: dict[str, Any] = {}


def _library(extra: Path | None) -> Library:
    key = f"lib:{extra}"
    if key not in _cache:
        _cache[key] = load_library(extra)
    return _cache[key]


def _rules() -> RuleSet:
    if "rules" not in _cache:
        _cache["rules"] = load_rules()
    return _cache["rules"]


class _Collector:
    """Aggregates hits while records stream by."""

    def __init__(self, library: Library, rules: RuleSet, keep: bool) -> None:
        self.library = library
        self.rules = rules
        self.stats: dict[tuple[str, str], PatternStats] = {}
        self.pattern_counts: Counter = Counter()
        self.pattern_samples: dict[str, Sample] = {}
        self.noise: dict[str, NoiseCount] = {}
        self.residue = ResidueMiner()
        self.kinds: Counter = Counter()
        self.eras: Counter = Counter()
        self.timeline: Counter = Counter()
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.last_agent: datetime | None = None
        # per agent log: (time, tz_guess) of its last record in file order (a clock set back by NTP
        # leaves the largest time behind it: the agent's last word is the last record, not the max)
        self.tail_agent: dict[str, tuple[datetime | None, bool]] = {}
        self.records: list[Record] | None = [] if keep else None
        self.hits: list[Hit] | None = [] if keep else None
        self.versions: dict[str, list[tuple[datetime | None, str]]] = {}  # (time of the record, version)
        self.since: datetime | None = None
        self.ordinal: dict[str, int] = {}  # records read per source
        self.tz_guess: Counter = Counter()  # records with local time read in an assumed zone, per source
        self.last_pos: dict[tuple[str, str], int] = {}  # (pattern, source) -> ordinal of its last hit
        self.until: datetime | None = None
        self.fast = not keep  # the fast path counts records it does not keep
        # patterns whose last hit per file a rule shows (the open marker of a hang): always matched
        self.keep_last: frozenset[str] = rules.last_sample_patterns(library)
        # (pattern, source) -> its last hit, as (record, 0, groups): its evidence text is built
        # only for the one that is kept (a backup extension.log has a hang marker every run)
        self.last_samples: dict[tuple[str, str], tuple] = {}
        self._groups: dict[int, tuple] = {}  # id(match) -> (match, its named groups): see _match

    def add(self, record: Record, partial: bool, only: frozenset[str] | None = None) -> None:
        """Count ``record`` and its pattern hits; ``only`` (the fast path, for records that are
        not WARNING/ERROR) limits matching to the patterns whose hits a report can show."""
        n = self.count(record)
        if n:
            self._match(record, partial, only, n)

    def count(self, record: Record) -> int:
        """Count ``record`` (kinds, eras, times, timeline) without matching it; return its ordinal
        in its file, 0 when the time range leaves it out."""
        n = self.tally(record.source, record.kind, record.ts, record.level, record.era, record.prefix,
                       record.tz_guess)
        if n and self.records is not None:
            self.records.append(record)
        return n

    def tally(self, source: str, kind: str, ts: datetime | None, level: str | None, era: str | None,
              prefix: str | None, tz_guess: bool) -> int:
        """:meth:`count` from a record's fields (the fast path has no Record for most lines)."""
        if ts is not None and ((self.since and ts < self.since) or (self.until and ts > self.until)):
            return 0
        self.kinds[kind] += 1
        n = self.ordinal[source] = self.ordinal.get(source, 0) + 1
        if era:
            self.eras[era] += 1
            if era == "E0" and prefix is None and kind in AGENT_KINDS:
                # waagent 2.0 itself, not an old extension writing through its module (§1.7)
                self.eras["E0-agent"] += 1
                if level in ("ERROR", "WARNING"):
                    self.eras["E0-agent-marked"] += 1
        if tz_guess:
            self.tz_guess[source] += 1
        if ts is not None:
            if self.first is None or ts < self.first:
                self.first = ts
            if self.last is None or ts > self.last:
                self.last = ts
            if kind in AGENT_KINDS and (self.last_agent is None or ts > self.last_agent):
                self.last_agent = ts
            # whole hours in integers (a float timestamp() of 9999-12-31T23:59:59.999999 rounds to year 10000)
            bucket = (ts.toordinal() - _EPOCH_DAY) * 86400 + ts.hour * 3600
            self.timeline[(kind, level or "-", bucket)] += 1
        if kind in AGENT_KINDS:
            self.tail_agent[source] = (ts, tz_guess and ts is not None)
        return n

    def _match(self, record: Record, partial: bool, only: frozenset[str] | None, n: int) -> None:
        ts = record.ts
        explained = False
        source = record.source
        if only is not None and record.level in ("WARNING", "ERROR"):
            only = None  # the residue miner needs to know whether any pattern explains it
        for pattern, m in self.library.scan(record, only):
            pid = pattern.id
            explained = True
            self.pattern_counts[pid] += 1
            self.last_pos[(pid, source)] = n
            first = pid not in self.pattern_samples
            # named groups cost a dict per hit: build them only where something reads them
            if first or pattern.causes or pid in FACT_PATTERNS or self.hits is not None:
                # the scan memo gives the same match for the same message: its groups once (a flood
                # of one error spent a tenth of its time here); the dict is shared, never mutated
                seen = self._groups.get(id(m))
                if seen is not None and seen[0] is m:
                    groups = seen[1]
                else:
                    groups = {k: v for k, v in m.groupdict().items() if v is not None}
                    if len(self._groups) >= GROUPS_MEMO:
                        self._groups.clear()
                    self._groups[id(m)] = (m, groups)  # holding m: its id is not reused meanwhile
            else:
                groups = _NO_GROUPS
            if first:
                self.pattern_samples[pid] = Sample(source, record.line, evidence_text(record), ts, groups)
            if pid in self.keep_last:
                self.last_samples[(pid, source)] = (record, 0, groups)
            if self.hits is not None:
                self.hits.append(Hit(pid, record, groups))
            field_name = FACT_PATTERNS.get(pid)
            if field_name and groups.get("version"):
                self.versions.setdefault(field_name, []).append((ts, groups["version"]))
            if pattern.benign:
                self._noise(pid, record)
                continue
            if not pattern.causes:
                continue
            for cause in route_causes(pattern, record, groups, self.rules.routes):
                st = self.stats.get((cause, pid))
                if st is None:
                    st = self.stats[(cause, pid)] = PatternStats(pattern)
                st.add(record, groups, partial, m.start())
        if not explained and record.level in ("WARNING", "ERROR"):
            self.residue.add(record)

    # -- parallel reading (loganalyzer.parallel): one collector per file, merged in file order ------
    def part(self) -> "_Collector":
        """An empty collector for one file read in a worker, with this one's settings."""
        c = _Collector(self.library, self.rules, False)
        c.since, c.until, c.fast = self.since, self.until, self.fast
        c.residue = Recorder()
        return c

    def detach(self) -> dict:
        """This part's state, picklable and without the library (patterns travel by ID)."""
        state = {k: v for k, v in vars(self).items() if k not in ("library", "rules", "_groups")}
        state["stats"] = {key: (st.pattern.id, {k: v for k, v in vars(st).items() if k != "pattern"})
                          for key, st in self.stats.items()}
        return state

    def merge(self, state: dict) -> None:
        """Add a part read after everything merged so far: the result is what reading its file
        here, in this order, would have given (counts, first samples, last samples, residue)."""
        for key, (pid, fields) in state["stats"].items():
            st = self.stats.get(key)
            if st is None:
                self.stats[key] = PatternStats(self.library.get(pid), **fields)
            else:
                _merge_stats(st, fields)
        self.pattern_counts.update(state["pattern_counts"])
        for pid, sample in state["pattern_samples"].items():
            self.pattern_samples.setdefault(pid, sample)
        for pid, n in state["noise"].items():
            mine = self.noise.get(pid)
            if mine is None:
                self.noise[pid] = n
                continue
            mine.count += n.count
            mine.first_seen = _earliest(mine.first_seen, n.first_seen)
            mine.last_seen = _latest(mine.last_seen, n.last_seen)
        for prepared in state["residue"]:
            self.residue.absorb(prepared)
        for name in ("kinds", "eras", "timeline", "tz_guess"):
            getattr(self, name).update(state[name])
        self.first = _earliest(self.first, state["first"])
        self.last = _latest(self.last, state["last"])
        self.last_agent = _latest(self.last_agent, state["last_agent"])
        self.tail_agent.update(state["tail_agent"])
        for source, n in state["ordinal"].items():
            self.ordinal[source] = self.ordinal.get(source, 0) + n
        self.last_pos.update(state["last_pos"])
        self.last_samples.update(state["last_samples"])
        for name, versions in state["versions"].items():
            self.versions.setdefault(name, []).extend(versions)

    def _noise(self, pid: str, record: Record) -> None:
        n = self.noise.get(pid)
        if n is None:
            n = self.noise[pid] = NoiseCount(pid, 0, record.ts, record.ts,
                                             Evidence(record.source, record.line, evidence_text(record),
                                                      record.ts, pid))
        n.count += 1
        if record.ts is not None:
            if n.first_seen is None or record.ts < n.first_seen:
                n.first_seen = record.ts
            if n.last_seen is None or record.ts > n.last_seen:
                n.last_seen = record.ts


def _prefilter(library: Library, rules: RuleSet, kind: str):
    """The fast path's pre-filter for ``kind`` (built once per library), or None."""
    key = ("prefilter", library.version, id(library), kind)
    if key not in _cache:
        from . import fastpath  # noqa: PLC0415 - only big files pay for it
        if "needed" + library.version not in _cache:
            _cache["needed" + library.version] = fastpath.needed_patterns(library, rules)
        literals = fastpath.literals_for(library, _cache["needed" + library.version], kind)
        needed = frozenset(_cache["needed" + library.version])
        pf = _cache[key] = fastpath.Prefilter(literals, needed) if literals is not None else None
        if pf is not None and kind in FAST_KINDS:
            pf.guard(library, kind)  # built here, before a fork: not once per worker
    return _cache[key]


def _read_fast(member, ctx: parsers.ParseContext, collector: _Collector, info: InputFile,
               prefilter) -> None:
    from .fastpath import read_agent_log  # noqa: PLC0415
    before = collector.ordinal.get(member.path, 0)
    stream = _text_stream(member, ctx)
    stats: dict = {}
    try:
        read_agent_log(stream, member.path, member.kind, ctx, collector, bool(member.truncated), prefilter,
                       stats)
    except parsers.ParseError as exc:
        ctx.problem(member.path, f"unreadable: {exc}", severity="error")
        info.status = "error"
        info.error = str(exc)
    except (OSError, EOFError, ValueError) as exc:  # decompression or read errors mid-stream
        n = collector.ordinal.get(member.path, 0) - before
        ctx.problem(member.path, f"read error after {n} records: {exc}", severity="error")
        info.status = "error"
        info.error = str(exc)
        info.truncated = True
    finally:
        try:
            stream.close()
        except Exception:  # noqa: BLE001 - closing a broken stream must not hide the result
            pass
    info.records = collector.ordinal.get(member.path, 0) - before
    if getattr(member, "truncated", False):
        info.truncated = True
    _report_cuts(member, ctx, stats)


def _text_stream(member, ctx: parsers.ParseContext):
    """The member opened for line reading: a file whose lines end in a lone CR reads them as lines."""
    stream, cr_only = cr_line_ends(member.open())
    fmt = _archive_format(stream.head)
    if fmt == "zip":  # red team 17: a logs.zip saved as waagent.log.1 was 'binary data', whole
        ctx.problem(member.path, "a zip archive under a log's name: the files in it are not read (unpack "
                    "it into the bundle)", partial=True)
    elif fmt == "tar":
        ctx.problem(member.path, "a tar archive under a log's name: read as text (the lines of the files "
                    "in it are read, their names are not)")
    elif looks_binary(stream.head):
        ctx.problem(member.path, "looks like binary data, not text (an executable, an image or random "
                    "bytes under a log's name?): read as text all the same")
    if cr_only:
        ctx.problem(member.path, "its lines end in a lone CR (classic Mac line ends): read with CR as "
                    "the line break", severity="info")
    return stream


def _archive_format(head: bytes) -> str | None:
    """"zip" or "tar" when a (decompressed) log starts like one, else None."""
    from .ingest import _detect  # noqa: PLC0415
    fmt = _detect(head[:512])
    return fmt if fmt in ("zip", "tar") else None


def _report_cuts(member, ctx: parsers.ParseContext, stats: dict) -> None:
    if stats.get("cut"):
        ctx.problem(member.path, f"{stats['cut']} line(s) longer than {MAX_LINE // 1024} KiB cut there "
                    "(the rest of each is not read)")


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _merge_stats(st: PatternStats, later: dict) -> None:
    """``st`` followed by the hits summarised in ``later`` (fields of a PatternStats)."""
    k = SAMPLES // 2
    later_gap = later["count"] - len(later["head"]) - len(later["tail"])
    head = list(st.head)
    rest: list = []
    b_head = later["head"]
    if len(head) < k:  # st never filled its head, so it has no tail yet either
        need = k - len(head)
        head += b_head[:need]
        b_head = b_head[need:]
    else:
        rest += st.tail
    rest += b_head
    rest = list(later["tail"]) if later_gap > 0 else rest + list(later["tail"])
    st.head, st.tail = head, rest[-k:] if len(rest) > k else rest
    st.count += later["count"]
    st.times.extend(later["times"])
    st.first = _earliest(st.first, later["first"])
    st.last = _latest(st.last, later["last"])
    for name, counter in later["values"].items():
        st.values.setdefault(name, Counter()).update(counter)
    st.partial = st.partial or later["partial"]


def _records_of(parse, *args):
    """``parse(*args)``, run where its records are read: inside the caller's error handling."""
    yield from parse(*args)


def _read_member(member, ctx: parsers.ParseContext, collector: _Collector, info: InputFile) -> None:
    kind = member.kind
    partial = bool(member.truncated)
    stats: dict = {}  # lines cut by the reader
    if collector.fast and kind in FAST_KINDS and (member.size or 0) >= FAST_MIN_BYTES:
        prefilter = _prefilter(collector.library, collector.rules, kind)
        if prefilter is not None:
            return _read_fast(member, ctx, collector, info, prefilter)
    prefilter = None
    if kind in parsers.DATA_PARSERS:
        with member.open() as stream:
            data, cut = read_capped(stream, DATA_CAP)
        if cut:
            ctx.problem(member.path, f"file larger than {DATA_CAP // (1024 * 1024)} MB; only the start was read")
            info.truncated = partial = True
        records = _records_of(parsers.DATA_PARSERS[kind], data, member.path, ctx)
    elif kind in parsers.TEXT_PARSERS:
        stream = _text_stream(member, ctx)
        prefilter = None
        if collector.fast and (member.size or 0) >= FAST_MIN_BYTES:
            prefilter = _prefilter(collector.library, collector.rules, kind)
        if prefilter is not None:  # records of no interest are counted, not matched
            from .fastpath import Tap, candidates  # noqa: PLC0415
            tap = ctx.lean = Tap(stream, prefilter, collector)
            records = parsers.TEXT_PARSERS[kind](iter_lines(tap, stats=stats), member.path, ctx)
            records = candidates(records, tap, collector)
        else:
            records = parsers.TEXT_PARSERS[kind](iter_lines(stream, stats=stats), member.path, ctx)
    else:
        info.status = "skipped"
        return
    n = 0
    only = None if prefilter is None else prefilter.needed
    try:
        for record in records:
            n += 1
            collector.add(record, partial, only)
        if prefilter is not None:
            n = tap.records
    except parsers.ParseError as exc:
        ctx.problem(member.path, f"unreadable: {exc}", severity="error")
        info.status = "error"
        info.error = str(exc)
    except (OSError, EOFError, ValueError) as exc:  # decompression or read errors mid-stream
        if prefilter is not None:
            n = tap.records
        ctx.problem(member.path, f"read error after {n} records: {exc}", severity="error")
        info.status = "error"
        info.error = str(exc)
        info.truncated = True
    finally:
        ctx.lean = None
        if kind in parsers.TEXT_PARSERS and kind not in parsers.DATA_PARSERS:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closing a broken stream must not hide the result
                pass
    info.records = n
    if getattr(member, "truncated", False):
        info.truncated = True
    _report_cuts(member, ctx, stats)


def _listed_but_absent(bundle, ctx: parsers.ParseContext) -> None:
    """Logs results.txt says the log collector added that the bundle does not hold (red team 10: a
    rotation listed as added but missing from the zip went unsaid): the bundle is partial. Only
    files the analysis would read as logs count (a history zip is expanded, not a member); one the
    bundle holds but that was refused is said as refused, not as absent (red team 17)."""
    from .inputs import classify
    col = ctx.facts.extra.get("collector")
    if not col or not col.get("added_files"):
        return
    by_name: dict[str, list[str]] = {}  # a bundle may sit in a folder: compare path endings
    for path in [m.path for m in bundle.members] + list(getattr(bundle, "unknown", [])) + \
            list(getattr(bundle, "refused", [])) + [p.source for p in getattr(bundle, "problems", [])]:
        by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)
    absent = []
    named: set[str] = set()  # a file results.txt lists twice is named once (red team 16)
    for added in col["added_files"]:
        rel = posixpath.normpath("/" + added).strip("/")  # '/var/log//azure/x/../x' (red team 15)
        if rel in named:
            continue
        named.add(rel)
        kind = classify(rel)
        if kind not in parsers.TEXT_PARSERS or kind in parsers.DATA_PARSERS:
            continue
        if not any(p == rel or p.endswith("/" + rel) for p in by_name.get(rel.rsplit("/", 1)[-1], ())):
            absent.append("/" + rel)  # as the VM names it, normalised
    if absent:
        names = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")
        ctx.problem(col.get("source") or "results.txt", f"{len(absent)} log file(s) the log collector added are "
                    f"not in the bundle: {names}", partial=True)


def _read_one(member, ctx: parsers.ParseContext, collector: _Collector, report: Report) -> None:
    info = InputFile(path=member.path, kind=member.kind, size=member.size, truncated=bool(member.truncated))
    report.inputs.append(info)
    try:
        _read_member(member, ctx, collector, info)
    except (OSError, EOFError, ValueError, InputError) as exc:
        ctx.problem(member.path, f"cannot read: {exc}", severity="error")
        info.status, info.error = "error", str(exc)


def _read_parallel(bundle, logs: list, how: parallel.Plan, ctx: parsers.ParseContext,
                   collector: _Collector, report: Report) -> None:
    """Read ``logs`` in several processes (loganalyzer.parallel), then merge in file order."""
    for kind in {m.kind for m in logs if m.kind in FAST_KINDS}:  # built once, before the fork
        _prefilter(collector.library, collector.rules, kind)
    found = getattr(bundle, "problems", None)  # what reading finds (a bomb, a cut gzip) goes here

    def read(i: int):
        part = collector.part()
        pctx = parsers.ParseContext(facts=ctx.facts, tz=ctx.tz, tz_known=ctx.tz_known, scratch=ctx.scratch)
        sub = Report(bundle="", tool_version="", patterns_version="")
        before = len(found) if found is not None else 0
        slow = set(collector.library.slow)
        _read_one(logs[i], pctx, part, sub)
        _slow_patterns(collector.library, collector.library.slow - slow, pctx)  # a worker's own
        new: list[ParseProblem] = []
        if found is not None:  # taken out here, put back in file order below
            new = found[before:]
            del found[before:]
            for p in new:
                bundle._seen_problems.discard((p.source, p.message))
        return part.detach(), pctx.problems, sub.inputs[0], new

    results = parallel.run(how, read)
    for i, member in enumerate(logs):
        if i not in results:  # its worker died: read it here
            results[i] = read(i)
        state, problems, info, new = results[i]
        collector.merge(state)
        ctx.problems.extend(problems)
        for p in new:
            bundle._problem(p.source, p.message, p.severity)
        if info.truncated:
            member.truncated = True
        report.inputs.append(info)


def _data_first(member) -> tuple[int, str]:
    return (0 if member.kind in parsers.DATA_PARSERS else 1, member.path)


def analyze(path: str | Path, *, patterns: str | Path | None = None, keep_records: bool = False,
            since: datetime | timedelta | None = None, until: datetime | timedelta | None = None,
            limits: Limits | None = None, jobs: int | None = None) -> Report:
    """Analyse one bundle; raises :class:`InputError` (one line) when it cannot be read at all.

    ``since``/``until`` keep records in a time range: absolute UTC datetimes, or timedeltas
    counted back from the bundle's collection time (``since=timedelta(hours=24)`` = the last day
    before collection), never from now. ``jobs`` caps the processes that read a big bundle's logs
    (None: one per core when the logs are big enough; 1: this process only).
    """
    t0 = time.perf_counter()
    if isinstance(path, (bytes, bytearray)):  # a path as the OS gives it (os.listdir of bytes)
        path = os.fsdecode(bytes(path))
    parsers.load_all()
    library = _library(Path(patterns) if patterns else None)
    library.slow.clear()  # user patterns stopped in an earlier run of this process start again
    rules = _rules()
    causes = load_causes()
    timings: dict[str, float] = {"load": time.perf_counter() - t0}
    t0i = time.perf_counter()
    report = Report(bundle=str(path), tool_version=__version__, patterns_version=library.version,
                    generated_at=datetime.now(timezone.utc))
    with open_bundle(path, limits or Limits()) as bundle:
        timings["ingest"] = time.perf_counter() - t0i
        ctx = parsers.ParseContext()
        collector = _Collector(library, rules, keep_records)
        # absolute bounds apply at once; durations count back from the collection time, which the
        # data files (results.txt) give: they are resolved before the first log is read
        collector.since, collector.until = [v if isinstance(v, datetime) else None for v in (since, until)]
        if collector.since and collector.until and collector.since > collector.until:  # red team 17
            raise InputError(f"--since ({collector.since.isoformat()}) is after --until "
                             f"({collector.until.isoformat()}): no record can be in that window")
        collector.fast = collector.fast and since is None and until is None
        relative = isinstance(since, timedelta) or isinstance(until, timedelta)
        known = [m for m in bundle.members if m.kind in parsers.DATA_PARSERS or m.kind in parsers.TEXT_PARSERS]
        if not known:
            refused = [p for p in getattr(bundle, "problems", []) if p.severity == "error"]
            if refused:  # what was there was refused (bombs, overlapping entries): say why
                more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
                raise InputError(f"nothing readable in {path}: {refused[0].message}{more}")
            names = [p for p in getattr(bundle, "problems", []) if p.message.startswith("refusing member")]
            why = f"; {len(names)} member(s) refused, e.g. {names[0].message[len('refusing member '):]}" \
                if names else ""
            raise InputError(f"no known input in {path} (looked for waagent.log, /var/log/azure, "
                             f"/var/lib/waagent, leases, waagent.conf){why}")
        t1 = time.perf_counter()
        members = sorted(bundle.members, key=_data_first)
        logs = [m for m in members if m.kind not in parsers.DATA_PARSERS]
        for member in members[:len(members) - len(logs)]:  # data files: facts, collection time
            _read_one(member, ctx, collector, report)
        _listed_but_absent(bundle, ctx)
        if relative and logs:  # durations count back from the collection time the data files gave
            collector.since, collector.until = _resolve_window(since, until, ctx.facts)
        if ctx.facts.collection_time is None and any(m.kind == "syslog" for m in logs):
            ctx.scratch["year_reference"] = _newest_dated_time(logs, ctx)
        logs = _without_copies(logs, ctx, report)
        how = parallel.plan(logs, jobs, FAST_KINDS) if collector.fast else None
        if how is None:
            for member in logs:
                _read_one(member, ctx, collector, report)
        else:
            _read_parallel(bundle, logs, how, ctx, collector, report)
        for info in report.inputs:  # red team 13: a zip of one 0-byte waagent.log gave a clean report, no word
            if not info.records and info.status == "read" and info.kind in parsers.TEXT_PARSERS \
                    and info.kind not in parsers.DATA_PARSERS:
                ctx.problem(info.path, "empty: no record in it", severity="info")
        for unknown in getattr(bundle, "unknown", []):
            report.inputs.append(InputFile(path=unknown, kind=None, status="unknown"))
        _slow_patterns(library, library.slow, ctx)
        _cap_extensions(ctx)
        said: set = set()  # a reason found in several processes (a stopped pattern): said once
        ctx.problems[:] = [p for p in ctx.problems if not p.partial or not (
            (p.source, p.message) in said or said.add((p.source, p.message)))]
        report.problems.extend(getattr(bundle, "problems", []))
        report.problems.extend(ctx.problems)
        report.partial_reasons = _partial_reasons(bundle, report)
        report.partial_reasons += [f"{p.source}: {p.message}" for p in ctx.problems if p.partial]
        report.partial = bool(getattr(bundle, "partial", False) or report.partial_reasons)
        zone = getattr(ctx.tz, "key", None) or str(ctx.tz)
        for source, n in sorted(collector.tz_guess.items()):
            report.problems.append(ParseProblem(
                source, f"{n} record(s) carry local time without a zone (agent 2.2.45 and older, Python-2 "
                        f"extension logs); read as {zone}, which is a guess: times may be off by the VM's "
                        f"UTC offset", severity="info", key="problem.local_time",
                params={"n": n, "zone": zone}))
        timings["parse_match"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    facts = ctx.facts
    _facts_from_logs(facts, collector)
    report.problems.extend(_plausible_collection_time(facts, collector))
    last_agent, last_guess, last_source = _agent_last_word(collector)
    if last_agent is not None:  # what the silence rule measures from (shown, and compared by the tests)
        facts.extra["agent_last_record"] = iso(last_agent)
    scrub_facts(facts)
    rule_ctx = Context(facts=facts, inputs=report.inputs, stats=collector.stats,
                       pattern_counts=collector.pattern_counts, pattern_samples=collector.pattern_samples,
                       kinds=collector.kinds, eras=collector.eras, last_agent_ts=last_agent,
                       last_agent_guess=last_guess, last_agent_source=last_source,
                       ordinal=collector.ordinal, last_pos=collector.last_pos,
                       last_samples={k: sample_of(hit) for k, hit in collector.last_samples.items()},
                       window=(collector.since, collector.until))
    findings, below, not_evaluable = evaluate(rule_ctx, rules, causes)
    report.findings = findings
    report.facts = facts
    report.noise = sorted(list(collector.noise.values()) + below, key=lambda n: -n.count)
    report.unexplained = collector.residue.templates(limit=50)
    if collector.residue.dropped:
        report.problems.append(ParseProblem(
            "-", f"{collector.residue.dropped} WARNING/ERROR record(s) no pattern explains were too many "
                 "or too varied to group: counted, not in the list of unexplained messages", severity="info"))
    report.not_evaluable = not_evaluable
    report.timeline = [{"kind": k, "level": lvl, "bucket": datetime.fromtimestamp(b, timezone.utc).isoformat().replace("+00:00", "Z"),
                        "t": b, "count": n} for (k, lvl, b), n in sorted(collector.timeline.items())]
    report.records = collector.records
    report.hits = collector.hits
    timings["rules"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    report.timings = {k: round(v, 4) for k, v in timings.items()}
    return report


def _partial_reasons(bundle, report: Report, limit: int = 20) -> list[str]:
    """Why the report may miss something: members the bundle did not read (errors of the ingest
    step), inputs cut short or unreadable. One line each, at most ``limit`` (then a count)."""
    reasons = [f"{p.source}: {p.message}" for p in getattr(bundle, "problems", [])
               if p.severity == "error" or (p.severity == "warning" and "partial" in p.message)]
    for info in report.inputs:
        if info.status == "error":
            reasons.append(f"{info.path}: not read ({info.error or 'error'})")
        elif info.truncated and not info.path.rsplit("/", 1)[-1].startswith("truncated_"):
            reasons.append(f"{info.path}: read only in part")
    if len(reasons) > limit:
        reasons[limit:] = [f"... and {len(reasons) - limit} more"]
    return reasons


def _scrubbed(value: Any) -> Any:
    """A fact value without secrets: strings scrubbed, lists item by item, dicts by redact_data
    (keys too; a value under a secret key masked whole), fact objects field by field."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return redact_data(value)
    if hasattr(value, "__slots__") and not isinstance(value, datetime):
        for name in value.__slots__:
            setattr(value, name, _scrubbed(getattr(value, name)))
    return value


def scrub_facts(facts: Facts) -> None:
    """Mask secrets in every fact of the bundle, in place, before rules, renderers, DataFrames and
    batch tables see them: an extension named ``Ext.sig=X`` in a goal state, ``NAME="... password=X"``
    in os-release, ``HttpProxy.Host=user:pw@proxy`` (red team 9: batch tables, the console summary,
    ``report.frames`` and ``repr(report)`` showed them; the four renderers masked them)."""
    for name in facts.__slots__:
        value = getattr(facts, name)
        if name == "extensions":
            out = {}
            for key, ext in value.items():
                _scrubbed(ext)
                k = scrub(key)
                while k in out:  # two names that differ only in a secret: keep both
                    k += " (2)"
                out[k] = ext
            facts.extensions = out
        else:
            setattr(facts, name, _scrubbed(value))


def _slow_patterns(library: Library, ids, ctx: parsers.ParseContext) -> None:
    """A problem for each user pattern stopped because one search ran out of time (the report is
    partial: that pattern's later hits are missing)."""
    from .patterns import USER_SEARCH_TIMEOUT_S  # noqa: PLC0415
    for pid in sorted(ids):
        p = library.get(pid)
        ctx.problem(p.where if p is not None else pid,
                    f"pattern {pid}: one search took more than {USER_SEARCH_TIMEOUT_S:g} s (catastrophic "
                    "backtracking?); not used after that, its later hits are missing", partial=True)


MAX_EXTENSIONS = 200  # a VM runs a few dozen handlers at most: more is a broken or crafted file


def _cap_extensions(ctx: parsers.ParseContext) -> None:
    """Keep the :data:`MAX_EXTENSIONS` extensions the bundle says most about (a status, a handler
    state, more files), in the order first seen; say how many more were named and by which file."""
    ext = ctx.facts.extensions
    if len(ext) <= MAX_EXTENSIONS:
        return
    names = list(ext)
    order = {n: i for i, n in enumerate(names)}
    ranked = sorted(names, key=lambda n: (ext[n].status is None, ext[n].handler_state is None,
                                          -len(ext[n].sources), order[n]))
    keep = set(ranked[:MAX_EXTENSIONS])
    dropped = [n for n in names if n not in keep]
    where = Counter(s for n in dropped for s in ext[n].sources[:1])
    ctx.facts.extensions = {n: ext[n] for n in names if n in keep}
    source = where.most_common(1)[0][0] if where else "(bundle)"
    ctx.problem(source, f"{len(dropped)} more extensions named than the {MAX_EXTENSIONS} listed "
                "(the ones the bundle says most about are kept)")


def _resolve_window(since, until, facts: Facts) -> tuple[datetime | None, datetime | None]:
    out = []
    for value in (since, until):
        if isinstance(value, timedelta):
            if facts.collection_time is None:
                raise InputError("a relative --since/--until needs the bundle's collection time "
                                 "(results.txt); give an absolute UTC time instead")
            try:
                value = facts.collection_time - value
            except OverflowError:  # further back than year 1: before every record
                value = datetime.min.replace(tzinfo=timezone.utc)
        out.append(value)
    if out[0] is not None and out[1] is not None and out[0] > out[1]:
        raise InputError(f"--since ({out[0].isoformat()}) is after --until ({out[1].isoformat()}): no record "
                         "can be in that window (a duration counts back from the collection time)")
    return out[0], out[1]


def _plausible_collection_time(facts: Facts, c: _Collector) -> list[ParseProblem]:
    """A collection time (results.txt) in the future is not used: the newest record's time is (red
    team 9: results.txt stamped 9999-12-31 made the agent 'silent for 69,908,583 h'). One before the
    newest log record is kept (the collector read the same clock the agent's last lines did; one
    garbled line dated 9999, or a clock that ran ahead and was set back, must not replace it: red
    team 11); a problem says that records are dated after it."""
    ct, newest = facts.collection_time, c.last
    if ct is None or newest is None or facts.collection_time_source == "newest log record":
        return []
    source = facts.collection_time_source or "results.txt"
    if ct > datetime.now(timezone.utc) + timedelta(days=1):
        facts.collection_time, facts.collection_time_source = newest, "newest log record"
        return [ParseProblem(source, f"the collection time it gives ({ct.isoformat()}) is in the future: the "
                                     "newest log record's time is used instead", key="problem.collection_future",
                             params={"time": ct.isoformat()})]
    if ct < newest - timedelta(days=1):
        return [ParseProblem(source, f"log records are dated after the collection time it gives ({ct.isoformat()}; "
                                     f"newest {newest.isoformat()}): a clock that ran ahead, or wrong dates in a "
                                     "log", severity="info", key="problem.records_after_collection",
                             params={"time": ct.isoformat(), "newest": newest.isoformat()})]
    return []


def _agent_last_word(c: _Collector) -> tuple[datetime | None, bool, str | None]:
    """(time, read in a guessed zone, file) of the agent's last record: the newest of the agent
    logs' last records in file order, else the largest agent time (no log ends with a dated record)."""
    tails = [(t[0], t[1], src) for src, t in c.tail_agent.items() if t[0] is not None]
    return max(tails, key=lambda t: t[0]) if tails else (c.last_agent, False, None)


_NO_TIME = datetime.min.replace(tzinfo=timezone.utc)
HEAD_BYTES = 64 * 1024


def _digest(member, limit: int | None = None) -> bytes | None:
    """BLAKE2 of a member's content (decompressed), or of its first ``limit`` bytes; None if unreadable
    or empty (red team 17: a .zst rotation, which gives no text, was the 'duplicate' of an empty one
    and so never said to be unread)."""
    h = hashlib.blake2b(digest_size=16)
    got = 0
    try:
        with member.open() as stream:
            left = limit
            while left is None or left > 0:
                chunk = stream.read(1 << 20 if left is None else min(left, 1 << 20))
                if not chunk:
                    break
                h.update(chunk)
                got += len(chunk)
                if left is not None:
                    left -= len(chunk)
    except (OSError, ValueError, EOFError):
        return None
    return h.digest() if got else None


def _without_copies(logs: list, ctx: parsers.ParseContext, report: Report) -> list:
    """The logs without a second copy of the same content (waagent.log.1 beside waagent.log.1.gz, a
    folder beside its own logs.zip): red team 10 found every record of such a pair counted twice. The
    first 64 KiB of each log are compared; only logs that start alike are read whole to be sure.
    A copy is listed as an input with status "duplicate" and an info problem names the original."""
    if len(logs) < 2:
        return logs
    heads: dict[tuple, list] = {}
    for member in logs:
        head = _digest(member, HEAD_BYTES)
        if head is not None:
            heads.setdefault((member.kind, head), []).append(member)
    dropped: set[int] = set()
    for group in heads.values():
        if len(group) < 2:
            continue
        first_of: dict[bytes, str] = {}
        for member in group:
            whole = _digest(member)
            if whole is None:
                continue
            if whole in first_of:
                dropped.add(id(member))
                ctx.problem(member.path, f"the same content as {first_of[whole]}: read once, there",
                            severity="info")
                report.inputs.append(InputFile(path=member.path, kind=member.kind, size=member.size,
                                               status="duplicate"))
            else:
                first_of[whole] = member.path
    return [m for m in logs if id(m) not in dropped]


TAIL_BYTES = 256 * 1024


def _newest_dated_time(logs: list, ctx: parsers.ParseContext) -> datetime | None:
    """The newest stamp with a year in the last 256 KiB of the bundle's plain (not compressed) agent
    logs and syslogs: the reference year of syslog stamps, which carry none, when no results.txt tells
    when the bundle was taken (red team 10: they were read in the year of the analysis, 2026 for a
    2025 bundle)."""
    from .parsers.waagent_log import AgentLineParser  # noqa: PLC0415
    parser = AgentLineParser(parsers.ParseContext(tz=ctx.tz, tz_known=ctx.tz_known))
    newest = None
    for member in logs:
        if member.kind not in AGENT_KINDS + ("syslog",) or str(member.path).endswith((".gz", ".bz2", ".xz", ".zip")):
            continue
        try:
            with member.open() as stream:
                size = member.size or 0
                if size > TAIL_BYTES:
                    stream.seek(size - TAIL_BYTES)
                tail = stream.read(TAIL_BYTES)
        except (OSError, ValueError, EOFError, io.UnsupportedOperation):
            continue
        lines = tail.decode("utf-8", "replace").splitlines()[1 if size > TAIL_BYTES else 0:]
        if member.kind == "syslog":  # the agent's own lines in syslog carry a year: the newest one
            stamps = [m.group() for line in lines for m in _ISO_STAMP.finditer(line)]
            times = [ts for ts in map(_iso_or_none, stamps) if ts is not None]
        else:
            times = [h.ts for h in map(parser.header, lines) if h is not None and h.ts is not None]
        if times and (newest is None or max(times) > newest):
            newest = max(times)
    return newest


_ISO_STAMP = re.compile(r"\b(?:19|20)\d\d-\d\d-\d\dT\d\d:\d\d:\d\d")


def _iso_or_none(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text + "+00:00")
    except ValueError:
        return None


def _facts_from_logs(facts: Facts, c: _Collector) -> None:
    for field_name, versions in c.versions.items():
        # the newest record's version, not the last file's: files are read by name, so
        # waagent.log (the live one) comes first and waagent.log.9.gz after .10.gz (red team 10)
        by_time = [v for _, _, v in sorted((ts or _NO_TIME, i, v) for i, (ts, v) in enumerate(versions))]
        if getattr(facts, field_name) is None and by_time:
            setattr(facts, field_name, by_time[-1])
        for v in by_time:
            if v not in facts.agent_versions:
                facts.agent_versions.append(v)
    facts.first_seen = c.first
    facts.last_seen = c.last
    if facts.collection_time is None and c.last is not None:
        facts.collection_time = c.last
        facts.collection_time_source = "newest log record"
