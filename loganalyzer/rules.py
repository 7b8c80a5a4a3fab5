"""From pattern hits and facts to ranked findings.

The rules are data (``patterns/rules.toml``):

* ``[[threshold]]`` — hits of some patterns only count when frequent enough (``min_count``
  within ``window``); below that they are noise (one ResourceGone is noise, an hour of them
  is not); ``recovered_by``: hits the agent later reports as recovered (same file) are noise.
* ``[[route]]`` — send a pattern's hits to another cause depending on a captured field (an
  extension failure of VMSnapshotLinux is ``extension-load-failure``).
* ``[[explains]]`` — a cause that explains others ranks them below itself.
* ``[[fact]]`` — rules over facts and absences (versions, config keys, DHCP option 245,
  silence before collection), each with the inputs it needs; without them the rule is
  reported as not evaluable, never as passed.

Everything that supports a cause is gathered in a :class:`Support`; confidence grows with the
strength (pattern severity) and amount (count, distinct patterns) of the support.
"""
from __future__ import annotations

import fnmatch
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import regex

from .model import (Evidence, Facts, Finding, InputFile, NoiseCount, NotEvaluable, Record, iso,
                    severity_rank)
from .paths import patterns_dir
from .patterns import Pattern
from .redact import redact

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

SEVERITY_WEIGHT = {"info": 0.15, "warning": 0.35, "error": 0.65, "critical": 0.85}
MAX_EVIDENCE = 5
EXPLAINED_MAX_SEVERITY = "warning"  # the most an explained finding (a probable consequence) shows
SAMPLES = 6  # evidence samples kept per (pattern, cause): first and last few
# captured values a finding's details show (the most common 3 of each); only these are counted
DETAIL_KEYS = frozenset(("ext", "op", "rc", "code", "url", "version", "error", "agent", "method", "target"))
VALUES_PER_FILE = 1000  # distinct values of one key counted per file (red team 18: a flood of unique
# error texts kept every one: 11 MB per 100,000 lines); per file, so parts read in parallel add up alike


class RuleError(Exception):
    """rules.toml is invalid (message names file and reason)."""


def parse_duration(text: str | None) -> timedelta | None:
    """``"90s"``, ``"10m"``, ``"6h"``, ``"2d"`` -> timedelta; None passes through."""
    if text is None:
        return None
    m = regex.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 6h, 2d)")
    n = float(m.group(1))
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return timedelta(seconds=n * unit)


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    m = regex.match(r"(\d+(?:\.\d+)*)", text.strip())
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split("."))


# --- support collected while records stream by ------------------------------------------------

@dataclass
class Sample:
    record_file: str
    line: int | None
    text: str
    ts: datetime | None
    groups: dict[str, str]


@dataclass
class PatternStats:
    """Hits of one pattern for one cause: count, times, a few samples, captured values."""

    pattern: Pattern
    count: int = 0
    times: array = field(default_factory=lambda: array("d"))  # epoch seconds, 8 bytes a hit
    first: datetime | None = None
    last: datetime | None = None
    head: list = field(default_factory=list)  # (record, at, groups) of the first hits
    tail: list = field(default_factory=list)  # ... and of the last ones
    values: dict[str, Counter] = field(default_factory=dict)
    partial: bool = False
    # the values counted in the file being read, per key (see VALUES_PER_FILE)
    value_file: str | None = field(default=None, repr=False)
    value_seen: dict = field(default_factory=dict, repr=False)

    def add(self, record: Record, groups: dict[str, str], partial: bool, at: int = 0) -> None:
        """Count a hit; ``at`` is where in the message it matched (evidence points at that line).

        Samples keep the record and build their (redacted) evidence text only when read: most
        hits of a frequent pattern are counted, never shown.
        """
        self.count += 1
        ts = record.ts
        if ts is not None:
            self.times.append(ts.timestamp())
            if self.first is None or ts < self.first:
                self.first = ts
            if self.last is None or ts > self.last:
                self.last = ts
        hit = (record, at, groups)
        if len(self.head) < SAMPLES // 2:
            self.head.append(hit)
        else:
            self.tail.append(hit)
            if len(self.tail) > SAMPLES // 2:
                self.tail.pop(0)
        if groups:
            if record.source != self.value_file:
                self.value_file, self.value_seen = record.source, {}
            values, seen = self.values, self.value_seen
            for k, v in groups.items():
                if len(v) <= 200 and k in DETAIL_KEYS:
                    c = values.get(k)
                    if c is None:  # not setdefault(k, Counter()): that builds a Counter per hit
                        c = values[k] = Counter()
                    mine = seen.get(k)
                    if mine is None:
                        mine = seen[k] = set()
                    if v not in mine:
                        if len(mine) >= VALUES_PER_FILE:
                            continue
                        mine.add(v)
                    c[v] += 1
        if partial:
            self.partial = True

    @property
    def samples(self) -> list[Sample]:
        return [sample_of(h) for h in self.head + self.tail]


