"""Renderers: text, brief, JSON (schema-valid), Markdown, in English and German; no secret leaks."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from loganalyzer import i18n
from loganalyzer.i18n import STRINGS, t
from loganalyzer.model import (SEVERITIES, Evidence, Facts, Finding, InputFile, LeaseFact,
                               NoiseCount, NotEvaluable, ParseProblem, Report, Template)
from loganalyzer.render import fmt_span, render
from loganalyzer.render import json_out
from loganalyzer.render.json_out import load_schema, render_json, report_to_dict
from loganalyzer.render.markdown import render_markdown
from loganalyzer.render.text import render_text

UTC = timezone.utc
T0 = datetime(2024, 1, 14, 22, 16, 3, 123456, tzinfo=UTC)
GENERATED = datetime(2024, 1, 15, 10, 0, 0, tzinfo=UTC)

# secrets planted in evidence, facts, messages: none may appear in any output
SIG = "Zq7SigSecretAbC123%3D"
PASSWORD = "Zq7Hunter2Pass"
PROTECTED = "MIIZq7ProtectedBlobQUJDREVGR0g"
ACCOUNT_KEY = "Zq7AccountKeyBase64+/=="
BEARER = "Zq7eyJhbGciOiJIUzI1NiJ9"
SECRETS = (SIG, PASSWORD, PROTECTED, ACCOUNT_KEY, BEARER)


# --- a catalogue stub with the interface of loganalyzer.causes.Cause ------------------------------
@dataclass(frozen=True)
class StubCause:
    id: str
    detectable: str
    severity: str
    docs: tuple[str, ...]
    portal_errors: tuple[str, ...]
    title: dict = field(hash=False)
    explanation: dict = field(hash=False)
    solution: dict = field(hash=False)
    check_instead: dict = field(default_factory=dict, hash=False)

    def text(self, name: str, lang: str = "en") -> str:
        texts = getattr(self, name)
        return texts.get(lang) or texts.get("en", "")

    def steps(self, lang: str = "en") -> tuple[str, ...]:
        return self.solution.get(lang) or self.solution.get("en", ())


def _stub(cid: str, en: str, de: str) -> StubCause:
    return StubCause(
        id=cid, detectable="yes", severity="error", docs=(f"https://learn.example.test/{cid}",), portal_errors=(),
        title={"en": f"EN-TITLE {en}", "de": f"DE-TITEL {de}"},
        explanation={"en": f"EN-EXPLANATION of {en}.", "de": f"DE-ERKLÄRUNG zu {de}."},
        solution={"en": (f"EN-STEP-1 fix {en}", "EN-STEP-2 verify"),
                  "de": (f"DE-SCHRITT-1 behebe {de}", "DE-SCHRITT-2 prüfe")})


CATALOGUE = {
    "no-internet-access": _stub("no-internet-access", "storage unreachable", "Speicher unerreichbar"),
    "dhcp-245-missing": _stub("dhcp-245-missing", "option 245 missing", "Option 245 fehlt"),
    "agent-outdated": _stub("agent-outdated", "old agent", "alter Agent"),
}


@pytest.fixture(autouse=True)
def stub_catalogue(monkeypatch):
    monkeypatch.setattr(json_out, "_catalogue", lambda: dict(CATALOGUE))


# --- reports built by hand ------------------------------------------------------------------------
def _facts() -> Facts:
    f = Facts(agent_daemon_version="2.2.45", agent_goal_state_version="2.15.0.1", agent_versions=["2.15.0.1"],
              requested_agent_version="2.15.0.1", agent_status="Ready", os_name="Ubuntu", os_version="22.04",
              python_version="3.10.12", hostname="vm-backup-01",
              collection_time=datetime(2024, 1, 15, 9, 59, 0, tzinfo=UTC), collection_time_source="results.txt",
              endpoint="168.63.129.16", endpoint_source="WireServerEndpoint",
              config={"Provisioning.DeleteRootPassword": "y", "HttpProxy.Host": "None",
                      "Custom.Password": PASSWORD},
              first_seen=datetime(2024, 1, 14, 0, 0, 1, tzinfo=UTC),
              last_seen=datetime(2024, 1, 15, 9, 58, 59, tzinfo=UTC),
              extra={"status_blob": f"https://acct.blob.core.windows.net/vhds/vm.status?sv=2018&sr=b&sig={SIG}",
                     "protectedSettings": PROTECTED, "when": datetime(2024, 1, 15, tzinfo=UTC),
                     "tags": {"b", "a"}})
    ext = f.extension("Microsoft.Azure.RecoveryServices.VMSnapshotLinux")
    ext.version, ext.state, ext.status, ext.code = "1.0.9225.0", "enabled", "error", "76"
    ext.handler_status, ext.ext_error_code = "Ready", "761"
    ext.message = f"Snapshot upload to https://acct.blob.core.windows.net/c/b?sp=rw&sig={SIG} failed"
    ext.status_time = datetime(2024, 1, 14, 23, 5, tzinfo=UTC)
    f.extension("Microsoft.CPlat.Core.RunCommandLinux").version = "1.0.5"
    f.leases.append(LeaseFact(source="var/lib/dhcp/dhclient.eth0.leases", interface="eth0", has_245=False))
    return f


def _finding(cause: str, severity: str, conf: float, n_ev: int = 2, offset: int = 0) -> Finding:
    ev = [Evidence(file="var/log/waagent.log", line=100 + i + offset,
                   text=(f"2024-01-14T22:16:03.123456Z WARNING ExtHandler HTTP PUT "
                         f"https://acct.blob.core.windows.net/vhds/x.status?sr=b&sig={SIG} [{i}]"),
                   ts=T0 + timedelta(minutes=i), pattern="storage.put.failed")
          for i in range(n_ev)]
    ev.append(Evidence(file="var/log/azure/handler.log", line=7,
                       text=f'settings {{"protectedSettings": "{PROTECTED}", "password": "{PASSWORD}"}}'))
    return Finding(cause=cause, severity=severity, confidence=conf, count=12 + offset,
                   first_seen=T0, last_seen=T0 + timedelta(minutes=46), evidence=ev,
                   patterns=["storage.put.failed"], rule=f"rule.{cause}",
                   summary=f"12 storage requests failed; key AccountKey={ACCOUNT_KEY}",
                   details={"token": BEARER, "n": 3})


def make_report(n_findings: int) -> Report:
    findings = [
        _finding("dhcp-245-missing", "warning", 0.55, n_ev=7, offset=1),  # ranked first though weaker
        _finding("no-internet-access", "critical", 0.92, n_ev=2, offset=2),
        _finding("agent-outdated", "info", 0.30, n_ev=1, offset=3),
    ][:n_findings]
    if n_findings == 3:
        findings[2].partial = True
        findings[2].explained_by = "no-internet-access"
    return Report(
        bundle="logs-20240115.zip",
        findings=findings,
        facts=_facts(),
        inputs=[InputFile("var/log/waagent.log", "waagent_log", 1000, 50, False, "read"),
                InputFile("var/log/waagent.log.1.gz", "waagent_log", 500, 20, True, "read"),
                InputFile("var/lib/waagent/blob.bin", None, 10, 0, False, "skipped"),
                InputFile("var/log/syslog", "syslog", 10, 0, False, "error", error="bad gzip")],
        problems=[ParseProblem("var/log/syslog", f"undecodable line near password={PASSWORD}", 12),
                  ParseProblem("var/lib/waagent/GoalState.1.xml", "XML not well-formed", None)],
        noise=[NoiseCount("agent.vmsettings.403", 57, T0, T0 + timedelta(hours=2),
                          Evidence("var/log/waagent.log", 5, f"Fetching vmSettings Authorization: Bearer {BEARER}")),
               NoiseCount("agent.dhcp.client.down", 3, None, None, None)],
        unexplained=[Template("Disk <*> not mounted: <*>", 4,
                              Evidence("var/log/syslog", 33, f"Disk sdc not mounted: AccountKey={ACCOUNT_KEY}"),
                              level="ERROR", first_seen=T0, last_seen=T0)],
        not_evaluable=[NotEvaluable("dhcp-245-from-leases", "dhcp-245-missing", "no DHCP lease files in the bundle")],
        timings={"ingest": 0.12, "parse": 0.5},
        tool_version="0.1.0",
        patterns_version="2024.01",
    )


REPORTS = {0: make_report(0), 1: make_report(1), 3: make_report(3)}
LANGS = ("en", "de")


def all_outputs(report: Report, lang: str) -> dict[str, str]:
    out = {}
    for show_all in (False, True):
        out[f"text-{show_all}"] = render_text(report, lang=lang, show_all=show_all, generated_at=GENERATED)
        out[f"brief-{show_all}"] = render_text(report, lang=lang, brief=True, show_all=show_all)
        out[f"json-{show_all}"] = render_json(report, lang=lang, show_all=show_all, generated_at=GENERATED)
        out[f"md-{show_all}"] = render_markdown(report, lang=lang, show_all=show_all, generated_at=GENERATED)
    out["color"] = render_text(report, lang=lang, color=True)
    return out


# --- i18n ---------------------------------------------------------------------------------------------
def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_key_has_english_and_german_with_same_placeholders():
    assert STRINGS
    for key, entry in STRINGS.items():
        assert set(entry) >= set(i18n.LANGS), key
        for lang in i18n.LANGS:
            assert isinstance(entry[lang], str) and entry[lang].strip(), (key, lang)
        assert _fields(entry["en"]) == _fields(entry["de"]), key


def test_t_formats_and_falls_back():
    assert t("inputs.read", "en", n=3) == "3 read"
    assert t("inputs.read", "de", n=3) == "3 gelesen"
    assert t("label.evidence", "de_DE.UTF-8") == "Belege"
    assert t("label.evidence", "fr") == "Evidence"
    with pytest.raises(KeyError):
        t("no.such.key", "en")


def test_every_severity_is_translated():
    for sev in SEVERITIES:
        assert f"severity.{sev}" in STRINGS
        assert i18n.severity_label(sev, "de") != sev


RENDER_SOURCES = [Path(json_out.__file__).parent / n for n in ("text.py", "markdown.py", "json_out.py",
                                                              "__init__.py")]


def test_every_key_the_renderers_use_exists():
    used: set[str] = set()
    for path in RENDER_SOURCES:
        src = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bt\(\s*[\"']([\w.]+)[\"']", src))
        for prefix in re.findall(r"\bt\(\s*f[\"']([\w.]+)\{", src):  # t(f"inputs.{st}", ...)
            assert any(k.startswith(prefix) for k in STRINGS), prefix
    assert len(used) > 30
    missing = used - set(STRINGS)
    assert not missing, missing


def test_cli_explain_keys_exist():
    for key in ("solution", "docs", "portal_errors", "not_in_linux_bundle"):
        assert key in STRINGS


# --- JSON ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def validator():
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("n", sorted(REPORTS))
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("show_all", (False, True))
def test_json_validates_against_schema(validator, n, lang, show_all):
    data = json.loads(render_json(REPORTS[n], lang=lang, show_all=show_all))
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, errors[0]
    assert data["schema_version"] == REPORTS[n].schema_version
    assert data["lang"] == lang
    assert data["summary"]["finding_count"] == n
    assert len(data["findings"]) == n


def test_schema_rejects_a_bad_report(validator):
    data = report_to_dict(REPORTS[1])
    data["findings"][0]["severity"] = "fatal"
    data["findings"][0]["confidence"] = 1.5
    del data["findings"][0]["evidence"]
    assert len(list(validator.iter_errors(data))) >= 3
    assert not validator.is_valid({**report_to_dict(REPORTS[0]), "generated_at": "2024-01-15 10:00"})


def test_json_contract_fields():
    data = report_to_dict(REPORTS[3], lang="en", generated_at=GENERATED)
    assert data["generated_at"] == "2024-01-15T10:00:00Z"
    assert [f["cause"] for f in data["findings"]] == ["dhcp-245-missing", "no-internet-access", "agent-outdated"]
    first = data["findings"][0]
    assert first["first_seen"] == "2024-01-14T22:16:03.123456Z"
    assert first["last_seen"] == "2024-01-14T23:02:03.123456Z"
    assert first["title"] == "EN-TITLE option 245 missing"
    assert first["solution"] == ["EN-STEP-1 fix option 245 missing", "EN-STEP-2 verify"]
    assert first["docs"] == ["https://learn.example.test/dhcp-245-missing"]
    assert first["evidence"][0]["file"] == "var/log/waagent.log" and first["evidence"][0]["line"] == 101
    assert data["summary"] == {"worst_severity": "critical", "finding_count": 3, "top_cause": "dhcp-245-missing"}
    assert data["facts"]["extensions"]["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"]["code"] == "76"
    assert data["facts"]["extra"]["when"] == "2024-01-15T00:00:00Z"
    assert data["facts"]["extra"]["tags"] == ["a", "b"]
    assert data["facts"]["config"]["Provisioning.DeleteRootPassword"] == "y"
    assert data["noise"] == [{"pattern": "agent.vmsettings.403", "count": 57},
                             {"pattern": "agent.dhcp.client.down", "count": 3}]
    full = report_to_dict(REPORTS[3], show_all=True)
    assert full["noise"][0]["example"]["line"] == 5
    assert data["timings"] == {"ingest": 0.12, "parse": 0.5}
    assert data["not_evaluable"][0]["cause"] == "dhcp-245-missing"


def test_json_german_uses_catalogue_in_german():
    data = json.loads(render_json(REPORTS[3], lang="de"))
    assert data["lang"] == "de"
    assert data["findings"][1]["title"] == "DE-TITEL Speicher unerreichbar"
    assert data["findings"][1]["solution"][0] == "DE-SCHRITT-1 behebe Speicher unerreichbar"
    assert "ERKLÄRUNG" in render_json(REPORTS[3], lang="de")  # ensure_ascii=False


def test_json_unknown_cause_and_odd_values_stay_valid(validator):
    odd = Finding(cause="not-in-catalogue", severity="bogus", confidence=float("nan"), count=-3,
                  first_seen=datetime(2024, 1, 14, 23, 0, tzinfo=timezone(timedelta(hours=2))), last_seen=None,
                  evidence=[Evidence("f", 0, "x")], details={"path": Path("/a/b"), "raw": b"\xff"})
    report = Report(bundle="b", findings=[odd])
    data = report_to_dict(report)
    assert validator.is_valid(data), list(validator.iter_errors(data))
    f = data["findings"][0]
    assert (f["severity"], f["confidence"], f["count"]) == ("info", 0.0, 0)
    assert f["first_seen"] == "2024-01-14T21:00:00Z"
    assert f["title"] == "not-in-catalogue" and f["solution"] == []
    assert f["evidence"][0]["line"] is None


def test_json_works_without_any_catalogue(monkeypatch, validator):
    monkeypatch.setattr(json_out, "_catalogue", lambda: {})
    data = report_to_dict(REPORTS[1])
    assert data["findings"][0]["title"] == "dhcp-245-missing"
    assert validator.is_valid(data)


# --- text --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
def test_text_answer_is_in_the_first_lines(lang):
    out = render_text(REPORTS[3], lang=lang)
    head = out.splitlines()[:3]
    assert "dhcp-245-missing" in head[1]
    assert t("answer.top", lang) in head[1]
    none = render_text(REPORTS[0], lang=lang).splitlines()[:3]
    assert t("answer.none", lang) in none[1]


def test_text_full_report_sections_en():
    out = render_text(REPORTS[3], lang="en", width=120)
    for needle in ("Guest agent", "daemon 2.2.45", "goal-state agent 2.15.0.1", "Ubuntu 22.04",
                   "Microsoft.Azure.RecoveryServices.VMSnapshotLinux 1.0.9225.0", "Code: 76",
                   "extErrorCode: 761", "2 read", "1 truncated", "1 skipped", "1 unreadable",
                   "2024-01-14 00:00:01 .. 2024-01-15 09:58:59", "Findings (3)", "1. WARNING",
                   "Confidence 0.55", "13x", "First seen 2024-01-14 22:16:03", "Evidence",
                   "var/log/waagent.log:101", "... and 3 more line(s)", "EN-EXPLANATION of option 245 missing.",
                   "1. EN-STEP-1 fix option 245 missing", "2. EN-STEP-2 verify",
                   "Documentation: https://learn.example.test/dhcp-245-missing", "partial:",
                   "probably a consequence of no-internet-access", "Known harmless messages (noise)",
                   "2 pattern(s), 60 line(s)", "Unexplained errors (1)", "Disk <*> not mounted: <*>",
                   "var/log/syslog:33", "Parse problems (2)", "var/log/syslog:12", "Not evaluable (1)",
                   "dhcp-245-from-leases", "DHCP leases", "0 with option 245", "Generated by loganalyzer 0.1.0"):
        assert needle in out, needle
    # ranking order preserved
    pos = [out.index(f"{i}. ") for i in (1, 2, 3)]
    assert pos == sorted(pos)
    assert out.index("dhcp-245-missing:") < out.index("no-internet-access:") < out.index("agent-outdated:")
    # noise detail only with show_all
    assert "agent.vmsettings.403" not in out
    assert "agent.vmsettings.403" in render_text(REPORTS[3], show_all=True)


def test_text_no_findings():
    out = render_text(REPORTS[0], lang="en")
    assert "No known cause found" in out
    assert "Findings" not in out
    assert "Unexplained errors" in out


@pytest.mark.parametrize("n", sorted(REPORTS))
@pytest.mark.parametrize("lang", LANGS)
def test_brief_has_one_line_per_finding(n, lang):
    out = render_text(REPORTS[n], lang=lang, brief=True, width=80)
    lines = out.rstrip("\n").split("\n")
    assert len(lines) == max(1, n)
    if n == 0:
        assert lines[0] == t("answer.none", lang)
        return
    assert lines[0].startswith(i18n.severity_label("warning", lang))
    assert "dhcp-245-missing" in lines[0]
    if n == 3:
        assert [c for line in lines for c in CATALOGUE if f"  {c}  " in line] == \
            ["dhcp-245-missing", "no-internet-access", "agent-outdated"]


def test_brief_line_format():
    line = render_text(REPORTS[1], brief=True, width=200).strip()
    assert re.fullmatch(r"warning\s+0\.55  dhcp-245-missing  EN-TITLE option 245 missing  "
                        r"\(13x, 2024-01-14 22:16 \.\. 23:02\)", line), line
    de = render_text(REPORTS[1], lang="de", brief=True, width=200).strip()
    assert de.startswith("Warnung") and "0,55" in de and "DE-TITEL Option 245 fehlt" in de


@pytest.mark.parametrize("n", sorted(REPORTS))
def test_no_ansi_without_color(n):
    for lang in LANGS:
        for brief in (False, True):
            assert "\x1b" not in render_text(REPORTS[n], lang=lang, brief=brief, color=False)
    assert "\x1b[" in render_text(REPORTS[n], color=True)  # the check above can fail


def test_no_ansi_even_when_environment_forces_color(monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert "\x1b" not in render_text(REPORTS[3], color=False)


def test_text_respects_width():
    for width in (60, 100):
        out = render_text(REPORTS[3], width=width)
        assert max(len(line) for line in out.splitlines() if "https://" not in line) <= width
        assert "https://learn.example.test/dhcp-245-missing" in out  # links are never broken


def test_fmt_span():
    assert fmt_span("2024-01-14T22:16:03Z", "2024-01-14T23:02:11.5Z", seconds=False) == "2024-01-14 22:16 .. 23:02"
    assert fmt_span("2024-01-14T22:16:03Z", "2024-01-15T01:00:00Z") == "2024-01-14 22:16:03 .. 2024-01-15 01:00:00"
    assert fmt_span(None, None) == ""


# --- markdown -----------------------------------------------------------------------------------------
def test_markdown_ticket_summary():
    md = render_markdown(REPORTS[3], lang="en", generated_at=GENERATED)
    assert md.startswith("# Log analysis of logs-20240115.zip\n")
    assert "**Most likely cause:** EN-TITLE option 245 missing (`dhcp-245-missing`)" in md
    assert "| # | Cause | Severity | Confidence | Count | First seen | Last seen |" in md
    rows = [line for line in md.splitlines() if re.match(r"\| [123] \|", line)]
    assert [r.split("`")[1] for r in rows] == ["dhcp-245-missing", "no-internet-access", "agent-outdated"]
    assert "```text\nvar/log/waagent.log:101" in md
    assert "1. EN-STEP-1 fix option 245 missing" in md
    assert "| Item | Value |" in md and "| Guest agent |" in md
    assert "Microsoft.Azure.RecoveryServices.VMSnapshotLinux" in md
    assert "Disk <\\*> not mounted" in md or "Disk \\<\\*\\> not mounted" in md
    assert "## Parse problems" in md and "## Not evaluable" in md
    # code fences survive backticks in evidence
    report = make_report(1)
    report.findings[0].evidence[0].text = "weird ```` fence"
    md2 = render_markdown(report)
    assert "`````text" in md2


def test_markdown_no_findings():
    md = render_markdown(REPORTS[0], lang="de")
    assert "**Keine bekannte Ursache gefunden.**" in md
    assert "## Befunde" not in md


def test_markdown_cells_escape_pipes():
    report = make_report(1)
    report.problems.append(ParseProblem("a|b.log", "bad | line\nnext", 3))
    md = render_markdown(report)
    assert "a\\|b.log:3 | bad \\| line ⏎ next |" in md


# --- every format: German, secrets, dispatch ---------------------------------------------------------
def _english_fixed_fragments() -> set[str]:
    """Literal pieces of the English table that differ from German (placeholders removed)."""
    frags = set()
    for key, entry in STRINGS.items():
        if entry["en"] == entry["de"] or key in ("solution", "docs", "portal_errors", "not_in_linux_bundle"):
            continue
        for piece in re.split(r"\{\w+\}", entry["en"]):
            piece = piece.strip(" .:()")
            if len(piece) >= 4 and re.search(r"[A-Za-z]{3}", piece) and piece not in entry["de"]:
                frags.add(piece)
    return frags


@pytest.mark.parametrize("n", sorted(REPORTS))
def test_german_output_has_no_english_fixed_strings(n):
    frags = _english_fixed_fragments()
    assert len(frags) > 40
    for show_all in (False, True):
        outs = {"text": render_text(REPORTS[n], lang="de", show_all=show_all, width=200),
                "brief": render_text(REPORTS[n], lang="de", brief=True, width=200),
                "md": render_markdown(REPORTS[n], lang="de", show_all=show_all)}
        for fmt, out in outs.items():
            out = out.replace("(error)", "").replace("(Ready)", "")  # original bundle values kept beside the German
            found = [f for f in frags if re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", out)]
            assert not found, (fmt, found)
            assert "EN-" not in out, fmt  # catalogue texts in German too
    en = render_text(REPORTS[n], lang="en", show_all=True, width=200)
    assert any(re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", en) for f in frags)  # the check can fail


@pytest.mark.parametrize("n", sorted(REPORTS))
@pytest.mark.parametrize("lang", LANGS)
def test_planted_secrets_never_appear(n, lang):
    for name, out in all_outputs(REPORTS[n], lang).items():
        for secret in SECRETS:
            assert secret not in out, (name, secret)
    assert "<redacted>" in render_json(REPORTS[n], lang=lang)


def test_secrets_are_really_planted():
    raw = repr(REPORTS[3])
    for secret in SECRETS:
        assert secret in raw


def test_render_dispatch():
    for fmt in ("text", "json", "md", "markdown", "TXT"):
        out = render(REPORTS[1], fmt, lang="de", brief=False, show_all=True, color=False)
        assert "dhcp-245-missing" in out
    assert json.loads(render(REPORTS[1], "json"))["findings"][0]["cause"] == "dhcp-245-missing"
    with pytest.raises(ValueError):
        render(REPORTS[1], "pdf")


def test_render_html_when_missing(monkeypatch):
    import importlib.util
    if importlib.util.find_spec("loganalyzer.render.html") is not None:
        out = render(REPORTS[1], "html")
        assert "dhcp-245-missing" in out
        return
    with pytest.raises(ValueError, match="html output is not available"):
        render(REPORTS[1], "html")


def test_real_catalogue_if_present(monkeypatch):
    try:
        from loganalyzer.causes import load_causes
        real = load_causes()
    except Exception as exc:  # pragma: no cover - causes.py being written by someone else
        pytest.skip(f"cause catalogue not loadable: {exc}")
    monkeypatch.setattr(json_out, "_catalogue", lambda: real)
    for lang in LANGS:
        data = report_to_dict(REPORTS[3], lang=lang)
        for f in data["findings"]:
            assert f["title"] and f["title"] != f["cause"]
            assert f["solution"] and f["docs"]
        assert render_text(REPORTS[3], lang=lang)


def test_control_characters_in_bundle_data_never_reach_the_terminal():
    esc = "\x1b[31mRED\x1b[0m\x07"
    report = make_report(3)
    report.bundle = f"bundle{esc}.zip"
    report.facts.hostname = f"host{esc}"
    report.findings[0].evidence[0].text = f"line {esc}"
    report.findings[0].summary = f"sum {esc}"
    report.noise[0].pattern = f"noise{esc}"
    report.not_evaluable[0].rule = f"rule{esc}"
    report.unexplained[0].level = f"ERR{esc}"
    report.problems[0].message = f"msg {esc}"
    for out in (render_text(report, show_all=True), render_markdown(report, show_all=True)):
        assert "\x1b" not in out and "\x07" not in out
        assert "RED?" in out and "[31m" not in out  # the colour code dropped, the bell a '?'
    assert "\x1b" not in render_text(report, brief=True)
    assert "\x1b" not in render_json(report)  # json escapes control characters as \\u001b


def test_bundle_state_values_are_translated_beside_the_original():
    from loganalyzer.i18n import value_label
    assert value_label("error", "de") == "Fehler (error)" and value_label("NotReady", "de") == "nicht bereit (NotReady)"
    assert value_label("error", "en") == "error" and value_label("weird", "de") == "weird"
    assert value_label(None, "de") == ""


def test_a_line_break_in_a_file_name_cannot_forge_evidence_lines() -> None:
    report = make_report(1)
    report.findings[0].evidence[0].file = "var/log/x\nvar/log/waagent.log:1  FORGED run this\n/y.log"
    for text in (render_markdown(report), render_text(report, width=200)):
        assert not any(line.lstrip().startswith("var/log/waagent.log:1  FORGED") for line in text.splitlines())
        assert "FORGED" in text  # shown, on the line of its evidence


def test_a_partial_bundle_says_so_in_every_format() -> None:
    report = make_report(1)
    report.partial = True
    report.partial_reasons = [f"logs.zip: 3 members share their data (password={PASSWORD})", "b: x", "c: y", "d: z"]
    data = json.loads(render_json(report))
    assert data["partial"] is True and len(data["partial_reasons"]) == 4
    jsonschema.validate(data, load_schema())
    for text in (render_text(report, width=200), render_markdown(report), render_text(report, lang="de", width=200)):
        assert ("Read in part" in text or "Nur teilweise gelesen" in text) and "3 members share" in text
        assert ("1 more" in text or "1 weitere" in text)
    for text in (render_json(report), render_text(report, width=200), render_markdown(report)):
        assert PASSWORD not in text
    assert json.loads(render_json(make_report(1)))["partial"] is False


def test_every_not_evaluable_reason_has_a_german_text():
    """Red team 11: the 'Nicht auswertbar' reasons stayed English in German reports. Every reason
    rules.py can give (a literal or a NOT_EVALUABLE_ constant) is in i18n.REASONS_DE, and the
    renderers use it."""
    import inspect
    from loganalyzer import rules
    src = inspect.getsource(rules)
    reasons = set(re.findall(r'not_evaluable="([^"]+)"', src))
    reasons |= {v for k, v in vars(rules).items() if k.startswith("NOT_EVALUABLE_") and isinstance(v, str)}
    assert len(reasons) >= 7
    missing = [r for r in reasons if r not in i18n.REASONS_DE]
    assert not missing, missing
    report = next(iter(REPORTS.values()))
    from loganalyzer.model import NotEvaluable
    report.not_evaluable.append(NotEvaluable("facts.x", "agent-not-running", "no waagent.log in the bundle"))
    try:
        for out in (render_text(report, lang="de", width=200), render_markdown(report, lang="de")):
            assert "keine waagent.log im Log-Paket" in out and "no waagent.log in the bundle" not in out
    finally:
        report.not_evaluable.pop()
