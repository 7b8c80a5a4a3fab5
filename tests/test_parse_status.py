"""Extension status parsers on the project's own status files (VMSnapshotLinux quirks, status blob)."""
from __future__ import annotations

import json

from loganalyzer.parsers import DATA_PARSERS, ParseContext, load_all

load_all()

SNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
SNAP_DIR = f"var/lib/waagent/{SNAP}-1.0.9225.0"


def parse(kind, data, source, ctx=None):
    ctx = ctx or ParseContext()
    if isinstance(data, (dict, list)):
        data = json.dumps(data).encode()
    return ctx, list(DATA_PARSERS[kind](data, source, ctx))


def snapshot_status(code: str, inner_status: str, ext_error: str, msg: str = "",
                    health: int | None = None, outer_msg: str | None = None,
                    ts: str = "2024-03-02T04:05:06Z") -> list:
    """A VMSnapshotLinux status in the shape of backup-extension.md §1.5 (ARM: outer 'success')."""
    fmt = json.dumps({"messageStr": msg, "snapshotConsistency": 0, "jobMessage": "",
                      "isSizeComputationFailed": False})
    inner = [{"version": "1.0", "timestampUTC": "\\/Date(1709352306000)\\/",
              "status": {"name": SNAP, "operation": "Enable", "status": inner_status,
                         "substatus": [], "code": code,
                         "formattedMessage": {"lang": "en-US", "message": fmt},
                         "telemetryData": [{"Value": ext_error, "Key": "extErrorCode"},
                                           {"Value": "555", "Key": "hostStatusCodePreSnapshot"},
                                           {"Value": "guestExtension", "Key": "snapshotCreator"}],
                         "snapshotInfo": [{"isSuccessful": False, "snapshotUri": None,
                                           "blobUri": "https://md-x.blob.example/abc?sig=SECRETSIG1"}],
                         "vmHealthInfo": {"vmHealthState": 256,
                                          "vmHealthStatusCode": health if health is not None else int(code)}}}]
    outer_fmt = fmt if outer_msg is None else outer_msg
    return [{"version": "1.0", "timestampUTC": ts,
             "status": {"name": SNAP, "operation": "Enable", "status": "success",
                        "substatus": [{"code": "0", "name": json.dumps(inner), "status": "success",
                                       "formattedMessage": None}],
                        "code": code, "formattedMessage": {"lang": "en-US", "message": outer_fmt},
                        "telemetryData": None, "vmHealthInfo": None}}]


def test_vmsnapshot_code_76_no_network():
    doc = snapshot_status("76", "error", "FailedRetryableSnapshotFailedNoNetwork",
                          msg="T:S Enable failed with FailedRetryableSnapshotFailedNoNetwork error ")
    ctx, recs = parse("ext_status", doc, f"{SNAP_DIR}/status/25.status")
    fact = ctx.facts.extensions[SNAP]
    assert fact.status == "error"  # the top-level "success" is not trusted
    assert fact.code == "76"
    assert fact.ext_error_code == "FailedRetryableSnapshotFailedNoNetwork"
    assert fact.version == "1.0.9225.0"
    assert ctx.facts.extra["vmsnapshot_status"][SNAP]["hostStatusCodePreSnapshot"] == "555"
    assert ctx.facts.extra["vmsnapshot_status"][SNAP]["vmHealthStatusCode"] == "76"
    (rec,) = recs
    assert rec.level == "ERROR" and rec.prefix == f"[{SNAP}-1.0.9225.0]"
    assert rec.message == ("T:S Enable failed with FailedRetryableSnapshotFailedNoNetwork error"
                           " [status=error code=76 extErrorCode=FailedRetryableSnapshotFailedNoNetwork]")
    assert rec.ts.isoformat() == "2024-03-02T04:05:06+00:00" and rec.line == 1
    assert "SECRETSIG1" not in repr(ctx.facts) + repr(recs)


