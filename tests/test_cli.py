"""The loganalyze command: exit codes, one-line errors, the JSON contract, subcommands."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loganalyzer.cli import main
from conftest import SAMPLES, SHARED


def run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_missing_path_is_one_line_exit_2(capsys, tmp_path):
    code, out, err = run([str(tmp_path / "nope.zip")], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err and "nope.zip" in err


@pytest.mark.parametrize("content", [b"PK\x03\x04garbage-not-a-zip", b"", b"\x1f\x8b\x08\x00broken"])
def test_corrupt_input_is_one_line_exit_2(capsys, tmp_path, content):
    bad = tmp_path / "bundle.zip"
    bad.write_bytes(content)
    code, out, err = run([str(bad)], capsys)
    assert code == 2 and "Traceback" not in err and err.startswith("loganalyze: error:")
    assert err.count("\n") == 1


def test_healthy_sample_exits_0(capsys):
    code, out, _ = run([str(SAMPLES / "healthy"), "--no-color"], capsys)
    assert code == 0 and out.strip()


def test_json_contract(capsys):
    code, out, _ = run([str(SAMPLES / "no-internet-access.zip"), "--format", "json"], capsys)
    assert code == 1
    doc = json.loads(out)
    assert doc["schema_version"] and isinstance(doc["findings"], list)
    first = doc["findings"][0]
    assert first["cause"] == "no-internet-access"
    for key in ("cause", "severity", "confidence", "count", "first_seen", "last_seen", "evidence"):
        assert key in first
    assert first["severity"] in ("info", "warning", "error", "critical")
    assert 0 <= first["confidence"] <= 1
    assert all({"file", "line", "text"} <= set(e) for e in first["evidence"])
    confidences = [f["confidence"] for f in doc["findings"]]
    assert confidences == sorted(confidences, reverse=True)


def test_german_text_and_output_file(capsys, tmp_path):
    target = tmp_path / "report.txt"
    code, out, _ = run([str(SAMPLES / "extensions-disabled"), "--lang", "de", "-o", str(target)], capsys)
    assert code == 1 and out == ""
    text = target.read_text(encoding="utf-8")
    assert "extensions-disabled" in text and "Lösung" in text or "Schritte" in text


def test_html_needs_an_output_file(capsys):
    code, _, err = run([str(SAMPLES / "healthy"), "--format", "html"], capsys)
    assert code == 2 and "-o" in err


def test_nothing_written_besides_the_requested_output(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "r.json"
    run([str(SAMPLES / "agent-crash-loop.tar.gz"), "--format", "json", "-o", str(target)], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_explain_and_patterns_subcommands(capsys):
    code, out, _ = run(["explain", "dhcp-245-missing", "--lang", "de"], capsys)
    assert code == 0 and "245" in out
    code, out, _ = run(["explain", "agent-unresponsive-windows"], capsys)
    assert code == 0 and out.strip()
    code, out, err = run(["explain", "no-such-cause"], capsys)
    assert code == 2 and "unknown cause" in err
    code, out, _ = run(["patterns", "list"], capsys)
    assert code == 0 and "start.daemon" in out
    code, out, _ = run(["patterns", "explain", "start.daemon"], capsys)
    assert code == 0 and "example" in out
    code, out, _ = run(["patterns", "explain", "no-internet-access"], capsys)
    assert code == 0 and "Patterns:" in out


def test_patterns_test_reports_a_broken_user_file(capsys, tmp_path):
    (tmp_path / "mine.toml").write_text('[[pattern]]\nid = "a.b"\nregex = "("\n')
    code, _, err = run(["patterns", "test", "--patterns", str(tmp_path)], capsys)
    assert code == 2 and "mine.toml" in err and "invalid regex" in err


def test_brief_output_one_line_per_cause(capsys):
    code, out, _ = run([str(SAMPLES / "dhcp-245-missing"), "--brief", "--no-color"], capsys)
    assert code == 1 and "dhcp-245-missing" in out.splitlines()[0] + out


def test_bare_real_excerpt(capsys):
    case = SHARED / "realcases" / "case011.log"
    if not case.is_file():
        pytest.skip("../shared is not available")
    code, out, _ = run([str(case), "--format", "json"], capsys)
    assert json.loads(out)["findings"][0]["cause"] == "provisioning-failed"


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "loganalyzer.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("loganalyzer ")


def test_since_and_until_window_on_collection_time(capsys):
    """Durations count back from the bundle's collection time (results.txt), never from now."""
    code, out, _ = run([str(SAMPLES / "agent-crash-loop"), "--format", "json"], capsys)
    full = json.loads(out)
    collected = full["facts"]["collection_time"]
    code, out, _ = run([str(SAMPLES / "agent-crash-loop"), "--format", "json", "--since", "1m"], capsys)
    recent = json.loads(out)
    assert recent["facts"]["collection_time"] == collected
    assert not any(f["cause"] == "agent-crash-loop" for f in recent["findings"])  # the loop was hours earlier
    first = full["findings"][0]
    code, out, _ = run([str(SAMPLES / "agent-crash-loop"), "--format", "json",
                        "--since", first["first_seen"], "--until", first["last_seen"]], capsys)
    window = json.loads(out)
    assert window["findings"][0]["cause"] == "agent-crash-loop"
    assert window["findings"][0]["count"] == first["count"]
    code, _, err = run([str(SAMPLES / "agent-crash-loop"), "--since", "yesterday"], capsys)
    assert code == 2 and "not a time or duration" in err
    code, _, err = run([str(SAMPLES / "agent-crash-loop"), "--since", "24h", "--until", "48h"], capsys)
    assert code == 2 and "is after --until" in err and err.count("\n") == 1  # an empty window, said
    code, _, err = run([str(SAMPLES / "agent-crash-loop"), "--since", "99999999999999999999d"], capsys)
    assert code == 2 and "duration too long" in err and err.count("\n") == 1
    code, out, _ = run([str(SAMPLES / "agent-crash-loop"), "--format", "json", "--since", "9999999999h"], capsys)
    assert code == 1 and json.loads(out)["findings"][0]["count"] == first["count"]  # before year 1: all