def sample_of(hit) -> Sample:
    """The Sample of a hit kept as ``(record, at, groups)`` (a Sample is returned as it is)."""
    if isinstance(hit, Sample):
        return hit
    record, at, groups = hit
    line, text = evidence_at(record, at)
    return Sample(record.source, line, text, record.ts, groups)


def evidence_at(record: Record, at: int) -> tuple[int | None, str]:
    """(line, text) of the physical line of a multi-line record where a match at offset ``at`` is.

    A hit inside a [stdout]/[stderr] dump or a traceback points at its own line, not at the
    record's header; records whose lines do not map one to one (synthetic status records) keep
    their first line.
    """
    message = record.message
    if at and record.end_line is not None and "\n" in message[:at]:
        k = message.count("\n", 0, at)
        if record.line + k <= record.end_line:
            start = message.rfind("\n", 0, at) + 1
            end = message.find("\n", at)
            text = message[start:] if end < 0 else message[start:end]
            return record.line + k, redact(text[:400] + (" ..." if len(text) > 400 else ""))
    return record.line, evidence_text(record)


def evidence_text(record: Record, limit: int = 400) -> str:
    text = record.raw or record.message
    if not record.raw and "\n" in text:
        text = text.split("\n", 1)[0]
    if len(text) > limit:
        text = text[:limit] + " ..."
    return redact(text)


# --- rule definitions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Threshold:
    patterns: tuple[str, ...]
    min_count: int
    window: timedelta | None
    recovered_by: tuple[str, ...] = ()  # hits followed (in their file) by one of these are noise

    def applies(self, pattern_id: str) -> bool:
        return any(fnmatch.fnmatchcase(pattern_id, g) for g in self.patterns)


@dataclass(frozen=True)
class Route:
    patterns: tuple[str, ...]
    fields: tuple[str, ...]
    match: regex.Pattern
    add: tuple[str, ...]
    remove: tuple[str, ...]
    exclude: tuple[str, ...] = ()  # patterns the globs take in that are not routed

    def routes(self, pattern: Pattern) -> bool:
        """Whether hits of ``pattern`` go through this route (it depends on the pattern only)."""
        pid = pattern.id
        return bool(pattern.causes) and any(fnmatch.fnmatchcase(pid, g) for g in self.patterns) \
            and not any(fnmatch.fnmatchcase(pid, g) for g in self.exclude)

    def causes_for(self, pattern: Pattern, record: Record, groups: dict[str, str],
                   causes: set[str]) -> None:
        if self.routes(pattern):
            self.apply(record, groups, causes)

    def apply(self, record: Record, groups: dict[str, str], causes: set[str]) -> None:
        """Re-route ``causes`` when a field matches (the pattern is known to be one of ours)."""
        for f in self.fields:
            if f == "prefix":
                value = record.prefix or ""
            elif f == "source":
                value = record.source
            elif f == "message":
                value = record.message
            else:
                value = groups.get(f, "")
            if value and self.match.search(value):
                causes.difference_update(self.remove)
                causes.update(self.add)
                return


@dataclass(frozen=True)
class Explains:
    """When ``cause`` is found, the ``explains`` causes rank below it as its probable consequences;
    ``when``: only if hits of these patterns support ``cause``; ``unless``: not a finding that hits
    of these patterns support (a root cause of its own)."""

    cause: str
    explains: tuple[str, ...]
    when: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class Escalate:
    """Hits of these patterns for ``cause``, ``min_count`` within ``window``, raise its severity."""

    cause: str
    patterns: tuple[str, ...]
    min_count: int
    window: timedelta | None
    severity: str
    note: str = ""


@dataclass(frozen=True)
class FactRule:
    id: str
    type: str
    cause: str
    params: dict[str, Any]


