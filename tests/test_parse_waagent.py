"""waagent.log / CommandExecution.log parser: eras E0-E4, continuation, wrappers, robustness."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from loganalyzer.parsers import ParseContext
from loganalyzer.parsers.waagent_log import (
    MAX_RECORD_LINES, AgentLineParser, parse_command_execution_log, parse_waagent_log, redact)
from loganalyzer.textio import iter_lines

SHARED = Path(__file__).resolve().parents[2] / "shared"
UTC = timezone.utc


def parse(text: str | list[str], ctx: ParseContext | None = None, kind: str = "waagent_log"):
    lines = text.splitlines() if isinstance(text, str) else text
    fn = parse_waagent_log if kind == "waagent_log" else parse_command_execution_log
    return list(fn(lines, "var/log/waagent.log", ctx or ParseContext()))


def one(line: str, ctx: ParseContext | None = None):
    recs = parse([line], ctx)
    assert len(recs) == 1
    return recs[0]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (line, ts (UTC, ctx.tz=UTC), level, thread, prefix, era, message)
ERA_LINES = [
    # E0: waagent 2.0 / legacy extension lines, local time, no level word
    ("2016/09/06 15:01:38 ERROR:HTTP Err: Status=404", "2016-09-06 15:01:38", "ERROR", None, None,
     "E0", "HTTP Err: Status=404"),
    ("2015/03/02 08:11:09 WARNING:Disk /dev/sdb1 is not mounted", "2015-03-02 08:11:09", "WARNING",
     None, None, "E0", "Disk /dev/sdb1 is not mounted"),
    ("2020/04/01 10:20:30 VMAccess started to handle.", "2020-04-01 10:20:30", "INFO", None, None,
     "E0", "VMAccess started to handle."),
    ("2022/05/12 07:00:01 [Microsoft.Azure.Monitor.AzureMonitorLinuxAgent-1.9.1] cwd is /var/lib/waagent/x",
     "2022-05-12 07:00:01", "INFO", None, "[Microsoft.Azure.Monitor.AzureMonitorLinuxAgent-1.9.1]", "E0",
     "cwd is /var/lib/waagent/x"),
    ("2022/05/12 07:00:02 ERROR:[Microsoft.OSTCExtensions.VMAccessForLinux-1.4.7] Failed to reset ssh",
     "2022-05-12 07:00:02", "ERROR", None, "[Microsoft.OSTCExtensions.VMAccessForLinux-1.4.7]", "E0",
     "Failed to reset ssh"),
    ("ERROR:CalledProcessError.  Error Code is 1", None, "ERROR", None, None, "E0",
     "CalledProcessError.  Error Code is 1"),
    # E1: local time, level, no process prefix
    ("2017/10/02 09:14:03.551200 INFO Azure Linux Agent Version:2.2.18", "2017-10-02 09:14:03.551200",
     "INFO", None, None, "E1", "Azure Linux Agent Version:2.2.18"),
    ("2017/10/02 09:20:11.000400 ERROR Event: name=Microsoft.OSTCExtensions.CustomScriptForLinux, op=Enable, "
     "message=[000003] Non-zero exit code: 2, shim.sh -enable, duration=0", "2017-10-02 09:20:11.000400",
     "ERROR", None, None, "E1",
     "Event: name=Microsoft.OSTCExtensions.CustomScriptForLinux, op=Enable, message=[000003] Non-zero "
     "exit code: 2, shim.sh -enable, duration=0"),
    ("2017/10/02 09:15:00.100000 INFO [Microsoft.OSTCExtensions.CustomScriptForLinux-1.5.2.2] Target handler state: enabled",
     "2017-10-02 09:15:00.100000", "INFO", None, "[Microsoft.OSTCExtensions.CustomScriptForLinux-1.5.2.2]",
     "E1", "Target handler state: enabled"),
    ("2017/10/02 09:25:00.000000 INFO [HTTP Retry] Attempt 2 of 3: [HTTP Failed] HTTP GET IOError timed out",
     "2017-10-02 09:25:00", "INFO", None, None, "E1",
     "[HTTP Retry] Attempt 2 of 3: [HTTP Failed] HTTP GET IOError timed out"),
    ("2017/10/02 09:26:00.000000 INFO [PERIODIC] Using host plugin as default channel.",
     "2017-10-02 09:26:00", "INFO", None, None, "E1", "[PERIODIC] Using host plugin as default channel."),
    # E2: local time, Daemon / ExtHandler / [ext]
    ("2019/11/04 16:02:44.662707 INFO ExtHandler Wire server endpoint:168.63.129.16",
     "2019-11-04 16:02:44.662707", "INFO", None, "ExtHandler", "E2", "Wire server endpoint:168.63.129.16"),
    ("2019/11/04 16:02:40.203983 INFO Daemon Agent WALinuxAgent-2.2.40 forwarding signal 15 to WALinuxAgent-2.2.44",
     "2019-11-04 16:02:40.203983", "INFO", None, "Daemon", "E2",
     "Agent WALinuxAgent-2.2.40 forwarding signal 15 to WALinuxAgent-2.2.44"),
    ("2019/11/04 16:03:01.010000 INFO ExtHandler [Microsoft.Azure.Extensions.CustomScript-2.1.3] Target handler state: enabled",
     "2019-11-04 16:03:01.010000", "INFO", None, "[Microsoft.Azure.Extensions.CustomScript-2.1.3]", "E2",
     "Target handler state: enabled"),
    ("2021/08/16 11:43:34.761605 WARNING ExtHandler Exception retrieving extension handlers: [ProtocolError] Exceeded max retry updating goal state",
     "2021-08-16 11:43:34.761605", "WARNING", None, "ExtHandler", "E2",
     "Exception retrieving extension handlers: [ProtocolError] Exceeded max retry updating goal state"),
    # E3: ISO UTC, prefix only (first line of a file: no E4 seen yet)
    ("2020-02-11T10:00:00.123456Z INFO Daemon Azure Linux Agent Version:2.2.46", "2020-02-11 10:00:00.123456",
     "INFO", None, "Daemon", "E3", "Azure Linux Agent Version:2.2.46"),
    # E4: ISO UTC, thread + prefix
    ("2021-09-01T04:40:17.190879Z WARNING EnvHandler ExtHandler Dhcp client is not running.",
     "2021-09-01 04:40:17.190879", "WARNING", "EnvHandler", "ExtHandler", "E4", "Dhcp client is not running."),
    ("2023-09-12T08:13:42.520557Z WARNING MainThread LogCollector Fetch failed: [HttpError] timed out",
     "2023-09-12 08:13:42.520557", "WARNING", "MainThread", "LogCollector", "E4",
     "Fetch failed: [HttpError] timed out"),
    ("2025-02-03T08:00:04.000000Z INFO ExtHandler [Microsoft.CPlat.Core.RunCommandLinux-1.0.5] Target handler state: enabled [incarnation_3]",
     "2025-02-03 08:00:04", "INFO", "ExtHandler", "[Microsoft.CPlat.Core.RunCommandLinux-1.0.5]", "E4",
     "Target handler state: enabled [incarnation_3]"),
    ("2025-02-03T08:00:05.000000Z INFO ExtHandler [Microsoft.CPlat.Core.RunCommandHandlerLinux.myCmd-1.3.9] Enable extension",
     "2025-02-03 08:00:05", "INFO", "ExtHandler", "[Microsoft.CPlat.Core.RunCommandHandlerLinux.myCmd-1.3.9]", "E4",
     "Enable extension"),
    ("2024-10-01T06:34:13.777129Z INFO ExtHandler ExtHandler [HEARTBEAT] Agent WALinuxAgent-2.11.1.12 is running as the goal state agent",
     "2024-10-01 06:34:13.777129", "INFO", "ExtHandler", "ExtHandler", "E4",
     "[HEARTBEAT] Agent WALinuxAgent-2.11.1.12 is running as the goal state agent"),
    ("2022-10-11T02:48:33.134649Z WARNING MonitorHandler ExtHandler Error in SendHostPluginHeartbeat: [HttpError] [HTTP Failed] GET http://168.63.129.16:32526/health -- IOError timed out -- 1 attempts made",
     "2022-10-11 02:48:33.134649", "WARNING", "MonitorHandler", "ExtHandler", "E4",
     "Error in SendHostPluginHeartbeat: [HttpError] [HTTP Failed] GET http://168.63.129.16:32526/health -- IOError timed out -- 1 attempts made"),
    ("2024-09-30T06:40:21.025880Z INFO ExtHandler ", "2024-09-30 06:40:21.025880", "INFO", None,
     "ExtHandler", "E3", ""),
    ("2024-03-05T12:00:00.000000Z VERBOSE Daemon Daemon Command: [ifconfig -l ether]", "2024-03-05 12:00:00",
     "VERBOSE", "Daemon", "Daemon", "E4", "Command: [ifconfig -l ether]"),
    ("2025-03-01T08:00:02.100000Z INFO ExtHandler ExtHandler [CGI] Using cgroup v2 for resource enforcement and monitoring",
     "2025-03-01 08:00:02.100000", "INFO", "ExtHandler", "ExtHandler", "E4",
     "[CGI] Using cgroup v2 for resource enforcement and monitoring"),
    ("2024-08-05T14:36:48.004865Z WARNING Daemon Daemon Unable to load distro implementation for azurelinux.",
     "2024-08-05 14:36:48.004865", "WARNING", "Daemon", "Daemon", "E4",
     "Unable to load distro implementation for azurelinux."),
    ("2022-01-02T03:04:05.000006Z INFO Thread-7 ExtHandler unnamed thread line", "2022-01-02 03:04:05.000006",
     "INFO", "Thread-7", "ExtHandler", "E4", "unnamed thread line"),
    # timestamp-less pastes of E4 lines
    ("WARNING ExtHandler ExtHandler Failed to get firewall packets: 'iptables' failed: 2", None, "WARNING",
     "ExtHandler", "ExtHandler", "E4", "Failed to get firewall packets: 'iptables' failed: 2"),
]


@pytest.mark.parametrize("line,when,level,thread,prefix,era,message", ERA_LINES)
def test_era_lines(line, when, level, thread, prefix, era, message):
    r = one(line)
    assert r.ts == (ts(when) if when else None)
    assert (r.level, r.thread, r.prefix, r.era, r.message) == (level, thread, prefix, era, message)
    assert r.kind == "waagent_log" and r.line == 1 and r.end_line == 1 and r.raw == line
    if when is not None:  # local-time eras guess the zone, ISO eras do not
        assert r.tz_guess == (era in ("E0", "E1", "E2"))


def test_iso_without_prefix_after_e4_is_e4_thread():
    recs = parse([
        "2024-09-30T06:39:21.025000Z INFO ExtHandler ExtHandler ProcessExtensionsGoalState started",
        "2024-09-30T06:39:21.026060Z INFO ExtHandler Fetched new vmSettings [HostGAPlugin correlation ID: 1 eTag: 2 source: FastTrack]",
        "2024-09-30T06:39:21.027000Z INFO ExtHandler ",
    ])
    assert [(r.era, r.thread, r.prefix) for r in recs] == [
        ("E4", "ExtHandler", "ExtHandler"), ("E4", "ExtHandler", None), ("E4", "ExtHandler", None)]
    assert recs[1].message.startswith("Fetched new vmSettings [")
    assert recs[2].message == ""


def test_command_execution_log_kind():
    recs = parse(["2024-01-14T22:16:40.101234Z INFO ExtHandler [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9225.0] Executing command: handle.sh enable"],
                 kind="command_execution_log")
    assert recs[0].kind == "command_execution_log"
    assert recs[0].prefix == "[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9225.0]"


MIXED = """\
2019/11/04 16:02:43.788009 INFO Daemon Azure Linux Agent Version:2.2.45
2019/11/04 16:02:43.806403 INFO Daemon Python: 3.6.8
2024-06-01T14:02:45.000000Z INFO ExtHandler ExtHandler Azure Linux Agent (Goal State Agent version 2.11.1.4)
2019/11/04 16:02:46 [Microsoft.OSTCExtensions.VMAccessForLinux-1.5.9] cwd is /var/lib/waagent/x
2024-06-01T14:02:47.000000Z INFO ExtHandler Fetch goal state completed
ERROR:this pasted E0 line continues the ISO record above
2019/11/04 16:02:48.000000 WARNING Daemon Daemon ended with exception
"""


def test_mixed_era_file_with_local_zone():
    ctx = ParseContext(tz=ZoneInfo("Europe/Berlin"))
    recs = parse(MIXED, ctx)
    assert [r.era for r in recs] == ["E2", "E2", "E4", "E0", "E4", "E2"]
    assert [r.line for r in recs] == [1, 2, 3, 4, 5, 7]
    assert recs[4].end_line == 6 and recs[4].message.endswith("\nERROR:this pasted E0 line continues the ISO record above")
    # November in Berlin is UTC+1; ISO lines are UTC already
    assert recs[0].ts == ts("2019-11-04 15:02:43.788009") and recs[0].tz_guess
    assert recs[2].ts == ts("2024-06-01 14:02:45") and not recs[2].tz_guess
    assert recs[3].ts == ts("2019-11-04 15:02:46") and recs[3].prefix.startswith("[Microsoft.OSTC")
    ctx2 = ParseContext(tz=ZoneInfo("Europe/Berlin"), tz_known=True)
    assert not parse(MIXED, ctx2)[0].tz_guess
    summer = one("2019/07/04 16:02:43.000000 INFO Daemon x", ParseContext(tz=ZoneInfo("Europe/Berlin")))
    assert summer.ts == ts("2019-07-04 14:02:43")



def test_repeated_autumn_hour_is_told_apart_by_file_order():
    """Berlin's 02:00 - 02:59 happens twice on 2024-10-27 (CEST, then CET). A stamp is on the first
    pass until one goes back more than FOLD_BACK_SECONDS (10 min): from there on the second (red team
    11 a06: three exits at 00:52Z, 01:47Z, 01:56Z were read 9 minutes apart, a false crash loop).
    A step back of a few minutes is another thread's late write, not the fall-back (red team 15)."""
    lines = ["2024/10/27 01:59:00.000000 INFO Daemon Daemon before",
             "2024/10/27 02:52:00.000000 WARNING Daemon Daemon first pass",
             "2024/10/27 02:51:59.500000 INFO Daemon Daemon a thread a moment behind",
             "2024/10/27 02:50:00.000000 INFO Daemon Daemon a late write, 2 minutes behind",
             "2024/10/27 02:53:00.000000 INFO Daemon Daemon still the first pass",
             "2024/10/27 02:17:00.000000 WARNING Daemon Daemon second pass",
             "2024/10/27 02:56:00.000000 WARNING Daemon Daemon still the second pass",
             "2024/10/27 03:10:00.000000 INFO Daemon Daemon after"]
    recs = parse(lines, ParseContext(tz=ZoneInfo("Europe/Berlin"), tz_known=True))
    assert [r.ts for r in recs] == [ts("2024-10-26 23:59"), ts("2024-10-27 00:52"), ts("2024-10-27 00:51:59.5"),
                                    ts("2024-10-27 00:50"), ts("2024-10-27 00:53"), ts("2024-10-27 01:17"),
                                    ts("2024-10-27 01:56"), ts("2024-10-27 02:10")]
    # a file that is only in the first pass, in order, stays there; the spring gap is not a fold
    first = parse(lines[1:3], ParseContext(tz=ZoneInfo("Europe/Berlin")))
    assert [r.ts for r in first] == [ts("2024-10-27 00:52"), ts("2024-10-27 00:51:59.5")]
    spring = parse(["2024/03/31 02:30:00.000000 INFO Daemon Daemon x", "2024/03/31 02:10:00.000000 INFO Daemon Daemon y"],
                   ParseContext(tz=ZoneInfo("Europe/Berlin")))
    assert [r.ts for r in spring] == [ts("2024-03-31 01:30"), ts("2024-03-31 01:10")]  # read as before the change


