"""DHCP lease files: does the lease carry option 245 (the WireServer address)?

dhclient / NetworkManager-dhclient (kind ``dhcp_leases``), one LeaseFact per block::

    lease {
      interface "eth0";
      fixed-address 10.0.1.4;
      option dhcp-server-identifier 168.63.129.16;
      option unknown-245 a8:3f:81:10;
      expire 4 2015/06/16 16:58:54;
    }

systemd-networkd (kind ``networkd_lease``; also NetworkManager's internal client), one LeaseFact
per file::

    ADDRESS=10.0.1.4
    SERVER_ADDRESS=168.63.129.16
    LIFETIME=4294967295
    OPTION_245=a83f8110

The decoding follows the agent (``osutil/default.py get_endpoint_from_leases_path``): the four
hex bytes of ``option unknown-245`` are the endpoint's dotted quad. Expire times are UTC
(dhclient's default); ``expire ... never`` leaves ``expire`` None.
"""
from __future__ import annotations

from collections import deque

import re
from datetime import datetime, timezone
from typing import Iterator

from ..model import LeaseFact, Record
from . import ParseContext, data_parser
from .misc import decode

MAX_LEASES = 10_000

_LEASE_START = re.compile(r"^\s*lease\s*\{")
_INTERFACE = re.compile(r'^\s*interface\s+"([^"]{1,64})"\s*;')
_FIXED = re.compile(r"^\s*fixed-address\s+([0-9.]{7,15})\s*;")
_SERVER_ID = re.compile(r"^\s*option\s+dhcp-server-identifier\s+([0-9.]{7,15})\s*;")
_OPT245 = re.compile(r"^\s*option\s+unknown-245\s+(.*?)\s*;")
_HEX245 = re.compile(r"^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})$")
_EXPIRE = re.compile(r"^\s*expire\s+(.*?)\s*;")
_EXPIRE_DATE = re.compile(r"^(?:\d\s+)?(\d{4})/(\d{1,2})/(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})$")
_EXPIRE_EPOCH = re.compile(r"^epoch\s+(\d{1,12})$")
_NETWORKD_KV = re.compile(r"^([A-Z][A-Z0-9_]{0,40})=(.*)$")


def decode_245(value: str) -> str | None:
    """'a8:3f:81:10' (or a quoted octal-escaped string of 4 bytes) -> '168.63.129.16'."""
    value = value.strip()
    m = _HEX245.match(value)
    if m:
        return ".".join(str(int(g, 16)) for g in m.groups())
    if len(value) >= 2 and value[0] == value[-1] == '"':
        raw = bytearray()
        body, i = value[1:-1], 0
        while i < len(body):
            if body[i] == "\\" and re.fullmatch(r"[0-7]{3}", body[i + 1:i + 4]):
                raw.append(int(body[i + 1:i + 4], 8) & 0xFF)
                i += 4
            elif body[i] == "\\" and i + 1 < len(body):
                raw.append(ord(body[i + 1]) & 0xFF)
                i += 2
            else:
                raw.append(ord(body[i]) & 0xFF)
                i += 1
        if len(raw) == 4:
            return ".".join(str(b) for b in raw)
    if re.fullmatch(r"[0-9a-fA-F]{8}", value):
        return ".".join(str(int(value[i:i + 2], 16)) for i in range(0, 8, 2))
    return None


