"""Report renderers: every one reads only a :class:`loganalyzer.model.Report`.

``render(report, "text" | "json" | "md" | "html", lang="en", **opts) -> str``. The JSON view
(:func:`loganalyzer.render.json_out.report_to_dict`) is the single place where catalogue texts
are looked up and secrets are redacted; text and Markdown are drawn from that view.
"""
from __future__ import annotations

import importlib
from typing import Any

from ..textio import visible

FORMATS = ("text", "json", "md", "html")
_ALIASES = {"txt": "text", "markdown": "md", "htm": "html"}


def render(report: Any, fmt: str, lang: str = "en", **opts: Any) -> str:
    """Render ``report`` as ``fmt``; unknown formats raise ValueError."""
    name = _ALIASES.get(str(fmt).lower(), str(fmt).lower())
    if name == "text":
        from .text import render_text
        return render_text(report, lang=lang, **opts)
    if name == "json":
        from .json_out import render_json
        return render_json(report, lang=lang, **opts)
    if name == "md":
        from .markdown import render_markdown
        return render_markdown(report, lang=lang, **opts)
    if name == "html":
        try:
            module = importlib.import_module(f"{__name__}.html")
        except ModuleNotFoundError as exc:  # only "no such module"; a broken html.py still raises
            if exc.name not in (f"{__name__}.html", None):
                raise
            module = None
        func = getattr(module, "render_html", None)
        if func is None:
            raise ValueError("html output is not available")
        return func(report, lang=lang, **opts)
    raise ValueError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})")


# --- small formatting helpers shared by the text and Markdown renderers -------------------------------
def fmt_ts(iso: str | None, seconds: bool = True) -> str:
    """``2024-01-14T22:16:03.123Z`` -> ``2024-01-14 22:16:03`` (``22:16`` without seconds)."""
    if not iso:
        return ""
    text = str(iso).replace("T", " ").rstrip("Z")
    text = text.split(".", 1)[0]
    return text if seconds else text[:16]


def fmt_span(first: str | None, last: str | None, seconds: bool = True) -> str:
    """``2024-01-14 22:16 .. 23:02`` (date shown once when both fall on the same day)."""
    a, b = fmt_ts(first, seconds), fmt_ts(last, seconds)
    if not a and not b:
        return ""
    if not a or not b or a == b:
        return a or b
    if a[:10] == b[:10]:
        return f"{a} .. {b[11:]}"
    return f"{a} .. {b}"


def fmt_conf(value: float, lang: str) -> str:
    """Confidence with two decimals, German decimal comma."""
    text = f"{float(value):.2f}"
    return text.replace(".", ",") if lang == "de" else text


def one_line(text: Any, limit: int = 300) -> str:
    """Collapse line breaks (``⏎``) and cut to ``limit`` characters with an ellipsis."""
    s = str(text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    s = " ⏎ ".join(part.strip() for part in s.split("\n")) if "\n" in s else s
    s = visible(s)
    return s if len(s) <= limit else s[: max(0, limit - 1)] + "…"


def printable(obj: Any) -> Any:
    """Copy of a JSON view with terminal control sequences dropped and other control characters
    (NUL, a lone ESC, ...) shown as ``?``.

    Line breaks and tabs are kept; :func:`one_line` deals with them where one line is needed.
    """
    if isinstance(obj, str):
        if obj.isprintable():
            return obj
        if "\x1b" in obj:  # a terminal capture's colour codes say nothing to a reader: dropped
            from ..parsers.waagent_log import _ANSI_RE  # noqa: PLC0415 - rare
            obj = _ANSI_RE.sub("", obj)
        return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in obj)
    if isinstance(obj, dict):
        return {k: printable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [printable(v) for v in obj]
    return obj


def where(file: str | None, line: int | None) -> str:
    """``var/log/waagent.log:12`` (a line break in a member's name cannot start a line of its own)."""
    name = one_line(file, 400) if file else "?"
    return f"{name}:{line}" if line else name
