"""Terminal report (rich): the answer first, then the facts, the causes, and what is left over.

Full output, abridged::

    Log analysis of logs.zip
    Most likely cause: No access to Azure Storage [no-internet-access] (error, confidence 0.92)

    Bundle            logs.zip
    Collected         2024-01-15 10:00:00 UTC (results.txt)
    ...
    Findings
    1. ERROR  no-internet-access: No access to Azure Storage
       Confidence 0.92 · 12x · First seen 2024-01-14 22:16:03 · Last seen 2024-01-14 23:02:11
       Evidence
         var/log/waagent.log:1234  ... HTTP GET failed ... ?<redacted>
       ...

Brief output: one line per cause, ``error  0.92  no-internet-access  Title  (12x, 2024-01-14 22:16 .. 23:02)``.
"""
from __future__ import annotations

import textwrap
from collections import Counter
from io import StringIO
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..i18n import norm_lang, partial_reason_text, reason, severity_label, t, value_label
from . import fmt_conf, fmt_span, fmt_ts, one_line, printable, where
from .json_out import report_to_dict

SEVERITY_STYLE = {"critical": "bold white on red", "error": "bold red", "warning": "bold yellow",
                  "info": "cyan"}
MAX_EVIDENCE = 5
MAX_UNEXPLAINED = 10
MAX_PROBLEMS = 20
_SEP = " · "


def _console(color: bool, width: int) -> Console:
    return Console(file=StringIO(), force_terminal=bool(color), no_color=not color,
                   color_system="standard" if color else None, width=max(40, int(width or 100)),
                   highlight=False, emoji=False, markup=False, force_jupyter=False,
                   force_interactive=False, legacy_windows=False, soft_wrap=False)


def render_text(report: Any, lang: str = "en", brief: bool = False, color: bool = False,
                show_all: bool = False, width: int = 100, **opts: Any) -> str:
    """The report as terminal text (ANSI colours only when ``color``)."""
    lang = norm_lang(lang)
    data = printable(report_to_dict(report, lang=lang, show_all=True, generated_at=opts.get("generated_at"),
                                    catalogue=opts.get("catalogue")))
    con = _console(color, width)
    if brief:
        _brief(con, data, lang)
    else:
        _full(con, data, lang, show_all)
    text = con.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.split("\n"))


# --- brief ------------------------------------------------------------------------------------------
def brief_line(f: dict, lang: str, width: int = 100) -> Text:
    """``error  0.92  no-internet-access  Title  (12x, 2024-01-14 22:16 .. 23:02)``.

    The title is shortened so that the line fits ``width``.
    """
    sev = f["severity"]
    sev_text = f"{severity_label(sev, lang):<8}"
    conf = f"  {fmt_conf(f['confidence'], lang)}  "
    span = fmt_span(f.get("first_seen"), f.get("last_seen"), seconds=False)
    extra = "  (" + t("label.times", lang, n=f["count"]) + (f", {span}" if span else "") + ")"
    room = width - len(sev_text) - len(conf) - len(f["cause"]) - len(extra) - 2
    title = one_line(f.get("title"), max(12, min(160, room)))
    line = Text(no_wrap=True, overflow="ellipsis", end="\n")
    line.append(sev_text, style=SEVERITY_STYLE.get(sev, ""))
    line.append(conf)
    line.append(f["cause"], style="bold")
    line.append(f"  {title}")
    line.append(extra, style="dim")
    return line


def _brief(con: Console, data: dict, lang: str) -> None:
    if not data["findings"]:
        con.print(Text(t("answer.none", lang)), no_wrap=True, overflow="ellipsis", crop=True)
        return
    for f in data["findings"]:
        con.print(brief_line(f, lang, con.width), no_wrap=True, overflow="ellipsis", crop=True)


# --- full -------------------------------------------------------------------------------------------
def _heading(con: Console, text: str) -> None:
    con.print()
    con.print(Text(text, style="bold underline"))


def _indent(con: Console, renderable: Any, n: int) -> None:
    con.print(Padding(renderable, (0, 0, 0, n), expand=False))


