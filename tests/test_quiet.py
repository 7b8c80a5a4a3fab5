"""loganalyzer.quiet against the exact agent parser, record by record.

The plan of a block says which lines the fast path's loop may skip and what the skipped records
add up to. The oracle here reads the same block with :meth:`AgentLineParser.classify` and checks
each skipped stretch: it holds whole records (a header that starts a record, then lines that do
not), each record is an INFO/VERBOSE record with a real time, small enough not to be split, and
without a marked line, and the line after the stretch starts a record; the counts, eras, timeline
buckets and first/last stamps are those of the parsed headers. (The end-to-end comparison of the
reports is in test_fastpath.py; this one finds a wrong line far more often.)
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loganalyzer import fastpath, quiet
from loganalyzer.parsers import ParseContext
from loganalyzer.parsers.waagent_log import MAX_RECORD_CHARS, MAX_RECORD_LINES, AgentHeader, AgentLineParser

from test_fastpath import ISO, SLASH, plainish_line, stamp

ZONES = [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3))]


class Loop:
    """The fast path's helpers for one file (the same functions read_agent_log passes)."""

    def __init__(self, tz) -> None:
        self.p = AgentLineParser(ParseContext(tz=tz))
        self.p.seen_e4 = self.p.seen_e2 = True

    def iso_hour(self, key: str) -> int:
        return fastpath._hour(key)

    def slash_hour(self, key: str):
        return fastpath._slash_hour(key, self.p)

    @staticmethod
    def slash_era(tok: str) -> str:
        return fastpath._e12_era(tok)

    def plan(self, lines: list[str], marked: list[int], raw: bytes | None = None):
        raw = raw if raw is not None else ("\n".join(lines) + "\n").encode()
        return quiet.plan(raw, lines, marked, True, True, self.iso_hour, self.slash_hour, self.slash_era)


def starts_record(p: AgentLineParser, line: str) -> AgentHeader | None:
    """The header when ``line`` starts a record inside a timestamped one (the loop's rule)."""
    r = p.classify(line)
    return r if r.__class__ is AgentHeader and not r.bare else None


def check(loop: Loop, lines: list[str], marked: list[int]) -> int:
    """Check the plan of ``lines``; return the number of lines it skips."""
    plan = loop.plan(lines, marked)
    if plan is None:
        return 0
    p = loop.p
    skipped = sorted(set(range(len(lines))) - set(plan.visit))
    assert plan.visit == sorted(plan.visit)
    iso, slash, ranges = Counter(), Counter(), {}
    stamps: list[str] = []
    covered: list[int] = []
    for begin, end, n_iso, n_slash in zip(plan.begin, plan.end, plan.n_iso, plan.n_slash):
        covered += range(begin, end)
        assert 0 < begin < end < len(lines), "never the first or the last record of a block"
        assert starts_record(p, lines[end]) is not None, "the line after a stretch starts a record"
        records: list[list[int]] = []
        for i in range(begin, end):
            assert i not in marked
            if starts_record(p, lines[i]) is not None:
                records.append([i])
            else:
                assert records, "a stretch starts with a header"
                records[-1].append(i)
        assert len(records) == n_iso + n_slash
        for rec in records:
            assert len(rec) < MAX_RECORD_LINES
            assert sum(len(lines[i]) + 1 for i in rec) < MAX_RECORD_CHARS
            h = starts_record(p, lines[rec[0]])
            assert h.ts is not None and h.level in ("INFO", "VERBOSE")
            line = lines[rec[0]]
            if line[4] == "-":
                assert h.era == "E4"
                iso[(line[:13], h.level)] += 1
                stamps.append(line[:26])
            else:
                assert h.era in ("E1", "E2")
                utc_hour, whole = loop.slash_hour(line[:13])
                bucket = utc_hour if whole else int(h.ts.timestamp()) // 3600 * 3600
                slash[(line[:13], h.level, h.era, bucket)] += 1
                lo, hi = ranges.get(line[:13], (line[:26], line[:26]))
                ranges[line[:13]] = (min(lo, line[:26]), max(hi, line[:26]))
        n_iso_seen = sum(1 for rec in records if lines[rec[0]][4] == "-")
        assert n_iso_seen == n_iso
    assert covered == skipped
    assert dict(iso) == plan.iso_counts
    assert (plan.iso_min, plan.iso_max) == ((min(stamps), max(stamps)) if stamps else ("", ""))
    got = Counter()
    got_ranges: dict[str, tuple[str, str]] = {}
    for key, level, era, bucket, (lo, hi), k in plan.slash_rows:
        got[(key, level, era, bucket)] += k
        a, b = got_ranges.get(key, (lo, hi))
        got_ranges[key] = (min(a, lo), max(b, hi))
    assert dict(got) == dict(slash)
    assert got_ranges == ranges
    return len(skipped)