def test_vmsnapshot_restricted_network_code_vs_ext_error():
    doc = snapshot_status("76", "error", "FailedRetryableSnapshotFailedRestrictedNetwork", health=761)
    ctx, recs = parse("ext_status", doc, f"{SNAP_DIR}/status/3.status")
    fact = ctx.facts.extensions[SNAP]
    assert (fact.code, fact.ext_error_code) == ("76", "FailedRetryableSnapshotFailedRestrictedNetwork")
    assert ctx.facts.extra["vmsnapshot_status"][SNAP]["vmHealthStatusCode"] == "761"


def test_vmsnapshot_transitioning_code_4():
    doc = [{"version": "1.0", "timestampUTC": "2024-03-02T04:00:00Z",
            "status": {"name": SNAP, "operation": "Enable", "status": "success", "code": "4",
                       "formattedMessage": {"lang": "en-US", "message": json.dumps(
                           {"messageStr": "Transitioning state in extension", "snapshotConsistency": 0,
                            "jobMessage": "", "isSizeComputationFailed": False})},
                       "substatus": []}}]
    ctx, recs = parse("ext_status", doc, f"{SNAP_DIR}/status/7.status")
    assert ctx.facts.extensions[SNAP].status == "transitioning"
    assert recs[0].level == "WARNING"
    assert recs[0].message.startswith("Transitioning state in extension [status=transitioning code=4")


def test_vmsnapshot_316_is_benign():
    doc = snapshot_status("316", "error", "FailedPrepostPluginConfigNotFound",
                          msg="Triggering File System Consistent Backup")
    ctx, recs = parse("ext_status", doc, f"{SNAP_DIR}/status/8.status")
    fact = ctx.facts.extensions[SNAP]
    assert fact.status == "success" and fact.code == "316"
    assert recs[0].level == "INFO"
    assert ctx.facts.extra["vmsnapshot_status"][SNAP]["benign"] is True


def test_generic_error_status_matches_agent_wording():
    msg = ("Non-zero exit code: 3, /var/lib/waagent/Microsoft.Azure.Extensions.CustomScript-2.1.10/"
           "bin/custom-script-shim install")
    doc = [{"version": 1.0, "timestampUTC": "2024-05-01T10:00:00Z",
            "status": {"name": "Microsoft.Azure.Extensions.CustomScript", "operation": "Install",
                       "status": "error", "code": 1007,
                       "formattedMessage": {"lang": "en-US", "message": msg},
                       "substatus": [{"name": "StdErr", "status": "error", "code": 0,
                                      "formattedMessage": {"lang": "en-US",
                                                           "message": "curl https://x.blob/f?sv=1&sig=SECRETSIG2 failed"}}]}}]
    src = "var/lib/waagent/Microsoft.Azure.Extensions.CustomScript-2.1.10/status/2.status"
    ctx, recs = parse("ext_status", doc, src)
    fact = ctx.facts.extensions["Microsoft.Azure.Extensions.CustomScript"]
    assert (fact.status, fact.code, fact.operation, fact.message) == ("error", "1007", "Install", msg)
    (rec,) = recs
    first, rest = rec.message.split("\n", 1)
    assert first == msg + " [status=error code=1007 extErrorCode=]"
    assert rest.startswith("StdErr: curl") and "SECRETSIG2" not in rec.message
    assert rec.level == "ERROR" and rec.kind == "ext_status"


def test_newest_seq_wins_whatever_the_order():
    old = snapshot_status("76", "error", "FailedRetryableSnapshotFailedNoNetwork", ts="2024-03-01T00:00:00Z")
    new = snapshot_status("0", "success", "success", ts="2024-03-02T00:00:00Z")
    for order in ((old, 1, new, 2), (new, 2, old, 1)):
        ctx = ParseContext()
        parse("ext_status", order[0], f"{SNAP_DIR}/status/{order[1]}.status", ctx)
        parse("ext_status", order[2], f"{SNAP_DIR}/status/{order[3]}.status", ctx)
        fact = ctx.facts.extensions[SNAP]
        assert fact.status == "success" and fact.code == "0"
        assert len(fact.sources) == 2


