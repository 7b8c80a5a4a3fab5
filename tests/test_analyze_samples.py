"""End to end on the project's own samples: the expected cause comes first, healthy stays quiet."""
from __future__ import annotations

import csv

import pytest

import loganalyzer
from loganalyzer.model import severity_rank

from conftest import SAMPLES


def expected():
    with open(SAMPLES / "EXPECTED.tsv", newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if r and not r[0].startswith("#")]
    return [(r[0], r[1] if len(r) > 1 else "", r[2] if len(r) > 2 else "") for r in rows]


@pytest.mark.parametrize("name,cause,others", expected(), ids=lambda v: v if isinstance(v, str) else None)
def test_sample_names_its_cause(name, cause, others):
    report = loganalyzer.analyze(SAMPLES / name)
    alarms = [f for f in report.findings if severity_rank(f.severity) >= severity_rank("warning")]
    if not cause:
        assert alarms == [], [(f.cause, f.severity, f.summary) for f in alarms]
        return
    assert report.findings, "no finding"
    top = report.findings[0]
    assert top.cause == cause, [(f.cause, f.confidence) for f in report.findings]
    assert top.evidence and all(e.file and e.text for e in top.evidence)
    assert top.first_seen is None or top.last_seen is None or top.first_seen <= top.last_seen
    assert 0 < top.confidence <= 1
    assert report.facts.collection_time is not None
    # nothing else is an error or worse: a probable consequence shows at most a warning (red team 12:
    # Extensions.Enabled=n also raised a critical extension-load-failure)
    ok = {cause, *filter(None, others.split(","))}
    loud = [(f.cause, f.severity) for f in report.findings
            if f.cause not in ok and severity_rank(f.severity) >= severity_rank("error")]
    assert loud == []


@pytest.mark.parametrize("archive,cause", [("no-internet-access.zip", "no-internet-access"),
                                           ("agent-crash-loop.tar.gz", "agent-crash-loop")])
def test_archived_samples_give_the_same_answer_as_folders(archive, cause):
    packed = loganalyzer.analyze(SAMPLES / archive)
    folder = loganalyzer.analyze(SAMPLES / cause)
    assert packed.findings[0].cause == cause
    assert [f.cause for f in packed.findings] == [f.cause for f in folder.findings]
    assert [f.count for f in packed.findings] == [f.count for f in folder.findings]


def test_facts_of_the_backup_extension_sample():
    report = loganalyzer.analyze(SAMPLES / "no-internet-access")
    ext = [e for n, e in report.facts.extensions.items() if "VMSnapshotLinux" in n]
    assert ext and ext[0].version and ext[0].code == "76"
    assert report.facts.agent_goal_state_version or report.facts.agent_daemon_version


def test_evidence_points_at_real_lines():
    report = loganalyzer.analyze(SAMPLES / "agent-crash-loop")
    for ev in report.findings[0].evidence:
        if ev.line is None:
            continue
        path = SAMPLES / "agent-crash-loop" / ev.file
        if path.suffix == ".gz":
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        assert lines[ev.line - 1].startswith(ev.text[:40])


def test_secrets_in_samples_never_reach_a_report():
    from loganalyzer.render import render
    report = loganalyzer.analyze(SAMPLES / "healthy")
    for fmt in ("json", "text", "md"):
        out = render(report, fmt, lang="en", show_all=True)
        assert "FAKESIGNATURE" not in out and "FAKE==" not in out


@pytest.mark.parametrize("name", ["extensions-disabled", "agent-outdated", "dhcp-245-missing", "no-internet-access",
                                  "snapshot-fsfreeze-failed", "extension-load-failure"])
def test_german_report_has_german_summaries(name):
    import json
    from loganalyzer.render import render
    doc = json.loads(render(loganalyzer.analyze(SAMPLES / name), "json", lang="de"))
    for f in doc["findings"]:
        for english in ("matching line", " reports code ", "waagent.conf sets", " handler is ", "lease(s) without",
                        "is below the supported minimum", "the log ends"):
            assert english not in f["summary"], f["summary"]


