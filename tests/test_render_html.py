"""The self-contained HTML report: structure, escaping, redaction, no external resources, timeline,
and a real headless Chromium (Debian's /usr/bin/chromium via selenium and /usr/bin/chromedriver).

The browser tests skip only when /usr/bin/chromium is missing and the CI variable is not set;
in CI they fail instead (install with .ci/install-browser).
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lhtml

from loganalyzer.model import (
    Evidence, Facts, Finding, InputFile, LeaseFact, NoiseCount, NotEvaluable, ParseProblem,
    Report, Template,
)
from loganalyzer.render import render
from loganalyzer.render.html import CSS, JS, render_html

SECRET = "SECRETSIG"
NASTY = "<script>alert('x')</script> & \"quoted\" <b>bold</b>"
T0 = datetime(2024, 1, 14, 6, 0, tzinfo=timezone.utc)
CAUSES = ("no-internet-access", "extensions-disabled", "agent-crash-loop")
KINDS = ("waagent_log", "vmsnapshot_log", "syslog")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
GEN = datetime(2024, 1, 16, 8, 0, tzinfo=timezone.utc)


# --- building reports by hand ---------------------------------------------------------------------------
def _timeline(days: int = 2) -> list[dict]:
    out = []
    for h in range(days * 24):
        ts = T0 + timedelta(hours=h)
        for ki, kind in enumerate(KINDS):
            if kind == "vmsnapshot_log" and h % 6:
                continue  # a sparse lane
            out.append({"kind": kind, "level": "INFO", "bucket": ts.strftime("%Y-%m-%dT%H:00:00Z"),
                        "t": int(ts.timestamp()), "count": 20 + (h * 7 + ki * 13) % 200})
            if h % 5 == ki:
                out.append({"kind": kind, "level": "WARNING", "bucket": ts.strftime("%Y-%m-%dT%H:00:00Z"),
                            "t": int(ts.timestamp()), "count": 1 + h % 4})
            if 20 <= h <= 30 and kind == "waagent_log":
                out.append({"kind": kind, "level": "ERROR", "bucket": ts.strftime("%Y-%m-%dT%H:00:00Z"),
                            "t": int(ts.timestamp()), "count": h - 18})
    return out


def _finding(i: int, cause: str) -> Finding:
    first = T0 + timedelta(hours=20 + i * 3)
    evidence = [
        Evidence(file="var/log/waagent.log", line=1000 + i * 10 + k,
                 text=(f"2024-01-14T{20 + i}:00:0{k}Z ERROR ExtHandler Failed to upload status to "
                       f"https://acct.blob.core.windows.net/c/s.status?sv=2018&sr=b&sig={SECRET}%3D "
                       f"marker-{i}-{k} {NASTY}"),
                 ts=first + timedelta(minutes=k))
        for k in range(3)
    ]
    evidence.append(Evidence(file="var/log/syslog", line=7, text=f"plain sig={SECRET} line marker-{i}-x"))
    return Finding(cause=cause, severity=("error", "critical", "warning")[i % 3], confidence=0.9 - i * 0.2,
                   count=12 - i, first_seen=first, last_seen=first + timedelta(hours=4 + i),
                   evidence=evidence, patterns=["p.one"], rule=f"rule-{cause}",
                   summary=f"seen {NASTY} sig={SECRET}", partial=(i == 1),
                   explained_by=("no-internet-access" if i == 2 else None))


def make_report(n_findings: int = 3, days: int = 2) -> Report:
    facts = Facts(agent_daemon_version="2.2.46", agent_goal_state_version="2.9.1.1", agent_status="Ready",
                  os_name="Ubuntu", os_version="22.04", hostname="vm-1", python_version="3.10.12",
                  collection_time=T0 + timedelta(days=days, minutes=-30), collection_time_source="results.txt",
                  endpoint="168.63.129.16", endpoint_source="leases",
                  leases=[LeaseFact(source="var/lib/dhcp/dhclient.eth0.leases", has_245=True)],
                  first_seen=T0, last_seen=T0 + timedelta(days=days))
    ext = facts.extension("Microsoft.Azure.RecoveryServices.VMSnapshotLinux")
    ext.version, ext.state, ext.status, ext.code = "1.0.9225.0", "enabled", "error", "76"
    ext.ext_error_code, ext.handler_state, ext.handler_status = "761", "Enabled", "Ready"
    ext.message = f"Network error {NASTY} sig={SECRET}"
    ok = facts.extension("Microsoft.Azure.Extensions.CustomScript")
    ok.version, ok.state, ok.status, ok.code = "2.1.10", "enabled", "success", "0"
    return Report(
        bundle="bundle-<1>&.zip",
        findings=[_finding(i, CAUSES[i]) for i in range(n_findings)],
        facts=facts,
        inputs=[InputFile(path="var/log/waagent.log", kind="waagent_log", size=123456, records=5000),
                InputFile(path="var/log/syslog", kind="syslog", size=99, records=3, truncated=True),
                InputFile(path="var/log/odd.bin", kind=None, status="unknown")],
        problems=[ParseProblem(source="var/log/syslog", line=3, message=f"bad line {NASTY} sig={SECRET}")],
        noise=[NoiseCount(pattern="benign.cgroup", count=42, first_seen=T0, last_seen=T0 + timedelta(hours=5),
                          example=Evidence(file="var/log/waagent.log", line=5, text=f"noise sig={SECRET}"))],
        unexplained=[Template(template="Something <*> failed", count=3, level="ERROR",
                              example=Evidence(file="var/log/waagent.log", line=77,
                                               text=f"Something {NASTY} failed sig={SECRET}"),
                              first_seen=T0, last_seen=T0 + timedelta(hours=1))],
        not_evaluable=[NotEvaluable(rule="dhcp-245", cause="dhcp-245-missing", reason="no lease files <none>")],
        timeline=_timeline(days),
        tool_version="0.1.0", patterns_version="test",
    )


def page(report: Report, **kw) -> str:
    return render_html(report, generated_at=GEN, **kw)


def tree(text: str):
    return lhtml.document_fromstring(text)


# --- structure ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 3])
def test_findings_rendered_in_order(n):
    text = page(make_report(n))
    doc = tree(text)
    arts = doc.xpath("//article[contains(@class,'finding')]")
    assert len(arts) == n
    codes = [a.xpath(".//h3/code")[0].text_content() for a in arts]
    assert codes == list(CAUSES[:n])
    if n == 0:
        assert "No known cause found" in doc.xpath("//section[contains(@class,'answer')]")[0].text_content()
    else:
        answer = doc.xpath("//section[contains(@class,'answer')]")[0]
        assert CAUSES[0] in answer.text_content()
        assert answer.xpath(".//a/@href") == ["#finding-1"]


def test_finding_has_badge_meta_steps_docs_and_collapsible_evidence():
    doc = tree(page(make_report(1)))
    art = doc.get_element_by_id("finding-1")
    assert "sev-error" in art.get("class")
    assert art.xpath(".//span[contains(@class,'badge')]")[0].text_content().lower() == "error"
    meta = art.xpath(".//ul[@class='meta']")[0].text_content()
    assert "0.90" in meta and "12" in meta
    assert art.xpath(".//time/@datetime") == ["2024-01-15T02:00:00Z", "2024-01-15T06:00:00Z"]
    assert "2024-01-15 02:00:00" in meta
    steps = art.xpath(".//ol[@class='steps']/li")
    assert len(steps) >= 2
    assert all(h.startswith("https://") for h in art.xpath(".//ul[@class='docs']//a/@href"))
    det = art.xpath(".//details[@class='evidence']")
    assert len(det) == 1 and det[0].get("open") is None
    wheres = det[0].xpath(".//span[@class='where']/text()")
    assert wheres[:2] == ["var/log/waagent.log:1000", "var/log/waagent.log:1001"]
    assert "var/log/syslog:7" in wheres
    pres = det[0].xpath(".//pre")
    assert len(pres) == 4 and "marker-0-1" in pres[1].text_content()
    # the catalogue title (not just the ID) is shown
    title = art.xpath(".//span[@class='title']")[0].text_content()
    assert title and title != CAUSES[0]


def test_header_facts_extensions_inputs():
    doc = tree(page(make_report(1)))
    ov = doc.get_element_by_id("overview").text_content()
    for needle in ("bundle-<1>&.zip", "2.2.46", "2.9.1.1", "Ubuntu 22.04", "2024-01-16 05:30:00",
                   "Microsoft.Azure.RecoveryServices.VMSnapshotLinux", "1.0.9225.0", "761", "76",
                   "1 truncated", "var/log/odd.bin"):
        assert needle in ov, needle
    ext_rows = doc.xpath("//table[@class='extensions']/tbody/tr")
    assert len(ext_rows) == 2


def test_other_sections_present():
    doc = tree(page(make_report(3)))
    for sid in ("timeline", "unexplained", "noise", "problems", "not-evaluable"):
        assert doc.get_element_by_id(sid) is not None
    assert doc.xpath("//section[@id='noise']//table/tbody/tr/td[2]/text()") == ["42"]
    assert "no lease files <none>" in doc.get_element_by_id("not-evaluable").text_content()
    assert "Something <*> failed" in doc.get_element_by_id("unexplained").text_content()
    # nav links point to existing sections only
    for href in doc.xpath("//nav//a/@href"):
        assert doc.get_element_by_id(href[1:]) is not None


def test_empty_sections_left_out():
    r = make_report(0)
    r.noise, r.problems, r.unexplained, r.not_evaluable, r.timeline = [], [], [], [], []
    doc = tree(page(r))
    for sid in ("unexplained", "noise", "problems", "not-evaluable"):
        assert not doc.xpath(f"//*[@id='{sid}']")
    assert "No time-stamped records" in doc.get_element_by_id("timeline").text_content()
    assert not doc.xpath("//svg[@role='img']")


def test_show_all_lists_noise_examples_and_all_evidence():
    r = make_report(1)
    r.findings[0].evidence *= 30  # 120 lines
    short, full = tree(page(r)), tree(page(r, show_all=True))
    assert len(short.xpath("//article//details//li")) == 50
    assert len(full.xpath("//article//details//li")) == 120
    assert "noise sig=" not in short.get_element_by_id("noise").text_content()
    assert "noise sig=<redacted>" in full.get_element_by_id("noise").text_content()


def test_german():
    text = page(make_report(1), lang="de")
    doc = tree(text)
    assert doc.get("lang") == "de"
    assert doc.get_element_by_id("h-findings").text_content().startswith("Befunde")
    assert "Zeitverlauf" in text and "Wahrscheinlichste Ursache" in text
    assert "0,90" in doc.get_element_by_id("finding-1").text_content()
    en_title = tree(page(make_report(1))).xpath("//article//span[@class='title']")[0].text_content()
    de_title = doc.xpath("//article//span[@class='title']")[0].text_content()
    assert de_title and de_title != en_title


def test_dispatcher_renders_html():
    assert render(make_report(1), "html", generated_at=GEN).startswith("<!DOCTYPE html>")


# --- safety: secrets, escaping, self-contained ---------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "de"])
@pytest.mark.parametrize("show_all", [False, True])
def test_secret_never_in_output(lang, show_all):
    r = make_report(3)
    r.bundle = f"bundle?sv=1&sig={SECRET}"
    text = page(r, lang=lang, show_all=show_all)
    assert SECRET not in text
    assert "&lt;redacted&gt;" in text


def test_html_special_characters_escaped():
    text = page(make_report(3), show_all=True)
    assert NASTY not in text
    assert "<script>alert" not in text and "<b>bold</b>" not in text
    doc = tree(text)
    assert len(doc.xpath("//script")) == 1
    assert not doc.xpath("//b[text()='bold']")
    pre = doc.get_element_by_id("finding-1").xpath(".//pre")[0].text_content()
    assert NASTY in pre  # shown literally
    assert doc.xpath("//h1")[0].text_content() == "Log analysis of bundle-<1>&.zip"


def test_no_external_resources():
    text = page(make_report(3), show_all=True)
    doc = tree(text)
    assert not doc.xpath("//script[@src]")
    assert not doc.xpath("//link[@href][not(starts-with(@href,'data:'))]")
    assert not doc.xpath("//img | //iframe | //object | //embed | //video | //audio | //source")
    assert not doc.xpath("//*[@src]")
    for style in doc.xpath("//style/text()") + doc.xpath("//@style"):
        assert "url(" not in style and "@import" not in style
    # every href is an in-page anchor or a documentation link (navigation, never fetched)
    for href in doc.xpath("//@href"):
        assert href.startswith(("#", "https://", "http://", "data:")), href
    for el in doc.xpath("//*[local-name()='use' or local-name()='image']"):
        pytest.fail(f"external SVG reference {el.tag}")


def test_content_security_policy_allows_only_the_inline_blocks():
    doc = tree(page(make_report(1)))
    csp = doc.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp

    def sha(s: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()

    assert doc.xpath("//style/text()")[0] == CSS and sha(CSS) in csp
    assert doc.xpath("//script/text()")[0] == JS and sha(JS) in csp


def test_well_formed_xml():
    text = page(make_report(3), show_all=True)
    root = etree.fromstring(text.encode("utf-8"))  # raises when not well-formed
    assert root.tag.endswith("html")


# --- timeline -------------------------------------------------------------------------------------------
def _svg(doc):
    svgs = doc.xpath("//section[@id='timeline']//*[local-name()='svg']")
    assert len(svgs) == 1
    return svgs[0]


def test_timeline_lanes_levels_and_marks():
    r = make_report(3)
    doc = tree(page(r))
    svg = _svg(doc)
    lanes = svg.xpath(".//*[local-name()='g'][@class='lane']")
    assert [g.get("data-kind") for g in lanes] == ["waagent_log", "vmsnapshot_log", "syslog"]
    bars = svg.xpath(".//*[local-name()='rect'][contains(@class,'ev')]")
    levels = {re.search(r"l-(\w+)", b.get("class")).group(1) for b in bars}
    assert levels == {"INFO", "WARNING", "ERROR"}
    # one bar per (kind, level, hour) over the two days
    assert len(bars) == len({(e["kind"], e["level"], e["t"]) for e in r.timeline})
    errs = [b for b in bars if "l-ERROR" in b.get("class")]
    assert len(errs) == 11 and all(b.get("fill") == "#c0392b" for b in errs)
    # every bar lies inside the plot, ordered in time
    xs = [float(b.get("x")) for b in lanes[0].xpath(".//*[local-name()='rect'][contains(@class,'l-INFO')]")]
    assert xs == sorted(xs) and xs[0] >= 190 and xs[-1] < 1000
    # bars carry a tooltip with the count
    assert "record" in bars[0].xpath("./*[local-name()='title']")[0].text
    marks = svg.xpath(".//*[local-name()='g'][contains(@class,'mark')]")
    assert [m.get("data-finding") for m in marks] == ["1", "2", "3"]
    for m, f in zip(marks, r.findings):
        first = float(m.xpath(".//*[local-name()='circle'][@class='first']")[0].get("cx"))
        last = float(m.xpath(".//*[local-name()='circle'][@class='last']")[0].get("cx"))
        assert first < last
    # finding 1 starts at hour 20 of 48: about 20/48 into the plot
    first1 = float(marks[0].xpath(".//*[local-name()='circle'][@class='first']")[0].get("cx"))
    assert abs((first1 - 190) / (1000 - 190 - 14) - 20 / 48) < 0.02
    # tick labels cover both days; legend names the levels and the markers
    ticks = " ".join(svg.xpath(".//*[local-name()='g'][@class='ticks']//text()"))
    assert "01-14" in ticks and "01-15" in ticks
    legend = doc.xpath("//ul[@class='legend']")[0].text_content()
    for word in ("ERROR", "WARNING", "INFO", "first"):
        assert word in legend


def test_timeline_long_span_is_binned():
    r = make_report(1, days=60)
    doc = tree(page(r))
    bars = _svg(doc).xpath(".//*[local-name()='rect'][contains(@class,'ev')]")
    assert 0 < len(bars) < len(r.timeline)
    assert len({b.get("x") for b in bars}) <= 400  # never more bars per lane than MAX_BINS
    assert "4 hour" in doc.xpath("//figure[@class='timeline']/figcaption")[0].text_content()


def test_timeline_years_get_calendar_ticks():
    r = make_report(1)
    r.timeline = [{"kind": "waagent_log", "level": "INFO", "t": int(datetime(y, 3, 5, tzinfo=timezone.utc).timestamp()),
                   "count": 3} for y in range(2016, 2025)]
    doc = tree(page(r))
    labels = _svg(doc).xpath(".//*[local-name()='g'][@class='ticks']/*")
    texts = [el.text for el in labels]
    assert texts and all(re.fullmatch(r"20\d\d", x) for x in texts), texts
    xs = [float(el.get("x")) for el in labels]
    assert all(b - a > 60 for a, b in zip(xs, xs[1:]))  # labels never overlap
    assert "day(s)" in doc.xpath("//figure[@class='timeline']/figcaption")[0].text_content()


def test_timeline_tolerates_junk_entries():
    r = make_report(1)
    r.timeline = [{"kind": "<x>", "level": None, "t": "nope", "count": 3}, {"count": "x"}, "junk", None,
                  {"kind": "syslog", "level": "weird", "bucket": "2024-01-14T06:00:00Z", "count": 5},
                  {"kind": "syslog", "level": "INFO", "t": float("nan"), "count": 1},
                  {"kind": "syslog", "level": "ERROR", "t": 1705212000, "count": True}]
    doc = tree(page(r))
    bars = _svg(doc).xpath(".//*[local-name()='rect'][contains(@class,'ev')]")
    assert [b.get("class") for b in bars] == ["ev l-OTHER"]


def test_timeline_from_findings_only():
    r = make_report(2)
    r.timeline = []
    svg = _svg(tree(page(r)))
    assert len(svg.xpath(".//*[local-name()='g'][contains(@class,'mark')]")) == 2


# --- hostile content ------------------------------------------------------------------------------------
def test_control_characters_surrogates_and_huge_lines():
    r = make_report(1)
    r.findings[0].evidence.append(Evidence(file="a\x00b\udc80.log", line=1,
                                           text="x\x01\x1b[31m\udcff\ufffe" + "A " * 100_000))
    r.facts.hostname = "host\x07\x0b"
    text = page(r)
    text.encode("utf-8")  # no lone surrogates
    etree.fromstring(text.encode("utf-8"))
    assert "\x1b" not in text and "\x00" not in text
    assert len(text) < 400_000


_text = st.text(st.characters(blacklist_categories=()), max_size=200)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=_text, file=_text, bundle=_text, template=_text, kind=_text)
def test_any_text_renders_to_safe_wellformed_html(msg, file, bundle, template, kind):
    r = make_report(1)
    r.bundle = bundle
    r.findings[0].evidence = [Evidence(file=file, line=3, text=msg)]
    r.findings[0].summary = msg
    r.unexplained[0].template = template
    r.problems[0].message = msg
    r.timeline.append({"kind": kind, "level": msg, "t": 1705212000, "count": 2})
    text = page(r, show_all=True)
    root = etree.fromstring(text.encode("utf-8"))
    assert len(root.xpath("//*[local-name()='script']")) == 1
    assert not root.xpath("//*[@src]")


# --- real browser ---------------------------------------------------------------------------------------
def test_browser_tests_skip_only_outside_ci(monkeypatch, tmp_path):
    me = sys.modules[__name__]
    monkeypatch.setattr(me, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        me._browser_needed()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        me._browser_needed()


def _browser_needed() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing in CI: run .ci/install-browser")
        pytest.skip("/usr/bin/chromium not installed (bash .ci/install-browser)")
    if not CHROMEDRIVER.exists():
        pytest.fail("/usr/bin/chromedriver is missing: run .ci/install-browser")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _browser_needed()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: run .ci/install-browser")
    profile = tmp_path_factory.mktemp("chromium-profile")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1800", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver, tmp_path: Path, report: Report, name: str, **kw) -> Path:
    path = tmp_path / name
    path.write_text(page(report, **kw), encoding="utf-8")
    driver.get(path.resolve().as_uri())
    return path


def _severe(driver) -> list:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_browser_loads_without_errors_and_shows_titles(browser, tmp_path):
    from selenium.webdriver.common.by import By

    _open(browser, tmp_path, make_report(3), "report.html")
    assert _severe(browser) == []
    assert browser.execute_script("return document.documentElement.getAttribute('data-js')") == "ready"
    titles = browser.find_elements(By.CSS_SELECTOR, "article.finding h3 .title")
    assert len(titles) == 3
    for el in titles:
        assert el.is_displayed() and el.text.strip()
    svg = browser.find_element(By.CSS_SELECTOR, "figure.timeline svg")
    assert svg.is_displayed() and svg.size["width"] > 600 and svg.size["height"] > 100
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_browser_evidence_opens_on_click(browser, tmp_path):
    from selenium.webdriver.common.by import By

    _open(browser, tmp_path, make_report(2), "click.html")
    art = browser.find_element(By.ID, "finding-1")
    pre = art.find_element(By.CSS_SELECTOR, "details.evidence pre")
    assert not pre.is_displayed()
    summary = art.find_element(By.CSS_SELECTOR, "details.evidence summary")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    assert pre.is_displayed()
    assert "marker-0-0" in pre.text and "<script>alert('x')</script>" in pre.text
    assert SECRET not in browser.page_source
    # the toolbar (shown by the inline script) opens every <details>
    browser.find_element(By.ID, "expand-all").click()
    closed = browser.execute_script("return document.querySelectorAll('details:not([open])').length")
    assert closed == 0
    browser.save_screenshot(str(tmp_path / "opened.png"))
    assert _severe(browser) == []


def test_browser_german_and_empty_report(browser, tmp_path):
    from selenium.webdriver.common.by import By

    _open(browser, tmp_path, make_report(1), "de.html", lang="de")
    assert _severe(browser) == []
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Log-Analyse")
    empty = Report(bundle="empty")
    _open(browser, tmp_path, empty, "empty.html")
    assert _severe(browser) == []
    assert "No known cause found" in browser.find_element(By.CSS_SELECTOR, "section.answer").text
