"""Goal-state files the agent keeps under /var/lib/waagent (legacy root files and history/ folders).

Layouts (agent-logs.md §4.2, §4.3)::

    GoalState.3.xml, ExtensionsConfig.3.xml, HostingEnvironmentConfig.xml, SharedConfig.xml (<= 2.7)
    history/2024-05-01T10-00-00__3/GoalState.xml, .../ExtensionsConfig.xml, .../VmSettings.json (2.8+)
    history/2024-05-01T10-00-00__3.zip/GoalState.xml (members of an expanded history zip)

Sample elements read::

    <Incarnation>3</Incarnation>  <ContainerId>c6d5...</ContainerId>  <InstanceId>b61f...MachineRole_IN_0</InstanceId>
    <Plugin name="Microsoft.Azure.Extensions.CustomScript" version="2.1.6" state="enabled" autoUpgrade="true" .../>
    <RuntimeSettings seqNo="4">...</RuntimeSettings>     (the JSON body is never read: protected settings)
    <GAFamily><Name>Prod</Name><Version>2.13.1.1</Version></GAFamily>

The newest goal state (incarnation, then createdOnTicks) decides the extension state; every
incarnation seen is recorded. SAS URLs, protected settings, passwords and custom data are never kept.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable, Iterator

from ..model import Record
from ..xmlsafe import attr, child, children, find_path, iter_named, local, parse_xml, text
from . import ParseContext, ParseError, data_parser
from .misc import add_incarnation, decode, scratch

# history/<ts>__<inc>[-<etag>][.zip]/ (2.8+) and <ts>_incarnation_<inc>[.zip]/ (2.2.53-2.7)
_HISTORY_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}[:-]\d{2}[:-]\d{2}(?:\.\d+)?(?:(?:_incarnation)?_+(?P<inc>\d+)(?:-(?P<etag>\d+))?)?(?:\.zip)?$")
_LEGACY_RE = re.compile(r"^(?:GoalState|ExtensionsConfig|VmSettings|waagent_status)\.(?P<inc>\d+)\.(?:xml|json)$")


def _inc_from_path(source: str) -> int | None:
    """Incarnation from 'GoalState.3.xml' or 'history/<ts>__3-<etag>/...'."""
    parts = source.split("/")
    m = _LEGACY_RE.match(parts[-1])
    if m and not parts[-1].startswith("VmSettings"):
        return int(m.group("inc"))
    for seg in reversed(parts[:-1]):
        m = _HISTORY_RE.match(seg)
        if m and m.group("inc"):
            return int(m.group("inc"))
    return None


def _scalar(value: Any) -> Any:
    """A JSON value fit for the facts: a scalar (a string cut at 200 characters), else what it is
    ('list of N items'): a fact never holds a document (red team 14: onHold of 1.6M lists)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, (list, dict)):
        return f"{'list' if isinstance(value, list) else 'object'} of {len(value)} item(s)"
    return str(value)[:200]


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "1", "yes"):
            return True
        if v in ("false", "0", "no"):
            return False
    return None


# a GAFamily <Version> (2.13.1.1): anything else is hostile or damaged and never shown. Redaction
# cannot be trusted with it: a recovered document may have lost the <>" that made a secret visible
# (<UserPassword>x</UserPassword> comes out as "UserPasswordx/UserPassword").
_AGENT_VERSION_RE = re.compile(r"\d{1,9}(?:\.\d{1,9}){0,5}")
_MAX_ATTRIBUTES = 1000  # per element; lxml reads attribute lists in quadratic time


