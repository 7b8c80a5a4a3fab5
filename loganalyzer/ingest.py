"""Open a log bundle safely: the log collector's logs.zip, any zip/tar, a folder, a bare file.

    with open_bundle("logs.zip") as bundle:
        for member in bundle.members:          # only files some parser reads
            with member.open() as stream:      # fresh, decompressed, size-capped stream
                ...
        bundle.problems                        # refused members, bombs, cut files ...

Untrusted archives are read as streams. Nothing of an archive is written to disk except
into a private temporary folder (mode 0700) that :meth:`Bundle.close` removes; names from
the archive are never used as file names. Links, devices, ``..`` and absolute member paths
are refused and reported, never followed. Bombs (compression ratio, sizes, member count,
nesting depth) stop at the :class:`Limits` and become problems, not crashes. Nothing here
opens a network connection or runs a program.
"""
from __future__ import annotations

import bz2
import io
import lzma
import os
import re
import shutil
import stat
import struct
import tarfile
import tempfile
import weakref
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

from .inputs import (SNIFF_BYTES, TEXT_KINDS, classify, is_truncated_name,
                     looks_like_archive_name, normalise, sniff)
from .model import ParseProblem
from .textio import without_surrogates

__all__ = ["Bundle", "InputError", "Limits", "Member", "open_bundle"]

MiB = 1 << 20
GiB = 1 << 30
_CHUNK = 1 << 20
_IN_MEMORY = 1 * MiB  # spooled members up to this size stay in memory
_MEMORY_BUDGET = 64 * MiB  # all in-memory spools of a bundle together; the rest go to disk
_HEAD = 1024
MAX_CONCATENATED = 64  # archives one after the other in one file (cat a.zip b.zip) that are read


class InputError(Exception):
    """The input cannot be read at all; ``str()`` is one line for the user."""


@dataclass
class Limits:
    """Caps that turn bombs and huge inputs into problems instead of crashes."""

    max_members: int = 50_000  # files looked at, over all nesting levels
    max_total_bytes: int = 8 * GiB  # uncompressed bytes of all kept members / of a tar stream
    max_member_bytes: int = 2 * GiB  # one member (a stream that reaches it just ends)
    max_ratio: float = 250.0  # uncompressed:compressed, checked beyond ratio_floor bytes
    ratio_floor: int = 1 * MiB
    # a tar stream is decompressed whole (also members nobody reads, like a sparse lastlog
    # full of zeros), so its ratio is only judged once this much came out of it
    stream_ratio_floor: int = 256 * MiB
    # the zip members read, together, are judged once this much of them is read
    zip_ratio_floor: int = 64 * MiB
    max_depth: int = 3  # archives inside archives
    max_dir_depth: int = 100  # folder levels of a folder bundle (deeper ones are not read)
    max_directory_bytes: int = 64 * MiB  # a zip's central directory (read whole into memory)

    @property
    def max_listed(self) -> int:
        """A zip whose directory declares more entries than this is refused outright (each
        listed entry costs about 1 KB of memory before any member is read)."""
        return max(4 * self.max_members, 1000)


@dataclass(eq=False)
class Member:
    """One file of the bundle that a parser reads (or a file of a nested archive).

    ``path`` is bundle-relative ('/'-separated, no leading '/'); a file of a nested archive
    is ``<archive path>/<inner path>``. ``size`` is the size as stored (compressed for a
    ``.gz`` rotation). ``truncated`` is True for a log collector ``truncated_`` copy and for
    a file cut by a limit or by corruption (set as soon as a read finds out).
    """

    path: str
    kind: str | None
    size: int
    truncated: bool = False
    _opener: Callable[[], BinaryIO] | None = field(default=None, repr=False)
    listed: bool = False  # a file of a folder: ``size`` is what stat said (checked when read)
    _bundle: "Bundle | None" = field(default=None, repr=False)

    def open(self) -> BinaryIO:
        """A fresh binary stream of the content, decompressed (.gz/.bz2/.xz) and capped."""
        bundle = self._bundle
        limits = bundle.limits if bundle else Limits()
        if bundle is not None and bundle.closed:
            raise ValueError(f"bundle is closed: {bundle.path}")

        def report(message: str, severity: str = "warning") -> None:
            if severity != "info":
                self.truncated = True
            if bundle is not None:
                bundle._problem(self.path, message, severity)

        try:
            raw = self._opener() if self._opener else io.BytesIO()
        except Exception as exc:  # noqa: BLE001 - anything a hostile file makes the reader raise
            report(f"cannot read: {_why(exc)}", "error")
            return io.BufferedReader(_Prefixed(b"", None))
        stream: _Raw = _Guard(raw, report, self.size if self.listed else None)
        head = _read_exactly(stream, 8)
        fmt = _detect(head)
        stream = _Prefixed(head, stream)
        if fmt in ("gz", "bz2", "xz"):
            stream = _Decompress(stream, fmt, limits.max_member_bytes, limits, report)
        elif fmt in UNSUPPORTED:
            stream.close()
            report(f"{UNSUPPORTED[fmt]}: not supported, decompress it first")
            return io.BufferedReader(_Prefixed(b"", None))
        return io.BufferedReader(_Capped(stream, limits.max_member_bytes, report), 1 << 16)


