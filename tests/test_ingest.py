"""Ingest: every bundle layout, built on the fly, and a hostile suite that must not hurt."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loganalyzer import ingest
from loganalyzer.ingest import Bundle, InputError, Limits, open_bundle
from loganalyzer.textio import CUT_MARK, iter_lines

try:  # tests/ as a package or as plain folder
    from .hostile_archives import (SYSLOG, WAAGENT, gzip_bomb_bytes, listing, make_tar, make_zip,
                                   many_member_tar, nested_zips, overlapping_zip, tar_special,
                                   zip_bomb, zip_bytes)
except ImportError:
    from hostile_archives import (SYSLOG, WAAGENT, gzip_bomb_bytes, listing, make_tar, make_zip,
                                  many_member_tar, nested_zips, overlapping_zip, tar_special,
                                  zip_bomb, zip_bytes)

SHARED = Path(__file__).resolve().parents[2] / "shared"
REALCASES = SHARED / "realcases"

# a realistic big log: about 2 MB, compresses 10-30:1 (not a bomb)
BIG = b"".join(b"2024-03-02T08:00:01.%06dZ INFO ExtHandler ExtHandler line %d of the log\n"
               % (i * 7919 % 1000000, i) for i in range(25_000))
HISTORY = zip_bytes({"GoalState.xml": b"<GoalState><Incarnation>3</Incarnation></GoalState>",
                     "ExtensionsConfig.xml": b"<Extensions/>",
                     "waagent_status.json": b'{"aggregateStatus": {}}'})


def read_all(bundle: Bundle) -> dict[str, bytes]:
    out = {}
    for m in bundle.members:
        with m.open() as s:
            out[m.path] = s.read()
    return out


def messages(bundle: Bundle) -> str:
    return "\n".join(f"{p.source}: {p.message}" for p in bundle.problems)


@pytest.fixture
def sandbox(tmp_path):
    """(work folder, private temp root); afterwards nothing new outside tmp_path, temp emptied."""
    parent_before = set(os.listdir(tmp_path.parent))
    work = tmp_path / "work"
    work.mkdir()
    private = tmp_path / "private"
    private.mkdir()
    yield work, str(private)
    assert set(os.listdir(tmp_path.parent)) == parent_before
    assert listing(private) == set(), "the private temp folder was not removed"
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil-loganalyzer").exists()


def safe_open(path, sandbox_private, limits=None):
    """open_bundle that may only raise InputError; returns the bundle or the error."""
    try:
        return open_bundle(path, limits, tmp_dir=sandbox_private)
    except InputError as exc:
        assert "\n" not in str(exc)
        return exc


# ---------------------------------------------------------------------------- layouts

def test_logcollector_zip(sandbox):
    work, private = sandbox
    z = make_zip(work / "logs.zip", {
        "results.txt": b"2024-03-02T08:00:01Z INFO Starting log collection\n",
        "var/log/waagent.log": WAAGENT,
        "var/log/waagent.log.1": WAAGENT,
        "var/log/waagent.log.2.gz": gzip.compress(WAAGENT),
        "var/log/waagent.log-2024-05-01-1714521601.gz": gzip.compress(WAAGENT),
        "var/log/syslog": SYSLOG,
        "var/log/dmesg": b"[0.0] boot\n",
        "etc/waagent.conf": b"Logs.Verbose=n\n",
        "var/lib/waagent/history/2024-05-01T10-00-00__3.zip": HISTORY,
        "truncated_var_log_syslog.1": SYSLOG,
    })
    with open_bundle(z, tmp_dir=private) as b:
        assert b.layout == "logcollector-zip"
        kinds = {m.path: m.kind for m in b.members}
        assert kinds["results.txt"] == "results_txt"
        assert kinds["var/log/waagent.log.2.gz"] == "waagent_log"
        assert kinds["var/lib/waagent/history/2024-05-01T10-00-00__3.zip/GoalState.xml"] == \
            "goal_state_xml"
        assert kinds["truncated_var_log_syslog.1"] == "syslog"
        assert b.unknown == ["var/log/dmesg"]
        assert b.nested == ["var/lib/waagent/history/2024-05-01T10-00-00__3.zip"]
        data = read_all(b)
        assert data["var/log/waagent.log.2.gz"] == WAAGENT  # transparently decompressed
        assert data["var/log/waagent.log-2024-05-01-1714521601.gz"] == WAAGENT
        trunc = next(m for m in b.members if m.path == "truncated_var_log_syslog.1")
        assert trunc.truncated
        assert not next(m for m in b.members if m.path == "var/log/syslog").truncated
        assert b.problems == []


def test_member_open_gives_a_fresh_stream_each_time(sandbox):
    work, private = sandbox
    z = make_zip(work / "logs.zip", {"var/log/waagent.log": WAAGENT})
    with open_bundle(z, tmp_dir=private) as b:
        m = b.members[0]
        s1, s2 = m.open(), m.open()
        assert s1.read(10) == WAAGENT[:10]
        assert s2.read() == WAAGENT
        assert s1.read() == WAAGENT[10:]
        s1.close()
        s2.close()


@pytest.mark.parametrize("mode,suffix", [("w:gz", ".tar.gz"), ("w:gz", ".tgz"), ("w:xz", ".tar.xz"),
                                         ("w:bz2", ".tar.bz2"), ("w", ".tar"),
                                         ("w:gz", ".upload")])  # magic bytes, not the name
def test_tar_with_leading_folder(sandbox, mode, suffix):
    work, private = sandbox
    t = make_tar(work / f"bundle{suffix}", [
        ("bundle-123/var/log/waagent.log", WAAGENT),
        ("bundle-123/var/log/waagent.log.3.gz", gzip.compress(WAAGENT)),
        ("bundle-123/var/log/messages-20240501.bz2", bz2.compress(SYSLOG)),
        ("bundle-123/var/log/syslog.1.xz", lzma.compress(SYSLOG)),
        ("bundle-123/var/lib/waagent/history/2024-05-01T10-00-00__3.zip", HISTORY),
        ("bundle-123/var/log/boot.log", b"nothing\n"),
        ("bundle-123/var/log/big.log", BIG),  # spooled to the private folder
    ], mode=mode)
    with open_bundle(t, tmp_dir=private) as b:
        assert b.layout == "tar"
        data = read_all(b)
        assert data["bundle-123/var/log/waagent.log.3.gz"] == WAAGENT
        assert data["bundle-123/var/log/messages-20240501.bz2"] == SYSLOG
        assert data["bundle-123/var/log/syslog.1.xz"] == SYSLOG
        assert data["bundle-123/var/log/big.log"] == BIG
        assert b.problems == []
        assert ("bundle-123/var/lib/waagent/history/2024-05-01T10-00-00__3.zip/"
                "waagent_status.json") in data
        assert b.unknown == ["bundle-123/var/log/boot.log"]
        assert b.tmpdir is not None and os.path.isdir(b.tmpdir)
        assert oct(os.stat(b.tmpdir).st_mode & 0o777) == "0o700"
    assert not os.path.exists(b.tmpdir)



@pytest.mark.parametrize("mode,suffix", [("w:gz", ".tar.gz"), ("w", ".tar"), ("w:bz2", ".tar.bz2")])
def test_archives_one_after_the_other_are_all_read(sandbox, mode, suffix):
    """Red team 17: ``cat a.tar.gz b.tar.gz`` (or a.tar + b.tar) read only a, without a word. Each
    tar that follows the end blocks of the one before is read; anything else there is said."""
    work, private = sandbox
    a = make_tar(work / f"a{suffix}", [("b/var/log/waagent.log.1", WAAGENT), ("b/var/log/big.log", BIG)], mode=mode)
    c = make_tar(work / f"c{suffix}", [("b/var/log/waagent.log", WAAGENT + b"x\n")], mode=mode)
    both = work / f"both{suffix}"
    both.write_bytes(a.read_bytes() + c.read_bytes() + a.read_bytes())
    with open_bundle(both, tmp_dir=private) as b:
        data = read_all(b)
        assert data["b/var/log/waagent.log"] == WAAGENT + b"x\n" and data["b/var/log/big.log"] == BIG
        assert data["b/var/log/waagent.log.1"] == WAAGENT
        assert "appears twice" in messages(b)  # the third archive repeats the first: said, partial
    plain = make_tar(work / "plain.tar", [("b/var/log/waagent.log.1", WAAGENT)], mode="w")
    tail = work / "tail.tar"
    tail.write_bytes(plain.read_bytes() + WAAGENT)  # a log appended after a tar: said, not read
    with open_bundle(tail, tmp_dir=private) as b:
        assert list(read_all(b)) == ["b/var/log/waagent.log.1"]
        assert b.partial and "data after the end of the tar archive that is no tar" in messages(b)


def test_zips_one_after_the_other_and_a_stub_in_front_are_read(sandbox):
    """Red team 17: ``cat a.zip b.zip`` read only b (zipfile finds the last end record) and exited 0
    with no finding; a zip behind a shell stub (a self-extractor) was refused. Every zip in the
    file is read, oldest first; other data in front is said (partial)."""
    work, private = sandbox
    a = zip_bytes({"var/log/waagent.log.1": WAAGENT, "results.txt": b"x\n"})
    c = zip_bytes({"var/log/waagent.log": WAAGENT + b"y\n"})
    both = work / "both.zip"
    both.write_bytes(a + c)
    with open_bundle(both, tmp_dir=private) as b:
        data = read_all(b)
        assert data == {"var/log/waagent.log.1": WAAGENT, "results.txt": b"x\n", "var/log/waagent.log": WAAGENT + b"y\n"}
        assert not b.partial and b.problems == []
    spanned = work / "spanned.zip"  # some zip tools write a 4-byte spanning marker first: no stub
    spanned.write_bytes(b"PK\x07\x08" + c)
    with open_bundle(spanned, tmp_dir=private) as b:
        assert list(read_all(b)) == ["var/log/waagent.log"] and not b.partial and b.problems == []
    stub = work / "sfx.bin"
    stub.write_bytes(b"#!/bin/sh\nexec unzip \"$0\"\n" + c)
    with open_bundle(stub, tmp_dir=private) as b:
        assert read_all(b) == {"var/log/waagent.log": WAAGENT + b"y\n"}
        assert b.partial and "in front of the zip's first member that is no zip archive" in messages(b)

def test_logs_zip_inside_uploaded_tar(sandbox):
    work, private = sandbox
    inner = zip_bytes({"results.txt": b"x\n", "var/log/waagent.log": WAAGENT,
                       "var/lib/waagent/history/2024-05-01T10-00-00__1.zip": HISTORY})
    t = make_tar(work / "case.tar.gz", [("case/logs.zip", inner)])
    with open_bundle(t, tmp_dir=private) as b:
        paths = {m.path for m in b.members}
        assert "case/logs.zip/var/log/waagent.log" in paths
        assert "case/logs.zip/var/lib/waagent/history/2024-05-01T10-00-00__1.zip/GoalState.xml" \
            in paths
        assert b.nested == ["case/logs.zip",
                            "case/logs.zip/var/lib/waagent/history/2024-05-01T10-00-00__1.zip"]


def test_plain_zip_with_leading_folder_and_sniffed_log(sandbox):
    work, private = sandbox
    z = make_zip(work / "upload.zip", {"case42/var/log/waagent.log": WAAGENT,
                                       "case42/notes.txt": b"my notes\n",
                                       "case42/agent-copy.log": WAAGENT})
    with open_bundle(z, tmp_dir=private) as b:
        assert b.layout == "zip"
        kinds = {m.path: m.kind for m in b.members}
        assert kinds == {"case42/var/log/waagent.log": "waagent_log",
                         "case42/agent-copy.log": "waagent_log"}
        assert b.unknown == ["case42/notes.txt"]



def test_zip_directory_entry_that_holds_data_is_read(sandbox):
    """Red team 13: a member named 'var/log/waagent.log/' with the log in it was skipped without a
    word (zipfile calls it a directory by its trailing '/'); tar reads such an entry as the file."""
    import zipfile
    work, private = sandbox
    z = work / "slash.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("var/lib/waagent/", b"")  # a true directory entry: no word about it
        zf.writestr(zipfile.ZipInfo("var/log/waagent.log/"), WAAGENT)
        odd = zipfile.ZipInfo("var/log/waagent.log.1/")  # with a directory's mode (red team 16)
        odd.create_system, odd.external_attr = 3, (0o40755 << 16) | 0x10
        zf.writestr(odd, WAAGENT)
    with open_bundle(z, tmp_dir=private) as b:
        assert {m.path: m.kind for m in b.members} == {"var/log/waagent.log": "waagent_log",
                                                       "var/log/waagent.log.1": "waagent_log"}
        with b.members[0].open() as fh:
            assert fh.read() == WAAGENT
        assert [(p.source, p.severity) for p in b.problems] == [("var/log/waagent.log/", "info"),
                                                                ("var/log/waagent.log.1/", "info")]
        assert "directory entry" in b.problems[0].message


def test_directory_bundle(sandbox):
    work, private = sandbox
    root = work / "unpacked"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(WAAGENT)
    (root / "var/log/waagent.log.1.gz").write_bytes(gzip.compress(WAAGENT))
    (root / "var/lib/waagent/history").mkdir(parents=True)
    (root / "var/lib/waagent/history/2024-05-01T10-00-00__1.zip").write_bytes(HISTORY)
    (root / "var/lib/waagent/Certificates.xml").write_bytes(b"<x/>")
    with open_bundle(root, tmp_dir=private) as b:
        assert b.layout == "directory"
        data = read_all(b)
        assert data["var/log/waagent.log.1.gz"] == WAAGENT
        assert "var/lib/waagent/history/2024-05-01T10-00-00__1.zip/GoalState.xml" in data
        assert b.unknown == ["var/lib/waagent/Certificates.xml"]
        assert b.tmpdir is None  # a folder needs no copies


def test_bare_file_and_bare_gz(sandbox):
    work, private = sandbox
    f = work / "case011.log"
    f.write_bytes(WAAGENT)
    with open_bundle(f, tmp_dir=private) as b:
        assert b.layout == "file"
        assert [(m.path, m.kind) for m in b.members] == [("case011.log", "waagent_log")]
    g = work / "waagent.log.2.gz"
    g.write_bytes(gzip.compress(WAAGENT))
    with open_bundle(g, tmp_dir=private) as b:
        assert b.layout == "file" and b.members[0].kind == "waagent_log"
        assert read_all(b) == {"waagent.log.2.gz": WAAGENT}
    s = work / "paste.gz"  # name says nothing: sniffed from the decompressed head
    s.write_bytes(gzip.compress(SYSLOG * 3))
    with open_bundle(s, tmp_dir=private) as b:
        assert b.members[0].kind == "syslog"


@pytest.mark.skipif(not REALCASES.exists(), reason="shared/ not available")
def test_realcases_open_as_bare_files(sandbox):
    work, private = sandbox
    for path in sorted(REALCASES.glob("*.log")):
        with open_bundle(path, tmp_dir=private) as b:
            assert b.layout == "file" and len(b.members) == 1
            assert b.members[0].kind in ("waagent_log", "syslog", "vmsnapshot_log")
            assert read_all(b)[path.name] == path.read_bytes()


# ---------------------------------------------------------------------------- errors

def test_missing_input(sandbox):
    work, private = sandbox
    with pytest.raises(InputError, match="no such file or directory"):
        open_bundle(work / "nope.zip", tmp_dir=private)


@pytest.mark.parametrize("content", [b"", ])
def test_empty_file(sandbox, content):
    work, private = sandbox
    (work / "empty.log").write_bytes(content)
    with pytest.raises(InputError, match="empty bundle"):
        open_bundle(work / "empty.log", tmp_dir=private)


def test_empty_archives_and_folder(sandbox):
    work, private = sandbox
    make_zip(work / "e.zip", {})
    make_tar(work / "e.tar.gz", [])
    (work / "emptydir").mkdir()
    (work / "e.gz").write_bytes(gzip.compress(b""))
    for name in ("e.zip", "e.tar.gz", "emptydir", "e.gz"):
        with pytest.raises(InputError, match="empty bundle"):
            open_bundle(work / name, tmp_dir=private)



def test_an_empty_log_in_a_bundle_is_said(sandbox):
    """Red team 13: a zip whose only member was a 0-byte waagent.log gave 'no known cause' without a
    word that there was nothing to read. A config file (a data kind) has no lines to speak of."""
    import loganalyzer
    work, _ = sandbox
    z = make_zip(work / "only-empty.zip", {"var/log/waagent.log": b"", "etc/waagent.conf": b"Extensions.Enabled=y\n"})
    r = loganalyzer.analyze(z)
    assert [(p.source, p.severity, p.message) for p in r.problems] == [
        ("var/log/waagent.log", "info", "empty: no record in it")]

def test_binary_garbage_is_refused(sandbox):
    work, private = sandbox
    (work / "blob.bin").write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputError, match="refusing"):
        open_bundle(work / "blob.bin", tmp_dir=private)


def test_truncated_zip_is_one_line_error(sandbox):
    work, private = sandbox
    good = make_zip(work / "good.zip", {"var/log/waagent.log": WAAGENT * 100})
    (work / "cut.zip").write_bytes(good.read_bytes()[:200])
    err = safe_open(work / "cut.zip", private)
    assert isinstance(err, InputError)
    assert "not a readable archive" in str(err) and "bad zip" in str(err)


def test_truncated_tar_gz_keeps_first_members(sandbox):
    work, private = sandbox
    noise = os.urandom(3 << 20)  # incompressible, so the cut lands after the first member
    t = make_tar(work / "full.tar.gz", [("b/var/log/waagent.log", WAAGENT),
                                        ("b/var/log/syslog", noise),
                                        ("b/var/log/cloud-init.log", b"x\n")])
    data = t.read_bytes()
    (work / "cut.tar.gz").write_bytes(data[:len(data) // 2])
    with safe_open(work / "cut.tar.gz", private) as b:
        assert isinstance(b, Bundle)
        assert b.partial
        got = read_all(b)
        assert got["b/var/log/waagent.log"] == WAAGENT
        assert "truncated" in messages(b) or "corrupt" in messages(b)
        syslog = next((m for m in b.members if m.path == "b/var/log/syslog"), None)
        assert syslog is None or syslog.truncated


def test_corrupt_tar_is_one_line_error(sandbox):
    work, private = sandbox
    (work / "x.tar.gz").write_bytes(gzip.compress(b"\x01" * 2048))
    err = safe_open(work / "x.tar.gz", private)
    # not a tar inside the gzip: read as a bare compressed file, refused as binary
    assert isinstance(err, InputError)
    block = bytearray(512)
    block[0:4] = b"name"
    block[257:262] = b"ustar"
    block[124:136] = b"99999999999\0"  # a size, but a wrong checksum
    (work / "y.tar").write_bytes(bytes(block) + b"\0" * 1024)
    err = safe_open(work / "y.tar", private)
    assert isinstance(err, InputError) and "bad tar" in str(err)


# ---------------------------------------------------------------------------- hostile suite

def test_path_traversal_and_absolute_names_zip(sandbox):
    work, private = sandbox
    z = make_zip(work / "evil.zip", {"../evil": b"x", "../../tmp/evil-loganalyzer": b"x",
                                     "/etc/evil.log": b"x", "a/../../evil.log": b"x",
                                     "C:\\Windows\\evil.log": b"x",
                                     "ok/var/log/waagent.log": WAAGENT})
    with safe_open(z, private) as b:
        text = messages(b)
        assert text.count("path traversal") == 3
        assert text.count("absolute path") == 2
        assert [m.path for m in b.members] == ["ok/var/log/waagent.log"]


def test_path_traversal_links_devices_tar(sandbox):
    work, private = sandbox
    t = make_tar(work / "evil.tar.gz", [
        ("../evil", b"x"),
        ("/abs/var/log/waagent.log", WAAGENT),
        tar_special("b/var/log/syslog", tarfile.SYMTYPE, "/etc/shadow"),
        tar_special("b/var/log/messages", tarfile.LNKTYPE, "/etc/passwd"),
        tar_special("b/dev/sda", tarfile.BLKTYPE),
        tar_special("b/dev/tty", tarfile.CHRTYPE),
        tar_special("b/var/log/kern.log", tarfile.FIFOTYPE),
        ("b/var/log/waagent.log", WAAGENT),
    ])
    with safe_open(t, private) as b:
        text = messages(b)
        assert "path traversal" in text and "absolute path" in text
        assert b.partial  # /abs/var/log/waagent.log was a log the analysis would have read
        assert "a file the analysis would read" in text
        assert "symbolic link to '/etc/shadow'" in text
        assert "hard link to '/etc/passwd'" in text
        assert "block device" in text and "character device" in text and "fifo" in text
        assert [m.path for m in b.members] == ["b/var/log/waagent.log"]


def test_member_names_cannot_forge_report_lines(sandbox):
    work, private = sandbox
    z = make_zip(work / "names.zip", {"../x\nERROR forged line": b"x",
                                      "var/log/waagent.log": WAAGENT})
    with safe_open(z, private) as b:
        assert all("\n" not in p.message and "\n" not in p.source for p in b.problems)
        assert "forged line" in messages(b)


def test_symlink_and_device_members_in_zip(sandbox):
    work, private = sandbox
    z = make_zip(work / "links.zip", {"var/log/waagent.log": b"/etc/shadow",
                                      "var/log/syslog": b"", "var/log/messages": SYSLOG},
                 modes={"var/log/waagent.log": 0o120777, "var/log/syslog": 0o020644,
                        "var/log/messages": 0o100644})
    with safe_open(z, private) as b:
        text = messages(b)
        assert "symbolic link" in text and "character device" in text
        assert [m.path for m in b.members] == ["var/log/messages"]


def test_directory_symlinks_loops_and_fifos(sandbox, tmp_path):
    work, private = sandbox
    outside = tmp_path / "outside.log"
    outside.write_bytes(b"secret\n")
    root = work / "bundle"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(WAAGENT)
    os.symlink(outside, root / "var/log/syslog")  # file link leading out
    os.symlink("/etc", root / "etc")  # folder link leading out
    os.symlink("../..", root / "var/log/loop")  # loop back to the root
    os.symlink("waagent.log", root / "var/log/waagent.log.1")  # inside: the same file, read once
    os.mkfifo(root / "var/log/messages")  # would block a naive reader
    start = time.monotonic()
    with safe_open(root, private) as b:
        assert time.monotonic() - start < 5
        text = messages(b)
        assert "pointing outside the bundle" in text
        assert "directory loop" in text
        assert "fifo" in text
        assert "var/log/waagent.log.1: the same file as var/log/waagent.log" in text
        data = read_all(b)
        assert set(data) == {"var/log/waagent.log"}
        assert data["var/log/waagent.log"] == WAAGENT
        assert b"secret" not in b"".join(data.values())


def test_hard_links_in_a_folder_are_read_once(sandbox):
    """500 names of one 6 MB file made the analyzer read 3 GB (red team 8): each file is read
    under the first name found, the others are one info line each; a copy is still read."""
    work, private = sandbox
    root = work / "bundle"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(WAAGENT)
    for i in range(1, 6):
        os.link(root / "var/log/waagent.log", root / f"var/log/waagent.log.{i}")
    (root / "var/log/waagent.log.9").write_bytes(WAAGENT)  # same bytes, another file
    with safe_open(root, private) as b:
        assert set(read_all(b)) == {"var/log/waagent.log", "var/log/waagent.log.9"}
        assert messages(b).count("the same file as var/log/waagent.log (a link)") == 5


def test_unreadable_file_in_folder_is_a_problem(sandbox, monkeypatch):
    work, private = sandbox
    root = work / "bundle"
    root.mkdir()
    (root / "waagent.log").write_bytes(WAAGENT)
    (root / "syslog").write_bytes(SYSLOG)
    real = ingest._open_regular

    def deny(path):
        if path.endswith("syslog"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(ingest, "_open_regular", deny)
    with safe_open(root, private) as b:
        assert [m.path for m in b.members] == ["waagent.log"]
        assert "Permission denied" in messages(b)


def test_zip_bomb_is_refused_by_ratio(sandbox):
    work, private = sandbox
    z = zip_bomb(work / "bomb.zip", 64 << 20)
    assert z.stat().st_size < 1 << 20
    with safe_open(z, private) as b:
        assert b.members == []
        assert "zip bomb" in messages(b) and "compression ratio" in messages(b)


def test_zip_member_over_size_limit_is_cut(sandbox):
    work, private = sandbox
    z = make_zip(work / "big.zip", {"var/log/waagent.log": WAAGENT * 100})
    limits = Limits(max_member_bytes=1000)
    with safe_open(z, private, limits) as b:
        m = b.members[0]
        assert m.truncated
        assert len(read_all(b)[m.path]) == 1000
        assert "only the first" in messages(b)


def test_gzip_bomb_member_stream_stops(sandbox):
    work, private = sandbox
    bomb = gzip_bomb_bytes(64 << 20)
    z = make_zip(work / "logs.zip", {"var/log/waagent.log.2.gz": bomb})
    with safe_open(z, private) as b:
        m = b.members[0]
        with m.open() as s:
            got = len(s.read())
        assert got < 32 << 20
        assert m.truncated
        assert "gzip bomb" in messages(b)



def test_a_gzip_bomb_is_cut_at_the_same_byte_for_every_reader(sandbox):
    """Red team 17: the ratio stop dropped the output of the read that crossed it, so the fast
    reader (4 MiB reads) got 516 records of a bomb and the slow one (64 KiB reads) 25,286.
    Decompression runs in steps of a fixed size: every read size gets the same bytes."""
    work, private = sandbox
    head = WAAGENT * 200
    (work / "waagent.log.gz").write_bytes(gzip_bomb_bytes(16 << 20, head=head))
    lengths = set()
    with safe_open(work / "waagent.log.gz", private) as b:
        for size in (1000, 1 << 16, 1 << 22, 3 << 20):
            with b.members[0].open() as s:
                raw = s.raw  # the member's stream below its buffer: reads of exactly ``size``
                got = bytearray()
                while chunk := raw.read(size):
                    got += chunk
            assert got.startswith(head) and len(got) > len(head)
            lengths.add(len(got))
        assert "gzip bomb" in messages(b)
    assert len(lengths) == 1, lengths

def test_gzip_bomb_bare_file_and_size_limit(sandbox):
    work, private = sandbox
    (work / "waagent.log.gz").write_bytes(gzip_bomb_bytes(16 << 20))
    with safe_open(work / "waagent.log.gz", private) as b:
        assert len(read_all(b)["waagent.log.gz"]) < 8 << 20
        assert "gzip bomb" in messages(b)
    (work / "zeros.gz").write_bytes(gzip_bomb_bytes(16 << 20, head=b""))
    err = safe_open(work / "zeros.gz", private)
    assert isinstance(err, InputError) and "refusing" in str(err)
    limits = Limits(max_member_bytes=4096, max_ratio=10**9)
    (work / "w2.log.gz").write_bytes(gzip.compress(WAAGENT * 1000))
    with safe_open(work / "w2.log.gz", private, limits) as b:
        assert len(read_all(b)["w2.log.gz"]) == 4096
        assert "size limit" in messages(b) and b.members[0].truncated


def test_tar_gz_bomb_stops_the_stream(sandbox):
    work, private = sandbox
    t = work / "bomb.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        ti = tarfile.TarInfo("b/var/log/waagent.log")
        ti.size = 64 << 20
        tf.addfile(ti, io.BytesIO(b"\0" * ti.size))
        tf.addfile(*_entry("b/var/log/syslog", SYSLOG))
    start = time.monotonic()
    with safe_open(t, private, Limits(stream_ratio_floor=16 << 20)) as b:
        assert time.monotonic() - start < 10
        assert b.partial
        assert "bomb" in messages(b)


def test_zeros_nobody_reads_are_not_a_bomb(sandbox):
    """A sparse lastlog full of zeros is normal in a tarred /var/log; it is skipped, not fatal."""
    work, private = sandbox
    zeros = b"\0" * (40 << 20)
    t = make_tar(work / "varlog.tar.gz", [("var/log/lastlog", zeros),
                                           ("var/log/waagent.log", WAAGENT)])
    z = make_zip(work / "varlog.zip", {"var/log/lastlog": zeros, "var/log/waagent.log": WAAGENT})
    for bundle in (t, z):
        with safe_open(bundle, private) as b:
            assert [m.path for m in b.members] == ["var/log/waagent.log"]
            assert b.unknown == ["var/log/lastlog"]
            assert b.problems == [] and not b.partial


def _entry(name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    return ti, io.BytesIO(data)


def test_tar_with_100k_members_is_capped_fast(sandbox):
    work, private = sandbox
    t = many_member_tar(work / "many.tar", 100_000)
    start = time.monotonic()
    with safe_open(t, private) as b:
        elapsed = time.monotonic() - start
        assert elapsed < 15, elapsed  # about 2 s on an idle machine; a quadratic scan takes minutes
        assert b.partial
        assert "more than 50000 files" in messages(b)
        assert len(b.unknown) == 50_000


def test_zip_member_cap(sandbox):
    work, private = sandbox
    z = make_zip(work / "many.zip", {f"var/log/azure/X/f{i}.log": b"x\n" for i in range(40)})
    with safe_open(z, private, Limits(max_members=10)) as b:
        assert len(b.members) == 10 and b.partial
        assert "more than 10 files" in messages(b)


def test_deeply_nested_archives(sandbox):
    work, private = sandbox
    data = nested_zips(6, {"var/log/waagent.log": WAAGENT})
    (work / "deep.zip").write_bytes(data)
    with safe_open(work / "deep.zip", private) as b:
        assert b.members == []
        assert "nested more than 3 levels" in messages(b)
        assert len(b.nested) == 3
        assert b.partial  # its log was never read: the report must not look complete (red team 8)
    (work / "ok.zip").write_bytes(nested_zips(3, {"var/log/waagent.log": WAAGENT}))
    with safe_open(work / "ok.zip", private) as b:
        assert [m.kind for m in b.members] == ["waagent_log"]
        assert not b.partial


def test_corrupt_nested_archive_is_a_problem(sandbox):
    work, private = sandbox
    z = make_zip(work / "logs.zip", {
        "var/log/waagent.log": WAAGENT,
        "var/lib/waagent/history/2024-05-01T10-00-00__1.zip": b"PK\x03\x04 broken",
        "var/lib/waagent/history/2024-05-01T10-00-00__2.zip": b"not an archive",
    })
    with safe_open(z, private) as b:
        assert [m.path for m in b.members] == ["var/log/waagent.log"]
        text = messages(b)
        assert "bad zip" in text and "unknown format" in text


def test_50mb_single_line(sandbox):
    work, private = sandbox
    f = work / "waagent.log"
    with open(f, "wb") as out:
        out.write(b"2024-03-02T08:00:01.000001Z INFO Daemon ")
        out.write(b"A" * (50 << 20))
    with safe_open(f, private) as b:
        with b.members[0].open() as s:
            lines = list(iter_lines(s))
        assert len(lines) == 1 and lines[0].endswith(CUT_MARK)


def test_invalid_utf8_and_nul_bytes(sandbox):
    work, private = sandbox
    data = WAAGENT + b"\xff\xfe\x00\x00garbage\xc3\x28\n" + b"\x00" * 5000 + WAAGENT
    make_zip(work / "logs.zip", {"var/log/waagent.log": data})
    (work / "case.log").write_bytes(data)
    for name in ("logs.zip", "case.log"):
        with safe_open(work / name, private) as b:
            assert b.members[0].kind == "waagent_log"
            with b.members[0].open() as s:
                lines = list(iter_lines(s))
            assert lines[0].startswith("2024-03-02T08:00:01.000001Z")


def test_truncated_gzip_yields_what_decompresses(sandbox):
    work, private = sandbox
    body = b"".join(b"2024-03-02T08:00:01.%06dZ INFO Daemon line %d\n" % (i, i)
                    for i in range(20000))
    gz = gzip.compress(body)
    (work / "waagent.log.1.gz").write_bytes(gz[: len(gz) // 2])
    with safe_open(work / "waagent.log.1.gz", private) as b:
        got = read_all(b)["waagent.log.1.gz"]
        assert 0 < len(got) < len(body) and body.startswith(got)
        assert b.members[0].truncated
        assert "truncated" in messages(b)


def test_corrupt_zip_member_crc(sandbox):
    work, private = sandbox
    z = make_zip(work / "logs.zip", {"var/log/waagent.log": WAAGENT * 10})
    raw = bytearray(z.read_bytes())
    pos = raw.find(b"var/log/waagent.log") + len("var/log/waagent.log") + 5
    raw[pos] ^= 0xFF  # flip a byte of the deflated data
    z.write_bytes(bytes(raw))
    with safe_open(z, private) as b:
        read_all(b)
        assert b.members[0].truncated
        assert "read error" in messages(b) or "could not be read" in messages(b)


def test_oversized_pax_header(sandbox):
    work, private = sandbox
    t = work / "pax.tar"
    with tarfile.open(t, "w", format=tarfile.PAX_FORMAT) as tf:
        ti, data = _entry("b/var/log/waagent.log", WAAGENT)
        tf.addfile(ti, data)
        ti, data = _entry("b/var/log/syslog", SYSLOG)
        ti.pax_headers = {"comment": "x" * (2 << 20)}
        tf.addfile(ti, data)
    with safe_open(t, private) as b:
        assert [m.path for m in b.members] == ["b/var/log/waagent.log"]
        assert "oversized" in messages(b)


def _raw_pax_tar(path: Path, pax: bytes, kind: bytes = b"x", then=(("b/var/log/waagent.log", WAAGENT),)) -> Path:
    """A tar whose first member is an extended header with the raw record bytes ``pax``."""
    def block(ti: tarfile.TarInfo, data: bytes) -> bytes:
        return ti.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)
    head = tarfile.TarInfo("././@PaxHeader")
    head.type, head.size = kind, len(pax)
    out = block(head, pax)
    for name, data in then:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        out += block(ti, data)
    path.write_bytes(gzip.compress(out + b"\0" * 1024))
    return path


def test_pax_shapes_that_backtrack_are_refused_at_once(sandbox):
    """CVE-2024-6232: tarfile of Python < 3.11.10 parses these in quadratic time (200,000 digits:
    82 s; 1 MiB: about half an hour). check_pax refuses them before tarfile sees them."""
    work, private = sandbox
    for i, pax in enumerate([b"1" * 1_000_000, b"1 hdrcharset=" * 60_000 + b"\n",
                             b"20 comment=" + b"9" * 8 + b"\n" + b"1" * 500_000]):
        t = _raw_pax_tar(work / f"redos{i}.tar.gz", pax)
        started = time.process_time()
        with pytest.raises(InputError, match="malformed pax header"):
            open_bundle(t, tmp_dir=private)
        assert time.process_time() - started < 30  # a regression hangs for minutes, not seconds


@pytest.mark.parametrize("pax", [b"", b"20 comment=hello123\n", b"9 path=x\n" + b"\0" * 3,
                                 b"30 mtime=1700000000.123456789\n", b"21 hdrcharset=BINARY\n"])
def test_check_pax_accepts_well_formed_headers(pax: bytes):
    ingest.check_pax(pax)


@pytest.mark.parametrize("pax", [b"5 a=b\n", b"x path=y\n", b"99 path=y\n", b"8 pathy\n\n",
                                 b"9 path=x\nJUNK", b"1" * 64, b"21 hdrcharset=BINARY\n" * 2])
def test_check_pax_refuses_malformed_headers(pax: bytes):
    with pytest.raises(tarfile.HeaderError):
        ingest.check_pax(pax)


def test_pax_tar_written_by_python_reads(sandbox):
    """Long and non-ASCII names, per-member and global pax headers: read as before."""
    work, private = sandbox
    t = work / "pax.tar.gz"
    long_dir = "b/var/log/azure/" + "x" * 150 + "/"
    with tarfile.open(t, "w:gz", format=tarfile.PAX_FORMAT, pax_headers={"comment": "bundle"}) as tf:
        for name, data in [("b/var/log/waagent.log", WAAGENT), (long_dir + "handler.log", SYSLOG),
                           ("b/var/log/azure/Ünïcode/extension.log", SYSLOG)]:
            ti, stream = _entry(name, data)
            ti.pax_headers = {"comment": "ok"}
            tf.addfile(ti, stream)
    with safe_open(t, private) as b:
        assert sorted(m.path for m in b.members) == sorted(
            ["b/var/log/waagent.log", long_dir + "handler.log", "b/var/log/azure/Ünïcode/extension.log"])
        assert read_all(b)["b/var/log/waagent.log"] == WAAGENT


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(b"%d" % n) + len(body) != n:
        n += 1
    return b"%d" % n + body


def test_global_pax_headers_pile_up_no_further(sandbox):
    """Every member copies the global pax headers: 400 of 1 MiB took 427 MB; over 64 KiB in all
    the rest of the tar is not read (partial) and memory stays flat."""
    work, private = sandbox
    entries = []
    for i in range(200):
        entries.append(("b/var/log/waagent.log" if i == 0 else f"b/var/log/azure/X/f{i}.log", WAAGENT))
    raw = b""
    for i, (name, data) in enumerate(entries):
        head = tarfile.TarInfo("pax_global_header")
        head.type = tarfile.XGLTYPE
        rec = _pax_record(b"key%d" % i, b"v" * 1000)
        head.size = len(rec)
        raw += head.tobuf(tarfile.USTAR_FORMAT) + rec + b"\0" * (-len(rec) % 512)
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        raw += ti.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)
    t = work / "glob.tar.gz"
    t.write_bytes(gzip.compress(raw + b"\0" * 1024))
    with safe_open(t, private) as b:
        assert 0 < len(b.members) < 200 and b.partial
        assert "global pax headers over 64 KiB" in messages(b)


def test_extended_headers_in_a_row_are_capped(sandbox):
    work, private = sandbox
    raw = b""
    for i in range(50):  # 50 long-name headers in a row, then one member
        head = tarfile.TarInfo("././@LongLink")
        head.type, name = tarfile.GNUTYPE_LONGNAME, b"b/var/log/waagent.log\0"
        head.size = len(name)
        raw += head.tobuf(tarfile.GNU_FORMAT) + name + b"\0" * (-len(name) % 512)
    ti = tarfile.TarInfo("x")
    ti.size = len(WAAGENT)
    raw += ti.tobuf(tarfile.USTAR_FORMAT) + WAAGENT + b"\0" * (-len(WAAGENT) % 512)
    t = work / "chain.tar.gz"
    t.write_bytes(gzip.compress(raw + b"\0" * 1024))
    with pytest.raises(InputError, match="extended headers in a row"):
        open_bundle(t, tmp_dir=private)


def test_zip_member_with_a_nul_in_its_name_is_refused(sandbox):
    """zipfile cuts a name at NUL: 'extension.log<NUL>.bak' would pass for the real log."""
    work, private = sandbox
    z = make_zip(work / "nul.zip", {"var/log/waagent.log": WAAGENT, "var/log/syslog_X.bak": SYSLOG})
    z.write_bytes(z.read_bytes().replace(b"syslog_X.bak", b"syslog\x00X.bak"))
    with safe_open(z, private) as b:
        assert [m.path for m in b.members] == ["var/log/waagent.log"]
        assert "NUL byte" in messages(b)


def test_a_second_copy_of_a_member_is_flagged(sandbox):
    """Two members of one name: the later is read, and the bundle says it is partial (warning)."""
    work, private = sandbox
    z = work / "dup.zip"
    import zipfile
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("var/log/waagent.log", WAAGENT)
        zf.writestr("var/log/waagent.log", b"2024-03-02T08:00:01.000000Z INFO Daemon other\n")
    with safe_open(z, private) as b:
        assert read_all(b)["var/log/waagent.log"].endswith(b"other\n")
        assert b.partial
        assert [p.severity for p in b.problems if "appears twice" in p.message] == ["warning"]


def test_many_members_just_under_the_ratio_floor(sandbox):
    """Each member 1 MiB at ~1000:1 (the per-member check starts above 1 MiB): the members read
    are judged together once 4 MiB (here) of them are read."""
    work, private = sandbox
    line = b"2024-03-02T08:00:02.000002Z ERROR ExtHandler ExtHandler Something failed\n"
    data = (line * ((1 << 20) // len(line) + 1))[:1 << 20]
    z = make_zip(work / "many.zip", {f"var/log/waagent.log.{i}": data for i in range(12)})
    with safe_open(z, private, Limits(zip_ratio_floor=4 << 20)) as b:
        assert 3 <= len(b.members) <= 5 and b.partial
        assert "expand to over 250 times" in messages(b)
    ok = make_zip(work / "ok.zip", {f"var/log/waagent.log.{i}": os.urandom(1 << 19) for i in range(12)})
    with safe_open(ok, private, Limits(zip_ratio_floor=1 << 20)) as b:
        assert len(b.members) == 12 and not b.partial


def test_zip_whose_end_record_understates_its_list(sandbox):
    """zipfile reads every entry of the central directory, whatever count the end record gives:
    1.2M entries (66 MB) behind a count of 23 took 815 MB. The entries are counted first."""
    import struct
    import zipfile
    work, private = sandbox
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("var/log/waagent.log", WAAGENT)
    data = buf.getvalue()
    eocd = data.rfind(b"PK\x05\x06")
    _, _, _, _, n, size, off, _ = struct.unpack("<4sHHHHIIH", data[eocd:eocd + 22])
    cd = data[off:off + size]
    extra = b"".join(cd[:28] + struct.pack("<HHH", 7, 0, 0) + cd[34:46] + b"j/%05d" % i for i in range(5000))
    lying = data[:off] + cd + extra + struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n,
                                                   len(cd) + len(extra), off, 0)
    (work / "lie.zip").write_bytes(lying)
    with pytest.raises(InputError, match="lists 5001 members"):
        open_bundle(work / "lie.zip", Limits(max_members=100), tmp_dir=private)
    (work / "ok.zip").write_bytes(data)
    with safe_open(work / "ok.zip", private, Limits(max_members=100)) as b:
        assert [m.path for m in b.members] == ["var/log/waagent.log"]


def test_gzip_whose_header_never_ends(sandbox):
    """FCOMMENT set and no terminating NUL: nothing decompresses; one line that says so."""
    work, private = sandbox
    (work / "x.gz").write_bytes(b"\x1f\x8b\x08\x10" + b"\0" * 6 + b"c" * 100_000)
    err = safe_open(work / "x.gz", private)
    assert isinstance(err, InputError) and "empty or corrupt" in str(err)


def test_total_size_limit(sandbox):
    work, private = sandbox
    z = make_zip(work / "logs.zip", {f"var/log/azure/X/f{i}.log": b"x" * 1000 for i in range(5)})
    with safe_open(z, private, Limits(max_total_bytes=2500)) as b:
        assert len(b.members) == 2 and b.partial
        assert "total size limit" in messages(b)


def test_closed_bundle_refuses_open(sandbox):
    work, private = sandbox
    f = work / "waagent.log"
    f.write_bytes(WAAGENT)
    b = open_bundle(f, tmp_dir=private)
    b.close()
    b.close()  # idempotent
    with pytest.raises(ValueError):
        b.members[0].open()


# ---------------------------------------------------------------------------- properties

PREFIXES = [b"", b"\x1f\x8b\x08\x00", b"PK\x03\x04", b"PK\x05\x06", b"BZh9",
            b"\xfd7zXZ\x00", b"2024-03-02T08:00:01.000001Z INFO Daemon ", b"<GoalState>",
            b"\x28\xb5\x2f\xfd"]


@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=3000))
@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_bytes_as_bare_file(tmp_path, prefix, body):
    f = tmp_path / "input.bin"
    f.write_bytes(prefix + body)
    private = tmp_path / "private"
    private.mkdir(exist_ok=True)
    try:
        b = open_bundle(f, tmp_dir=str(private))
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    with b:
        read_all(b)
    assert os.listdir(private) == []


@given(data=st.binary(min_size=1, max_size=2000), cut=st.integers(min_value=1, max_value=4000))
@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_cut_and_corrupted_archives(tmp_path, data, cut):
    """Truncated / bit-flipped zips and tar.gz: InputError or a bundle, nothing else."""
    z = zip_bytes({"var/log/waagent.log": WAAGENT + data, "results.txt": b"x"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.addfile(*_entry("b/var/log/waagent.log", WAAGENT + data))
    for i, blob in enumerate((z, buf.getvalue())):
        mangled = bytearray(blob[:cut])
        if len(mangled) > 40:
            mangled[len(mangled) // 2] ^= data[0] | 1
        f = tmp_path / f"in{i}"
        f.write_bytes(bytes(mangled))
        try:
            b = open_bundle(f, tmp_dir=str(tmp_path))
        except InputError:
            continue
        with b:
            read_all(b)


# ---------------------------------------------------------------------------- red-team regressions

def test_overlapping_zip_entries_are_not_expanded_again_and_again(sandbox):
    """20,000 directory entries sharing one nested zip's data: read once, the rest refused."""
    work, private = sandbox
    z = overlapping_zip(work / "overlap.zip", "var/lib/waagent/history/a.zip", HISTORY, 20_000)
    start = time.monotonic()
    with safe_open(z, private) as b:
        assert time.monotonic() - start < 2
        assert b.partial
        assert "20000 members share their data" in messages(b)
        assert b.nested == ["var/lib/waagent/history/a.zip"]
        assert sorted(m.path for m in b.members) == [
            "var/lib/waagent/history/a.zip/ExtensionsConfig.xml",
            "var/lib/waagent/history/a.zip/GoalState.xml",
            "var/lib/waagent/history/a.zip/waagent_status.json"]


