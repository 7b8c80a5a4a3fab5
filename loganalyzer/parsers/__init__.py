"""Parser registry: one parser per input kind.

A text parser reads decoded lines::

    @text_parser("waagent_log")
    def parse(lines: Iterable[str], source: str, ctx: ParseContext) -> Iterator[Record]: ...

A data parser reads the (size-capped) bytes of a structured file and mostly fills facts::

    @data_parser("goal_state_xml")
    def parse(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]: ...

Parsers never raise on bad content: they call ``ctx.problem(...)`` and go on. The documented
exception a parser may raise is :class:`ParseError` (the whole file is unreadable), which the
analyser records as a parse problem of that file.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import timezone, tzinfo
from typing import Callable, Iterable, Iterator

from ..model import Facts, ParseProblem, Record

TextParser = Callable[[Iterable[str], str, "ParseContext"], Iterator[Record]]
DataParser = Callable[[bytes, str, "ParseContext"], Iterator[Record]]

TEXT_PARSERS: dict[str, TextParser] = {}
DATA_PARSERS: dict[str, DataParser] = {}

# modules that register parsers; imported lazily by :func:`load_all`
_MODULES = (
    "waagent_log",
    "extension_log",
    "syslog",
    "goal_state",
    "ext_status",
    "leases",
    "waagent_conf",
    "results_txt",
    "misc",
)


class ParseError(Exception):
    """The whole input could not be parsed (documented error type of every parser)."""


@dataclass
class ParseContext:
    """Shared state while parsing one bundle."""

    facts: Facts = field(default_factory=Facts)
    problems: list[ParseProblem] = field(default_factory=list)
    tz: tzinfo = timezone.utc  # zone assumed for local-time stamps
    tz_known: bool = False
    scratch: dict = field(default_factory=dict)  # per-bundle bookkeeping of parsers, never reported
    lean: object = None  # set by the fast reading path while a text parser runs (RecordBuilder)
    _per_source: dict = field(default_factory=dict, repr=False)  # source -> [problems, summary or None]

    def problem(self, source: str, message: str, line: int | None = None,
                severity: str = "warning", partial: bool = False, key: str | None = None,
                params: dict | None = None) -> None:
        """Record a problem; past :data:`MAX_PROBLEMS_PER_SOURCE` of one file only their number is
        kept (one summary line: a file of a million bad lines must not hold a million objects)."""
        seen = self._per_source.get(source)
        if seen is None:
            seen = self._per_source[source] = [0, None]
        seen[0] += 1
        if seen[0] <= MAX_PROBLEMS_PER_SOURCE:
            self.problems.append(ParseProblem(source=source, message=message, line=line,
                                              severity=severity, partial=partial, key=key,
                                              params=params or {}))
            return
        more = seen[0] - MAX_PROBLEMS_PER_SOURCE
        if seen[1] is None:
            seen[1] = ParseProblem(source=source, message="", severity="warning")
            self.problems.append(seen[1])
        seen[1].message = f"{more} more problem(s) in this file, not listed"
        seen[1].key, seen[1].params = "problem.more", {"n": more}
        if severity == "error":
            seen[1].severity = "error"
        seen[1].partial = seen[1].partial or partial


MAX_PROBLEMS_PER_SOURCE = 200


def text_parser(kind: str):
    def deco(fn: TextParser) -> TextParser:
        TEXT_PARSERS[kind] = fn
        return fn
    return deco


def data_parser(kind: str):
    def deco(fn: DataParser) -> DataParser:
        DATA_PARSERS[kind] = fn
        return fn
    return deco


_loaded = False


def load_all() -> None:
    """Import every parser module once (a module that is missing is skipped)."""
    global _loaded
    if _loaded:
        return
    for name in _MODULES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a parser module not written yet
            if exc.name != f"{__name__}.{name}":
                raise
    _loaded = True