class Bundle:
    """An opened bundle. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str, limits: Limits, tmp_root: str | None = None) -> None:
        self.path = path
        self.name = os.path.basename(os.path.normpath(path)) or path
        self.layout = ""
        self.limits = limits
        self.members: list[Member] = []
        self.unknown: list[str] = []  # files nobody parses (for a --show-unparsed view)
        self.nested: list[str] = []  # archives inside the bundle that were expanded
        self.refused: list[str] = []  # files in the bundle that were refused (said in problems)
        self.problems: list[ParseProblem] = []
        self.partial = False  # a limit or corruption left part of the bundle unread
        self.closed = False
        self._tmp_root = tmp_root
        self._tmpdir: str | None = None
        self._resources: list = []  # open ZipFile objects
        self._seen_problems: set[tuple[str, str]] = set()
        self._finalizer = weakref.finalize(self, _cleanup, self._resources, [None])

    # -- public helpers
    @property
    def tmpdir(self) -> str | None:
        """The private temporary folder, if one was needed (removed by :meth:`close`)."""
        return self._tmpdir

    def by_kind(self, kind: str) -> list[Member]:
        return [m for m in self.members if m.kind == kind]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._finalizer()

    def __enter__(self) -> "Bundle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __repr__(self) -> str:
        return (f"Bundle({self.path!r}, layout={self.layout!r}, members={len(self.members)}, "
                f"unknown={len(self.unknown)}, problems={len(self.problems)})")

    # -- internal
    def _problem(self, source: str, message: str, severity: str = "warning") -> None:
        source, message = _printable(source), _printable(message)  # names come from archives
        key = (source, message)
        if key in self._seen_problems:
            return
        self._seen_problems.add(key)
        self.problems.append(ParseProblem(source=source, message=message, severity=severity))

    def _mkdtemp(self) -> str:
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="loganalyzer-", dir=self._tmp_root)
            os.chmod(self._tmpdir, 0o700)
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, _cleanup, self._resources, [self._tmpdir])
        return self._tmpdir


def _cleanup(resources: list, tmpdirs: list) -> None:
    for res in resources:
        try:
            res.close()
        except Exception:  # noqa: BLE001
            pass
    resources.clear()
    for d in tmpdirs:
        if d:
            shutil.rmtree(d, ignore_errors=True)


def open_bundle(path: str | os.PathLike, limits: Limits | None = None, *,
                tmp_dir: str | None = None) -> Bundle:
    """Open ``path`` (zip, tar[.gz|.bz2|.xz], folder, bare file, bare .gz of a log).

    Raises :class:`InputError` when the input cannot be read at all (missing, empty,
    corrupt archive, not a log); everything else becomes ``bundle.problems``. ``tmp_dir``
    is where the private temporary folder goes (default: the system's).
    """
    p = os.fspath(path)
    bundle = Bundle(p, limits or Limits(), tmp_dir)
    try:
        _Builder(bundle).build()
    except BaseException:
        bundle.close()
        raise
    return bundle


# --------------------------------------------------------------------------- streams

class _Raw(io.RawIOBase):
    """Base of the stream wrappers: subclasses implement ``_pull(n) -> bytes``."""

    _src: "BinaryIO | None" = None
    _owns = True  # close the source on close()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self._pull(len(b))
        n = len(data)
        b[:n] = data
        return n

    def _pull(self, n: int) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        if not self.closed and self._src is not None and self._owns:
            try:
                self._src.close()
            except Exception:  # noqa: BLE001
                pass
        super().close()


class _Guard(_Raw):
    """Turn read errors of a hostile source (CRC, truncation, I/O) into a problem and EOF."""

    def __init__(self, src: BinaryIO, report: Callable[..., None], expect: int | None = None) -> None:
        self._src = src
        self._report = report
        self._done = False
        self._expect = expect  # the size a folder's file had when listed
        self._got = 0

    def _pull(self, n: int) -> bytes:
        if self._done:
            return b""
        try:
            data = self._src.read(n)
        except Exception as exc:  # noqa: BLE001
            self._done = True
            self._report(f"read error, the rest is missing: {_why(exc)}", "error")
            return b""
        if not data:
            self._done = True
            self._check_size()
        self._got += len(data or b"")
        return data or b""

    def _check_size(self) -> None:
        """A file that changed while read (red team 11: a log truncated by a rotation during the
        analysis gave a clean report): shrunk is a warning (the rest is missing), grown is info."""
        if self._expect is None or self._got == self._expect:
            return
        if self._got < self._expect:
            self._report(f"shrank while being read ({self._got:,} of the {self._expect:,} bytes listed: "
                         "rotated or truncated during the analysis?); the rest is missing")
        else:
            self._report(f"grew while being read ({self._got - self._expect:,} bytes more than listed: "
                         "written to during the analysis); those are read too", "info")


class _Prefixed(_Raw):
    def __init__(self, head: bytes, src: "BinaryIO | None", owns: bool = True) -> None:
        self._head = head
        self._src = src
        self._owns = owns

    def _pull(self, n: int) -> bytes:
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._src.read(n) if self._src is not None else b""


class _Capped(_Raw):
    """Ends the stream after ``limit`` bytes and reports the cut."""

    def __init__(self, src: BinaryIO, limit: int, report: Callable[..., None]) -> None:
        self._src = src
        self._left = limit
        self._limit = limit
        self._report = report

    def _pull(self, n: int) -> bytes:
        if self._left <= 0:
            if self._src is not None and self._src.read(1):
                self._report(f"cut at the size limit of {_size(self._limit)}; the rest is not read")
                self._src.close()
                self._src = None
            return b""
        data = self._src.read(min(n, self._left)) if self._src is not None else b""
        self._left -= len(data)
        return data


class _Decompress(_Raw):
    """gzip/bzip2/xz decompression that caps output size and compression ratio.

    Never raises: corrupt or truncated input ends the stream after everything that could be
    decompressed, and is reported.
    """

    def __init__(self, src: BinaryIO, fmt: str, limit: int, limits: Limits,
                 report: Callable[..., None], ratio_floor: int | None = None) -> None:
        self._src = src
        self._floor = limits.ratio_floor if ratio_floor is None else ratio_floor
        self._fmt = fmt
        self._limit = limit
        self._limits = limits
        self._report = report
        self._d = _decompressor(fmt)
        self._input = b""
        self._in = 0
        self._out = 0
        self._done = False
        self._started = False
        self._pending = b""  # output of the last step not read yet

    def _pull(self, n: int) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        while not self._done:
            try:
                # steps of a fixed size, whatever the reader asks for: the ratio stop then cuts a
                # bomb at the same byte for every reader (red team 17: the fast path read 516
                # records of one, the slow path 25,286)
                out = self._step(_STEP)
            except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
                self._finish(f"corrupt {_FMT_NAME[self._fmt]} data after "
                             f"{_size(self._out)}: {_why(exc)}")
                return b""
            if out is None:
                continue
            self._out += len(out)
            if self._out > self._limit:
                keep = len(out) - (self._out - self._limit)
                self._finish(f"decompressed size exceeds the size limit of {_size(self._limit)}; "
                             "the rest is not read", "error")
                out = out[:max(keep, 0)]
                data, self._pending = out[:n], out[n:]
                return data
            floor = self._floor
            if self._out > floor and self._out > self._limits.max_ratio * max(self._in, 1):
                # no measured ratio in the message: it depends on the sizes the stream is read in
                self._finish("compression ratio exceeds the limit of "
                             f"{self._limits.max_ratio:g}:1 ({_FMT_NAME[self._fmt]} bomb?); "
                             "the rest is not read", "error")
                return b""
            if out:
                data, self._pending = out[:n], out[n:]
                return data
        return b""

    def _step(self, n: int) -> bytes | None:
        d = self._d
        if getattr(d, "eof", False):
            # zlib leaves what follows the member in unused_data AND in unconsumed_tail (when the
            # call that reached the end was cut by max_length): taking both read those bytes twice
            rest = d.unused_data if self._fmt == "gz" else d.unused_data + self._input
            self._input = b""
            while len(rest) < _MAGIC_BYTES:  # a member can end a byte before a read ends: get its magic
                more = self._src.read(16 * 1024)
                if not more:
                    break
                self._in += len(more)
                rest += more
            if not rest.strip(b"\0"):  # end, or zero padding after the stream
                self._done = True
                return b""
            if _detect(rest[:8]) != self._fmt:
                self._finish(f"unexpected data after the end of the {_FMT_NAME[self._fmt]} stream "
                             "ignored")
                return b""
            self._d = _decompressor(self._fmt)
            self._input = rest
            return None
        if not self._input and (self._fmt == "gz" or d.needs_input):
            chunk = self._src.read(16 * 1024)
            self._in += len(chunk)
            if not chunk:
                tail = d.flush() if self._fmt == "gz" else b""
                if self._started:
                    self._finish(f"{_FMT_NAME[self._fmt]} stream ends early (truncated) after "
                                 f"{_size(self._out + len(tail))}", "warning")
                else:
                    self._done = True
                return tail
            self._input = chunk
        self._started = True
        want = max(n, 1)
        if self._fmt == "gz":
            before = d.copy()
            try:
                out = d.decompress(self._input, want)
            except zlib.error as exc:
                if "check" not in str(exc):  # "incorrect data check" / "incorrect length check"
                    raise
                out = _before_trailer(before, self._input, want)  # zlib drops the call's output
                self._finish(f"gzip checksum does not match after {_size(self._out + len(out))}: "
                             "the content may be damaged")
                return out
            self._input = d.unconsumed_tail
        else:
            out = d.decompress(self._input, want)
            self._input = b""
        return out

    def _finish(self, message: str, severity: str = "warning") -> None:
        self._done = True
        self._report(message, severity)


_STEP = 1 << 18  # bytes of output of one decompression step (then the limits are checked)
_FMT_NAME = {"gz": "gzip", "bz2": "bzip2", "xz": "xz", "zstd": "zstd"}
_MAGIC_BYTES = 8  # what _detect needs to tell the next member of a gzip/bzip2/xz file


def _before_trailer(before, data: bytes, want: int) -> bytes:
    """What a gzip decompressor in state ``before`` makes of ``data`` short of the failing
    CRC/length trailer: the longest prefix of ``data`` that does not raise, found by bisection."""
    good, bad, out = 0, len(data), b""
    while bad - good > 1:
        mid = (good + bad) // 2
        try:
            part = before.copy().decompress(data[:mid], want)
        except zlib.error:
            bad = mid
        else:
            good, out = mid, part
    return out


def _decompressor(fmt: str):
    if fmt == "gz":
        return zlib.decompressobj(wbits=31)
    if fmt == "bz2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor()


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    parts = []
    while n > 0:
        data = stream.read(n)
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


# compressed or archive formats the standard library cannot read: refused with their name, never
# read as text (red team 11: an .lz4 log was read as binary 'text', clean report)
_UNSUPPORTED_MAGIC = ((b"\x28\xb5\x2f\xfd", "zstd"), (b"\x04\x22\x4d\x18", "lz4"), (b"\x02\x21\x4c\x18", "lz4"),
                      (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!\x1a\x07", "rar"), (b"LZIP\x01", "lzip"),
                      (b"\x1f\x9d", "compress"))
UNSUPPORTED = {"zstd": "zstd-compressed file", "lz4": "lz4-compressed file", "7z": "7-Zip archive",
               "rar": "RAR archive", "lzip": "lzip-compressed file", "compress": "compress (.Z) file"}


def _detect(head: bytes) -> str:
    """Format from magic bytes: zip, gz, bz2, xz, tar, one of :data:`UNSUPPORTED`, or other."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh") and len(head) >= 4 and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    for magic, fmt in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            return fmt
    if _is_tar_header(head):
        return "tar"
    return "other"