@pytest.mark.parametrize("name", [r[0] for r in expected()] + ["no-internet-access.zip", "agent-crash-loop.tar.gz"])
def test_every_format_on_every_sample(name):
    import json
    from pathlib import Path

    import jsonschema

    from loganalyzer.render import render
    schema = json.loads((Path(loganalyzer.__file__).parent / "schema" / "report.schema.json").read_text())
    report = loganalyzer.analyze(SAMPLES / name)
    for lang in ("en", "de"):
        doc = json.loads(render(report, "json", lang=lang, show_all=True))
        jsonschema.validate(doc, schema)
        assert doc["lang"] == lang and doc["findings"] == sorted(
            doc["findings"], key=lambda f: -f["confidence"])
        for fmt in ("text", "md", "html"):
            out = render(report, fmt, lang=lang)
            assert out and (not report.findings or report.findings[0].cause in out)


def test_old_extension_lines_do_not_make_the_agent_legacy(tmp_path):
    """E0-format lines written by old extensions through the waagent 2.0 module are not a 2.0 agent."""
    ext = tmp_path / "ext.log"
    ext.write_text("2019/10/07 21:56:58 VMAccess started to handle.\n"
                   "2018/09/26 08:52:28 [Microsoft.Azure.Diagnostics.LinuxDiagnostic-3.0.115] Change log file to "
                   "/var/log/azure/x/extension.log\n")
    assert "agent-outdated" not in [f.cause for f in loganalyzer.analyze(ext).findings]
    legacy = tmp_path / "legacy.log"
    legacy.write_text("2015/09/20 14:00:52 ERROR:HTTP Err: response is empty.\n"
                      "2015/09/20 14:00:53 Finished processing ExtensionsConfig.xml\n"
                      "2015/09/20 14:00:54 ERROR:Retry=1\n")
    assert "agent-outdated" in [f.cause for f in loganalyzer.analyze(legacy).findings]


def test_goal_state_timeouts_are_an_unreachable_wireserver_not_an_http_error(tmp_path):
    log = tmp_path / "waagent.log"
    log.write_text("2022-12-02T05:45:51.771876Z ERROR ExtHandler ExtHandler Error fetching the goal state: "
                   "[ProtocolError] [Wireserver Exception] [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/"
                   " -- IOError [Errno 104] Connection reset by peer -- 6 attempts made\n")
    causes = [f.cause for f in loganalyzer.analyze(log).findings]
    assert causes[0] == "wireserver-unreachable" and "goal-state-http-error" not in causes
    log.write_text("".join(f"2022-12-02T05:{m:02d}:51.771876Z ERROR ExtHandler ExtHandler Error fetching the goal "
                           "state: [ProtocolError] [ResourceGoneError] [HTTP Failed] [410: Gone] b'<Error/>'\n"
                           for m in range(10)))
    assert loganalyzer.analyze(log).findings[0].cause == "goal-state-http-error"


def test_report_says_when_the_bundle_was_read_in_part(tmp_path) -> None:
    """Members refused by the ingest step (overlapping entries of a zip bomb) make the report
    partial, with the reason; a whole sample is not partial."""
    try:
        from .hostile_archives import WAAGENT, overlapping_zip
    except ImportError:
        from hostile_archives import WAAGENT, overlapping_zip
    z = overlapping_zip(tmp_path / "zbsm.zip", "var/log/waagent.log", WAAGENT * 100, copies=5)
    report = loganalyzer.analyze(z)
    assert report.partial and any("overlapping" in r for r in report.partial_reasons)
    assert not loganalyzer.analyze(SAMPLES / "healthy").partial



