"""Extension handler state files under /var/lib/waagent/<Handler>-<Version>/ and the agent's status blob.

Kinds and sample content::

    ext_status           status/25.status   [{"version": "1.0", "timestampUTC": "2024-01-14T22:17:32Z",
                                              "status": {"status": "error", "code": 1009, "operation": "Enable",
                                                         "formattedMessage": {"lang": "en-US", "message": "..."}}}]
    handler_status       config/HandlerStatus   {"name": ..., "version": ..., "status": "NotReady", "code": 1009, "message": ...}
    handler_state        config/HandlerState    Enabled
    handler_manifest     HandlerManifest.json   [{"name": ..., "handlerManifest": {"enableCommand": ...}}]
    handler_env          HandlerEnvironment.json [{"handlerEnvironment": {"logFolder": ...}}]
    mrseq                mrseq                  25
    ext_settings         config/25.settings     {"runtimeSettings": [{"handlerSettings": {"publicSettings": {...}}}]}
    waagent_status_json  waagent_status.json    {"aggregateStatus": {"guestAgentStatus": ..., "handlerAggregateStatus": [...]}}
    agent_error_json     WALinuxAgent-2.2.53/error.json  {"last_failure": 1.7e9, "failure_count": 3, "was_fatal": false}

Each ``.status`` file yields one synthetic record (kind ``ext_status``), and each failing handler
status one record, so the patterns that match waagent.log messages also match the extension's own
words. Message shape::

    <formattedMessage> [status=<status> code=<code> extErrorCode=<extErrorCode>]

VMSnapshotLinux quirk (backup-extension.md §1.5): the top-level ``status`` is forced to
``success``; the real outcome is ``code`` (a string such as "76") and the escaped JSON report in
``substatus[0].name`` (inner status, ``vmHealthInfo.vmHealthStatusCode``, telemetry
``extErrorCode``). Code "4" / "Transitioning state in extension" is ``transitioning``; code 316
(``FailedPrepostPluginConfigNotFound``) is benign. Protected settings are never read.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from ..model import ExtensionFact, Record
from . import ParseContext, data_parser
from .misc import basename, decode, parse_utc, redact, scratch

AGENT_STATUS_LIMIT = 128 * 1024  # _MAX_STATUS_FILE_SIZE_IN_BYTES: the agent ignores larger files
MAX_MESSAGE = 4096
VALID_STATUS = ("transitioning", "warning", "error", "success")
BENIGN_CODES = {"316"}
BENIGN_EXT_ERRORS = {"FailedPrepostPluginConfigNotFound", "316"}
TRANSITIONING_CODE = "4"

_HANDLER_DIR_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.]+(?:-[A-Za-z][A-Za-z0-9_.]*)*)-(?P<ver>\d+(?:\.\d+)+)$")
_STATUS_FILE_RE = re.compile(r"^(?:(?P<ext>.+)\.)?(?P<seq>\d{1,9})\.status$")
_SETTINGS_FILE_RE = re.compile(r"^(?:(?P<ext>.+)\.)?(?P<seq>\d{1,9})\.settings$")


# --------------------------------------------------------------------------- helpers


def handler_from_path(source: str) -> tuple[str | None, str | None]:
    """('Microsoft.Azure.RecoveryServices.VMSnapshotLinux', '1.0.9225.0') from a bundle path."""
    for seg in reversed(source.split("/")[:-1]):
        m = _HANDLER_DIR_RE.match(seg)
        if m:
            return m.group("name"), m.group("ver")
    return None, None


def version_key(version: str | None) -> tuple[int, ...]:
    if not version:
        return ()
    out = []
    for part in version.split("."):
        out.append(int(part) if part.isdigit() else 0)
    return tuple(out)


JSON_CAP = 4 * 1024 * 1024  # a JSON data file larger than this is not parsed whole (memory)
MAX_HANDLERS = 500  # handlers read from one status blob (the backup extension's always)


def load_json(data: bytes, source: str, ctx: ParseContext, what: str) -> Any:
    """json.loads with problems instead of exceptions; distinguishes truncated from malformed JSON.
    Above JSON_CAP nothing is parsed (red team 14: 16 MB of '[{},{},...]' took 450 MB)."""
    if len(data) > JSON_CAP:
        ctx.problem(source, f"{what} too large to read whole ({len(data) // 1024} KiB; at most "
                            f"{JSON_CAP // 1024} KiB)", partial=True)
        return None
    text = decode(data)
    if not text.strip():
        ctx.problem(source, f"empty {what}")
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            ctx.problem(source, f"truncated JSON in {what} (file cut after {len(data)} bytes)")
        else:
            ctx.problem(source, f"malformed JSON in {what}: {exc.msg} at line {exc.lineno} "
                                f"column {exc.colno}")
    except (ValueError, RecursionError) as exc:
        ctx.problem(source, f"unreadable JSON in {what}: {type(exc).__name__}")
    return None


def _s(value: Any) -> str | None:
    """A scalar as a string (None stays None, containers become None)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _get(d: Any, *keys: str) -> Any:
    """Case-tolerant nested dict lookup (status files mix 'formattedMessage'/'FormattedMessage')."""
    for key in keys:
        if not isinstance(d, dict):
            return None
        if key in d:
            d = d[key]
            continue
        low = key.lower()
        d = next((v for k, v in d.items() if isinstance(k, str) and k.lower() == low), None)
    return d