def _lazy(fn: Callable[[bytes, str, ParseContext], Iterator[Record]]
          ) -> Callable[[bytes, str, ParseContext], Iterator[Record]]:
    """Run ``fn`` when its records are iterated, so a ParseError surfaces where the caller
    reads records (the analyser records it as a problem of the file), not at the call."""
    @functools.wraps(fn)
    def run(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
        yield from fn(data, source, ctx)
    return run


def _numeric_refs(data: bytes) -> bytes:
    """``&lt;`` ``&gt;`` ``&quot;`` ``&apos;`` ``&amp;`` as the character references they stand for.

    After an error (a damaged XML declaration is enough) libxml2's recovery drops the named
    references but keeps numeric ones: ``&lt;UserPassword&gt;x`` would come out as
    ``UserPasswordx`` and no longer be recognisable as a secret by redaction.
    """
    return (data.replace(b"&lt;", b"&#60;").replace(b"&gt;", b"&#62;").replace(b"&quot;", b"&#34;")
            .replace(b"&apos;", b"&#39;").replace(b"&amp;", b"&#38;"))


XML_CAP = 4 * 1024 * 1024  # a goal-state XML file larger than this is not parsed (real ones: < 1 MB)
PLUGIN_NAMES_MAX = 200  # plugin names kept in facts.extra["extensions_config"]["plugins"]


def _parse(data: bytes, source: str, ctx: ParseContext):
    """parse_xml, falling back to libxml2 recovery for truncated/damaged (but safe) documents;
    None above XML_CAP (red team 18: a 16 MB ExtensionsConfig.xml took ~200 MB as a tree)."""
    if len(data) > XML_CAP:
        ctx.problem(source, f"XML file too large to read whole ({len(data) // 1024} KiB; at most "
                            f"{XML_CAP // 1024} KiB)", partial=True)
        return None
    try:
        root = parse_xml(data)
    except ParseError as exc:
        if "not allowed" in str(exc) or "empty" in str(exc):
            raise
        try:
            root = parse_xml(_numeric_refs(data), recover=True)
        except ParseError:
            raise exc from None
        ctx.problem(source, f"{exc}; read what could be recovered")
    if any(len(el.attrib) > _MAX_ATTRIBUTES for el in root.iter() if isinstance(el.tag, str)):
        raise ParseError(f"an element with more than {_MAX_ATTRIBUTES} attributes")
    return root


def _root(data: bytes, source: str, ctx: ParseContext, expected: str, what: str):
    """The parsed root element if it is ``expected``; otherwise a parse problem and None."""
    root = _parse(data, source, ctx)
    if root is None:
        return None
    if local(root) != expected:
        ctx.problem(source, f"unexpected root element <{local(root)[:60]}> in {what}")
        return None
    return root


def _newer_gs(ctx: ParseContext, name: str, key: tuple) -> bool:
    """Ordering per extension: (incarnation, ticks); ties go to the later file read."""
    order = scratch(ctx, "goal_state_order")
    old = order.get(name)
    if old is None or key >= old:
        order[name] = key
        return True
    return False


def _newest_overall(ctx: ParseContext, what: str, key: tuple) -> bool:
    order = scratch(ctx, "goal_state_newest")
    old = order.get(what)
    if old is None or key >= old:
        order[what] = key
        return True
    return False


# --------------------------------------------------------------------------- GoalState.xml


@data_parser("goal_state_xml")
@_lazy
def parse_goal_state(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """GoalState.xml: Incarnation, ContainerId, RoleInstance/InstanceId."""
    root = _parse(data, source, ctx)
    if root is None or local(root) == "xml":  # 2.8+ keeps GoalState.1.xml as '<xml>empty placeholder file</xml>'
        return iter(())
    if local(root) != "GoalState":
        ctx.problem(source, f"unexpected root element <{local(root)[:60]}> in a goal state file")
        return iter(())
    inc = add_incarnation(ctx, text(root, "Incarnation"))
    if inc is None:
        ctx.problem(source, "goal state has no numeric Incarnation")
        inc = _inc_from_path(source)
        add_incarnation(ctx, inc)
    container = find_path(root, "Container")
    container_id = text(container, "ContainerId")
    instance = find_path(container, "RoleInstanceList", "RoleInstance")
    instance_id = text(instance, "InstanceId")
    if _newest_overall(ctx, "goal_state", (inc if inc is not None else -1,)):
        ctx.facts.container_id = container_id or ctx.facts.container_id
        ctx.facts.role_instance_id = instance_id or ctx.facts.role_instance_id
        ctx.facts.extra["goal_state"] = {
            "incarnation": inc, "source": source, "version": text(root, "Version"),
            "expected_state": text(root, "Machine", "ExpectedState"),
            "role_state": text(instance, "State"),
            "has_extensions_config": find_path(instance, "Configuration", "ExtensionsConfig") is not None,
        }
    return iter(())


# --------------------------------------------------------------------------- ExtensionsConfig.xml


@data_parser("extensions_config_xml")
@_lazy
def parse_extensions_config(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """ExtensionsConfig.xml: plugins (name/version/state/autoUpgrade/seqNo), GAFamily version."""
    root = _root(data, source, ctx, "Extensions", "ExtensionsConfig")
    if root is None:
        return iter(())
    inc = _int(attr(root, "goalStateIncarnation"))
    if inc is None:
        inc = _inc_from_path(source)
    add_incarnation(ctx, inc)
    meta = child(root, "InVMGoalStateMetaData")
    ticks = _int(attr(meta, "createdOnTicks"))
    key = (inc if inc is not None else -1, ticks if ticks is not None else -1)
    facts = ctx.facts

    # agent family / requested version
    families = []
    for fam in iter_named(find_path(root, "GuestAgentExtension", "GAFamilies"), "GAFamily"):
        version = text(fam, "Version")
        if version is not None and not _AGENT_VERSION_RE.fullmatch(version):
            ctx.problem(source, "GAFamily Version is not a version number; ignored")
            version = None  # never the text itself: it may carry a secret redaction cannot see
        families.append({
            "name": text(fam, "Name"), "version": version,
            "isVersionFromRSM": _bool(text(fam, "IsVersionFromRSM")),
            "isVMEnabledForRSMUpgrades": _bool(text(fam, "IsVMEnabledForRSMUpgrades"))})
    blob = child(root, "StatusUploadBlob")
    if _newest_overall(ctx, "extensions_config", key):
        _apply_families(ctx, families)
        facts.extra["status_upload_blob"] = {
            "present": blob is not None and bool((blob.text or "").strip()),
            "type": attr(blob, "statusBlobType")}
        facts.extra["extensions_config"] = {
            "incarnation": inc, "source": source,
            "location": text(root, "GuestAgentExtension", "Location"),
            "required_features": [text(f, "Name") for f in
                                  iter_named(child(root, "RequiredFeatures"), "RequiredFeature")],
            "in_svd_seq_no": attr(meta, "inSvdSeqNo"),
            "activity_id": attr(meta, "activityId"),
            "plugins": [],
        }
    names = facts.extra.get("extensions_config", {}).get("plugins") if \
        scratch(ctx, "goal_state_newest").get("extensions_config") == key else None

    # plugins
    for plugin in children(child(root, "Plugins"), "Plugin"):
        name = attr(plugin, "name")
        if not name:
            ctx.problem(source, "Plugin without a name")
            continue
        if names is not None:
            if len(names) < PLUGIN_NAMES_MAX:
                names.append(name)
            else:  # a flood of plugins (red team 18: 74,842 names, 887 KB of report)
                ec = facts.extra["extensions_config"]
                ec["plugins_not_listed"] = ec.get("plugins_not_listed", 0) + 1
        if not _newer_gs(ctx, name, key):
            continue
        fact = facts.extension(name)
        fact.version = attr(plugin, "version") or fact.version
        fact.state = attr(plugin, "state") or fact.state
        auto = _bool(attr(plugin, "autoUpgrade"))
        fact.auto_upgrade = auto if auto is not None else fact.auto_upgrade
        if source not in fact.sources:
            fact.sources.append(source)

    # settings: only the seqNo attributes, never the settings body
    for plugin in children(child(root, "PluginSettings"), "Plugin"):
        name = attr(plugin, "name")
        if not name or scratch(ctx, "goal_state_order").get(name) != key:
            continue
        fact = facts.extension(name)
        declared = attr(plugin, "version")
        if declared and fact.version and declared != fact.version:
            ctx.problem(source, f"PluginSettings version {declared} of {name} differs from the "
                                f"Plugin version {fact.version}")
        rs = child(plugin, "RuntimeSettings")
        if rs is not None:
            seq = _int(attr(rs, "seqNo"))
            if seq is not None:
                fact.seq_no = seq
        for mc in children(plugin, "ExtensionRuntimeSettings"):
            ext = attr(mc, "name")
            if not ext:
                continue
            sub = facts.extension(f"{name}.{ext}")
            sub.version = fact.version
            sub.state = attr(mc, "state") or sub.state
            seq = _int(attr(mc, "seqNo"))
            sub.seq_no = seq if seq is not None else sub.seq_no
            if source not in sub.sources:
                sub.sources.append(source)
    return iter(())


def _apply_families(ctx: ParseContext, families: list[dict[str, Any]]) -> None:
    if not families:
        return
    ctx.facts.extra["ga_families"] = families
    wanted = ctx.facts.config.get("AutoUpdate.GAFamily") or "Prod"
    chosen = next((f for f in families if f.get("name") == wanted and f.get("version")), None)
    chosen = chosen or next((f for f in families if f.get("version")), None)
    if chosen:
        ctx.facts.requested_agent_version = chosen["version"]


# --------------------------------------------------------------------------- HostingEnvironmentConfig / SharedConfig


@data_parser("hosting_env_xml")
@_lazy
def parse_hosting_env(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """HostingEnvironmentConfig.xml: goalStateIncarnation, Incarnation@instance (VM name), Role@name.

    ApplicationSettings (may hold storage keys) are never read.
    """
    root = _root(data, source, ctx, "HostingEnvironmentConfig", "HostingEnvironmentConfig")
    if root is None:
        return iter(())
    inc = add_incarnation(ctx, attr(root, "goalStateIncarnation"))
    if _newest_overall(ctx, "hosting_env", (inc if inc is not None else -1,)):
        ctx.facts.extra["hosting_env"] = {
            "incarnation": inc,
            "vm_name": attr(child(root, "Incarnation"), "instance"),
            "role_name": attr(child(root, "Role"), "name"),
            "deployment": attr(child(root, "Deployment"), "name"),
            "source": source}
    return iter(())


@data_parser("shared_config_xml")
@_lazy
def parse_shared_config(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """SharedConfig.xml: Incarnation@instance and Instances/Instance@id/@address (the VM's DIP)."""
    root = _root(data, source, ctx, "SharedConfig", "SharedConfig")
    if root is None:
        return iter(())
    inc = add_incarnation(ctx, attr(root, "goalStateIncarnation"))
    me = attr(child(root, "Incarnation"), "instance")
    instances = list(children(child(root, "Instances"), "Instance"))
    mine = next((i for i in instances if attr(i, "id") == me), instances[0] if instances else None)
    if _newest_overall(ctx, "shared_config", (inc if inc is not None else -1,)):
        ctx.facts.extra["shared_config"] = {
            "incarnation": inc, "instance": attr(mine, "id") or me,
            "address": attr(mine, "address"), "source": source}
    return iter(())


# --------------------------------------------------------------------------- ovf-env.xml


@data_parser("ovf_env_xml")
@_lazy
def parse_ovf_env(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """ovf-env.xml, structure only: HostName, ProvisionGuestAgent, PreprovisionedVm.

    UserPassword, CustomData, SSH keys are never read.
    """
    root = _root(data, source, ctx, "Environment", "ovf-env.xml")
    if root is None:
        return iter(())
    conf = next(iter_named(root, "LinuxProvisioningConfigurationSet"), None)
    platform = next(iter_named(root, "PlatformSettings"), None)
    hostname = text(conf, "HostName")
    info = {
        "hostname": hostname,
        "provision_guest_agent": _bool(text(platform, "ProvisionGuestAgent")),
        "preprovisioned_vm": _bool(text(platform, "PreprovisionedVm")),
        "disable_ssh_password_authentication": _bool(text(conf, "DisableSshPasswordAuthentication")),
        "has_custom_data": child(conf, "CustomData") is not None,
        "source": source,
    }
    if conf is None:
        ctx.problem(source, "Failed to validate OVF: LinuxProvisioningConfigurationSet not found")
    ctx.facts.extra["ovf_env"] = info
    if hostname and not ctx.facts.hostname:
        ctx.facts.hostname = hostname
    return iter(())


# --------------------------------------------------------------------------- VmSettings.json


@data_parser("vmsettings_json")
@_lazy
def parse_vmsettings(data: bytes, source: str, ctx: ParseContext) -> Iterator[Record]:
    """HostGAPlugin vmSettings (FastTrack): extensionGoalStates, gaFamilies, source, onHold."""
    from .ext_status import JSON_CAP
    if len(data) > JSON_CAP:  # red team 14: 16 MB of onHold took 1.1 GB and gave a 74 MB report
        ctx.problem(source, f"vmSettings too large to read whole ({len(data) // 1024} KiB; at most "
                            f"{JSON_CAP // 1024} KiB)", partial=True)
        return iter(())
    text_ = decode(data)
    try:
        doc = json.loads(text_)
    except (ValueError, RecursionError) as exc:
        ctx.problem(source, f"malformed vmSettings JSON: {type(exc).__name__}")
        return iter(())
    if not isinstance(doc, dict):
        ctx.problem(source, "vmSettings is not a JSON object")
        return iter(())
    inc = _inc_from_path(source)
    ticks = _int(doc.get("extensionsLastModifiedTickCount"))
    key = (inc if inc is not None else -1, ticks if ticks is not None else -1)
    facts = ctx.facts
    families = []
    for fam in doc.get("gaFamilies") or []:
        if isinstance(fam, dict):
            name, version = fam.get("name"), fam.get("version")
            families.append({"name": name[:200] if isinstance(name, str) else None,
                             "version": version[:200] if isinstance(version, str) else _scalar(version),
                             "isVersionFromRSM": _scalar(fam.get("isVersionFromRSM")),
                             "isVMEnabledForRSMUpgrades": _scalar(fam.get("isVMEnabledForRSMUpgrades"))})
    if _newest_overall(ctx, "vmsettings", key):
        facts.extra["vmsettings"] = {
            "source": source, "goal_state_source": _scalar(doc.get("extensionGoalStatesSource")),
            "host_ga_plugin_version": _scalar(doc.get("hostGAPluginVersion")),
            "on_hold": _scalar(doc.get("onHold")), "in_svd_seq_no": _scalar(doc.get("inSvdSeqNo")),
            "activity_id": _scalar(doc.get("activityId"))}
        if _newest_overall(ctx, "extensions_config", key):
            _apply_families(ctx, [f for f in families if isinstance(f.get("name"), str)])
    egs = doc.get("extensionGoalStates")
    if egs is not None and not isinstance(egs, list):
        ctx.problem(source, "vmSettings extensionGoalStates is not a list")
        egs = []
    for eg in egs or []:
        if not isinstance(eg, dict) or not isinstance(eg.get("name"), str):
            continue
        name = eg["name"]
        if not _newer_gs(ctx, name, key):
            continue
        fact = facts.extension(name)
        fact.version = eg.get("version") if isinstance(eg.get("version"), str) else fact.version
        fact.state = eg.get("state") if isinstance(eg.get("state"), str) else fact.state
        auto = _bool(eg.get("autoUpgrade"))
        fact.auto_upgrade = auto if auto is not None else fact.auto_upgrade
        seq = _int(eg.get("settingsSeqNo"))
        fact.seq_no = seq if seq is not None else fact.seq_no
        if source not in fact.sources:
            fact.sources.append(source)
        for setting in eg.get("settings") or []:
            if isinstance(setting, dict) and isinstance(setting.get("extensionName"), str):
                sub = facts.extension(f"{name}.{setting['extensionName']}")
                sub.version = fact.version
                st = setting.get("extensionState")
                sub.state = st if isinstance(st, str) else sub.state
                s = _int(setting.get("seqNo"))
                sub.seq_no = s if s is not None else sub.seq_no
                if source not in sub.sources:
                    sub.sources.append(source)
    return iter(())

