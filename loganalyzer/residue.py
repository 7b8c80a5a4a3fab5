"""The unknown residue: WARNING/ERROR records no pattern explains, grouped into templates.

A small Drain-style miner: the first line of each message is masked (GUIDs, URLs, paths,
versions, hex, numbers, quoted strings), tokenised, and put in the group of the same length
whose template shares most tokens (similarity >= ``threshold``); differing tokens become
``<*>``. Shown so a pattern author sees what to add next; never used to name a cause.

    >>> m = ResidueMiner()
    >>> m.add_text("Failed to open /var/lib/x 12 times")
    >>> m.add_text("Failed to open /etc/y 3 times")
    >>> [t.template for t in m.templates()]
    ['Failed to open <path> <num> times']
"""
from __future__ import annotations

from array import array
from operator import neg
from collections import _count_elements  # the C loop of Counter.update, without its checks
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import regex

from .model import Evidence, Record, Template
from .redact import scrub

# (regex, placeholder, literals one of which every match holds: no literal, no search)
_MASKS = [
    (regex.compile(r"https?://\S+"), "<url>", ("://",)),
    (regex.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<guid>",
     ("-",)),
    (regex.compile(r"(?<![\w.])(?:/[\w.@%+-]+)+/?"), "<path>", ("/",)),
    (regex.compile(r"\b\d+(?:\.\d+){1,3}\b"), "<ver>", (".",)),
    (regex.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{16,}\b"), "<hex>", ()),
    (regex.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\""), "<str>", ("'", '"')),
    (regex.compile(r"(?<![A-Za-z0-9])-?\d+(?![A-Za-z0-9])"), "<num>", ()),  # not inside a word: a909x
]
MAX_TOKENS = 40
WORK_BUDGET = 3_000_000  # group comparisons per bundle; then new kinds of messages are only counted


def mask(text: str) -> str:
    """The message's first line with variable parts replaced by placeholders."""
    line = text.split("\n", 1)[0][:2000]
    for rx, repl, needs in _MASKS:
        if not needs or any(lit in line for lit in needs):
            line = rx.sub(repl, line)
    return line


_TOKENS: dict[str, tuple[str, ...]] = {}  # first line -> its tokens (logs repeat their errors)


def tokens_of(message: str) -> tuple[str, ...]:
    """The masked tokens of a message's first line (remembered: the same object for the same line)."""
    line = message.split("\n", 1)[0][:2000]
    tokens = _TOKENS.get(line)
    if tokens is None:
        if len(_TOKENS) >= 20_000:
            _TOKENS.clear()
        tokens = _TOKENS[line] = tuple(mask(line).split()[:MAX_TOKENS])
    return tokens


def example_of(record: Record) -> Evidence:
    """The record as a group's example: its first line, redacted."""
    text = record.raw or record.message
    return Evidence(record.source, record.line, scrub(text.split("\n", 1)[0][:400]), record.ts)


def prepare(record: Record, example: bool = True) -> list:
    """The order-independent part of adding a record: ``[tokens, level, example, first time, last
    time, count]`` (``example`` False: None, for tokens that were seen before - they never start a
    group, see :meth:`ResidueMiner.absorb`)."""
    return [tokens_of(record.message), record.level, example_of(record) if example else None,
            record.ts, record.ts, 1]


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_NO_TS = -(1 << 63)  # a record without a time


