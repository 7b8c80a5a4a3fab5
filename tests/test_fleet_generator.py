"""samples/fleet.py: a deterministic, varied fleet whose intended causes the analyser finds."""
from __future__ import annotations

import gzip
import importlib.util
import io
import re
import sys
import tarfile
import time
import zipfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

import loganalyzer

ROOT = Path(__file__).resolve().parents[1]
BAD = ("warning", "error", "critical")


def _load():
    spec = importlib.util.spec_from_file_location("_samples_fleet", ROOT / "samples" / "fleet.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


F = _load()


def tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def members(bundle: Path) -> dict[str, bytes]:
    """Relative path -> bytes of a folder, zip or tar.gz bundle (tar: without its lead folder)."""
    if bundle.is_dir():
        return tree(bundle)
    if bundle.name.endswith(".zip"):
        with zipfile.ZipFile(bundle) as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    with tarfile.open(bundle, "r:gz") as tf:
        return {m.name.split("/", 1)[1]: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}


@pytest.fixture(scope="module")
def fleet80(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fleet80")
    F.generate_fleet(out, 80, seed=0)
    return out


# --- planning -----------------------------------------------------------------------------------

def test_allocate_sums_and_covers():
    w = F.WEIGHTS
    for n in (0, 1, 5, 11, 30, 200, 1001):
        a = F.allocate(n, w)
        assert sum(a.values()) == n
        if n >= len(w):
            assert min(a.values()) >= 1
    a = F.allocate(200, w)
    assert max(a, key=a.get) == "healthy"
    assert a["healthy"] > a["no-internet-access"] > a["proxy-misconfigured"]


def test_plan_is_deterministic_and_seed_dependent():
    a, b, c = F.plan(40, seed=3), F.plan(40, seed=3), F.plan(40, seed=4)
    assert [s.__dict__ for s in a] == [s.__dict__ for s in b]
    assert [s.name for s in a] != [s.name for s in c]


def test_versions_match_the_collection_date():
    for s in F.plan(200, seed=1):
        if s.scenario == "agent-outdated":
            assert s.agent_version in F.LEGACY
            continue
        released = dict(F.RELEASES)
        assert released[s.agent_version] <= s.collected, (s.name, s.agent_version, s.collected)
        for literal, v in s.versions.items():
            assert released[v] <= s.collected  # also the newer agent of an update


# --- writing ------------------------------------------------------------------------------------

def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    F.generate_fleet(a, 14, seed=11)
    F.generate_fleet(b, 14, seed=11)
    ta, tb = tree(a), tree(b)
    assert ta.keys() == tb.keys()
    assert all(ta[k] == tb[k] for k in ta)
    F.generate_fleet(tmp_path / "c", 14, seed=12)
    assert tree(tmp_path / "c") != ta


def test_count_index_and_layouts(fleet80):
    rows = F.read_index(fleet80)
    assert list(rows[0]) == list(F.INDEX_COLUMNS)
    assert len(rows) == 80
    entries = sorted(p.name for p in fleet80.iterdir() if p.name != "index.tsv")
    assert entries == sorted(r["bundle"] for r in rows)
    assert {r["layout"] for r in rows} == {"folder", "zip", "tar.gz"}
    assert len({r["host"] for r in rows}) == 80
    causes = Counter(r["cause"] for r in rows)
    assert causes.most_common(1)[0][0] == ""  # healthy is the largest group
    assert len(causes) == len(F.WEIGHTS)
    for r in rows:
        assert r["layout"] == "folder" or r["bundle"].endswith("." + r["layout"])


def test_varied_versions_hosts_and_dates(fleet80):
    rows = F.read_index(fleet80)
    versions = {r["agent_version"] for r in rows}
    assert len(versions) >= 6, versions
    assert any(v.startswith("2.2.") for v in versions) and any(not v.startswith("2.2.") for v in versions)
    days = sorted(datetime.strptime(r["collected"], "%Y-%m-%dT%H:%M:%SZ") for r in rows)
    assert (days[-1] - days[0]).days > 365


def test_rerun_replaces_earlier_bundles(tmp_path):
    F.generate_fleet(tmp_path, 12, seed=1)
    F.generate_fleet(tmp_path, 3, seed=2)
    assert len([p for p in tmp_path.iterdir() if p.name != "index.tsv"]) == 3


def test_cli(tmp_path, capsys):
    assert F.main([str(tmp_path / "out"), "--count", "4", "--seed", "9"]) == 0
    assert "4 bundles" in capsys.readouterr().out
    assert len(F.read_index(tmp_path / "out")) == 4


def test_two_hundred_bundles_quickly(tmp_path):
    t0 = time.perf_counter()
    F.generate_fleet(tmp_path, 200, seed=5)
    assert time.perf_counter() - t0 < 60
    assert len(F.read_index(tmp_path)) == 200


# --- content ------------------------------------------------------------------------------------

ORIGINAL_HOSTS = ("lnx-app-017", "lnx-db-042", "legacy-ftp-03", "lnx-erp-app-11", "lnx-gw-relay-2", "rhel8-batch-07",
                  "lnx-k8s-node-5", "lnx-api-009", "deb11-files-04", "rhel7-db-13", "lnx-dmz-web-3")


def test_bundles_are_consistent(fleet80):
    """Host renamed everywhere, results.txt true to the files, dates and versions moved."""
    by_name = {r["bundle"]: r for r in F.read_index(fleet80)}
    for name, row in by_name.items():
        files = members(fleet80 / name)
        assert files["etc/hostname"].decode() == row["host"] + "\n"
        blob = b"".join(gzip.decompress(d) if p.endswith(".gz") else d for p, d in files.items())
        assert not any(h.encode() in blob for h in ORIGINAL_HOSTS), name
        results = files["results.txt"].decode()
        assert "Starting log collection at %s" % row["collected"] in results
        listed = dict(re.findall(r"Adding file /(\S+), size (\d+) b", results))
        assert listed == {p: str(len(d)) for p, d in files.items() if p != "results.txt"}, name
        log = files["var/log/waagent.log"].decode()
        assert row["agent_version"] in log
        stamps = re.findall(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", log, re.M) or \
            [s.replace("/", "-").replace(" ", "T") for s in re.findall(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)", log, re.M)]
        assert max(stamps) < row["collected"].rstrip("Z"), name
        if row["scenario"] != "agent-outdated":
            assert ("Goal State Agent version %s)" % row["agent_version"]).encode() in blob  # maybe rotated


def test_archive_layouts(fleet80):
    for r in F.read_index(fleet80):
        p = fleet80 / r["bundle"]
        if r["layout"] == "zip":
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
            assert names[0] == "var/log/waagent.log" and "results.txt" in names
        elif r["layout"] == "tar.gz":
            with tarfile.open(p, "r:gz") as tf:
                assert {m.name.split("/")[0] for m in tf.getmembers()} == {r["bundle"][:-len(".tar.gz")]}


# --- the analyser on the fleet ------------------------------------------------------------------

@pytest.fixture(scope="module")
def verdicts(fleet80):
    out = []
    for r in F.read_index(fleet80):
        report = loganalyzer.analyze(fleet80 / r["bundle"])
        out.append((r, report))
    return out


def test_every_bundle_analyses(verdicts):
    for r, report in verdicts:
        assert report.facts is not None, r["bundle"]
        assert report.inputs, r["bundle"]
        version = report.facts.agent_goal_state_version or report.facts.agent_daemon_version
        assert version == r["agent_version"], r["bundle"]


def test_intended_cause_named_first(verdicts):
    sick = [(r, rep) for r, rep in verdicts if r["cause"]]
    right = [r["bundle"] for r, rep in sick if rep.findings and rep.findings[0].cause == r["cause"]]
    wrong = [(r["bundle"], r["cause"], [f.cause for f in rep.findings][:3]) for r, rep in sick
             if r["bundle"] not in right]
    assert len(sick) >= 40
    assert len(right) >= 0.9 * len(sick), wrong


def test_healthy_bundles_stay_quiet(verdicts):
    healthy = [(r, rep) for r, rep in verdicts if not r["cause"]]
    noisy = [(r["bundle"], [(f.cause, f.severity) for f in rep.findings]) for r, rep in healthy
             if any(f.severity in BAD for f in rep.findings)]
    assert len(healthy) >= 30
    assert len(noisy) <= 0.1 * len(healthy), noisy


def test_padding_makes_logs_realistic_in_size_without_changing_the_answer(tmp_path):
    """--pad-lines adds healthy chatter before the scenario: the bundle grows, the top cause stays."""
    import loganalyzer
    from loganalyzer.model import severity_rank
    specs = F.generate_fleet(tmp_path / "plain", 12, seed=5)
    F.generate_fleet(tmp_path / "padded", 12, seed=5, pad_lines=3000)
    for spec in specs:
        plain = loganalyzer.analyze(tmp_path / "plain" / spec.file_name)
        padded = loganalyzer.analyze(tmp_path / "padded" / spec.file_name)
        grown = {i.path: i.records for i in padded.inputs}
        before = {i.path: i.records for i in plain.inputs}
        log = next(p for p in grown if p.endswith("var/log/waagent.log"))
        assert grown[log] >= before[log] + 3000 // 6 * 5  # about 3000 more records (some multi-line none)
        assert padded.facts.first_seen <= plain.facts.first_seen
        assert [f.cause for f in padded.findings if severity_rank(f.severity) >= 1] == \
            [f.cause for f in plain.findings if severity_rank(f.severity) >= 1]
    again = tmp_path / "again"
    F.generate_fleet(again, 12, seed=5, pad_lines=3000)
    for spec in specs:
        a, b = tmp_path / "padded" / spec.file_name, again / spec.file_name
        if a.is_file():
            assert a.read_bytes() == b.read_bytes()


def test_pad_log_keeps_the_era_of_the_log():
    import random
    iso = b"2024-10-02T06:40:01.485766Z INFO ExtHandler ExtHandler [HEARTBEAT] Agent WALinuxAgent-2.11.1.12 is up\n"
    out = F.pad_log(iso, 12, random.Random(1)).decode().splitlines()
    assert len(out) == 13 and all(line[:4].isdigit() and line[10] == "T" for line in out)
    assert out[0] < out[-1]
    slash = b"2024/07/01 06:30:03.750015 INFO Event: name=WALinuxAgent, op=HeartBeat, message=, duration=0\n"
    out = F.pad_log(slash, 6, random.Random(1)).decode().splitlines()
    assert len(out) == 7 and all(line[4] == "/" for line in out)