def test_colour_codes_and_lines_that_only_look_like_headers():
    """Red team 13: a waagent.log captured with colour codes (grep --color=always, a terminal) was
    read as 5 records instead of 217; headers with non-ASCII digits were joined to the record before
    without a word. Colour codes are read past; header-like lines that are not headers are counted."""
    plain = ["2024-09-30T06:39:27.159929Z INFO ExtHandler ExtHandler first",
             "2024-09-30T06:39:28.000000Z ERROR ExtHandler ExtHandler second",
             "  continuation of the second",
             "2019/11/04 16:02:43.788009 INFO Daemon Daemon third"]
    coloured = ["\x1b[0;31m" + line + "\x1b[0m" if not line.startswith(" ") else line for line in plain]
    ctx = ParseContext()
    got, want = parse(coloured, ctx), parse(plain)
    assert [(r.line, r.ts, r.level, r.thread, r.message) for r in got] == \
        [(r.line, r.ts, r.level, r.thread, r.message) for r in want]
    assert got[0].raw.startswith("\x1b[0;31m") and not ctx.problems
    # red team 15: other terminal controls before the stamp, and grep --color on the level word
    for wrap in (lambda l: "\x1b(B\x1b[m" + l, lambda l: "\x1b]0;vm: tail\x07" + l, lambda l: "\r" + l,
                 lambda l: l.replace(" ERROR ", " \x1b[01;31m\x1b[KERROR\x1b[m\x1b[K "),
                 lambda l: l.replace(" INFO ", " \x1b[01;31m\x1b[KINFO\x1b[m\x1b[K ")):
        other = [wrap(line) if not line.startswith(" ") else line for line in plain]
        ctx = ParseContext()
        assert [(r.line, r.ts, r.level, r.message) for r in parse(other, ctx)] == \
            [(r.line, r.ts, r.level, r.message) for r in want] and not ctx.problems
    odd = ["2024-09-30T06:39:27.159929Z INFO ExtHandler ExtHandler first",
           "\uff12\uff10\uff12\uff14-09-30T06:39:28.000000Z ERROR ExtHandler ExtHandler fullwidth digits",
           "123456789012345678901234567890-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler 30-digit year",
           "2024 packets sent, 0 lost"]  # digits, but no date: ordinary text
    ctx = ParseContext()
    assert len(parse(odd, ctx)) == 1
    assert [(p.key, p.params) for p in ctx.problems] == [("problem.odd_headers", {"n": 2})]