def _message(status: Any) -> str | None:
    """formattedMessage.message (or a plain 'message' string), VMSnapshot messageStr unwrapped."""
    msg = _get(status, "formattedMessage", "message")
    if not isinstance(msg, str):
        msg = _get(status, "message")
        if not isinstance(msg, str):
            return None
    msg = msg.strip()
    if msg.startswith("{") and "messageStr" in msg:
        try:
            inner = json.loads(msg)
        except (ValueError, RecursionError):
            inner = None
        if isinstance(inner, dict):
            text = _s(inner.get("messageStr")) or _s(inner.get("jobMessage")) or ""
            job = _s(inner.get("jobMessage"))
            if job and job not in text:
                text = f"{text} {job}".strip()
            msg = text
    msg = redact(msg)
    return msg[:MAX_MESSAGE] if msg else None


def _telemetry(report: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    items = _get(report, "telemetryData")
    if isinstance(items, list):
        for item in items[:200]:
            if isinstance(item, dict):
                k, v = _s(item.get("Key")), _s(item.get("Value"))
                if k and v is not None and k not in out:
                    out[k] = redact(v)[:256]
    return out


@dataclass
class StatusInfo:
    """What one extension status object says, quirks resolved."""

    status: str | None = None
    raw_status: str | None = None
    code: str | None = None
    message: str | None = None
    operation: str | None = None
    name: str | None = None
    ext_error_code: str | None = None
    vm_health_status_code: str | None = None
    telemetry: dict[str, str] = field(default_factory=dict)
    substatus_messages: list[str] = field(default_factory=list)
    vmsnapshot: bool = False
    benign: bool = False
    notes: list[str] = field(default_factory=list)


def interpret_status(st: dict, handler: str | None) -> StatusInfo:
    """Read a ``status`` object (of a .status file or a settingsStatus), resolving the VMSnapshot quirks."""
    info = StatusInfo()
    info.raw_status = _s(_get(st, "status"))
    info.code = _s(_get(st, "code"))
    info.operation = _s(_get(st, "operation"))
    info.name = _s(_get(st, "name"))
    info.message = _message(st)
    status = (info.raw_status or "").lower() or None
    if status is not None and status not in VALID_STATUS:
        info.notes.append(f"status value {info.raw_status!r} is not one the agent accepts "
                          "(it reports it as error)")
        status = "error"
    info.vmsnapshot = "VMSnapshotLinux" in (handler or "") or "VMSnapshotLinux" in (info.name or "")
    inner_status = None
    subs = _get(st, "substatus")
    if isinstance(subs, list):
        for i, sub in enumerate(subs[:50]):
            if not isinstance(sub, dict):
                continue
            sname = _get(sub, "name")
            if i == 0 and isinstance(sname, str) and sname.lstrip().startswith("[{"):
                try:
                    inner = json.loads(sname)
                except (ValueError, RecursionError):
                    info.notes.append("substatus[0].name holds unreadable JSON")
                    inner = None
                if isinstance(inner, list) and inner and isinstance(inner[0], dict):
                    report = _get(inner[0], "status")
                    if isinstance(report, dict):
                        info.vmsnapshot = True
                        inner_status = (_s(_get(report, "status")) or "").lower() or None
                        info.telemetry = _telemetry(report)
                        health = _get(report, "vmHealthInfo", "vmHealthStatusCode")
                        info.vm_health_status_code = _s(health)
                        if not info.code:
                            info.code = _s(_get(report, "code"))
                        if not info.message:
                            info.message = _message(report)
                        if not info.operation:
                            info.operation = _s(_get(report, "operation"))
                continue
            smsg = _message(sub)
            if smsg:
                label = _s(sname) or "substatus"
                info.substatus_messages.append(f"{redact(label)[:200]}: {smsg}")
    info.ext_error_code = info.telemetry.get("extErrorCode") or info.vm_health_status_code
    if inner_status in VALID_STATUS:
        status = inner_status
    if info.vmsnapshot:
        msg = info.message or ""
        if info.code == TRANSITIONING_CODE or "Transitioning state in extension" in msg:
            status = "transitioning"
    if (info.code in BENIGN_CODES
            or (info.ext_error_code in BENIGN_EXT_ERRORS and info.code in (None, "0", "1", "316"))):
        if status in ("error", "warning"):
            info.notes.append("code 316 (FailedPrepostPluginConfigNotFound) is the normal state "
                              "without pre/post scripts; not an error")
        info.benign = True
        status = "success" if status in ("error", "warning", None) else status
    info.status = status
    return info


def _level(status: str | None) -> str:
    if status == "error":
        return "ERROR"
    if status in ("warning", "transitioning"):
        return "WARNING"
    return "INFO"


def _suffix(status: str | None, code: str | None, ext_error: str | None) -> str:
    return f" [status={status or ''} code={code or ''} extErrorCode={ext_error or ''}]"


def _ext_key(handler: str | None, ext: str | None) -> str | None:
    if not handler:
        return None
    return f"{handler}.{ext}" if ext else handler


def _add_source(fact: ExtensionFact, source: str) -> None:
    if source not in fact.sources:
        fact.sources.append(source)


def _note_handler_dir(ctx: ParseContext, handler: str | None, version: str | None) -> None:
    if not handler or not version:
        return
    dirs = ctx.facts.extra.setdefault("handler_dirs", {})
    versions = dirs.setdefault(handler, [])
    if version not in versions:
        versions.append(version)
        versions.sort(key=version_key)


def _newer(new: tuple, old: tuple | None) -> bool:
    """Ordering of status reports: (timestamp, seq, version). Timestamps win when both have one."""
    if old is None:
        return True
    nts, nseq, nver = new
    ots, oseq, over = old
    if nts is not None and ots is not None and nts != ots:
        return nts > ots
    if nseq is not None and oseq is not None and nseq != oseq:
        return nseq > oseq
    if nver != over:
        return nver > over
    if (nts is None) != (ots is None):
        return nts is not None
    return True


# --------------------------------------------------------------------------- ext_status


@data_parser("ext_status")
def parse_ext_status(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """One ``<seq>.status`` / ``<Ext>.<seq>.status`` file -> ExtensionFact (newest wins) + one record."""
    handler, version = handler_from_path(source)
    fname = basename(source)
    m = _STATUS_FILE_RE.match(fname)
    seq = int(m.group("seq")) if m else None
    ext = m.group("ext") if m else None
    _note_handler_dir(ctx, handler, version)
    if len(data) > AGENT_STATUS_LIMIT:
        ctx.problem(source, f"status file too large ({len(data)} bytes); the agent ignores status "
                            f"files over {AGENT_STATUS_LIMIT} bytes")
    doc = load_json(data, source, ctx, "status file")
    if doc is None:
        salvaged = _salvage(decode(data[:AGENT_STATUS_LIMIT * 8]))
        if not salvaged:
            return
        doc = [salvaged]
        ctx.problem(source, "status read partially from damaged JSON", severity="info")
    if isinstance(doc, dict):
        ctx.problem(source, "the extension status must be an array (the agent rejects it)")
        doc = [doc]
    if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict):
        ctx.problem(source, "status file holds no status object")
        return
    top = doc[0]
    st = _get(top, "status")
    if not isinstance(st, dict):
        ctx.problem(source, "status file has no 'status' object")
        return
    if _get(st, "status") is None:
        ctx.problem(source, "Invalid status format by extension: Missing status/status key")
    info = interpret_status(st, handler)
    for note in info.notes:
        ctx.problem(source, note, severity="info")
    ts = parse_utc(_get(top, "timestampUTC"))
    key = _ext_key(handler, ext) or _ext_key(info.name, None)
    if key:
        fact = ctx.facts.extension(key)
        _add_source(fact, source)
        if fact.version is None and version:
            fact.version = version
        order = scratch(ctx, "ext_status_order")
        new = (ts, seq, version_key(version))
        if _newer(new, order.get(key)):
            order[key] = new
            fact.status = info.status
            fact.code = info.code
            fact.message = info.message
            fact.ext_error_code = info.ext_error_code
            fact.operation = info.operation
            fact.status_time = ts
            if info.vmsnapshot:
                detail = {k: info.telemetry[k] for k in _SNAPSHOT_KEYS if k in info.telemetry}
                detail.update({"source": source, "seq": seq, "code": info.code,
                               "vmHealthStatusCode": info.vm_health_status_code,
                               "status": info.status, "benign": info.benign})
                ctx.facts.extra.setdefault("vmsnapshot_status", {})[key] = detail
    text = info.message or ""
    msg = text + _suffix(info.status, info.code, info.ext_error_code)
    if info.substatus_messages:
        msg += "\n" + "\n".join(info.substatus_messages[:20])
    prefix = f"[{handler}-{version}]" if handler and version else (f"[{key}]" if key else None)
    yield Record(source=source, line=1, ts=ts, level=_level(info.status), message=msg,
                 kind="ext_status", prefix=prefix, raw=msg.split("\n", 1)[0])


_SNAPSHOT_KEYS = ("extErrorCode", "snapshotCreator", "hostStatusCodePreSnapshot",
                  "hostStatusCodeDoSnapshot", "extensionVersion", "guestAgentVersion",
                  "osVersion", "kernelVersion", "pythonVersion", "statusBlobUploadError",
                  "FreezeTime", "ThawTime", "snapshotTimeTaken", "prePostEnabled",
                  "consistencyType")

_SALVAGE = {
    "status": re.compile(r'"status"\s*:\s*"([A-Za-z]{1,20})"'),
    "code": re.compile(r'"code"\s*:\s*"?(-?\d{1,9})'),
    "timestampUTC": re.compile(r'"timestampUTC"\s*:\s*"([^"\\]{1,40})"'),
    "operation": re.compile(r'"operation"\s*:\s*"([^"\\]{1,60})"'),
    "message": re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.){0,1024})'),
    "name": re.compile(r'"name"\s*:\s*"([^"\\]{1,200})"'),
}