@dataclass
class RuleSet:
    thresholds: list[Threshold]
    routes: list[Route]
    explains: list[Explains]
    facts: list[FactRule]
    escalations: list[Escalate] = field(default_factory=list)

    def threshold_for(self, pattern_id: str) -> Threshold | None:
        for t in self.thresholds:
            if t.applies(pattern_id):
                return t
        return None

    def last_sample_patterns(self, library) -> frozenset[str]:
        """IDs of the patterns whose last hit in each file a rule shows (sequence_open markers)."""
        globs = [g for fr in self.facts if fr.type == "sequence_open" for g in fr.params.get("open", [])]
        return frozenset(p.id for p in library.patterns if any(fnmatch.fnmatchcase(p.id, g) for g in globs))

    def referenced_patterns(self) -> set[str]:
        refs: set[str] = set()
        for t in self.thresholds:
            refs.update(t.patterns)
            refs.update(t.recovered_by)
        for r in self.routes:
            refs.update(r.patterns)
            refs.update(r.exclude)
        for ex in self.explains:
            refs.update(ex.when)
            refs.update(ex.unless)
        for fr in self.facts:
            refs.update(fr.params.get("patterns", []))
            refs.update(fr.params.get("open", []))
            refs.update(fr.params.get("close", []))
        for e in self.escalations:
            refs.update(e.patterns)
        return refs


def load_rules(path: Path | None = None) -> RuleSet:
    path = path or patterns_dir() / "rules.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RuleSet([], [], [], [])
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: TOML syntax error: {exc}") from None
    try:
        thresholds = [Threshold(tuple(t["patterns"]), int(t.get("min_count", 1)),
                                parse_duration(t.get("window")), tuple(t.get("recovered_by", [])))
                      for t in data.get("threshold", [])]
        routes = [Route(tuple(r["patterns"]), tuple(r.get("fields", ["ext", "prefix"])),
                        regex.compile(r["match"]), tuple(r.get("add", [])), tuple(r.get("remove", [])),
                        tuple(r.get("exclude", [])))
                  for r in data.get("route", [])]
        explains = [Explains(e["cause"], tuple(e["explains"]), tuple(e.get("when", [])), tuple(e.get("unless", [])))
                    for e in data.get("explains", [])]
        escalations = [Escalate(e["cause"], tuple(e["patterns"]), int(e.get("min_count", 1)),
                                parse_duration(e.get("window")), e["severity"], e.get("note", ""))
                       for e in data.get("escalate", [])]
        facts = []
        for f in data.get("fact", []):
            params = {k: v for k, v in f.items() if k not in ("id", "type", "cause")}
            if f["type"] not in FACT_RULES:
                raise RuleError(f"{path}: fact rule {f['id']}: unknown type {f['type']!r}")
            facts.append(FactRule(f["id"], f["type"], f["cause"], params))
    except (KeyError, TypeError, ValueError, regex.error) as exc:
        raise RuleError(f"{path}: invalid rule: {exc}") from None
    return RuleSet(thresholds, routes, explains, facts, escalations)


# --- fact rules -------------------------------------------------------------------------------

@dataclass
class Context:
    """What fact rules may look at."""

    facts: Facts
    inputs: list[InputFile]
    stats: dict[tuple[str, str], PatternStats]  # (cause, pattern id) -> stats
    pattern_counts: Counter  # pattern id -> hits (any cause, benign included)
    pattern_samples: dict[str, Sample]  # pattern id -> first sample
    kinds: Counter  # input kind -> number of records read
    eras: Counter  # waagent_log era -> records
    last_agent_ts: datetime | None  # the agent's last record (file order), see analyzer._agent_last_word
    last_agent_guess: bool = False  # ... whose local time was read in a guessed zone
    last_agent_source: str | None = None  # ... and the file it is in
    ordinal: dict[str, int] = field(default_factory=dict)  # records per source
    last_pos: dict[tuple[str, str], int] = field(default_factory=dict)  # (pattern, source) -> last ordinal
    last_samples: dict[tuple[str, str], Sample] = field(default_factory=dict)  # of RuleSet.last_sample_patterns
    window: tuple[datetime | None, datetime | None] = (None, None)  # --since / --until (UTC)

    def outside(self, ts: datetime | None) -> bool:
        """Whether ``ts`` is outside the asked time window (an undated fact never is)."""
        since, until = self.window
        return ts is not None and ((since is not None and ts < since) or (until is not None and ts > until))


@dataclass
class FactResult:
    fired: bool
    confidence: float = 0.0
    summary: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    not_evaluable: str | None = None
    severity: str | None = None
    first: datetime | None = None
    last: datetime | None = None
    summary_de: str = ""


def _has_kind(ctx: Context, *kinds: str) -> bool:
    return any(i.kind in kinds and i.status == "read" for i in ctx.inputs)


def _input_evidence(ctx: Context, kind: str, text: str) -> list[Evidence]:
    for i in ctx.inputs:
        if i.kind == kind:
            return [Evidence(file=i.path, line=None, text=redact(text))]
    return []