def test_five_megabyte_status_file():
    doc = [{"version": 1.0, "timestampUTC": "2024-05-01T10:00:00Z",
            "status": {"status": "error", "code": 1009, "operation": "Enable",
                       "formattedMessage": {"lang": "en-US", "message": "boom " + "x" * (5 << 20)}}}]
    data = json.dumps(doc).encode()
    src = "var/lib/waagent/A.B-1.0/status/1.status"
    ctx, recs = parse("ext_status", data, src)
    assert any(p.message.startswith(f"status file too large ({len(data)} bytes)") for p in ctx.problems)
    assert ctx.facts.extensions["A.B"].status == "error" and len(recs) == 1
    assert len(recs[0].message) < 6000
    # the same file cut by the caller's size cap: truncated JSON, still read in part
    ctx, recs = parse("ext_status", data[: 1 << 20], src)
    assert any("truncated JSON" in p.message for p in ctx.problems)
    assert ctx.facts.extensions["A.B"].status == "error" and ctx.facts.extensions["A.B"].code == "1009"


def test_malformed_json_status():
    ctx, recs = parse("ext_status", b'[{"status": {"status": }]', "var/lib/waagent/A.B-1.0/status/1.status")
    assert any("malformed JSON" in p.message for p in ctx.problems) and recs == []
    ctx, recs = parse("ext_status", b"[" * 100000, "var/lib/waagent/A.B-1.0/status/1.status")
    assert ctx.problems and recs == []
    ctx, recs = parse("ext_status", b"", "var/lib/waagent/A.B-1.0/status/1.status")
    assert ctx.problems and recs == []


def test_multi_config_status_key():
    doc = [{"status": {"status": "success", "code": 0}}]
    ctx, _ = parse("ext_status", doc, "var/lib/waagent/Microsoft.CPlat.Core.RunCommandHandlerLinux-1.2.0/status/MCExt1.3.status")
    assert ctx.facts.extensions["Microsoft.CPlat.Core.RunCommandHandlerLinux.MCExt1"].status == "success"


BLOB = {
    "version": "1.1", "timestampUTC": "2024-05-01T10:00:05Z",
    "aggregateStatus": {
        "guestAgentStatus": {"version": "2.15.0.1", "status": "Ready",
                             "formattedMessage": {"lang": "en-US", "message": "Guest Agent is running"},
                             "updateStatus": {"expectedVersion": "2.15.0.1", "status": "Success", "code": 0}},
        "handlerAggregateStatus": [
            {"handlerVersion": "1.0.9225.0", "handlerName": SNAP, "status": "NotReady", "code": 1009,
             "useExactVersion": True,
             "formattedMessage": {"lang": "en-US", "message": "Non-zero exit code: 1, main/handle.sh enable"},
             "runtimeSettingsStatus": {"settingsStatus": {"status": {
                 "name": SNAP, "operation": "Enable", "status": "error", "code": 1009,
                 "formattedMessage": {"lang": "en-US", "message": "Enable failed"}},
                 "version": 1.0, "timestampUTC": "2024-05-01T10:00:00Z"}, "sequenceNumber": 6}},
            {"handlerVersion": "1.0.5", "handlerName": "Microsoft.CPlat.Core.RunCommandLinux",
             "status": "Ready", "code": 0,
             "formattedMessage": {"lang": "en-US", "message": "Plugin enabled"}}],
        "vmArtifactsAggregateStatus": {"goalStateAggregateStatus": {
            "inSvdSeqNo": "10", "status": "Success", "code": 0, "timestampUTC": "2024-05-01T10:00:00Z"}}},
    "guestOSInfo": {"computerName": "vm1", "osName": "ubuntu", "osVersion": "22.04", "version": "2.15.0.1"},
}


