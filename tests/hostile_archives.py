"""Builders of hostile and ordinary bundles for the ingest tests (all made on the fly)."""
from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

# the project's own lines, in the agent's formats (not copied from any real log)
WAAGENT = (b"2024-03-02T08:00:01.000001Z INFO Daemon Daemon Azure Linux Agent Version: 2.9.1.1\n"
           b"2024-03-02T08:00:02.000002Z ERROR ExtHandler ExtHandler Something failed\n")
SYSLOG = b"Mar  2 08:00:01 vm1 python3[812]: 2024-03-02T08:00:01.000001Z INFO Daemon hello\n"


def _info(name: str, size: int = 0, mode: int | None = None) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=(2024, 3, 2, 8, 0, 0))
    zi.compress_type = zipfile.ZIP_DEFLATED
    if mode is not None:
        zi.create_system = 3
        zi.external_attr = mode << 16
    return zi


def make_zip(path: Path, entries: dict[str, bytes], modes: dict[str, int] | None = None) -> Path:
    """A zip with ``entries``; ``modes`` gives a Unix st_mode per name (links, devices)."""
    modes = modes or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(_info(name, mode=modes.get(name)), data)
    return path


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(_info(name), data)
    return buf.getvalue()


def make_tar(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz"
             ) -> Path:
    """A tar of (name, data) pairs and ready-made TarInfo objects (links, devices)."""
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            if isinstance(e, tarfile.TarInfo):
                t.addfile(e)
            else:
                name, data = e
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mtime = 1709366400
                t.addfile(ti, io.BytesIO(data))
    return path


def tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    return ti


def many_member_tar(path: Path, count: int) -> Path:
    """An uncompressed tar of ``count`` empty files, written fast from one header template."""
    ti = tarfile.TarInfo("x")
    ti.mtime = 0
    template = bytearray(ti.tobuf(format=tarfile.USTAR_FORMAT))
    with open(path, "wb") as f:
        for i in range(count):
            block = bytearray(template)
            name = f"junk/f{i:07d}".encode()
            block[0:100] = name.ljust(100, b"\0")
            block[148:156] = b" " * 8
            chk = sum(block)
            block[148:156] = b"%06o\0 " % chk
            f.write(block)
        f.write(b"\0" * 1024)
    return path


def zip_bomb(path: Path, size: int = 64 << 20, name: str = "var/log/waagent.log") -> Path:
    """One member of ``size`` zero bytes (ratio about 1000:1)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(_info(name), "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
    return path


def gzip_bomb_bytes(size: int = 64 << 20, head: bytes = WAAGENT) -> bytes:
    """A log line, then ``size`` zero bytes, gzip-compressed (ratio about 1000:1)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as g:
        g.write(head)
        chunk = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            g.write(chunk)
    return buf.getvalue()


def nested_zips(depth: int, inner: dict[str, bytes]) -> bytes:
    """A zip inside a zip ... ``depth`` levels; the innermost holds ``inner``."""
    data = zip_bytes(inner)
    for level in range(depth - 1):
        data = zip_bytes({f"level{depth - level - 1}.zip": data})
    return data


def listing(folder: Path) -> set[str]:
    """Every path below ``folder`` (to prove nothing was written where it must not be)."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        for n in dirnames + filenames:
            out.add(os.path.join(dirpath, n))
    return out


def is_fifo(path: Path) -> bool:
    return stat.S_ISFIFO(os.lstat(path).st_mode)


def overlapping_zip(path: Path, name: str, data: bytes, copies: int) -> Path:
    """A zip whose central directory lists ``name`` ``copies`` more times, every entry pointing
    at the same local header and data (the "non-recursive" zip bomb's overlapping entries)."""
    import struct
    import zlib
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    blob = comp.compress(data) + comp.flush()
    raw = name.encode()
    crc = zlib.crc32(data)
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(blob), len(data),
                        len(raw), 0) + raw + blob
    entry = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 0x031E, 20, 0, 8, 0, 0, crc, len(blob),
                        len(data), len(raw), 0, 0, 0, 0, 0o100644 << 16, 0) + raw
    n = copies + 1
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, len(entry) * n, len(local), 0)
    path.write_bytes(local + entry * n + end)
    return path