def fact_agent_version_below(rule: FactRule, ctx: Context) -> FactResult:
    """The agent that processes extensions is older than the documented minimum."""
    minimum = version_tuple(rule.params.get("minimum", "2.2.53.1"))
    f = ctx.facts
    candidates = [(f.agent_goal_state_version, "goal-state agent"),
                  (f.agent_daemon_version, "daemon")]
    version, who = next(((v, w) for v, w in candidates if v), (None, None))
    if version is None:
        # waagent 2.0 wrote E0 lines with ERROR:/WARNING: markers; old extensions write E0 lines
        # with their own [Name-Version] prefix or plain text through the 2.0 module (agent-logs §1.7)
        legacy = ctx.eras.get("E0-agent", 0)
        total = sum(n for era, n in ctx.eras.items() if not era.startswith("E0-"))
        if legacy >= 2 and ctx.eras.get("E0-agent-marked", 0) and legacy >= 0.5 * total:
            return FactResult(True, rule.params.get("legacy_confidence", 0.4),
                              "waagent.log is written in the legacy 2.0.x format (no version banner)",
                              summary_de="waagent.log ist im alten 2.0.x-Format geschrieben (kein Versionsbanner)",
                              details={"agent_version": "2.0.x (legacy format)"}, severity="warning")
        return FactResult(False, not_evaluable="no agent version banner in the bundle")
    vt = version_tuple(version)
    if vt is None or minimum is None or vt >= minimum:
        return FactResult(False)
    minimum_text = ".".join(map(str, minimum))
    auto = ctx.facts.config.get("AutoUpdate.Enabled") or ctx.facts.config.get("AutoUpdate.UpdateToLatestVersion")
    summary = f"{who} version {version} is below the supported minimum {minimum_text}"
    who_de = {"daemon": "Daemon", "goal-state agent": "Zielzustands-Agent"}[who]
    summary_de = f"{who_de}-Version {version} liegt unter der unterstützten Mindestversion {minimum_text}"
    conf = rule.params.get("confidence", 0.45)
    severity = "warning"
    if auto and auto.strip().lower().startswith("n"):
        summary += "; auto-update is disabled in waagent.conf"
        summary_de += "; die automatische Aktualisierung ist in waagent.conf abgeschaltet"
        conf = min(0.95, conf + 0.25)
        severity = "error"
    ev = []
    for pid in ("start.exthandler", "start.daemon"):
        s = ctx.pattern_samples.get(pid)
        if s:
            ev.append(Evidence(s.record_file, s.line, s.text, s.ts, pid))
    status = ctx.facts.extra.get("agent_status_source")
    if not ev and status:  # the version came from waagent_status.json only (red team 12: no evidence)
        ev.append(Evidence(status, None, redact(f"guest agent version {version}")))
    return FactResult(True, conf, summary, ev, {"agent_version": version, "minimum": minimum_text},
                      severity=severity, summary_de=summary_de)


def _config_evidence(ctx: Context, keys, text: str) -> list[Evidence]:
    """The waagent.conf file and line that set the first of ``keys`` (a bundle may hold two)."""
    where = {k: (f, n) for k, f, n in ctx.facts.extra.get("config_where") or ()}
    for key in keys:
        if key in where:
            source, line = where[key]
            return [Evidence(file=source, line=line, text=redact(text))]
    return _input_evidence(ctx, "waagent_conf", text)


def fact_config_value(rule: FactRule, ctx: Context) -> FactResult:
    """A waagent.conf key has a value that breaks backups."""
    if not _has_kind(ctx, "waagent_conf"):
        return FactResult(False, not_evaluable="no /etc/waagent.conf in the bundle")
    key = rule.params["key"]
    value = ctx.facts.config.get(key)
    if value is None:
        return FactResult(False)
    values = [v.lower() for v in rule.params.get("values", [])]
    norm = value.strip().strip('"').lower()
    if values and norm not in values:
        return FactResult(False)
    return FactResult(True, rule.params.get("confidence", 0.9), f"waagent.conf sets {key}={value}",
                      _config_evidence(ctx, [key], f"{key}={value}"), {"key": key, "value": value},
                      summary_de=f"waagent.conf setzt {key}={value}")


