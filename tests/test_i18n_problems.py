"""German parse-problem texts (i18n.problem_text): every message template the code writes has one,
variable parts (paths, numbers, error texts) survive, and the renderers show it for --lang de."""
from __future__ import annotations

import ast
import gzip
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import loganalyzer
from loganalyzer import i18n
from loganalyzer.i18n import PROBLEM_WORDS_DE, partial_reason_text, problem_text
from loganalyzer.model import ParseProblem, Report
from loganalyzer.render import render

PKG = Path(loganalyzer.__file__).resolve().parent

# --- collecting the message templates from the source -----------------------------------------------
# call -> index of the message argument; some are wrapped the way the code wraps them later
_MESSAGE_ARG = {"problem": 1, "_problem": 1, "ParseProblem": 1, "_refuse": 2,
                "_report": 0, "_finish": 0, "report": 0, "append": 0, "ParseError": 0, "InputError": 0}
_INGEST_ONLY = {"_report", "_finish", "report", "_refuse"}
_WRAP = {"_refuse": "refusing var/log/syslog: {}", "ParseError": "unreadable: {}"}

# non-literal message arguments, each deliberately not a template of its own (with the reason)
DYNAMIC_ARGS = {
    "message": "forwards a message made elsewhere (the report callbacks; their messages are collected "
               "at _report/_finish/report)",
    "p.message": "copies a problem already made (and collected) elsewhere",
    "note": "an ext_status note, collected at info.notes.append(...)",
    "str(exc)": "the InputError of _zipfile, collected at its raise statements",
    "message + ' (bundle is partial)'": "the suffix of the tar report callback: PROBLEM_SUFFIXES_DE",
}
# message templates deliberately left in English (none: every fixed text has a German one)
UNTRANSLATED: dict[str, str] = {}

_PATH = "var/log/azure/Sample.Ext/extension.log"
_NUMBER = "4711"
_ERROR = "Errno 28 sample-error-text"


@dataclass
class Template:
    where: str
    english: str
    kept: list[str] = field(default_factory=list)  # sample values that must survive translation


# (does this ``{...}`` source hold it, a plausible value, must the German keep the value as it is)
_SAMPLES: list[tuple] = [
    (lambda src: "_size(" in src, "64 MiB", True),
    (lambda src: "type(exc).__name__" in src, "JSONDecodeError", True),
    (lambda src: src == "exc.msg", "Expecting value", True),
    (lambda src: "exc" in src or "_why(" in src or src == "reason", _ERROR, True),
    (lambda src: "_file_type(" in src, "fifo", False),
    (lambda src: "UNSUPPORTED[" in src, "7-Zip archive", False),
    (lambda src: "_FMT_NAME[" in src, "gzip", True),
    (lambda src: src == "what", "status file", False),
    (lambda src: "isoformat" in src, "2023-02-28T10:00:00+00:00", True),
    (lambda src: "local(root)" in src, "Wrong", True),
]
_NAMED = {"zone": "Europe/Berlin", "pid": "sample-pattern", "key[:64]": "Mars/Olympus", "info.raw_status": "Done",
          "info.linkname": "/etc/passwd", "declared": "1.2.3", "fact.version": "1.2.4", "name": "Sample.Ext"}


def _sample(expr: ast.expr) -> tuple[str, bool]:
    """A plausible value for one ``{...}`` field; True when the German must keep it as it is."""
    src = ast.unparse(expr)
    for holds, value, keep in _SAMPLES:
        if holds(src):
            return value, keep
    if src in _NAMED:
        return _NAMED[src], True
    if re.search(r"\b(path|source|first_of|same|config_source|label|shown|rel|p)\b", src) and "len(" not in src:
        return _PATH, True
    return _NUMBER, True