def test_a_window_outside_the_bundle_shows_nothing_and_an_empty_one_is_refused(capsys):
    """Red team 17: '--since 9999-12-31' still showed no-internet-access from the extension's status
    file (dated 2024-11-12); an absolute --since after --until was run; '--since ١٢h' read as 12h."""
    zipped = str(SAMPLES / "no-internet-access.zip")
    for window in (["--since", "9999-12-31T23:59:59"], ["--until", "0001-01-01"]):
        code, out, _ = run([zipped, "--format", "json", *window], capsys)
        assert code == 0 and json.loads(out)["findings"] == []
    code, out, _ = run([zipped, "--format", "json", "--since", "2024-11-12T00:00:00Z"], capsys)
    assert "no-internet-access" in [f["cause"] for f in json.loads(out)["findings"]]  # the status is in it
    code, _, err = run([zipped, "--until", "2024-11-10T06:00:00Z", "--since", "2025-01-01"], capsys)
    assert code == 2 and "is after --until" in err and err.count("\n") == 1
    code, _, err = run([zipped, "--since", "\u0661\u0662h"], capsys)
    assert code == 2 and "not a time or duration" in err


def test_the_report_never_overwrites_the_input(capsys, tmp_path):
    """-o naming the bundle (or a file inside a bundle folder) is refused before anything is written."""
    import shutil
    z = tmp_path / "n.zip"
    shutil.copy(SAMPLES / "no-internet-access.zip", z)
    before = z.read_bytes()
    code, out, err = run([str(z), "-o", str(z)], capsys)
    assert code == 2 and "over the input" in err and z.read_bytes() == before
    folder = tmp_path / "b"
    shutil.copytree(SAMPLES / "no-internet-access", folder)
    log = folder / "var/log/waagent.log"
    before = log.read_bytes()
    for args in ([str(folder), "-o", str(log)], [str(log), "-o", str(log)]):
        code, out, err = run(args, capsys)
        assert code == 2 and "over the input" in err and log.read_bytes() == before
    for _ in range(2):  # a report inside the folder (not an input): written, and replaced the next time
        code, out, err = run([str(folder), "-o", str(folder / "report.txt")], capsys)
        assert code == 1 and (folder / "report.txt").exists(), err
    # a new file under a name the analysis reads would be read next time (red team 13: a report as
    # var/log/waagent.log.9md was read as a rotation, 26 hits became 39)
    new = folder / "var/log/waagent.log.9md"
    code, out, err = run([str(folder), "-f", "md", "-o", str(new)], capsys)
    assert code == 2 and "under a name the analysis reads (as waagent_log)" in err and not new.exists()


