"""Input kinds: what a file of a bundle is, from its path or (for a bare file) its content.

:func:`classify` reads a bundle-relative path (``bundle-123/var/log/waagent.log.3.gz``) and
recognises the kind by the path's SUFFIX, wherever it sits in the tree. :func:`sniff` looks
at the first bytes of a file whose name says nothing (``case011.log``). Layouts follow
agent-logs.md §1.6 (rotation), §3 (log collector) and §4 (``/var/lib/waagent``) and
backup-extension.md §1.1 (VMSnapshotLinux).
"""
from __future__ import annotations

import json
import re
from typing import Iterable

KINDS: tuple[str, ...] = (
    "waagent_log",
    "command_execution_log",
    "vmsnapshot_log",
    "vmsnapshot_shell_log",
    "extension_log",
    "syslog",
    "cloud_init_log",
    "results_txt",
    "waagent_conf",
    "os_release",
    "dhcp_leases",
    "networkd_lease",
    "goal_state_xml",
    "extensions_config_xml",
    "hosting_env_xml",
    "shared_config_xml",
    "ovf_env_xml",
    "vmsettings_json",
    "ext_status",
    "handler_state",
    "handler_status",
    "handler_manifest",
    "handler_env",
    "ext_settings",
    "mrseq",
    "waagent_status_json",
    "agent_error_json",
    "incarnation",
    "wireserver_endpoint",
    "history_zip",  # an archive the ingest layer expands; never parsed itself
)

#: kinds whose content is line-oriented text (the others are read as capped bytes)
TEXT_KINDS = frozenset({
    "waagent_log", "command_execution_log", "vmsnapshot_log", "vmsnapshot_shell_log",
    "extension_log", "syslog", "cloud_init_log", "results_txt",
})

TRUNCATED_PREFIX = "truncated_"
_COMPRESSED_SUFFIX = re.compile(r"\.(?:gz|xz|bz2)$")

# Path rules. "{S}" is a path separator and "{N}" one character of a path component. A
# log-collector "truncated_var_log_syslog.1" copy flattened '/' into '_', so its rules are
# compiled once more with "{S}" = "[/_]".
_ROT = r"(?:\.\d+|-\d{8}|-\d{4}-\d{2}-\d{2}(?:-\d+)?)?"  # .1 | -20240501 | -2024-05-01-1714521601
_ANY_ROT = r"(?:[.-]{N}*)?"
_B = r"(?:^|{S})"  # start of a path component
_RULES: tuple[tuple[str, str], ...] = (
    ("history_zip", _B + r"history{S}{N}+\.zip$"),
    ("results_txt", _B + r"results\.txt$"),
    ("waagent_log", _B + r"waagent\.log" + _ROT + r"$"),
    ("waagent_log", _B + r"waagent\.log[.-]{N}*$"),  # any other rotated sibling (waagent.log.*)
    ("command_execution_log", _B + r"CommandExecution(?:_{N}*)?\.log" + _ANY_ROT + "$"),
    ("vmsnapshot_shell_log", r"VMSnapshotLinux{N}*{S}(?:{N}+{S})*shell\.log" + _ANY_ROT + "$"),
    ("vmsnapshot_log",
     r"VMSnapshotLinux{N}*{S}(?:{N}+{S})*(?:host_based_)?extension\.log" + _ANY_ROT + "$"),
    ("syslog", _B + r"(?:syslog|messages|kern\.log)" + _ROT + "$"),
    ("syslog", _B + r"journal(?:ctl)?(?:[._-]{N}*)?\.(?:txt|log)$"),
    ("syslog", _B + r"journalctl{N}*$"),
    ("cloud_init_log", _B + r"cloud-init(?:-output)?\.log" + _ROT + "$"),
    ("extension_log",
     _B + r"azure{S}{N}+{S}(?:{N}+{S})*{N}+\.(?:log|txt|out|err|warn|info)" + _ANY_ROT + "$"),
    ("waagent_conf", _B + r"waagent\.conf$"),
    ("os_release", _B + r"os-release$"),
    ("os_release", _B + r"etc{S}{N}*[-_]release$"),
    ("os_release", _B + r"etc{S}(?:hostname|HOSTNAME)$"),
    ("os_release", _B + r"etc{S}timezone$"),
    ("networkd_lease", _B + r"netif{S}leases{S}{N}+$"),
    ("networkd_lease", _B + r"NetworkManager{S}internal-{N}*\.lease$"),
    ("dhcp_leases", _B + r"dhclient{N}*\.leases?$"),
    ("dhcp_leases", _B + r"(?:dhclient|dhcp){S}{N}+\.leases?$"),
    ("dhcp_leases", _B + r"NetworkManager{S}{N}+\.lease$"),
    ("dhcp_leases", _B + r"dhclient\.leases\.{N}+$"),
    ("dhcp_leases", _B + r"dhcp{N}*\.leases?$"),
    ("goal_state_xml", _B + r"GoalState(?:\.\d+)?\.xml$"),
    ("extensions_config_xml", _B + r"ExtensionsConfig(?:\.\d+)?\.xml$"),
    ("hosting_env_xml", _B + r"HostingEnvironmentConfig(?:\.\d+)?\.xml$"),
    ("shared_config_xml", _B + r"SharedConfig(?:\.\d+)?\.xml$"),
    ("ovf_env_xml", _B + r"ovf-env\.xml$"),
    ("vmsettings_json", _B + r"VmSettings(?:\.\d+)?\.json$"),
    ("waagent_status_json", _B + r"waagent_status(?:\.\d+)?\.json$"),
    ("handler_manifest", _B + r"HandlerManifest\.json$"),
    ("handler_env", _B + r"HandlerEnvironment\.json$"),
    ("handler_state", _B + r"(?:{N}+\.)?HandlerState$"),
    ("handler_status", _B + r"HandlerStatus$"),
    ("ext_status", _B + r"{N}+\.status$"),
    ("ext_status", _B + r"status{S}\d+_status$"),
    ("ext_settings", _B + r"{N}+\.settings$"),
    ("ext_settings", _B + r"config{S}\d+_settings$"),
    ("mrseq", _B + r"mrseq$"),
    ("agent_error_json", _B + r"error\.json$"),
    ("incarnation", _B + r"Incarnation$"),
    ("wireserver_endpoint", _B + r"WireServerEndpoint$"),
)


