"""The committed sample bundles are exactly what samples/generate.py produces, and look like bundles.

These tests only use the stdlib (no project parsers): simple header regexes from
agent-logs.md §1.5 and results.txt §3.4.
"""
from __future__ import annotations

import gzip
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
GENERATOR = SAMPLES / "generate.py"
HAND_WRITTEN = {"README.md", "generate.py", "fleet.py"}
ARCHIVES = {"no-internet-access.zip", "agent-crash-loop.tar.gz"}

ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6})Z (VERBOSE|INFO|WARNING|ERROR) ")
SLASH = re.compile(r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6}) (VERBOSE|INFO|WARNING|ERROR) ")
ISO_NO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(?!Z)")
RESULTS_START = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z INFO Starting log collection at "
                           r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})Z$", re.M)
CAUSES = {  # the public cause vocabulary (shared/reference/causes.md)
    "no-internet-access", "agent-unresponsive-windows", "agent-outdated", "snapshot-status-unavailable",
    "vm-state-misreported", "dhcp-245-missing", "extension-load-failure", "restore-point-limit",
    "wireserver-unreachable", "proxy-misconfigured", "goal-state-http-error", "agent-crash-loop",
    "agent-not-running", "provisioning-failed", "extension-operation-failed", "extensions-disabled",
    "snapshot-fsfreeze-failed", "firewall-rules-failed", "openssl-failure", "hostname-publish-failed",
    "cgroup-limits", "imds-unreachable", "disk-full",
}


def _run(out: Path) -> None:
    subprocess.run([sys.executable, "-B", str(GENERATOR), "--out", str(out)], check=True,
                   capture_output=True, cwd=str(ROOT))


def _tree(base: Path) -> dict[str, bytes]:
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and p.relative_to(base).parts[0] not in HAND_WRITTEN
            and "__pycache__" not in p.parts}


