"""VMSnapshotLinux extension.log / shell.log and the generic extension log reader."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from loganalyzer.parsers import ParseContext
from loganalyzer.parsers.extension_log import (
    VMSNAPSHOT_PREFIX, failure_level, parse_extension_log, parse_vmsnapshot_log,
    parse_vmsnapshot_shell_log, token_level)
from loganalyzer.textio import iter_lines

SHARED = Path(__file__).resolve().parents[2] / "shared"
UTC = timezone.utc
P = VMSNAPSHOT_PREFIX


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def snap(text: str, ctx: ParseContext | None = None):
    return list(parse_vmsnapshot_log(text.splitlines(), "x/extension.log", ctx or ParseContext()))


def shell(text: str, ctx: ParseContext | None = None):
    return list(parse_vmsnapshot_shell_log(text.splitlines(), "x/shell.log", ctx or ParseContext()))


def generic(text: str, ctx: ParseContext | None = None):
    return list(parse_extension_log(text.splitlines(), "x/handler.log", ctx or ParseContext()))


def test_format_a_fields():
    recs = snap(f"2024-02-20 09:31:07.118204 {P}Taking Snapshot through Host\n"
                f"2024-02-20 09:31:08 {P}Enable,success,4,Transitioning state in extension,False\n")
    assert [(r.ts, r.level, r.era, r.prefix, r.thread) for r in recs] == [
        (ts("2024-02-20 09:31:07.118204"), None, "A", P, None),
        (ts("2024-02-20 09:31:08"), None, "A", P, None)]
    assert recs[0].message == "Taking Snapshot through Host"  # no space after ']'
    assert recs[0].kind == "vmsnapshot_log" and not recs[0].tz_guess


@pytest.mark.parametrize("msg,level", [
    ("T:S Enable failed with FailedRetryableSnapshotFailedNoNetwork error StatusCode.FailedRetryableSnapshotFailedNoNetwork,", "ERROR"),
    ("T:S Enable failed with FailedSnapshotLimitReached errror StatusCode.FailedSnapshotLimitReached,", "ERROR"),
    ("presnapshot Hitting wrong WireServer IP", "ERROR"),
    ("BHS is not runnning on host machine", "ERROR"),
    ("CRP timeout limit has reached, will not take snapshot.", "ERROR"),
    ("Prescript for ScriptRunner failed with error code: 2 .", "ERROR"),
    ("Failed to log status in extension173", "ERROR"),
    ("cannot get status report parameters , Exception 556, stack trace: x", "ERROR"),
    ("safefreeze binary is missing in the following path /x/safefreeze", "ERROR"),
    ("Triggering File System Consistent Backup because of error code StatusCode.FailedPrepostPluginConfigNotFound,", None),
    ("Plugin host file does not exist in the location /etc/azure/VMSnapshotScriptPluginConfig.json", None),
    ("Enable,success,1,,False", None),
    ("From Host- IsSuccessful:true, SnapshotUri:https://md-x.blob/abc?snapshot=1, ErrorMessage:, StatusCode:200", None),
    ("T:S thaw result ", None),
    ("PreSnapshot: Status Code: 200", None),
    ("skip freeze is : False", None),
])
def test_failure_levels(msg, level):
    assert failure_level(msg) == level
    assert snap(f"2024-02-20 09:31:07.118204 {P}{msg}")[0].level == level


_FRAGMENTS = ["ailed", "Failed", "failed to ", "Enable failed", "StatusCode.Failed", "Error", "error:", "xception",
              "Traceback (most recent", "timed out", "timed-out", "Hitting wrong WireServer", "BHS is not runn",
              "CRP timeout limit", "Unable to ", "Inconsistent", "is missing", "does not exist", "does not have desired "
              "permissions", "but not root", "IsSuccessful: false", "IsSuccessful:true", "Enable,error,", ",error,",
              "cannot ", "Cannot ", "is none", "is nonempty", "Plugin host file does not exist", "Enable,success,",
              "FailedPrepostPluginConfigNotFound", " ", "x", "_", "\n", "e"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=4), max_size=12).map("".join))
def test_failure_level_tries_only_the_alternatives_whose_literal_is_there(message):
    """failure_level runs only the alternatives of _FAIL_RE whose literal the message holds: the
    same answer as the whole alternation (then the benign exceptions) on any text."""
    from loganalyzer.parsers.extension_log import _BENIGN_RE, _FAIL_RE
    whole = "ERROR" if _FAIL_RE.search(message) and not _BENIGN_RE.search(message) else None
    assert failure_level(message) == whole


def test_failure_level_tries_each_alternative_once_however_often_its_literal_occurs(monkeypatch):
    """A message full of literals (12,000 hits, no match) costs one search per alternative, not one
    per hit (that would be quadratic in the message)."""
    import ahocorasick

    from loganalyzer.parsers import extension_log as el
    calls: list[str] = []

    class Counted:
        def __init__(self, lit):
            self.lit, self.rx = lit, el._FAIL_BY_LITERAL[lit]

        def search(self, text):
            calls.append(self.lit)
            return self.rx.search(text)
    automaton = ahocorasick.Automaton()
    for lit, _ in el._FAIL_ALTERNATIVES:
        automaton.add_word(lit, Counted(lit))
    automaton.make_automaton()
    monkeypatch.setattr(el, "_FAIL_SCAN", automaton)
    assert failure_level("ailed xError does notannot " * 3000) is None
    assert sorted(calls) == ["Error", "ailed", "annot ", "does not"]
    assert failure_level("x failed to y") == "ERROR"


def test_freeze_block_and_binary_output():
    text = (
        f"2024-02-20 09:31:10.100000 {P}proceeded for accepting signals\n"
        f"2024-02-20 09:31:16.500000 {P}================== Logs during Freeze Start ==============\n"
        "2024/02/20 09:31:10.200000  Info  Aquiring lock succeeded \n"
        "2024/02/20 09:31:11.300000  Warning  Retry to aquire lock count: 1 \n"
        "2024/02/20 09:32:11.400000  Error  freeze timed-out \n"
        "================== Logs during Freeze End ==============\n"
        f"2024-02-20 09:31:16.600000 {P}2024-02-20 09:31:12 Freezing: /data\n"
        f"2024-02-20 09:31:16.700000 {P}2024-02-20 09:31:13 Failed to FIFREEZE: /data with error message: busy\n"
    )
    recs = snap(text)
    assert [r.era for r in recs] == ["A", "A", "D", "D", "D", "D", "E", "E"]
    inner = recs[2:5]
    assert [r.ts for r in inner] == [ts("2024-02-20 09:31:10.2"), ts("2024-02-20 09:31:11.3"), ts("2024-02-20 09:32:11.4")]
    assert [r.level for r in inner] == ["INFO", "WARNING", "ERROR"]
    assert inner[0].message == "Aquiring lock succeeded" and inner[0].prefix == P
    assert recs[5].ts == recs[1].ts and "Freeze End" in recs[5].message
    assert recs[6].message == "Freezing: /data" and recs[6].ts == ts("2024-02-20 09:31:16.6")
    assert recs[7].level == "ERROR" and recs[7].message.startswith("Failed to FIFREEZE")


def test_format_a_traceback_continuation():
    recs = snap(f"2024-02-20 09:31:20.000001 {P}2024-02-20 09:31:19.999000 Failed to call http with error: timed out, stack trace: Traceback (most recent call last):\n"
                '  File "/var/lib/waagent/x/main/HttpUtil.py", line 140, in Call\n'
                "socket.timeout: timed out\n"
                f"2024-02-20 09:31:21 {P}snapshot done\n")
    assert [(r.line, r.end_line) for r in recs] == [(1, 3), (4, 4)]
    assert recs[0].level == "ERROR" and recs[0].message.endswith("socket.timeout: timed out")
    assert recs[0].message.startswith("Failed to call http")


def test_format_b_local_time_and_time_only_continuation():
    ctx = ParseContext(tz=ZoneInfo("Asia/Kolkata"))
    recs = snap("2024/02/20 15:01:55 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]T:S snapshot result: errorcode: 409\n"
                "2024/02/20 15:01:55  StatusCode.FailedRetryableSnapshotFailedRestrictedNetwork,\n"
                "2024/02/20 15:01:56 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]Enable,success,1,,False\n", ctx)
    assert len(recs) == 2
    assert recs[0].ts == ts("2024-02-20 09:31:55") and recs[0].tz_guess and recs[0].era == "B"
    assert recs[0].message == "T:S snapshot result: errorcode: 409\n StatusCode.FailedRetryableSnapshotFailedRestrictedNetwork,"
    assert recs[0].level == "ERROR" and recs[1].level is None


def test_format_c_legacy():
    recs = snap("2016/11/02 11:22:56 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9103.0]2016-11-02 11:22:56.532100  Info  freezing the mount /data\n"
                "2016/11/02 11:22:56 \n"
                "2016/11/02 11:22:57 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9103.0]2016-11-02 11:22:57.100000  Error  Failed to FIFREEZE: /data/dblog\n"
                "2016/11/02 11:22:57 \n")
    assert [(r.era, r.level, r.message, r.end_line) for r in recs] == [
        ("C", "INFO", "freezing the mount /data", 2), ("C", "ERROR", "Failed to FIFREEZE: /data/dblog", 4)]
    assert recs[1].ts == ts("2016-11-02 11:22:57.1")


def test_shell_log_formats():
    recs = shell("Tue Feb 20 09:31:00 UTC 2024- ConfigSequenceNumber from environment variable seqNo:7\n"
                 "Tue Feb 20 09:31:01 UTC 2024- python3 path exists\n"
                 "Tue Feb 20 09:31:50 UTC 2024- 1 returned from handle.py\n"
                 "[2024-02-20 09:40:00:123456789] Starting the host daemon\n"
                 "extra output line\n")
    assert [r.ts for r in recs] == [ts("2024-02-20 09:31:00"), ts("2024-02-20 09:31:01"),
                                    ts("2024-02-20 09:31:50"), ts("2024-02-20 09:40:00.123456")]
    assert [r.level for r in recs] == [None, None, "ERROR", None]
    assert [r.era for r in recs] == ["S", "S", "S", "H"]
    assert recs[1].message == "python3 path exists"
    assert recs[3].message == "Starting the host daemon\nextra output line" and recs[3].end_line == 5
    assert all(r.kind == "vmsnapshot_shell_log" for r in recs)


def test_generic_extension_log():
    text = (
        'time=2019-03-04T05:06:07Z version=v2.0.6/git@1008306-clean operation=enable seq=0 event=start\n'
        'time=2019-03-04T05:06:08Z version=v2.0.6/git@1008306-clean operation=enable seq=0 event="failed to download" error="Get https://x/y: dial tcp: i/o timeout"\n'
        "2019-03-04 05:06:09,123 INFO Downloading file\n"
        "  continued detail\n"
        "Error: could not resolve host\n"
        "2019/03/04 05:06:10.000000 WARNING ExtHandler [Foo.Bar-1.2] agent-format line\n"
        "2019-03-04T05:06:11.5+02:00 [WARN] retrying\n"
    )
    recs = generic(text)
    assert [r.line for r in recs] == [1, 2, 3, 5, 6, 7]
    assert recs[0].ts == ts("2019-03-04 05:06:07") and recs[0].level is None and recs[0].era == "logfmt"
    assert recs[0].message.startswith("version=v2.0.6")
    assert recs[1].level == "ERROR"
    assert recs[2].level == "INFO" and recs[2].message == "INFO Downloading file\n  continued detail"
    assert recs[3].level == "ERROR" and recs[3].ts is None  # never hidden inside another record
    assert (recs[4].level, recs[4].prefix, recs[4].era) == ("WARNING", "[Foo.Bar-1.2]", "E2")
    assert recs[5].ts == ts("2019-03-04 03:06:11.5") and recs[5].level == "WARNING"
    assert all(r.kind == "extension_log" for r in recs)


def test_token_level():
    assert token_level("level=error msg=x") == "ERROR"
    assert token_level('event=done error=""') is None
    assert token_level("[Warning] low disk") == "WARNING"
    assert token_level("nothing here") is None


def test_real_vmsnapshot_excerpt():
    path = SHARED / "realcases" / "case008.log"
    if not path.exists():
        pytest.skip("shared/ not available")
    with path.open("rb") as fh:
        lines = list(iter_lines(fh))
    recs = list(parse_vmsnapshot_log(lines, "case008", ParseContext()))
    assert len(recs) == len(lines)  # one Format-A record per line
    assert all(r.era == "A" and r.prefix == P and r.ts is not None and r.level is None for r in recs)
    assert recs[-1].message == "skip freeze is : False"


def test_real_shell_excerpt():
    path = SHARED / "realcases" / "case071.log"
    if not path.exists():
        pytest.skip("shared/ not available")
    with path.open("rb") as fh:
        lines = list(iter_lines(fh))
    recs = list(parse_vmsnapshot_shell_log(lines, "case071", ParseContext()))
    shell_recs = [r for r in recs if r.era == "S"]
    assert len(shell_recs) == 8 and all(r.level == "ERROR" for r in shell_recs)
    assert recs[0].ts is None and recs[0].message.startswith("[ExtensionOperationError]")
    assert sum(r.end_line - r.line + 1 for r in recs) == len(lines)


# -- properties -------------------------------------------------------------------------------
FRAGMENTS = st.sampled_from([
    f"2024-02-20 09:31:07.118204 {P}", f"2024-02-20 09:31:07 {P}", "2024/02/20 09:31:07 ",
    "2024/02/20 09:31:10.200000  Info  ", "2024-02-20 09:31:10.200000  Error  ",
    "================== Logs during Freeze End ==============", "Tue Feb 20 09:31:00 UTC 2024- ",
    "Wed Feb 30 09:31:00 CET 2024- ", "[2024-02-20 09:40:00:123456789] ", "time=2019-03-04T05:06:07Z ",
    "time=9999-99-99T ", "ERROR ", "error=", "2019-03-04T05:06:11.5+99:99 ", "[Foo-1.0]", "\t",
])
LOGLIKE = st.lists(st.lists(st.one_of(FRAGMENTS, st.text(max_size=10)), max_size=4).map("".join),
                   max_size=30)
PARSERS = [parse_vmsnapshot_log, parse_vmsnapshot_shell_log, parse_extension_log]


def check(recs, nlines):
    assert all(r.end_line is not None and r.line <= r.end_line for r in recs)
    assert all(a.end_line < b.line for a, b in zip(recs, recs[1:]))
    assert sum(r.end_line - r.line + 1 for r in recs) == nlines
    assert all(r.ts is None or r.ts.tzinfo is not None for r in recs)


@settings(max_examples=200, deadline=None)
@given(LOGLIKE)
def test_property_loglike(lines):
    lines = [line.replace("\n", " ") for line in lines]
    for fn in PARSERS:
        check(list(fn(lines, "f", ParseContext(tz=ZoneInfo("Europe/Berlin")))), len(lines))


@settings(max_examples=150, deadline=None)
@given(st.binary())
def test_property_any_bytes(data):
    lines = list(iter_lines(io.BytesIO(data)))
    for fn in PARSERS:
        check(list(fn(lines, "f", ParseContext())), len(lines))


def test_hostile_long_lines_are_fast():
    import time
    hostile = [f"2024-02-20 09:31:07 [{']' * 60000}", "time=" + "x=" * 30000, "[" + "a-1" * 20000,
               "2024/02/20 09:31:10.200000  Info  " + " " * 60000 + "x", "Tue Feb 20 " * 6000,
               f"2024-02-20 09:31:07.118204 {P}" + "Failed to " * 6000]
    for fn in PARSERS:
        t = time.process_time()
        recs = list(fn(hostile, "f", ParseContext()))
        assert time.process_time() - t < 2.0 and sum(r.end_line - r.line + 1 for r in recs) == len(hostile)


def test_coloured_lines_read_like_plain_ones_and_a_foreign_file_is_said():
    """Red team 14: an extension.log / shell.log captured with colour codes became ONE record (130
    lines; no-internet-access 26 -> 17 hits), and a file of another format too, without a word."""
    from loganalyzer.parsers.extension_log import parse_vmsnapshot_log, parse_vmsnapshot_shell_log
    ext = ["2024-01-14 22:16:48.792020 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]Taking Snapshot",
           "2024-01-14 22:16:49.000000 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]Error: failed",
           "  continued"]
    shell = ["Sun Jan 14 22:16:40 UTC 2024- python3 path exists", "Sun Jan 14 22:16:41 UTC 2024- done"]
    for parse, lines in ((parse_vmsnapshot_log, ext), (parse_vmsnapshot_shell_log, shell)):
        coloured = [f"\x1b[0;32m{line}\x1b[0m" if not line.startswith(" ") else line for line in lines]
        ctx = ParseContext(tz=timezone.utc)
        got = list(parse(coloured, "x.log", ctx))
        want = list(parse(lines, "x.log", ParseContext(tz=timezone.utc)))
        assert [(r.line, r.ts, r.level, r.message.replace("\x1b[0m", "")) for r in got] == \
            [(r.line, r.ts, r.level, r.message) for r in want]
        assert got[0].raw.startswith("\x1b[0;32m") and not ctx.problems
        ctx = ParseContext(tz=timezone.utc)
        assert len(list(parse(["2024-09-30T06:39:27.159929Z INFO ExtHandler x", "more"], "y.log", ctx))) == 1
        assert [(p.key, p.params) for p in ctx.problems] == [("problem.undated", {"n": 2})]


def test_impossible_dates_and_zones_are_said():
    """Red team 14: extension.log and shell.log lost the time of a header with an impossible date
    without a word, and shell.log read the zone -9999 as -99 h 99 min (4 days off)."""
    from loganalyzer.parsers.extension_log import parse_vmsnapshot_log, parse_vmsnapshot_shell_log
    ctx = ParseContext(tz=timezone.utc)
    recs = list(parse_vmsnapshot_log(["2024-13-45 09:09:09.000000 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]x",
                                      "2024-01-14 22:16:48.792020 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]y"],
                                     "e.log", ctx))
    assert [r.ts is None for r in recs] == [True, False]
    assert [(p.key, p.params) for p in ctx.problems] == [("problem.bad_dates", {"n": 1})]
    ctx = ParseContext(tz=timezone.utc)
    recs = list(parse_vmsnapshot_shell_log(["Sun Jan 14 22:16:40 -9999 2024- odd zone",
                                            "Sun Jan 14 22:16:41 +0530 2024- India"], "s.log", ctx))
    assert recs[0].ts is None and recs[1].ts == datetime(2024, 1, 14, 16, 46, 41, tzinfo=timezone.utc)
    assert [(p.key, p.params) for p in ctx.problems] == [("problem.bad_dates", {"n": 1})]


def test_a_key_inside_one_record_masks_the_key_only():
    """Red team 15: a key printed inside a multi-line extension.log record lost its END line to the
    line masking, so redaction masked to the end of the record: the failure after it was gone."""
    from loganalyzer.parsers.extension_log import parse_vmsnapshot_log
    lines = ["2024-01-14 22:16:48.792020 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]Error: key follows",
             "-----BEGIN RSA PRIVATE KEY-----", "MIIsecretLEAK1", "secretLEAK2==", "-----END RSA PRIVATE KEY-----",
             "Enable failed with error: snapshot HttpCallGetResponse failed"]
    (rec,) = list(parse_vmsnapshot_log(lines, "e.log", ParseContext(tz=timezone.utc)))
    assert "secretLEAK" not in rec.message and "secretLEAK" not in rec.raw
    assert rec.message.endswith("-----END RSA PRIVATE KEY-----\nEnable failed with error: snapshot HttpCallGetResponse failed")