def _compile(sep: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((kind, re.compile(rx.replace("{S}", sep).replace("{N}", "[^/]")))
                 for kind, rx in _RULES)


_PLAIN = _compile("/")
_FLAT = _compile("[/_]")
# every rule needs one of these words: a quick "no" for most files of a big bundle
_WORDS = re.compile(
    r"waagent|results|CommandExecution|VMSnapshotLinux|syslog|messages|kern|journal|cloud-init"
    r"|azure|release|hostname|HOSTNAME|timezone|lease|GoalState|ExtensionsConfig|HostingEnvironmentConfig"
    r"|SharedConfig|ovf-env|VmSettings|Handler|status|settings|mrseq|error|Incarnation"
    r"|WireServerEndpoint|history|netif")

_ARCHIVE_NAME = re.compile(r"\.(?:zip|tar|tgz|tbz2?|txz|tar\.(?:gz|bz2|xz))$", re.IGNORECASE)


def normalise(path: str) -> str:
    """'/'-separated, no leading '/' or './', no empty components."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def is_truncated_name(path: str) -> bool:
    """True for a log collector's ``truncated_<path with / as _>`` copy of a big file."""
    return normalise(path).rsplit("/", 1)[-1].startswith(TRUNCATED_PREFIX)


def looks_like_archive_name(path: str) -> bool:
    """A name an archive usually has (the content decides, this only picks candidates)."""
    return bool(_ARCHIVE_NAME.search(path))


def classify(path: str) -> str | None:
    """The input kind of a bundle-relative path, or None when no parser reads it.

    >>> classify("bundle-123/var/log/waagent.log-2024-05-01-1714521601.gz")
    'waagent_log'
    >>> classify("truncated_var_log_syslog.1")
    'syslog'
    """
    path = normalise(path)
    if not path:
        return None
    head, _, base = path.rpartition("/")
    rules = _PLAIN
    if base.startswith(TRUNCATED_PREFIX) and len(base) > len(TRUNCATED_PREFIX):
        base = base[len(TRUNCATED_PREFIX):]
        path = f"{head}/{base}" if head else base
        rules = _FLAT
    if path.endswith(".zip"):
        stripped = path
    else:
        stripped = _COMPRESSED_SUFFIX.sub("", path)
    if not _WORDS.search(stripped):
        return None
    for kind, rx in rules:
        if rx.search(stripped):
            return kind
    if rules is _FLAT:  # a flattened name may also be an ordinary one
        for kind, rx in _PLAIN:
            if rx.search(stripped):
                return kind
    return None


# --------------------------------------------------------------------------- sniffing

_LEVEL = r"(?:VERBOSE|INFO|WARNING|ERROR)"
_LINE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # 2024-03-02T08:00:01.000001Z INFO ExtHandler ExtHandler Goal state processed
    ("waagent_log", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z " + _LEVEL + r"\b")),
    # 2019/04/01 10:00:00.123456 INFO Daemon Azure Linux Agent Version:2.2.38
    ("waagent_log", re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} " + _LEVEL + r"\b")),
    # 2024/03/02 08:00:01.000123  Info  lock taken   (VMSnapshotLinux freeze-time buffer)
    ("vmsnapshot_log", re.compile(
        r"^\d{4}[/-]\d{2}[/-]\d{2} \d{2}:\d{2}:\d{2}\.\d{6}  (?:Info|Warning|Error)  ")),
    # 2024/03/02 09:00:01 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]T:S x  (python 2)
    ("vmsnapshot_log", re.compile(
        r"^\d{4}[/-]\d{2}[/-]\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})? "
        r"\[[^\]\s]*VMSnapshotLinux-[\d.]+\]")),
    # 2015/02/01 10:00:00 ERROR:Something broke   (waagent 2.0)
    ("waagent_log", re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} ")),
    # 2024-03-02 08:00:01.000123 [Some.Handler-1.5]enable   (HandlerUtil log of another handler)
    ("extension_log", re.compile(
        r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})? \[[^\]\s]+-[\d.]+\]")),
    # 2024-03-02 08:00:01,123 - util.py[DEBUG]: Reading from /etc/hosts
    ("cloud_init_log", re.compile(
        r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} - \S+"
        r"\[(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\]")),
    # 2024-03-02T08:00:01Z INFO Starting log collection at 2024-03-02T08:00:01Z
    ("results_txt", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z (?:INFO|WARNING|ERROR) ")),
    # Sat Mar  2 08:00:01 UTC 2024- handle.sh started
    ("vmsnapshot_shell_log", re.compile(
        r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} "
        r"[A-Z+\-0-9]{2,6} \d{4}- ")),
    # [2024-03-02 08:00:01:123456789] host daemon polling   (handle_host_daemon.sh)
    ("vmsnapshot_shell_log", re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}:\d+\] ")),
    # Mar  2 08:00:01 vm1 python3[812]: 2024-03-02T08:00:01.000001Z INFO Daemon hello
    ("syslog", re.compile(
        r"^(?:[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d+)?"
        r"|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))"
        r" \S+ [^\s:\[]+(?:\[\d+\])?: ")),
    # ERROR:Something broke   (waagent 2.0 console echo, no time stamp)
    ("waagent_log", re.compile(r"^(?:ERROR|WARNING):")),
    # lease {
    ("dhcp_leases", re.compile(r"^\s*lease\s*\{")),
)