def fact_config_present(rule: FactRule, ctx: Context) -> FactResult:
    """A waagent.conf key is set at all (e.g. HttpProxy.Host) and supporting hits exist."""
    if not _has_kind(ctx, "waagent_conf"):
        return FactResult(False, not_evaluable="no /etc/waagent.conf in the bundle")
    keys = rule.params["keys"]
    set_keys = {k: ctx.facts.config[k] for k in keys
                if ctx.facts.config.get(k) and ctx.facts.config[k].strip().lower() not in ("none", "")}
    if not set_keys:
        return FactResult(False)
    needed = rule.params.get("patterns", [])
    support = sum(n for pid, n in ctx.pattern_counts.items()
                  if any(fnmatch.fnmatchcase(pid, g) for g in needed))
    if needed and support < rule.params.get("min_support", 1):
        return FactResult(False)
    text = ", ".join(f"{k}={v}" for k, v in set_keys.items())
    confidence = rule.params.get("confidence", 0.7)
    if needed and rule.params.get("per_support"):  # each failure that went through the proxy adds
        confidence = min(rule.params.get("max_confidence", 0.9), confidence + rule.params["per_support"] * support)
    return FactResult(True, round(confidence, 3), f"waagent.conf sets {text}",
                      _config_evidence(ctx, list(set_keys), text), {"config": set_keys},
                      summary_de=f"waagent.conf setzt {text}")


def fact_lease_missing_245(rule: FactRule, ctx: Context) -> FactResult:
    """DHCP leases exist but none carries option 245 (the WireServer address)."""
    leases = ctx.facts.leases
    dhcp_lines = sum(n for pid, n in ctx.pattern_counts.items()
                     if any(fnmatch.fnmatchcase(pid, g) for g in rule.params.get("patterns", [])))
    if not leases and not dhcp_lines:
        return FactResult(False, not_evaluable="needs a DHCP lease file or the agent's DHCP lines; the bundle has neither")
    if leases and any(lease.has_245 for lease in leases):
        return FactResult(False)
    if leases:
        ev = [Evidence(lease.source, None, "lease without option unknown-245") for lease in leases[:3]]
        return FactResult(True, rule.params.get("confidence", 0.8),
                          f"{len(leases)} DHCP lease(s) without option 245", ev,
                          {"leases": len(leases)},
                          summary_de=f"{len(leases)} DHCP-Lease(s) ohne Option 245")
    return FactResult(False)


# local time read as UTC is at most this much earlier than the true UTC time (a UTC-12 zone): a
# silence measured from it may be that much shorter in truth
WEST_MOST_OFFSET = timedelta(hours=12)
NOT_EVALUABLE_LOCAL_TIME = ("the agent's last record is in local time of an unknown zone (read as UTC): "
                            "the silence before collection cannot be told within the VM's UTC offset")


def fact_agent_silent(rule: FactRule, ctx: Context) -> FactResult:
    """No agent activity in the hours before the bundle was collected."""
    f = ctx.facts
    if f.collection_time is None or f.collection_time_source != "results.txt":
        return FactResult(False, not_evaluable="collection time unknown (no usable results.txt)")
    if ctx.last_agent_ts is None:
        if ctx.kinds.get("waagent_log", 0) == 0:
            return FactResult(False, not_evaluable="no waagent.log in the bundle")
        return FactResult(False)
    gap = f.collection_time - ctx.last_agent_ts
    hours = parse_duration(rule.params.get("silence", "6h"))
    if hours is None or gap < hours:  # in local time read as UTC: UTC is Azure's default zone
        return FactResult(False)
    if ctx.last_agent_guess and gap < hours + WEST_MOST_OFFSET:  # a western zone may make up the difference
        return FactResult(False, not_evaluable=NOT_EVALUABLE_LOCAL_TIME)
    hours_text = f"{gap.total_seconds() / 3600:.1f}"
    ev = []  # where the silence starts and ends (red team 12: the finding had no evidence)
    if ctx.last_agent_source:
        ev.append(Evidence(ctx.last_agent_source, None, f"the agent's last record: {iso(ctx.last_agent_ts)}",
                           ctx.last_agent_ts))
    ev += _input_evidence(ctx, "results_txt", f"log collection started at {iso(f.collection_time)}")
    return FactResult(True, rule.params.get("confidence", 0.7),
                      f"the agent wrote nothing for {hours_text} h before collection", ev,
                      summary_de=f"der Agent hat in den {hours_text.replace('.', ',')} h vor der Erfassung nichts geschrieben",
                      details={"silent_hours": round(gap.total_seconds() / 3600, 1)},
                      first=ctx.last_agent_ts, last=f.collection_time)