def test_folder_nested_1000_levels_is_cut_not_a_recursion_error(sandbox):
    work, private = sandbox
    root = work / "bundle"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(WAAGENT)
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(1000):  # relative to a folder fd: no path gets near PATH_MAX
            os.mkdir("d", dir_fd=fd)
            new = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
        with open(os.open("waagent.log.1", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(WAAGENT)
    finally:
        os.close(fd)
    try:
        with safe_open(root, private) as b:
            assert [m.path for m in b.members] == ["var/log/waagent.log"]
            assert b.partial and "more than 100 levels deep" in messages(b)
    finally:
        _remove_deep(root / "d")


def _remove_deep(top: Path) -> None:
    """Remove a chain top/d/d/... level by level (rmtree recurses, and so fails at 1000 levels)."""
    spare = top.with_name("spare")
    while (top / "d").is_dir():
        os.rename(top / "d", spare)
        for f in top.iterdir():
            f.unlink()
        top.rmdir()
        os.rename(spare, top)
    shutil.rmtree(top)


def test_in_memory_spools_have_a_bundle_wide_budget(sandbox, monkeypatch):
    """Many small nested archives go to the private temp folder once the budget is spent."""
    work, private = sandbox
    monkeypatch.setattr(ingest, "_MEMORY_BUDGET", 3 * len(HISTORY))
    z = make_zip(work / "h.zip", {f"var/lib/waagent/history/2024-03-02T08-00-00__{i}.zip": HISTORY
                                  for i in range(8)})
    with safe_open(z, private) as b:
        assert len(b.nested) == 8 and len(b.members) == 24
        assert b.tmpdir is not None and len(os.listdir(b.tmpdir)) == 5
        assert all(v for v in read_all(b).values())


def test_undecodable_tar_names_are_printable(sandbox):
    work, private = sandbox
    t = make_tar(work / "names.tar", [("var/log/wa\udcffagent.log", WAAGENT),
                                      ("var/log/../x\udcfe/syslog", SYSLOG)], mode="w")
    with safe_open(t, private) as b:
        assert [m.path for m in b.members] == ["var/log/wa\ufffdagent.log"]
        messages(b).encode("utf-8")  # no lone surrogate reaches a name or a problem message


def test_zip_with_a_huge_member_list_is_refused_before_it_is_read(sandbox):
    """zipfile holds the whole central directory and ~1 KB per entry in memory: both are capped."""
    work, private = sandbox
    z = make_zip(work / "long.zip", {f"var/log/azure/X/{'n' * 200}{i}.log": b"x\n" for i in range(60)})
    err = safe_open(z, private, Limits(max_directory_bytes=10_000))
    assert isinstance(err, InputError) and "list of members is" in str(err)
    with safe_open(z, private) as b:  # under the default caps it is read
        assert len(b.members) == 60
    assert Limits(max_members=50_000).max_listed <= 200_000  # ~1 KB each: stays well under 500 MB


def test_one_entry_with_a_bogus_offset_is_not_called_overlapping(sandbox):
    work, private = sandbox
    data = bytearray(zip_bytes({"var/log/waagent.log": WAAGENT, "var/log/syslog": SYSLOG}))
    eocd = data.rfind(b"PK\x05\x06")
    data[eocd + 16:eocd + 20] = (10 ** 9).to_bytes(4, "little")  # directory "far behind"
    (work / "bogus.zip").write_bytes(bytes(data))
    b = safe_open(work / "bogus.zip", private)
    if not isinstance(b, InputError):
        with b:
            assert "share their data" not in messages(b)


def test_gzip_with_a_wrong_checksum_keeps_its_content(sandbox):
    """zlib raises at the trailer and drops what that call decompressed: a small rotated log
    with a bad CRC used to come out empty ("empty bundle")."""
    work, private = sandbox
    for body in (WAAGENT, BIG):
        gz = bytearray(gzip.compress(body))
        gz[-8:-4] = b"\0\0\0\0"  # CRC32
        bare = work / "waagent.log.1.gz"
        bare.write_bytes(bytes(gz))
        zipped = make_zip(work / "crc.zip", {"var/log/waagent.log.2.gz": bytes(gz)})
        for path in (bare, zipped):
            with safe_open(path, private) as b:
                assert list(read_all(b).values()) == [body]
                assert "checksum does not match" in messages(b)
                assert b.members[0].truncated


def test_a_bundle_whose_only_log_is_refused_says_why(tmp_path):
    """The one-line error names the refusal (a bomb), not just 'no known input'."""
    from loganalyzer import analyze  # noqa: PLC0415
    z = zip_bomb(tmp_path / "bomb.zip", 64 << 20)
    with pytest.raises(InputError, match=r"nothing readable in .*compression ratio .* \(zip bomb\?\)"):
        analyze(z)


def test_a_name_flagged_utf8_that_is_not_refuses_that_member_only(tmp_path):
    """Python's zipfile refuses the whole archive when one name claims UTF-8 (flag bit 11) but is
    not: the other members are read."""
    from loganalyzer import analyze  # noqa: PLC0415
    raw = zip_bytes({"var/log/waagent.log": WAAGENT, "var/log/Qwaagent.log": WAAGENT})
    data = bytearray(raw.replace(b"var/log/Qwaagent.log", b"var/log/\xffwaagent.log"))
    name = b"var/log/\xffwaagent.log"
    local, central = data.find(name) - 30, data.rfind(name) - 46  # fixed header sizes before a name
    assert data[local:local + 4] == b"PK\x03\x04" and data[central:central + 4] == b"PK\x01\x02"
    for flags_at in (local + 6, central + 8):
        flags = int.from_bytes(data[flags_at:flags_at + 2], "little") | 0x800  # "the name is UTF-8"
        data[flags_at:flags_at + 2] = flags.to_bytes(2, "little")
    z = tmp_path / "flagged.zip"
    z.write_bytes(bytes(data))
    import zipfile  # noqa: PLC0415
    with pytest.raises(UnicodeDecodeError):
        zipfile.ZipFile(z)
    report = analyze(z)
    read = {i.path: i.records for i in report.inputs if i.status == "read"}
    assert read == {"var/log/waagent.log": 2}


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), probe=st.integers(1, 200), chunk=st.integers(1, 300))
def test_cr_line_ends_reads_every_byte_once(data, probe, chunk):
    """The stream handed on is the file itself, or the file with every CR read as LF when its
    first bytes hold a CR and no LF; reads of any size lose and repeat nothing."""
    from loganalyzer.textio import cr_line_ends
    stream, cr_only = cr_line_ends(io.BytesIO(data), probe)
    got = b""
    while True:
        part = stream.read(chunk)
        if not part:
            break
        got += part
    head = data[:probe]
    assert cr_only == (b"\r" in head and b"\n" not in head)
    assert got == (data.replace(b"\r", b"\n") if cr_only else data)


