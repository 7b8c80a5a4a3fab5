"""Ticket-ready Markdown summary: answer, table of causes, evidence, solution steps, facts.

Sample (abridged)::

    # Log analysis of logs.zip

    **Most likely cause:** No access to Azure Storage (`no-internet-access`), error, confidence 0.92

    ## Findings

    | # | Cause | Severity | Confidence | Count | First seen | Last seen |
    |---|---|---|---|---|---|---|
    | 1 | No access to Azure Storage (`no-internet-access`) | error | 0.92 | 12 | 2024-01-14 22:16:03 | ... |
"""
from __future__ import annotations

import re
from typing import Any

from ..i18n import norm_lang, reason, severity_label, t
from . import fmt_conf, fmt_span, fmt_ts, one_line, printable, where
from .json_out import report_to_dict
from .text import MAX_EVIDENCE, MAX_PROBLEMS, MAX_UNEXPLAINED, extension_lines, header_rows

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|])")


def cell(text: Any) -> str:
    """Text safe inside a table cell or a paragraph (Markdown and HTML special characters escaped)."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(text, 400))


def code_block(lines: list[str]) -> list[str]:
    """A fenced block whose fence is longer than any backtick run inside."""
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", *lines, fence]


def render_markdown(report: Any, lang: str = "en", show_all: bool = False, **opts: Any) -> str:
    """The report as GitHub-flavoured Markdown."""
    lang = norm_lang(lang)
    data = printable(report_to_dict(report, lang=lang, show_all=True, generated_at=opts.get("generated_at"),
                                    catalogue=opts.get("catalogue")))
    out: list[str] = [f"# {cell(t('report.title', lang, bundle=data['bundle'] or '?'))}", ""]
    findings = data["findings"]
    if findings:
        top = findings[0]
        meta = t("answer.meta", lang, severity=severity_label(top["severity"], lang),
                 confidence=fmt_conf(top["confidence"], lang))
        out.append(f"**{t('answer.top', lang)}:** {cell(top['title'])} (`{top['cause']}`), {meta}")
        if len(findings) > 1:
            out += ["", cell(t("answer.more", lang, n=len(findings) - 1))]
    else:
        out += [f"**{t('answer.none', lang)}.**", "", cell(t("answer.none_hint", lang))]
    out.append("")

    if findings:
        out += [f"## {t('findings.heading', lang)}", ""]
        cols = ["#", t("label.cause", lang), t("label.severity", lang), t("label.confidence", lang),
                t("label.count", lang), t("label.first_seen", lang), t("label.last_seen", lang)]
        out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for i, f in enumerate(findings, 1):
            out.append(f"| {i} | {cell(f['title'])} (`{f['cause']}`) | {severity_label(f['severity'], lang)} | "
                       f"{fmt_conf(f['confidence'], lang)} | {f['count']} | {fmt_ts(f.get('first_seen'))} | "
                       f"{fmt_ts(f.get('last_seen'))} |")
        out.append("")
        for i, f in enumerate(findings, 1):
            out += _finding(i, f, lang, show_all)

    out += [f"## {t('facts.heading', lang)}", "",
            f"| {t('facts.item', lang)} | {t('facts.value', lang)} |", "|---|---|"]
    for label, value in header_rows(data, lang):
        out.append(f"| {cell(label)} | {cell(value)} |")
    out.append("")
    exts = extension_lines(data.get("facts") or {}, lang)
    out += [f"### {t('label.extensions', lang)}", ""]
    if exts:
        out += [f"| {t('ext.name', lang)} | {t('ext.status', lang)} | {t('ext.message', lang)} |",
                "|---|---|---|"]
        for head, state, msg in exts:
            out.append(f"| {cell(head)} | {cell(state)} | {cell(msg)} |")
    else:
        out.append(cell(t("label.no_extensions", lang)))
    out.append("")

    noise = data["noise"]
    if noise:
        lines = sum(int(n.get("count") or 0) for n in noise)
        out += [f"## {t('noise.heading', lang)}", "",
                cell(t("noise.summary", lang, patterns=len(noise), lines=lines)), ""]
        if show_all:
            out += [f"| {t('label.pattern', lang)} | {t('label.count', lang)} | {t('label.time_span', lang)} |",
                    "|---|---|---|"]
            for n in sorted(noise, key=lambda x: -int(x.get("count") or 0)):
                span = fmt_span(n.get("first_seen"), n.get("last_seen"))
                out.append(f"| `{cell(n.get('pattern'))}` | {n.get('count', 0)} | {span} |")
            out.append("")

    unexplained = data["unexplained"]
    if unexplained:
        out += [f"## {t('unexplained.heading', lang)}", "",
                cell(t("unexplained.summary", lang, n=len(unexplained))), "",
                f"| {t('label.count', lang)} | {t('label.level', lang)} | {t('label.template', lang)} | "
                f"{t('label.example', lang)} |", "|---|---|---|---|"]
        limit = len(unexplained) if show_all else MAX_UNEXPLAINED
        for u in unexplained[:limit]:
            ex = u.get("example") or {}
            out.append(f"| {u.get('count', 0)} | {cell(u.get('level') or '')} | {cell(u.get('template'))} | "
                       f"{cell(where(ex.get('file'), ex.get('line')))}: {cell(one_line(ex.get('text'), 200))} |")
        if len(unexplained) > limit:
            out += ["", cell(t("more.items", lang, n=len(unexplained) - limit))]
        out.append("")

    problems = data["problems"]
    if problems:
        out += [f"## {t('problems.heading', lang)}", "",
                f"| {t('label.file', lang)} | {t('label.message', lang)} |", "|---|---|"]
        limit = len(problems) if show_all else MAX_PROBLEMS
        for p in problems[:limit]:
            out.append(f"| {cell(where(p.get('file'), p.get('line')))} | {cell(p.get('message'))} |")
        if len(problems) > limit:
            out += ["", cell(t("more.items", lang, n=len(problems) - limit))]
        out.append("")

    nev = data["not_evaluable"]
    if nev:
        out += [f"## {t('not_evaluable.heading', lang)}", "", cell(t("not_evaluable.summary", lang)), "",
                f"| {t('label.rule', lang)} | {t('label.cause', lang)} | {t('label.reason', lang)} |",
                "|---|---|---|"]
        for n in nev:
            out.append(f"| `{cell(n.get('rule'))}` | `{cell(n.get('cause'))}` | {cell(reason(n.get('reason'), lang))} |")
        out.append("")

    out.append("_" + cell(t("report.generated_by", lang, version=data["tool_version"] or "?",
                                patterns=data["patterns_version"] or "?",
                                time=fmt_ts(data["generated_at"]) + " " + t("label.utc", lang))) + "_")
    return "\n".join(out) + "\n"


def _finding(i: int, f: dict, lang: str, show_all: bool) -> list[str]:
    out = [f"### {i}. {cell(f['title'])} (`{f['cause']}`)", ""]
    meta = [f"**{t('label.severity', lang)}:** {severity_label(f['severity'], lang)}",
            f"**{t('label.confidence', lang)}:** {fmt_conf(f['confidence'], lang)}",
            f"**{t('label.count', lang)}:** {f['count']}"]
    span = fmt_span(f.get("first_seen"), f.get("last_seen"))
    if span:
        meta.append(f"**{t('label.time_span', lang)}:** {span} {t('label.utc', lang)}")
    out += [" · ".join(meta), ""]
    if f.get("partial"):
        out += [f"> {cell(t('finding.partial', lang))}", ""]
    if f.get("explained_by"):
        out += [f"> {cell(t('finding.explained_by', lang, cause=f['explained_by']))}", ""]
    if f.get("explanation"):
        out += [str(f["explanation"]).strip(), ""]  # catalogue text: trusted, may use Markdown
    if f.get("summary"):
        out += [f"**{t('label.observed', lang)}:** {cell(f['summary'])}", ""]
    ev = f.get("evidence") or []
    out += [f"**{t('label.evidence', lang)}:**", ""]
    if ev:
        limit = len(ev) if show_all else MAX_EVIDENCE
        lines = [f"{where(e.get('file'), e.get('line'))}  {one_line(e.get('text'), 400)}" for e in ev[:limit]]
        if len(ev) > limit:
            lines.append(t("evidence.more", lang, n=len(ev) - limit))
        out += code_block(lines)
    else:
        out.append(cell(t("evidence.none", lang)))
    out.append("")
    if f.get("solution"):
        out += [f"**{t('label.solution', lang)}:**", ""]
        out += [f"{n}. {' '.join(str(step).split())}" for n, step in enumerate(f["solution"], 1)]
        out.append("")
    docs = f.get("docs") or []
    if docs:
        out += [f"**{t('label.docs', lang)}:** " + ", ".join(f"<{d}>" for d in docs), ""]
    return out