def test_a_file_without_any_agent_header_says_so():
    """Red team 13: `loganalyze /etc/shadow` was read as a waagent.log with no word about it."""
    ctx = ParseContext()
    parse(["root:*:19000:0:99999:7:::", "daemon:*:19000:0:99999:7:::"], ctx)
    assert [(p.key, p.params, p.severity) for p in ctx.problems] == [("problem.no_headers", {"n": 2}, "warning")]
    ctx = ParseContext()
    parse([], ctx)
    assert ctx.problems == []



def test_a_private_key_logged_with_a_header_per_line_is_masked():
    """Red team 15: body lines of a key, each with its own agent header, reached the report."""
    lines = ["2024-09-30T06:00:00.000000Z INFO ExtHandler ExtHandler out: -----BEGIN OPENSSH PRIVATE KEY-----",
             "2024-09-30T06:00:01.000000Z ERROR ExtHandler ExtHandler b3BlbnNzaC1rZXktdjEsecretLEAK1",
             "2024-09-30T06:00:02.000000Z INFO ExtHandler ExtHandler secretLEAK2==-----END OPENSSH PRIVATE KEY-----",
             "2024-09-30T06:00:03.000000Z ERROR ExtHandler ExtHandler after the key"]
    recs = parse(lines)
    assert not any("secretLEAK" in r.message or "secretLEAK" in r.raw for r in recs)
    assert [r.message for r in recs][1:] == ["<redacted>", "<redacted>-----END OPENSSH PRIVATE KEY-----", "after the key"]
    assert recs[1].raw.startswith("2024-09-30T06:00:01.000000Z ERROR ExtHandler ExtHandler ")
    # a BEGIN whose END was lost hides no log line after the key (red team 16)
    recs = parse(lines[:2] + ["2024-09-30T06:00:05.000000Z ERROR ExtHandler ExtHandler Fetch failed: timed out"])
    assert [r.message for r in recs][1:] == ["<redacted>", "Fetch failed: timed out"]