def test_a_log_with_cr_line_ends_reads_like_lf(tmp_path):
    """Classic Mac line ends: the same findings as the LF file, and an info problem; a cut line is
    reported (it was silent)."""
    import loganalyzer
    from conftest import SAMPLES
    lf = tmp_path / "lf" / "var/log"
    cr = tmp_path / "cr" / "var/log"
    for d in (lf, cr):
        d.mkdir(parents=True)
    src = next(p for p in (SAMPLES / "agent-crash-loop").rglob("waagent.log"))
    text = src.read_bytes().replace(b"\r\n", b"\n")
    (lf / "waagent.log").write_bytes(text)
    (cr / "waagent.log").write_bytes(text.replace(b"\n", b"\r"))
    a, b = loganalyzer.analyze(lf.parent.parent), loganalyzer.analyze(cr.parent.parent)
    assert [(f.cause, f.count) for f in a.findings] == [(f.cause, f.count) for f in b.findings]
    assert any("lone CR" in p.message for p in b.problems)
    assert not any("lone CR" in p.message for p in a.problems)
    (lf / "waagent.log").write_bytes(text + b"2024-01-01T00:00:00.000000Z INFO Daemon " + b"x" * 100_000 + b"\n")
    assert any("1 line(s) longer than 64 KiB cut" in p.message for p in loganalyzer.analyze(lf.parent.parent).problems)


