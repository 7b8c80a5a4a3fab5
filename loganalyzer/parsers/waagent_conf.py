"""/etc/waagent.conf, read exactly the way the agent reads it (``common/conf.py ConfigurationProvider.load``).

The agent's loop, verbatim in effect::

    for line in content.split('\\n'):
        if not line.startswith("#") and "=" in line:
            key = line.split('=', 1)[0].strip()
            value = line.split('=', 1)[1].split('#')[0].strip("\\" ").strip()
            values[key] = value if value != "None" else None

So ``Extensions.Enabled=n # disable`` IS read as ``n`` (the inline comment is cut), but every
value is cut at its first ``#`` too (a proxy password or path with ``#`` loses its tail), a
switch accepts only ``y``/``n`` (``no``, ``false``, ``0`` silently fall back to the default),
``None`` means unset, and the last of duplicate keys wins. ``facts.config`` holds the values the
agent sees (unset keys omitted); ``facts.extra['conf_warnings']`` lists the traps found.
"""
from __future__ import annotations

from typing import Iterator

from ..model import Record
from . import ParseContext, data_parser
from .misc import decode, redact

MAX_LINES = 200_000  # lines read; the rest is said and makes the bundle partial (red team 14)

# common/conf.py __SWITCH_OPTIONS__ (2.7) plus later switches (agent-logs.md §6)
SWITCH_KEYS = frozenset({
    "OS.AllowHTTP", "OS.EnableFirewall", "OS.EnableFIPS", "OS.EnableRDMA", "OS.UpdateRdmaDriver",
    "OS.CheckRdmaDriver", "Logs.Verbose", "Logs.Console", "Logs.Collect", "Extensions.Enabled",
    "Extensions.WaitForCloudInit", "Provisioning.AllowResetSysUser",
    "Provisioning.RegenerateSshHostKeyPair", "Provisioning.DeleteRootPassword",
    "Provisioning.DecodeCustomData", "Provisioning.ExecuteCustomData",
    "Provisioning.MonitorHostName", "Provisioning.Enabled", "Provisioning.UseCloudInit",
    "DetectScvmmEnv", "ResourceDisk.Format", "ResourceDisk.EnableSwap",
    "ResourceDisk.EnableSwapEncryption", "AutoUpdate.Enabled", "AutoUpdate.UpdateToLatestVersion",
    "EnableOverProvisioning", "Debug.CgroupLogMetrics", "Debug.CgroupDisableOnProcessCheckFailure",
    "Debug.CgroupDisableOnQuotaCheckFailure", "Debug.EnableFastTrack", "Debug.EnableGAVersioning",
    "Debug.EnableAgentMemoryUsageCheck", "Debug.EnableCgroupV2ResourceLimiting",
    "Debug.EnableExtensionPolicy", "Debug.EnableSignatureValidation",
})


@data_parser("waagent_conf")
def parse_waagent_conf(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """Fill facts.config with what the agent sees; warn about inline comments and other traps."""
    facts = ctx.facts
    text = decode(data)
    if not text.strip():
        ctx.problem(source, "waagent.conf is empty (the agent refuses an empty configuration)")
        return iter(())
    warnings: list[dict] = facts.extra.setdefault("conf_warnings", [])
    # key -> [key, file, line] of its value (a list, so that a key named like a secret does not mask it)
    where: dict[str, list] = {k: [k, f, n] for k, f, n in facts.extra.get("config_where", [])}
    if facts.config_source and facts.config_source != source:
        ctx.problem(source, f"a second waagent.conf in the bundle (the first: {facts.config_source}); a key "
                            "set in both takes this file's value")
    config: dict[str, str] = {}
    seen: dict[str, int] = {}
    unset: list[str] = []
    for no, line in enumerate(text.split("\n"), 1):
        if no > MAX_LINES:
            ctx.problem(source, f"more than {MAX_LINES} lines; the rest ignored", partial=True)
            break
        if line.startswith("#") or "=" not in line:
            continue
        key, rest = line.split("=", 1)
        key = key.strip()
        if not key or key.startswith("#") or len(key) > 200:
            continue  # the agent stores it too, under a key nothing reads
        value = rest.split("#")[0].strip("\" ").strip()
        shown = redact(value)[:500]
        if "#" in rest:
            warnings.append({
                "line": no, "key": key, "value": shown, "kind": "inline-comment",
                "message": f"line {no}: {key} has an inline comment; the agent cuts the value at "
                           f"the first '#' and reads {shown!r}"})
        if key in seen:
            warnings.append({"line": no, "key": key, "value": shown, "kind": "duplicate",
                             "message": f"line {no}: {key} is set again (first on line {seen[key]}); "
                                        "the agent uses the last value"})
        seen[key] = no
        if value == "None":
            config.pop(key, None)
            where.pop(key, None)
            unset.append(key)
            continue
        if key in SWITCH_KEYS and value.lower() not in ("y", "n"):
            warnings.append({"line": no, "key": key, "value": shown, "kind": "bad-switch",
                             "message": f"line {no}: {key}={shown!r} is not y or n; the agent "
                                        "ignores it and uses the default"})
        config[key] = shown
        where[key] = [key, source, no]
        if key in unset:
            unset.remove(key)
    for w in warnings:
        if w.get("source") is None:
            w["source"] = source
    if not config and not unset:
        ctx.problem(source, "no key=value line found in waagent.conf")
    facts.config.update(config)
    facts.config_source = source
    facts.extra["config_where"] = list(where.values())
    if unset:
        facts.extra["conf_unset"] = sorted(set(unset))
    return iter(())
