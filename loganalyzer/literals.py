"""Literals a regex cannot match without: the fast path's pre-filter keys.

A pattern's declared ``hint`` is one necessary literal set; the regex itself often holds a
sharper one (``(Pre|Post)script file does not exist`` needs ``script file does not exist``, not
just ``script``). :func:`required_literals` reads it off the parsed regex: a run of plain
characters, a repeat that must occur, or one literal from every branch of an alternation.
Every literal set returned is necessary - a message without all of its members cannot match -
so choosing the sharper set never changes what matches, only how many lines are looked at.
"""
from __future__ import annotations

import functools
import re
from typing import Iterable

try:  # Python 3.11+: the parser is private but stable; any failure means "no literals"
    from re import _constants as C
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - older layout
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

_REPEATS = tuple(getattr(C, n) for n in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(C, n))
_ATOMIC = getattr(C, "ATOMIC_GROUP", None)
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?P<\w+>")
MIN_USEFUL = 4  # a literal set whose shortest member is shorter than this is not worth using


def score(literals: Iterable[str]) -> tuple[int, int]:
    """Higher is sharper: the shortest member's length first, then fewer members."""
    lits = list(literals)
    return (min(len(x) for x in lits), -len(lits)) if lits else (-1, 0)


@functools.lru_cache(maxsize=4096)
def _tree(pattern: str):
    """The parsed regex (``re``'s parser), or None when ``re`` cannot read it; parsed once for
    both questions asked of it here."""
    try:  # group names are irrelevant here, and the regex module allows repeating them
        return sre_parse.parse(_NAMED_GROUP.sub("(", pattern))
    except Exception:  # noqa: BLE001 - regex-module syntax re cannot read
        return None


def required_literals(pattern: str) -> tuple[str, ...] | None:
    """One literal of the returned set occurs in every match of ``pattern`` (None: none known)."""
    tree = _tree(pattern)
    if tree is None:  # regex-module syntax re cannot read: fall back to the hint
        return None
    if tree.state.flags & C.SRE_FLAG_IGNORECASE:
        return None
    best = _sequence(list(tree))
    if not best or min(map(len, best)) < 1:
        return None
    return tuple(sorted(best))


def _sequence(items: list) -> frozenset[str] | None:
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            candidates.append(frozenset(["".join(run)]))
            run.clear()

    for op, av in items:
        if op is C.LITERAL:
            run.append(chr(av))
            continue
        flush()
        found: frozenset[str] | None = None
        if op is C.SUBPATTERN:
            _group, add_flags, _del_flags, sub = av
            if not add_flags & C.SRE_FLAG_IGNORECASE:
                found = _sequence(list(sub))
        elif op is C.BRANCH:
            sets = [_sequence(list(branch)) for branch in av[1]]
            if all(sets):
                found = frozenset().union(*sets)
        elif op in _REPEATS:
            low, _high, sub = av
            if low >= 1:
                found = _sequence(list(sub))
        elif _ATOMIC is not None and op is _ATOMIC:
            found = _sequence(list(av))
        if found:
            candidates.append(found)
    flush()
    return max(candidates, key=score) if candidates else None


_DIGITS = frozenset(range(0x30, 0x3A))


def digit_uniform(pattern: str) -> bool:
    """Whether ``pattern`` treats every ASCII digit alike: no digit literal, every character class
    holds all of them or none, no back-reference. Then a text and the same text with other digits
    match alike (the fast path shares a plan between them). False when unsure (syntax ``re``
    cannot read)."""
    if not any(c.isdigit() for c in pattern) and "(?P=" not in pattern and "(?(" not in pattern \
            and "\\N" not in pattern:  # \N{DIGIT SEVEN} names a digit without one (red team 15)
        return True  # no digit literal, digit range, numbered back-reference or condition: no parse
    tree = _tree(pattern)
    return tree is not None and _uniform(list(tree))


def _uniform(items: list) -> bool:
    for op, av in items:
        if op is C.LITERAL or op is C.NOT_LITERAL:
            if av in _DIGITS:
                return False
        elif op is C.IN:
            held: set[int] = set()
            for o, a in av:
                if o is C.LITERAL or o is C.NOT_LITERAL:
                    held.add(a)
                elif o is C.RANGE:
                    held.update(range(max(a[0], 0x30), min(a[1], 0x39) + 1))
            if held & _DIGITS and not _DIGITS <= held:
                return False
        elif op in _REPEATS:
            if not _uniform(list(av[2])):
                return False
        elif op is C.SUBPATTERN:
            if not _uniform(list(av[3])):
                return False
        elif op is C.BRANCH:
            if not all(_uniform(list(b)) for b in av[1]):
                return False
        elif op in (C.ASSERT, C.ASSERT_NOT):
            if not _uniform(list(av[1])):
                return False
        elif _ATOMIC is not None and op is _ATOMIC:
            if not _uniform(list(av)):
                return False
        elif op in (C.GROUPREF, C.GROUPREF_EXISTS, getattr(C, "GROUPREF_IGNORE", None)):
            return False
        elif op not in (C.ANY, C.AT, C.CATEGORY, C.NOT_LITERAL):
            return False  # anything else: unsure
    return True