@pytest.mark.parametrize("fmt", ["gz", "bz2", "xz"])
def test_every_member_of_a_multi_member_file_is_read(sandbox, fmt):
    """A member that ended a few bytes before a 16 KiB read ended left too little of the next
    member's magic to recognise it: the rest of the file was dropped with an info line (red team 8:
    a 2-member waagent.log.1.gz lost its second half and the cause). gzip members (stored, so
    their size is exact) end at every byte around the read boundaries; bzip2 and xz members of
    a few sizes; every member is read."""
    import random
    work, private = sandbox
    rnd = random.Random(7)
    second = b"".join(b"2024-01-01T00:00:0%d.000000Z INFO ExtHandler second member\n" % (i % 10) for i in range(50))
    if fmt == "gz":
        overhead = len(gzip.compress(b"x" * 16000, compresslevel=0)) - 16000
        cases = [(end, lambda b: gzip.compress(b, compresslevel=0)) for end in
                 [*range(16384 - 12, 16384 + 3), *range(32768 - 10, 32768 + 1)]]
        sizes = [(end - overhead, pack) for end, pack in cases]
    else:
        pack = bz2.compress if fmt == "bz2" else lzma.compress
        sizes = [(n, pack) for n in (16300, 16370, 32700)]
    for n, pack in sizes:
        body = bytes(rnd.getrandbits(8) for _ in range(n - 1)).replace(b"\n", b"x") + b"\n"
        log = work / f"waagent.log.{n}.{fmt}"
        log.write_bytes(pack(body) + pack(second))
        with safe_open(log, private) as b:
            data = b"".join(read_all(b).values())
            assert data == body + second, (n, len(pack(body)))
            assert "unexpected data" not in messages(b)


