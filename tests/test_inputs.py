"""Input kinds: classification of bundle paths and sniffing of bare files."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loganalyzer.inputs import KINDS, TEXT_KINDS, classify, is_truncated_name, sniff

SHARED = Path(__file__).resolve().parents[2] / "shared"
REALCASES = SHARED / "realcases"
FIXTURES = SHARED / "fixtures"

VMS = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"

PATHS = [
    ("var/log/waagent.log", "waagent_log"),
    ("bundle-123/var/log/waagent.log", "waagent_log"),
    ("var/log/waagent.log.1", "waagent_log"),
    ("var/log/waagent.log.3.gz", "waagent_log"),
    ("var/log/waagent.log-2024-05-01-1714521601.gz", "waagent_log"),
    ("waagent.log-20240501", "waagent_log"),
    ("waagent.log-20240501.xz", "waagent_log"),
    ("truncated_var_log_waagent.log", "waagent_log"),
    ("var/log/azure/Microsoft.Azure.Extensions.CustomScript/CommandExecution.log",
     "command_execution_log"),
    ("var/log/azure/Microsoft.CPlat.Core.RunCommandHandlerLinux/CommandExecution_cmd1.log",
     "command_execution_log"),
    (f"var/log/azure/{VMS}/CommandExecution.log", "command_execution_log"),
    (f"var/log/azure/{VMS}/extension.log", "vmsnapshot_log"),
    (f"var/log/azure/{VMS}/extension.log-2024-01-14-1705270000.gz", "vmsnapshot_log"),
    (f"var/log/azure/{VMS}/1.0.9103.0/extension.log", "vmsnapshot_log"),
    (f"var/log/azure/{VMS}/host_based_extension.log", "vmsnapshot_log"),
    (f"var/log/azure/{VMS}/shell.log", "vmsnapshot_shell_log"),
    (f"truncated_var_log_azure_{VMS}_extension.log", "vmsnapshot_log"),
    ("var/log/azure/Microsoft.Azure.Extensions.CustomScript/handler.log", "extension_log"),
    ("var/log/azure/custom-script/handler.log", "extension_log"),
    ("var/log/azure/Microsoft.Azure.Monitor.AzureMonitorLinuxAgent/mdsd.err", "extension_log"),
    ("var/log/syslog", "syslog"),
    ("var/log/syslog.1", "syslog"),
    ("var/log/syslog.2.gz", "syslog"),
    ("var/log/messages-20240501", "syslog"),
    ("var/log/kern.log", "syslog"),
    ("truncated_var_log_syslog.1", "syslog"),
    ("journalctl.txt", "syslog"),
    ("var/log/cloud-init.log", "cloud_init_log"),
    ("var/log/cloud-init-output.log.1.gz", "cloud_init_log"),
    ("results.txt", "results_txt"),
    ("var/lib/waagent/logcollector/results.txt", "results_txt"),
    ("etc/waagent.conf", "waagent_conf"),
    ("etc/os-release", "os_release"),
    ("usr/lib/os-release", "os_release"),
    ("etc/redhat-release", "os_release"),
    ("etc/hostname", "os_release"),
    ("etc/HOSTNAME", "os_release"),
    ("var/lib/dhcp/dhclient.eth0.leases", "dhcp_leases"),
    ("var/lib/dhclient/dhclient-eth0.leases", "dhcp_leases"),
    ("var/lib/dhclient/dhclient--eth0.lease", "dhcp_leases"),
    ("var/lib/NetworkManager/dhclient-5f2c-eth0.lease", "dhcp_leases"),
    ("var/db/dhclient.leases.hn0", "dhcp_leases"),
    ("run/systemd/netif/leases/2", "networkd_lease"),
    ("var/lib/NetworkManager/internal-5f2c-eth0.lease", "networkd_lease"),
    ("var/lib/waagent/GoalState.3.xml", "goal_state_xml"),
    ("var/lib/waagent/history/2024-05-01T10-00-00__3/GoalState.xml", "goal_state_xml"),
    ("var/lib/waagent/history/2024-05-01T10-00-00__3.zip/GoalState.xml", "goal_state_xml"),
    ("var/lib/waagent/ExtensionsConfig.3.xml", "extensions_config_xml"),
    ("var/lib/waagent/history/2024-05-01T10-00-00__3-1535489514/ExtensionsConfig.xml",
     "extensions_config_xml"),
    ("var/lib/waagent/HostingEnvironmentConfig.xml", "hosting_env_xml"),
    ("var/lib/waagent/SharedConfig.xml", "shared_config_xml"),
    ("var/lib/waagent/ovf-env.xml", "ovf_env_xml"),
    ("var/lib/waagent/VmSettings.2.json", "vmsettings_json"),
    ("var/lib/waagent/history/2024-05-01T10-00-00__3/VmSettings.json", "vmsettings_json"),
    (f"var/lib/waagent/{VMS}-1.0.9225.0/status/25.status", "ext_status"),
    ("var/lib/waagent/Microsoft.CPlat.Core.RunCommandLinux-1.0.5/status/cmd1.6.status",
     "ext_status"),
    (f"var/lib/waagent/{VMS}-1.0.9225.0/status/24_status", "ext_status"),
    (f"var/lib/waagent/{VMS}-1.0.9225.0/config/HandlerState", "handler_state"),
    ("var/lib/waagent/X.Y-1.0/config/ext1.HandlerState", "handler_state"),
    (f"var/lib/waagent/{VMS}-1.0.9225.0/config/HandlerStatus", "handler_status"),
    (f"var/lib/waagent/{VMS}-1.0.9225.0/HandlerManifest.json", "handler_manifest"),
    (f"var/lib/waagent/{VMS}-1.0.9225.0/HandlerEnvironment.json", "handler_env"),
    (f"var/lib/waagent/{VMS}-1.0.9225.0/config/25.settings", "ext_settings"),
    (f"var/lib/waagent/{VMS}-1.0.9225.0/mrseq", "mrseq"),
    ("var/lib/waagent/waagent_status.json", "waagent_status_json"),
    ("var/lib/waagent/waagent_status.4.json", "waagent_status_json"),
    ("var/lib/waagent/history/2024-05-01T10-00-00__3/waagent_status.json", "waagent_status_json"),
    ("var/lib/waagent/WALinuxAgent-2.9.1.1/error.json", "agent_error_json"),
    ("var/lib/waagent/Incarnation", "incarnation"),
    ("var/lib/waagent/WireServerEndpoint", "wireserver_endpoint"),
    ("var/lib/waagent/history/2024-05-01T10-00-00__1.zip", "history_zip"),
    ("var/lib/waagent/history/2018-04-06T08:21:37.142697_incarnation_2.zip", "history_zip"),
    # what nobody parses
    ("var/log/dmesg", None),
    ("var/log/auth.log", None),
    ("var/lib/waagent/Certificates.xml", None),
    ("var/lib/waagent/TransportPrivate.pem", None),
    ("var/lib/waagent/Prod.3.agentsManifest", None),
    (f"var/log/azure/{VMS}/events/1705270000.json", None),
    ("etc/azure/vmbackup.conf", None),
    ("", None),
]


@pytest.mark.parametrize("path,kind", PATHS)
def test_classify_real_layouts(path, kind):
    assert classify(path) == kind


def test_classify_normalises_separators_and_leading_slash():
    assert classify("/var/log/waagent.log") == "waagent_log"
    assert classify("./bundle\\var\\log\\waagent.log") == "waagent_log"
    assert classify("var//log/./syslog") == "syslog"


def test_every_classified_kind_is_declared():
    for _path, kind in PATHS:
        assert kind is None or kind in KINDS
    assert TEXT_KINDS <= set(KINDS)
    assert len(set(KINDS)) == len(KINDS)


def test_truncated_names():
    assert is_truncated_name("truncated_var_log_syslog.1")
    assert is_truncated_name("bundle/truncated_var_log_waagent.log")
    assert not is_truncated_name("var/log/waagent.log")
    assert not is_truncated_name("var/log/truncated/x.log")


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_classify_never_raises(path):
    kind = classify(path)
    assert kind is None or kind in KINDS


# ------------------------------------------------------------------ sniffing (own lines)

OWN = [
    ("2024-03-02T08:00:01.000001Z INFO Daemon Daemon Azure Linux Agent Version: 2.9.1.1\n",
     "waagent_log"),
    ("2019/04/01 10:00:00.123456 INFO Daemon Azure Linux Agent Version:2.2.38\n", "waagent_log"),
    ("2016/02/01 10:00:00.123456 WARNING Something odd\n", "waagent_log"),
    ("2015/02/01 10:00:00 ERROR:Something broke\n2015/02/01 10:00:00 carry on\n", "waagent_log"),
    ("ERROR:Something broke\nERROR:again\n", "waagent_log"),
    ("Mar  2 08:00:01 vm1 python3[812]: 2024-03-02T08:00:01.000001Z INFO Daemon hello\n",
     "syslog"),
    ("2024-03-02T08:00:01.123456+00:00 vm1 waagent[812]: 2019/04/01 10:00:00.1 INFO x\n",
     "syslog"),
    ("2024-03-02 08:00:01.000123 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]"
     "starting enable\n", "vmsnapshot_log"),
    ("2024/03/02 09:00:01 [Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]T:S x\n",
     "vmsnapshot_log"),
    ("2024-03-02 08:00:01.000123 [Microsoft.OSTCExtensions.VMAccessForLinux-1.5]enable\n",
     "extension_log"),
    ("Sat Mar  2 08:00:01 UTC 2024- python3 path exists\n", "vmsnapshot_shell_log"),
    ("[2024-03-02 08:00:01:123456789] host daemon polling\n", "vmsnapshot_shell_log"),
    ("2024-03-02 08:00:01,123 - util.py[DEBUG]: Reading from /etc/hosts\n", "cloud_init_log"),
    ("2024-03-02T08:00:01Z INFO Starting log collection at 2024-03-02T08:00:01Z\n",
     "results_txt"),
    ('<?xml version="1.0"?>\n<!-- c -->\n<GoalState><Incarnation>1</Incarnation></GoalState>',
     "goal_state_xml"),
    ('<Extensions version="1.0.0.0" goalStateIncarnation="1"></Extensions>',
     "extensions_config_xml"),
    ('<ns0:Environment xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1"/>', "ovf_env_xml"),
    ("<HostingEnvironmentConfig version='1.0.0.0'/>", "hosting_env_xml"),
    ("<SharedConfig version='1.0.0.0'/>", "shared_config_xml"),
    ('[{"version": 1.0, "timestampUTC": "2024-03-02T08:00:00Z", "status": {"status": "error"}}]',
     "ext_status"),
    ('{"version": "1.1", "aggregateStatus": {}}', "waagent_status_json"),
    ('[{"name": "X", "handlerEnvironment": {"logFolder": "/var/log/azure/X"}}]', "handler_env"),
    ('[{"name": "X", "handlerManifest": {"enableCommand": "x"}}]', "handler_manifest"),
    ('{"runtimeSettings": [{"handlerSettings": {}}]}', "ext_settings"),
    ('{"hostGAPluginVersion": "1.0.8.1", "extensionGoalStates": []}', "vmsettings_json"),
    ('{"last_failure": 0.0, "failure_count": 2, "was_fatal": false, "reason": "x"}',
     "agent_error_json"),
    ("# comment\nProvisioning.Agent=auto\nResourceDisk.Format=y\nLogs.Verbose=n\n",
     "waagent_conf"),
    ('NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n', "os_release"),
    ("lease {\n  interface \"eth0\";\n  option unknown-245 a8:3f:81:10;\n}\n", "dhcp_leases"),
    ("# This is private data. Do not parse.\nADDRESS=10.0.0.4\nNETMASK=255.255.255.0\n"
     "OPTION_245=a83f8110\n", "networkd_lease"),
    ("just some words a user typed\nand another line\n", "waagent_log"),  # lenient fallback
]


@pytest.mark.parametrize("text,kind", OWN)
def test_sniff_own_lines(text, kind):
    assert sniff(text.encode(), "case.log") == kind


def test_sniff_rejects_binary_and_empty():
    assert sniff(b"", "x") is None
    assert sniff(b"\x00" * 4096, "x") is None
    assert sniff(bytes(range(256)) * 40, "x") is None
    assert sniff(b"\x7fELF\x02\x01\x01\x00" + bytes(range(32)) * 100, "x") is None


def test_sniff_unknown_xml_is_none():
    assert sniff(b"<CertificateFile><Data>x</Data></CertificateFile>", "x.xml") is None


def test_sniff_without_fallback_needs_a_positive_match():
    assert sniff(b"some words\n", "x.log", fallback=False) is None
    assert sniff(b"2024-03-02T08:00:01.000001Z INFO Daemon x\n", "x.log",
                 fallback=False) == "waagent_log"


def test_sniff_tolerates_nul_and_bad_utf8():
    data = (b"\x00\x00\xff\xfe" + b"2024-03-02T08:00:01.000001Z INFO Daemon caf\xe9\n") * 20
    assert sniff(data, "x.log") == "waagent_log"


def test_sniff_mixed_status_message_and_shell_lines_reads_as_agent_log():
    text = ("[ExtensionOperationError] Non-zero exit code: 7, /x/handle.sh enable\n[stdout]\n"
            "2021/06/01 12:00:00.000001 INFO ExtHandler something about the extension\n"
            + "Tue Jun  1 12:00:01 UTC 2021- a shell wrapper line\n" * 5)
    assert sniff(text.encode(), "x.log") == "waagent_log"


@given(st.binary(max_size=4096))
@settings(max_examples=300, deadline=None)
def test_sniff_never_raises(data):
    kind = sniff(data, "x")
    assert kind is None or kind in KINDS


# ------------------------------------------------------------------ sniffing (shared data)

EXPECTED_REAL = {
    "case008.log": {"vmsnapshot_log"},
    "case043.log": {"syslog"},
    "case061.log": {"syslog"},
    "case062.log": {"syslog"},
    "case079.log": {"syslog"},
}


def _realcases():
    if not REALCASES.exists():
        return []
    return sorted(REALCASES.glob("*.log"))


@pytest.mark.skipif(not REALCASES.exists(), reason="shared/ not available")
@pytest.mark.parametrize("path", _realcases(), ids=lambda p: p.name)
def test_sniff_realcases(path):
    kind = sniff(path.read_bytes(), path.name)
    assert kind in EXPECTED_REAL.get(path.name, {"waagent_log"})


FIXTURE_KINDS = {
    "goal_state.xml": "goal_state_xml",
    "ext_conf.xml": "extensions_config_xml",
    "hosting_env.xml": "hosting_env_xml",
    "shared_config.xml": "shared_config_xml",
    "ovf-env.xml": "ovf_env_xml",
    "sample-status.json": "ext_status",
    "vm_settings.json": "vmsettings_json",
    "dhcp.leases": "dhcp_leases",
    "test_waagent.conf": "waagent_conf",
    "HandlerEnvironment.json": "handler_env",
    "HandlerManifest.json": "handler_manifest",
}


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared/ not available")
def test_sniff_fixture_files():
    checked = 0
    for path in FIXTURES.rglob("*"):
        expected = FIXTURE_KINDS.get(path.name)
        if expected and path.is_file():
            assert sniff(path.read_bytes(), path.name) == expected, path
            checked += 1
    assert checked >= len(FIXTURE_KINDS)
