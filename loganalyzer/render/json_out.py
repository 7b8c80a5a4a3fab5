"""JSON report: one object, versioned, validated by ``loganalyzer/schema/report.schema.json``.

Shape (abridged)::

    {"schema_version": "1.0", "tool_version": "0.1.0", "patterns_version": "...",
     "bundle": "logs.zip", "lang": "en", "generated_at": "2024-01-15T10:00:00Z",
     "summary": {"worst_severity": "error", "finding_count": 1, "top_cause": "no-internet-access"},
     "findings": [{"cause": "no-internet-access", "severity": "error", "confidence": 0.92, "count": 12,
                   "first_seen": "2024-01-14T22:16:03Z", "last_seen": "...",
                   "evidence": [{"file": "var/log/waagent.log", "line": 1234, "text": "..."}],
                   "title": "...", "explanation": "...", "solution": ["..."], "docs": ["https://..."]}],
     "facts": {...}, "inputs": [...], "problems": [...], "noise": [{"pattern": "...", "count": 3}],
     "unexplained": [...], "not_evaluable": [...], "timings": {...}}

Findings keep the order of ``report.findings`` (most likely first). Every string that comes
from the bundle (evidence, facts, messages) passes through :func:`loganalyzer.redact.redact`.
"""
from __future__ import annotations

import json
import math
from dataclasses import is_dataclass
from datetime import date, datetime, timezone
from pathlib import Path, PurePath
from typing import Any

from ..i18n import norm_lang
from ..model import SEVERITIES, Report, severity_rank
from ..redact import redact, redact_data

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "report.schema.json"
_TS_KEYS = {"first_seen", "last_seen", "ts", "status_time", "expire", "collection_time", "generated_at"}


def load_schema() -> dict:
    """The report's JSON Schema (draft 2020-12)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


# --- cause catalogue ------------------------------------------------------------------------------
def _catalogue() -> dict:
    """The cause catalogue (``loganalyzer.causes.load_causes``); empty when it cannot be loaded."""
    try:
        from ..causes import load_causes
        return dict(load_causes() or {})
    except Exception:
        return {}


def cause_texts(cause_id: str, lang: str, catalogue: dict | None = None) -> dict[str, Any]:
    """Title, explanation, solution steps and doc links of one cause in ``lang``.

    An ID the catalogue does not know gets its ID as title and empty texts.
    """
    cat = _catalogue() if catalogue is None else catalogue
    cause = cat.get(cause_id)
    out: dict[str, Any] = {"title": cause_id, "explanation": "", "solution": [], "docs": []}
    if cause is None:
        return out
    try:
        out["title"] = str(cause.text("title", lang) or cause_id)
    except Exception:
        pass
    try:
        out["explanation"] = str(cause.text("explanation", lang) or "")
    except Exception:
        pass
    try:
        out["solution"] = [str(s) for s in (cause.steps(lang) or ()) if str(s).strip()]
    except Exception:
        pass
    try:
        out["docs"] = [str(d) for d in (getattr(cause, "docs", ()) or ()) if d]
    except Exception:
        pass
    detectable = getattr(cause, "detectable", None)
    if isinstance(detectable, str):
        out["detectable"] = detectable
    return out


# --- value cleaning -----------------------------------------------------------------------------------
def utc_iso(value: Any) -> str | None:
    """A datetime (or ISO string) as ISO-8601 UTC with ``Z``; naive values count as UTC."""
    if value is None:
        return None
    dt = value
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    elif isinstance(value, date) and not isinstance(value, datetime):
        dt = datetime(value.year, value.month, value.day)
    if not isinstance(dt, datetime):
        return None
    try:
        dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        dt = dt.replace(tzinfo=None)
    text = dt.replace(tzinfo=None).isoformat()
    return text + "Z"


def jsonable(obj: Any, _key: str | None = None, _depth: int = 0) -> Any:
    """Plain JSON types only: datetimes become UTC ISO strings, sets lists, the rest ``str``."""
    if _depth > 60:
        return None
    if obj is None or isinstance(obj, (bool, int, str)):
        if _key in _TS_KEYS and isinstance(obj, str):
            return utc_iso(obj)
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (datetime, date)):
        return utc_iso(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v, str(k), _depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, _key, _depth + 1) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [jsonable(v, _key, _depth + 1) for v in sorted(obj, key=str)]
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).decode("utf-8", "replace")
    if isinstance(obj, PurePath):
        return obj.as_posix()
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict) and is_dataclass(obj):
        try:
            return jsonable(to_dict(), _key, _depth + 1)
        except Exception:
            pass
    return str(obj)


def _clean(obj: Any) -> Any:
    """jsonable + redact every string."""
    return redact_data(jsonable(obj))


def _severity(sev: Any) -> str:
    return sev if sev in SEVERITIES else "info"


def _confidence(value: Any) -> float:
    try:
        c = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(c):
        return 0.0
    return round(min(1.0, max(0.0, c)), 3)


def _evidence(e: dict) -> dict:
    """file (str), line (int >= 1 or None), text (str): what the schema promises."""
    e["file"] = str(e.get("file") or "")
    e["text"] = str(e.get("text") or "")
    line = e.get("line")
    if not isinstance(line, int) or isinstance(line, bool) or line < 1:
        e["line"] = None
    return e


def _finding(f: Any, lang: str, catalogue: dict) -> dict[str, Any]:
    try:
        d = f.to_dict()
    except Exception:
        d = {"cause": str(getattr(f, "cause", "unknown"))}
    d = _clean(d)
    d["cause"] = str(d.get("cause") or "unknown")
    d["severity"] = _severity(d.get("severity"))
    d["confidence"] = _confidence(d.get("confidence"))
    try:
        d["count"] = max(0, int(d.get("count") or 0))
    except (TypeError, ValueError):
        d["count"] = 0
    for k in ("first_seen", "last_seen"):
        d.setdefault(k, None)
    ev = d.get("evidence") if isinstance(d.get("evidence"), list) else []
    d["evidence"] = [_evidence(e) for e in ev if isinstance(e, dict)]
    localized = getattr(f, "summary_i18n", None) or {}
    if lang in localized and localized[lang]:
        d["summary"] = redact(str(localized[lang]))
    d.update(cause_texts(d["cause"], lang, catalogue))
    return d


def _problems(problems: Any, lang: str) -> list[dict[str, Any]]:
    """Parse problems; the project's own fixed messages in the report language (English as the
    code wrote them; German by the problem's key or the template table, :func:`i18n.problem_text`)."""
    from ..i18n import problem_text, t
    out = []
    for p in problems or []:
        try:
            d = _clean(p.to_dict())
            key = getattr(p, "key", None)
            params = getattr(p, "params", None) or {}
            if lang != "en":
                d["message"] = redact(problem_text(str(p.message), lang, key=key, params=params))
            elif key:
                d["message"] = redact(t(key, lang, **params))
        except Exception:
            d = {"error": redact(str(p))}
        out.append(d)
    return out