def test_a_log_the_collector_added_but_the_bundle_lacks_is_said(tmp_path):
    """Red team 10/13: results.txt said 'Adding file /var/log/waagent.log.3.gz' but the zip held no such
    file, and nothing said so. Now the bundle is partial and the file is named (once, however often
    it is listed: red team 16); a sample whose
    results.txt matches its files (history zips are expanded, not members) stays whole."""
    import shutil
    shutil.copytree(SAMPLES / "no-internet-access", tmp_path / "b")
    res = tmp_path / "b/results.txt"
    lines = res.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "Adding file /var/log/waagent.log," in line)
    lines.insert(at + 1, lines[at].replace("/var/log/waagent.log,", "/var/log/waagent.log.3.gz,"))
    lines.insert(at + 1, lines[at].replace("/var/log/waagent.log,", "/var/lib/waagent/history/x.zip,"))
    lines.insert(at + 1, lines[at].replace("/var/log/waagent.log,", "/var/log//azure/../waagent.log,"))  # same file
    lines.insert(at + 1, lines[at].replace("/var/log/waagent.log,", "/var/log/./waagent.log.3.gz,"))  # listed twice
    res.write_text("\n".join(lines) + "\n")
    r = loganalyzer.analyze(tmp_path / "b")
    assert r.partial
    said = [p.message for p in r.problems if "not in the bundle" in p.message]
    assert said == ["1 log file(s) the log collector added are not in the bundle: /var/log/waagent.log.3.gz"]
    assert r.findings[0].cause == "no-internet-access"
    for name in ("healthy", "agent-crash-loop", "no-internet-access.zip"):
        assert not loganalyzer.analyze(SAMPLES / name).partial, name



def test_a_log_the_bundle_holds_but_refused_is_not_called_absent(tmp_path):
    """Red team 17: a waagent.log refused as a zip bomb was also called 'not in the bundle' (results.txt
    lists it): it is named once, as refused."""
    import zipfile
    src = SAMPLES / "no-internet-access"
    z = tmp_path / "b.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as out:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                rel = f.relative_to(src).as_posix()
                out.writestr(rel, b"\0" * (32 << 20) if rel == "var/log/waagent.log" else f.read_bytes())
    r = loganalyzer.analyze(z)
    said = [p.message for p in r.problems]
    assert r.partial and any(m.startswith("refusing var/log/waagent.log: compression ratio") for m in said)
    assert not [m for m in said if "not in the bundle" in m]