def _wrapped(con: Console, body: str, indent: int = 0, hang: int = 0, style: str = "",
             prefix: str = "", prefix_style: str = "") -> None:
    """``prefix + body`` wrapped to the console width; continuation lines indented by ``hang``."""
    full = prefix + body
    avail = max(20, con.width - indent)
    lines = textwrap.wrap(full, width=avail, subsequent_indent=" " * hang, break_long_words=True,
                          break_on_hyphens=False) or [""]
    for i, line in enumerate(lines):
        text = Text(line, style=style)
        if i == 0 and prefix and prefix_style:
            text.stylize(prefix_style, 0, len(prefix))
        con.print(Padding(text, (0, 0, 0, indent), expand=False), no_wrap=True, crop=True)


def _url(con: Console, label: str, url: str, indent: int) -> None:
    """A link is never broken (terminals wrap it themselves and keep it clickable)."""
    con.print(" " * indent + f"{label}: {url}", soft_wrap=True)


def _full(con: Console, data: dict, lang: str, show_all: bool) -> None:
    findings = data["findings"]
    con.print(Text(t("report.title", lang, bundle=data["bundle"] or "?"), style="bold"))
    _answer(con, findings, lang)
    con.print()
    _header(con, data, lang)
    if findings:
        _heading(con, t("findings.heading", lang) + f" ({len(findings)})")
        for i, f in enumerate(findings, 1):
            _finding(con, i, f, lang, show_all)
    _noise(con, data["noise"], lang, show_all)
    _unexplained(con, data["unexplained"], lang, show_all)
    _problems(con, data["problems"], lang, show_all)
    _not_evaluable(con, data["not_evaluable"], lang)
    con.print()
    con.print(Text(t("report.generated_by", lang, version=data["tool_version"] or "?",
                     patterns=data["patterns_version"] or "?",
                     time=fmt_ts(data["generated_at"]) + " " + t("label.utc", lang)), style="dim"))


def _answer(con: Console, findings: list[dict], lang: str) -> None:
    if not findings:
        con.print(Text("=> " + t("answer.none", lang), style="bold green"))
        _wrapped(con, t("answer.none_hint", lang), indent=3)
        return
    top = findings[0]
    meta = t("answer.meta", lang, severity=severity_label(top["severity"], lang),
             confidence=fmt_conf(top["confidence"], lang))
    _wrapped(con, f"{one_line(top['title'], 200)} [{top['cause']}] ({meta})", hang=3, style="bold",
             prefix="=> " + t("answer.top", lang) + ": ")
    if len(findings) > 1:
        con.print(Text("   " + t("answer.more", lang, n=len(findings) - 1)))


def _inputs_summary(inputs: list[dict], lang: str) -> str:
    if not inputs:
        return t("inputs.none", lang)
    status = Counter(str(i.get("status") or "unknown") for i in inputs)
    parts = [t("inputs.read", lang, n=status.pop("read", 0))]
    truncated = sum(1 for i in inputs if i.get("truncated"))
    if truncated:
        parts.append(t("inputs.truncated", lang, n=truncated))
    for st in ("missing", "skipped", "error", "unknown", "duplicate"):
        if status.get(st):
            parts.append(t(f"inputs.{st}", lang, n=status.pop(st)))
    for st, n in sorted(status.items()):
        parts.append(t("inputs.other", lang, n=n, status=st))
    return _SEP.join(parts)