def report_to_dict(report: Report, lang: str = "en", show_all: bool = False,
                   generated_at: datetime | None = None, catalogue: dict | None = None) -> dict[str, Any]:
    """The report as one JSON-ready dict (see the module docstring); strings are redacted."""
    lang = norm_lang(lang)
    cat = _catalogue() if catalogue is None else catalogue
    findings = [_finding(f, lang, cat) for f in (report.findings or [])]
    worst = max((f["severity"] for f in findings), key=severity_rank) if findings else None

    def listed(items: Any) -> list:
        out = []
        for item in items or []:
            try:
                out.append(_clean(item.to_dict()))
            except Exception:
                out.append({"error": redact(str(item))})
        return out

    noise = listed(report.noise)
    unexplained = listed(report.unexplained)
    for item in noise + unexplained:
        if isinstance(item.get("example"), dict):
            _evidence(item["example"])
    if not show_all:
        noise = [{"pattern": n.get("pattern", ""), "count": n.get("count", 0)} for n in noise]
    try:
        facts = _clean(report.facts.to_dict())
    except Exception:
        facts = {}
    gen = generated_at or getattr(report, "generated_at", None) or datetime.now(timezone.utc)
    timings = {}
    for k, v in (report.timings or {}).items():
        try:
            fv = float(v)
            timings[str(k)] = round(fv, 6) if math.isfinite(fv) else None
        except (TypeError, ValueError):
            continue
    return {
        "schema_version": str(report.schema_version),
        "tool_version": str(report.tool_version or ""),
        "patterns_version": str(report.patterns_version or ""),
        "bundle": redact(str(report.bundle or "")),
        "lang": lang,
        "generated_at": utc_iso(gen),
        "summary": {"worst_severity": worst, "finding_count": len(findings),
                    "top_cause": findings[0]["cause"] if findings else None},
        "findings": findings,
        "facts": facts,
        "inputs": listed(report.inputs),
        "problems": _problems(report.problems, lang),
        "noise": noise,
        "unexplained": unexplained,
        "not_evaluable": listed(report.not_evaluable),
        "timings": timings,
        "partial": bool(getattr(report, "partial", False)),
        "partial_reasons": [redact(str(r)) for r in getattr(report, "partial_reasons", None) or []],
    }


def render_json(report: Report, lang: str = "en", show_all: bool = False, **opts: Any) -> str:
    """:func:`report_to_dict` as indented JSON text (UTF-8, not ASCII-escaped)."""
    data = report_to_dict(report, lang=lang, show_all=show_all,
                          generated_at=opts.get("generated_at"), catalogue=opts.get("catalogue"))
    return json.dumps(data, indent=2, ensure_ascii=False)