def test_an_archive_under_a_log_name_is_said(tmp_path):
    """Red team 17: a logs.zip saved as waagent.log.1 was only 'binary data' and the report whole; a
    tar under a log's name is read as text (its files' lines are), and said."""
    import io
    import shutil
    import tarfile
    import zipfile
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "healthy", b)
    log = next(b.rglob("waagent.log"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("var/log/waagent.log", log.read_bytes())
    (log.parent / "waagent.log.1").write_bytes(buf.getvalue())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("var/log/waagent.log")
        info.size = len(log.read_bytes())
        t.addfile(info, io.BytesIO(log.read_bytes()))
    (log.parent / "waagent.log.2").write_bytes(buf.getvalue())
    r = loganalyzer.analyze(b)
    said = {p.source.rsplit("/", 1)[-1]: p.message for p in r.problems if "archive under a log's name" in p.message}
    assert said["waagent.log.1"].startswith("a zip archive") and said["waagent.log.2"].startswith("a tar archive")
    assert r.partial and any("waagent.log.1" in x for x in r.partial_reasons)

def test_a_flood_of_extension_names_is_capped_and_said(tmp_path):
    """An ExtensionsConfig naming 1,000 handlers (broken or crafted) listed them all (5 MB of JSON):
    the facts keep MAX_EXTENSIONS, the ones the bundle says most about first, and a problem gives
    the number left out; the cause of the sample stays what it was."""
    import shutil

    from loganalyzer import analyzer
    base = SAMPLES / "snapshot-fsfreeze-failed"
    want = next(c for n, c, _ in expected() if n == base.name)
    shutil.copytree(base, tmp_path / "b")
    cfg = next((tmp_path / "b").rglob("*__62/ExtensionsConfig.xml"))
    junk = "".join(f'<Plugin name="Junk.Handler{i}" version="1.0" state="enabled" />' for i in range(1000))
    # read before every file that names the backup extension: the first 200 names seen are junk
    (tmp_path / "b/var/lib/waagent/ExtensionsConfig.1.xml").write_text(
        cfg.read_text().replace("<Plugins>", "<Plugins>" + junk, 1))
    r = loganalyzer.analyze(tmp_path / "b")
    assert len(r.facts.extensions) == analyzer.MAX_EXTENSIONS
    assert "Microsoft.Azure.RecoveryServices.VMSnapshotLinux" in r.facts.extensions
    assert r.findings[0].cause == want
    said = [p for p in r.problems if "more extensions named" in p.message]
    assert len(said) == 1 and said[0].message.startswith(f"{1001 - analyzer.MAX_EXTENSIONS} more")
    assert said[0].source == "var/lib/waagent/ExtensionsConfig.1.xml"


def test_facts_hold_no_secret_for_any_consumer(tmp_path):
    """A secret inside a fact (an extension name from a goal state, os-release NAME, the proxy of
    waagent.conf) was masked by the four renderers only: batch tables, report.frames and
    repr(report) showed it (red team 9). Facts are scrubbed once, before anything reads them."""
    import shutil
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "no-internet-access", b)
    cfg = next(b.rglob("ExtensionsConfig.xml"))
    cfg.write_text(cfg.read_text().replace("<Plugins>", '<Plugins><Plugin name="Ext.sig=LEAKF1" version="1.0" '
                                           'state="enabled" />', 1))
    (b / "etc/os-release").write_text('NAME="Ubuntu password=LEAKF2"\nVERSION_ID="22.04"\n')
    conf = b / "etc/waagent.conf"
    conf.write_text(conf.read_text() + "\nHttpProxy.Host=svc:LEAKF3@proxy.example\n")
    r = loganalyzer.analyze(b)
    assert "Ext.sig=<redacted>" in r.facts.extensions
    seen = repr(r) + repr(r.facts.to_dict())
    frames = r.frames() if callable(getattr(r, "frames", None)) else r.frames
    for name in ("facts", "extensions"):
        seen += getattr(frames, name).to_csv()
    assert "LEAKF" not in seen


def test_a_collection_time_in_the_future_is_not_used(tmp_path):
    """results.txt stamped 9999 made the agent 'silent for 69,908,583 h' (a critical finding): a
    collection time in the future gives way to the newest record's time."""
    import re
    import shutil
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "no-internet-access", b)
    res = b / "results.txt"
    res.write_text(re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "9999-12-31T23:59:59", res.read_text()))
    r = loganalyzer.analyze(b)
    assert r.facts.collection_time_source == "newest log record" and r.facts.collection_time.year == 2024
    assert any("is in the future" in p.message for p in r.problems)
    assert r.findings[0].cause == "no-internet-access"
    assert "agent-not-running" not in [f.cause for f in r.findings]
    assert "(no usable results.txt)" in " ".join(n.reason for n in r.not_evaluable)


def _silent_agent(root, lines: list[str], collected: str = "2024-07-01T20:00:00Z"):
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_text("\n".join(lines) + "\n")
    (root / "results.txt").write_text(f"{collected} INFO Starting log collection at {collected}\n")
    return loganalyzer.analyze(root)


def _beats(hours, minute=0, zulu=True):
    if zulu:
        return [f"2024-07-01T{h:02d}:{minute:02d}:00.000000Z INFO ExtHandler ExtHandler [HEARTBEAT] Agent "
                f"WALinuxAgent-2.11.1.12 is running as the goal state agent" for h in hours]
    return [f"2024/07/01 {h:02d}:{minute:02d}:00.000000 INFO Daemon Daemon Agent WALinuxAgent-2.2.45 running"
            for h in hours]


@pytest.mark.parametrize("odd", ["9999-12-31T23:59:59.999999Z INFO ExtHandler ExtHandler garbled",
                                 "2024-07-04T18:55:00.000000Z INFO ExtHandler ExtHandler clock 3 days ahead"])