def _archive_members(path: Path) -> list[tuple]:
    """Canonical content of an archive: names, mtimes, modes and payloads, in order."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            return [(i.filename, i.date_time, i.external_attr, zf.read(i)) for i in zf.infolist()]
    with tarfile.open(path, "r:gz") as tf:
        return [(m.name, m.mtime, m.mode, m.type, tf.extractfile(m).read() if m.isfile() else b"")
                for m in tf.getmembers()]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    _run(out)
    return out


def _bundles() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.is_dir() and p.name != "__pycache__")


def test_generator_reproduces_committed_samples(generated: Path) -> None:
    committed, fresh = _tree(SAMPLES), _tree(generated)
    assert sorted(committed) == sorted(fresh)
    for rel, data in fresh.items():
        if rel in ARCHIVES and committed[rel] != data:
            # deflate output may differ between zlib builds; the content must not
            assert _archive_members(SAMPLES / rel) == _archive_members(generated / rel), rel
            continue
        assert committed[rel] == data, "%s differs; run `python samples/generate.py`" % rel


def test_generator_is_deterministic(generated: Path, tmp_path: Path) -> None:
    _run(tmp_path)
    assert _tree(tmp_path) == _tree(generated)


def test_expected_tsv_lists_every_bundle_with_known_causes() -> None:
    rows = [ln.split("\t") for ln in (SAMPLES / "EXPECTED.tsv").read_text().splitlines()
            if ln and not ln.startswith("#")]
    assert all(len(r) == 3 for r in rows)
    assert sorted(r[0] for r in rows) == [p.name for p in _bundles()]
    for name, top, others in rows:
        assert (top == "") == (name == "healthy")
        for cause in [top] * bool(top) + [o for o in others.split(",") if o]:
            assert cause in CAUSES, (name, cause)
    shared = ROOT.parent / "shared" / "reference" / "causes.md"
    if shared.exists():
        text = shared.read_text(encoding="utf-8")
        for _name, top, _others in rows:
            assert not top or "`%s`" % top in text


@pytest.mark.parametrize("bundle", _bundles(), ids=lambda p: p.name)
def test_bundle_waagent_log_headers_and_timeline(bundle: Path) -> None:
    log = bundle / "var" / "log" / "waagent.log"
    lines = log.read_text(encoding="ascii").splitlines()
    assert lines and (ISO.match(lines[0]) or SLASH.match(lines[0]))
    stamps = []
    for ln in lines:
        assert not ISO_NO_Z.match(ln), "ISO-era stamp without Z: %r" % ln
        m = ISO.match(ln) or SLASH.match(ln)
        if m:
            fmt = "%Y-%m-%dT%H:%M:%S.%f" if "T" in m.group(1) else "%Y/%m/%d %H:%M:%S.%f"
            stamps.append(datetime.strptime(m.group(1), fmt).replace(tzinfo=timezone.utc))
    assert len(stamps) >= 20
    assert len(stamps) >= 0.8 * len([ln for ln in lines if ln.strip()])
    assert stamps == sorted(stamps), "records out of order"
    start = RESULTS_START.search((bundle / "results.txt").read_text(encoding="ascii"))
    assert start, "results.txt has no 'Starting log collection at'"
    collected = datetime.strptime(start.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    assert stamps[-1] <= collected
    # agents write at least a heartbeat every 30 minutes
    assert (collected - stamps[-1]).total_seconds() < 35 * 60, "log ends long before the collection"


@pytest.mark.parametrize("bundle", _bundles(), ids=lambda p: p.name)
def test_bundle_has_backup_handler_and_leases(bundle: Path) -> None:
    lib = bundle / "var" / "lib" / "waagent"
    handlers = sorted(lib.glob("Microsoft.Azure.RecoveryServices.VMSnapshotLinux-*"))
    assert handlers
    assert any(h.joinpath("config", "HandlerState").exists() for h in handlers)
    assert any(list(h.glob("status/*.status")) for h in handlers)
    settings = [p.read_text() for h in handlers for p in h.glob("config/*.settings")]
    assert settings and all("FAKE" in s and "protectedSettings" in s for s in settings)
    leases = [p for p in bundle.rglob("*") if p.is_file() and "dhclient" in p.name]
    assert len(leases) == 1
    has_245 = "option unknown-245 a8:3f:81:10;" in leases[0].read_text()
    assert has_245 == (bundle.name != "dhcp-245-missing")
    for p in bundle.rglob("*"):
        if p.is_file():
            assert p.stat().st_size < 150_000, p


def test_healthy_has_fake_sas_and_rotation() -> None:
    logdir = SAMPLES / "healthy" / "var" / "log"
    assert "sig=FAKESIGNATURE" in (logdir / "waagent.log").read_text()
    rotated = list(logdir.glob("waagent.log-????-??-??-*.gz"))
    assert len(rotated) == 1
    epoch = int(rotated[0].name.split("-")[-1][:-3])
    day = rotated[0].name[len("waagent.log-"):len("waagent.log-") + 10]
    assert datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d") == day
    text = gzip.decompress(rotated[0].read_bytes()).decode("ascii")
    assert ISO.match(text) and "Azure Linux Agent Version:2.2.53" in text
    assert "Goal State Agent version 2.11.1.12" in text


def test_legacy_bundle_rotation_and_goal_state_cache() -> None:
    b = SAMPLES / "agent-outdated"
    text = gzip.decompress((b / "var/log/waagent.log.1.gz").read_bytes()).decode("ascii")
    assert SLASH.match(text) and "Azure Linux Agent Version:2.2.18" in text
    assert list((b / "var/lib/waagent").glob("GoalState.*.xml"))
    assert list((b / "var/lib/waagent").glob("ExtensionsConfig.*.xml"))
    assert "AutoUpdate.Enabled=n" in (b / "etc/waagent.conf").read_text()


def test_zip_is_collector_style() -> None:
    with zipfile.ZipFile(SAMPLES / "no-internet-access.zip") as zf:
        names = zf.namelist()
        assert "results.txt" in names
        assert names[0] == "var/log/waagent.log"
        assert not any(n.startswith("/") or "\\" in n for n in names)
        # one fixed mtime (the collection time; DOS times have 2-second resolution)
        assert {i.date_time for i in zf.infolist()} == {(2024, 11, 12, 8, 40, 16)}
        folder = SAMPLES / "no-internet-access"
        for n in names:
            assert zf.read(n) == (folder / n).read_bytes()


def test_tar_has_leading_folder() -> None:
    path = SAMPLES / "agent-crash-loop.tar.gz"
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tf:
        names = tf.getnames()
        assert all(n == "bundle-4711" or n.startswith("bundle-4711/") for n in names)
        assert "bundle-4711/results.txt" in names and "bundle-4711/var/log/waagent.log" in names
        assert len({m.mtime for m in tf.getmembers()}) == 1


@pytest.mark.parametrize("name,needles", [
    ("no-internet-access", ["FailedRetryableSnapshotFailedNoNetwork", "blob.core.windows.net"]),
    ("snapshot-status-unavailable", ["CRP timeout limit has reached, will not take snapshot."]),
    ("dhcp-245-missing", ["Failed to send DHCP request", "Protocol endpoint not found", "Retry detect protocol: retry="]),
    ("extension-load-failure", ["Non-zero exit code: 3,", "handle.sh install", "Downgrade", "op=Download"]),
    ("wireserver-unreachable", ["Error fetching the goal state", "?comp=goalstate", ":32526/health"]),
    ("agent-crash-loop", ["failed with return code: 1", "failed with exception", "is permanently blacklisted"]),
    ("extensions-disabled", ["will not be processed since extension processing is disabled"]),
    ("snapshot-fsfreeze-failed", ["Logs during Freeze Start", "Failed to FIFREEZE", "FailedRetryableFsFreezeFailed"]),
    ("proxy-misconfigured", ["Tunnel connection failed: 407"]),
])
def test_fault_signatures_present(name: str, needles: list[str]) -> None:
    text = "\n".join(p.read_text(encoding="ascii", errors="replace") for p in (SAMPLES / name).rglob("*")
                     if p.is_file() and p.suffix != ".gz")
    for needle in needles:
        assert needle in text, (name, needle)