def _is_tar_header(block: bytes) -> bool:
    if len(block) < 512 or block[0] == 0:
        return False
    if block[257:262] == b"ustar":
        return True
    field_ = block[148:156].strip(b" \0")
    try:
        chksum = int(field_, 8)
    except ValueError:
        return False
    header = block[:148] + b" " * 8 + block[156:512]
    return chksum in (sum(header), sum(struct.unpack("148b8x356b", block[:512])) + 256)


def _after_tar_end(tf: tarfile.TarFile, stream: BinaryIO, report: Callable[..., None]) -> "BinaryIO | None":
    """What follows a tar's end-of-archive blocks: the stream of the next tar when one does
    (``cat a.tar.gz b.tar.gz``: red team 17 found everything after the first tar silently lost),
    None at the end. Other data there is said (partial), not read. The zero blocks padding the end
    are skipped; tarfile reads in 512-byte blocks, so a following tar starts at such a block."""
    rest = _Prefixed(getattr(tf.fileobj, "buf", b""), stream, owns=False)
    while True:
        chunk = rest.read(_CHUNK)
        if not chunk:
            return None
        data = chunk.lstrip(b"\0")
        if data:
            break
    start = len(chunk) - len(data)
    block = chunk[start - start % 512:]
    block += _read_exactly(rest, max(0, 512 - len(block)))
    if _is_tar_header(block[:512]):
        return io.BufferedReader(_Prefixed(block, rest, owns=False), _CHUNK)
    report("data after the end of the tar archive that is no tar: not read")
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _printable(text: str) -> str:
    """One line without control characters or lone surrogates (names can carry any byte)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _why(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ").strip() or type(exc).__name__
    return text[:200]


def _size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} bytes"


_PAX_GLOBAL_MAX = 64 * 1024  # bytes of global pax headers a tar may set (every member copies them)
_PAX_CHAIN_MAX = 8  # extended headers in a row before a member (real tars have one or two)
_LONG_DIGITS = re.compile(rb"[0-9]{64}")


def check_pax(buf: bytes) -> None:
    """Raise ``tarfile.HeaderError`` unless ``buf`` is a well-formed pax header: records
    ``LEN key=value\n`` that fill it up to NUL padding, no run of 64 digits, at most one
    ``hdrcharset``. The stdlib's own parsing (Python < 3.11.10) backtracks quadratically on
    anything else (CVE-2024-6232: a 479-byte tar.gz ran 82 s)."""
    if _LONG_DIGITS.search(buf) is not None or buf.count(b"hdrcharset=") > 1:
        raise tarfile.HeaderError("malformed pax header")
    pos, n = 0, len(buf)
    while pos < n and buf[pos] != 0:
        sp = buf.find(b" ", pos, pos + 21)
        if sp <= pos or not buf[pos:sp].isdigit():
            raise tarfile.HeaderError("malformed pax header")
        end = pos + int(buf[pos:sp])
        if end > n or end <= sp + 2 or buf[end - 1] != 0x0A or buf.find(b"=", sp + 2, end) == -1:
            raise tarfile.HeaderError("malformed pax header")
        pos = end
    if buf.count(0, pos) != n - pos:
        raise tarfile.HeaderError("malformed pax header (data after its end)")


class _Replayed:
    """A tar stream whose next bytes are ``buf`` (already read), then the stream itself."""

    def __init__(self, buf: bytes, stream) -> None:
        self._buf, self._at, self._stream = buf, 0, stream

    def read(self, n: int = -1) -> bytes:
        rest = len(self._buf) - self._at
        if rest <= 0:
            return self._stream.read(n)
        if n is None or n < 0 or n > rest:
            head = self._buf[self._at:]
            self._at = len(self._buf)
            return head + self._stream.read(-1 if n is None or n < 0 else n - rest)
        self._at += n
        return self._buf[self._at - n:self._at]

    def tell(self) -> int:
        return self._stream.tell() - (len(self._buf) - self._at)

    def seek(self, pos: int, whence: int = 0) -> int:
        self._at = len(self._buf)
        return self._stream.seek(pos, whence)


class _SafeTarInfo(tarfile.TarInfo):
    """Refuses oversized, malformed or piled-up pax / GNU long-name headers (tarfile would read
    them into memory, parse them in quadratic time or copy global ones into every member)."""

    def _proc_member(self, tarfile_):  # type: ignore[override]
        if self.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                         tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
            if self.size > MiB:
                raise tarfile.HeaderError(f"oversized extended header ({self.size} bytes)")
            chain = getattr(tarfile_, "_la_chain", 0) + 1
            if chain > _PAX_CHAIN_MAX:
                raise tarfile.HeaderError(f"more than {_PAX_CHAIN_MAX} extended headers in a row")
            tarfile_._la_chain = chain
            try:
                return super()._proc_member(tarfile_)
            finally:
                tarfile_._la_chain = chain - 1
        return super()._proc_member(tarfile_)

    def _proc_pax(self, tarfile_):  # type: ignore[override]
        stream = tarfile_.fileobj
        buf = stream.read(self._block(self.size))
        check_pax(buf)
        if self.type == tarfile.XGLTYPE:
            held = sum(len(k) + len(v) for k, v in tarfile_.pax_headers.items())
            if held + len(buf) > _PAX_GLOBAL_MAX:
                raise tarfile.HeaderError(f"global pax headers over {_PAX_GLOBAL_MAX // 1024} KiB")
        tarfile_.fileobj = _Replayed(buf, stream)
        try:
            return super()._proc_pax(tarfile_)
        finally:
            tarfile_.fileobj = stream


class _StopScan(Exception):
    """A limit of the whole bundle was reached: stop reading further members."""


_TAR_MODES = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
              tarfile.FIFOTYPE: stat.S_IFIFO}
_SNIFF_NAME = re.compile(r"\.(?:log|txt)(?:\.\d+)?$", re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:")


# --------------------------------------------------------------------------- builder

class _Builder:
    def __init__(self, bundle: Bundle) -> None:
        self.b = bundle
        self.limits = bundle.limits
        self.count = 0  # files looked at
        self.total = 0  # bytes of kept members
        self.index: dict[str, int] = {}  # path -> position in members
        self.spools = 0
        self.in_memory = 0  # bytes of spools kept in memory
        self.zip_expanded = self.zip_packed = 0  # sizes of the zip members read, unpacked / packed
        self.zip_ratio_hit = False
        self.sniff_unknown = True
        self.files_read: dict[tuple[int, int], str] = {}  # (device, inode) of a folder's files -> first path

    # ---- entry point
    def build(self) -> None:
        p = self.b.path
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise InputError(f"no such file or directory: {p}") from None
        except PermissionError:
            raise InputError(f"permission denied: {p}") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot open {p}: {_why(exc)}") from None
        if stat.S_ISDIR(st.st_mode):
            self.b.layout = "directory"
            self._scan_directory(p)
        elif stat.S_ISREG(st.st_mode):
            self._open_file_bundle(p, st.st_size)
        else:
            raise InputError(f"refusing {p}: not a regular file or folder")
        if not self.b.members and not self.b.unknown and not self.b.problems:
            raise InputError(f"empty bundle: {p}")
        if not self.b.members:
            self.b._problem(self.b.name, "no file of a known kind in the bundle", "warning")

    def _open_file_bundle(self, p: str, size: int) -> None:
        if size == 0:
            raise InputError(f"empty bundle: {p}")
        try:
            with open(p, "rb") as f:
                head = f.read(SNIFF_BYTES)
        except PermissionError:
            raise InputError(f"permission denied: {p}") from None
        except OSError as exc:
            raise InputError(f"cannot read {p}: {_why(exc)}") from None
        fmt = _detect(head)
        if fmt == "zip":
            self._open_zip_bundle(p)
        elif fmt == "tar":
            self.b.layout = "tar"
            self._tar_bundle(p)
        elif fmt in ("gz", "bz2", "xz"):
            inner = self._decompressed_head(p, fmt)
            if not inner.strip(b"\0") and len(inner) < SNIFF_BYTES:
                raise InputError(f"empty bundle: {p} (nothing could be decompressed from the "
                                 f"{_FMT_NAME[fmt]} file: it is empty or corrupt)")
            if _detect(inner[:512]) == "tar":
                self.b.layout = "tar"
                self._tar_bundle(p)
            else:
                self._bare_file(p, inner, size)
        elif fmt in UNSUPPORTED:
            raise InputError(f"refusing {p}: {UNSUPPORTED[fmt]}s are not supported; decompress it first")
        elif not head.strip(b"\0") and size <= len(head):
            raise InputError(f"empty bundle: {p} (only zero bytes)")
        else:
            self._bare_file(p, head, size)

    def _decompressed_head(self, p: str, fmt: str) -> bytes:
        with open(p, "rb") as f:
            stream = _Decompress(f, fmt, SNIFF_BYTES, self.limits, lambda *a, **k: None)
            return _read_exactly(stream, SNIFF_BYTES)

    def _bare_file(self, p: str, head: bytes, size: int) -> None:
        self.b.layout = "file"
        name = self.b.name
        kind = classify(name) or sniff(head, name)
        if kind is None and _zip_end_at_tail(p):  # a zip behind a stub (self-extractor): red team 17
            self._open_zip_bundle(p)
            return
        if kind is None or kind == "history_zip":
            raise InputError(f"refusing {p}: not a log file, log bundle or archive that "
                             "loganalyzer reads (binary or unknown content)")
        real = os.path.realpath(p)  # the user's own link to the file is followed
        self._add(name, kind, size, lambda: _open_regular(real))

    # ---- zip
    def _open_zip_bundle(self, p: str) -> None:
        try:
            f = open(p, "rb")
        except OSError as exc:
            raise InputError(f"cannot read {p}: {_why(exc)}") from None
        try:
            zf = self._zipfile(f, p)
        except InputError:
            f.close()
            raise
        self.b._resources.append(zf)
        self.b._resources.append(f)
        names = [normalise(i.filename) for i in zf.infolist()]
        if "results.txt" in names or any(n.startswith(("var/log/waagent.log", "var/lib/waagent/"))
                                         for n in names):
            self.b.layout = "logcollector-zip"
            self.sniff_unknown = False
        else:
            self.b.layout = "zip"
        if not any(not i.is_dir() or _holds_data(i) for i in zf.infolist()):
            raise InputError(f"empty bundle: {p} (the zip has no files)")
        self._scan_zip(zf, "", 0, self.b.name)

    def _zipfile(self, f: BinaryIO, label: str) -> zipfile.ZipFile:
        f = _Positional.wrap(f)
        end = _zip_end(f)
        declared, listing = _zip_declared_entries(f, end)
        if declared is not None and declared > self.limits.max_listed:
            raise InputError(f"refusing {label}: the zip declares {declared} members "
                             f"(limit {self.limits.max_listed})")
        if listing is not None and listing > self.limits.max_directory_bytes:
            raise InputError(f"refusing {label}: the zip's list of members is {_size(listing)} "
                             f"(limit {_size(self.limits.max_directory_bytes)})")
        listed = _zip_listed_entries(f, end, listing)  # zipfile reads the whole list, whatever the count says
        if listed > self.limits.max_listed:
            raise InputError(f"refusing {label}: the zip lists {listed} members "
                             f"(limit {self.limits.max_listed})")
        try:
            f.seek(0)
            try:
                return zipfile.ZipFile(f)
            except UnicodeDecodeError:  # a name flagged UTF-8 that is not: read it as cp437
                fixed = _Utf8FlagFix.wrap(f)
                if fixed is None:
                    raise
                return zipfile.ZipFile(fixed)
        except zipfile.BadZipFile as exc:
            raise InputError(f"not a readable archive: {label} (bad zip: {_why(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - struct/overflow errors of hostile directories
            raise InputError(f"not a readable archive: {label} "
                             f"(bad zip: {type(exc).__name__}: {_why(exc)})") from None

    def _scan_zip(self, zf: zipfile.ZipFile, prefix: str, depth: int, label: str) -> None:
        for older in self._leading_zips(zf, label):  # cat a.zip b.zip: a's members, then b's
            self._scan_zip_members(older, prefix, depth, label)
        self._scan_zip_members(zf, prefix, depth, label)

    def _leading_zips(self, zf: zipfile.ZipFile, label: str) -> list[zipfile.ZipFile]:
        """The zips in front of ``zf``'s first member, oldest first (red team 17: ``cat a.zip b.zip``
        read only b, without a word; zipfile finds the last end record). Other data there (a
        self-extractor's stub) is said, not read."""
        found: list[zipfile.ZipFile] = []
        first = min((i.header_offset for i in zf.infolist()), default=0)
        while first > 0:
            if len(found) >= MAX_CONCATENATED:
                self.b.partial = True
                self.b._problem(label, f"more than {MAX_CONCATENATED} zip archives one after the other: "
                                f"the first {_size(first)} are not read (bundle is partial)", "error")
                break
            window = _Window(zf.fp, first)
            head = window.read(4)
            if first == 4 and head in (b"PK\x07\x08", b"PK00"):  # a spanning marker some zip tools write
                break
            try:
                older = self._zipfile(window, label) if head == b"PK\x03\x04" else None
            except InputError:
                older = None
            if older is None:
                self.b.partial = True
                self.b._problem(label, f"{_size(first)} of data in front of the zip's first member that is no "
                                "zip archive: not read (bundle is partial)")
                break
            self.b._resources.append(older)
            found.append(older)
            zf, first = older, min((i.header_offset for i in older.infolist()), default=0)
        return found[::-1]

    def _scan_zip_members(self, zf: zipfile.ZipFile, prefix: str, depth: int, label: str) -> None:
        overlapping = _overlapping(zf.infolist())
        if overlapping:
            self.b.partial = True
            self.b._problem(label, f"{len(overlapping)} members share their data with another "
                            "member (overlapping entries, a zip bomb?): not read (bundle is "
                            "partial)", "error")
        for info in zf.infolist():
            if id(info) in overlapping:
                continue
            if info.is_dir():  # zipfile says so by the trailing '/' alone
                if not _holds_data(info):
                    continue
                self.b._problem(prefix + info.filename, f"a directory entry that holds {_size(info.file_size)}: "
                                "read as the file it names", "info")
            try:
                self._zip_member(zf, info, prefix, depth, label)
            except _StopScan:
                return
            except InputError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad member never stops the rest
                self.b._problem(prefix + info.filename, f"could not be read: {_why(exc)}",
                                "error")

    def _zip_member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, prefix: str,
                    depth: int, label: str) -> None:
        if "\x00" in getattr(info, "orig_filename", ""):  # zipfile cuts the name there
            self._refuse(label, prefix + info.filename, "its name holds a NUL byte (it would pass "
                         "for another file)", "warning")
            return
        rel = self._safe_name(info.filename, label)
        if rel is None:
            return
        path = prefix + rel
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode:
            if stat.S_ISLNK(mode):
                self._refuse(label, path, "a symbolic link (links are never followed)")
                return
            if not stat.S_ISREG(mode) and stat.S_IFMT(mode) and not (stat.S_ISDIR(mode) and _holds_data(info)):
                # (a directory entry holding data is read as the file it names: red team 16 saw it
                # announced as read, then refused as a folder)
                self._refuse(label, path, f"a {_file_type(mode)}, not a regular file")
                return
        self._count(label)
        size, csize = info.file_size, info.compress_size
        kind = classify(path)
        nested = kind == "history_zip" or looks_like_archive_name(path)
        if kind is None and not nested and not (self.sniff_unknown and _SNIFF_NAME.search(path)):
            self.b.unknown.append(path)  # never read, so its size and ratio do not matter
            return
        if info.flag_bits & 0x1:  # a log or archive the report cannot see into
            self.b.partial = True
            self.b._problem(path, "encrypted member: not read (bundle is partial)")
            self.b.unknown.append(path)
            return
        if size > self.limits.ratio_floor and size > self.limits.max_ratio * max(csize, 1):
            self._refuse(label, path, f"compression ratio {size // max(csize, 1)}:1 exceeds the "
                         f"limit of {self.limits.max_ratio:g}:1 (zip bomb?)", "error")
            return
        # many members each just under the floor: the ratio of all the members read so far
        expanded, packed = self.zip_expanded + size, self.zip_packed + max(csize, 1)
        if expanded > self.limits.zip_ratio_floor and expanded > self.limits.max_ratio * packed:
            self.b.partial = True
            if not self.zip_ratio_hit:
                self.zip_ratio_hit = True
                self._refuse(label, path, f"the members read so far expand to over "
                             f"{self.limits.max_ratio:g} times their packed size (zip bomb?): this "
                             "and further such members are not read (bundle is partial)", "error")
            self.b.unknown.append(path)
            return
        self.zip_expanded, self.zip_packed = expanded, packed
        if nested:
            if depth + 1 > self.limits.max_depth:
                self._too_deep(path)
                return
            if not self._room(path, size):
                return
            with zf.open(info) as s:
                opener, got, _cut, err = self._spool(s, path, size)
            self.total += got
            if err is None:
                self._nested(path, opener, depth)
            return
        if kind is None and self.sniff_unknown and _SNIFF_NAME.search(path):
            with zf.open(info) as s:
                kind = _strict_sniff(_read_exactly(s, 8192), path)
        if kind is None:
            self.b.unknown.append(path)
            return
        self._add(path, kind, size, lambda: zf.open(info))

    # ---- tar
    def _tar_bundle(self, p: str) -> None:
        try:
            f = open(p, "rb")
        except OSError as exc:
            raise InputError(f"cannot read {p}: {_why(exc)}") from None
        with f:
            seen = self._scan_tar(f, "", 0, self.b.name, top=True)
        if not seen:
            raise InputError(f"empty bundle: {p} (the tar has no files)")

    def _scan_tar(self, raw: BinaryIO, prefix: str, depth: int, label: str,
                  top: bool = False) -> int:
        """Stream a (compressed) tar once; returns the number of entries seen."""
        head = _read_exactly(raw, 8)
        fmt = _detect(head)
        src: BinaryIO = _Prefixed(head, raw, owns=False)  # the caller owns ``raw``

        def report(message: str, severity: str = "warning") -> None:
            self.b.partial = True
            self.b._problem(label, message + " (bundle is partial)", severity)

        if fmt in ("gz", "bz2", "xz"):
            src = _Decompress(src, fmt, self.limits.max_total_bytes, self.limits, report,
                              ratio_floor=max(self.limits.stream_ratio_floor,
                                              self.limits.ratio_floor))
        stream = io.BufferedReader(src, _CHUNK)
        seen = 0
        while stream is not None:  # one tar, then each one concatenated to it (cat a.tar b.tar)
            seen, stream = self._scan_one_tar(stream, seen, prefix, depth, label, top, report)
        return seen

    def _scan_one_tar(self, stream: BinaryIO, seen: int, prefix: str, depth: int, label: str, top: bool,
                      report: Callable[..., None]) -> tuple[int, "BinaryIO | None"]:
        """Scan the tar at the start of ``stream``; return the entries seen so far and the stream
        of a tar that follows its end-of-archive blocks, if one does."""
        try:
            tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_SafeTarInfo)
        except Exception as exc:  # noqa: BLE001
            if top and not seen:
                raise InputError(f"not a readable archive: {self.b.path} "
                                 f"(bad tar: {_why(exc)})") from None
            self.b._problem(label, f"not a readable archive (bad tar: {_why(exc)})", "error")
            return seen, None
        try:
            while True:
                info = tf.next()
                if info is None:
                    break
                tf.members = []  # stream mode never looks back; keep memory flat
                if info.isdir():
                    continue
                seen += 1
                self._tar_member(tf, info, prefix, depth, label)
        except _StopScan:
            return seen, None
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - truncated/corrupt: keep what was read
            if top and seen == 0 and not self.b.members:
                raise InputError(f"not a readable archive: {self.b.path} "
                                 f"(bad tar: {_why(exc)})") from None
            self.b.partial = True
            self.b._problem(label, f"archive is corrupt or truncated after {seen} entries: "
                            f"{_why(exc)}; the rest is not read (bundle is partial)", "error")
            return seen, None
        return seen, _after_tar_end(tf, stream, report)

    def _tar_member(self, tf: tarfile.TarFile, info: tarfile.TarInfo, prefix: str,
                    depth: int, label: str) -> None:
        rel = self._safe_name(info.name, label)
        if rel is None:
            return
        path = prefix + rel
        if info.issym():
            self._refuse(label, path, f"a symbolic link to {info.linkname!r} "
                         "(links are never followed)")
            return
        if info.islnk():
            self._refuse(label, path, f"a hard link to {info.linkname!r} "
                         "(links are never followed)")
            return
        if info.ischr() or info.isblk() or info.isfifo():
            self._refuse(label, path, f"a {_file_type(_TAR_MODES[info.type])}, "
                         "not a regular file")
            return
        if info.issparse() or not info.isreg():
            self._refuse(label, path, "not a regular file (sparse or unknown entry type)")
            return
        self._count(label)
        kind = classify(path)
        nested = kind == "history_zip" or looks_like_archive_name(path)
        sniffable = not nested and kind is None and self.sniff_unknown and _SNIFF_NAME.search(path)
        if not nested and kind is None and not sniffable:
            self.b.unknown.append(path)  # skipped by the stream, never read
            return
        src = tf.extractfile(info)  # stream mode: one reader per member, read once
        if src is None:
            return
        head = b""
        if sniffable:
            head = _read_exactly(src, 8192)
            kind = _strict_sniff(head, path)
        if not nested and kind is None:
            self.b.unknown.append(path)
            return
        if not self._room(path, info.size):
            return
        opener, got, cut, err = self._spool(_Prefixed(head, src, owns=False), path, info.size)
        if nested:
            self.total += got
            if err is None:
                self._nested(path, opener, depth)
            raise_ = err
        else:
            member = self._add(path, kind, info.size, opener)
            if member is not None and (cut or err):
                member.truncated = True
            raise_ = err
        if raise_ is not None:
            raise raise_  # the tar stream is unusable after a read error

    # ---- directory
    def _scan_directory(self, root_arg: str) -> None:
        root = os.path.realpath(root_arg)
        visited = set()
        try:
            st = os.stat(root)
            visited.add((st.st_dev, st.st_ino))
        except OSError as exc:
            raise InputError(f"cannot read {root_arg}: {_why(exc)}") from None

        def onerror(exc: OSError) -> None:
            where = normalise(os.path.relpath(exc.filename or root, root)) or "."
            self.b._problem(where, f"folder not readable: {exc.strerror or exc}", "warning")

        try:
            for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
                dirnames.sort()
                keep = []
                for d in dirnames:
                    full = os.path.join(dirpath, d)
                    rel = normalise(os.path.relpath(full, root))
                    if rel.count("/") >= self.limits.max_dir_depth:  # os.walk recurses
                        self.b.partial = True
                        self._refuse(self.b.name, rel, f"a folder more than "
                                     f"{self.limits.max_dir_depth} levels deep: not read "
                                     "(bundle is partial)", "error")
                        continue
                    try:
                        lst = os.lstat(full)
                    except OSError as exc:
                        self.b._problem(rel, f"folder not readable: {_why(exc)}")
                        continue
                    if stat.S_ISLNK(lst.st_mode):
                        self._dir_symlink(root, full, rel)
                        continue
                    key = (lst.st_dev, lst.st_ino)
                    if key in visited:
                        self._refuse(self.b.name, rel, "a directory loop (folder seen before)")
                        continue
                    visited.add(key)
                    keep.append(d)
                dirnames[:] = keep
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    rel = normalise(os.path.relpath(full, root))
                    try:
                        self._dir_file(root, full, rel)
                    except _StopScan:
                        return
                    except InputError:
                        raise
                    except Exception as exc:  # noqa: BLE001
                        self.b._problem(rel, f"could not be read: {_why(exc)}", "error")
        except _StopScan:
            return

    def _dir_symlink(self, root: str, full: str, rel: str) -> None:
        target = os.path.realpath(full)
        if not _inside(target, root):
            self._refuse(self.b.name, rel, "a symbolic link pointing outside the bundle "
                         "(links are never followed)")
        elif _inside(os.path.dirname(full), target) or target == root:
            self._refuse(self.b.name, rel, "a symbolic link to a parent folder "
                         "(directory loop; not followed)")
        else:
            self.b._problem(rel, "symbolic link to a folder inside the bundle: not followed "
                            "(its files are read at their real place)", "info")

    def _dir_file(self, root: str, full: str, rel: str) -> None:
        lst = os.lstat(full)
        real = full
        if stat.S_ISLNK(lst.st_mode):
            target = os.path.realpath(full)
            if not _inside(target, root):
                self._refuse(self.b.name, rel, "a symbolic link pointing outside the bundle "
                             "(links are never followed)")
                return
            try:
                lst = os.stat(target)
            except OSError:
                self._refuse(self.b.name, rel, "a dangling symbolic link")
                return
            real = target
        if not stat.S_ISREG(lst.st_mode):
            self._refuse(self.b.name, rel, f"a {_file_type(lst.st_mode)}, not a regular file")
            return
        self._count(self.b.name)
        kind = classify(rel)
        opener = lambda: _open_regular(real)  # noqa: E731
        nested = kind == "history_zip" or looks_like_archive_name(rel)
        if not nested and kind is None and self.sniff_unknown and _SNIFF_NAME.search(rel):
            try:
                with opener() as f:
                    kind = _strict_sniff(f.read(8192), rel)
            except OSError:
                kind = None
        if not nested and kind is None:
            self.b.unknown.append(rel)
            return
        try:
            opener().close()
        except OSError as exc:  # e.g. no read permission: the report lacks it (red team 11)
            self.b.partial = True
            self.b._problem(rel, f"not readable: {exc.strerror or _why(exc)} (bundle is partial)", "warning")
            return
        same = self.files_read.setdefault((lst.st_dev, lst.st_ino), rel)
        if same != rel:  # hard links (or links) to one file: 500 names of a 6 MB log read 3 GB
            self.b._problem(rel, f"the same file as {same} (a link): read once, there", "info")
            return
        if nested:
            self._nested(rel, opener, 0)
            return
        self._add(rel, kind, lst.st_size, opener, listed=True)

    # ---- nested archives
    def _too_deep(self, path: str) -> None:
        self.b.partial = True
        self._refuse(path, path, f"an archive nested more than {self.limits.max_depth} "
                     "levels deep (not expanded; bundle is partial)")
        self.b.unknown.append(path)

    def _nested(self, path: str, get_stream: Callable[[], BinaryIO], depth: int) -> None:
        """Expand an archive found inside the bundle; ``get_stream`` gives a fresh seekable
        stream of it (a spooled copy or a file of a folder bundle)."""
        if depth + 1 > self.limits.max_depth:
            self._too_deep(path)
            return
        try:
            with get_stream() as s:
                head = _read_exactly(s, _HEAD)
                fmt = _detect(head)
                if fmt in ("gz", "bz2", "xz"):
                    s.seek(0)
                    inner = _read_exactly(_Decompress(s, fmt, _HEAD, self.limits,
                                                      lambda *a, **k: None), 512)
                    if _detect(inner) != "tar":
                        self.b._problem(path, f"{_FMT_NAME[fmt]} file with no tar inside: "
                                        "not expanded", "info")
                        self.b.unknown.append(path)
                        return
                    fmt = "tar"
            if fmt == "zip":
                zsrc = get_stream()
                try:
                    zf = self._zipfile(zsrc, path)
                except InputError as exc:
                    zsrc.close()
                    self.b._problem(path, str(exc), "error")
                    self.b.unknown.append(path)
                    return
                self.b._resources.extend((zf, zsrc))
                self.b.nested.append(path)
                self._scan_zip(zf, path + "/", depth + 1, path)
            elif fmt == "tar":
                self.b.nested.append(path)
                with get_stream() as s:
                    self._scan_tar(s, path + "/", depth + 1, path)
            else:
                self.b._problem(path, "not a readable archive (unknown format): not expanded")
                self.b.unknown.append(path)
        except (_StopScan, InputError):
            raise
        except Exception as exc:  # noqa: BLE001
            self.b._problem(path, f"archive could not be read: {_why(exc)}", "error")

    # ---- shared helpers
    def _safe_name(self, name: str, label: str) -> str | None:
        raw = without_surrogates(name.replace("\\", "/"))  # undecodable bytes of a name
        reason = None
        if "\x00" in raw:
            reason = "a NUL byte in its name"
        elif raw.startswith("/") or _DRIVE.match(raw):
            reason = "an absolute path"
        elif ".." in raw.split("/"):
            reason = "'..' in its path (path traversal)"
        if reason is None:
            rel = normalise(raw)
            if rel:
                return rel
            reason = "an empty name"
        shown = name.replace("\x00", "\\0")[:200]
        readable = normalise(raw.lstrip("/").replace("../", "").replace("\x00", ""))
        if readable and classify(readable) is not None:  # a log or config the report now lacks
            self.b.partial = True
            reason += "; a file the analysis would read (bundle is partial)"
            self.b.refused.append(readable)
        self.b._problem(label, f"refusing member {shown!r}: {reason}", "warning")
        return None

    def _refuse(self, label: str, path: str, what: str, severity: str = "warning") -> None:
        """Say why ``path`` is not read; a log or config the analysis would read makes the bundle
        partial (red team 11: a FIFO or sparse tar member under a log's name left it 'complete')."""
        if classify(path) is not None:
            self.b.partial = True
            what += "; a file the analysis would read (bundle is partial)"
        self.b.refused.append(path)
        self.b._problem(label, f"refusing {path}: {what}", severity)

    def _count(self, label: str) -> None:
        self.count += 1
        if self.count > self.limits.max_members:
            self.b.partial = True
            self.b._problem(label, f"more than {self.limits.max_members} files: the rest were "
                            "not read (bundle is partial)", "error")
            raise _StopScan

    def _room(self, path: str, size: int) -> bool:
        take = min(size, self.limits.max_member_bytes)
        if self.total + take > self.limits.max_total_bytes:
            self.b.partial = True
            self.b._problem(path, f"not read: the bundle's total size limit of "
                            f"{_size(self.limits.max_total_bytes)} is reached (bundle is partial)",
                            "error")
            return False
        return True

    def _add(self, path: str, kind: str, size: int,
             opener: Callable[[], BinaryIO], listed: bool = False) -> Member | None:
        if not self._room(path, size):
            return None
        self.total += min(size, self.limits.max_member_bytes)
        member = Member(path=path, kind=kind, size=size, truncated=is_truncated_name(path),
                        _opener=opener, _bundle=self.b, listed=listed)
        if size > self.limits.max_member_bytes:
            member.truncated = True
            self.b._problem(path, f"is {_size(size)}: only the first "
                            f"{_size(self.limits.max_member_bytes)} are read")
        if path in self.index:  # a second copy can only hide the first: say so loudly
            self.b.partial = True
            self.b._problem(path, "appears twice in the archive; the later copy is used, the "
                            "earlier one is not read (bundle is partial)", "warning")
            self.b.members[self.index[path]] = member
        else:
            self.index[path] = len(self.b.members)
            self.b.members.append(member)
        return member

    def _spool(self, src: BinaryIO, path: str, declared: int
               ) -> tuple[Callable[[], BinaryIO], int, bool, Exception | None]:
        """Copy a stream once into memory (small) or the private temp folder (capped)."""
        limit = self.limits.max_member_bytes
        got = 0
        cut = False
        err: Exception | None = None
        buf: list[bytes] = []
        out = None
        fname = None
        try:
            while True:
                data = src.read(min(_CHUNK, limit - got + 1))
                if not data:
                    break
                if got + len(data) > limit:
                    data = data[:limit - got]
                    cut = True
                got += len(data)
                if out is None and (got > _IN_MEMORY or self.in_memory + got > _MEMORY_BUDGET):
                    self.spools += 1
                    fname = os.path.join(self.b._mkdtemp(), f"{self.spools:06d}.bin")
                    out = open(fname, "xb")
                    out.write(b"".join(buf))
                    buf = []
                if out is not None:
                    out.write(data)
                else:
                    buf.append(data)
                if cut:
                    break
        except Exception as exc:  # noqa: BLE001
            err = exc
        finally:
            if out is not None:
                out.close()
        if cut:
            self.b._problem(path, f"cut at the size limit of {_size(limit)}; the rest is not read")
        if err is not None:
            self.b._problem(path, f"read error, the rest is missing: {_why(err)}", "error")
        if fname is not None:
            name = fname
            return (lambda: open(name, "rb")), got, cut, err
        data = b"".join(buf)
        self.in_memory += len(data)
        return (lambda: io.BytesIO(data)), got, cut, err