CONTINUATION = """\
2019/11/04 16:20:00.000000 ERROR ExtHandler Event: name=Microsoft.Azure.Extensions.CustomScript, op=Enable, message=[ExtensionOperationError] Non-zero exit code: 1, /var/lib/waagent/Microsoft.Azure.Extensions.CustomScript-2.1.3/bin/custom-script-shim enable
[stdout]
+ /var/lib/waagent/custom-script/download/0/script.sh
ERROR: package foo not found

[stderr]
Traceback (most recent call last):
  File "/tmp/x.py", line 3, in <module>
    main()
ValueError: boom
, duration=0
2024-02-01T10:00:00.000000Z WARNING ExtHandler ExtHandler Exception processing goal state
Inner error: [HttpError] timed out
2024-02-01T10:00:01.000000Z INFO ExtHandler ExtHandler ProcessExtensionsGoalState completed [etag_1 100 ms]

2024-02-01T10:00:02.000000Z ERROR ExtHandler ExtHandler Error fetching the goal state: [ProtocolError] x
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/azurelinuxagent/ga/update.py", line 9, in run
KeyError: 'a'
"""


def test_continuation_joining():
    recs = parse(CONTINUATION)
    assert [(r.line, r.end_line) for r in recs] == [(1, 11), (12, 13), (14, 15), (16, 19)]
    ev = recs[0]
    assert ev.level == "ERROR" and ev.prefix == "ExtHandler"
    assert "\n[stdout]\n" in ev.message and "\n[stderr]\nTraceback" in ev.message
    assert "ERROR: package foo not found" in ev.message  # not split off inside a modern record
    assert ev.message.endswith("ValueError: boom\n, duration=0")
    assert ev.raw == CONTINUATION.splitlines()[0]
    assert recs[1].message == "Exception processing goal state\nInner error: [HttpError] timed out"
    assert recs[2].message == "ProcessExtensionsGoalState completed [etag_1 100 ms]"  # trailing blank dropped
    assert recs[3].message.endswith("KeyError: 'a'")


