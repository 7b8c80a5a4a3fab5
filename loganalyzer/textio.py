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


def iter_lines(stream: BinaryIO, max_line: int = MAX_LINE) -> Iterator[str]:
    """Yield decoded lines without their line ending (``\\n``, ``\\r\\n`` or lone ``\\r``)."""
    for block in iter_line_blocks(stream, max_line):
        yield from block


def iter_line_blocks(stream: BinaryIO, max_line: int = MAX_LINE, chunk: int = CHUNK,
                     on_raw: Callable[[bytes], None] | None = None,
                     first_chunk: int | None = None) -> Iterator[list[str]]:
    """Yield lists of finished lines, one list per chunk read; ``on_raw`` sees each raw chunk first.
    ``first_chunk``: a smaller size for the first read (the reader learns the file's eras early).

    The concatenation of the lists is exactly what :func:`iter_lines` yields.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""  # text of the current unfinished line (at most max_line chars kept)
    overflow = False
    size = first_chunk or chunk
    while True:
        data = stream.read(size)
        size = chunk
        final = not data
        if data and on_raw is not None:
            on_raw(data)
        text = decoder.decode(data, final=final)
        if "\x00" in text:
            text = text.replace("\x00", "")
        if text:
            parts = text.split("\n")
            if len(parts) == 1:  # no line ends in this chunk
                if not overflow:
                    pending += text
                    if len(pending) > max_line:
                        pending, overflow = pending[:max_line], True
            else:
                first = parts[0]
                if overflow:
                    head = _finish(pending, True)
                else:
                    head = pending + first
                    head = _finish(head[:max_line], True) if len(head) > max_line else _finish(head, False)
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
                        elif line[-1:] == "\r":
                            block[i] = line[:-1]
                yield block
                pending, overflow = tail, False
                if len(pending) > max_line:
                    pending, overflow = pending[:max_line], True
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