def test_waagent_status_json():
    ctx, recs = parse("waagent_status_json", BLOB, "var/lib/waagent/waagent_status.json")
    f = ctx.facts
    assert f.agent_status == "Ready" and "2.15.0.1" in f.agent_versions
    assert f.agent_goal_state_version == "2.15.0.1"
    assert (f.os_name, f.os_version, f.hostname) == ("ubuntu", "22.04", "vm1")
    snap = f.extensions[SNAP]
    assert snap.handler_status == "NotReady" and snap.status == "error" and snap.code == "1009"
    assert f.extensions["Microsoft.CPlat.Core.RunCommandLinux"].handler_status == "Ready"
    assert f.extra["goal_state_aggregate_status"]["inSvdSeqNo"] == "10"
    msgs = [r.message for r in recs]
    assert "Non-zero exit code: 1, main/handle.sh enable [status=NotReady code=1009 extErrorCode=]" in msgs
    assert all(r.prefix == f"[{SNAP}-1.0.9225.0]" for r in recs) and len(recs) == 2
    # the same blob again in a history folder: no duplicate records
    _, again = parse("waagent_status_json", BLOB,
                     "var/lib/waagent/history/2024-05-01T10-00-00__3/waagent_status.json", ctx)
    assert again == []


def test_status_file_outranks_blob():
    ctx = ParseContext()
    parse("ext_status", snapshot_status("0", "success", "success"), f"{SNAP_DIR}/status/6.status", ctx)
    parse("waagent_status_json", BLOB, "var/lib/waagent/waagent_status.json", ctx)
    assert ctx.facts.extensions[SNAP].status == "success"
    assert ctx.facts.extensions[SNAP].handler_status == "NotReady"


def test_handler_files():
    ctx = ParseContext()
    _, recs = parse("handler_status", {"name": SNAP, "version": "1.0.9225.0", "status": "NotReady",
                                       "code": 1009, "message": "Enable failed: sig=abc",
                                       "supports_multi_config": False}, f"{SNAP_DIR}/config/HandlerStatus", ctx)
    parse("handler_state", b"Enabled\n", f"{SNAP_DIR}/config/HandlerState", ctx)
    parse("mrseq", b"25", f"{SNAP_DIR}/mrseq", ctx)
    parse("agent_error_json", {"last_failure": 1714557600.0, "failure_count": 3, "was_fatal": False},
          "var/lib/waagent/WALinuxAgent-2.9.1.1/error.json", ctx)
    fact = ctx.facts.extensions[SNAP]
    assert (fact.handler_status, fact.handler_state) == ("NotReady", "Enabled")
    assert recs[0].level == "ERROR" and recs[0].message.startswith("Enable failed")
    assert ctx.facts.extra["mrseq"][f"{SNAP}-1.0.9225.0"] == 25
    err = ctx.facts.extra["agent_errors"]["2.9.1.1"]
    assert err["failure_count"] == 3 and err["blacklisted"] is True and err["was_fatal"] is False
    assert err["last_failure"] == "2024-05-01T10:00:00Z"
    assert ctx.facts.extra["handler_dirs"][SNAP] == ["1.0.9225.0"]
    _, recs = parse("handler_state", b"{not a state}", f"{SNAP_DIR}/config/HandlerState", ctx)
    assert any("state word" in p.message for p in ctx.problems)


def test_ext_settings_public_keys_only():
    doc = {"runtimeSettings": [{"handlerSettings": {
        "protectedSettingsCertThumbprint": "ABC", "protectedSettings": "TOPSECRETBLOB",
        "publicSettings": {"fileUris": ["https://x/y?sig=SECRETSIG3"], "commandToExecute": "echo hi"}}}]}
    ctx, _ = parse("ext_settings", doc, "var/lib/waagent/A.B-1.0/config/4.settings")
    entry = ctx.facts.extra["ext_settings"]["A.B"]
    assert entry["public_keys"] == ["commandToExecute", "fileUris"] and entry["seq"] == 4
    assert "TOPSECRETBLOB" not in repr(ctx.facts) and "SECRETSIG3" not in repr(ctx.facts)
    assert "echo hi" not in repr(ctx.facts)


