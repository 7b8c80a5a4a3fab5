"""The rule layer: thresholds and windows, routing, explains, fact rules and absences."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import regex

from loganalyzer.model import Facts, InputFile, LeaseFact, Record
from loganalyzer.patterns import Pattern
from loganalyzer.rules import (Context, Explains, FactRule, PatternStats, Route, RuleSet, Threshold, evaluate,
                               parse_duration, route_causes, version_tuple)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


def pat(pid, severity="error", causes=("agent-crash-loop",)):
    return Pattern(id=pid, regex="x", severity=severity, causes=tuple(causes))


def rec(minutes, msg="x", source="var/log/waagent.log"):
    return Record(source=source, line=int(minutes) + 1, ts=T0 + timedelta(minutes=minutes), level="ERROR",
                  message=msg, kind="waagent_log", raw=msg)


def ctx_with(stats, facts=None, inputs=None, counts=None):
    return Context(facts=facts or Facts(), inputs=inputs or [], stats=stats, pattern_counts=Counter(counts or {}),
                   pattern_samples={}, kinds=Counter(), eras=Counter(), last_agent_ts=None)


def stats_for(pattern, minutes, cause="agent-crash-loop"):
    st = PatternStats(pattern)
    for m in minutes:
        st.add(rec(m), {}, False)
    return {(cause, pattern.id): st}


def test_duration_and_versions():
    assert parse_duration("10m") == timedelta(minutes=10)
    assert parse_duration("2d") == timedelta(days=2)
    assert version_tuple("2.2.53.1") > version_tuple("2.2.53")
    assert version_tuple("2.2.46") < version_tuple("2.2.53.1")
    assert version_tuple("x") is None


def test_threshold_window_separates_noise_from_finding():
    p = pat("agent.child.crash")
    rules = RuleSet([Threshold(("agent.child.*",), 3, timedelta(minutes=10))], [], [], [])
    spread = evaluate(ctx_with(stats_for(p, [0, 30, 60])), rules, {})
    assert spread[0] == [] and spread[1][0].count == 3  # 3 crashes an hour apart: noise
    burst = evaluate(ctx_with(stats_for(p, [0, 3, 6])), rules, {})
    assert [f.cause for f in burst[0]] == ["agent-crash-loop"]
    assert burst[0][0].count == 3 and burst[0][0].first_seen == T0


def test_confidence_grows_with_strength_and_amount():
    weak = evaluate(ctx_with(stats_for(pat("a.w", "warning"), [0])), RuleSet([], [], [], []), {})[0][0]
    strong = evaluate(ctx_with(stats_for(pat("a.c", "critical"), [0])), RuleSet([], [], [], []), {})[0][0]
    many = evaluate(ctx_with(stats_for(pat("a.c", "critical"), range(20))), RuleSet([], [], [], []), {})[0][0]
    assert 0 < weak.confidence < strong.confidence < many.confidence <= 0.99
    assert strong.severity == "critical" and weak.severity == "warning"


def test_route_by_captured_extension_name():
    p = pat("ext.cmd_nonzero", causes=("extension-operation-failed",))
    assert route_causes(pat("ext.chatter", causes=()), rec(0), {"ext": "VMSnapshotLinux"}, [Route(("ext.*",), ("ext",), regex.compile("VMSnapshot"), ("extension-load-failure",), ())]) == set()
    route = Route(("ext.*",), ("ext", "prefix"), regex.compile("VMSnapshot"), ("extension-load-failure",), ())
    r = rec(0)
    assert route_causes(p, r, {"ext": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"}, [route]) == {
        "extension-operation-failed", "extension-load-failure"}
    assert route_causes(p, r, {"ext": "Microsoft.Azure.Extensions.CustomScript"}, [route]) == {
        "extension-operation-failed"}
    # a pattern the globs take in but the route excludes keeps its own causes (Extensions.Enabled=n
    # names VMSnapshotLinux, yet nothing failed to load)
    off = Route(("ext.*",), ("ext",), regex.compile("VMSnapshot"), ("extension-load-failure",), (),
                ("ext.processing_disabled",))
    assert route_causes(pat("ext.processing_disabled", causes=("extensions-disabled",)), r,
                        {"ext": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"}, [off]) == {"extensions-disabled"}
    assert route_causes(p, r, {"ext": "VMSnapshotLinux"}, [off]) == {"extension-operation-failed", "extension-load-failure"}


def test_explained_cause_ranks_below_its_explanation():
    a = stats_for(pat("dhcp.x", "error", ("dhcp-245-missing",)), [0], "dhcp-245-missing")
    b = stats_for(pat("gs.x", "error", ("wireserver-unreachable",)), [0, 1], "wireserver-unreachable")
    rules = RuleSet([], [], [Explains("dhcp-245-missing", ("wireserver-unreachable",))], [])
    findings = evaluate(ctx_with({**a, **b}), rules, {})[0]
    assert [f.cause for f in findings] == ["dhcp-245-missing", "wireserver-unreachable"]
    assert findings[1].explained_by == "dhcp-245-missing"


def test_explained_finding_shows_at_most_warning():
    """A probable consequence is not what to act on first (red team 12: Extensions.Enabled=n also
    showed a critical extension-load-failure whose advice is to reinstall the extension)."""
    a = stats_for(pat("conf.x", "critical", ("extensions-disabled",)), [0, 1], "extensions-disabled")
    b = stats_for(pat("ext.x", "critical", ("extension-load-failure",)), [0], "extension-load-failure")
    rules = RuleSet([], [], [Explains("extensions-disabled", ("extension-load-failure",))], [])
    top, other = evaluate(ctx_with({**a, **b}), rules, {})[0]
    assert (top.cause, top.severity) == ("extensions-disabled", "critical")
    assert (other.cause, other.severity, other.explained_by) == ("extension-load-failure", "warning", "extensions-disabled")
    assert other.details["severity_before_explained"] == "critical"
    alone = evaluate(ctx_with(b), rules, {})[0]
    assert [(f.cause, f.severity, f.explained_by) for f in alone] == [("extension-load-failure", "critical", None)]


def test_explains_when_and_unless():
    """A crash loop explains 'agent not running' unless the daemon cannot start the ExtHandler at all
    (no interpreter): then that explains the loop (red team 12, causes.md agent-not-running)."""
    loop = stats_for(pat("child.exception", "critical", ("agent-crash-loop",)), [0, 1, 2], "agent-crash-loop")
    gone = stats_for(pat("daemon.no_interpreter", "critical", ("agent-not-running",)), [0, 1, 2], "agent-not-running")
    other = stats_for(pat("daemon.other", "critical", ("agent-not-running",)), [0, 1, 2], "agent-not-running")
    rules = RuleSet([], [], [Explains("agent-crash-loop", ("agent-not-running",), unless=("daemon.no_interpreter",)),
                             Explains("agent-not-running", ("agent-crash-loop",), when=("daemon.no_*",))], [])
    found = {f.cause: f for f in evaluate(ctx_with({**loop, **gone}), rules, {})[0]}
    assert found["agent-not-running"].explained_by is None
    assert found["agent-crash-loop"].explained_by == "agent-not-running"
    found = {f.cause: f for f in evaluate(ctx_with({**loop, **other}), rules, {})[0]}
    assert found["agent-not-running"].explained_by == "agent-crash-loop"
    assert found["agent-crash-loop"].explained_by is None


def test_lease_absence_needs_evidence():
    rule = FactRule("dhcp", "lease_missing_245", "dhcp-245-missing", {"patterns": ["dhcp.*"]})
    rules = RuleSet([], [], [], [rule])
    _, _, ne = evaluate(ctx_with({}), rules, {})
    assert ne and ne[0].cause == "dhcp-245-missing" and "lease" in ne[0].reason
    facts = Facts(leases=[LeaseFact(source="var/lib/dhcp/dhclient.eth0.leases", has_245=False)])
    findings, _, ne = evaluate(ctx_with({}, facts=facts), rules, {})
    assert [f.cause for f in findings] == ["dhcp-245-missing"] and not ne
    facts.leases.append(LeaseFact(source="x", has_245=True, endpoint="168.63.129.16"))
    assert evaluate(ctx_with({}, facts=facts), rules, {})[0] == []


def test_agent_version_rule():
    rule = FactRule("old", "agent_version_below", "agent-outdated", {"minimum": "2.2.53.1"})
    rules = RuleSet([], [], [], [rule])
    assert evaluate(ctx_with({}, facts=Facts(agent_daemon_version="2.2.18")), rules, {})[0][0].cause == "agent-outdated"
    # daemon old but the goal-state agent auto-updated: fine
    assert evaluate(ctx_with({}, facts=Facts(agent_daemon_version="2.2.18",
                                             agent_goal_state_version="2.11.1.12")), rules, {})[0] == []
    assert evaluate(ctx_with({}), rules, {})[2][0].rule == "old"  # no banner: not evaluable


def test_config_rule_needs_the_file():
    rule = FactRule("ext-off", "config_value", "extensions-disabled", {"key": "Extensions.Enabled", "values": ["n"]})
    rules = RuleSet([], [], [], [rule])
    assert evaluate(ctx_with({}), rules, {})[2][0].reason.startswith("no /etc/waagent.conf")
    inputs = [InputFile(path="etc/waagent.conf", kind="waagent_conf")]
    found = evaluate(ctx_with({}, facts=Facts(config={"Extensions.Enabled": "n"}), inputs=inputs), rules, {})[0]
    assert found[0].cause == "extensions-disabled" and found[0].evidence[0].file == "etc/waagent.conf"
    assert evaluate(ctx_with({}, facts=Facts(config={"Extensions.Enabled": "y"}), inputs=inputs), rules, {})[0] == []


def test_three_exits_in_ten_minutes_escalate_to_critical():
    from loganalyzer.rules import Escalate
    p = pat("child.failed_rc", "error")
    esc = Escalate("agent-crash-loop", ("child.*",), 3, timedelta(minutes=10), "critical")
    rules = RuleSet([], [], [], [], [esc])
    once = evaluate(ctx_with(stats_for(p, [0])), rules, {})[0][0]
    assert once.severity == "error" and "escalated" not in once.details
    spread = evaluate(ctx_with(stats_for(p, [0, 30, 60])), rules, {})[0][0]
    assert spread.severity == "error"
    burst = evaluate(ctx_with(stats_for(p, [0, 2, 4])), rules, {})[0][0]
    assert burst.severity == "critical" and burst.details["escalated"]


def test_evidence_points_at_the_matching_line_of_a_multi_line_record():
    from loganalyzer.rules import evidence_at
    msg = "Event: name=X, op=Install, message=failed\n[stdout]\nok\n\n[stderr]\npython: command not found"
    r = Record(source="var/log/waagent.log", line=10, ts=T0, level="ERROR", message=msg, kind="waagent_log",
               raw="2024-01-01T00:00:00.000000Z ERROR ExtHandler Event: name=X", end_line=15)
    assert evidence_at(r, msg.index("python:")) == (15, "python: command not found")
    assert evidence_at(r, 3)[0] == 10 and evidence_at(r, 3)[1].startswith("2024-01-01")
    synthetic = Record(source="x/status/1.status", line=1, ts=T0, level="ERROR", message=msg, kind="ext_status")
    assert evidence_at(synthetic, msg.index("python:"))[0] == 1  # no line mapping: first line


def test_the_window_test_of_a_flood_gives_what_the_loop_gives(monkeypatch):
    """Hits are kept as 8-byte floats (array 'd'; a list of Python floats took 32 bytes a hit: 4 M hits
    of a 1 GB flood were 130 MB); past WINDOW_NUMPY_AT they are sorted and tested in numpy. Both
    ways answer alike, in or out of order, at the edge of the window and beyond it."""
    import random
    from array import array
    from datetime import timedelta

    from loganalyzer import rules
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randrange(0, 60)
        times = array("d", (rng.choice([rng.uniform(0, 3600), float(rng.randrange(0, 3600, 60))]) for _ in range(n)))
        for min_count in (1, 2, 3, 5, 8):
            for window in (None, timedelta(seconds=0), timedelta(seconds=60), timedelta(minutes=10)):
                monkeypatch.setattr(rules, "WINDOW_NUMPY_AT", 10**9)
                loop = rules._within_window(times, min_count, window)
                monkeypatch.setattr(rules, "WINDOW_NUMPY_AT", 0)
                assert rules._within_window(times, min_count, window) == loop, (list(times), min_count, window)
                assert rules._within_window(list(times), min_count, window) == loop
    assert rules._within_window(array("d", [0.0, 60.0, 120.0]), 3, timedelta(seconds=120))
    assert not rules._within_window(array("d", [0.0, 60.0, 120.001]), 3, timedelta(seconds=120))