def fact_extension_status(rule: FactRule, ctx: Context) -> FactResult:
    """An extension's last status (code / extErrorCode) is one of the listed failure codes."""
    name_rx = regex.compile(rule.params.get("extension", "."))
    codes = {str(c) for c in rule.params.get("codes", [])}
    names = {str(n) for n in rule.params.get("error_names", [])}
    ext_facts = [e for n, e in ctx.facts.extensions.items() if name_rx.search(n)]
    if not ext_facts:
        return FactResult(False, not_evaluable="no status of the extension in the bundle")
    for e in ext_facts:
        if ctx.outside(e.status_time):  # red team 17: --since after it still showed it
            continue
        values = {str(e.code or ""), str(e.ext_error_code or "")}
        if values & codes or any(n and n in v for n in names for v in values):
            text = f"{e.name} {e.version or ''} status={e.status} code={e.code} extErrorCode={e.ext_error_code}"
            ev = [Evidence(e.sources[-1] if e.sources else e.name, None, redact(text), e.status_time)]
            suffix = f" ({e.ext_error_code})" if e.ext_error_code else ""
            return FactResult(True, rule.params.get("confidence", 0.8),
                              f"{e.name} reports code {e.code}{suffix}",
                              ev, {"extension": e.name, "version": e.version, "code": e.code,
                                   "ext_error_code": e.ext_error_code},
                              summary_de=f"{e.name} meldet Code {e.code}{suffix}",
                              first=e.status_time, last=e.status_time)
    return FactResult(False)


def fact_handler_not_ready(rule: FactRule, ctx: Context) -> FactResult:
    """An extension handler is NotReady / failed to install (HandlerStatus, waagent_status.json)."""
    name_rx = regex.compile(rule.params.get("extension", "."))
    for n, e in ctx.facts.extensions.items():
        if not name_rx.search(n):
            continue
        if (e.handler_status or "").lower() == "notready" or (e.handler_state or "").lower() == "failedupgrade":
            text = f"{n} {e.version or ''} handler status {e.handler_status} state {e.handler_state}"
            ev = [Evidence(e.sources[-1] if e.sources else n, None, redact(text))]
            return FactResult(True, rule.params.get("confidence", 0.6),
                              f"{n} handler is {e.handler_status or e.handler_state}", ev,
                              {"extension": n, "version": e.version},
                              summary_de=f"Handler von {n} ist {e.handler_status or e.handler_state}")
    return FactResult(False)


def fact_sequence_open(rule: FactRule, ctx: Context) -> FactResult:
    """A file ends soon after an 'open' marker with no 'close' marker after it (a hang)."""
    opens = rule.params.get("open", [])
    closes = rule.params.get("close", [])
    tail = int(rule.params.get("within", 10))

    def last(globs: list[str], source: str) -> int:
        return max((n for (pid, src), n in ctx.last_pos.items()
                    if src == source and any(fnmatch.fnmatchcase(pid, g) for g in globs)), default=0)

    sources = {src for (pid, src) in ctx.last_pos if any(fnmatch.fnmatchcase(pid, g) for g in opens)}
    for source in sorted(sources):
        o, c, end = last(opens, source), last(closes, source), ctx.ordinal.get(source, 0)
        if o > c and end - o < tail:
            # the open marker's last hit in this file: the hung run, not an earlier one that finished
            # (red team 12: the evidence and time came from a successful freeze three hours before)
            mine = [(n, ctx.last_samples.get((pid, src))) for (pid, src), n in ctx.last_pos.items()
                    if src == source and any(fnmatch.fnmatchcase(pid, g) for g in opens)]
            sample = max(mine, key=lambda t: t[0])[1] if mine else None
            if sample is None:
                sample = next((ctx.pattern_samples[p] for p in ctx.pattern_samples
                               if any(fnmatch.fnmatchcase(p, g) for g in opens)
                               and ctx.pattern_samples[p].record_file == source), None)
            ev = [Evidence(sample.record_file, sample.line, sample.text, sample.ts)] if sample else []
            return FactResult(True, rule.params.get("confidence", 0.5),
                              rule.params.get("summary", "the log ends inside an unfinished operation")
                              + f" ({source}, {end - o} record(s) after the last marker)", ev,
                              {"source": source}, first=sample.ts if sample else None,
                              summary_de=rule.params.get("summary_de", "das Protokoll endet mitten in einem unvollendeten Vorgang")
                              + f" ({source}, {end - o} Eintrag/Einträge nach der letzten Markierung)")
    return FactResult(False)


FACT_RULES: dict[str, Callable[[FactRule, Context], FactResult]] = {
    "agent_version_below": fact_agent_version_below,
    "config_value": fact_config_value,
    "config_present": fact_config_present,
    "lease_missing_245": fact_lease_missing_245,
    "agent_silent": fact_agent_silent,
    "extension_status": fact_extension_status,
    "handler_not_ready": fact_handler_not_ready,
    "sequence_open": fact_sequence_open,
}


# --- evaluation ---------------------------------------------------------------------------------

WINDOW_NUMPY_AT = 100_000  # hits from which the window test runs in numpy


