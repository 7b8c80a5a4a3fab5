"""Decode untrusted bytes into bounded text lines.

Every text parser reads through :func:`iter_lines`: UTF-8 with replacement (invalid bytes
never raise), NUL bytes dropped, lines longer than ``MAX_LINE`` cut with a marker, so one
50 MB line costs bounded memory. :func:`iter_line_blocks` is the same reader a chunk at a time
(the fast path of :mod:`loganalyzer.fastpath` works on lists of lines, not on single lines).
"""
from __future__ import annotations

import codecs
import re
from typing import BinaryIO, Callable, Iterator

MAX_LINE = 64 * 1024  # characters kept of one physical line
CHUNK = 1 << 20
CUT_MARK = " ...[line truncated]"


def iter_lines(stream: BinaryIO, max_line: int = MAX_LINE, stats: dict | None = None) -> Iterator[str]:
    """Yield decoded lines without their line ending (``\\n`` or ``\\r\\n``; for files that end
    their lines with a lone ``\\r`` see :func:`cr_line_ends`)."""
    for block in iter_line_blocks(stream, max_line, stats=stats):
        yield from block


class _Reread:
    """``head`` (bytes already read), then the rest of ``stream``; with ``cr_as_lf`` every CR
    reads as LF. ``head`` stays available (what the caller probed)."""

    def __init__(self, head: bytes, stream: BinaryIO, cr_as_lf: bool) -> None:
        self.head = head
        self._head, self._stream, self._cr_as_lf = head, stream, cr_as_lf

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            data = self._stream.read(n)
        elif n is None or n < 0:
            data, self._head = self._head + self._stream.read(), b""
        else:
            data, self._head = self._head[:n], self._head[n:]
        return data.replace(b"\r", b"\n") if self._cr_as_lf else data

    def close(self) -> None:
        self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def cr_line_ends(stream: BinaryIO, probe: int = 64 * 1024) -> tuple[BinaryIO, bool]:
    """``stream`` to read from, and whether its lines end in a lone CR: when its first ``probe``
    bytes hold a CR and no LF (classic Mac line ends: else the file is one long line), the
    stream returned reads every CR as LF. The returned stream's ``head`` is the probe."""
    head = stream.read(probe)
    cr_only = b"\r" in head and b"\n" not in head
    return _Reread(head, stream, cr_only), cr_only


_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\t\n\r\f\v\x1b"


def looks_binary(head: bytes) -> bool:
    """True when more than a tenth of ``head`` (512 bytes at least) is neither printable ASCII,
    whitespace nor valid UTF-8: an executable, an image or random bytes under a log's name."""
    if len(head) < 512:
        return False
    odd = len(head.translate(None, _TEXT_BYTES))
    if odd * 10 <= len(head):
        return False
    text = head.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") + sum(1 for c in text if c < " " and c not in "\t\n\r\f\v\x1b")
    return bad * 10 > len(text)


def visible(text: str) -> str:
    """``text`` with control and format characters (escape sequences, line breaks, bidi
    overrides) as ``?``: bundle text that cannot drive a terminal or break a line."""
    return text if text.isprintable() else "".join(ch if ch.isprintable() else "?" for ch in text)


def iter_line_blocks(stream: BinaryIO, max_line: int = MAX_LINE, chunk: int = CHUNK,
                     on_raw: Callable[[bytes], None] | None = None,
                     first_chunk: int | None = None, stats: dict | None = None) -> Iterator[list[str]]:
    """Yield lists of finished lines, one list per chunk read; ``on_raw`` sees each raw chunk first.
    ``first_chunk``: a smaller size for the first read (the reader learns the file's eras early).
    ``stats["cut"]`` counts the lines cut at ``max_line``.

    The concatenation of the lists is exactly what :func:`iter_lines` yields.
    """
    cuts = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""  # text of the current unfinished line (at most max_line chars kept)
    overflow = False
    at_start = True
    size = first_chunk or chunk
    while True:
        data = stream.read(size)
        size = chunk
        final = not data
        if data and on_raw is not None:
            on_raw(data)
        text = decoder.decode(data, final=final)
        if at_start and text:  # a byte-order mark before the first line is not part of it
            at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        if "\x00" in text:
            text = text.replace("\x00", "")
        if text:
            parts = text.split("\n")
            if len(parts) == 1:  # no line ends in this chunk
                if not overflow:
                    pending += text
                    if len(pending) > max_line:
                        pending, overflow = pending[:max_line], True
                        cuts += 1
            else:
                first = parts[0]
                if overflow:
                    head = _finish(pending, True)
                else:
                    head = pending + first
                    if len(head) > max_line:
                        head = _finish(head[:max_line], True)
                        cuts += 1
                    else:
                        head = _finish(head, False)
                tail = parts[-1]
                block = parts
                block[0] = head
                del block[-1]
                # the rare lines that need care: too long, or a CR before the LF
                if "\r" in text or (len(block) > 1 and max(map(len, block)) > max_line):
                    for i in range(1, len(block)):
                        line = block[i]
                        if len(line) > max_line:
                            block[i] = _finish(line[:max_line], True)
                            cuts += 1
                        elif line[-1:] == "\r":
                            block[i] = line[:-1]
                yield block
                pending, overflow = tail, False
                if len(pending) > max_line:
                    pending, overflow = pending[:max_line], True
                    cuts += 1
        if stats is not None:
            stats["cut"] = cuts
        if final:
            break
    if pending or overflow:
        yield [_finish(pending, overflow)]


_SURROGATES = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes of a name, JSON ``"\\ud800"``) as U+FFFD:
    they cannot be encoded, so no output could carry them."""
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def _finish(line: str, overflow: bool) -> str:
    if line.endswith("\r"):
        line = line[:-1]
    return line + CUT_MARK if overflow else line


def read_capped(stream: BinaryIO, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes; the flag says whether more was there."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        return data[:limit], True
    return data, False