class Recorder:
    """Stands in for a :class:`ResidueMiner` in a worker process: keeps the records, in order, for
    the miner of the main process, which groups them as if it had read them (iterate for the
    entries of :func:`prepare`). The first record of each token tuple is kept whole (it may start
    a group: its example counts); later ones are rows of small numbers (token tuple, level, UTC
    times, count), a run of the same tokens one row: 30 files of 100,000 unexplained ERROR lines
    held 630 MB in the main process as lists, ~40 B a row as arrays."""

    def __init__(self) -> None:
        self.whole: list[list] = []  # prepared first records
        self.row_tok = array("i")  # per row: token id, or -1 - index into ``whole``
        self.row_lvl = array("i")
        self.row_first = array("q")  # microseconds since 1970 (UTC), _NO_TS for none
        self.row_last = array("q")
        self.row_n = array("q")
        self.tokens: list[tuple[str, ...]] = []
        self.levels: list[str | None] = []
        self.odd: dict[tuple[int, int], datetime] = {}  # (row, 0 first / 1 last): a time not in UTC
        self._ids: dict[tuple[str, ...], int] = {}
        self._lvl_ids: dict[str | None, int] = {}

    def add(self, record: Record) -> None:
        tokens = tokens_of(record.message)
        rows = len(self.row_tok)
        if rows:  # a run of the same tokens: one entry (it goes where its first record goes)
            last = self.row_tok[-1]
            if last < 0 and self.whole[-1 - last][0] == tokens:
                _widen(self.whole[-1 - last], record.ts)
                self.whole[-1 - last][5] += 1
                return
            if last >= 0 and self.tokens[last] == tokens:
                self._widen_row(rows - 1, record.ts)
                self.row_n[-1] += 1
                return
        tid = self._ids.get(tokens)
        if tid is None:  # first record of these tokens: kept whole (its example may start a group)
            if len(self._ids) < 200_000:
                self._ids[tokens] = len(self.tokens)
                self.tokens.append(tokens)
            self.row_tok.append(-1 - len(self.whole))
            self.whole.append(prepare(record, True))
            for arr in (self.row_lvl, self.row_first, self.row_last, self.row_n):
                arr.append(0)
            return
        lvl = self._lvl_ids.get(record.level)
        if lvl is None:
            lvl = self._lvl_ids[record.level] = len(self.levels)
            self.levels.append(record.level)
        self.row_tok.append(tid)
        self.row_lvl.append(lvl)
        self.row_first.append(_NO_TS)
        self.row_last.append(_NO_TS)
        self.row_n.append(1)
        self._widen_row(rows, record.ts)

    def add_seen(self, tokens: tuple[str, ...], level: str | None, ts: datetime | None) -> bool:
        """:meth:`add` for a record whose tokens (of :func:`tokens_of`) were added before: it needs
        no example, so no Record (the fast path). False, and nothing done, when they were not."""
        rows = len(self.row_tok)
        if rows:
            last = self.row_tok[-1]
            if last < 0 and self.whole[-1 - last][0] == tokens:
                _widen(self.whole[-1 - last], ts)
                self.whole[-1 - last][5] += 1
                return True
            if last >= 0 and self.tokens[last] == tokens:
                self._widen_row(rows - 1, ts)
                self.row_n[-1] += 1
                return True
        tid = self._ids.get(tokens)
        if tid is None:
            return False
        lvl = self._lvl_ids.get(level)
        if lvl is None:
            lvl = self._lvl_ids[level] = len(self.levels)
            self.levels.append(level)
        self.row_tok.append(tid)
        self.row_lvl.append(lvl)
        self.row_first.append(_NO_TS)
        self.row_last.append(_NO_TS)
        self.row_n.append(1)
        self._widen_row(rows, ts)
        return True

    def _widen_row(self, row: int, ts: datetime | None) -> None:
        if ts is None:
            return
        if ts.tzinfo is timezone.utc and not self.odd:  # the common case: whole numbers
            us = (ts - _EPOCH) // _US
            first = self.row_first[row]
            if first == _NO_TS or us < first:
                self.row_first[row] = us
            last = self.row_last[row]
            if last == _NO_TS or us > last:
                self.row_last[row] = us
            return
        for side in (0, 1):
            mine = self._time(row, side)
            if mine is None or (ts < mine if side == 0 else ts > mine):
                arr = self.row_first if side == 0 else self.row_last
                if ts.tzinfo is timezone.utc:
                    arr[row] = (ts - _EPOCH) // _US
                    self.odd.pop((row, side), None)
                else:  # another zone object: kept as it is (the report prints its offset)
                    arr[row] = _NO_TS
                    self.odd[(row, side)] = ts

    def _time(self, row: int, side: int) -> datetime | None:
        odd = self.odd.get((row, side))
        if odd is not None:
            return odd
        us = (self.row_first if side == 0 else self.row_last)[row]
        return None if us == _NO_TS else _EPOCH + us * _US

    def __len__(self) -> int:
        return len(self.row_tok)

    def __iter__(self):
        """The entries of :func:`prepare`, in order (the later records of a token tuple without
        example)."""
        for row, tid in enumerate(self.row_tok):
            if tid < 0:
                yield self.whole[-1 - tid]
            else:
                yield [self.tokens[tid], self.levels[self.row_lvl[row]], None, self._time(row, 0),
                       self._time(row, 1), self.row_n[row]]