def _within_window(times, min_count: int, window: timedelta | None) -> bool:
    """Whether ``min_count`` of ``times`` (epoch seconds, any order) fall within ``window``."""
    if len(times) < min_count:
        return False
    if window is None or min_count <= 1:
        return True
    span = window.total_seconds()
    if len(times) > WINDOW_NUMPY_AT:  # millions of hits of a flood: sorted in numpy, not as Python floats
        import numpy as np  # noqa: PLC0415 - only floods pay for it
        ts = np.sort(np.frombuffer(times, dtype=np.float64) if isinstance(times, array) else np.asarray(times))
        return bool((ts[min_count - 1:] - ts[:len(ts) - min_count + 1] <= span).any())
    ts = sorted(times)
    j = 0
    for i in range(len(ts)):
        while ts[i] - ts[j] > span:
            j += 1
        if i - j + 1 >= min_count:
            return True
    return False


def _supported_by(support: "Support | None", globs: tuple[str, ...]) -> bool:
    """Whether hits of a pattern matching one of ``globs`` are among ``support``'s."""
    return support is not None and any(fnmatch.fnmatchcase(st.pattern.id, g) for st in support.stats for g in globs)


@dataclass
class Support:
    cause: str
    stats: list[PatternStats] = field(default_factory=list)
    facts: list[tuple[FactRule, FactResult]] = field(default_factory=list)


def _recovered(ctx: Context, pid: str, recovered_by: tuple[str, ...]) -> bool:
    """Whether in every file with hits of ``pid`` a hit of one of ``recovered_by`` comes after the
    last of them (file order: a clock step cannot reorder it). Red team 12: one goal-state fetch
    error followed by the agent's own 'recovered from previous errors' was an error finding."""
    files = [(src, n) for (p, src), n in ctx.last_pos.items() if p == pid]
    if not files:
        return False
    later = [(src, n) for (p, src), n in ctx.last_pos.items()
             if any(fnmatch.fnmatchcase(p, g) for g in recovered_by)]
    return all(any(s == src and m > n for s, m in later) for src, n in files)


def evaluate(ctx: Context, rules: RuleSet, causes: dict[str, Any]) -> tuple[list[Finding], list[NoiseCount], list[NotEvaluable]]:
    """Findings (ranked), below-threshold noise and rules that could not run."""
    supports: dict[str, Support] = {}
    noise: list[NoiseCount] = []
    for (cause, pid), st in ctx.stats.items():
        thr = rules.threshold_for(pid)
        if thr is not None:
            times_ok = _within_window(st.times, thr.min_count, thr.window) if st.times else st.count >= thr.min_count
            recovered = times_ok and thr.recovered_by and _recovered(ctx, pid, thr.recovered_by)
            if not times_ok or recovered:
                s = st.samples[0] if st.samples else None
                why = "recovered later" if recovered else "below threshold"
                noise.append(NoiseCount(f"{pid} ({why} for {cause})", st.count, st.first, st.last,
                                        Evidence(s.record_file, s.line, s.text, s.ts, pid) if s else None))
                continue
        supports.setdefault(cause, Support(cause)).stats.append(st)

    not_evaluable: list[NotEvaluable] = []
    for fr in rules.facts:
        result = FACT_RULES[fr.type](fr, ctx)
        if result.not_evaluable:
            not_evaluable.append(NotEvaluable(fr.id, fr.cause, result.not_evaluable))
        elif result.fired:
            supports.setdefault(fr.cause, Support(fr.cause)).facts.append((fr, result))

    findings = [_finding(s, causes.get(s.cause)) for s in supports.values()]
    present = {f.cause: f for f in findings}
    for esc in rules.escalations:
        f = present.get(esc.cause)
        if f is None:
            continue
        times = array("d")
        for st in supports[esc.cause].stats:
            if any(fnmatch.fnmatchcase(st.pattern.id, g) for g in esc.patterns):
                times.extend(st.times)
        if _within_window(times, esc.min_count, esc.window):
            if severity_rank(esc.severity) > severity_rank(f.severity):
                f.severity = esc.severity
            f.confidence = round(min(0.99, f.confidence + 0.1), 3)
            f.details["escalated"] = esc.note or f"{esc.min_count}+ within {esc.window}"
    for ex in rules.explains:
        top = present.get(ex.cause)
        if top is None or (ex.when and not _supported_by(supports.get(ex.cause), ex.when)):
            continue
        for other in ex.explains:
            f = present.get(other)
            if f is not None and f.confidence <= top.confidence + 0.15 and f.explained_by is None \
                    and not (ex.unless and _supported_by(supports.get(other), ex.unless)):
                f.explained_by = ex.cause
                f.confidence = round(f.confidence * 0.6, 3)
                if severity_rank(f.severity) > severity_rank(EXPLAINED_MAX_SEVERITY):
                    # a consequence is not what to act on first (red team 12: extensions disabled
                    # also showed a critical extension-load-failure that said to reinstall it)
                    f.details["severity_before_explained"] = f.severity
                    f.severity = EXPLAINED_MAX_SEVERITY
    findings.sort(key=lambda f: (-f.confidence, -severity_rank(f.severity), -f.count, f.cause))
    return findings, noise, not_evaluable


