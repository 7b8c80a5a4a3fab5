"""Self-contained HTML report: one file, no network fetches (inline CSS, inline JS, inline SVG).

Sections: the answer (most likely cause), a header of facts (bundle, collection time, agent,
OS, extensions, inputs), the ranked causes (badge, confidence, count, first/last seen, title,
explanation, numbered steps, doc links, collapsible evidence with file:line), a timeline (inline
SVG: one lane per input kind, records per hour coloured by level, each finding's first/last
seen marked), unexplained errors, noise counts, parse problems and rules that could not run.

Every string from the bundle passes through :func:`loganalyzer.redact.redact` (the JSON view
already redacts; this module redacts again, which is idempotent) and :func:`html.escape`.
The output is also well-formed XML (void elements self-closed, only XML entities), and a
Content-Security-Policy with hashes of the one inline ``<style>`` and ``<script>`` forbids any
fetch. Sample of a finding::

    <article class="finding sev-error" id="finding-1">
      <h3><span class="num">1.</span> The VM cannot reach Azure Storage ... <code>no-internet-access</code></h3>
      ...
      <details class="evidence"><summary>Evidence (12)</summary>
        <ol><li><span class="where">var/log/waagent.log:1234</span><pre>...</pre></li></ol></details>
    </article>
"""
from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable

from ..i18n import norm_lang, reason, severity_label, t, value_label
from ..redact import redact
from . import fmt_conf, fmt_span, fmt_ts, where
from .json_out import report_to_dict
from .text import header_rows

__all__ = ["render_html"]

MAX_EVIDENCE = 50  # per finding, unless show_all
MAX_TEXT = 4000  # characters of one evidence / example line
MAX_UNEXPLAINED = 100
MAX_PROBLEMS = 300
MAX_INPUTS = 2000
MAX_BINS = 400  # timeline bars per lane (hours are merged beyond that)
LEVEL_ROWS = ("ERROR", "WARNING", "INFO", "OTHER")
LEVEL_COLOR = {"ERROR": "#c0392b", "WARNING": "#d68a00", "INFO": "#0072b2", "OTHER": "#7a7a7a"}
SEV_COLOR = {"critical": "#7b1010", "error": "#c0392b", "warning": "#b36b00", "info": "#1f5f99"}
KIND_ORDER = (
    "waagent_log", "command_execution_log", "vmsnapshot_log", "vmsnapshot_shell_log", "extension_log",
    "syslog", "cloud_init_log", "results_txt", "ext_status", "waagent_status_json",
)


_CODE_SPAN = re.compile(r"`([^`\n]{1,300})`")
_URL_OK = re.compile(r"^https?://[^\s\"'<>`]+$", re.I)


# --- small helpers ------------------------------------------------------------------------------------
def _printable(text: str) -> str:
    """Drop what neither HTML nor XML may carry: control characters, surrogates, non-characters."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch)
        elif ch == "\r":
            continue
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            cat = unicodedata.category(ch)
            # Zs/Zl/Zp and format characters are harmless as spaces; the rest becomes U+FFFD
            out.append(" " if cat in ("Zs", "Zl", "Zp", "Cf") and ch not in "\ufeff" else "\ufffd")
    return "".join(out)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def esc(value: Any, limit: int = 2000) -> str:
    """Bundle text -> redacted, cleaned, cut and escaped HTML text."""
    return html.escape(_cut(_printable(redact("" if value is None else str(value))), limit), quote=True)


def fixed(value: Any) -> str:
    """Fixed text (translations, catalogue) -> escaped HTML; `code` spans become <code>."""
    text = html.escape(_printable("" if value is None else str(value)), quote=True)
    return _CODE_SPAN.sub(r"<code>\1</code>", text)


def _attr(value: Any) -> str:
    return html.escape(_printable(str(value)), quote=True)


def _ts(iso: Any) -> str:
    return fmt_ts(iso) if iso else ""


def _epoch(value: Any) -> float | None:
    """ISO string / datetime / number -> epoch seconds (UTC), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        return v if math.isfinite(v) and -1e11 < v < 1e11 else None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        try:
            return dt.timestamp()
        except (OverflowError, ValueError, OSError):
            return None
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return _epoch(dt)
    return None


def _utc(epoch: float, fmt: str) -> str:
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime(fmt)
    except (OverflowError, ValueError, OSError):
        return "?"


def _badge(sev: str, lang: str) -> str:
    sev = sev if sev in SEV_COLOR else "info"
    return f'<span class="badge sev-{sev}">{fixed(severity_label(sev, lang))}</span>'


