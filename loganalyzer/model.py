"""The one result model every layer shares: records, facts, hits, findings, the report.

Parsers produce :class:`Record` objects and fill :class:`Facts`; the pattern engine turns
records into :class:`Hit` objects; rules turn hits and facts into :class:`Finding` objects;
renderers only read a :class:`Report`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SCHEMA_VERSION = "1.0"
SEVERITIES = ("info", "warning", "error", "critical")
LEVELS = ("VERBOSE", "INFO", "WARNING", "ERROR")


def severity_rank(severity: str) -> int:
    """0 for info ... 3 for critical; unknown severities rank as info."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return 0


@dataclass(slots=True)
class Record:
    """One logical log record: a header line plus its continuation lines.

    ``source`` is the file's path inside the bundle (``var/log/waagent.log``), ``line`` the
    1-based number of the first physical line. ``ts`` is timezone-aware UTC or None;
    ``tz_guess`` is True when the file wrote local time and the zone was assumed.
    """

    source: str
    line: int
    ts: datetime | None
    level: str | None
    message: str
    kind: str
    thread: str | None = None
    prefix: str | None = None
    era: str | None = None
    tz_guess: bool = False
    raw: str = ""
    end_line: int | None = None


@dataclass(slots=True)
class ParseProblem:
    """Something in one input that could not be read as expected; the rest goes on."""

    source: str
    message: str
    line: int | None = None
    severity: str = "warning"
    key: str | None = None  # i18n key of the message, when it is one of the project's fixed texts
    params: dict[str, Any] = field(default_factory=dict)
    partial: bool = False  # the report misses something because of it (a reason in Report.partial_reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.source, "line": self.line, "message": self.message,
                "severity": self.severity}


@dataclass(slots=True)
class InputFile:
    """One file of the bundle and what became of it."""

    path: str
    kind: str | None
    size: int = 0
    records: int = 0
    truncated: bool = False
    status: str = "read"  # read | skipped | error | unknown | duplicate (same content as another input)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "size": self.size, "records": self.records,
                "truncated": self.truncated, "status": self.status, "error": self.error}


@dataclass(slots=True)
class ExtensionFact:
    """What the bundle says about one extension handler (goal state, status files, logs)."""

    name: str
    version: str | None = None
    state: str | None = None  # requested by the goal state: enabled | disabled | uninstall
    seq_no: int | None = None
    auto_upgrade: bool | None = None
    status: str | None = None  # last .status: success | error | transitioning | warning
    code: str | None = None  # status code (string: VMSnapshotLinux writes "76")
    message: str | None = None
    ext_error_code: str | None = None  # VMSnapshotLinux telemetry extErrorCode / vmHealthStatusCode
    handler_state: str | None = None  # config/HandlerState: Installed, Enabled, ...
    handler_status: str | None = None  # Ready | NotReady (HandlerStatus or waagent_status.json)
    operation: str | None = None
    status_time: datetime | None = None
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["status_time"] = iso(self.status_time)
        return d


@dataclass(slots=True)
class LeaseFact:
    """One DHCP lease (dhclient or systemd-networkd) and whether it carried option 245."""

    source: str
    interface: str | None = None
    has_245: bool = False
    endpoint: str | None = None  # option 245 decoded to dotted quad
    server_id: str | None = None
    fixed_address: str | None = None
    expire: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["expire"] = iso(self.expire)
        return d


@dataclass(slots=True)
class Facts:
    """Everything known about the VM, from every input, in one place."""

    agent_daemon_version: str | None = None
    agent_goal_state_version: str | None = None
    agent_versions: list[str] = field(default_factory=list)
    requested_agent_version: str | None = None  # GAFamily Version in the goal state
    agent_status: str | None = None  # Ready | NotReady (waagent_status.json)
    os_name: str | None = None
    os_version: str | None = None
    python_version: str | None = None
    hostname: str | None = None
    collection_time: datetime | None = None
    collection_time_source: str | None = None
    timezone: str | None = None  # zone of local-time logs, when the bundle tells
    endpoint: str | None = None
    endpoint_source: str | None = None
    config: dict[str, str] = field(default_factory=dict)  # waagent.conf key -> value
    config_source: str | None = None
    extensions: dict[str, ExtensionFact] = field(default_factory=dict)
    leases: list[LeaseFact] = field(default_factory=list)
    incarnations: list[int] = field(default_factory=list)
    container_id: str | None = None
    role_instance_id: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def extension(self, name: str) -> ExtensionFact:
        """The fact for ``name``, created on first use."""
        ext = self.extensions.get(name)
        if ext is None:
            ext = self.extensions[name] = ExtensionFact(name=name)
        return ext

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k in self.__slots__:
            v = getattr(self, k)
            if isinstance(v, datetime):
                v = iso(v)
            elif k == "extensions":
                v = {n: e.to_dict() for n, e in sorted(v.items())}
            elif k == "leases":
                v = [lease.to_dict() for lease in v]
            d[k] = v
        return d