def test_e4_multiline_shapes():
    recs = parse([
        "2021-08-09T01:46:53.307959Z INFO MonitorHandler ExtHandler [CGW] Disabling resource usage monitoring. Reason: Check on cgroups failed:",
        "[CGroupsException] The agent's cgroup includes unexpected processes: ['[PID: 2367] UNKNOWN']",
        "2023-02-18T02:58:25.589492Z ERROR SendTelemetryHandler ExtHandler Event: name=WALinuxAgent, op=ReportEventErrors, message=DroppedEventsCount: 1",
        "Reasons (first 5 errors): [ProtocolError] [Wireserver Exception] [HTTP Failed] Status Code 400: Traceback (most recent call last):",
        '  File "/usr/lib/python3/dist-packages/azurelinuxagent/common/protocol/wire.py", line 1, in x',
        ", duration=0",
        "2022-03-16T04:46:50.477315Z WARNING Daemon Daemon Fetching the goal state failed: [ResourceGoneError] [HTTP Failed] [410: Gone] b'<?xml version=\"1.0\"?>\\n<Error/>'",
    ])
    assert [(r.line, r.end_line, r.thread, r.level) for r in recs] == [
        (1, 2, "MonitorHandler", "INFO"), (3, 6, "SendTelemetryHandler", "ERROR"), (7, 7, "Daemon", "WARNING")]
    assert recs[0].message.endswith("\n[CGroupsException] The agent's cgroup includes unexpected processes: ['[PID: 2367] UNKNOWN']")
    assert "\nReasons (first 5 errors)" in recs[1].message and recs[1].message.endswith("\n, duration=0")
    assert "\\n<Error/>" in recs[2].message  # escaped newline stays an escape


def test_e0_lines_are_records_each():
    recs = parse("2016/09/06 15:01:38 ERROR:Traceback (most recent call last):\n"
                 "2016/09/06 15:01:38 ERROR:  File \"/usr/sbin/waagent\", line 5659, in Save\n"
                 "2016/09/06 15:01:38 ERROR:\n")
    assert len(recs) == 3 and all(r.level == "ERROR" and r.era == "E0" for r in recs)
    assert recs[1].message == '  File "/usr/sbin/waagent", line 5659, in Save' and recs[2].message == ""