def _widen(entry: list, ts: datetime | None) -> None:
    if ts is not None:
        if entry[3] is None or ts < entry[3]:
            entry[3] = ts
        if entry[4] is None or ts > entry[4]:
            entry[4] = ts


@dataclass
class _Group:
    tokens: list[str]
    count: int = 0
    example: Evidence | None = None
    level: str | None = None
    first: datetime | None = None
    last: datetime | None = None


class _Bucket:
    """The groups of one token count, indexed by (position, token) so that finding the most similar
    group costs what the record's tokens share with groups, not a pass over every group."""

    __slots__ = ("groups", "at", "star", "known")

    def __init__(self, size: int) -> None:
        self.groups: list[_Group] = []
        self.at: list[dict[str, set[int]]] = [{} for _ in range(size)]  # token at i -> groups
        self.star: list[set[int]] = [set() for _ in range(size)]  # groups with <*> at i
        self.known: dict[tuple[str, ...], tuple[int, int]] = {}  # best() while no group changes

    def best(self, tokens: tuple[str, ...]) -> tuple[int, int]:
        """(index, tokens in common) of the first group sharing most tokens; (-1, 0) if none."""
        found = self.known.get(tokens)
        if found is not None:
            return found
        shared: dict[int, int] = {}
        for i, t in enumerate(tokens):
            hit = self.at[i].get(t)
            if hit:
                _count_elements(shared, hit)
            if self.star[i]:
                _count_elements(shared, self.star[i])
        if not shared:
            found = (-1, 0)
        else:  # the most shared tokens, the lowest index on a tie: one pass in C (red team 14: a
            # generator over ~1,400 groups per record took 29 of 50 s on 50k varied ERROR lines)
            top, lowest = max(zip(shared.values(), map(neg, shared)))
            found = (-lowest, top)
        if len(self.known) >= 50_000:
            self.known.clear()
        self.known[tokens] = found
        return found

    def add(self, group: _Group) -> None:
        k = len(self.groups)
        self.groups.append(group)
        for i, t in enumerate(group.tokens):
            (self.star[i] if t == "<*>" else self.at[i].setdefault(t, set())).add(k)
        self.known.clear()  # a new group can be the best of any tokens

    def merge(self, k: int, tokens: tuple[str, ...]) -> None:
        """Positions where group ``k`` and ``tokens`` differ become ``<*>``."""
        group = self.groups[k]
        for i, (a, b) in enumerate(zip(group.tokens, tokens)):
            if a != b and a != "<*>":
                self.at[i][a].discard(k)
                self.star[i].add(k)
                group.tokens[i] = "<*>"
                self.known.clear()