def _finding(support: Support, cause: Any) -> Finding:
    contributions: list[float] = []
    severity = "info"
    count = 0
    first: datetime | None = None
    last: datetime | None = None
    partial = False
    evidence: list[Evidence] = []
    patterns: list[str] = []
    details: dict[str, Any] = {}
    summaries: list[str] = []
    summaries_de: list[str] = []

    def widen(a: datetime | None, b: datetime | None) -> None:
        nonlocal first, last
        for t in (a, b):
            if t is None:
                continue
            first = t if first is None or t < first else first
            last = t if last is None or t > last else last

    stats = sorted(support.stats, key=lambda s: (-severity_rank(s.pattern.severity), -s.count))
    for st in stats:
        w = SEVERITY_WEIGHT.get(st.pattern.severity, 0.15)
        contributions.append(w * (0.75 + 0.25 * (1 - 1 / st.count)))
        if severity_rank(st.pattern.severity) > severity_rank(severity):
            severity = st.pattern.severity
        count += st.count
        widen(st.first, st.last)
        partial = partial or st.partial
        patterns.append(st.pattern.id)
        for key, counter in st.values.items():
            if key in DETAIL_KEYS:
                details.setdefault(key, [])
                for v, _ in counter.most_common(3):
                    if v not in details[key]:
                        details[key].append(redact(v))
    for fr, res in support.facts:
        contributions.append(res.confidence)
        sev = res.severity or (getattr(cause, "severity", None) or "error")
        if severity_rank(sev) > severity_rank(severity):
            severity = sev
        count += 1
        widen(res.first, res.last)
        patterns.append(f"rule:{fr.id}")
        summaries.append(res.summary)
        summaries_de.append(res.summary_de or res.summary)
        details.update(res.details)
        evidence.extend(res.evidence)
    # evidence: the strongest patterns first, first and last occurrence of each
    queues = [(st.pattern.id, list(st.samples)) for st in stats]
    seen = {(e.file, e.line) for e in evidence}
    take_first = True
    while len(evidence) < MAX_EVIDENCE and any(q for _, q in queues):
        for pid, samples in queues:
            while samples and len(evidence) < MAX_EVIDENCE:
                s = samples.pop(0) if take_first or len(samples) == 1 else samples.pop()
                if (s.record_file, s.line) not in seen:
                    seen.add((s.record_file, s.line))
                    evidence.append(Evidence(s.record_file, s.line, s.text, s.ts, pid))
                    break
        take_first = not take_first
    confidence = 1.0
    for c in contributions:
        confidence *= (1 - min(c, 0.99))
    confidence = min(0.99, 1 - confidence)
    if stats:
        n = sum(st.count for st in stats)
        listing = (f"({', '.join(f'{st.pattern.id} x{st.count}' for st in stats[:4])}"
                   f"{', ...' if len(stats) > 4 else ''})")
        summaries.insert(0, f"{n} matching line{'s' if n != 1 else ''} {listing}")
        summaries_de.insert(0, f"{n} passende Zeile{'n' if n != 1 else ''} {listing}")
    return Finding(cause=support.cause, severity=severity, confidence=round(confidence, 3),
                   count=count, first_seen=first, last_seen=last, evidence=evidence[:MAX_EVIDENCE],
                   patterns=patterns, rule=None, summary="; ".join(summaries), details=details,
                   partial=partial, summary_i18n={"en": "; ".join(summaries), "de": "; ".join(summaries_de)})


_ROUTES_FOR: dict[tuple[int, str], tuple[list[Route], list[Route]]] = {}


def route_causes(pattern: Pattern, record: Record, groups: dict[str, str], routes: list[Route]) -> set[str]:
    key = (id(routes), pattern.id)
    known = _ROUTES_FOR.get(key)
    if known is not None and known[0] is routes:
        mine = known[1]
    else:  # which routes apply depends on the pattern only: decide once
        mine = [r for r in routes if r.routes(pattern)]
        if len(_ROUTES_FOR) > 10_000:
            _ROUTES_FOR.clear()
        _ROUTES_FOR[key] = (routes, mine)
    causes = set(pattern.causes)
    for r in mine:
        r.apply(record, groups, causes)
    return causes


