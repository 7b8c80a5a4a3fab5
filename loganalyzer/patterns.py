"""The pattern library: load, validate, match, self-test.

Patterns are data (``patterns/*.toml``, schema in ``patterns/README.md``). Each one names the
input kinds it applies to, a literal ``hint`` that every matching message must contain (the
cheap pre-filter that keeps the regex off most lines), and a regex with named groups that runs
on a record's message. ``python -m loganalyzer.patterns test`` runs every example and
counter-example through the real parsers.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from operator import itemgetter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import ahocorasick
import regex

from .model import SEVERITIES, Hit, Record
from .paths import patterns_dir

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - 3.10
    import tomli as tomllib  # type: ignore[no-redef]

NON_PATTERN_FILES = {"causes.toml", "rules.toml"}
REDOS_BUDGET_S = 0.05
USER_SEARCH_TIMEOUT_S = 0.2  # one search of a --patterns regex; then the pattern is stopped for the run
MAX_PATTERN_FILE = 4 << 20  # bytes of one pattern file
MAX_REPEAT = 100_000  # counted repeats of a user regex, nested ones multiplied: a{1000000000} took 23 GB
_COUNT_RE = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


def repeat_size(rx: str) -> int:
    """The largest product of nested counted repeats (``{n}``, ``{n,m}``) in ``rx``: what the regex
    engine expands when it compiles (``(?:a{1000}){1000}`` is a million)."""
    stack = [1]  # per open group: the largest size inside it so far
    last = 1  # size of the atom just read (a quantifier multiplies it)
    i, n = 0, len(rx)
    while i < n:
        c = rx[i]
        if c == "\\":
            i, last = i + 2, 1
            continue
        if c == "[":  # a character class: skip to its end
            j = i + 1
            if j < n and rx[j] == "^":
                j += 1
            if j < n and rx[j] == "]":
                j += 1
            while j < n and rx[j] != "]":
                j += 2 if rx[j] == "\\" else 1
            i, last = j + 1, 1
            continue
        if c == "(":
            stack.append(1)
            i += 1
            continue
        if c == ")" and len(stack) > 1:
            last = stack.pop()
            i += 1
            continue
        m = _COUNT_RE.match(rx, i) if c == "{" else None
        if m is not None:
            count = max(int(g) for g in m.groups() if g)
            last *= max(count, 1)
            stack[-1] = max(stack[-1], last)
            i = m.end()
            continue
        stack[-1] = max(stack[-1], last)
        last = 1
        i += 1
    return max(stack[0], last)
REDOS_LINE = 100_000
SCAN_MEMO = 20_000  # scan results remembered (cleared when full) ...
SCAN_MEMO_CHARS = 2_000  # ... of messages up to this long (bounded memory)


_NO_HITS: list = []  # shared, never mutated
_second = itemgetter(1)


class PatternError(Exception):
    """A pattern file or entry is invalid; the message names file, line and reason."""


@dataclass(frozen=True)
class Pattern:
    """One record-level pattern (see ``patterns/README.md``)."""

    id: str
    regex: str
    severity: str
    inputs: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    hint: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    benign: bool = False
    description: str = ""
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    source: str = ""
    file: str = ""
    line: int = 0
    user: bool = False  # from a --patterns folder: searched with a time limit (USER_SEARCH_TIMEOUT_S)
    _compiled: regex.Pattern | None = field(default=None, repr=False, compare=False)

    @property
    def compiled(self) -> regex.Pattern:
        """The compiled regex; built-in patterns compile on first use (most never run on a small bundle)."""
        c = self._compiled
        if c is None:
            c = regex.compile(self.regex)
            object.__setattr__(self, "_compiled", c)
        return c

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def search(self, message: str) -> dict[str, str] | None:
        """Named groups of the first match in ``message`` (empty dict when none), or None."""
        if self.hint and not any(h in message for h in self.hint):
            return None
        m = self.compiled.search(message)
        if m is None:
            return None
        return {k: v for k, v in m.groupdict().items() if v is not None}


@dataclass
class Library:
    """All patterns, indexed by input kind for matching."""

    patterns: list[Pattern]
    version: str
    files: list[str]
    _by_kind: dict[str, list[Pattern]] = field(default_factory=dict, repr=False)
    _any_kind: list[Pattern] = field(default_factory=list, repr=False)
    _by_id: dict[str, Pattern] = field(default_factory=dict, repr=False)
    _scanners: dict[str, tuple] = field(default_factory=dict, repr=False)
    _memo: dict[tuple, list] = field(default_factory=dict, repr=False)  # scan results by input
    slow: set[str] = field(default_factory=set, repr=False)  # user patterns stopped after a timeout

    def __post_init__(self) -> None:
        self._by_id = {p.id: p for p in self.patterns}
        for p in self.patterns:
            if p.inputs:
                for kind in p.inputs:
                    self._by_kind.setdefault(kind, []).append(p)
            else:
                self._any_kind.append(p)

    def _scanner(self, kind: str, only: frozenset[str] | None = None) -> tuple:
        """(automaton over every hint literal of the kind's patterns, patterns, patterns without hints).

        One Aho-Corasick pass over a message finds every hint at once, so only the patterns
        whose literal occurs run their regex: the cost per record does not grow with the library.
        """
        key = kind if only is None else (kind, only)
        sc = self._scanners.get(key)
        if sc is None:
            patterns = self.for_kind(kind)
            if only is not None:
                patterns = [p for p in patterns if p.id in only]
            by_literal: dict[str, list[int]] = {}
            always: list[int] = []
            for i, p in enumerate(patterns):
                if not p.hint:
                    always.append(i)
                for lit in p.hint:
                    by_literal.setdefault(lit, []).append(i)
            automaton = None
            if by_literal:
                automaton = ahocorasick.Automaton()
                for lit, idxs in by_literal.items():
                    automaton.add_word(lit, tuple(idxs))
                automaton.make_automaton()
            sc = self._scanners[key] = (automaton, patterns, tuple(always))
        return sc

    def get(self, pattern_id: str) -> Pattern | None:
        return self._by_id.get(pattern_id)


    def for_kind(self, kind: str) -> list[Pattern]:
        return self._by_kind.get(kind, []) + self._any_kind

    def match(self, record: Record) -> list[Hit]:
        """Every pattern that matches ``record``, with its named groups."""
        return [Hit(p.id, record, {k: v for k, v in m.groupdict().items() if v is not None})
                for p, m in self.scan(record)]

    def scan(self, record: Record, only: frozenset[str] | None = None) -> list[tuple[Pattern, "regex.Match"]]:
        """(pattern, match) for every pattern that matches ``record`` (usually few); ``only``
        restricts the scan to these pattern IDs."""
        return self.scan_text(record.kind, only, record.level, record.message)

    def scan_text(self, kind: str, only: frozenset[str] | None, level: str | None,
                  message: str) -> list[tuple[Pattern, "regex.Match"]]:
        """:meth:`scan` of a record's kind, level and message (the fast path has no Record)."""
        if len(message) > SCAN_MEMO_CHARS:
            return self._scan(kind, only, level, message)
        # what matches depends on kind, level and message only; logs repeat messages a lot
        key = (kind, only, level, message)
        memo = self._memo
        hits = memo.get(key)
        if hits is not None:
            return hits
        if len(memo) >= SCAN_MEMO:
            memo.clear()
        hits = memo[key] = self._scan(kind, only, level, message)
        return hits

    def _scan(self, kind: str, only: frozenset[str] | None, level: str | None,
              message: str) -> list[tuple[Pattern, "regex.Match"]]:
        automaton, patterns, always = self._scanner(kind, only)
        candidates = set(always)
        if automaton is not None and message:
            candidates.update(*map(_second, automaton.iter(message)))
        if not candidates:
            return _NO_HITS
        hits = []
        slow = self.slow
        for i in sorted(candidates):
            p = patterns[i]
            if p.levels and level is not None and level not in p.levels:
                continue
            if p.user:  # a user's regex may backtrack without end: it gets a time limit, once
                if p.id in slow:
                    continue
                try:
                    m = p.compiled.search(message, timeout=USER_SEARCH_TIMEOUT_S)
                except TimeoutError:
                    slow.add(p.id)
                    continue
            else:
                m = p.compiled.search(message)
            if m is not None:
                hits.append((p, m))
        return hits


def _as_tuple(value, name: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PatternError(f"{where}: '{name}' must be a string or a list of strings")


def _entry_lines(text: str) -> dict[str, int]:
    """Line number of each ``id = "..."`` in a TOML file (tomllib keeps no positions)."""
    lines: dict[str, int] = {}
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("id") and "=" in s:
            key, _, val = s.partition("=")
            if key.strip() == "id":
                lines.setdefault(val.strip().strip("'\""), no)
    return lines


def load_file(path: Path, compile_now: bool = True) -> list[Pattern]:
    """Patterns of one TOML file; raises PatternError naming file, line and reason.

    ``compile_now=False`` defers compiling the regexes to their first use (the built-in library,
    whose regexes the test suite compiles); a user's library is always checked on load.
    """
    name = path.name
    try:
        text = _read_file(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PatternError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PatternError(f"{path}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise PatternError(f"{path}: TOML nested too deeply") from None
    entries = data.get("pattern", [])
    if not isinstance(entries, list):
        raise PatternError(f"{path}: 'pattern' must be an array of tables ([[pattern]])")
    lines = _entry_lines(text)
    out: list[Pattern] = []
    for i, entry in enumerate(entries):
        pid = entry.get("id") if isinstance(entry, dict) else None
        line = lines.get(pid, 0) if isinstance(pid, str) else 0
        where = f"{path}:{line}" if line else f"{path}: pattern #{i + 1}"
        if not isinstance(pid, str) or not pid:
            raise PatternError(f"{where}: missing 'id'")
        rx = entry.get("regex")
        if not isinstance(rx, str) or not rx:
            raise PatternError(f"{where}: pattern {pid}: missing 'regex'")
        compiled = None
        if compile_now:
            size = repeat_size(rx)
            if size > MAX_REPEAT:
                raise PatternError(f"{where}: pattern {pid}: counted repeats expand to {size:,}, more than "
                                   f"{MAX_REPEAT:,}")
            try:
                compiled = regex.compile(rx)
            except regex.error as exc:
                raise PatternError(f"{where}: pattern {pid}: invalid regex: {exc}") from None
        severity = entry.get("severity", "info")
        if severity not in SEVERITIES:
            raise PatternError(f"{where}: pattern {pid}: severity must be one of {', '.join(SEVERITIES)}")
        benign = entry.get("benign", False)
        if not isinstance(benign, bool):
            raise PatternError(f"{where}: pattern {pid}: 'benign' must be true or false")
        unknown = set(entry) - {"id", "regex", "severity", "inputs", "levels", "hint", "causes", "benign",
                                "description", "examples", "counter_examples", "source"}
        if unknown:
            raise PatternError(f"{where}: pattern {pid}: unknown keys {sorted(unknown)}")
        out.append(Pattern(
            id=pid, regex=rx, severity=severity,
            inputs=_as_tuple(entry.get("inputs"), "inputs", where),
            levels=_as_tuple(entry.get("levels"), "levels", where),
            hint=_as_tuple(entry.get("hint"), "hint", where),
            causes=_as_tuple(entry.get("causes"), "causes", where),
            benign=benign,
            description=str(entry.get("description", "")),
            examples=_as_tuple(entry.get("examples"), "examples", where),
            counter_examples=_as_tuple(entry.get("counter_examples"), "counter_examples", where),
            source=str(entry.get("source", "")),
            file=name, line=line, user=compile_now, _compiled=compiled,
        ))
    return out


def pattern_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.toml") if p.name not in NON_PATTERN_FILES)


def _library_files(extra: Path | None, builtin: bool) -> list[Path]:
    files: list[Path] = []
    if builtin:
        files += pattern_files(patterns_dir())
    if extra is not None:
        extra = Path(extra)
        if not extra.is_dir():
            raise PatternError(f"{extra}: not a directory of pattern files")
        files += pattern_files(extra)
    return files


def _check_user_pattern(p: Pattern, path: Path) -> None:
    """What `patterns test` reports for a user's pattern, checked on load (red team 9: a pattern
    naming a cause that does not exist became the top finding, titled with the raw ID)."""
    from .causes import load_causes
    from .inputs import KINDS
    where = f"{path}:{p.line}" if p.line else str(path)
    bad = [k for k in p.inputs if k not in KINDS]
    if bad:
        raise PatternError(f"{where}: pattern {p.id}: unknown input kind {bad[0]!r}")
    causes = load_causes()
    bad = [c for c in p.causes if c not in causes]
    if bad:
        raise PatternError(f"{where}: pattern {p.id}: unknown cause {bad[0]!r} (see `loganalyze explain`)")
    if p.benign and p.severity != "info":
        raise PatternError(f"{where}: pattern {p.id}: a benign pattern must have severity info")
    # the examples and counter-examples it gives hold (red team 13: one whose regex matched its own
    # counter-example was used as it was; only `patterns test` said so)
    for ex in p.examples:
        if not _matches(p, ex):
            raise PatternError(f"{where}: pattern {p.id}: example does not match: {ex[:120]!r}")
    for ex in p.counter_examples:
        if _matches(p, ex):
            raise PatternError(f"{where}: pattern {p.id}: counter-example matches: {ex[:120]!r}")


def _read_file(path: Path) -> bytes:
    """A pattern file's bytes: a regular file of at most MAX_PATTERN_FILE (a link to /dev/zero or a
    FIFO named *.toml in a --patterns folder read without end or blocked)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise PatternError(f"{path}: not a regular file")
        if st.st_size > MAX_PATTERN_FILE:
            raise PatternError(f"{path}: larger than {MAX_PATTERN_FILE >> 20} MB")
        with open(path, "rb") as fh:
            data = fh.read(MAX_PATTERN_FILE + 1)
    except OSError as exc:
        raise PatternError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_PATTERN_FILE:
        raise PatternError(f"{path}: larger than {MAX_PATTERN_FILE >> 20} MB")
    return data


def _digest(digest, path: Path) -> None:
    digest.update(path.name.encode())
    digest.update(_read_file(path))


def library_version(extra: Path | None = None, builtin: bool = True) -> str:
    """The ``version`` :func:`load_library` gives, without parsing or compiling a pattern."""
    digest = hashlib.sha256()
    for path in _library_files(extra, builtin):
        _digest(digest, path)
    return digest.hexdigest()[:12]


def load_library(extra: Path | None = None, builtin: bool = True) -> Library:
    """The built-in library, with ``extra``'s patterns merged over it (same ID replaces)."""
    files = _library_files(extra, builtin)
    merged: dict[str, Pattern] = {}
    seen_in: dict[str, str] = {}
    digest = hashlib.sha256()
    for path in files:
        _digest(digest, path)
        builtin_file = builtin and path.parent == patterns_dir()
        for p in load_file(path, compile_now=not builtin_file):
            if not builtin_file:
                _check_user_pattern(p, path)
            if p.id in merged and seen_in[p.id] == str(path.parent):
                raise PatternError(f"{path}:{p.line}: duplicate pattern id {p.id} "
                                   f"(also at {merged[p.id].where})")
            if p.id in merged and builtin_file:
                raise PatternError(f"{path}:{p.line}: duplicate pattern id {p.id}")
            merged[p.id] = p
            seen_in[p.id] = str(path.parent)
    return Library(patterns=list(merged.values()), version=digest.hexdigest()[:12],
                   files=[str(f) for f in files])


# --- self-test ------------------------------------------------------------------------------

@dataclass
class TestFailure:
    pattern: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.pattern}: {self.reason}"


def example_messages(pattern: Pattern, line: str) -> list[tuple[str | None, str]]:
    """(level, message) of the records an example line parses into, with the pattern's first input kind."""
    from . import parsers
    parsers.load_all()
    kind = pattern.inputs[0] if pattern.inputs else "waagent_log"
    parse = parsers.TEXT_PARSERS.get(kind) or parsers.TEXT_PARSERS.get("waagent_log")
    if parse is None:
        return [(None, line)]
    ctx = parsers.ParseContext()
    out = [(r.level, r.message) for r in parse(iter(line.split("\n")), "example", ctx)]
    return out or [(None, line)]


def _matches(pattern: Pattern, line: str) -> bool:
    for level, message in example_messages(pattern, line):
        if pattern.levels and level is not None and level not in pattern.levels:
            continue
        if pattern.search(message) is not None:
            return True
    return False


def adversarial_lines(pattern: Pattern) -> Iterator[str]:
    """Long inputs that make a backtracking regex slow if it can be slow."""
    seeds = list(pattern.examples[:2]) + list(pattern.hint[:1]) + ["a", " ", "1.", "[x] "]
    for seed in seeds:
        seed = seed or "a"
        yield (seed * (REDOS_LINE // max(1, len(seed)) + 1))[:REDOS_LINE]
    yield ("a" * 40 + " ") * (REDOS_LINE // 41)
    yield "".join(pattern.hint) + "x" * REDOS_LINE
    for c in "=*#-_.:/[]()0 \t\n":  # runs of the punctuation log banners are made of
        yield c * REDOS_LINE


def _fast_enough(pattern: Pattern, text: str, tries: int = 3) -> bool:
    """Within the time budget at least once in ``tries`` (a busy machine must not fail a fast regex)."""
    for _ in range(tries):
        try:
            pattern.compiled.search(text, timeout=REDOS_BUDGET_S)
            return True
        except TimeoutError:
            continue
    return False


def check_pattern(pattern: Pattern) -> list[TestFailure]:
    """Every example matches, no counter-example does, hints are required, regex is fast."""
    fails: list[TestFailure] = []

    def fail(reason: str) -> None:
        fails.append(TestFailure(pattern.id, pattern.where, reason))

    if not pattern.examples:
        fail("has no example")
    if not pattern.counter_examples:
        fail("has no counter-example")
    for ex in pattern.examples:
        if not _matches(pattern, ex):
            fail(f"example does not match: {ex[:160]!r}")
        elif pattern.hint:
            msgs = [m for _, m in example_messages(pattern, ex)]
            if not any(pattern.compiled.search(m) and any(h in m for h in pattern.hint) for m in msgs):
                fail(f"no hint literal occurs in example: {ex[:120]!r}")
    for ex in pattern.counter_examples:
        if _matches(pattern, ex):
            fail(f"counter-example matches: {ex[:160]!r}")
    for text in adversarial_lines(pattern):
        if not _fast_enough(pattern, text):
            fail(f"regex takes more than {REDOS_BUDGET_S * 1000:.0f} ms on a {len(text)} character line")
            break
    return fails


def test_library(library: Library, known_causes: Iterable[str] | None = None) -> list[TestFailure]:
    from .inputs import KINDS
    fails: list[TestFailure] = []
    causes = set(known_causes) if known_causes is not None else None
    for p in library.patterns:
        for kind in p.inputs:
            if kind not in KINDS:
                fails.append(TestFailure(p.id, p.where, f"unknown input kind {kind!r}"))
        if causes is not None:
            for c in p.causes:
                if c not in causes:
                    fails.append(TestFailure(p.id, p.where, f"unknown cause {c!r}"))
        if p.benign and p.severity != "info":
            fails.append(TestFailure(p.id, p.where, "benign patterns must have severity info"))
        fails.extend(check_pattern(p))
    return fails


def main(argv: list[str] | None = None) -> int:
    """``python -m loganalyzer.patterns test [DIR]``: run every example of the library."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "test":
        print("usage: python -m loganalyzer.patterns test [EXTRA_DIR]", file=sys.stderr)
        return 2
    extra = Path(args[1]) if len(args) > 1 else None
    try:
        lib = load_library(extra)
    except PatternError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from .causes import load_causes
    fails = test_library(lib, load_causes().keys())
    for f in fails:
        print(f)
    ex = sum(len(p.examples) + len(p.counter_examples) for p in lib.patterns)
    print(f"{len(lib.patterns)} patterns, {ex} examples: {len(fails)} failures")
    return 1 if fails else 0


if __name__ == "__main__":
    raise SystemExit(main())