import pytest  # noqa: E402


@pytest.mark.parametrize("encoding, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                           ("utf-32-le", b"\xff\xfe\x00\x00"), ("utf-32-be", b"\x00\x00\xfe\xff"),
                                           ("utf-8", b"\xef\xbb\xbf"), ("utf-8", b"")])
def test_status_file_with_a_byte_order_mark(encoding, bom):
    """A status file saved as UTF-16/32 with a BOM was 'malformed JSON' (red team 8): read by its BOM."""
    doc = [{"version": 1.0, "timestampUTC": "2024-05-01T10:00:00Z",
            "status": {"name": "Microsoft.Azure.Extensions.CustomScript", "operation": "Enable",
                       "status": "error", "code": 1007, "formattedMessage": {"lang": "en-US", "message": "Ünicode x"}}}]
    data = bom + json.dumps(doc, ensure_ascii=False).encode(encoding)
    ctx, _ = parse("ext_status", data, "var/lib/waagent/Microsoft.Azure.Extensions.CustomScript-2.1.10/status/1.status")
    fact = ctx.facts.extensions["Microsoft.Azure.Extensions.CustomScript"]
    assert (fact.status, fact.code, fact.message) == ("error", "1007", "Ünicode x") and not ctx.problems


def test_a_flood_of_handlers_reads_the_backup_extension_and_says_the_rest():
    """Red team 14: the first 500 handlers of a status blob were read and the rest dropped without a
    word; a VMSnapshot handler at place 601 gave no finding."""
    from loganalyzer.parsers.ext_status import MAX_HANDLERS
    ready = [{"handlerName": f"Junk.H{i}", "handlerVersion": "1.0", "status": "Ready"} for i in range(600)]
    vms = {"handlerName": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux", "handlerVersion": "1.0.9225.0",
           "status": "NotReady", "code": 0}
    blob = {"aggregateStatus": {"guestAgentStatus": {"version": "2.9.1.1", "status": "Ready"},
                                "handlerAggregateStatus": ready + [vms]}}
    ctx, _ = parse("waagent_status_json", json.dumps(blob).encode(), "var/lib/waagent/waagent_status.json")
    assert ctx.facts.extensions["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"].handler_status == "NotReady"
    said = [p for p in ctx.problems if "handlers" in p.message]
    assert [(p.message, p.partial) for p in said] == [
        (f"status blob names 601 handlers: {601 - MAX_HANDLERS} not read (the backup extension's are)", True)]


def test_json_too_large_to_parse_is_said_not_loaded():
    """Red team 14: 16 MB of '[{},{},...]' as a status file or blob took 450 MB; vmSettings with a huge
    onHold took 1.1 GB and wrote a 74 MB report. Above JSON_CAP nothing is parsed; below it a fact
    holds scalars only."""
    from loganalyzer.parsers.ext_status import JSON_CAP
    flood = b"[" + b"{}," * (JSON_CAP // 3 + 10) + b"{}]"
    for kind, source in (("waagent_status_json", "var/lib/waagent/waagent_status.json"),
                         ("ext_status", "var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0/status/1.status")):
        ctx, recs = parse(kind, flood, source)
        assert recs == [] and any("too large to read whole" in p.message and p.partial for p in ctx.problems)
    ctx, _ = parse("vmsettings_json", json.dumps({"onHold": [[]] * 1000, "activityId": {"x": 1},
                                                  "hostGAPluginVersion": "1." * 500}).encode(),
                   "var/lib/waagent/history/2024-01-01T00-00-00__2-1/VmSettings.json")
    vs = ctx.facts.extra["vmsettings"]
    assert (vs["on_hold"], vs["activity_id"]) == ("list of 1000 item(s)", "object of 1 item(s)")
    assert len(vs["host_ga_plugin_version"]) == 200
