"""The analyser never opens a network connection, never runs a program, writes nothing outside its temp folder."""
from __future__ import annotations

import os
import socket
import subprocess

import pytest

import loganalyzer
from loganalyzer.render import render
from conftest import SAMPLES


class Forbidden(AssertionError):
    pass


def _forbid(*_a, **_k):
    raise Forbidden("side effect")


@pytest.fixture
def sealed(monkeypatch, tmp_path):
    for name in ("connect", "connect_ex", "sendto", "bind"):
        monkeypatch.setattr(socket.socket, name, _forbid)
    monkeypatch.setattr(socket, "create_connection", _forbid)
    monkeypatch.setattr(socket, "getaddrinfo", _forbid)
    monkeypatch.setattr(subprocess, "Popen", _forbid)
    monkeypatch.setattr(os, "system", _forbid)
    for name in ("execv", "execve", "execvp", "execvpe", "spawnv", "spawnve", "posix_spawn", "fork"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _forbid)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.chdir(tmp_path)
    return tmp


@pytest.mark.parametrize("name", ["no-internet-access.zip", "agent-crash-loop.tar.gz", "healthy",
                                  "extension-load-failure", "dhcp-245-missing"])
def test_analysis_and_rendering_are_sealed(sealed, tmp_path, name):
    report = loganalyzer.analyze(SAMPLES / name)
    for fmt in ("text", "json", "md", "html"):
        render(report, fmt, lang="de")
    assert list(sealed.iterdir()) == []  # the private temp folder is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_removes_the_private_temp_folder(tmp_path, signame):
    """``timeout`` or ``kill`` ends a run like ^C does: exit 143, the bundle's temp folder is gone;
    so does a closed terminal (SIGHUP, exit 129; red team 17: it left the spooled copies)."""
    import signal  # noqa: PLC0415
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415
    import io  # noqa: PLC0415
    import tarfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    line = b"2024-03-02T08:00:01.000001Z INFO ExtHandler ExtHandler quiet line number %d of many\n"
    data = b"".join(line % i for i in range(400_000))
    bundle = tmp_path / "big.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:  # tar members are spooled to the temp folder
        for name in ("var/log/waagent.log", "var/log/waagent.log.1"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=str(Path(loganalyzer.__file__).parents[1]))
    sig = getattr(signal, signame)
    # the run must see the signal's default disposition: one inherited as ignored (nohup, a CI shell)
    # is kept ignored by design
    proc = subprocess.Popen([sys.executable, "-m", "loganalyzer.cli", str(bundle), "--format", "json",
                             "--jobs", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not any(tmp.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be terminated"
    assert any(tmp.iterdir())  # the private temp folder exists while the run reads the bundle
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert err.decode().strip() == "loganalyze: terminated"
    assert list(tmp.iterdir()) == []