def header_rows(data: dict, lang: str) -> list[tuple[str, str]]:
    """(label, value) pairs of the system-at-a-glance header (shared with Markdown)."""
    facts = data.get("facts") or {}
    unknown = t("label.unknown", lang)
    rows: list[tuple[str, str]] = [(t("label.bundle", lang), data.get("bundle") or unknown)]
    if data.get("partial"):
        reasons = [partial_reason_text(str(r), lang) for r in data.get("partial_reasons") or []]
        text = "; ".join(reasons[:3]) + (f"; {t('partial.more', lang, n=len(reasons) - 3)}" if len(reasons) > 3 else "")
        rows.append((t("label.partial", lang), text or t("label.unknown", lang)))
    ct = facts.get("collection_time")
    if ct:
        src = facts.get("collection_time_source")
        if src == "newest log record":
            src = t("source.newest_record", lang)
        rows.append((t("label.collected", lang),
                     f"{fmt_ts(ct)} {t('label.utc', lang)}" + (f" ({src})" if src else "")))
    agent = []
    if facts.get("agent_daemon_version"):
        agent.append(t("label.daemon", lang, version=facts["agent_daemon_version"]))
    if facts.get("agent_goal_state_version"):
        agent.append(t("label.goal_state_agent", lang, version=facts["agent_goal_state_version"]))
    if facts.get("requested_agent_version"):
        agent.append(t("label.requested", lang, version=facts["requested_agent_version"]))
    if facts.get("agent_status"):
        agent.append(t("label.agent_status", lang, status=facts["agent_status"]))
    if not agent and facts.get("agent_versions"):
        agent.append(", ".join(str(v) for v in facts["agent_versions"][:5]))
    rows.append((t("label.agent", lang), _SEP.join(agent) or unknown))
    os_text = " ".join(str(x) for x in (facts.get("os_name"), facts.get("os_version")) if x)
    rows.append((t("label.os", lang), os_text or unknown))
    if facts.get("hostname"):
        rows.append((t("label.hostname", lang), str(facts["hostname"])))
    if facts.get("python_version"):
        rows.append((t("label.python", lang), str(facts["python_version"])))
    if facts.get("endpoint"):
        src = facts.get("endpoint_source")
        rows.append((t("label.endpoint", lang), str(facts["endpoint"]) + (f" ({src})" if src else "")))
    leases = facts.get("leases") or []
    if leases:
        rows.append((t("label.leases", lang), t("leases.summary", lang, n=len(leases),
                                                 with245=sum(1 for x in leases if x.get("has_245")))))
    rows.append((t("label.inputs", lang), _inputs_summary(data.get("inputs") or [], lang)))
    span = fmt_span(facts.get("first_seen"), facts.get("last_seen"))
    rows.append((t("label.time_span", lang), f"{span} {t('label.utc', lang)}" if span else unknown))
    return [(k, one_line(v, 300)) for k, v in rows]


def extension_lines(facts: dict, lang: str) -> list[tuple[str, str, str]]:
    """(name+version, state summary, message) per extension (shared with Markdown)."""
    out = []
    for name, e in sorted((facts.get("extensions") or {}).items()):
        head = f"{name} {e.get('version') or ''}".strip()
        parts = []
        for key, field in (("ext.state", "state"), ("ext.status", "status"), ("ext.code", "code"),
                           ("ext.handler", "handler_status")):
            v = e.get(field)
            if v not in (None, ""):
                parts.append(f"{t(key, lang)}: {v if field == 'code' else value_label(v, lang)}")
        if e.get("ext_error_code") not in (None, ""):
            parts.append(f"extErrorCode: {e['ext_error_code']}")
        out.append((one_line(head, 120), one_line(_SEP.join(parts), 200),
                    one_line(e.get("message") or "", 240)))
    return out


def _header(con: Console, data: dict, lang: str) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in header_rows(data, lang):
        grid.add_row(label, value)
    con.print(grid)
    exts = extension_lines(data.get("facts") or {}, lang)
    con.print(Text(t("label.extensions", lang), style="bold"))
    if not exts:
        _indent(con, Text(t("label.no_extensions", lang)), 2)
    for head, state, msg in exts:
        _wrapped(con, ("  " + state) if state else "", indent=2, hang=4, prefix=head, prefix_style="bold")
        if msg:
            _wrapped(con, msg, indent=6, hang=2, style="dim", prefix=f"{t('ext.message', lang)}: ")


def _finding(con: Console, i: int, f: dict, lang: str, show_all: bool) -> None:
    sev = f["severity"]
    con.print()
    _wrapped(con, f"{f['cause']}: {one_line(f.get('title'), 200)}", hang=len(f"{i}. "), style="bold",
             prefix=f"{i}. {severity_label(sev, lang).upper()}  ", prefix_style=SEVERITY_STYLE.get(sev, ""))
    meta = [f"{t('label.confidence', lang)} {fmt_conf(f['confidence'], lang)}",
            t("label.times", lang, n=f["count"])]
    if f.get("first_seen"):
        meta.append(f"{t('label.first_seen', lang)} {fmt_ts(f['first_seen'])}")
    if f.get("last_seen"):
        meta.append(f"{t('label.last_seen', lang)} {fmt_ts(f['last_seen'])}")
    _indent(con, Text(_SEP.join(meta)), 3)
    if f.get("partial"):
        _indent(con, Text(t("finding.partial", lang), style="yellow"), 3)
    if f.get("explained_by"):
        _indent(con, Text(t("finding.explained_by", lang, cause=f["explained_by"]), style="dim"), 3)
    if f.get("summary"):
        _wrapped(con, one_line(f["summary"], 400), indent=3, hang=2, prefix=f"{t('label.observed', lang)}: ")
    _indent(con, Text(t("label.evidence", lang), style="bold"), 3)
    ev = f.get("evidence") or []
    if not ev:
        _indent(con, Text(t("evidence.none", lang), style="dim"), 5)
    limit = len(ev) if show_all else MAX_EVIDENCE
    for e in ev[:limit]:
        _wrapped(con, one_line(e.get("text"), 300), indent=5, hang=4,
                 prefix=where(e.get("file"), e.get("line")) + "  ", prefix_style="cyan")
    if len(ev) > limit:
        _indent(con, Text(t("evidence.more", lang, n=len(ev) - limit), style="dim"), 5)
    if f.get("explanation"):
        _indent(con, Text(t("label.explanation", lang), style="bold"), 3)
        for para in str(f["explanation"]).strip().split("\n\n"):
            _wrapped(con, " ".join(para.split()), indent=5)
    if f.get("solution"):
        _indent(con, Text(t("label.solution", lang), style="bold"), 3)
        for n, step in enumerate(f["solution"], 1):
            _wrapped(con, " ".join(str(step).split()), indent=5, hang=len(f"{n}. "), prefix=f"{n}. ")
    for url in f.get("docs") or []:
        _url(con, t("label.docs", lang), str(url), 3)