def _text(node: ast.expr, consts: dict[str, str], kept: list[str]) -> str | None:
    """The message an argument makes with sample values, or None when it is not a literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in consts:
        return consts[node.id]
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
                continue
            value, keep = _sample(part.value)
            if part.conversion == ord("r"):
                value = repr(value)
            if keep:
                kept.append(value)
            out.append(value)
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left, consts, kept), _text(node.right, consts, kept)
        return None if left is None or right is None else left + right
    return None


def _collect() -> tuple[list[Template], list[tuple[str, str]]]:
    templates: list[Template] = []
    dynamic: list[tuple[str, str]] = []
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(PKG).as_posix()
        consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                  and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                  for t in n.targets if isinstance(t, ast.Name)}
        funcs = {id(n): f.name for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f)}

        def add(node: ast.expr, where: str, wrap: str = "{}") -> None:
            kept: list[str] = []
            text = _text(node, consts, kept)
            if text is None:
                dynamic.append((where, ast.unparse(node)))
            elif text:
                if "var/log/syslog" in wrap:
                    kept.append("var/log/syslog")
                templates.append(Template(where, wrap.format(text), kept))

        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
                if name not in _MESSAGE_ARG:
                    continue
                if name in _INGEST_ONLY and rel != "ingest.py":
                    continue
                if name == "append" and not (isinstance(f.value, ast.Attribute) and f.value.attr == "notes"):
                    continue
                if name == "problem" and not isinstance(f, ast.Attribute):
                    continue
                if name == "InputError" and funcs.get(id(node)) != "_zipfile":
                    continue  # the others stop the whole run (a CLI error), not a report problem
                arg = next((k.value for k in node.keywords if k.arg == "message"), None)
                if arg is None and len(node.args) > _MESSAGE_ARG[name]:
                    arg = node.args[_MESSAGE_ARG[name]]
                if arg is not None:
                    add(arg, where, _WRAP.get(name, "{}"))
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute) \
                    and node.targets[0].attr == "message" and rel == "parsers/__init__.py":
                add(node.value, where)  # ParseContext.problem's "N more problem(s)" summary
            elif rel == "ingest.py" and funcs.get(id(node)) == "_safe_name" \
                    and isinstance(node, ast.Assign):  # (its "+=" suffix: test_nested_and_suffixed_messages)
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id == "reason" \
                        and isinstance(node.value, ast.Constant) and node.value.value:
                    templates.append(Template(where, f"refusing member {_PATH!r}: {node.value.value}",
                                              [repr(_PATH)]))
    return templates, dynamic


TEMPLATES, DYNAMIC = _collect()


def test_collector_finds_the_call_sites():
    assert len(TEMPLATES) >= 100, len(TEMPLATES)
    englishes = {t.english for t in TEMPLATES}
    assert "refusing var/log/syslog: a fifo, not a regular file" in englishes
    assert f"{_NUMBER} syslog line(s) with an impossible date; kept without time" in englishes


def test_every_dynamic_message_argument_is_allowed():
    unknown = sorted({src for _, src in DYNAMIC} - DYNAMIC_ARGS.keys())
    assert not unknown, f"message arguments that are no literal (make them one or allow them): {unknown}"


@pytest.mark.parametrize("tpl", TEMPLATES, ids=lambda t: t.where)
def test_every_problem_template_has_german(tpl: Template):
    if tpl.english in UNTRANSLATED:
        pytest.skip(UNTRANSLATED[tpl.english])
    de = problem_text(tpl.english, "de")
    assert de != tpl.english, f"no German for {tpl.english!r} ({tpl.where})"
    assert problem_text(tpl.english, "en") == tpl.english


def _words(text: str) -> list[str]:
    text = re.sub(r"'[^']*'", " ", text)  # quoted names and agent texts stay English on purpose
    text = re.sub(r"\S*\w\.\w\S*", " ", text)  # file names (waagent.conf)
    return re.findall(r"[A-Za-z]+", text)


@pytest.mark.parametrize("tpl", TEMPLATES, ids=lambda t: t.where)
def test_german_keeps_variable_parts_and_drops_english_words(tpl: Template):
    de = problem_text(tpl.english, "de")
    for value in tpl.kept:
        assert value in de, f"{value!r} lost in {de!r}"
    rest_en, rest_de = tpl.english, de
    for value in tpl.kept:
        rest_en, rest_de = rest_en.replace(value, " "), rest_de.replace(value, " ")
    en_words = _words(rest_en)
    triples = {tuple(en_words[i:i + 3]) for i in range(len(en_words) - 2)}
    de_words = _words(rest_de)
    left = [" ".join(de_words[i:i + 3]) for i in range(len(de_words) - 2) if tuple(de_words[i:i + 3]) in triples]
    assert not left, f"English left in {de!r}: {left}"


def test_words_filled_in_are_translated():
    from loganalyzer import ingest
    for word in ingest.UNSUPPORTED.values():
        assert word in PROBLEM_WORDS_DE
        assert word not in problem_text(f"{word}: not supported, decompress it first", "de")
    for ftype in ("character device", "block device", "fifo", "socket", "folder", "special file"):
        assert PROBLEM_WORDS_DE[ftype] in problem_text(f"refusing x.log: a {ftype}, not a regular file", "de")


def test_keyed_problems_use_params_and_fall_back_to_the_table():
    msg = "3 header line(s) with an impossible date; kept without time"
    assert problem_text(msg, "de", key="problem.bad_dates", params={"n": 3}) == \
        "3 Kopfzeile(n) mit unmöglichem Datum; ohne Zeit übernommen"
    # params missing: the English message is translated by the table all the same
    assert problem_text(msg, "de", key="problem.bad_dates") == \
        "3 Kopfzeile(n) mit unmöglichem Datum; ohne Zeit übernommen"
    assert problem_text(msg, "en", key="problem.bad_dates", params={"n": 3}) == msg
    assert problem_text("something nobody wrote", "de") == "something nobody wrote"


def test_nested_and_suffixed_messages():
    de = problem_text("refusing member '../etc/shadow': '..' in its path (path traversal); a file the "
                      "analysis would read (bundle is partial)", "de")
    assert de == ("Archiveintrag '../etc/shadow' abgelehnt: '..' im Pfad (Path Traversal); eine Datei, "
                  "die die Analyse lesen würde (Log-Paket unvollständig)")
    assert problem_text("unreadable: malformed XML: no root element", "de") == \
        "unlesbar: fehlerhaftes XML: kein Wurzelelement"
    # an unknown nested text stays as it is, the fixed words around it are translated
    assert problem_text("cannot read: [Errno 13] Permission denied: 'x'", "de") == \
        "nicht lesbar: [Errno 13] Permission denied: 'x'"
    assert problem_text("gzip stream ends early (truncated) after 12 bytes (bundle is partial)", "de") == \
        "gzip-Datenstrom endet vorzeitig (abgeschnitten) nach 12 Bytes (Log-Paket unvollständig)"


def test_partial_reason_lines():
    assert partial_reason_text("b/var/log/waagent.log: read only in part", "de") == \
        "b/var/log/waagent.log: nur teilweise gelesen"
    assert partial_reason_text("x: y.log: not read (unreadable: empty XML document)", "de") == \
        "x: y.log: nicht gelesen (unlesbar: leeres XML-Dokument)"
    assert partial_reason_text("... and 7 more", "de") == "... und 7 weitere"
    assert partial_reason_text("a.log: read only in part", "en") == "a.log: read only in part"
    assert partial_reason_text("a.log: no such text", "de") == "a.log: no such text"


def test_table_regexes_are_compiled_with_groups():
    assert all(isinstance(rx, re.Pattern) for rx, _ in i18n.problem_messages_de())
    for rx, de in i18n.problem_messages_de():
        assert set(re.findall(r"\{(\w+)\}", de)) <= set(rx.groupindex), rx.pattern


# --- end to end: a bundle with problems, rendered in German --------------------------------------
@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("i18nbundle") / "bundle"
    log = root / "var" / "log"
    log.mkdir(parents=True)
    (log / "waagent.log").write_text(
        "2023/02/28 10:00:00.000000 INFO Daemon Azure Linux Agent Version: 2.9.1.1\n"
        "2023/02/30 10:00:01.000000 ERROR ExtHandler something failed\n", encoding="utf-8")
    (log / "waagent.log.2.gz").write_bytes(gzip.compress(b"2023/02/27 09:00:00.000000 INFO Daemon x\n")[:12])
    if hasattr(os, "mkfifo"):
        os.mkfifo(log / "syslog")
    return root


@pytest.fixture(scope="module")
def report(bundle) -> Report:
    return loganalyzer.analyze(str(bundle))


def test_end_to_end_text_de(report):
    msgs = [p.message for p in report.problems]
    assert any("impossible date" in m for m in msgs), msgs
    de = render(report, "text", lang="de", width=400)
    en = render(report, "text", lang="en", width=400)
    assert "Kopfzeile(n) mit unmöglichem Datum; ohne Zeit übernommen" in de
    assert "impossible date" not in de and "impossible date" in en
    assert "gzip-Datenstrom endet vorzeitig (abgeschnitten)" in de
    assert "stream ends early" not in de and "stream ends early" in en
    if hasattr(os, "mkfifo"):
        assert "var/log/syslog abgelehnt: keine reguläre Datei, sondern ein FIFO" in de
        assert "not a regular file" not in de  # neither in the problems nor in the partial line
        assert "not a regular file" in en
        partial = next(line for line in de.splitlines() if "Nur teilweise gelesen" in line)
        assert "abgelehnt" in partial


def test_end_to_end_other_formats(report):
    md = render(report, "md", lang="de")
    assert "Kopfzeile(n) mit unmöglichem Datum" in md and "impossible date" not in md
    html = render(report, "html", lang="de")
    assert "gzip-Datenstrom endet vorzeitig" in html and "stream ends early" not in html
    de = json.loads(render(report, "json", lang="de"))
    en = json.loads(render(report, "json", lang="en"))
    assert any("Datenstrom endet vorzeitig" in p["message"] for p in de["problems"])
    # English JSON keeps each message exactly as the code wrote it
    assert [p["message"] for p in en["problems"]] == [p.message for p in report.problems]


def test_json_de_translates_unkeyed_problems_of_a_plain_report():
    rep = Report(bundle="b")
    rep.problems = [ParseProblem("b/x.leases", "lease block not closed", line=3),
                    ParseProblem("b/y", "3 syslog line(s) with an impossible date; kept without time",
                                 key="problem.bad_syslog_dates", params={"n": 3})]
    de = json.loads(render(rep, "json", lang="de"))["problems"]
    assert [p["message"] for p in de] == ["Lease-Block nicht geschlossen",
                                          "3 Syslog-Zeile(n) mit unmöglichem Datum; ohne Zeit übernommen"]
    en = json.loads(render(rep, "json", lang="en"))["problems"]
    assert en[0]["message"] == "lease block not closed"