def _salvage(text: str) -> dict | None:
    """Best-effort fields from a damaged/truncated status file (first occurrence of each key)."""
    found = {k: rx.search(text) for k, rx in _SALVAGE.items()}
    if not found["status"] and not found["code"]:
        return None
    st: dict[str, Any] = {}
    for key in ("status", "code", "operation", "name"):
        if found[key]:
            st[key] = found[key].group(1)
    if found["message"]:
        raw = found["message"].group(1)
        try:
            msg = json.loads(f'"{raw}"')
        except ValueError:
            msg = raw
        st["formattedMessage"] = {"lang": "en-US", "message": msg}
    top: dict[str, Any] = {"status": st}
    if found["timestampUTC"]:
        top["timestampUTC"] = found["timestampUTC"].group(1)
    return top


# --------------------------------------------------------------------------- handler files


@data_parser("handler_status")
def parse_handler_status(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """config/HandlerStatus JSON -> ExtensionFact.handler_status; a record when not Ready."""
    handler, version = handler_from_path(source)
    _note_handler_dir(ctx, handler, version)
    doc = load_json(data, source, ctx, "HandlerStatus")
    if not isinstance(doc, dict):
        if doc is not None:
            ctx.problem(source, "HandlerStatus is not a JSON object")
        return
    name = handler or _s(doc.get("name"))
    version = version or _s(doc.get("version"))
    status = _s(doc.get("status"))
    code = _s(doc.get("code"))
    message = _s(doc.get("message"))
    message = redact(message)[:MAX_MESSAGE] if message else None
    if not name:
        ctx.problem(source, "HandlerStatus names no handler")
        return
    fact = ctx.facts.extension(name)
    _add_source(fact, source)
    order = scratch(ctx, "handler_status_order")
    # waagent_status.json (the agent's latest report) outranks HandlerStatus files
    if name not in scratch(ctx, "handler_status_from_blob") and _newer(
            (None, None, version_key(version)), order.get(name)):
        order[name] = (None, None, version_key(version))
        fact.handler_status = status
        if fact.version is None and version:
            fact.version = version
    if status and status not in ("Ready",):
        level = "ERROR" if status == "NotReady" else "WARNING"
        msg = (message or "") + _suffix(status, code, None)
        yield Record(source=source, line=1, ts=None, level=level, message=msg, kind="handler_status",
                     prefix=f"[{name}-{version}]" if version else f"[{name}]", raw=msg)


_STATE_RE = re.compile(r"^[A-Za-z]{1,40}$")


@data_parser("handler_state")
def parse_handler_state(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """config/HandlerState (plain text 'Enabled') or config/<Ext>.HandlerState ('enabled')."""
    handler, version = handler_from_path(source)
    _note_handler_dir(ctx, handler, version)
    text = decode(data[:1024]).strip()
    if not handler:
        ctx.problem(source, "HandlerState outside a <Handler>-<Version> folder")
        return iter(())
    if not _STATE_RE.match(text):
        ctx.problem(source, "HandlerState does not hold a state word")
        return iter(())
    fname = basename(source)
    ext = fname[: -len(".HandlerState")] if fname.endswith(".HandlerState") and fname != "HandlerState" else None
    key = _ext_key(handler, ext)
    order = scratch(ctx, "handler_state_order")
    if _newer((None, None, version_key(version)), order.get(key)):
        order[key] = (None, None, version_key(version))
        fact = ctx.facts.extension(key)
        fact.handler_state = text
        _add_source(fact, source)
    return iter(())


_MANIFEST_KEYS = ("installCommand", "uninstallCommand", "updateCommand", "enableCommand",
                  "disableCommand", "rebootAfterInstall", "reportHeartbeat",
                  "continueOnUpdateFailure", "supportsMultipleExtensions", "updateMode")


def _handler_json(data: bytes, source: str, ctx: ParseContext, what: str) -> tuple:
    """(handler, version, first JSON entry or None) of a handler folder's JSON file."""
    handler, version = handler_from_path(source)
    _note_handler_dir(ctx, handler, version)
    doc = load_json(data, source, ctx, what)
    if doc is None:
        return handler, version, None
    return handler, version, (doc[0] if isinstance(doc, list) and doc else doc)


@data_parser("handler_manifest")
def parse_handler_manifest(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """HandlerManifest.json -> facts.extra['handler_manifests']['<Handler>-<Version>']."""
    handler, version, entry = _handler_json(data, source, ctx, "HandlerManifest.json")
    if entry is None:
        return iter(())
    manifest = _get(entry, "handlerManifest")
    if not isinstance(manifest, dict):
        ctx.problem(source, "Malformed manifest file: no handlerManifest object")
        return iter(())
    out: dict[str, Any] = {k: manifest[k] for k in _MANIFEST_KEYS
                           if k in manifest and isinstance(manifest[k], (str, bool, int, float))}
    limits = _get(entry, "resourceLimits")
    if isinstance(limits, dict):
        out["resourceLimits"] = {k: v for k, v in limits.items()
                                 if isinstance(v, (str, int, float, bool))}
    out["name"] = _s(_get(entry, "name"))
    label = f"{handler}-{version}" if handler and version else (out["name"] or source)
    ctx.facts.extra.setdefault("handler_manifests", {})[label] = out
    return iter(())


@data_parser("handler_env")
def parse_handler_env(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """HandlerEnvironment.json -> facts.extra['handler_env']['<Handler>-<Version>'] (folder paths)."""
    handler, version, entry = _handler_json(data, source, ctx, "HandlerEnvironment.json")
    if entry is None:
        return iter(())
    env = _get(entry, "handlerEnvironment")
    if not isinstance(env, dict):
        ctx.problem(source, "HandlerEnvironment.json has no handlerEnvironment object")
        return iter(())
    out = {k: str(v)[:512] for k, v in env.items() if isinstance(v, str)}
    label = f"{handler}-{version}" if handler and version else (_s(_get(entry, "name")) or source)
    ctx.facts.extra.setdefault("handler_env", {})[label] = out
    return iter(())


@data_parser("mrseq")
def parse_mrseq(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """mrseq: the extension's 'most recent sequence number', a bare integer."""
    handler, version = handler_from_path(source)
    _note_handler_dir(ctx, handler, version)
    text = decode(data[:256]).strip()
    if not re.fullmatch(r"-?\d{1,9}", text):
        ctx.problem(source, "mrseq does not hold an integer")
        return iter(())
    label = f"{handler}-{version}" if handler and version else source
    ctx.facts.extra.setdefault("mrseq", {})[label] = int(text)
    return iter(())


@data_parser("ext_settings")
def parse_ext_settings(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """config/<seq>.settings: only publicSettings KEYS are kept; protected settings never read."""
    handler, version = handler_from_path(source)
    _note_handler_dir(ctx, handler, version)
    m = _SETTINGS_FILE_RE.match(basename(source))
    seq = int(m.group("seq")) if m else None
    ext = m.group("ext") if m else None
    key = _ext_key(handler, ext) or source
    entry: dict[str, Any] = {"seq": seq, "source": source, "public_keys": [], "protected": False}
    if data.strip():
        doc = load_json(data, source, ctx, "settings file")
        if doc is None:
            return iter(())
        rs = _get(doc, "runtimeSettings")
        hs = _get(rs[0], "handlerSettings") if isinstance(rs, list) and rs else None
        if not isinstance(hs, dict):
            ctx.problem(source, "settings file has no runtimeSettings[0].handlerSettings")
            return iter(())
        public = hs.get("publicSettings")
        if isinstance(public, str):
            try:
                public = json.loads(public)
            except (ValueError, RecursionError):
                public = None
        if isinstance(public, dict):
            entry["public_keys"] = sorted(str(k)[:100] for k in public)[:100]
        entry["protected"] = bool(hs.get("protectedSettings"))
    store = ctx.facts.extra.setdefault("ext_settings", {})
    old = store.get(key)
    if old is None or (seq or -1) >= (old.get("seq") or -1):
        store[key] = entry
    return iter(())


# --------------------------------------------------------------------------- waagent_status.json


@data_parser("waagent_status_json")
def parse_waagent_status(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """The agent's status blob: agent Ready/NotReady and version, per-handler status (newest blob wins)."""
    doc = load_json(data, source, ctx, "status blob")
    if not isinstance(doc, dict):
        if doc is not None:
            ctx.problem(source, "status blob is not a JSON object")
        return
    agg = _get(doc, "aggregateStatus")
    if not isinstance(agg, dict):
        ctx.problem(source, "status blob has no aggregateStatus")
        return
    ts = parse_utc(_get(doc, "timestampUTC"))
    facts = ctx.facts
    state = scratch(ctx, "waagent_status")
    best = state.get("ts", False)
    newest = best is False or (ts is not None and (best is None or ts >= best))
    if newest:
        state["ts"] = ts
    ga = _get(agg, "guestAgentStatus")
    if isinstance(ga, dict):
        version = _s(ga.get("version"))
        if version and version not in facts.agent_versions:
            facts.agent_versions.append(version)
        if newest:
            facts.agent_status = _s(ga.get("status")) or facts.agent_status
            if version:
                facts.agent_goal_state_version = facts.agent_goal_state_version or version
            upd = _get(ga, "updateStatus")
            if isinstance(upd, dict):
                facts.extra["agent_update_status"] = {
                    "expectedVersion": _s(upd.get("expectedVersion")),
                    "status": _s(upd.get("status")), "code": _s(upd.get("code")),
                    "message": _message(upd)}
            facts.extra["agent_status_message"] = _message(ga)
            facts.extra["agent_status_source"] = source
        if _s(ga.get("status")) not in (None, "Ready"):
            msg = (_message(ga) or "") + _suffix(_s(ga.get("status")), _s(ga.get("code")), None)
            yield from _dedup(ctx, Record(source=source, line=1, ts=ts, level="WARNING", message=msg,
                                          kind="waagent_status_json", prefix=None, raw=msg))
    os_info = _get(doc, "guestOSInfo")
    if isinstance(os_info, dict):
        facts.os_name = facts.os_name or _s(os_info.get("osName"))
        facts.os_version = facts.os_version or _s(os_info.get("osVersion"))
        facts.hostname = facts.hostname or _s(os_info.get("computerName"))
    gs = _get(agg, "vmArtifactsAggregateStatus", "goalStateAggregateStatus")
    if isinstance(gs, dict) and newest:
        facts.extra["goal_state_aggregate_status"] = {
            "status": _s(gs.get("status")), "code": _s(gs.get("code")),
            "inSvdSeqNo": _s(gs.get("inSvdSeqNo")), "message": _message(gs)}
    handlers = _get(agg, "handlerAggregateStatus")
    if not isinstance(handlers, list):
        if handlers is not None:
            ctx.problem(source, "status blob: handlerAggregateStatus is not a list")
        return
    if len(handlers) > MAX_HANDLERS:  # a flood: the backup extension's first (red team 14: it came 601st)
        ctx.problem(source, f"status blob names {len(handlers)} handlers: {len(handlers) - MAX_HANDLERS} "
                            f"not read (the backup extension's are)", partial=True)
        handlers = sorted(handlers, key=lambda h: not (isinstance(h, dict) and "VMSnapshot" in (
            _s(h.get("handlerName")) or "")))[:MAX_HANDLERS]  # stable: the others keep their order
    from_blob = scratch(ctx, "handler_status_from_blob")
    ext_order = scratch(ctx, "ext_status_order")
    for h in handlers:
        if not isinstance(h, dict):
            continue
        name, version = _s(h.get("handlerName")), _s(h.get("handlerVersion"))
        if not name:
            continue
        rss = _get(h, "runtimeSettingsStatus")
        ext = _s(_get(rss, "extensionName"))
        key = _ext_key(name, ext)
        hstatus, hcode, hmsg = _s(h.get("status")), _s(h.get("code")), _message(h)
        settings = _get(rss, "settingsStatus", "status")
        info = interpret_status(settings, name) if isinstance(settings, dict) else None
        if newest:
            for k in {name, key}:
                fact = facts.extension(k)
                _add_source(fact, source)
                fact.handler_status = hstatus
                from_blob[k] = True
                if fact.version is None and version:
                    fact.version = version
            if info is not None and key not in ext_order:  # .status files outrank the blob
                fact = facts.extension(key)
                fact.status, fact.code, fact.message = info.status, info.code, info.message
                fact.operation, fact.ext_error_code = info.operation, info.ext_error_code
                fact.status_time = parse_utc(_get(rss, "settingsStatus", "timestampUTC")) or ts
        prefix = f"[{name}-{version}]" if version else f"[{name}]"
        if hstatus not in (None, "Ready"):
            msg = (hmsg or "") + _suffix(hstatus, hcode, None)
            level = "ERROR" if hstatus == "NotReady" else "WARNING"
            yield from _dedup(ctx, Record(source=source, line=1, ts=ts, level=level, message=msg,
                                          kind="waagent_status_json", prefix=prefix, raw=msg))
        if info is not None and info.status in ("error", "warning"):
            msg = (info.message or "") + _suffix(info.status, info.code, info.ext_error_code)
            yield from _dedup(ctx, Record(source=source, line=1, ts=ts, level=_level(info.status),
                                          message=msg, kind="waagent_status_json", prefix=prefix,
                                          raw=msg))


def _dedup(ctx: ParseContext, rec: Record) -> Iterator[Record]:
    """History folders repeat the same blob: yield each (prefix, level, message) once per bundle."""
    seen = scratch(ctx, "waagent_status_records")
    key = (rec.prefix, rec.level, rec.message)
    if key not in seen:
        seen[key] = True
        yield rec


# --------------------------------------------------------------------------- agent error.json

MAX_FAILURE = 3  # ga/update.py: an agent version is blacklisted after 3 failures or a fatal one


@data_parser("agent_error_json")
def parse_agent_error(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """WALinuxAgent-<ver>/error.json: {"last_failure": <epoch>, "failure_count": n, "was_fatal": bool}."""
    handler, version = handler_from_path(source)
    doc = load_json(data, source, ctx, "error.json")
    if not isinstance(doc, dict):
        if doc is not None:
            ctx.problem(source, "error.json is not a JSON object")
        return
    try:
        count = int(doc.get("failure_count") or 0)
    except (TypeError, ValueError):
        count = 0
        ctx.problem(source, "error.json failure_count is not a number")
    fatal = doc.get("was_fatal") is True
    last = doc.get("last_failure")
    last_ts = None
    if isinstance(last, (int, float)) and 0 < last < 1e11:
        last_ts = datetime.fromtimestamp(float(last), tz=timezone.utc)
    reason = _s(doc.get("reason"))
    reason = redact(reason)[:MAX_MESSAGE] if reason else None
    blacklisted = fatal or count >= MAX_FAILURE
    label = version or source
    ctx.facts.extra.setdefault("agent_errors", {})[label] = {
        "failure_count": count, "was_fatal": fatal, "blacklisted": blacklisted,
        "last_failure": last_ts.isoformat().replace("+00:00", "Z") if last_ts else None,
        "reason": reason, "source": source}
    if count > 0 or fatal:
        agent = f"WALinuxAgent-{version}" if version else "agent"
        msg = (f"Agent {agent} error record: failure_count={count} was_fatal={fatal} "
               f"blacklisted={blacklisted}" + (f" reason={reason}" if reason else ""))
        yield Record(source=source, line=1, ts=last_ts, level="ERROR" if blacklisted else "WARNING",
                     message=msg, kind="agent_error_json", prefix=f"[{agent}]", raw=msg)