def _noise(con: Console, noise: list[dict], lang: str, show_all: bool) -> None:
    if not noise:
        return
    _heading(con, t("noise.heading", lang))
    lines = sum(int(n.get("count") or 0) for n in noise)
    summary = t("noise.summary", lang, patterns=len(noise), lines=lines)
    if not show_all:
        summary += f" ({t('noise.hint', lang)})"
    _indent(con, Text(summary), 2)
    if not show_all:
        return
    for n in sorted(noise, key=lambda x: -int(x.get("count") or 0)):
        line = Text(f"{t('label.times', lang, n=n.get('count', 0)):>7}  ")
        line.append(str(n.get("pattern") or ""), style="bold")
        span = fmt_span(n.get("first_seen"), n.get("last_seen"), seconds=False)
        if span:
            line.append(f"  ({span})", style="dim")
        _indent(con, line, 2)
        ex = n.get("example")
        if isinstance(ex, dict):
            _wrapped(con, one_line(ex.get("text"), 300), indent=11, hang=4, style="dim",
                     prefix=f"{where(ex.get('file'), ex.get('line'))}  ")


def _unexplained(con: Console, items: list[dict], lang: str, show_all: bool) -> None:
    if not items:
        return
    _heading(con, f"{t('unexplained.heading', lang)} ({len(items)})")
    _indent(con, Text(t("unexplained.summary", lang, n=len(items)), style="dim"), 2)
    limit = len(items) if show_all else MAX_UNEXPLAINED
    for u in items[:limit]:
        level = f"{u['level']}  " if u.get("level") else ""
        _wrapped(con, level + one_line(u.get("template"), 300), indent=2, hang=11,
                 prefix=f"{t('label.times', lang, n=u.get('count', 0)):>7}  ")
        ex = u.get("example") or {}
        _wrapped(con, one_line(ex.get("text"), 300), indent=11, hang=4, style="dim",
                 prefix=f"{t('label.example', lang)}: {where(ex.get('file'), ex.get('line'))}  ")
    if len(items) > limit:
        _indent(con, Text(t("more.items", lang, n=len(items) - limit), style="dim"), 2)


def _problems(con: Console, items: list[dict], lang: str, show_all: bool) -> None:
    if not items:
        return
    _heading(con, f"{t('problems.heading', lang)} ({len(items)})")
    limit = len(items) if show_all else MAX_PROBLEMS
    for p in items[:limit]:
        _wrapped(con, one_line(p.get("message"), 300), indent=2, hang=4,
                 prefix=where(p.get("file"), p.get("line")) + "  ", prefix_style="cyan")
    if len(items) > limit:
        _indent(con, Text(t("more.items", lang, n=len(items) - limit), style="dim"), 2)


def _not_evaluable(con: Console, items: list[dict], lang: str) -> None:
    if not items:
        return
    _heading(con, f"{t('not_evaluable.heading', lang)} ({len(items)})")
    _indent(con, Text(t("not_evaluable.summary", lang), style="dim"), 2)
    for n in items:
        _wrapped(con, f" ({t('label.cause', lang)}: {n.get('cause') or '?'}): {one_line(reason(n.get('reason'), lang), 300)}",
                 indent=2, hang=4, prefix=str(n.get("rule") or ""), prefix_style="bold")