@dataclass(slots=True)
class Hit:
    """A pattern matched a record."""

    pattern: str
    record: Record
    groups: dict[str, str]


@dataclass(slots=True)
class Evidence:
    """One line that supports a finding, as a pointer into the bundle."""

    file: str
    line: int | None
    text: str
    ts: datetime | None = None
    pattern: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "text": self.text, "ts": iso(self.ts),
                "pattern": self.pattern}


@dataclass(slots=True)
class Finding:
    """A documented cause the bundle points to, with how sure we are and why."""

    cause: str
    severity: str
    confidence: float
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    evidence: list[Evidence] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    rule: str | None = None
    summary: str = ""  # one line of what was seen, in English (facts filled in)
    summary_i18n: dict[str, str] = field(default_factory=dict)  # the same line in other languages
    details: dict[str, Any] = field(default_factory=dict)
    partial: bool = False  # drawn from truncated or partly unreadable inputs
    explained_by: str | None = None  # another cause that explains this one

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "severity": self.severity,
            "confidence": round(self.confidence, 3),
            "count": self.count,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "evidence": [e.to_dict() for e in self.evidence],
            "patterns": list(self.patterns),
            "rule": self.rule,
            "summary": self.summary,
            "details": dict(self.details),
            "partial": self.partial,
            "explained_by": self.explained_by,
        }


@dataclass(slots=True)
class NoiseCount:
    """Benign or below-threshold pattern hits: counted, shown with --all, never a cause."""

    pattern: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    example: Evidence | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "count": self.count, "first_seen": iso(self.first_seen),
                "last_seen": iso(self.last_seen),
                "example": self.example.to_dict() if self.example else None}


@dataclass(slots=True)
class Template:
    """A group of unexplained WARNING/ERROR records that share one masked template."""

    template: str
    count: int
    example: Evidence
    level: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"template": self.template, "count": self.count, "level": self.level,
                "example": self.example.to_dict(), "first_seen": iso(self.first_seen),
                "last_seen": iso(self.last_seen)}


@dataclass(slots=True)
class NotEvaluable:
    """A rule that could not run because the bundle lacks what it needs."""

    rule: str
    cause: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "cause": self.cause, "reason": self.reason}


@dataclass
class Report:
    """The result of analysing one bundle; every renderer reads only this."""

    bundle: str
    findings: list[Finding] = field(default_factory=list)
    facts: Facts = field(default_factory=Facts)
    inputs: list[InputFile] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)
    noise: list[NoiseCount] = field(default_factory=list)
    unexplained: list[Template] = field(default_factory=list)
    not_evaluable: list[NotEvaluable] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    records: list[Record] | None = None  # kept only when asked for (notebooks)
    hits: list[Hit] | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)  # counts per source/level/bucket
    schema_version: str = SCHEMA_VERSION
    generated_at: datetime | None = None
    partial: bool = False  # part of the bundle was not read (a limit, corruption, a refused member)
    partial_reasons: list[str] = field(default_factory=list)  # one line each: "<file>: <why>"
    tool_version: str = ""
    patterns_version: str = ""

    @property
    def frames(self):
        """The report as pandas DataFrames: ``.events``, ``.findings``, ``.facts``, ``.extensions``,
        ``.unexplained``, ``.noise``, ``.timeline`` (see loganalyzer/frames.py for the columns)."""
        from .frames import frames
        return frames(self)

    @property
    def worst_severity(self) -> str | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=severity_rank)


def iso(ts: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z, or None."""
    if ts is None:
        return None
    text = ts.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
