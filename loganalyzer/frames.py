"""A :class:`~loganalyzer.model.Report` as pandas DataFrames, for notebooks.

    >>> import loganalyzer
    >>> from loganalyzer.frames import frames
    >>> report = loganalyzer.analyze("logs.zip", keep_records=True)
    >>> f = frames(report)
    >>> f.events[f.events.level >= "WARNING"].groupby("kind", observed=True).size()
    >>> f.findings[["cause", "severity", "confidence", "first_seen"]]

pandas is imported when a function of this module runs (``pip install loganalyzer[pandas]``);
``import loganalyzer`` never imports it. Every table starts with a ``bundle`` column (the
report's bundle path) so the tables of many reports can be concatenated. Empty reports give
empty frames that still have every column with its dtype.

Dtypes used below: ``string`` = pandas ``StringDtype`` (missing = ``<NA>``); ``Int64`` = nullable
integer; ``UTC`` = ``datetime64[ns, UTC]``; ``boolean`` = nullable bool; ``cat`` = categorical
(``ordered`` where marked, so ``df.severity >= "error"`` works).

events (``events_frame``; needs ``analyze(..., keep_records=True)``), one row per log record:
    bundle string, source string (file in the bundle), line Int64, end_line Int64, ts UTC,
    level cat ordered (VERBOSE < INFO < WARNING < ERROR), kind cat (input kind), thread string,
    prefix string, era string, tz_guess bool, message string
findings (``findings_frame``), one row per finding, most likely first:
    bundle string, rank Int64 (1 = most likely), cause cat, severity cat ordered
    (info < warning < error < critical), confidence float64, count Int64, first_seen UTC,
    last_seen UTC, summary string, rule string, patterns string (comma list),
    extension string (comma list of extensions the evidence names), evidence_count Int64,
    first_evidence string (``file:line``), partial bool, explained_by string
facts (``facts_frame``), one row per fact key:
    bundle string, key string (``agent_daemon_version``, ``config.Logs.Verbose``,
    ``extra.<name>``, ...), value string (times ISO-8601 UTC, lists comma-joined, dicts/leases
    as JSON); extensions are in their own table
extensions (``extensions_frame``), one row per extension handler:
    bundle string, name string, version string, state string, seq_no Int64, auto_upgrade boolean,
    status cat, code string, message string, ext_error_code string, handler_state string,
    handler_status string, operation string, status_time UTC, sources string (comma list)
unexplained (``unexplained_frame``), one row per template of unmatched WARNING/ERROR records:
    bundle string, template string, count Int64, level cat ordered, first_seen UTC, last_seen UTC,
    example_file string, example_line Int64, example_text string
noise (``noise_frame``), one row per benign or below-threshold pattern:
    bundle string, pattern string, count Int64, first_seen UTC, last_seen UTC,
    example_file string, example_line Int64, example_text string
timeline (``timeline_frame``), records per input kind, level and hour:
    bundle string, kind cat, level cat ordered (``-`` = no level, first), bucket UTC (start of the
    hour), count Int64
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Iterable

from .model import LEVELS, SEVERITIES, Report, iso
from .redact import redact, without_long_base64
from .textio import visible

try:  # the kind vocabulary; fall back to the categories seen when the module is not there
    from .inputs import KINDS as _KINDS
except Exception:  # noqa: BLE001
    _KINDS = ()

STR, INT, UTC, BOOL, NBOOL, FLOAT = "string", "Int64", "datetime64[ns, UTC]", "bool", "boolean", "float64"
CAT = "category"

EVENT_COLUMNS = {"bundle": STR, "source": STR, "line": INT, "end_line": INT, "ts": UTC, "level": CAT,
                 "kind": CAT, "thread": STR, "prefix": STR, "era": STR, "tz_guess": BOOL, "message": STR}
FINDING_COLUMNS = {"bundle": STR, "rank": INT, "cause": CAT, "severity": CAT, "confidence": FLOAT,
                   "count": INT, "first_seen": UTC, "last_seen": UTC, "summary": STR, "rule": STR,
                   "patterns": STR, "extension": STR, "evidence_count": INT, "first_evidence": STR,
                   "partial": BOOL, "explained_by": STR}
FACT_COLUMNS = {"bundle": STR, "key": STR, "value": STR}
EXTENSION_COLUMNS = {"bundle": STR, "name": STR, "version": STR, "state": STR, "seq_no": INT,
                     "auto_upgrade": NBOOL, "status": CAT, "code": STR, "message": STR,
                     "ext_error_code": STR, "handler_state": STR, "handler_status": STR,
                     "operation": STR, "status_time": UTC, "sources": STR}
UNEXPLAINED_COLUMNS = {"bundle": STR, "template": STR, "count": INT, "level": CAT, "first_seen": UTC,
                       "last_seen": UTC, "example_file": STR, "example_line": INT, "example_text": STR}
NOISE_COLUMNS = {"bundle": STR, "pattern": STR, "count": INT, "first_seen": UTC, "last_seen": UTC,
                 "example_file": STR, "example_line": INT, "example_text": STR}
TIMELINE_COLUMNS = {"bundle": STR, "kind": CAT, "level": CAT, "bucket": UTC, "count": INT}

#: fixed categories (values outside them are appended, never lost)
CATEGORIES: dict[str, tuple[tuple[str, ...], bool]] = {
    "level": (LEVELS, True),
    "severity": (SEVERITIES, True),
    "kind": (tuple(_KINDS), False),
    "status": (("success", "error", "transitioning", "warning"), False),
    "cause": ((), False),
}


def _pd():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("loganalyzer.frames needs pandas: pip install 'loganalyzer[pandas]'") from exc
    return pd


def _build(rows: list[dict[str, Any]], columns: dict[str, str], cats: dict[str, tuple[tuple[str, ...], bool]]
           | None = None):
    """A frame with exactly ``columns`` (in order) and their dtypes, from a list of dicts.

    Never fails on a value: one that does not fit its column (a time outside pandas' range of
    1677-2262, an integer beyond 64 bits, text in a number column) is missing (``NaT``/``<NA>``).
    """
    pd = _pd()
    cats = cats or {}
    data: dict[str, Any] = {}
    for name, dtype in columns.items():
        values = [coerce(r.get(name), dtype) for r in rows]
        if dtype == UTC:
            data[name] = _utc_series(pd, values)
        elif dtype == CAT:
            fixed, ordered = cats.get(name, CATEGORIES.get(name, ((), False)))
            seen = sorted({v for v in values if v is not None and v not in fixed})
            dt = pd.CategoricalDtype(list(fixed) + seen, ordered=ordered)
            data[name] = pd.Series(values, dtype=object).astype(dt)
        elif dtype == BOOL:
            data[name] = pd.Series([bool(v) for v in values], dtype=BOOL)
        elif dtype == STR:
            data[name] = pd.Series(values, dtype=object).astype(STR)
        elif dtype == FLOAT:
            data[name] = pd.Series([float("nan") if v is None else v for v in values], dtype=FLOAT)
        else:  # Int64, boolean
            data[name] = pd.Series(values, dtype=object).astype(dtype)
    return pd.DataFrame(data, columns=list(columns))


def _utc_series(pd, values: list[datetime | None]):
    try:
        return pd.Series(pd.to_datetime(values, utc=True), dtype=UTC)
    except Exception:  # noqa: BLE001 - a value pandas still refuses is NaT, the others stay
        out = []
        for v in values:
            try:
                out.append(pd.Timestamp(v) if v is not None else pd.NaT)
            except Exception:  # noqa: BLE001
                out.append(pd.NaT)
        return pd.Series(pd.to_datetime(out, utc=True), dtype=UTC)


#: the times a ``datetime64[ns]`` column holds (pandas' bounds, a little inside them)
TS_MIN = datetime(1677, 9, 22, tzinfo=timezone.utc)
TS_MAX = datetime(2262, 4, 10, tzinfo=timezone.utc)
_INT64 = (-(1 << 63), (1 << 63) - 1)


def coerce(value: Any, dtype: str, strict: bool = False) -> Any:
    """``value`` as the plain Python value a column of ``dtype`` holds (None = missing).

    A time outside :data:`TS_MIN`..:data:`TS_MAX` or unreadable is None (``NaT``); text loses
    lone surrogates (not UTF-8: parquet and CSV could not hold them). A value that cannot be
    the column's type is None, or raises ``ValueError`` when ``strict``.
    """
    if value is None:
        return None
    try:
        if dtype == UTC:
            ts = _utc(value)
            return ts if ts is not None and TS_MIN <= ts <= TS_MAX else None
        if dtype in (STR, CAT):
            return _clean_text(value if isinstance(value, str) else _text(value))
        if dtype == BOOL:
            return bool(value)
        if dtype == NBOOL:
            if isinstance(value, bool):
                return value
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            raise ValueError(f"not a boolean: {value!r}"[:200])
        if dtype == FLOAT:
            if isinstance(value, float) and value != value:
                return None
            return float(value)
        if dtype == INT:
            if isinstance(value, float):
                if value != value:
                    return None
                if not value.is_integer():
                    raise ValueError(f"not an integer: {value!r}")
            n = int(value)
            if not _INT64[0] <= n <= _INT64[1]:
                raise ValueError("integer out of the 64-bit range")
            return n
    except (TypeError, ValueError, OverflowError, ArithmeticError) as exc:
        if strict:
            raise ValueError(str(exc)[:200] or type(exc).__name__) from None
        return None
    return value


def normalise(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    """``row`` with every key of ``columns`` present and coerced strictly (:func:`coerce`);
    other keys are kept as they are. Raises ``ValueError`` naming the first column that fails."""
    out = dict(row)
    for name, dtype in columns.items():
        try:
            out[name] = coerce(row.get(name), dtype, strict=True)
        except ValueError as exc:
            raise ValueError(f"column {name}: {exc}") from None
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_text(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)


#: the first characters that make a spreadsheet read a CSV cell as a formula (OWASP)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    """A text cell for export: control and format characters (escape sequences, line breaks,
    bidi overrides) as ``?``; one that a spreadsheet would take for a formula, with a leading
    apostrophe."""
    if isinstance(value, str):
        value = visible(value)
        if value.startswith(FORMULA_START):
            return "'" + value
    return value


def csv_safe(df):
    """A copy of ``df`` for CSV export: every text cell (string, object or categorical column)
    that starts with = + - @ TAB or CR gets a leading ``'`` so spreadsheets show it as text.
    Numeric, boolean and time columns are unchanged; ``df`` itself keeps the true values."""
    pd = _pd()
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, (pd.CategoricalDtype, pd.StringDtype)) or s.dtype == object:
            out[col] = s.astype(object).map(escape_cell)
    return out


def _utc(value: Any) -> datetime | None:
    """A datetime as aware UTC (naive means UTC); ISO text and epoch seconds are accepted.

    None for anything else, or for a value Python cannot hold (epoch seconds past year 9999).
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, timezone.utc)
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, datetime):
            return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError, TypeError):
        return None
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return iso(_utc(value))
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (str, int, float)) for v in value):
            return ",".join(str(v) for v in value)
        return json.dumps([_jsonable(v) for v in value], ensure_ascii=False, sort_keys=True)
    if isinstance(value, dict):
        return json.dumps(_jsonable(value), ensure_ascii=False, sort_keys=True)
    if hasattr(value, "to_dict"):
        return json.dumps(_jsonable(value.to_dict()), ensure_ascii=False, sort_keys=True)
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(_utc(value))
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _comma(values: Iterable[Any] | Any) -> str | None:
    if values is None:
        return None
    if isinstance(values, str):
        return values or None
    items = [str(v) for v in values if v is not None and str(v) != ""]
    return ",".join(items) or None


