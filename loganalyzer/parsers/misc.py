"""Small structured files (os-release, hostname, Incarnation, WireServerEndpoint) and shared helpers.

Sample inputs::

    /etc/os-release                 NAME="Ubuntu"\\nVERSION_ID="22.04"
    /etc/redhat-release             CentOS Linux release 7.9.2009 (Core)
    /etc/hostname                   myvm
    /var/lib/waagent/Incarnation    3
    /var/lib/waagent/WireServerEndpoint   168.63.129.16
"""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from ..model import Record
from . import ParseContext, data_parser

MAX_TEXT = 4096  # bytes read of one-value files

# --------------------------------------------------------------------------- shared helpers


def scratch(ctx: ParseContext, name: str) -> dict[str, Any]:
    """Per-bundle bookkeeping of the structured parsers (ordering keys), kept off the report."""
    return ctx.scratch.setdefault(name, {})


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe", "utf-16-le"),
         (b"\xfe\xff", "utf-16-be"))


def decode(data: bytes) -> str:
    """UTF-8 (BOM tolerated), or UTF-16/32 when a byte-order mark says so (a file saved by a
    Windows editor), with replacement; NULs dropped."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace").replace("\x00", "")
    return data.decode("utf-8-sig", errors="replace").replace("\x00", "")


_ISO_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?\s*$")
_MSDATE_RE = re.compile(r"^\s*\\?/Date\((-?\d{1,15})\)\\?/\s*$")


def parse_utc(value: Any) -> datetime | None:
    """ISO-8601 ('2024-05-01T10:00:00Z', naive = UTC) or '/Date(ms)/' to aware UTC; None if not a time."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    m = _ISO_RE.match(value)
    if m:
        y, mo, d, h, mi, s, frac, tz = m.groups()
        try:
            micro = int((frac or "0")[:6].ljust(6, "0"))
            ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro,
                          tzinfo=timezone.utc)
        except ValueError:
            return None
        if tz and tz != "Z":
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            try:
                ts = ts - sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            except (ValueError, OverflowError):
                return None
        return ts
    m = _MSDATE_RE.match(value)
    if m:
        try:
            return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    return None


def add_incarnation(ctx: ParseContext, value: Any) -> int | None:
    """Record an incarnation number (kept sorted and unique); returns it as int or None."""
    try:
        inc = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    if inc < 0 or inc > 10**12:
        return None
    if inc not in ctx.facts.incarnations:
        ctx.facts.incarnations.append(inc)
        ctx.facts.incarnations.sort()
    return inc


def basename(source: str) -> str:
    return source.rstrip("/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- os_release

_KV_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_RELEASE_LINE_RE = re.compile(r"^(?P<name>.*?)\s+(?:release\s+)?(?P<ver>\d+(?:\.\d+)*)\b")
_OS_PRIORITY = {"os-release": 3, "lsb-release": 2}  # any other *-release: 1
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_]{0,252}$")


_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory", "leapseconds", "tzdata.zi", "zone.tab",
                        "zone1970.tab", "iso3166.tab"})


def _timezone(text: str, source: str, ctx: ParseContext) -> None:
    """Set the zone of local-time stamps from /etc/timezone (read before any log: a data file)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415 - rare input
    key = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")), "")
    if not key:
        return
    try:  # 'localtime', 'posixrules', 'Factory' name the analysing machine's zone or none (red team 15)
        zone = ZoneInfo(key) if len(key) <= 64 and key not in _NOT_ZONES and not key.startswith(("posix/", "right/")) \
            else None
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, or a path ('../../etc/passwd')
        zone = None
    if zone is None:
        ctx.problem(source, f"unknown time zone {key[:64]!r}: local times are read as UTC")
        return
    ctx.facts.timezone = key
    ctx.tz, ctx.tz_known = zone, True


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
    return v.replace('\\"', '"').replace("\\$", "$").replace("\\\\", "\\")


@data_parser("os_release")
def parse_os_release(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """/etc/os-release (KEY="value"), /etc/lsb-release, /etc/*-release one-liners, /etc/hostname,
    /etc/timezone (``Europe/Berlin``: the zone the VM's local-time logs are read in)."""
    name = basename(source)
    text = decode(data[:65536])
    if len(data) > 65536:  # real ones hold a few hundred bytes (red team 14: the rest went unsaid)
        ctx.problem(source, "larger than 64 KiB: only the start was read", severity="info")
    facts = ctx.facts
    if name == "timezone":
        _timezone(text, source, ctx)
        return iter(())
    if name == "hostname":
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()
                      and not ln.strip().startswith("#")), "")
        if first and _HOSTNAME_RE.match(first):
            facts.hostname = first  # the VM's own file beats ovf-env / status blobs
            scratch(ctx, "hostname")["source"] = source
        elif first:
            ctx.problem(source, "hostname file does not hold a host name")
        return iter(())
    state = scratch(ctx, "os")
    prio = _OS_PRIORITY.get(name, 1)
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = _KV_RE.match(line)
        if m:
            values[m.group(1)] = _unquote(m.group(2))
    os_name = os_version = None
    if "NAME" in values or "VERSION_ID" in values or "ID" in values:
        os_name = values.get("NAME") or values.get("ID")
        os_version = values.get("VERSION_ID") or values.get("VERSION")
    elif "DISTRIB_ID" in values:
        os_name, os_version = values.get("DISTRIB_ID"), values.get("DISTRIB_RELEASE")
    else:
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        m = _RELEASE_LINE_RE.match(line)
        if m:
            os_name, os_version = m.group("name").strip() or None, m.group("ver")
        elif line:
            os_name = line[:200]
    if not os_name and not os_version:
        ctx.problem(source, "no distribution name or version found")
        return iter(())
    if prio >= state.get("priority", 0):
        state["priority"] = prio
        facts.os_name = (os_name or facts.os_name)
        facts.os_version = (os_version or facts.os_version)
        facts.extra["os_release_source"] = source
    return iter(())


# --------------------------------------------------------------------------- incarnation


@data_parser("incarnation")
def parse_incarnation(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """/var/lib/waagent/Incarnation: the current incarnation as a bare integer (legacy agents)."""
    text = decode(data[:MAX_TEXT]).strip()
    inc = add_incarnation(ctx, text) if re.fullmatch(r"\d{1,12}", text) else None
    if inc is None:
        ctx.problem(source, "Incarnation file does not hold an integer")
    else:
        ctx.facts.extra["incarnation_file"] = inc
    return iter(())


# --------------------------------------------------------------------------- wireserver_endpoint


@data_parser("wireserver_endpoint")
def parse_wireserver_endpoint(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """/var/lib/waagent/WireServerEndpoint: the endpoint the agent last used, e.g. 168.63.129.16."""
    text = decode(data[:MAX_TEXT]).strip()
    try:
        addr = str(ipaddress.IPv4Address(text))
    except ValueError:
        ctx.problem(source, "WireServerEndpoint file does not hold an IPv4 address")
        return iter(())
    ctx.facts.endpoint = addr
    ctx.facts.endpoint_source = "WireServerEndpoint file"
    return iter(())


# --------------------------------------------------------------------------- redaction (shared)

from ..redact import redact  # noqa: E402,F401 - one redaction for the whole project