def test_an_encrypted_log_makes_the_bundle_partial(sandbox):
    """A ZipCrypto member (flag bit 0) is not read; when it is a log the report must say it
    is partial (red team 8: 'no cause found' for a bundle whose only log was never read)."""
    work, private = sandbox
    z = make_zip(work / "enc.zip", {"var/log/waagent.log": WAAGENT, "etc/hostname": b"vm\n"})
    data = bytearray(z.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the encrypted flag of the log's headers
        at = 0
        while (at := data.find(sig, at)) != -1:
            flag = at + (6 if sig == b"PK\x03\x04" else 8)
            name_at = at + (30 if sig == b"PK\x03\x04" else 46)
            if data[name_at:name_at + 19] == b"var/log/waagent.log":
                data[flag] |= 1
            at += 4
    z.write_bytes(bytes(data))
    with safe_open(z, private) as b:
        assert "encrypted member: not read (bundle is partial)" in messages(b) and b.partial
        assert [m.path for m in b.members] == ["etc/hostname"]


# --- red team 11: what is not read makes the bundle partial; files that change; other formats ---

def test_a_refused_fifo_under_a_logs_name_makes_the_bundle_partial(sandbox):
    work, private = sandbox
    root = work / "bundle"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(WAAGENT)
    os.mkfifo(root / "var/log/syslog")
    with safe_open(root, private) as b:
        assert b.partial and "syslog: a fifo" in messages(b) and "bundle is partial" in messages(b)
    os.remove(root / "var/log/syslog")
    os.mkfifo(root / "var/log/not-a-log.bin")  # a file no parser reads: reported, not partial
    with safe_open(root, private) as b:
        assert not b.partial and "fifo" in messages(b)


def test_an_unreadable_log_makes_the_bundle_partial(sandbox, monkeypatch):
    """As root a chmod 000 file is readable; the open is made to fail the way it does for a user."""
    work, private = sandbox
    root = work / "bundle"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(WAAGENT)
    real = ingest._open_regular

    def denied(path, *a, **k):
        if str(path).endswith("waagent.log"):
            raise PermissionError(13, "Permission denied")
        return real(path, *a, **k)
    monkeypatch.setattr(ingest, "_open_regular", denied)
    with safe_open(root, private) as b:
        assert b.partial and "not readable: Permission denied (bundle is partial)" in messages(b)


def test_a_file_that_shrinks_while_read_is_a_problem(sandbox):
    """A log truncated (rotation, copytruncate) between listing and reading gave a clean report."""
    work, private = sandbox
    root = work / "bundle"
    (root / "var/log").mkdir(parents=True)
    log = root / "var/log/waagent.log"
    log.write_bytes(WAAGENT * 50)
    with safe_open(root, private) as b:
        member = b.members[0]
        os.truncate(log, len(WAAGENT))
        with member.open() as f:
            assert f.read() == WAAGENT
        assert member.truncated and "shrank while being read" in messages(b)
    with safe_open(root, private) as b:  # unchanged: nothing said
        with b.members[0].open() as f:
            f.read()
        assert "while being read" not in messages(b) and not b.members[0].truncated
        with open(log, "ab") as g:
            g.write(WAAGENT)
        with b.members[0].open() as f:
            assert f.read() == WAAGENT * 2
        assert "grew while being read" in messages(b) and not b.members[0].truncated


@pytest.mark.parametrize("magic, name", [(b"\x04\x22\x4d\x18", "lz4"), (b"\x28\xb5\x2f\xfd", "zstd"),
                                         (b"7z\xbc\xaf\x27\x1c", "7-Zip"), (b"Rar!\x1a\x07\x00", "RAR")])
def test_compression_formats_the_library_cannot_read_are_refused_by_name(sandbox, magic, name):
    """An .lz4 log was read as binary 'text' and gave a clean report (red team 11)."""
    work, private = sandbox
    bare = work / "waagent.log.x"
    bare.write_bytes(magic + os.urandom(200))
    err = safe_open(bare, private)
    assert isinstance(err, InputError) and name in str(err)
    root = work / "bundle"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(WAAGENT)
    (root / "var/log/waagent.log.1").write_bytes(magic + os.urandom(200))
    with safe_open(root, private) as b:
        data = read_all(b)
        assert data.get("var/log/waagent.log.1", b"") == b"" and name in messages(b)
        assert [m.truncated for m in b.members if m.path.endswith(".1")] == [True]