WRAPPED = [
    ("Jun 29 21:27:14 vm1 python3[4974]: 2016/06/29 21:26:43.913018 ERROR run cmd 'pidof dhclient' failed",
     "ERROR", None, None, "run cmd 'pidof dhclient' failed"),
    ("python3[1611]: 2024-09-30T06:39:27.159929Z INFO ExtHandler ExtHandler ProcessExtensionsGoalState completed [etag_9 61 ms]",
     "INFO", "ExtHandler", "ExtHandler", "ProcessExtensionsGoalState completed [etag_9 61 ms]"),
    ("Jan 02 03:04:05 vm1 waagent[916]: 2023-01-02T03:04:05.000001Z WARNING Daemon Daemon Fetching the goal state failed: x",
     "WARNING", "Daemon", "Daemon", "Fetching the goal state failed: x"),
    ("Waagent - 2018/08/05 20:55:38.716622 WARNING Mounting dvd failed [retry 1/5, sleeping 5 sec]",
     "WARNING", None, None, "Mounting dvd failed [retry 1/5, sleeping 5 sec]"),
    ("\"2018/02/17 05:50:32.443746 ERROR Command: 'iptables  -t security -L OUTPUT --zero OUTPUT -nxv'\", ",
     "ERROR", None, None, "Command: 'iptables  -t security -L OUTPUT --zero OUTPUT -nxv'"),
    ("'2018/02/17 05:50:32.444169 ERROR Return code: 3',", "ERROR", None, None, "Return code: 3"),
]


@pytest.mark.parametrize("line,level,thread,prefix,message", WRAPPED)
def test_wrapped_lines_are_unwrapped(line, level, thread, prefix, message):
    r = one(line)
    assert (r.level, r.thread, r.prefix, r.message) == (level, thread, prefix, message)
    assert r.ts is not None and r.raw == line


def test_wrapped_continuation_uses_payload():
    recs = parse([
        "python3[1611]: 2024-09-30T06:39:27.159929Z ERROR ExtHandler ExtHandler Event: name=X, op=Enable, message=failed",
        "python3[1611]: [stdout]",
        "python3[1611]: hello",
    ])
    assert len(recs) == 1 and recs[0].message == "Event: name=X, op=Enable, message=failed\n[stdout]\nhello"


def test_headerless_start_and_cap():
    recs = parse(["...continued from a rotated file", "second line",
                  "2024-02-01T10:00:00.000000Z INFO ExtHandler ExtHandler ok"])
    assert (recs[0].ts, recs[0].level, recs[0].message) == (None, None, "...continued from a rotated file\nsecond line")
    assert recs[1].line == 3
    lines = [f"plain text line {i}" for i in range(2 * MAX_RECORD_LINES + 50)]
    recs = parse(lines)
    assert len(recs) == 3 and all(r.ts is None for r in recs)
    assert [r.line for r in recs] == [1, MAX_RECORD_LINES + 1, 2 * MAX_RECORD_LINES + 1]
    text = "\n".join(r.message for r in recs)
    assert all(line in text for line in lines)


def test_overflow_keeps_time_not_level():
    lines = ["2024-02-01T10:00:00.000000Z ERROR ExtHandler ExtHandler Event: huge"] + ["x"] * (MAX_RECORD_LINES + 5)
    recs = parse(lines)
    assert len(recs) == 2 and recs[0].level == "ERROR" and recs[1].level is None
    assert recs[1].ts == recs[0].ts and recs[1].prefix == "ExtHandler" and recs[1].line == MAX_RECORD_LINES + 1


def test_leading_blank_lines_are_no_record():
    """Red team 10/13: blank lines at the top of a file made a phantom empty record (101 records for
    100). The text after them keeps its own line numbers; a file of blank lines has no record."""
    recs = parse(["", "", "text", "2024-02-01T10:00:00.000000Z INFO ExtHandler ExtHandler ok"])
    assert [(r.line, r.end_line, r.message) for r in recs] == [(3, 3, "text"), (4, 4, "ok")]
    recs = parse(["", " ", "2024-02-01T10:00:00.000000Z INFO ExtHandler ExtHandler ok", "", "more"])
    assert [(r.line, r.end_line, r.message) for r in recs] == [(3, 5, "ok\n\nmore")]
    assert parse(["", "  ", ""]) == []
    assert parse([""] * (MAX_RECORD_LINES * 2 + 3)) == []  # past the size cap too
    recs = parse([""] * (MAX_RECORD_LINES + 2) + ["text"])
    assert [(r.line, r.message) for r in recs] == [(MAX_RECORD_LINES + 3, "text")]