def _holds_data(info: zipfile.ZipInfo) -> bool:
    """A zip entry named like a directory ('x/') that holds bytes (red team 13: 'var/log/waagent.log/'
    with 30 KB of log was skipped without a word; tar reads such an entry as the file)."""
    return info.file_size > 0 or info.compress_size > 0


def _overlapping(infos: list[zipfile.ZipInfo]) -> set[int]:
    """ids of the entries whose data starts inside an earlier entry's (a non-recursive bomb)."""
    out: set[int] = set()
    end: int | None = None
    for info in sorted(infos, key=lambda i: i.header_offset):
        if end is not None and info.header_offset < end:
            out.add(id(info))
        else:
            end = info.header_offset + 30 + max(info.compress_size, 0)
    return out


def _open_regular(path: str) -> BinaryIO:
    """Open a regular file for reading without following a final symlink or blocking."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"not a regular file: {path}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _strict_sniff(head: bytes, path: str) -> str | None:
    kind = sniff(head, path, fallback=False)
    return kind if kind in TEXT_KINDS else None


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _file_type(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISDIR(mode):
        return "folder"
    return "special file"


class _Seekable(io.RawIOBase):
    """A read-only view with a position of its own; subclasses read at ``self._pos`` and say
    where their end is."""

    _pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def _end(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence == os.SEEK_END:
            offset += self._end()
        if offset < 0:
            raise OSError("negative seek position")
        self._pos = offset
        return offset


class _Window(_Seekable):
    """A read-only view of the first ``size`` bytes of a seekable file, with a position of its own
    (a zip found in front of another one is read through it)."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        super().__init__()
        self._f, self._size, self._pos = f, size, 0

    def _end(self) -> int:
        return self._size

    def readinto(self, b) -> int:
        n = max(0, min(len(b), self._size - self._pos))
        if not n:
            return 0
        self._f.seek(self._pos)
        data = self._f.read(n)
        b[:len(data)] = data
        self._pos += len(data)
        return len(data)