def events_frame(report: Report):
    """One row per record (see the module docstring for the columns)."""
    if report.records is None:
        raise ValueError("this report kept no records: analyse with "
                         "loganalyzer.analyze(path, keep_records=True) to get the events table")
    b = str(report.bundle)
    rows = [{"bundle": b, "source": r.source, "line": r.line, "end_line": r.end_line, "ts": r.ts,
             "level": r.level, "kind": r.kind, "thread": r.thread, "prefix": r.prefix, "era": r.era,
             "tz_guess": r.tz_guess, "message": without_long_base64(r.message)} for r in report.records]
    return _build(rows, EVENT_COLUMNS)


def findings_frame(report: Report):
    """One row per finding, most likely first."""
    b = str(report.bundle)
    rows = []
    for rank, f in enumerate(report.findings, 1):
        ev = f.evidence[0] if f.evidence else None
        rows.append({"bundle": b, "rank": rank, "cause": f.cause, "severity": f.severity,
                     "confidence": f.confidence, "count": f.count, "first_seen": f.first_seen,
                     "last_seen": f.last_seen, "summary": f.summary or None, "rule": f.rule,
                     "patterns": _comma(f.patterns), "extension": _comma((f.details or {}).get("ext")),
                     "evidence_count": len(f.evidence),
                     "first_evidence": None if ev is None else (f"{ev.file}:{ev.line}" if ev.line else ev.file),
                     "partial": f.partial, "explained_by": f.explained_by})
    return _build(rows, FINDING_COLUMNS)