_CONF_KEY = re.compile(
    r"^\s*(?:Provisioning|ResourceDisk|Logs|OS|Extensions?|AutoUpdate|Autoupdate|HttpProxy|Lib|Pid"
    r"|DVD|Debug|Protocol|Policy|CGroups|EnableOverProvisioning|DetectScvmmEnv|Role)"
    r"(?:\.[A-Za-z][\w.]*)?\s*=")
_OS_RELEASE = re.compile(r"^(?:NAME|ID|ID_LIKE|VERSION|VERSION_ID|PRETTY_NAME|HOME_URL)=")
_NETWORKD = re.compile(r"^(?:ADDRESS|NETMASK|ROUTER|SERVER_ADDRESS|LIFETIME|T1|T2|DNS|NTP|"
                       r"DOMAINNAME|HOSTNAME|CLIENTID|OPTION_\d+)=")
_XML_ROOT = re.compile(r"<\s*(?:[\w.-]+:)?([A-Za-z_][\w.-]*)")
_XML_SKIP = re.compile(r"<(\?|!--|!)")
_XML_KINDS = {
    "GoalState": "goal_state_xml",
    "Extensions": "extensions_config_xml",
    "Environment": "ovf_env_xml",
    "HostingEnvironmentConfig": "hosting_env_xml",
    "SharedConfig": "shared_config_xml",
}
# (kind, key that gives it away) in order of precedence; used on JSON text, even a cut one
_JSON_KEYS: tuple[tuple[str, str], ...] = (
    ("waagent_status_json", '"aggregateStatus"'),
    ("vmsettings_json", '"extensionGoalStates"'),
    ("vmsettings_json", '"hostGAPluginVersion"'),
    ("handler_manifest", '"handlerManifest"'),
    ("handler_env", '"handlerEnvironment"'),
    ("ext_settings", '"runtimeSettings"'),
    ("handler_status", '"supports_multi_config"'),
    ("agent_error_json", '"failure_count"'),
    ("agent_error_json", '"was_fatal"'),
)
_STATUS_ARRAY = re.compile(r'^\[\s*\{.*"status"\s*:\s*\{', re.DOTALL)