def test_escapes_and_non_ascii_kept():
    line = "2024-02-01T10:00:00.000000Z INFO ExtHandler ExtHandler User caf\\xe9 \\u2019 ok \u00fc"
    assert one(line).message == "User caf\\xe9 \\u2019 ok \u00fc"


def test_impossible_date_is_a_problem_not_an_exception():
    ctx = ParseContext()
    recs = parse(["2023/02/30 10:00:00.000000 INFO Daemon x", "2023-13-01T00:00:00.000000Z INFO Daemon y"], ctx)
    assert [r.ts for r in recs] == [None, None] and [r.message for r in recs] == ["x", "y"]
    assert ctx.problems and "impossible date" in ctx.problems[0].message


def test_secrets_are_redacted():
    r = one("2015/09/20 14:03:09 ERROR:HTTP Req: PUT https://a.blob.core.windows.net/x.status?sr=b&sp=rw&sig=AbC%2Bdef&se=1")
    assert "AbC" not in r.message and "AbC" not in r.raw and "<redacted>" in r.message
    masked = redact('{"protectedSettings": "MIIB+x", "commandToExecute": "ls -p S3cret", "fileUris": ["u"]}')
    assert "MIIB" not in masked and "S3cret" not in masked  # a command line can carry a password
    assert '"fileUris": ["u"]' in masked


_PIECES = st.lists(st.sampled_from(["sig=Secret1", "password=Secret3", "x", " ", "\n", "sig", "="]), max_size=6)


@given(_PIECES.map("".join), _PIECES.map("".join), st.booleans())
@settings(max_examples=300, deadline=None)
def test_builder_redacts_message_and_raw_alike(raw, message, continued):
    """The builder checks a one-line record once when its message lies inside its raw line: what
    comes out is what scrubbing each gives, whether or not the message is part of the raw text."""
    from loganalyzer.parsers.waagent_log import RecordBuilder
    b = RecordBuilder("f", "waagent_log")
    b.start(1, raw, message)
    if continued:
        b.add(2, "sig=Secret2")
    rec = b.finish()
    expected = redact((message + "\nsig=Secret2").rstrip("\n")) if continued else redact(message)
    assert rec.message == expected and rec.raw == redact(raw)


def test_header_api_for_reuse():
    p = AgentLineParser(ParseContext())
    h = p.header("2024-02-01T10:00:00.000000Z ERROR ExtHandler ExtHandler boom")
    assert (h.level, h.thread, h.prefix, h.era, h.message) == ("ERROR", "ExtHandler", "ExtHandler", "E4", "boom")
    assert p.header("[stdout]") is None and p.header("") is None


# -- real excerpts (read from ../shared, never copied) ---------------------------------------
REAL = {  # case: (records, {level: count})
    "case003": (15, {"ERROR": 15}),
    "case011": (14, {"INFO": 8, "WARNING": 5, "ERROR": 1}),
    "case014": (9, {"INFO": 8, "ERROR": 1}),
    "case018": (13, {"INFO": 3, "VERBOSE": 8, "WARNING": 2}),
    "case023": (9, {"WARNING": 3, "ERROR": 1, "INFO": 5}),
    "case026": (2, {"ERROR": 2}),
    "case030": (5, {"ERROR": 3, "WARNING": 2}),
    "case035": (7, {"INFO": 3, "VERBOSE": 2, "ERROR": 2}),
    "case040": (11, {"INFO": 5, "VERBOSE": 6}),
    "case043": (8, {"ERROR": 6, "WARNING": 2}),
    "case045": (1, {"WARNING": 1}),
    "case048": (3, {"VERBOSE": 3}),
    "case050": (3, {"ERROR": 3}),
    "case051": (1, {"WARNING": 1}),
    "case053": (2, {"INFO": 1, "WARNING": 1}),
    "case059": (6, {"INFO": 5, "WARNING": 1}),
    "case060": (10, {"INFO": 5, "WARNING": 2, "ERROR": 3}),
    "case061": (7, {"INFO": 7}),
    "case067": (8, {"ERROR": 8}),
    "case068": (3, {"ERROR": 2, "WARNING": 1}),
    "case076": (2, {"INFO": 1, "WARNING": 1}),
    "case079": (4, {"INFO": 4}),
    "case082": (4, {"WARNING": 4}),
    "case085": (10, {"ERROR": 10}),
    "case086": (8, {"ERROR": 8}),
}


@pytest.mark.parametrize("case", sorted(REAL))
def test_real_excerpts(case):
    path = SHARED / "realcases" / f"{case}.log"
    if not path.exists():
        pytest.skip("shared/ not available")
    with path.open("rb") as fh:
        lines = list(iter_lines(fh))
    recs = parse(lines)
    count, levels = REAL[case]
    assert len(recs) == count
    seen: dict[str, int] = {}
    for r in recs:
        if r.level:
            seen[r.level] = seen.get(r.level, 0) + 1
    assert seen == levels
    assert recs[0].line == 1 and recs[-1].end_line == len(lines)