def test_one_line_dated_after_results_txt_does_not_replace_it(tmp_path, odd):
    """Red team 11: one garbled line dated 9999, or a clock that ran days ahead and was set back,
    became the collection time, and the agent's 10.5 h of silence was 'not evaluable (no
    results.txt)'. results.txt stays; a problem says records are dated after it."""
    r = _silent_agent(tmp_path, _beats([7, 8]) + [odd] + _beats([9], 30))
    assert r.facts.collection_time_source == "results.txt" and r.facts.collection_time.day == 1
    silent = [f for f in r.findings if f.cause == "agent-not-running"]
    assert silent and "10.5 h" in silent[0].summary
    assert any("dated after the collection time" in p.message for p in r.problems)


def test_a_clock_set_back_does_not_hide_the_agents_silence(tmp_path):
    """Red team 11: the clock ran 10 h ahead (18:00 - 18:55), NTP set it back, the agent's last line
    is 08:05, results.txt 20:00: 11.9 h of silence. The largest time (18:55) gave 1.1 h and no
    finding; the agent's last record in file order counts."""
    ahead = [f"2024-07-01T18:{m:02d}:00.000000Z INFO ExtHandler ExtHandler ahead" for m in range(0, 56, 5)]
    r = _silent_agent(tmp_path, ahead + ["2024-07-01T08:05:00.000000Z INFO ExtHandler ExtHandler after the fix"])
    silent = [f for f in r.findings if f.cause == "agent-not-running"]
    assert silent and "11.9 h" in silent[0].summary
    # red team 12: the finding had no evidence; it names where the silence starts and ends
    assert [e.file for e in silent[0].evidence] == ["var/log/waagent.log", "results.txt"]
    assert "2024-07-01T08:05:00Z" in silent[0].evidence[0].text


@pytest.mark.parametrize("last_hour, expect", [(16, "nothing"), (12, "not evaluable"), (1, "finding")])
def test_silence_measured_on_local_time_of_an_unknown_zone(tmp_path, last_hour, expect):
    """Red team 11: agent 2.2.45 writes local time; read as UTC, a New York VM 2 h silent came out
    7 h silent (a false critical). A silence measured on such times fires only when no zone (UTC-12
    at the most) can make it shorter than the threshold (6 h + 12 h); between the two the rule says
    it cannot tell. Below 6 h it is quiet: UTC is Azure's default zone."""
    r = _silent_agent(tmp_path, _beats([0, last_hour], zulu=False))  # collected 20:00
    causes = [f.cause for f in r.findings]
    reasons = " ".join(n.reason for n in r.not_evaluable)
    assert ("agent-not-running" in causes) == (expect == "finding")
    assert ("unknown zone" in reasons) == (expect == "not evaluable")


def test_silence_beyond_any_zone_is_found_in_local_time(tmp_path):
    r = _silent_agent(tmp_path, _beats([0, 1], zulu=False), collected="2024-07-02T12:00:00Z")
    assert "agent-not-running" in [f.cause for f in r.findings]  # 35 h: more than 6 h + 14 h


def test_waagent_conf_evidence_names_the_file_and_line_that_set_the_key(tmp_path):
    """Two waagent.conf in one bundle: the evidence named etc/waagent.conf (which said =y) for
    Extensions.Enabled=n set by the other, with no line (red team 9). Now the file and line of the
    value the agent would use, and a problem about the second file."""
    import shutil
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "healthy", b)
    (b / "other/etc").mkdir(parents=True)
    (b / "other/etc/waagent.conf").write_text("# copy\nExtensions.Enabled=n\n")
    r = loganalyzer.analyze(b)
    ev = next(f for f in r.findings if f.cause == "extensions-disabled").evidence[0]
    assert (ev.file, ev.line, ev.text) == ("other/etc/waagent.conf", 2, "Extensions.Enabled=n")
    assert any("a second waagent.conf" in p.message for p in r.problems)
    r = loganalyzer.analyze(SAMPLES / "extensions-disabled")
    ev = next(f for f in r.findings if f.cause == "extensions-disabled").evidence[0]
    assert ev.file == "etc/waagent.conf" and isinstance(ev.line, int)


