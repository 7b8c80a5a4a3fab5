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