@st.composite
def block(draw) -> tuple[list[str], list[int]]:
    lines = draw(st.lists(plainish_line(), min_size=3, max_size=120))
    if draw(st.booleans()):  # a long dump: more than 199 lines in one record
        at = draw(st.integers(0, len(lines)))
        d, h, m, s, f = draw(stamp)
        lines[at:at] = [ISO.format(d=d, h=h, m=m, s=s, f=f) + " INFO ExtHandler ExtHandler x"] + \
            ["  out"] * draw(st.integers(195, 205))
    if draw(st.booleans()):  # a record of more than 60,000 characters
        at = draw(st.integers(0, len(lines)))
        d, h, m, s, f = draw(stamp)
        lines[at:at] = [SLASH.format(d=d, h=h, m=m, s=s, f=f) + " INFO ExtHandler x"] + \
            ["|" + "y" * 999] * draw(st.integers(55, 70))
    marked = draw(st.lists(st.integers(0, len(lines) - 1), max_size=5, unique=True))
    return lines, sorted(marked)


@settings(max_examples=400, deadline=None)
@given(data=block(), zone=st.sampled_from(ZONES))
def test_plan_skips_only_what_the_parser_counts(data, zone) -> None:
    lines, marked = data
    check(Loop(zone), [line.replace("\n", " ") for line in lines], marked)


def test_plan_skips_the_quiet_records_of_a_generated_log(tmp_path) -> None:
    """On the bench generator's logs most lines are skipped, each skip checked by the oracle."""
    import gzip  # noqa: PLC0415

    from test_fastpath import _bench_module  # noqa: PLC0415

    _bench_module().generate(tmp_path, lines=12_000, seed=5, part_lines=4_000, ext_mb=0.05)
    total = skipped = 0
    for path in sorted((tmp_path / "var/log").glob("waagent.log*")):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        lines = data.decode().split("\n")[:-1]
        total += len(lines)
        skipped += check(Loop(timezone.utc), lines, [])
    assert total >= 12_000 and skipped > total // 2


def test_the_line_before_a_block_and_odd_bytes_are_never_skipped() -> None:
    head = ISO.format(d=1, h=0, m=0, s=0, f=0) + " INFO ExtHandler ExtHandler x"
    lines = [head] * 10
    loop = Loop(timezone.utc)
    plan = loop.plan(lines, [])
    assert plan is not None and 0 in plan.visit and len(lines) - 1 in plan.visit
    assert set(plan.visit) == {0, 9}
    # a raw chunk that does not hold the block's lines (the caller got them from elsewhere)
    assert loop.plan(lines, [], raw=b"x\n" * 9) is None
    # "INFO\r": the level is not read by position (the loop's exact path reads the line), so
    # the record before it may go on there: both are read by the loop
    bare = ISO.format(d=1, h=0, m=0, s=0, f=0) + " INFO"
    raw = ("\n".join(lines[:5] + [bare + "\r"] + lines[6:]) + "\n").encode()
    plan = loop.plan(lines[:5] + [bare] + lines[6:], [], raw=raw)
    assert {4, 5} <= set(plan.visit) and 3 not in plan.visit


@pytest.mark.parametrize("after", ["Daemon follows a bare level", "Firewall x", "LogCollector y"])
def test_a_level_at_the_line_end_has_no_word_after_it(after: str) -> None:
    """``2025/11/15 10:00:00.000000 INFO`` is E1: the next line's first word is not its word."""
    head = SLASH.format(d=1, h=0, m=0, s=0, f=0) + " INFO ExtHandler x"
    lines = [head, head, SLASH.format(d=1, h=0, m=0, s=1, f=0) + " INFO", after, head, head]
    loop = Loop(timezone.utc)
    assert check(loop, lines, []) == 4
    assert {row[2] for row in loop.plan(lines, []).slash_rows} == {"E1", "E2"}


def test_a_block_of_distinct_and_impossible_hours() -> None:
    """Every header in its own hour (a crafted log): each group is counted, impossible dates are
    left to the loop, and the plan's work grows with the lines, not with lines x hours."""
    from datetime import datetime  # noqa: PLC0415

    start = datetime(2000, 1, 1)
    lines = []
    for i in range(3000):
        t = start + timedelta(hours=i, minutes=i % 60, seconds=i % 7)
        lines.append(t.strftime("%Y/%m/%d %H:%M:%S.%f") + (" INFO ExtHandler x" if i % 3 else " VERBOSE [X-1.0] y"))
        lines.append("2023-02-%02dT%02d:00:00.000000Z INFO ExtHandler ExtHandler no such date" % (29 + i % 2, i % 24))
        lines.append(t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + " INFO ExtHandler ExtHandler x")
    for zone in ZONES:
        loop = Loop(zone)
        assert check(loop, lines, []) >= 2000
        plan = loop.plan(lines, [])
        assert not any(lines[i].startswith("2023-02-") for i in range(len(lines)) if i not in set(plan.visit))