def test_agent_versions_come_from_the_newest_records_not_the_last_file_read(tmp_path):
    """Files are read by name (waagent.log first, .9.gz after .10.gz): the version of the last file
    read, an old rotation, was taken and made a false agent-outdated (red team 10)."""
    import gzip
    import shutil
    b = tmp_path / "b"
    log = b / "var/log"
    log.mkdir(parents=True)  # logs only: no goal state or status file to give the version first
    shutil.copy(SAMPLES / "healthy/var/log/waagent.log", log / "waagent.log")
    with open(log / "waagent.log", "a") as fh:
        fh.write("2024-10-02T08:00:00.000000Z INFO ExtHandler ExtHandler Agent WALinuxAgent-2.11.1.12 is running "
                 "as the goal state agent\n")
    for n, (year, version) in enumerate([(2021, "2.2.41"), (2020, "2.2.40")], start=9):
        lines = [f"{year}-03-0{d}T10:00:00.000000Z INFO Daemon Daemon Azure Linux Agent Version: {version}\n"
                 f"{year}-03-0{d}T10:00:01.000000Z INFO ExtHandler ExtHandler Agent WALinuxAgent-{version} is "
                 "running as the goal state agent\n" for d in range(1, 4)]
        (log / f"waagent.log.{n}.gz").write_bytes(gzip.compress("".join(lines).encode()))
    r = loganalyzer.analyze(b)
    assert r.facts.agent_goal_state_version == "2.11.1.12"
    assert "agent-outdated" not in [f.cause for f in r.findings]
    seen = r.facts.agent_versions
    assert seen.index("2.2.40") < seen.index("2.2.41")  # in the order of time, not of file names


def test_the_same_log_twice_is_read_once(tmp_path):
    """waagent.log.1 beside waagent.log.1.gz, or a folder beside its own zip, counted every record
    twice (red team 10: count 60 where 40). A copy is now an input with status 'duplicate'; two logs
    that only start alike are both read."""
    import gzip
    import shutil
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "agent-crash-loop", b)
    log = next(b.rglob("waagent.log"))
    once = loganalyzer.analyze(b)
    data = log.read_bytes()
    (log.parent / "waagent.log.7").write_bytes(data)
    (log.parent / "waagent.log.8.gz").write_bytes(gzip.compress(data))
    twice = loganalyzer.analyze(b)
    assert [(f.cause, f.count) for f in twice.findings] == [(f.cause, f.count) for f in once.findings]
    dup = sorted(i.path for i in twice.inputs if i.status == "duplicate")
    assert len(dup) == 2 and sum("the same content as" in p.message for p in twice.problems) == 2
    (log.parent / "waagent.log.7").write_bytes(data + b"2099-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler later\n")
    (log.parent / "waagent.log.8.gz").unlink()
    longer = loganalyzer.analyze(b)
    assert not [i for i in longer.inputs if i.status == "duplicate"]  # same start, more after: read



def test_an_unreadable_rotation_is_no_duplicate_of_an_empty_one(tmp_path):
    """Red team 17: a .zst rotation (no text comes out of it) beside an empty waagent.log.1 (left by
    copytruncate) was filed as a 'duplicate' of it, and the report was whole. Empty content is
    never compared: the rotation is read, said and the report partial."""
    import shutil
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "agent-crash-loop", b)
    log = next(b.rglob("waagent.log"))
    (log.parent / "waagent.log.1").write_bytes(b"")
    (log.parent / "waagent.log.2.zst").write_bytes(b"\x28\xb5\x2f\xfd" + log.read_bytes()[:4000])
    (log.parent / "waagent.log.3.gz").write_bytes(b"\x1f\x8b\x08")  # cut inside its header
    r = loganalyzer.analyze(b)
    assert not [i.path for i in r.inputs if i.status == "duplicate"]
    assert r.partial and any("not supported" in p.message for p in r.problems)