def _expire(value: str) -> datetime | None:
    m = _EXPIRE_DATE.match(value.strip())
    if m:
        try:
            return datetime(*(int(g) for g in m.groups()), tzinfo=timezone.utc)
        except ValueError:
            return None
    m = _EXPIRE_EPOCH.match(value.strip())
    if m:
        try:
            return datetime.fromtimestamp(int(m.group(1)), tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    return None


@data_parser("dhcp_leases")
def parse_dhcp_leases(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """dhclient lease blocks; networkd-style KEY=VALUE files are handed to the networkd parser."""
    text = decode(data)
    if not text.strip():
        ctx.problem(source, "empty lease file", severity="info")
        return iter(())
    lines = text.splitlines()
    if not any(_LEASE_START.match(ln) for ln in lines):
        if _is_networkd(lines):
            _networkd(lines, source, ctx)
        else:
            ctx.problem(source, "unrecognised lease format")
        return iter(())
    current: LeaseFact | None = None
    kept: deque[LeaseFact] = deque(maxlen=MAX_LEASES)  # dhclient appends: the newest blocks are kept
    count = 0
    for no, line in enumerate(lines, 1):
        if _LEASE_START.match(line):
            if current is not None:
                ctx.problem(source, "lease block not closed", line=no)
                kept.append(current)
                count += 1
            current = LeaseFact(source=source)
            continue
        if current is None:
            continue
        if line.strip().startswith("}"):
            kept.append(current)
            count += 1
            current = None
            continue
        m = _INTERFACE.match(line)
        if m:
            current.interface = m.group(1)
            continue
        m = _FIXED.match(line)
        if m:
            current.fixed_address = m.group(1)
            continue
        m = _SERVER_ID.match(line)
        if m:
            current.server_id = m.group(1)
            continue
        m = _OPT245.match(line)
        if m:
            current.has_245 = True
            current.endpoint = decode_245(m.group(1))
            if current.endpoint is None:
                ctx.problem(source, "option unknown-245 value could not be decoded", line=no)
            continue
        m = _EXPIRE.match(line)
        if m:
            value = m.group(1)
            current.expire = _expire(value)
            if current.expire is None and "never" not in value:
                ctx.problem(source, "could not parse expiry token", line=no)
    if current is not None:
        ctx.problem(source, "lease file ends inside a lease block (truncated?)")
        kept.append(current)
        count += 1
    if count > MAX_LEASES:  # red team 14: the first 10,000 were kept, the newest dropped
        ctx.problem(source, f"{count} lease blocks: the oldest {count - MAX_LEASES} ignored, the newest "
                            f"{MAX_LEASES} read")
    ctx.facts.leases.extend(kept)
    return iter(())


def _is_networkd(lines: list[str]) -> bool:
    keys = {m.group(1) for ln in lines[:500] if (m := _NETWORKD_KV.match(ln.strip()))}
    return bool(keys & {"ADDRESS", "SERVER_ADDRESS", "LIFETIME", "ROUTER", "DNS"}) or any(
        k.startswith("OPTION_") for k in keys)


def _networkd(lines: list[str], source: str, ctx: ParseContext) -> None:
    values: dict[str, str] = {}
    for line in lines:  # every line (red team 14: OPTION_245 after line 5,000 was not read: a false alarm)
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _NETWORKD_KV.match(line)
        if m:
            key, value = m.group(1), m.group(2).strip()
            if key == "OPTION_245" and values.get(key, value) != value:
                ctx.problem(source, "OPTION_245 given twice with different values; the first is read")
            values.setdefault(key, value)
    lease = LeaseFact(source=source)
    lease.fixed_address = values.get("ADDRESS") or None
    lease.server_id = values.get("SERVER_ADDRESS") or None
    if "OPTION_245" in values:
        lease.has_245 = True
        lease.endpoint = decode_245(values["OPTION_245"])
        if lease.endpoint is None:
            ctx.problem(source, "OPTION_245 value could not be decoded")
    ctx.facts.leases.append(lease)


@data_parser("networkd_lease")
def parse_networkd_lease(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """/run/systemd/netif/leases/<ifindex>: KEY=VALUE; OPTION_245=a83f8110 carries the endpoint."""
    text = decode(data)
    if not text.strip():
        ctx.problem(source, "empty lease file", severity="info")
        return iter(())
    lines = text.splitlines()
    if not _is_networkd(lines):
        ctx.problem(source, "unrecognised lease format")
        return iter(())
    _networkd(lines, source, ctx)
    return iter(())