def _table(head: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "", num: Iterable[int] = ()) -> str:
    """Rows of already-escaped cells; columns in ``num`` are right-aligned numbers."""
    c = f' class="{cls}"' if cls else ""
    num = set(num)

    def nc(i: int) -> str:
        return ' class="num"' if i in num else ""

    out = [f"<div class=\"scroll\"><table{c}><thead><tr>"]
    out += [f'<th scope="col"{nc(i)}>{h}</th>' for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{nc(i)}>{cell}</td>" for i, cell in enumerate(row)) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _where(e: dict) -> str:
    return esc(where(e.get("file"), e.get("line")), 600)


def _pre(text: Any) -> str:
    return f"<pre>{esc(text, MAX_TEXT)}</pre>"


def _more(n: int, lang: str) -> str:
    return f'<p class="muted">{fixed(t("more.items", lang, n=n))}</p>' if n > 0 else ""


# --- CSS and JS ---------------------------------------------------------------------------------------
CSS = """
:root{--fg:#1b1b1b;--muted:#555;--line:#d0d0d0;--bg:#fff;--soft:#f4f5f7;--link:#0b57a4}
*{box-sizing:border-box}
html{font-size:16px}
body{margin:0;color:var(--fg);background:var(--bg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:1.2rem 1.2rem 3rem}
h1{font-size:1.6rem;margin:.2rem 0 .8rem;overflow-wrap:anywhere}
h2{font-size:1.25rem;margin:2rem 0 .6rem;padding-bottom:.2rem;border-bottom:2px solid var(--line)}
h3{font-size:1.08rem;margin:0 0 .4rem;overflow-wrap:anywhere}
h4{font-size:.95rem;margin:.8rem 0 .3rem}
#overview h3{margin-top:1rem}
a{color:var(--link)}
a:focus,summary:focus,button:focus{outline:3px solid #f0b400;outline-offset:2px}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;font-size:.86rem}
code{background:var(--soft);padding:0 .25em;border-radius:3px}
pre{margin:.2rem 0 0;padding:.4rem .6rem;background:var(--soft);border-left:3px solid var(--line);white-space:pre-wrap;overflow-wrap:anywhere}
nav.toc{margin:.2rem 0 1rem}
nav.toc ul{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:.3rem 1rem}
.answer{border:2px solid var(--line);border-left-width:8px;border-radius:4px;padding:.7rem 1rem;margin:0 0 1rem;background:#fafafa}
.answer.sev-critical{border-color:#7b1010}.answer.sev-error{border-color:#c0392b}
.answer.sev-warning{border-color:#b36b00}.answer.sev-info{border-color:#1f5f99}
.answer.none{border-color:#2e7d32}
.answer p{margin:.2rem 0}
.answer .big{font-size:1.15rem;font-weight:600}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:999px;font-size:.8rem;font-weight:700;letter-spacing:.02em;text-transform:uppercase;vertical-align:.1em;color:#fff;border:1px solid transparent}
.badge.sev-critical{background:#7b1010}.badge.sev-error{background:#b03024}
.badge.sev-warning{background:#ffc857;color:#1b1b1b;border-color:#b36b00}.badge.sev-info{background:#1f5f99}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:.3rem 0;font-size:.9rem}
th,td{border:1px solid var(--line);padding:.25rem .45rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{white-space:nowrap}
.mono,.where,pre{overflow-wrap:anywhere}
.mono.extname{overflow-wrap:break-word}
thead th{background:var(--soft)}
td.num,th.num{text-align:right;white-space:nowrap}
.finding{border:1px solid var(--line);border-left:8px solid var(--line);border-radius:4px;padding:.8rem 1rem;margin:0 0 1rem;break-inside:avoid-page}
.finding.sev-critical{border-left-color:#7b1010}.finding.sev-error{border-left-color:#c0392b}
.finding.sev-warning{border-left-color:#d68a00}.finding.sev-info{border-left-color:#1f5f99}
.finding .num{color:var(--muted)}
.finding h3 code{font-size:.8rem;font-weight:400;white-space:nowrap}
.meta{display:flex;flex-wrap:wrap;gap:.2rem 1.2rem;margin:.2rem 0 .5rem;padding:0;list-style:none;font-size:.9rem}
.meta b{font-weight:600}
.conf{display:inline-block;width:4rem;height:.55rem;background:#e3e3e3;border-radius:3px;vertical-align:middle;margin-left:.3rem;overflow:hidden}
.conf svg{display:block}
.note{margin:.3rem 0;padding:.2rem .5rem;background:#fff6dd;border-left:3px solid #d68a00}
.muted{color:var(--muted)}
.small{font-size:.82rem}
td .sev-error{color:#b03024;font-weight:700}
table.extensions td:first-child{min-width:15rem}
ol.steps li{margin:.15rem 0}
ol.ev{list-style:none;padding:0;margin:.3rem 0}
ol.ev li{margin:.35rem 0}
.where{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;font-size:.82rem;color:#0b4f8a;overflow-wrap:anywhere}
details{margin:.5rem 0}
summary{cursor:pointer;font-weight:600;padding:.15rem 0}
.toolbar{float:right}
.toolbar button{font:inherit;font-size:.85rem;padding:.15rem .6rem;margin-left:.3rem;border:1px solid #888;background:#fff;border-radius:4px;cursor:pointer}
figure.timeline{margin:.4rem 0}
figure.timeline svg{width:100%;height:auto;display:block;border:1px solid var(--line);background:#fff}
figure.timeline figcaption{font-size:.85rem;color:var(--muted);margin:.3rem 0}
ul.legend{list-style:none;padding:0;margin:.4rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;font-size:.85rem}
.sw{display:inline-block;width:.9rem;height:.9rem;vertical-align:-.12rem;margin-right:.3rem;border:1px solid #555}
.sw.l-ERROR{background:#c0392b}.sw.l-WARNING{background:#d68a00}.sw.l-INFO{background:#0072b2}.sw.l-OTHER{background:#7a7a7a}
.sw.coll{border:0;border-left:2px dotted #333;width:.5rem;border-radius:0}
.sw.mark{border:0;width:1.6rem;height:.3rem;vertical-align:.2rem;background:#1b1b1b;border-radius:2px}
footer{margin-top:2.5rem;font-size:.8rem;color:var(--muted)}
@media print{
  body{font-size:11pt}
  main{max-width:none;padding:0}
  nav.toc,.toolbar{display:none}
  .scroll{overflow:visible}
  th{white-space:normal}
  td{overflow-wrap:anywhere}
  table{font-size:9pt}
  table.extensions td:first-child{min-width:0}
  h2{break-after:avoid-page}
  .finding,figure.timeline,tr{break-inside:avoid-page}
  a[href^="http"]::after{content:" (" attr(href) ")";font-size:.8em;color:#333;overflow-wrap:anywhere}
  .answer,.finding,thead th,pre,code{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  figure.timeline svg,.badge,.sw{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
""".strip()

# No "<" and no "&" in here: the document stays well-formed XML.
JS = """
(function () {
  "use strict";
  function each(open) {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = open; });
  }
  var bar = document.getElementById("toolbar");
  if (bar) {
    bar.hidden = false;
    document.getElementById("expand-all").addEventListener("click", function () { each(true); });
    document.getElementById("collapse-all").addEventListener("click", function () { each(false); });
  }
  var saved = [];
  window.addEventListener("beforeprint", function () {
    saved = Array.prototype.map.call(document.querySelectorAll("details"), function (d) {
      var was = d.open; d.open = true; return [d, was];
    });
  });
  window.addEventListener("afterprint", function () {
    saved.forEach(function (p) { p[0].open = p[1]; });
    saved = [];
  });
  document.documentElement.setAttribute("data-js", "ready");
})();
""".strip()


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


CSP = (f"default-src 'none'; style-src '{_sha256(CSS)}'; script-src '{_sha256(JS)}'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


# --- sections -----------------------------------------------------------------------------------------
def _answer(findings: list[dict], lang: str) -> str:
    if not findings:
        return (f'<section class="answer none" aria-label="{_attr(t("answer.none", lang))}">'
                f'<p class="big">{fixed(t("answer.none", lang))}</p>'
                f'<p>{fixed(t("answer.none_hint", lang))}</p></section>')
    top = findings[0]
    sev = top["severity"]
    more = ""
    if len(findings) > 1:
        more = f'<p>{fixed(t("answer.more", lang, n=len(findings) - 1))}</p>'
    return (f'<section class="answer sev-{_attr(sev)}" aria-label="{_attr(t("answer.top", lang))}">'
            f'<p class="big">{fixed(t("answer.top", lang))}: '
            f'<a href="#finding-1">{fixed(top.get("title"))}</a></p>'
            f'<p>{_badge(sev, lang)} <code>{esc(top["cause"], 200)}</code> · '
            f'{fixed(t("label.confidence", lang))} {fmt_conf(top["confidence"], lang)} · '
            f'{fixed(t("label.times", lang, n=top["count"]))}</p>{more}</section>')


def _overview(data: dict, lang: str) -> str:
    out = [f'<section id="overview" aria-labelledby="h-overview"><h2 id="h-overview">'
           f'{fixed(t("overview.heading", lang))}</h2><dl class="facts">']
    for label, value in header_rows(data, lang):
        out.append(f"<dt>{fixed(label)}</dt><dd>{esc(value, 600)}</dd>")
    facts = data.get("facts") or {}
    versions = [str(v) for v in facts.get("agent_versions") or []]
    if versions:
        out.append(f"<dt>{fixed(t('label.agent', lang))} (log)</dt><dd>{esc(', '.join(versions[:20]), 600)}</dd>")
    out.append("</dl>")
    out.append(f"<h3>{fixed(t('label.extensions', lang))}</h3>")
    out.append(_extensions(facts, lang))
    out.append(_inputs(data.get("inputs") or [], lang))
    out.append("</section>")
    return "".join(out)


def _extensions(facts: dict, lang: str) -> str:
    exts = facts.get("extensions") or {}
    if not isinstance(exts, dict) or not exts:
        return f'<p class="muted">{fixed(t("label.no_extensions", lang))}</p>'
    head = [fixed(t(k, lang)) for k in ("ext.name", "ext.version", "ext.state", "ext.status", "ext.code")]
    head += [fixed(t("label.ext_error", lang)), fixed(t("ext.handler", lang)), fixed(t("ext.message", lang))]
    rows = []
    for name, e in sorted(exts.items(), key=lambda kv: str(kv[0])):
        e = e if isinstance(e, dict) else {}
        handler = " / ".join(value_label(x, lang) for x in (e.get("handler_state"), e.get("handler_status")) if x)
        raw_status = str(e.get("status") or "")
        status = value_label(raw_status, lang)
        st_cls = "sev-error" if raw_status.lower() == "error" else ""
        status_cell = f'<span class="{st_cls}">{esc(status, 80)}</span>' if st_cls else esc(status, 80)
        rows.append([f'<span class="mono extname">{esc(name, 200).replace(".", ".<wbr/>")}</span>', esc(e.get("version"), 80),
                     esc(value_label(e.get("state"), lang), 80), status_cell, esc(e.get("code"), 40),
                     esc(e.get("ext_error_code"), 40), esc(handler, 120), esc(e.get("message"), 600)])
    return _table(head, rows, "extensions")


def _inputs(inputs: list[dict], lang: str) -> str:
    if not inputs:
        return ""

    def key(i: dict) -> tuple:
        ok = i.get("status") == "read" and not i.get("truncated")
        return (ok, str(i.get("path") or ""))

    items = sorted((i for i in inputs if isinstance(i, dict)), key=key)
    head = [fixed(t("label.file", lang)), fixed(t("label.kind", lang)), fixed(t("label.status", lang)),
            fixed(t("label.records", lang)), fixed(t("label.size", lang))]
    rows = []
    for i in items[:MAX_INPUTS]:
        status = str(i.get("status") or "")
        if i.get("truncated"):
            status += f" ({t('label.truncated', lang)})"
        if i.get("error"):
            status += f": {i['error']}"
        rows.append([f'<span class="mono">{esc(i.get("path"), 500)}</span>', esc(i.get("kind") or "–", 80),
                     esc(status, 400), esc(i.get("records", ""), 20), esc(i.get("size", ""), 20)])
    return (f'<details class="inputs"><summary>{fixed(t("inputs.list", lang, n=len(items)))}</summary>'
            f'{_table(head, rows, num=(3, 4))}{_more(len(items) - MAX_INPUTS, lang)}</details>')


def _finding(i: int, f: dict, lang: str, show_all: bool) -> str:
    sev = f["severity"] if f["severity"] in SEV_COLOR else "info"
    out = [f'<article class="finding sev-{sev}" id="finding-{i}" aria-labelledby="finding-{i}-title">',
           f'<h3 id="finding-{i}-title"><span class="num">{i}.</span> {_badge(sev, lang)} '
           f'<span class="title">{fixed(f.get("title"))}</span> <code>{esc(f["cause"], 200)}</code></h3>']
    conf = float(f.get("confidence") or 0.0)
    bar = (f'<span class="conf" aria-hidden="true"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 10" width="64" height="9" '
           f'preserveAspectRatio="none"><rect x="0" y="0" width="{conf * 100:.0f}" height="10" '
           f'fill="{SEV_COLOR[sev]}"/></svg></span>')
    meta = [f"<li><b>{fixed(t('label.severity', lang))}:</b> {fixed(severity_label(sev, lang))}</li>",
            f"<li><b>{fixed(t('label.confidence', lang))}:</b> {fmt_conf(conf, lang)}{bar}</li>",
            f"<li><b>{fixed(t('label.count', lang))}:</b> {int(f.get('count') or 0)}</li>"]
    if f.get("first_seen"):
        meta.append(f"<li><b>{fixed(t('label.first_seen', lang))}:</b> "
                    f"<time datetime=\"{_attr(f['first_seen'])}\">{esc(_ts(f['first_seen']))}</time> UTC</li>")
    if f.get("last_seen"):
        meta.append(f"<li><b>{fixed(t('label.last_seen', lang))}:</b> "
                    f"<time datetime=\"{_attr(f['last_seen'])}\">{esc(_ts(f['last_seen']))}</time> UTC</li>")
    out.append('<ul class="meta">' + "".join(meta) + "</ul>")
    if f.get("partial"):
        out.append(f'<p class="note">{fixed(t("finding.partial", lang))}</p>')
    if f.get("explained_by"):
        out.append(f'<p class="note">{esc(t("finding.explained_by", lang, cause=f["explained_by"]), 400)}</p>')
    if f.get("summary"):
        out.append(f"<p><b>{fixed(t('label.observed', lang))}:</b> {esc(f['summary'], 1500)}</p>")
    if f.get("explanation"):
        out.append(f"<h4>{fixed(t('label.explanation', lang))}</h4>")
        out += [f"<p>{fixed(p.strip())}</p>" for p in str(f["explanation"]).split("\n\n") if p.strip()]
    steps = [s for s in f.get("solution") or [] if str(s).strip()]
    if steps:
        out.append(f"<h4>{fixed(t('label.solution', lang))}</h4><ol class=\"steps\">")
        out += [f"<li>{fixed(str(s).strip())}</li>" for s in steps]
        out.append("</ol>")
    docs = [str(d) for d in f.get("docs") or [] if d]
    if docs:
        links = []
        for d in docs:
            if _URL_OK.match(d):
                links.append(f'<li><a href="{_attr(d)}" rel="noopener noreferrer">{fixed(d)}</a></li>')
            else:
                links.append(f"<li>{fixed(d)}</li>")
        out.append(f"<h4>{fixed(t('label.docs', lang))}</h4><ul class=\"docs\">{''.join(links)}</ul>")
    out.append(_evidence(f.get("evidence") or [], lang, show_all))
    out.append("</article>")
    return "".join(out)


def _evidence(ev: list[dict], lang: str, show_all: bool) -> str:
    label = fixed(t("label.evidence", lang))
    if not ev:
        return f'<p class="muted"><b>{label}:</b> {fixed(t("evidence.none", lang))}</p>'
    limit = len(ev) if show_all else MAX_EVIDENCE
    items = []
    for e in ev[:limit]:
        ts = f' <span class="muted small">{esc(_ts(e.get("ts")))}</span>' if e.get("ts") else ""
        items.append(f'<li><span class="where">{_where(e)}</span>{ts}{_pre(e.get("text"))}</li>')
    more = ""
    if len(ev) > limit:
        more = f'<p class="muted">{fixed(t("evidence.more", lang, n=len(ev) - limit))}</p>'
    return (f'<details class="evidence"><summary>{label} ({len(ev)})</summary>'
            f'<ol class="ev">{"".join(items)}</ol>{more}</details>')


def _findings(findings: list[dict], lang: str, show_all: bool) -> str:
    out = [f'<section id="findings" aria-labelledby="h-findings"><h2 id="h-findings">'
           f'{fixed(t("findings.heading", lang))} ({len(findings)})</h2>']
    if not findings:
        out.append(f'<p>{fixed(t("none.findings", lang))}</p>')
    for i, f in enumerate(findings, 1):
        out.append(_finding(i, f, lang, show_all))
    out.append("</section>")
    return "".join(out)


def _unexplained(items: list[dict], lang: str, show_all: bool) -> str:
    if not items:
        return ""
    limit = len(items) if show_all else MAX_UNEXPLAINED
    head = [fixed(t("label.count", lang)), fixed(t("label.level", lang)),
            fixed(t("label.template", lang)), fixed(t("label.example", lang))]
    rows = []
    for u in items[:limit]:
        ex = u.get("example") if isinstance(u.get("example"), dict) else {}
        span = fmt_span(u.get("first_seen"), u.get("last_seen"), seconds=False)
        tmpl = f'<span class="mono">{esc(u.get("template"), 1000)}</span>'
        if span:
            tmpl += f'<br/><span class="muted">{esc(span)} UTC</span>'
        rows.append([esc(u.get("count", 0), 20), esc(u.get("level") or "", 20), tmpl,
                     f'<span class="where">{_where(ex)}</span>{_pre(ex.get("text"))}'])
    return (f'<section id="unexplained" aria-labelledby="h-unexplained"><h2 id="h-unexplained">'
            f'{fixed(t("unexplained.heading", lang))} ({len(items)})</h2>'
            f'<p class="muted">{fixed(t("unexplained.summary", lang, n=len(items)))}</p>'
            f'{_table(head, rows, "unexplained", num=(0,))}{_more(len(items) - limit, lang)}</section>')


def _noise(items: list[dict], lang: str, show_all: bool) -> str:
    if not items:
        return ""
    lines = sum(int(n.get("count") or 0) for n in items if isinstance(n.get("count"), int))
    items = sorted(items, key=lambda n: -(n.get("count") if isinstance(n.get("count"), int) else 0))
    head = [fixed(t("label.pattern", lang)), fixed(t("label.count", lang)),
            fixed(t("label.time_span", lang))]
    if show_all:
        head.append(fixed(t("label.example", lang)))
    rows = []
    for n in items:
        span = fmt_span(n.get("first_seen"), n.get("last_seen"), seconds=False)
        row = [f'<span class="mono">{esc(n.get("pattern"), 300)}</span>', esc(n.get("count", 0), 20),
               esc(span + " UTC" if span else "")]
        if show_all:
            ex = n.get("example") if isinstance(n.get("example"), dict) else None
            row.append(f'<span class="where">{_where(ex)}</span>{_pre(ex.get("text"))}' if ex else "")
        rows.append(row)
    hint = "" if show_all else f' <span class="muted">{fixed(t("noise.examples_hint", lang))}</span>'
    return (f'<section id="noise" aria-labelledby="h-noise"><h2 id="h-noise">{fixed(t("noise.heading", lang))}'
            f'</h2><p>{fixed(t("noise.summary", lang, patterns=len(items), lines=lines))}{hint}</p>'
            f'<details><summary>{fixed(t("label.pattern", lang))} ({len(items)})</summary>'
            f'{_table(head, rows, "noise", num=(1,))}</details></section>')


def _problems(items: list[dict], lang: str, show_all: bool) -> str:
    if not items:
        return ""
    limit = len(items) if show_all else MAX_PROBLEMS
    head = [fixed(t("label.file", lang)), fixed(t("label.severity", lang)), fixed(t("label.message", lang))]
    rows = [[f'<span class="where">{_where(p)}</span>', esc(p.get("severity") or "", 20),
             esc(p.get("message"), 1500)] for p in items[:limit]]
    return (f'<section id="problems" aria-labelledby="h-problems"><h2 id="h-problems">'
            f'{fixed(t("problems.heading", lang))} ({len(items)})</h2>'
            f'{_table(head, rows, "problems")}{_more(len(items) - limit, lang)}</section>')


def _not_evaluable(items: list[dict], lang: str) -> str:
    if not items:
        return ""
    head = [fixed(t("label.rule", lang)), fixed(t("label.cause", lang)), fixed(t("label.reason", lang))]
    rows = [[f'<span class="mono">{esc(n.get("rule"), 200)}</span>', f'<code>{esc(n.get("cause"), 200)}</code>',
             esc(reason(n.get("reason"), lang), 1000)] for n in items]
    return (f'<section id="not-evaluable" aria-labelledby="h-not-evaluable"><h2 id="h-not-evaluable">'
            f'{fixed(t("not_evaluable.heading", lang))} ({len(items)})</h2>'
            f'<p class="muted">{fixed(t("not_evaluable.summary", lang))}</p>'
            f'{_table(head, rows, "not-evaluable")}</section>')


# --- timeline -----------------------------------------------------------------------------------------
_BIN_HOURS = (1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336, 720, 2160, 8760, 87600)
_TICK_HOURS = (1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720)


def _level_row(level: Any) -> str:
    lv = str(level or "").upper()
    if lv in ("ERROR", "CRITICAL", "FATAL"):
        return "ERROR"
    if lv in ("WARNING", "WARN"):
        return "WARNING"
    if lv == "INFO":
        return "INFO"
    return "OTHER"


def _timeline_cells(timeline: Any) -> list[tuple[str, str, float, int]]:
    """(kind, level row, bucket start epoch, count) from report.timeline, junk skipped."""
    cells = []
    for item in timeline or []:
        if not isinstance(item, dict):
            continue
        start = _epoch(item.get("t"))
        if start is None:
            start = _epoch(item.get("bucket"))
        count = item.get("count")
        if start is None or isinstance(count, bool) or not isinstance(count, (int, float)):
            continue
        if not math.isfinite(count) or count <= 0:
            continue
        start = math.floor(start / 3600) * 3600
        kind = str(item.get("kind") or "?")
        cells.append((kind, _level_row(item.get("level")), float(start), int(count)))
    return cells


def _kind_key(kind: str) -> tuple:
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def _ticks(t0: float, t1: float) -> tuple[list[float], str]:
    """Tick times (at most about 8) and their label format: whole hours, days, months or years (UTC)."""
    span_h = (t1 - t0) / 3600
    step_h = next((h for h in _TICK_HOURS if span_h / h <= 8), _TICK_HOURS[-1])
    if step_h < 720:
        step = step_h * 3600
        fmt = "%m-%d %H:%M" if step_h < 24 else "%Y-%m-%d"
        first = math.ceil(t0 / step) * step
        return [first + i * step for i in range(int((t1 - first) // step) + 1)], fmt
    # calendar months: 1, 3, 6, 12, 24, 60 ... months per tick
    months = next((m for m in (1, 3, 6, 12, 24, 60, 120, 600) if span_h / (m * 730) <= 8), 1200)
    try:
        start = datetime.fromtimestamp(t0, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return [], "%Y"
    idx = start.year * 12 + start.month - 1
    idx = -(-idx // months) * months  # first month index at or after t0 on the step grid
    out = []
    while len(out) < 50:
        y, m = divmod(idx, 12)
        if not 1 <= y <= 9999:
            break
        ep = datetime(y, m + 1, 1, tzinfo=timezone.utc).timestamp()
        if ep > t1:
            break
        if ep >= t0:
            out.append(ep)
        idx += months
    return out, ("%Y" if months % 12 == 0 else "%Y-%m")


def _bin_text(hours: int, lang: str) -> str:
    if hours % 24 == 0:
        return t("bin.days", lang, n=hours // 24)
    return t("bin.hours", lang, n=hours)


def _timeline(report: Any, findings: list[dict], facts: dict, lang: str) -> str:
    cells = _timeline_cells(getattr(report, "timeline", None))
    marks = []  # (number, finding, first epoch, last epoch)
    for i, f in enumerate(findings, 1):
        a, b = _epoch(f.get("first_seen")), _epoch(f.get("last_seen"))
        if a is None and b is None:
            continue
        a = b if a is None else a
        b = a if b is None else b
        marks.append((i, f, min(a, b), max(a, b)))
    heading = (f'<section id="timeline" aria-labelledby="h-timeline"><h2 id="h-timeline">'
               f'{fixed(t("timeline.heading", lang))}</h2>')
    if not cells and not marks:
        return heading + f'<p class="muted">{fixed(t("timeline.none", lang))}</p></section>'

    points = [c[2] for c in cells] + [c[2] + 3600 for c in cells]
    points += [m[2] for m in marks] + [m[3] for m in marks]
    t0 = math.floor(min(points) / 3600) * 3600
    t1 = max(math.ceil(max(points) / 3600) * 3600, t0 + 3600)
    span_h = (t1 - t0) / 3600
    bin_h = next((h for h in _BIN_HOURS if span_h / h <= MAX_BINS), _BIN_HOURS[-1])
    bin_s = bin_h * 3600
    t0 = math.floor(t0 / bin_s) * bin_s
    t1 = max(math.ceil(t1 / bin_s) * bin_s, t0 + bin_s)

    agg: dict[tuple[str, str, float], int] = defaultdict(int)
    for kind, row, start, count in cells:
        agg[(kind, row, math.floor(start / bin_s) * bin_s)] += count
    kinds = sorted({k for k, _, _ in agg}, key=_kind_key)
    rows_used = [r for r in LEVEL_ROWS if any(row == r for _, row, _ in agg)] or ["INFO"]
    level_max = Counter()
    for (_, row, _), n in agg.items():
        level_max[row] = max(level_max[row], n)

    W, L, R, TOP = 1000.0, 190.0, 14.0, 30.0
    ROW_H, LANE_GAP, MARK_H = 13.0, 10.0, 18.0
    PW = W - L - R

    def x(ep: float) -> float:
        return L + (ep - t0) / (t1 - t0) * PW

    lane_h = ROW_H * len(rows_used)
    lanes_bottom = TOP + len(kinds) * (lane_h + LANE_GAP)
    track_top = lanes_bottom + (22.0 if marks else 0.0)
    H = track_top + len(marks) * MARK_H + 12.0
    svg: list[str] = []
    title_id, desc_id = "timeline-title", "timeline-desc"
    svg.append(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W:.0f} {H:.0f}" role="img" '
               f'aria-labelledby="{title_id} {desc_id}" font-family="system-ui,Arial,sans-serif" font-size="11">')
    svg.append(f'<title id="{title_id}">{fixed(t("timeline.heading", lang))}</title>')
    desc = (f"{_utc(t0, '%Y-%m-%d %H:%M')} .. {_utc(t1, '%Y-%m-%d %H:%M')} UTC; "
            + "; ".join(f"{k}: {sum(n for (kk, _, _), n in agg.items() if kk == k)}" for k in kinds))
    svg.append(f'<desc id="{desc_id}">{esc(desc, 3000)}</desc>')

    # ticks and grid
    ticks, fmt = _ticks(t0, t1)
    svg.append('<g class="grid" stroke="#e2e2e2" stroke-width="1">')
    labels = []
    last_label = -1e9
    half = 3.3 * len(_utc(t0, fmt)) + 4  # half a label's width at font-size 11
    for tk in ticks:
        px = x(tk)
        svg.append(f'<line x1="{px:.1f}" y1="{TOP - 6:.1f}" x2="{px:.1f}" y2="{H - 6:.1f}"/>')
        lx = min(px, W - 2 - half)  # the gutter on the left is free at this height
        if lx - last_label >= 2 * half + 6:
            labels.append(f'<text x="{lx:.1f}" y="{TOP - 12:.1f}" text-anchor="middle">{_utc(tk, fmt)}</text>')
            last_label = lx
    svg.append("</g>")
    svg.append(f'<g class="ticks" fill="#333">{"".join(labels)}</g>')
    svg.append(f'<rect x="{L:.1f}" y="{TOP - 4:.1f}" width="{PW:.1f}" height="{lanes_bottom - TOP:.1f}" '
               f'fill="none" stroke="#bdbdbd"/>')

    # lanes
    by_lane: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for (k, r, start), n in sorted(agg.items()):
        by_lane[(k, r)].append((start, n))
    bar_w = max(1.0, PW * bin_s / (t1 - t0) - (1.0 if PW * bin_s / (t1 - t0) > 3 else 0.0))
    for li, kind in enumerate(kinds):
        y0 = TOP + li * (lane_h + LANE_GAP)
        svg.append(f'<g class="lane" data-kind="{esc(kind, 80)}">')
        if li % 2:
            svg.append(f'<rect x="{L:.1f}" y="{y0 - 2:.1f}" width="{PW:.1f}" height="{lane_h + 4:.1f}" fill="#f6f7f9"/>')
        svg.append(f'<text x="{L - 8:.1f}" y="{y0 + lane_h / 2 + 4:.1f}" text-anchor="end" fill="#1b1b1b" '
                   f'font-weight="600">{esc(_cut(kind, 26), 80)}</text>')
        for ri, row in enumerate(rows_used):
            ry = y0 + ri * ROW_H
            svg.append(f'<line x1="{L:.1f}" y1="{ry + ROW_H - 0.5:.1f}" x2="{W - R:.1f}" y2="{ry + ROW_H - 0.5:.1f}" '
                       f'stroke="#ececec"/>')
            peak = max(level_max.get(row, 1), 1)
            for start, n in by_lane.get((kind, row), ()):
                hgt = 2.5 + (ROW_H - 3.5) * math.log1p(n) / math.log1p(peak)
                end = start + bin_s
                when = (f"{_utc(start, '%Y-%m-%d %H:%M')}–{_utc(end, '%H:%M')} UTC")
                label = f"{kind} · {row} · {when}: {t('timeline.records', lang, n=n)}"
                svg.append(f'<rect class="ev l-{row}" x="{x(start):.2f}" y="{ry + ROW_H - 0.5 - hgt:.2f}" '
                           f'width="{bar_w:.2f}" height="{hgt:.2f}" fill="{LEVEL_COLOR[row]}">'
                           f'<title>{esc(label, 400)}</title></rect>')
        svg.append("</g>")

    # collection time
    ct = _epoch(facts.get("collection_time"))
    collected = ct is not None and t0 <= ct <= t1
    if collected:
        px = x(ct)
        svg.append(f'<g class="collected"><line x1="{px:.1f}" y1="{TOP - 4:.1f}" x2="{px:.1f}" y2="{H - 6:.1f}" '
                   f'stroke="#333" stroke-dasharray="2 3"/><title>{fixed(t("timeline.collected", lang))} '
                   f'{_utc(ct, "%Y-%m-%d %H:%M:%S")} UTC</title></g>')

    # findings track
    if marks:
        svg.append(f'<text x="{L - 8:.1f}" y="{track_top - 8:.1f}" text-anchor="end" fill="#1b1b1b" '
                   f'font-weight="700">{fixed(t("timeline.findings", lang))}</text>')
        svg.append(f'<line x1="{L:.1f}" y1="{track_top - 4:.1f}" x2="{W - R:.1f}" y2="{track_top - 4:.1f}" stroke="#bdbdbd"/>')
    for mi, (num, f, a, b) in enumerate(marks):
        sev = f["severity"] if f["severity"] in SEV_COLOR else "info"
        color = SEV_COLOR[sev]
        y = track_top + mi * MARK_H + MARK_H / 2
        xa, xb = x(a), x(b)
        tip = (f"{num}. {f.get('title') or f['cause']} ({f['cause']}): "
               f"{_utc(a, '%Y-%m-%d %H:%M:%S')} .. {_utc(b, '%Y-%m-%d %H:%M:%S')} UTC")
        svg.append(f'<g class="mark sev-{sev}" data-finding="{num}"><title>{esc(tip, 600)}</title>')
        for px in {xa, xb}:
            svg.append(f'<line class="guide" x1="{px:.1f}" y1="{TOP - 4:.1f}" x2="{px:.1f}" y2="{y:.1f}" '
                       f'stroke="{color}" stroke-opacity="0.55" stroke-dasharray="3 3"/>')
        svg.append(f'<text x="{L - 8:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="#1b1b1b">'
                   f'{num}. {esc(_cut(str(f["cause"]), 24), 80)}</text>')
        svg.append(f'<line x1="{xa:.1f}" y1="{y:.1f}" x2="{max(xb, xa + 0.5):.1f}" y2="{y:.1f}" '
                   f'stroke="{color}" stroke-width="5" stroke-linecap="round"/>')
        svg.append(f'<circle class="first" cx="{xa:.1f}" cy="{y:.1f}" r="5" fill="#fff" stroke="{color}" stroke-width="2.5"/>')
        svg.append(f'<circle class="last" cx="{xb:.1f}" cy="{y:.1f}" r="5" fill="{color}" stroke="{color}" stroke-width="2.5"/>')
        svg.append("</g>")
    svg.append("</svg>")

    legend = [f'<li><span class="sw l-{r}"></span>{fixed(t("level.OTHER", lang) if r == "OTHER" else r)}</li>'
              for r in rows_used]
    if marks:
        legend.append(f'<li><span class="sw mark"></span>{fixed(t("legend.first_last", lang))}</li>')
    if collected:
        legend.append(f'<li><span class="sw coll"></span>{fixed(t("timeline.collected", lang))}</li>')
    caption = fixed(t("timeline.desc", lang, bin=_bin_text(bin_h, lang)))
    return (heading + f'<figure class="timeline">{"".join(svg)}<figcaption>{caption}</figcaption>'
            f'<ul class="legend" aria-label="{_attr(t("legend.label", lang))}">{"".join(legend)}</ul></figure>'
            + _timeline_table(agg, kinds, rows_used, lang) + "</section>")


def _timeline_table(agg: dict, kinds: list[str], rows_used: list[str], lang: str) -> str:
    """The timeline's numbers for screen readers and copying: totals per kind and level."""
    if not kinds:
        return ""
    head = [fixed(t("label.kind", lang))]
    head += [fixed(t("level.OTHER", lang) if r == "OTHER" else r) for r in rows_used]
    head += [fixed(t("label.first_seen", lang)), fixed(t("label.last_seen", lang))]
    rows = []
    for kind in kinds:
        mine = {key: n for key, n in agg.items() if key[0] == kind}
        starts = [key[2] for key in mine]
        row = [f'<span class="mono">{esc(kind, 80)}</span>']
        row += [str(sum(n for key, n in mine.items() if key[1] == r)) for r in rows_used]
        row += [_utc(min(starts), "%Y-%m-%d %H:00"), _utc(max(starts), "%Y-%m-%d %H:00")]
        rows.append(row)
    return (f'<details class="timeline-table"><summary>{fixed(t("timeline.table", lang))}</summary>'
            f'{_table(head, rows, num=range(1, 1 + len(rows_used)))}</details>')


# --- the page -----------------------------------------------------------------------------------------
def render_html(report: Any, lang: str = "en", show_all: bool = False, **opts: Any) -> str:
    """The report as one self-contained HTML page (no external resources; also well-formed XML)."""
    lang = norm_lang(lang)
    data = report_to_dict(report, lang=lang, show_all=True, generated_at=opts.get("generated_at"),
                          catalogue=opts.get("catalogue"))
    findings = data["findings"]
    facts = data.get("facts") or {}
    title = t("report.title", lang, bundle=redact(data.get("bundle") or "?"))
    sections = [("overview", t("overview.heading", lang)), ("findings", t("findings.heading", lang)),
                ("timeline", t("timeline.heading", lang))]
    for key, sid, heading in (("unexplained", "unexplained", t("unexplained.heading", lang)),
                              ("noise", "noise", t("noise.heading", lang)),
                              ("problems", "problems", t("problems.heading", lang)),
                              ("not_evaluable", "not-evaluable", t("not_evaluable.heading", lang))):
        if data.get(key):
            sections.append((sid, heading))
    toc = "".join(f'<li><a href="#{sid}">{fixed(h)}</a></li>' for sid, h in sections)
    worst = data["summary"].get("worst_severity")
    body = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}" xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"/>',
        f'<meta http-equiv="Content-Security-Policy" content="{_attr(CSP)}"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        '<meta name="color-scheme" content="light"/>',
        f'<meta name="generator" content="loganalyzer {_attr(data.get("tool_version") or "")}"/>',
        '<link rel="icon" href="data:,"/>',
        f"<title>{esc(title, 300)}</title>",
        f"<style>{CSS}</style></head>",
        f'<body data-worst="{_attr(worst or "none")}"><main>',
        f'<div class="toolbar" id="toolbar" hidden="hidden"><button type="button" id="expand-all">'
        f'{fixed(t("button.expand", lang))}</button><button type="button" id="collapse-all">'
        f'{fixed(t("button.collapse", lang))}</button></div>',
        f"<header><h1>{esc(title, 300)}</h1>",
        f'<nav class="toc" aria-label="{_attr(t("nav.label", lang))}"><ul>{toc}</ul></nav></header>',
        _answer(findings, lang),
        _overview(data, lang),
        _findings(findings, lang, show_all),
        _timeline(report, findings, facts, lang),
        _unexplained(data.get("unexplained") or [], lang, show_all),
        _noise(data.get("noise") or [], lang, show_all),
        _problems(data.get("problems") or [], lang, show_all),
        _not_evaluable(data.get("not_evaluable") or [], lang),
        "<footer>" + esc(t("report.generated_by", lang, version=data.get("tool_version") or "?",
                                patterns=data.get("patterns_version") or "?",
                                time=fmt_ts(data.get("generated_at")) + " " + t("label.utc", lang)), 400)
        + "</footer>",
        f"</main><script>{JS}</script></body></html>",
        "",
    ]
    return "\n".join(body)