# -- properties -------------------------------------------------------------------------------
FRAGMENTS = st.sampled_from([
    "2024-02-01T10:00:00.000000Z INFO ExtHandler ExtHandler ", "2019/11/04 16:02:44.662707 ERROR ",
    "2016/09/06 15:01:38 ", "ERROR:", "WARNING ExtHandler ", "python3[1]: ", "Waagent - ", "\"", "'",
    "[Microsoft.A.B-1.0] ", "[stdout]", "Traceback", "  File", "\t", " ", "\\xe9", "\u00e9", "\r", "]: ",
    "Daemon ", "2023-13-45T99:99:99.999999Z INFO Daemon ", "May 17 07:01:22 h python[3]: ",
])
LOGLIKE = st.lists(st.lists(st.one_of(FRAGMENTS, st.text(max_size=12)), max_size=5).map("".join),
                   max_size=40)


def _leading_blank(lines) -> int:
    """Lines before the first one with text (classify's view: a wrapper around nothing is blank)."""
    from loganalyzer.parsers.waagent_log import AgentHeader, AgentLineParser
    p = AgentLineParser()
    for k, line in enumerate(lines):
        r = p.classify(line)
        if r.__class__ is AgentHeader or r.strip():
            return k
    return len(lines)


def check_accounting(recs, lines):
    """Every line after the leading blank ones is in exactly one record, in order, no gaps."""
    nlines, skip = len(lines), _leading_blank(lines)
    assert all(r.end_line is not None and r.line <= r.end_line for r in recs)
    assert all(a.end_line + 1 == b.line for a, b in zip(recs, recs[1:]))  # monotonic, no gaps
    assert sum(r.end_line - r.line + 1 for r in recs) == nlines - skip
    if nlines > skip:
        assert recs[0].line == skip + 1 and recs[-1].end_line == nlines
    for r in recs:
        assert r.level in (None, "VERBOSE", "INFO", "WARNING", "ERROR")
        assert r.ts is None or r.ts.tzinfo is not None


@settings(max_examples=300, deadline=None)
@given(LOGLIKE)
def test_property_loglike_lines(lines):
    lines = [line.replace("\n", " ") for line in lines]
    check_accounting(parse(lines), lines)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_property_any_text(text):
    lines = text.split("\n")
    check_accounting(parse(lines), lines)


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_property_any_bytes(data):
    lines = list(iter_lines(io.BytesIO(data)))
    ctx = ParseContext(tz=ZoneInfo("America/New_York"))
    check_accounting(parse(lines, ctx), lines)


HOSTILE = [
    "[" + "a-1" * 20000, "2024-01-01T00:00:00.000000Z INFO " + "A " * 30000, '"' * 60000,
    "x]: " * 15000, "python3[1]: " * 5000, "Waagent - " * 6000, "2016/09/06 15:01:38 " + "[a-1.1" * 9000,
    "ERROR:" * 10000, "WARNING " + "Thread-1 " * 7000, "'2018/01/17 05:50:32.443746 ERROR x" + "'" * 50000,
]


def test_hostile_long_lines_are_fast():
    import time
    t = time.process_time()
    recs = parse(HOSTILE * 3)
    assert time.process_time() - t < 3.0
    assert sum(r.end_line - r.line + 1 for r in recs) == len(HOSTILE) * 3


def test_registry():
    import loganalyzer.parsers.extension_log  # noqa: F401
    import loganalyzer.parsers.syslog  # noqa: F401
    from loganalyzer.parsers import TEXT_PARSERS
    for kind in ("waagent_log", "command_execution_log", "vmsnapshot_log", "vmsnapshot_shell_log",
                 "extension_log", "syslog", "cloud_init_log"):
        assert kind in TEXT_PARSERS
    assert TEXT_PARSERS["waagent_log"] is parse_waagent_log


def test_a_file_of_blank_lines_is_only_empty():
    """Red team 15 (minor): a whitespace-only log got 'is it an agent log?' beside 'empty'."""
    from loganalyzer.parsers.extension_log import parse_vmsnapshot_log
    ctx = ParseContext()
    assert parse(["", "   ", "\t"], ctx) == [] and ctx.problems == []
    ctx = ParseContext()
    list(parse_vmsnapshot_log(["", "  "], "e.log", ctx))
    assert ctx.problems == []
    ctx = ParseContext()
    list(parse_vmsnapshot_log(["", "text without a time"], "e.log", ctx))
    assert [p.key for p in ctx.problems] == ["problem.undated"]


def test_key_lines_in_base64url_or_with_markers_are_masked():
    """Red team 16: a body line 'MIIELEAKRT16_10AAA...' (an underscore: base64url) inside a key block
    leaked once only base64 lines were masked."""
    from loganalyzer.parsers.waagent_log import key_body
    assert key_body("MIIELEAK_10AAAAAAAA") and key_body("ab-c_d9") and key_body("secretLEAK3==")
    assert not key_body("quiet") and not key_body("Fetch failed: timed out") and not key_body("ssh-rsa AAAA x@y")
