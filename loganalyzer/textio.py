"""Decode untrusted bytes into bounded text lines.

Every text parser reads through :func:`iter_lines`: UTF-8 with replacement (invalid bytes
never raise), NUL bytes dropped, lines longer than ``MAX_LINE`` cut with a marker, so one
50 MB line costs bounded memory.
"""
from __future__ import annotations

import codecs
from typing import BinaryIO, Iterator

MAX_LINE = 64 * 1024  # characters kept of one physical line
CHUNK = 1 << 20
CUT_MARK = " ...[line truncated]"


def iter_lines(stream: BinaryIO, max_line: int = MAX_LINE) -> Iterator[str]:
    """Yield decoded lines without their line ending (``\\n``, ``\\r\\n`` or lone ``\\r``)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""  # text of the current unfinished line (at most max_line chars kept)
    overflow = False
    while True:
        chunk = stream.read(CHUNK)
        final = not chunk
        text = decoder.decode(chunk, final=final)
        if "\x00" in text:
            text = text.replace("\x00", "")
        if text:
            parts = text.split("\n")
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if not overflow:
                    pending += part
                    if len(pending) > max_line:
                        pending = pending[:max_line]
                        overflow = True
                if last:
                    break
                yield _finish(pending, overflow)
                pending, overflow = "", False
        if final:
            break
    if pending or overflow:
        yield _finish(pending, overflow)


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