def test_the_vms_time_zone_file_sets_the_zone_of_local_times(tmp_path):
    """Red team 11: /etc/timezone was not read: a New York VM whose agent (local time) was 2 h
    silent came out 7 h silent, critical. With the zone the times are right, and a silence of
    7 h read in Kolkata's zone (+05:30) is found."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/timezone").write_text("America/New_York\n")
    r = _silent_agent(tmp_path, _beats([0, 13], zulu=False))  # 13:00 EDT = 17:00Z; collected 20:00Z
    assert r.facts.timezone == "America/New_York"
    assert r.facts.extra["agent_last_record"] == "2024-07-01T17:00:00Z"
    assert "agent-not-running" not in [f.cause for f in r.findings]
    assert not [n for n in r.not_evaluable if "unknown zone" in n.reason]


def test_an_unknown_or_hostile_zone_name_is_a_problem(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/timezone").write_text("../../../etc/passwd\n")
    r = _silent_agent(tmp_path, _beats([0, 13], zulu=False))
    assert r.facts.timezone is None and any("unknown time zone" in p.message for p in r.problems)


@pytest.mark.parametrize("line, disk_full", [
    ("script.sh: line 4: /mnt/data/out.txt: No space left on device", False),
    ("OSError: [Errno 28] No space left on device: '/home/app/cache.tmp'", False),
    ("cp: error writing '/var/log/azure/x.log': No space left on device", True),
    ("OSError: [Errno 28] No space left on device", True),
])
def test_a_full_disk_elsewhere_is_not_the_agents_disk(tmp_path, line, disk_full):
    """Red teams 11 and 12: a customer script's ENOSPC on a data disk ranked disk-full (critical)
    above the failed CustomScript; causes.md limits disk-full to /var/lib/waagent and /var/log."""
    lines = ["2024-07-01T19:00:00.000000Z ERROR ExtHandler ExtHandler Event: name=Microsoft.Azure.Extensions.CustomScript, "
             "op=Enable, message=[ExtensionOperationError] Non-zero exit code: 2, bin/custom-script-shim enable",
             "[stdout]", "", "[stderr]", line, ", duration=0"]
    r = _silent_agent(tmp_path, lines)
    causes = [f.cause for f in r.findings]
    assert ("disk-full" in causes) == disk_full
    assert "extension-operation-failed" in causes


def test_a_read_only_lib_on_flatcar_is_not_a_full_disk(tmp_path):
    """agent-logs.md §2.12: /lib is read-only by design on Flatcar; the firewall failure is the cause."""
    lines = ["2024-07-01T19:00:00.000000Z WARNING EnvHandler ExtHandler Unable to setup the persistent firewall rules: "
             "[Errno 30] Read-only file system: '/lib/systemd/system/waagent-network-setup.service'",
             "2024-07-01T19:00:01.000000Z WARNING EnvHandler ExtHandler Unable to establish firewall -- no further attempts "
             "will be made: [OSUtilError] Failed to set the firewall rules"]
    r = _silent_agent(tmp_path, lines)
    causes = [f.cause for f in r.findings]
    assert "disk-full" not in causes and causes[0] == "firewall-rules-failed"


GS_ERROR = ("2024-07-01T{t} ERROR ExtHandler ExtHandler Error fetching the goal state: [ProtocolError] [Wireserver "
            "Exception] [HttpError] [HTTP Failed] GET http://168.63.129.16/machine/?comp=goalstate -- IOError timed "
            "out -- 6 attempts made")
GS_RECOVERED = ("2024-07-01T{t} INFO ExtHandler ExtHandler Fetching the goal state recovered from previous errors. "
                "Fetched incarnation_4 (certificates: [])")


@pytest.mark.parametrize("order, found", [(["e", "r"], False), (["e"], True), (["e", "r", "e"], True),
                                          (["r", "e"], True)])
def test_a_goal_state_error_the_agent_recovers_from_is_noise(tmp_path, order, found):
    """Red team 12: one goal-state fetch error followed by the agent's own 'recovered from previous
    errors' gave wireserver-unreachable (error) on a healthy VM. Recovered later in the file: noise;
    an error after the last recovery, or none: a finding (2.8+ logs a persisting failure once)."""
    lines = [(GS_ERROR if k == "e" else GS_RECOVERED).format(t=f"1{i}:00:00.000000Z") for i, k in enumerate(order)]
    r = _silent_agent(tmp_path, lines + _beats([18], 30))
    assert ("wireserver-unreachable" in [f.cause for f in r.findings]) == found
    if not found:
        assert any("recovered later" in n.pattern for n in r.noise)


def test_a_configured_proxy_that_refuses_explains_the_unreachable_storage(tmp_path):
    """Red team 12: HttpProxy set, storage fetches 'Connection refused' x4: no-internet-access was
    first (open the NSG), proxy-misconfigured second. Each failure through the proxy adds to it."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/waagent.conf").write_text("HttpProxy.Host=10.20.30.40\nHttpProxy.Port=3128\n")
    fails = [f"2024-07-01T1{i}:00:00.000000Z WARNING ExtHandler ExtHandler Fetch failed: [HttpError] [HTTP Failed] GET "
             f"https://umsa1b2c3d4.blob.core.windows.net/abc/def_manifest.xml -- IOError [Errno 111] Connection refused "
             f"-- 6 attempts made" for i in range(4)]
    r = _silent_agent(tmp_path, fails + _beats([18], 30))
    assert [f.cause for f in r.findings][:2] == ["proxy-misconfigured", "no-internet-access"]