class _Positional(_Seekable):
    """A read-only view of an open file that keeps its position in this process (``os.pread``).

    A zip's members are read through the one file object of the bundle; processes forked to read
    a big bundle share that file's kernel offset, so a seek in one would move the other's read.
    """

    def __init__(self, f: BinaryIO, fd: int) -> None:
        super().__init__()
        self._f, self._fd, self._pos = f, fd, 0

    @classmethod
    def wrap(cls, f: BinaryIO) -> BinaryIO:
        """``f`` itself unless it is a plain file on disk."""
        if not isinstance(f, (io.BufferedReader, io.FileIO)):
            return f
        try:
            return cls(f, f.fileno())
        except (OSError, ValueError):  # pragma: no cover - a closed or odd file: read as it is
            return f

    def _end(self) -> int:
        return os.fstat(self._fd).st_size

    def readinto(self, b) -> int:
        data = os.pread(self._fd, len(b), self._pos)
        b[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:  # the bundle closes the file it opened
        super().close()


class _Utf8FlagFix:
    """A zip read as if the entries of its central directory whose names claim UTF-8 (flag bit
    11) but are not had the flag cleared: Python's zipfile refuses the whole archive otherwise.
    Such a member's name reads as cp437; opening it still fails (its local header keeps the
    flag), so it is refused alone and the others are read."""

    def __init__(self, f: BinaryIO, start: int, directory: bytes) -> None:
        self._f, self._start, self._dir = f, start, directory

    @classmethod
    def wrap(cls, f: BinaryIO) -> "_Utf8FlagFix | None":
        """The wrapper, or None (no plain end record, or nothing to fix)."""
        found = _zip_end(f)
        if found is None:
            return None
        at, tail, pos = found
        size = struct.unpack("<I", tail[pos + 12:pos + 16])[0]
        start = at + pos - size
        if start < 0 or size > _MAX_FIX_DIRECTORY:
            return None
        f.seek(start)
        cd = bytearray(f.read(size))
        p, changed = 0, False
        while p + 46 <= len(cd) and cd[p:p + 4] == b"PK\x01\x02":
            flags, = struct.unpack("<H", cd[p + 8:p + 10])
            n, m, k = struct.unpack("<3H", cd[p + 28:p + 34])
            if flags & 0x800:
                try:
                    bytes(cd[p + 46:p + 46 + n]).decode("utf-8")
                except UnicodeDecodeError:
                    cd[p + 8:p + 10] = struct.pack("<H", flags & ~0x800)
                    changed = True
            p += 46 + n + m + k
        return cls(f, start, bytes(cd)) if changed else None

    def read(self, n: int = -1) -> bytes:
        at = self._f.tell()
        data = self._f.read(n)
        lo, hi = max(at, self._start), min(at + len(data), self._start + len(self._dir))
        if lo < hi:  # overlay the fixed directory on the bytes read
            data = data[:lo - at] + self._dir[lo - self._start:hi - self._start] + data[hi - at:]
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def seekable(self) -> bool:
        return True


_MAX_FIX_DIRECTORY = 64 * MiB


def _zip_end_at_tail(path: str) -> bool:
    """Whether the file at ``path`` ends with a zip's end record."""
    try:
        with open(path, "rb") as f:
            return _zip_end(f) is not None
    except OSError:
        return False


def _zip_end(f: BinaryIO) -> tuple[int, bytes, int] | None:
    """(offset of the tail read, the tail, position of the end record in it), or None."""
    try:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        start = max(0, end - (65535 + 22))
        f.seek(start)
        tail = f.read(end - start)
    except (OSError, ValueError):
        return None
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        return None
    return start, tail, pos


def _zip_listed_entries(f: BinaryIO, found: tuple[int, bytes, int] | None, listing: int | None) -> int:
    """Entries the central directory before the end record (``found``: :func:`_zip_end`) holds:
    its headers counted in at most ``listing`` bytes (the end record's own count can lie); 0 when
    unknown."""
    if found is None or not listing:
        return 0
    at, _tail, pos = found
    end = at + pos
    start = max(0, end - listing - 76)  # 76: a zip64 end record and its locator
    n, carry = 0, b""
    try:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(left, MiB))
            if not chunk:
                break
            left -= len(chunk)
            data = carry + chunk
            n += data.count(b"PK\x01\x02")
            carry = data[-3:]  # a header split between two reads (3 bytes hold no whole one)
    except (OSError, ValueError, OverflowError):
        return 0
    return n


def _zip_declared_entries(f: BinaryIO, found: tuple[int, bytes, int] | None) -> tuple[int | None, int | None]:
    """Entry count and central directory size from the end record (``found``: :func:`_zip_end`;
    zip64 aware); None if unknown."""
    if found is None:
        return None, None
    _start, tail, pos = found
    total, size = struct.unpack("<HI", tail[pos + 10:pos + 16])
    if total != 0xFFFF and size != 0xFFFFFFFF:
        return total, size
    known = (None if total == 0xFFFF else total, None if size == 0xFFFFFFFF else size)
    loc = pos - 20
    if loc < 0 or tail[loc:loc + 4] != b"PK\x06\x07":
        return known
    offset = struct.unpack("<Q", tail[loc + 8:loc + 16])[0]
    try:
        f.seek(offset)
        rec = f.read(56)
    except (OSError, ValueError, OverflowError):
        return known
    if len(rec) < 56 or rec[:4] != b"PK\x06\x06":
        return known
    return struct.unpack("<QQ", rec[32:48])
