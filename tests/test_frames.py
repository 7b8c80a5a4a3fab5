"""Reports as DataFrames: documented columns, dtypes (UTC, categoricals, nullable ints), empty frames."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

import loganalyzer  # noqa: E402
from loganalyzer import frames as F  # noqa: E402
from loganalyzer.model import (Evidence, ExtensionFact, Facts, Finding, LeaseFact, NoiseCount,  # noqa: E402
                               Record, Report, Template)

AGENT_LINES = (
    "2024-05-01T10:00:00.000000Z INFO ExtHandler ExtHandler Azure Linux Agent (Goal State Agent version 2.11.1.12)\n"
    "2024-05-01T10:05:00.000000Z WARNING Daemon Daemon Agent WALinuxAgent-2.11.1.12 launched with command "
    "'python3 -u bin/WALinuxAgent-2.11.1.12-py3.8.egg -run-exthandlers' failed with return code: 1\n"
)
UTC_DT = "datetime64[ns, UTC]"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
BUILDERS = {"events": F.events_frame, "findings": F.findings_frame, "facts": F.facts_frame,
            "extensions": F.extensions_frame, "unexplained": F.unexplained_frame, "noise": F.noise_frame,
            "timeline": F.timeline_frame}
DTYPE_WORDS = {"string": "string", "Int64": "Int64", "UTC": UTC_DT, "bool": "bool", "boolean": "boolean",
               "cat": "category", "float64": "float64"}


def documented() -> dict[str, dict[str, str]]:
    """Table name -> {column: dtype} as the module docstring lists them."""
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in F.__doc__.splitlines():
        m = re.match(r"^(\w+) \(``(\w+)_frame``", line)
        if m:
            current = tables.setdefault(m.group(1), {})
            line = line[m.end():]
        elif line and not line.startswith(" "):
            current = None
        if current is not None:
            for col, word in re.findall(r"\b([a-z_]+) (string|Int64|UTC|boolean|bool|cat|float64)\b", line):
                current[col] = DTYPE_WORDS[word]
    return tables


def full_report() -> Report:
    ev = Evidence("var/log/waagent.log", 2, "launched ... failed with return code: 1", T0, "agent.crash")
    facts = Facts(agent_daemon_version="2.2.53", agent_goal_state_version="2.11.1.12",
                  agent_versions=["2.2.53", "2.11.1.12"], os_name="Ubuntu", os_version="22.04",
                  collection_time=T0 + timedelta(hours=2), config={"Logs.Verbose": "n", "OS.EnableRDMA": "y"},
                  leases=[LeaseFact("var/lib/dhcp/dhclient.eth0.leases", "eth0", True, "168.63.129.16")],
                  incarnations=[1, 2], extra={"note": {"a": 1}})
    snap = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
    facts.extensions[snap] = ExtensionFact(name=snap, version="1.0.9225.0", seq_no=5, status="error", code="76",
                                           status_time=T0, sources=["a.status", "HandlerState"])
    facts.extension("Microsoft.Azure.Extensions.CustomScript").status = "success"
    return Report(
        bundle="vm1.zip",
        findings=[Finding("agent-crash-loop", "error", 0.91, 3, T0, T0 + timedelta(minutes=5), [ev],
                          ["agent.crash"], details={"ext": ["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"]}),
                  Finding("no-internet-access", "warning", 0.4, 1, None, None)],
        facts=facts,
        noise=[NoiseCount("benign.vmsettings", 4, T0, T0, ev)],
        unexplained=[Template("Something <*> odd", 2, ev, "ERROR", T0, T0)],
        timeline=[{"kind": "waagent_log", "level": "INFO", "bucket": "2024-05-01T10:00:00Z", "t": 1714557600,
                   "count": 5},
                  {"kind": "syslog", "level": "-", "bucket": "2024-05-01T11:00:00Z", "t": 1714561200, "count": 1}],
        records=[Record("var/log/waagent.log", 1, T0, "INFO", "Azure Linux Agent", "waagent_log"),
                 Record("var/log/waagent.log", 2, T0 + timedelta(minutes=5), "WARNING", "failed", "waagent_log",
                        thread="Daemon", end_line=3),
                 Record("var/log/syslog", 7, None, None, "kernel: hello", "syslog", tz_guess=True)],
        patterns_version="abc",
    )


def test_docstring_lists_every_table():
    assert set(documented()) == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_columns_and_dtypes_as_documented(name):
    df = BUILDERS[name](full_report())
    doc = documented()[name]
    assert list(df.columns) == list(doc), f"{name}: columns differ from the docstring"
    for col, dtype in doc.items():
        got = df[col].dtype
        if dtype == "category":
            assert isinstance(got, pd.CategoricalDtype), (name, col, got)
        elif dtype == "string":
            assert isinstance(got, pd.StringDtype), (name, col, got)
        else:
            assert str(got) == dtype, (name, col, got)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_empty_report_gives_empty_frames_with_columns(name):
    report = Report(bundle="empty", records=[])
    df = BUILDERS[name](report)
    assert list(df.columns) == list(documented()[name])
    if name != "facts":  # facts always lists every fact key, with missing values
        assert len(df) == 0
    for col, dtype in documented()[name].items():
        if dtype == UTC_DT:
            assert str(df[col].dtype) == UTC_DT


def test_events_need_kept_records():
    with pytest.raises(ValueError, match="keep_records=True"):
        F.events_frame(Report(bundle="x"))


def test_events_values():
    df = F.events_frame(full_report())
    assert str(df["ts"].dtype) == UTC_DT and df["ts"].dt.tz is not None
    assert df["ts"][0] == pd.Timestamp("2024-05-01T10:00:00Z") and pd.isna(df["ts"][2])
    assert df["level"].cat.ordered and list(df["level"].cat.categories) == ["VERBOSE", "INFO", "WARNING", "ERROR"]
    assert list(df[df["level"] >= "WARNING"]["line"]) == [2]
    assert "waagent_log" in df["kind"].cat.categories and "syslog" in df["kind"].cat.categories
    assert df["end_line"].isna().tolist() == [True, False, True]
    assert df["tz_guess"].tolist() == [False, False, True]


def test_findings_values():
    df = F.findings_frame(full_report())
    assert df["rank"].tolist() == [1, 2]
    assert df["severity"].cat.ordered and (df["severity"] >= "error").tolist() == [True, False]
    assert df.loc[0, "first_evidence"] == "var/log/waagent.log:2"
    assert df.loc[0, "extension"] == "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
    assert df.loc[0, "last_seen"] == pd.Timestamp("2024-05-01T10:05:00Z")
    assert pd.isna(df.loc[1, "first_seen"])


def test_facts_and_extensions_values():
    facts = F.facts_frame(full_report()).set_index("key")["value"]
    assert facts["agent_goal_state_version"] == "2.11.1.12"
    assert facts["config.Logs.Verbose"] == "n"
    assert facts["collection_time"] == "2024-05-01T12:00:00Z"
    assert facts["agent_versions"] == "2.2.53,2.11.1.12" and facts["incarnations"] == "1,2"
    assert "168.63.129.16" in facts["leases"]
    assert pd.isna(facts["hostname"])
    assert "extensions" not in facts.index
    ext = F.extensions_frame(full_report()).set_index("name")
    snap = ext.loc["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"]
    assert snap["seq_no"] == 5 and snap["code"] == "76" and snap["status"] == "error"
    assert pd.isna(snap["auto_upgrade"]) and snap["sources"] == "a.status,HandlerState"
    assert snap["status_time"] == pd.Timestamp("2024-05-01T10:00:00Z")


def test_timeline_noise_unexplained_values():
    r = full_report()
    tl = F.timeline_frame(r)
    assert tl["bucket"].tolist() == [pd.Timestamp("2024-05-01T10:00Z"), pd.Timestamp("2024-05-01T11:00Z")]
    assert list(tl["level"].cat.categories)[0] == "-" and tl["count"].sum() == 6
    assert F.noise_frame(r).loc[0, "example_line"] == 2
    un = F.unexplained_frame(r)
    assert un.loc[0, "level"] == "ERROR" and un.loc[0, "count"] == 2


def test_frames_object_caches_and_concatenates():
    r = full_report()
    f = F.frames(r)
    assert f.findings is f.findings
    both = pd.concat([f.events, F.frames(Report(bundle="b", records=[])).events])
    assert len(both) == 3 and str(both["ts"].dtype) == UTC_DT
    for name in BUILDERS:
        assert isinstance(getattr(f, name), pd.DataFrame)


def test_real_report_events(tmp_path):
    log = tmp_path / "b" / "var" / "log"
    log.mkdir(parents=True)
    (log / "waagent.log").write_text(AGENT_LINES)
    report = loganalyzer.analyze(tmp_path / "b", keep_records=True)
    f = F.frames(report)
    ev = f.events
    assert len(ev) == 2 and str(ev["ts"].dtype) == UTC_DT
    assert ev["ts"].iloc[1] == pd.Timestamp("2024-05-01T10:05:00Z")
    assert ev["level"].astype(str).tolist() == ["INFO", "WARNING"]
    assert set(ev["kind"].astype(str)) == {"waagent_log"}
    assert f.timeline["count"].sum() == 2
    assert (f.facts.set_index("key").loc["agent_goal_state_version", "value"]) == "2.11.1.12"
    with pytest.raises(ValueError, match="keep_records"):
        F.frames(loganalyzer.analyze(tmp_path / "b")).events



def test_frames_hold_no_secret_a_report_masks(tmp_path):
    """Red team 18: a base64 settings blob (it decodes to a password) stayed whole in the events and
    the unexplained tables, and cloud-init's lone 'root:password' lines in the events; the
    renderers masked them. The tables now hold what the report shows."""
    import base64
    blob = base64.b64encode(b'{"storageAccountName": "x", "password": "LEAKF1", "adminPassword": "LEAKF2"}' * 2).decode()
    log = tmp_path / "b" / "var" / "log"
    log.mkdir(parents=True)
    (log / "waagent.log").write_text(AGENT_LINES + f"2024-05-01T10:06:00.000000Z ERROR ExtHandler ExtHandler Settings blob: {blob}\n")
    (log / "cloud-init-output.log").write_text("Cloud-init v. 23.1 running 'modules:config'\n"
                                               "Set the following 'random' passwords\nroot:LEAKF3xyz\n")
    report = loganalyzer.analyze(tmp_path / "b", keep_records=True)
    f = F.frames(report)
    for name in ("events", "unexplained", "noise", "findings"):
        text = getattr(f, name).to_csv()
        assert blob[:40] not in text and "LEAKF3" not in text, name
    assert "<redacted>" in " ".join(f.events["message"].astype(str))

def test_import_loganalyzer_does_not_import_pandas():
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", "import sys, loganalyzer; print('pandas' in sys.modules)"],
                         capture_output=True, text=True, cwd=root, timeout=60)
    assert res.stdout.strip() == "False", res.stderr


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

_records = st.builds(
    Record,
    source=st.text(max_size=20),
    line=st.integers(1, 10**9),
    ts=st.one_of(st.none(), st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                                         timezones=st.just(timezone.utc))),
    level=st.one_of(st.none(), st.sampled_from(["VERBOSE", "INFO", "WARNING", "ERROR", "DEBUG"])),
    message=st.text(max_size=50),
    kind=st.sampled_from(["waagent_log", "syslog", "something_new"]),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(_records, max_size=20))
def test_events_frame_any_records(records):
    df = F.events_frame(Report(bundle="x", records=records))
    assert len(df) == len(records)
    assert str(df["ts"].dtype) == UTC_DT and isinstance(df["level"].dtype, pd.CategoricalDtype)
    assert df["ts"].isna().sum() == sum(r.ts is None for r in records)


# --- values no column can hold: far times, huge integers, formula text ---------------------------
FAR_HIGH = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
FAR_LOW = datetime(1, 1, 1, tzinfo=timezone.utc)


def test_far_dates_become_nat_in_every_frame():
    """Year 9999 or 0001 (a broken clock) is NaT; the frames are built and the other values stay."""
    r = full_report()
    r.records.append(Record("var/log/waagent.log", 9, FAR_HIGH, "ERROR", "boom", "waagent_log"))
    r.records.append(Record("var/log/waagent.log", 10, FAR_LOW, "ERROR", "boom", "waagent_log"))
    r.findings.append(Finding("agent-crash-loop", "error", 0.5, 1, FAR_LOW, FAR_HIGH))
    r.facts.extensions["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"].status_time = FAR_HIGH
    r.facts.collection_time = FAR_HIGH
    r.timeline.append({"kind": "waagent_log", "level": "ERROR", "bucket": "9999-12-31T23:00:00Z", "count": 1})
    r.timeline.append({"kind": "waagent_log", "level": "ERROR", "t": 10**12, "count": 1})  # epoch past 9999
    r.noise[0].first_seen = FAR_LOW
    f = F.frames(r)
    ev = f.events
    assert ev["ts"].isna().tolist() == [False, False, True, True, True]
    assert ev["ts"][0] == pd.Timestamp("2024-05-01T10:00:00Z")
    fi = f.findings
    assert pd.isna(fi.loc[2, "first_seen"]) and pd.isna(fi.loc[2, "last_seen"])
    assert fi.loc[0, "first_seen"] == pd.Timestamp(T0)
    assert pd.isna(f.extensions.set_index("name").loc["Microsoft.Azure.RecoveryServices.VMSnapshotLinux",
                                                     "status_time"])
    assert f.facts.set_index("key").loc["collection_time", "value"] == "9999-12-31T23:59:59.999999Z"  # text keeps it
    assert f.timeline["bucket"].isna().tolist() == [False, False, True, True]
    assert pd.isna(f.noise.loc[0, "first_seen"])


def test_values_no_column_holds_are_missing():
    r = full_report()
    snap = r.facts.extensions["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"]
    snap.seq_no = 2 ** 70  # a hostile status file
    snap.auto_upgrade = "yes"
    r.records[0].line = 10 ** 30
    ext = F.extensions_frame(r).set_index("name").loc["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"]
    assert pd.isna(ext["seq_no"]) and pd.isna(ext["auto_upgrade"])
    assert pd.isna(F.events_frame(r).loc[0, "line"])


def test_coerce_and_normalise():
    assert F.coerce("9999-12-31T23:59:59Z", "datetime64[ns, UTC]", strict=True) is None
    assert F.coerce(FAR_LOW, "datetime64[ns, UTC]", strict=True) is None
    assert F.coerce("2024-05-01T10:00:00Z", "datetime64[ns, UTC]") == T0
    assert F.coerce(10 ** 20, "datetime64[ns, UTC]") is None  # epoch seconds Python cannot hold
    assert F.coerce("not a time", "datetime64[ns, UTC]") is None
    assert F.coerce(-3, "Int64") == -3 and F.coerce(2 ** 70, "Int64") is None
    assert F.coerce("bad\udcff", "string") == "bad\ufffd"  # a lone surrogate is not UTF-8
    with pytest.raises(ValueError, match="column count"):
        F.normalise({"count": 2 ** 70}, {"bundle": "string", "count": "Int64"})
    with pytest.raises(ValueError, match="column confidence"):
        F.normalise({"confidence": "high"}, {"confidence": "float64"})
    row = F.normalise({"first_seen": "0001-06-17T04:30:17Z", "extra": 1}, {"first_seen": UTC_DT, "bundle": "string"})
    assert row == {"first_seen": None, "bundle": None, "extra": 1}


def test_csv_safe_escapes_formula_text_only_in_text_columns():
    df = pd.DataFrame({
        "s": pd.Series(["=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(1)", "\tx", "\rx", "a=b",
                        " =1", None], dtype="string"),
        "o": pd.Series(["=1"] * 8 + [None], dtype=object),
        "c": pd.Series(["-x", "ok"] * 4 + ["=c"], dtype="category"),
        "n": pd.Series([-1, -2, 3, None, 5, 6, 7, 8, 9], dtype="Int64"),
        "f": pd.Series([-0.5] * 9, dtype="float64"),
        "b": [True] * 9,
        "t": pd.Series([pd.Timestamp("2024-05-01T10:00Z")] * 9),
    })
    before = df.copy()
    safe = F.csv_safe(df)
    pd.testing.assert_frame_equal(df, before)  # the notebook's frame keeps the true text
    assert safe["s"].tolist()[:8] == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2+3", "'@SUM(1)", "?x", "?x",
                                      "a=b", " =1"]  # control characters are '?' (no formula then)
    assert pd.isna(safe["s"].iloc[8]) and safe["o"].iloc[0] == "'=1" and pd.isna(safe["o"].iloc[8])
    assert safe["c"].tolist()[:2] == ["'-x", "ok"] and safe["c"].iloc[8] == "'=c"
    text = safe.to_csv(index=False)
    back = pd.read_csv(__import__("io").StringIO(text))
    assert back["n"].tolist()[:3] == [-1, -2, 3] and back["f"].tolist()[0] == -0.5
    for line in text.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "@")), line


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.none(), st.datetimes(timezones=st.just(timezone.utc))), max_size=20))
def test_events_frame_any_time_never_fails(times):
    records = [Record("x", i + 1, ts, "INFO", "m", "waagent_log") for i, ts in enumerate(times)]
    df = F.events_frame(Report(bundle="x", records=records))
    out = sum(ts is None or not F.TS_MIN <= ts <= F.TS_MAX for ts in times)
    assert str(df["ts"].dtype) == UTC_DT and int(df["ts"].isna().sum()) == out
