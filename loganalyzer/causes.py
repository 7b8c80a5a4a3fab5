"""The cause catalogue: what each cause ID means and what to do about it, in English and German.

The catalogue is data (``patterns/causes.toml``, one ``[cause.<id>]`` table per ID); this module
reads, checks and caches it. A sample table::

    [cause.extensions-disabled]
    detectable = "yes"                  # yes | no | partly: can a Linux bundle show it?
    severity = "critical"               # info | warning | error | critical
    docs = ["https://learn.microsoft.com/..."]
    portal_errors = ["GuestAgentSnapshotTaskStatusError"]
    title.en = "Extension processing is turned off"
    title.de = "Die Verarbeitung von Erweiterungen ist ausgeschaltet"
    explanation.en = "..."
    explanation.de = "..."
    solution.en = ["Set `Extensions.Enabled=y` in /etc/waagent.conf.", "..."]   # steps, unnumbered
    solution.de = ["Setzen Sie `Extensions.Enabled=y` in /etc/waagent.conf.", "..."]
    check_instead.en = "..."            # only for causes a bundle cannot (fully) show

A user folder given as ``extra`` may hold its own ``causes.toml``: its tables add new causes or
override single fields (and single languages) of built-in ones.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from .model import SEVERITIES
from .paths import patterns_dir

__all__ = [
    "BENIGN_ID", "CAUSE_IDS", "CATALOGUE_FILE", "DETECTABLE", "LANGS", "Cause", "CatalogueError",
    "clear_cache", "load_causes",
]

LANGS = ("en", "de")
DETECTABLE = ("yes", "no", "partly")
CATALOGUE_FILE = "causes.toml"

#: The class of known harmless lines: in the catalogue so it can be explained, never a cause.
BENIGN_ID = "benign-noise"

#: The public vocabulary (shared/reference/causes.md, both blocks). Never rename one.
CAUSE_IDS: frozenset[str] = frozenset({
    # from the founding article
    "no-internet-access",
    "agent-unresponsive-windows",
    "agent-outdated",
    "snapshot-status-unavailable",
    "vm-state-misreported",
    "dhcp-245-missing",
    "extension-load-failure",
    "restore-point-limit",
    # beyond the article
    "wireserver-unreachable",
    "proxy-misconfigured",
    "goal-state-http-error",
    "agent-crash-loop",
    "agent-not-running",
    "provisioning-failed",
    "extension-operation-failed",
    "extensions-disabled",
    "snapshot-fsfreeze-failed",
    "firewall-rules-failed",
    "openssl-failure",
    "hostname-publish-failed",
    "cgroup-limits",
    "imds-unreachable",
    "disk-full",
})

_TEXT_FIELDS = ("title", "explanation", "check_instead")
_KEYS = frozenset({"detectable", "severity", "docs", "portal_errors", "solution", *_TEXT_FIELDS})
_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)$")


class CatalogueError(ValueError):
    """The catalogue (or a user's ``causes.toml``) cannot be read; one line: file, line, reason."""

    def __init__(self, file: Path | str, line: int | None, reason: str) -> None:
        self.file = str(file)
        self.line = line
        self.reason = reason
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Cause:
    """One documented cause: how to recognise it, why it happens and how to fix it."""

    id: str
    detectable: str  # yes | no | partly
    severity: str  # info | warning | error | critical
    docs: tuple[str, ...]
    portal_errors: tuple[str, ...]
    title: dict[str, str] = field(hash=False)
    explanation: dict[str, str] = field(hash=False)
    solution: dict[str, tuple[str, ...]] = field(hash=False)
    check_instead: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def benign(self) -> bool:
        return self.id == BENIGN_ID

    def text(self, field: str, lang: str = "en") -> str:  # noqa: F811 (shadows dataclasses.field)
        """``title``, ``explanation`` or ``check_instead`` in ``lang`` (falling back to English).

        ``solution`` gives the steps as one numbered text. Unknown fields raise ValueError;
        a missing ``check_instead`` is ``""``.
        """
        if field == "solution":
            return "\n".join(f"{n}. {step}" for n, step in enumerate(self.steps(lang), 1))
        if field not in _TEXT_FIELDS:
            raise ValueError(f"unknown text field {field!r}")
        texts: dict[str, str] = getattr(self, field)
        return texts.get(lang) or texts.get("en", "")

    def steps(self, lang: str = "en") -> tuple[str, ...]:
        """The solution steps in ``lang`` (falling back to English), in order, unnumbered."""
        return self.solution.get(lang) or self.solution.get("en", ())

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """Plain data for JSON: every language, or only ``lang`` (with English fallback)."""
        d: dict[str, Any] = {"id": self.id, "detectable": self.detectable,
                             "severity": self.severity, "docs": list(self.docs),
                             "portal_errors": list(self.portal_errors)}
        if lang is None:
            for name in _TEXT_FIELDS:
                d[name] = dict(getattr(self, name))
            d["solution"] = {k: list(v) for k, v in self.solution.items()}
        else:
            for name in _TEXT_FIELDS:
                d[name] = self.text(name, lang)
            d["solution"] = list(self.steps(lang))
        return d


def load_causes(extra: Path | str | None = None) -> dict[str, Cause]:
    """The built-in catalogue, merged with ``<extra>/causes.toml`` when that file exists.

    ``extra`` may also name a ``.toml`` file directly. Results are cached per file state
    (path, size, mtime); the returned dict is a fresh copy each call.
    """
    builtin = patterns_dir() / CATALOGUE_FILE
    files = [builtin]
    if extra is not None:
        extra = Path(extra)
        extra_file = extra if extra.suffix == ".toml" and not extra.is_dir() else extra / CATALOGUE_FILE
        if extra_file.is_file() or extra.suffix == ".toml":
            files.append(extra_file)
    key = tuple(_file_key(f) for f in files)
    return dict(_load_cached(key))


def clear_cache() -> None:
    """Forget every loaded catalogue (tests, long-running notebooks after edits)."""
    _load_cached.cache_clear()


def _file_key(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
        return (str(path.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        return (str(path), -1, -1)


@functools.lru_cache(maxsize=16)
def _load_cached(key: tuple[tuple[str, int, int], ...]) -> dict[str, Cause]:
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, tuple[Path, int | None]] = {}
    for path_str, _, _ in key:
        path = Path(path_str)
        text = _read_text(path)
        data = _parse(path, text)
        for cid, table in _tables(path, text, data).items():
            line = _header_line(text, cid)
            if cid in merged:
                _merge(merged[cid], table)
            else:
                merged[cid] = table
            origin[cid] = (path, line)
    return {cid: _build(cid, table, *origin[cid]) for cid, table in merged.items()}


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogueError(path, None, f"cannot read the file ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CatalogueError(path, line, "not valid UTF-8") from None


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        reason = getattr(exc, "msg", None) or str(exc)
        m = _LINE_RE.search(reason)
        if m:
            line = line or int(m.group(1))
            reason = reason[: m.start()].rstrip()
        raise CatalogueError(path, line, f"TOML syntax error: {reason}") from None


def _header_line(text: str, cid: str) -> int | None:
    m = re.search(rf'^[ \t]*\[[ \t]*cause[ \t]*\.[ \t]*"?{re.escape(cid)}"?[ \t]*\]', text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _tables(path: Path, text: str, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``[cause.*]`` tables of one file, type-checked (completeness is checked later)."""
    unknown = sorted(set(data) - {"cause"})
    if unknown:
        raise CatalogueError(path, None, f"unexpected top-level key(s) {unknown}; "
                             "expected only [cause.<id>] tables")
    causes = data.get("cause", {})
    if not isinstance(causes, dict):
        raise CatalogueError(path, None, "'cause' must be a table of [cause.<id>] tables")
    out: dict[str, dict[str, Any]] = {}
    for cid, table in causes.items():
        line = _header_line(text, cid)

        def fail(reason: str, cid: str = cid, line: int | None = line) -> CatalogueError:
            return CatalogueError(path, line, f"cause {cid!r}: {reason}")

        if not _ID_RE.match(cid):
            raise fail("IDs are lower-case words joined by '-'")
        if not isinstance(table, dict):
            raise fail("must be a table")
        bad = sorted(set(table) - _KEYS)
        if bad:
            raise fail(f"unknown key(s) {bad}")
        if "detectable" in table and table["detectable"] not in DETECTABLE:
            raise fail(f"detectable must be one of {DETECTABLE}, not {table['detectable']!r}")
        if "severity" in table and table["severity"] not in SEVERITIES:
            raise fail(f"severity must be one of {SEVERITIES}, not {table['severity']!r}")
        for key in ("docs", "portal_errors"):
            if key in table and not _str_list(table[key]):
                raise fail(f"{key} must be a list of strings")
        for url in table.get("docs", ()):
            if not url.startswith(("https://", "http://")):
                raise fail(f"docs entry {url!r} is not an http(s) URL")
        for key in _TEXT_FIELDS:
            value = table.get(key, {})
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise fail(f"{key} must be a table of language = \"text\"")
        solution = table.get("solution", {})
        if not isinstance(solution, dict) or not all(_str_list(v) for v in solution.values()):
            raise fail("solution must be a table of language = [\"step\", ...]")
        out[cid] = table
    return out


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    """Override ``base`` in place: per language for text tables, whole values otherwise."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value


def _build(cid: str, table: dict[str, Any], path: Path, line: int | None) -> Cause:
    def need(reason: str) -> CatalogueError:
        return CatalogueError(path, line, f"cause {cid!r}: {reason}")

    for key in ("detectable", "severity"):
        if key not in table:
            raise need(f"missing {key!r}")
    for key in ("title", "explanation"):
        if not str(table.get(key, {}).get("en", "")).strip():
            raise need(f"missing {key}.en")
    solution = {lang: tuple(" ".join(s.split()) for s in steps if s.strip())
                for lang, steps in table.get("solution", {}).items()}
    if not solution.get("en"):
        raise need("missing solution.en (at least one step)")

    def texts(key: str) -> dict[str, str]:
        return {lang: " ".join(v.split()) for lang, v in table.get(key, {}).items() if v.strip()}

    return Cause(
        id=cid,
        detectable=table["detectable"],
        severity=table["severity"],
        docs=tuple(table.get("docs", ())),
        portal_errors=tuple(table.get("portal_errors", ())),
        title=texts("title"),
        explanation=texts("explanation"),
        solution={lang: steps for lang, steps in solution.items() if steps},
        check_instead=texts("check_instead"),
    )