@pytest.mark.parametrize("times, found", [(["10:00"], False), (["10:00", "10:05"], True)])
def test_one_unclean_exit_is_not_a_crash_loop(tmp_path, times, found):
    """Red team 12: one 'Agent did not terminate cleanly' after a self-update was an agent-crash-loop
    warning; a reboot, a kill or an update mid-run leaves one, a crash loop several."""
    lines = [f"2024-07-01T{t}:00.000000Z INFO ExtHandler ExtHandler Agent did not terminate cleanly: "
             f"[WALinuxAgent-2.15.0.1] [Agent WALinuxAgent-2.15.0.1 is running]" for t in times]
    r = _silent_agent(tmp_path, lines + _beats([18], 30))
    assert ("agent-crash-loop" in [f.cause for f in r.findings]) == found


def test_a_hung_freeze_is_shown_at_the_hung_run_not_an_earlier_one(tmp_path):
    """Red team 12: a freeze that hung at 12:00 was cited and dated from the 09:00 run that thawed."""
    p = "[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]"
    run = lambda h, thaw: [f"2025-06-10 {h}:00:{s:02d}.000000 {p}{m}" for s, m in (
        (1, "starting enable"), (20, "T:S freeze, timeout value 60"), (29, "proceeded for accepting signals"))] + \
        ([f"2025-06-10 {h}:00:40.000000 {p}T:S thaw result : success"] if thaw else [])
    lines = run("09", True) + run("12", False)
    path = tmp_path / "var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    r = loganalyzer.analyze(tmp_path)
    hang = [f for f in r.findings if f.cause == "snapshot-fsfreeze-failed"]
    assert hang and hang[0].first_seen.hour == 12
    assert [e.line for e in hang[0].evidence] == [len(lines)]


def test_an_outdated_agent_known_only_from_its_status_file_cites_it(tmp_path):
    """Red team 12: agent-outdated from waagent_status.json alone had no evidence."""
    status = tmp_path / "var/lib/waagent/waagent_status.json"
    status.parent.mkdir(parents=True)
    status.write_text('{"version": "1.1", "timestampUTC": "2025-06-10T10:00:00Z", "aggregateStatus": '
                      '{"guestAgentStatus": {"version": "2.2.45", "status": "Ready"}}}')
    r = loganalyzer.analyze(tmp_path)
    outdated = [f for f in r.findings if f.cause == "agent-outdated"]
    assert outdated and [(e.file, e.text) for e in outdated[0].evidence] == \
        [("var/lib/waagent/waagent_status.json", "guest agent version 2.2.45")]
