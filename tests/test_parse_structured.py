"""Structured-file parsers against the real fixtures in ../shared (skipped when absent)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loganalyzer.parsers import DATA_PARSERS, ParseContext, load_all

load_all()

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIX = SHARED / "fixtures"
WA = FIX / "walinuxagent" / "tests" / "data"
VB = FIX / "vmbackup"
LIB = "var/lib/waagent"
SNAP = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"

pytestmark = pytest.mark.skipif(not FIX.exists(), reason="shared/ not available")


def run(kind: str, path: Path, source: str, ctx: ParseContext | None = None):
    ctx = ctx or ParseContext()
    recs = list(DATA_PARSERS[kind](path.read_bytes(), source, ctx))
    return ctx, recs


# --------------------------------------------------------------------------- goal state


def test_wire_goal_state():
    path = WA / "wire" / "goal_state.xml"
    xml = path.read_text()
    ctx, recs = run("goal_state_xml", path, f"{LIB}/GoalState.1.xml")
    assert recs == []
    inc = int(re.search(r"<Incarnation>(\d+)</Incarnation>", xml).group(1))
    assert ctx.facts.incarnations == [inc]
    assert ctx.facts.container_id == re.search(r"<ContainerId>([^<]+)<", xml).group(1)
    assert ctx.facts.role_instance_id == "b61f93d0-e1ed-40b2-b067-22c243233448.MachineRole_IN_0"
    assert not ctx.problems


def test_hostgaplugin_ext_conf_plugins_field_by_field():
    path = WA / "hostgaplugin" / "ext_conf.xml"
    xml = path.read_text()
    ctx, _ = run("extensions_config_xml", path, f"{LIB}/ExtensionsConfig.10.xml")
    # every <Plugin name= version= state= autoUpgrade=> of <Plugins> as the file says it
    plugins_block = xml.split("<Plugins>", 1)[1].split("</Plugins>", 1)[0]
    expected = re.findall(r'<Plugin name="([^"]+)" version="([^"]+)"[^>]*? state="([^"]+)" '
                          r'autoUpgrade="([^"]+)"', plugins_block)
    assert len(expected) == 5
    for name, version, state, auto in expected:
        fact = ctx.facts.extensions[name]
        assert (fact.version, fact.state, fact.auto_upgrade) == (version, state, auto == "true")
    vmaccess = ctx.facts.extensions["Microsoft.OSTCExtensions.VMAccessForLinux"]
    assert vmaccess.auto_upgrade is False and vmaccess.seq_no == 0
    # multi-config extensions of RunCommandHandlerLinux
    for mc in ("MCExt1", "MCExt2", "MCExt3"):
        sub = ctx.facts.extensions[f"Microsoft.CPlat.Core.RunCommandHandlerLinux.{mc}"]
        assert sub.state == "enabled" and sub.seq_no == 0 and sub.version == "1.2.0"
    assert ctx.facts.incarnations == [10]
    assert ctx.facts.extra["status_upload_blob"] == {"present": True, "type": "BlockBlob"}
    assert ctx.facts.extra["extensions_config"]["required_features"] == ["MultipleExtensionsPerHandler"]
    # GAFamilies without Version: no requested version
    assert ctx.facts.requested_agent_version is None


def test_ext_conf_seqno_and_rsm_version():
    ctx, _ = run("extensions_config_xml", WA / "hibernate" / "goal_state_1" / "ExtensionsConfig.xml",
                 f"{LIB}/history/2024-05-01T10-00-00__1/ExtensionsConfig.xml")
    assert ctx.facts.requested_agent_version == "2.13.1.1"
    assert ctx.facts.extensions["Microsoft.Azure.Extensions.CustomScript"].seq_no == 4
    assert ctx.facts.extensions["Microsoft.Azure.Extensions.CustomScript"].version == "2.1.13"
    assert ctx.facts.extra["status_upload_blob"]["type"] == "PageBlob"
    path = WA / "wire" / "ext_conf_rsm_version.xml"
    ctx2, _ = run("extensions_config_xml", path, f"{LIB}/ExtensionsConfig.2.xml")
    m = re.search(r"<Name>Prod</Name>.*?<Version>([^<]+)</Version>", path.read_text(), re.S)
    if m:
        assert ctx2.facts.requested_agent_version == m.group(1)


@pytest.mark.parametrize("name", [
    "ext_conf.xml", "ext_conf_multiple_extensions.xml", "ext_conf_sequencing.xml",
    "ext_conf_required_features.xml", "ext_conf_in_vm_metadata.xml",
    "ext_conf_no_extensions-block_blob.xml", "ext_conf_rsm_version.xml",
    "multi-config/ext_conf_with_multi_config.xml",
    "invalid_config/ext_conf_plugin_settings_version_mismatch.xml"])
def test_every_wire_ext_conf(name):
    path = WA / "wire" / name
    if not path.exists():
        pytest.skip("fixture absent")
    xml = path.read_text()
    ctx, recs = run("extensions_config_xml", path, f"{LIB}/ExtensionsConfig.1.xml")
    block = xml.split("<Plugins>", 1)[1].split("</Plugins>", 1)[0] if "<Plugins>" in xml else ""
    for name_, version in re.findall(r'<Plugin name="([^"]+)" version="([^"]+)"', block):
        assert ctx.facts.extensions[name_].version == version
    if "version_mismatch" in name:
        assert any("differs from the Plugin version" in p.message for p in ctx.problems)


def test_legacy_v2218_ext_conf():
    path = FIX / "walinuxagent" / "v2.2.18" / "tests" / "data" / "wire" / "ext_conf.xml"
    ctx, _ = run("extensions_config_xml", path, f"{LIB}/ExtensionsConfig.3.xml")
    fact = ctx.facts.extensions["OSTCExtensions.ExampleHandlerLinux"]
    assert (fact.version, fact.state, fact.auto_upgrade, fact.seq_no) == ("1.0.0", "enabled", False, 0)
    assert ctx.facts.incarnations == [9]  # goalStateIncarnation beats the file name
    assert "hfRh7gzUE7sUtYwke78IOlZOrTRCYvkec4hGZ9zZzXo" not in repr(ctx.facts)


def test_hibernate_history_dir_as_a_whole():
    d = WA / "hibernate" / "goal_state_1"
    base = f"bundle/{LIB}/history/2025-06-01T10-00-00__1-638852750771746340"
    ctx = ParseContext()
    for fname, kind in [("GoalState.xml", "goal_state_xml"),
                        ("ExtensionsConfig.xml", "extensions_config_xml"),
                        ("VmSettings.json", "vmsettings_json"),
                        ("HostingEnvironmentConfig.xml", "hosting_env_xml"),
                        ("SharedConfig.xml", "shared_config_xml")]:
        run(kind, d / fname, f"{base}/{fname}", ctx)
    f = ctx.facts
    assert f.incarnations == [1]
    assert f.container_id == "06185f00-1f00-4545-abaa-4b7baa121869"
    assert f.role_instance_id == "8cd0ae53-1baa-4f00-9356-a4e1a34f004c._test-vm"
    assert f.requested_agent_version == "2.13.1.1"
    vms = json.loads((d / "VmSettings.json").read_text())
    for eg in vms["extensionGoalStates"]:
        fact = f.extensions[eg["name"]]
        assert fact.version == eg["version"] and fact.state == eg["state"]
        assert fact.auto_upgrade == eg["autoUpgrade"]
    assert f.extra["vmsettings"]["goal_state_source"] == vms["extensionGoalStatesSource"]
    assert f.extra["hosting_env"]["vm_name"] == "_test-vm"
    assert f.extra["shared_config"] == {"incarnation": 1, "instance": "_test-vm",
                                        "address": "10.1.52.28",
                                        "source": f"{base}/SharedConfig.xml"}
    assert not [p for p in ctx.problems if p.severity != "info"]


def test_hostgaplugin_vm_settings():
    path = WA / "hostgaplugin" / "vm_settings.json"
    doc = json.loads(path.read_text())
    ctx, _ = run("vmsettings_json", path, f"{LIB}/history/2024-01-01T00-00-00__2-1/VmSettings.json")
    for eg in doc["extensionGoalStates"]:
        fact = ctx.facts.extensions[eg["name"]]
        assert (fact.version, fact.state, fact.seq_no) == (eg["version"], eg["state"], eg["settingsSeqNo"])
    assert ctx.facts.extensions["Microsoft.CPlat.Core.RunCommandHandlerLinux.MCExt2"].state == "enabled"
    assert ctx.facts.extra["vmsettings"]["on_hold"] is True


def test_hosting_env_and_shared_config_wire():
    ctx, _ = run("hosting_env_xml", WA / "wire" / "hosting_env.xml", f"{LIB}/HostingEnvironmentConfig.xml")
    run("shared_config_xml", WA / "wire" / "shared_config.xml", f"{LIB}/SharedConfig.xml", ctx)
    assert ctx.facts.extra["hosting_env"]["role_name"] == "MachineRole"
    assert ctx.facts.extra["hosting_env"]["vm_name"] == "MachineRole_IN_0"
    assert ctx.facts.extra["shared_config"]["address"] == "10.115.153.75"
    assert "AccountKey" not in repr(ctx.facts)


@pytest.mark.parametrize("path,hostname,pga", [
    ("walinuxagent/tests/data/ovf-env.xml", "HostName", False),
    ("vmbackup/Utils/test/ovf-env.xml", "ubuntu18", True)])
def test_ovf_env(path, hostname, pga):
    ctx, _ = run("ovf_env_xml", FIX / path, f"{LIB}/ovf-env.xml")
    assert ctx.facts.hostname == hostname
    assert ctx.facts.extra["ovf_env"]["provision_guest_agent"] is pga
    dump = repr(ctx.facts) + repr(ctx.problems)
    assert "UserPassword" not in dump and "ssh-rsa" not in dump and "UserName" not in dump


# --------------------------------------------------------------------------- status files


def test_sample_status_field_by_field():
    path = WA / "ext" / "sample-status.json"
    doc = json.loads(path.read_text())
    inner = json.loads(doc[0]["status"]["substatus"][0]["name"])[0]["status"]
    telemetry = {d["Key"]: d["Value"] for d in inner["telemetryData"]}
    src = f"{LIB}/{SNAP}-1.0.9150.0/status/12.status"
    ctx, recs = run("ext_status", path, src)
    fact = ctx.facts.extensions[SNAP]
    assert fact.version == "1.0.9150.0"
    assert fact.status == inner["status"] == "success"
    assert fact.code == str(doc[0]["status"]["code"])
    assert fact.operation == doc[0]["status"]["operation"]
    assert fact.message == doc[0]["status"]["formattedMessage"]["message"]
    assert fact.ext_error_code == telemetry["extErrorCode"]
    assert fact.status_time.isoformat() == "2019-06-06T23:52:59+00:00"
    detail = ctx.facts.extra["vmsnapshot_status"][SNAP]
    assert detail["hostStatusCodeDoSnapshot"] == telemetry["hostStatusCodeDoSnapshot"]
    assert detail["vmHealthStatusCode"] == str(inner["vmHealthInfo"]["vmHealthStatusCode"])
    assert detail["seq"] == 12
    assert len(recs) == 1
    rec = recs[0]
    assert rec.kind == "ext_status" and rec.level == "INFO" and rec.line == 1
    assert rec.prefix == f"[{SNAP}-1.0.9150.0]"
    assert rec.message == (doc[0]["status"]["formattedMessage"]["message"]
                           + " [status=success code=1 extErrorCode=success]")
    assert rec.ts == fact.status_time
    assert "snapshotUri" not in repr(ctx.facts)


def test_status_invalid_json_is_a_problem_not_an_exception():
    ctx, recs = run("ext_status", WA / "ext" / "sample-status-invalid-json-format.json",
                    f"{LIB}/X.Y-1.0/status/0.status")
    assert any("malformed JSON" in p.message for p in ctx.problems)
    assert len(recs) <= 1


def test_status_missing_status_key():
    ctx, _ = run("ext_status", WA / "ext" / "sample-status-invalid-status-no-status-status-key.json",
                 f"{LIB}/X.Y-1.0/status/0.status")
    assert any("Missing status/status" in p.message for p in ctx.problems)


def test_status_very_large():
    path = WA / "ext" / "sample-status-very-large.json"
    ctx, recs = run("ext_status", path, f"{LIB}/X.Y-1.0/status/0.status")
    size = path.stat().st_size
    assert any(p.message.startswith(f"status file too large ({size} bytes)") for p in ctx.problems)
    assert ctx.facts.extensions["X.Y"].status == "success" and len(recs) == 1
    assert len(recs[0].message) < 5000


def test_dsc_template_status():
    ctx, recs = run("ext_status", VB / "DSC" / "test" / "status" / "0.status",
                    f"{LIB}/Microsoft.OSTCExtensions.DSCForLinux-2.0/status/0.status")
    fact = ctx.facts.extensions["Microsoft.OSTCExtensions.DSCForLinux"]
    assert fact.status == "error"  # '<transitioning | ...>' is no valid value: the agent says error
    assert fact.message == "formatted user message"
    assert any("not one the agent accepts" in p.message for p in ctx.problems)
    assert recs[0].level == "ERROR"


@pytest.mark.parametrize("rel", ["walinuxagent/tests/data/ext/handler_manifest/valid_manifest.json",
                                 "walinuxagent/tests/data/ext/sample_ext-1.3.0/HandlerManifest.json",
                                 "vmbackup/VMBackup/HandlerManifest.json"])
def test_handler_manifests(rel):
    path = FIX / rel
    doc = json.loads(path.read_text())[0]
    ctx, _ = run("handler_manifest", path, f"{LIB}/Some.Handler-1.3.0/HandlerManifest.json")
    got = ctx.facts.extra["handler_manifests"]["Some.Handler-1.3.0"]
    for key, value in doc["handlerManifest"].items():
        assert got[key] == value


@pytest.mark.parametrize("rel", ["vmbackup/CustomScript/test/HandlerEnvironment.json",
                                 "vmbackup/OSPatching/test/HandlerEnvironment.json",
                                 "vmbackup/script/HandlerEnvironment.json"])
def test_handler_env(rel):
    path = FIX / rel
    doc = json.loads(path.read_text())[0]
    ctx, _ = run("handler_env", path, f"{LIB}/Some.Handler-1.0/HandlerEnvironment.json")
    assert ctx.facts.extra["handler_env"]["Some.Handler-1.0"]["logFolder"] == \
        doc["handlerEnvironment"]["logFolder"]


@pytest.mark.parametrize("rel", ["vmbackup/script/0.settings", "vmbackup/OSPatching/test/config/0.settings"])
def test_settings_keep_no_protected(rel):
    path = FIX / rel
    protected = json.loads(path.read_text())["runtimeSettings"][0]["handlerSettings"]["protectedSettings"]
    ctx, recs = run("ext_settings", path, f"{LIB}/Some.Handler-1.0/config/0.settings")
    entry = ctx.facts.extra["ext_settings"]["Some.Handler"]
    assert entry["protected"] is True and entry["seq"] == 0 and entry["public_keys"] == []
    assert protected[:20] not in repr(ctx.facts) and not recs


# --------------------------------------------------------------------------- leases, conf


def test_dhcp_leases_fixture():
    path = WA / "dhcp.leases"
    text = path.read_text()
    ctx, _ = run("dhcp_leases", path, "var/lib/dhcp/dhclient.eth0.leases")
    leases = ctx.facts.leases
    assert len(leases) == text.count("lease {") == 3
    for lease in leases:
        assert lease.has_245 and lease.endpoint == "168.63.129.16"
        assert lease.server_id == "168.63.129.16" and lease.fixed_address == "10.0.1.4"
        assert lease.interface == "eth0"
    assert leases[0].expire is None  # 'expire 0 never;'
    assert leases[1].expire.isoformat() == "2015-06-16T16:58:54+00:00"
    assert leases[2].expire.year == 2152
    assert not ctx.problems


def test_dhcp_leases_multi():
    ctx, _ = run("dhcp_leases", WA / "dhcp.leases.multi", "var/lib/dhclient/dhclient-eth0.leases")
    assert [lease.endpoint for lease in ctx.facts.leases] == ["168.63.129.1", "168.63.129.2",
                                                             "168.63.129.3"]
    assert ctx.facts.leases[2].expire.year == 2012


def test_test_waagent_conf_as_the_agent_reads_it():
    ctx, recs = run("waagent_conf", WA / "test_waagent.conf", "etc/waagent.conf")
    c = ctx.facts.config
    # expectations of the agent's own tests/common/test_conf.py for this file
    assert c["FauxKey1"] == "Value1"
    assert c["FauxKey2"] == "Value2 Value2"
    assert c["FauxKey3"] == "delalloc,rw,noatime,nobarrier,users,mode=777"
    assert c["Provisioning.SshHostKeyPairType"] == "rsa"
    assert c["Provisioning.DecodeCustomData"] == "n"
    assert c["OS.EnableFIPS"] == "y"
    assert c["OS.SshClientAliveInterval"] == "42"
    assert c["Extensions.Enabled"] == "y"
    assert c["ResourceDisk.MountPoint"] == "/mnt/resource"
    assert "OS.OpensslPath" not in c  # 'None' means unset to the agent
    assert "HttpProxy.Host" not in c and "Lib.Dir" not in c  # commented out
    assert "" not in c  # '=Value0'
    assert ctx.facts.config_source == "etc/waagent.conf"
    warned = {w["key"] for w in ctx.facts.extra["conf_warnings"] if w["kind"] == "inline-comment"}
    assert warned == {"Provisioning.SshHostKeyPairType", "Provisioning.DecodeCustomData",
                      "OS.EnableFIPS", "OS.SshClientAliveInterval"}
    assert recs == []


def test_a_goal_state_xml_above_its_cap_is_not_parsed_and_plugin_names_are_capped(monkeypatch):
    """Red team 18: a 16 MB ExtensionsConfig.xml (under the 16 MiB cap of data files) took ~200 MB as
    a tree and listed its 74,842 plugin names in the report. Above XML_CAP it is not parsed (said,
    partial); at most PLUGIN_NAMES_MAX names are listed, the rest counted."""
    from loganalyzer.parsers import goal_state
    load_all()
    plugins = "".join(f'<Plugin name="E.x{i}" version="1.0" state="enabled" />' for i in range(300))
    doc = (f'<Extensions goalStateIncarnation="3"><Plugins>{plugins}</Plugins></Extensions>').encode()
    ctx = ParseContext()
    list(DATA_PARSERS["extensions_config_xml"](doc, "var/lib/waagent/ExtensionsConfig.3.xml", ctx))
    ec = ctx.facts.extra["extensions_config"]
    assert len(ec["plugins"]) == goal_state.PLUGIN_NAMES_MAX and ec["plugins_not_listed"] == 100
    monkeypatch.setattr(goal_state, "XML_CAP", len(doc) - 1)
    ctx = ParseContext()
    list(DATA_PARSERS["extensions_config_xml"](doc, "var/lib/waagent/ExtensionsConfig.3.xml", ctx))
    assert "extensions_config" not in ctx.facts.extra and not ctx.facts.extensions
    assert [(p.partial, p.message.split(" (")[0]) for p in ctx.problems] == [(True, "XML file too large to read whole")]