@dataclass
class ResidueMiner:
    threshold: float = 0.6
    max_groups: int = 2000
    _groups: dict[int, _Bucket] = field(default_factory=dict)
    dropped: int = 0
    _n: int = 0  # groups in all buckets
    _last: tuple | None = None  # (tokens, group or None: dropped) of the record absorbed last
    _seen: set = field(default_factory=set)  # tokens absorbed so far (bounded)
    _where: dict = field(default_factory=dict)  # tokens -> (the group absorb() gave them, _merges then)
    _merges: int = 0  # templates changed so far: a group found before may no longer be the first
    _work: int = 0  # groups compared with so far (bounded by WORK_BUDGET)

    def add(self, record: Record) -> None:
        tokens = tokens_of(record.message)
        last = self._last
        if last is not None and last[0] == tokens:  # the same tokens again: the same group
            self._count(last[1], 1, record.ts, record.ts)
            return
        self.absorb(prepare(record, tokens not in self._seen))

    def add_seen(self, tokens: tuple[str, ...], level: str | None, ts: datetime | None) -> bool:
        """:meth:`add` for a record whose tokens (of :func:`tokens_of`) were absorbed before: it
        needs no example, so no Record (the fast path). False, and nothing done, when they were not."""
        last = self._last
        if last is not None and last[0] == tokens:
            self._count(last[1], 1, ts, ts)
            return True
        where = self._where.get(tokens)
        if where is not None and where[1] == self._merges:
            # no template changed since absorb() put them there: it would again (a new group goes
            # last, and the first group sharing all tokens wins a tie)
            self._last = (tokens, where[0])
            self._count(where[0], 1, ts, ts)
            return True
        if tokens not in self._seen:
            return False
        self.absorb([tokens, level, None, ts, ts, 1])
        return True

    def add_text(self, message: str) -> None:
        self.absorb([tokens_of(message), None, Evidence("-", None, message[:400]), None, None, 1])

    def absorb(self, prepared) -> None:
        """Group one record made ready by :func:`prepare` (the order of records matters).

        The record joins the group of its token count that shares most tokens with it (a ``<*>``
        shares any; the first such group on a tie) when they share at least ``threshold`` of them;
        else it starts a group, unless there are ``max_groups`` already. A record whose tokens
        were seen before never starts a group (the group that took them shares all of them from
        then on, and the number of groups only grows), so it needs no example; a run of the same
        tokens goes where its first record goes (nothing changes in between).
        """
        tokens, level, example, first, last, n = prepared
        self._last = None
        if not tokens:
            return
        where = self._where.get(tokens)
        if where is not None and where[1] == self._merges:  # see add_seen: it would go there again
            self._last = (tokens, where[0])
            self._count(where[0], n, first, last)
            return
        bucket = self._groups.get(len(tokens))
        if bucket is None:
            bucket = self._groups[len(tokens)] = _Bucket(len(tokens))
        if tokens not in bucket.known:  # a comparison with the bucket's groups
            if self._work >= WORK_BUDGET:  # red team 14: 50k varied ERROR lines took 28 s here
                self.dropped += n
                self._last = (tokens, None)
                return
            self._work += len(bucket.groups) + 1
        k, same = bucket.best(tokens)
        if k < 0 or same / len(tokens) < self.threshold:
            if self._n >= self.max_groups:
                self.dropped += n
                self._last = (tokens, None)
                return
            best = _Group(tokens=list(tokens), example=example, level=level)
            bucket.add(best)
            self._n += 1
        else:
            if same < len(tokens):  # all shared: the group's template stays as it is
                bucket.merge(k, tokens)
                self._merges += 1
            best = bucket.groups[k]
        if len(self._seen) < 200_000:
            self._seen.add(tuple(tokens))
        if len(self._where) >= 200_000:
            self._where.clear()
        self._where[tokens] = (best, self._merges)
        self._last = (tokens, best)
        self._count(best, n, first, last)

    def _count(self, group: _Group | None, n: int, first: datetime | None, last: datetime | None) -> None:
        if group is None:
            self.dropped += n
            return
        group.count += n
        if first is not None:
            group.first = first if group.first is None or first < group.first else group.first
        if last is not None:
            group.last = last if group.last is None or last > group.last else group.last

    def templates(self, limit: int | None = None) -> list[Template]:
        groups = [g for b in self._groups.values() for g in b.groups]
        groups.sort(key=lambda g: -g.count)
        out = [Template(" ".join(g.tokens), g.count, g.example, g.level, g.first, g.last)
               for g in groups if g.example is not None]
        return out[:limit] if limit else out