def facts_frame(report: Report):
    """One row per fact key; ``config`` and ``extra`` are flattened to dotted keys."""
    b = str(report.bundle)
    facts = report.facts
    rows = []
    for key in type(facts).__slots__:
        if key == "extensions":
            continue
        value = getattr(facts, key)
        if key in ("config", "extra") and isinstance(value, dict):
            for k in sorted(value, key=str):
                rows.append({"bundle": b, "key": f"{key}.{k}", "value": _text(value[k])})
            continue
        if value in (None, [], {}):
            text = None
        else:
            text = _text(value)
        rows.append({"bundle": b, "key": key, "value": text})
    return _build(rows, FACT_COLUMNS)


def extensions_frame(report: Report):
    """One row per extension handler the bundle knows about."""
    b = str(report.bundle)
    rows = []
    for name in sorted(report.facts.extensions):
        e = report.facts.extensions[name]
        rows.append({"bundle": b, "name": e.name or name, "version": e.version, "state": e.state,
                     "seq_no": e.seq_no, "auto_upgrade": e.auto_upgrade, "status": e.status, "code": e.code,
                     "message": e.message, "ext_error_code": e.ext_error_code,
                     "handler_state": e.handler_state, "handler_status": e.handler_status,
                     "operation": e.operation, "status_time": e.status_time, "sources": _comma(e.sources)})
    return _build(rows, EXTENSION_COLUMNS)