_JUNK = re.compile(r"^[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f]+")

SNIFF_BYTES = 64 * 1024
_MAX_SNIFF_LINES = 300


def sniff(head: bytes, name: str = "", fallback: bool = True) -> str | None:
    """The kind of a bare file from its first bytes (``head``), or None for binary data.

    Recognises agent logs of every era (also wrapped in syslog lines), VMSnapshotLinux
    extension.log and shell.log, results.txt, cloud-init.log, the agent's XML and JSON
    files, waagent.conf, os-release and DHCP leases. Other text is ``waagent_log`` (its
    parser treats headerless lines as messages) unless ``fallback`` is False.
    """
    del name  # the content decides; the name is for callers that log what was sniffed
    if not head:
        return None
    text = head[:SNIFF_BYTES].decode("utf-8", errors="replace").replace("\x00", "")
    text = text.lstrip("\ufeff \t\r\n")
    if not text:
        return None
    if text.startswith("<"):
        return _sniff_xml(text)  # XML of another root: nobody parses it
    if text[0] in "[{":
        kind = _sniff_json(text)
        if kind:
            return kind
    kind = _sniff_lines(text.splitlines())
    if kind:
        return kind
    if _binary(head) or not fallback:
        return None
    if text[0] in "[{" and _json_ok(text):
        return None  # JSON of a kind nobody parses
    return "waagent_log"


def _sniff_xml(text: str) -> str | None:
    pos = 0
    while True:
        m = _XML_SKIP.match(text, pos)
        if not m:
            break
        end = {"?": "?>", "!--": "-->", "!": ">"}[m.group(1)]
        stop = text.find(end, m.end())
        if stop < 0:
            return None
        pos = stop + len(end)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    root = _XML_ROOT.match(text, pos)
    return _XML_KINDS.get(root.group(1)) if root else None


def _sniff_json(text: str) -> str | None:
    sample = text[:SNIFF_BYTES]
    for kind, key in _JSON_KEYS:
        if key in sample:
            return kind
    if _STATUS_ARRAY.match(sample) and ('"timestampUTC"' in sample or '"version"' in sample
                                        or '"formattedMessage"' in sample):
        return "ext_status"
    return None


def _json_ok(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _sniff_lines(lines: Iterable[str]) -> str | None:
    counts: dict[str, int] = {}
    conf = os_rel = networkd = other = 0
    seen = 0
    for line in lines:
        line = _JUNK.sub("", line)  # bytes a crash left before a line
        if not line.strip():
            continue
        seen += 1
        if seen > _MAX_SNIFF_LINES:
            break
        for kind, rx in _LINE_RULES:
            if rx.match(line):
                counts[kind] = counts.get(kind, 0) + 1
                break
        else:
            stripped = line.strip()
            if stripped.startswith("#"):
                continue
            if _CONF_KEY.match(line):
                conf += 1
            elif _OS_RELEASE.match(line):
                os_rel += 1
            elif _NETWORKD.match(line):
                networkd += 1
            else:
                other += 1
    if counts:
        order = [k for k, _ in _LINE_RULES]
        best = max(counts, key=lambda k: (counts[k], -order.index(k)))
        if best != "syslog" and counts.get("waagent_log"):
            # a paste that mixes agent lines with another log (an extension status message
            # quoting shell.log): the lenient agent-log parser reads all of it
            return "waagent_log"
        return best
    if conf >= 2 and conf >= other:
        return "waagent_conf"
    if os_rel >= 2 and os_rel >= other:
        return "os_release"
    if networkd >= 2 and networkd >= other:
        return "networkd_lease"
    return None


def _binary(head: bytes) -> bool:
    """True when the first bytes are not text (control bytes, NULs, undecodable bytes)."""
    sample = head[:8192]
    if not sample:
        return False
    bad = sum(1 for b in sample if b < 0x20 and b not in (9, 10, 12, 13, 27))
    text = sample.decode("utf-8", errors="replace")
    bad += text.count("\ufffd")
    return bad > len(sample) * 0.10