@pytest.mark.parametrize("args", [[""], ["analyze", " "], [str(SAMPLES / "healthy"), "-o", ""],
                                  ["batch", str(SAMPLES / "healthy"), "--out", ""],
                                  ["batch", str(SAMPLES / "healthy"), "--out", "x", "--timeout", "inf"]])
def test_empty_paths_and_infinite_timeout_are_usage_errors(capsys, tmp_path, monkeypatch, args):
    """Path("") is the current folder: an empty argument read (or wrote) the whole working folder."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(args, capsys)
    assert code == 2 and err.startswith("loganalyze: error:") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["ascii", "full", "closed"])
def test_standard_output_that_cannot_take_the_report(how):
    """An ASCII-only terminal gets '?' for what it cannot show; /dev/full and a closed stdout are
    one-line errors (they were 'internal error', exit 3)."""
    import os
    env = dict(os.environ, PYTHONIOENCODING="ascii") if how == "ascii" else None
    cmd = [sys.executable, "-m", "loganalyzer.cli", "analyze", str(SAMPLES / "healthy"), "--lang", "de"]
    if how == "ascii":
        proc = subprocess.run(cmd, capture_output=True, env=env)
        assert proc.returncode == 0 and b"?" in proc.stdout and proc.stderr == b""
        return
    if how == "full":
        with open("/dev/full", "w") as full:
            proc = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE)
    else:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              preexec_fn=lambda: os.close(1))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.decode().startswith("loganalyze: error:") and proc.stderr.count(b"\n") == 1


def test_small_usage_errors_of_red_team_9(capsys, tmp_path):
    """-o DIR/ wrote a file named DIR; explain echoed escape sequences of an unknown ID; the API
    took no bytes path."""
    import loganalyzer
    code, out, err = run([str(SAMPLES / "healthy"), "-o", str(tmp_path / "dir") + "/"], capsys)
    assert code == 2 and "names a folder" in err and not (tmp_path / "dir").exists()
    code, out, err = run(["explain", "a\x1b]0;PWN\x07b" + "x" * 500], capsys)
    assert code == 2 and "\x1b" not in err and "\x07" not in err and len(err) < 2000
    assert loganalyzer.analyze(str(SAMPLES / "healthy").encode()).findings == []


def test_a_tar_of_absolute_names_says_why_nothing_was_read(capsys, tmp_path):
    """tar -P writes /var/log/waagent.log: refused (names are never trusted), but 'no known input'
    did not say so (red team 10); now the error names the refused members."""
    import io
    import tarfile
    t = tmp_path / "abs.tar"
    with tarfile.open(t, "w") as tf:
        data = b"2024-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler x\n"
        info = tarfile.TarInfo("/var/log/waagent.log")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    code, out, err = run([str(t)], capsys)
    assert code == 2 and "member(s) refused" in err and "/var/log/waagent.log" in err and err.count("\n") == 1