def unexplained_frame(report: Report):
    """One row per template of WARNING/ERROR records no pattern explained."""
    b = str(report.bundle)
    rows = [{"bundle": b, "template": redact(t.template), "count": t.count, "level": t.level,
             "first_seen": t.first_seen, "last_seen": t.last_seen,
             "example_file": t.example.file if t.example else None,
             "example_line": t.example.line if t.example else None,
             # as the renderers show them (red team 18: a base64 blob of a password stayed here)
             "example_text": redact(t.example.text) if t.example else None} for t in report.unexplained]
    return _build(rows, UNEXPLAINED_COLUMNS)


def noise_frame(report: Report):
    """One row per benign or below-threshold pattern."""
    b = str(report.bundle)
    rows = [{"bundle": b, "pattern": n.pattern, "count": n.count, "first_seen": n.first_seen,
             "last_seen": n.last_seen, "example_file": n.example.file if n.example else None,
             "example_line": n.example.line if n.example else None,
             "example_text": redact(n.example.text) if n.example else None} for n in report.noise]
    return _build(rows, NOISE_COLUMNS)


def timeline_frame(report: Report):
    """Record counts per input kind, level and hour bucket."""
    b = str(report.bundle)
    rows = []
    for item in report.timeline:
        bucket = item.get("t")
        if bucket is None:
            bucket = item.get("bucket")
        rows.append({"bundle": b, "kind": item.get("kind"), "level": item.get("level") or "-",
                     "bucket": bucket, "count": item.get("count")})
    return _build(rows, TIMELINE_COLUMNS, {"level": (("-",) + LEVELS, True)})


class Frames:
    """All tables of one report, each built on first use and then kept."""

    def __init__(self, report: Report) -> None:
        self.report = report

    @cached_property
    def events(self):
        return events_frame(self.report)

    @cached_property
    def findings(self):
        return findings_frame(self.report)

    @cached_property
    def facts(self):
        return facts_frame(self.report)

    @cached_property
    def extensions(self):
        return extensions_frame(self.report)

    @cached_property
    def unexplained(self):
        return unexplained_frame(self.report)

    @cached_property
    def noise(self):
        return noise_frame(self.report)

    @cached_property
    def timeline(self):
        return timeline_frame(self.report)

    def __repr__(self) -> str:
        return (f"Frames({self.report.bundle!r}: {len(self.report.findings)} findings, "
                f"records {'kept' if self.report.records is not None else 'not kept'})")


def frames(report: Report) -> Frames:
    """The report's tables: ``.events .findings .facts .extensions .unexplained .noise .timeline``."""
    return Frames(report)
