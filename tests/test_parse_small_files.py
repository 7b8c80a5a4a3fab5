"""Leases, waagent.conf, results.txt, os-release & co., goal-state ordering: the project's own inputs."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from loganalyzer.parsers import DATA_PARSERS, ParseContext, load_all

load_all()


def parse(kind, data: bytes, source: str, ctx=None):
    ctx = ctx or ParseContext()
    return ctx, list(DATA_PARSERS[kind](data, source, ctx))


# --------------------------------------------------------------------------- leases

NETWORKD = b"""# This is private data. Do not parse.
ADDRESS=10.0.0.4
NETMASK=255.255.255.0
ROUTER=10.0.0.1
SERVER_ADDRESS=168.63.129.16
LIFETIME=4294967295
DNS=168.63.129.16
OPTION_245=a83f8110
"""


def test_networkd_lease():
    ctx, _ = parse("networkd_lease", NETWORKD, "run/systemd/netif/leases/2")
    (lease,) = ctx.facts.leases
    assert lease.has_245 and lease.endpoint == "168.63.129.16"
    assert lease.fixed_address == "10.0.0.4" and lease.server_id == "168.63.129.16"


def test_networkd_lease_without_245():
    ctx, _ = parse("networkd_lease", NETWORKD.replace(b"OPTION_245=a83f8110\n", b""),
                   "run/systemd/netif/leases/2")
    (lease,) = ctx.facts.leases
    assert not lease.has_245 and lease.endpoint is None



def test_networkd_lease_is_read_to_its_end():
    """Red team 14: only the first 5,000 lines were read; OPTION_245 after them gave a false
    dhcp-245-missing. A second, different OPTION_245 is said."""
    long = NETWORKD.replace(b"OPTION_245=a83f8110\n", b"".join(b"OPTION_%d=00\n" % (i % 200) for i in range(6000))
                            + b"OPTION_245=a83f8110\n")
    ctx, _ = parse("networkd_lease", long, "run/systemd/netif/leases/2")
    assert ctx.facts.leases[0].endpoint == "168.63.129.16" and not ctx.problems
    ctx, _ = parse("networkd_lease", NETWORKD + b"OPTION_245=a83f8111\n", "run/systemd/netif/leases/2")
    assert ctx.facts.leases[0].endpoint == "168.63.129.16"
    assert [p.message for p in ctx.problems] == ["OPTION_245 given twice with different values; the first is read"]



def test_a_flood_of_dhclient_leases_keeps_the_newest():
    """dhclient appends its leases: past MAX_LEASES blocks the newest are read, the oldest dropped and
    said (red team 14: the first 10,000 were kept)."""
    from loganalyzer.parsers.leases import MAX_LEASES
    old = b"lease {\n  interface \"eth0\";\n  fixed-address 10.0.0.4;\n}\n"
    new = b"lease {\n  interface \"eth0\";\n  fixed-address 10.0.0.4;\n  option unknown-245 a8:3f:81:10;\n}\n"
    ctx, _ = parse("dhcp_leases", old * (MAX_LEASES + 5) + new, "var/lib/dhcp/dhclient.eth0.leases")
    assert len(ctx.facts.leases) == MAX_LEASES and ctx.facts.leases[-1].endpoint == "168.63.129.16"
    assert [p.message for p in ctx.problems] == [
        f"{MAX_LEASES + 6} lease blocks: the oldest 6 ignored, the newest {MAX_LEASES} read"]


def test_networkmanager_internal_lease_under_dhcp_kind():
    ctx, _ = parse("dhcp_leases", NETWORKD, "var/lib/NetworkManager/internal-abc-eth0.lease")
    assert ctx.facts.leases[0].endpoint == "168.63.129.16"


def test_dhclient_lease_without_245_and_epoch_expiry():
    data = b"""lease {
  interface "eth0";
  fixed-address 10.1.0.5;
  option dhcp-server-identifier 168.63.129.16;
  expire epoch 1714557600; # Wed May 01 10:00:00 2024
}
"""
    ctx, _ = parse("dhcp_leases", data, "var/lib/NetworkManager/dhclient-eth0.lease")
    (lease,) = ctx.facts.leases
    assert not lease.has_245 and lease.endpoint is None
    assert lease.expire == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


def test_unknown_lease_dialect():
    ctx, _ = parse("dhcp_leases", b"<lease><ip>10.0.0.4</ip></lease>\n", "var/lib/dhcp/dhclient.eth0.leases")
    assert ctx.facts.leases == []
    assert [p.message for p in ctx.problems] == ["unrecognised lease format"]
    ctx, _ = parse("networkd_lease", b"something else entirely\n", "run/systemd/netif/leases/2")
    assert ctx.facts.leases == [] and ctx.problems[0].message == "unrecognised lease format"


def test_truncated_lease_block():
    ctx, _ = parse("dhcp_leases", b'lease {\n  interface "eth0";\n  option unknown-245 a8:3f:81:10;\n',
                   "var/lib/dhcp/dhclient.eth0.leases")
    assert ctx.facts.leases[0].endpoint == "168.63.129.16"
    assert any("truncated" in p.message for p in ctx.problems)


# --------------------------------------------------------------------------- waagent.conf


def test_inline_comment_trap():
    conf = (b"# comment\nExtensions.Enabled=n # disable extensions for now\n"
            b"AutoUpdate.Enabled=no\nHttpProxy.Host=None\nHttpProxy.Port=3128\n"
            b"OS.PasswordPath=/etc/sha#dow\n  ResourceDisk.Format = \"y\" \r\n"
            b"Logs.Verbose=y\nLogs.Verbose=n\n")
    ctx, recs = parse("waagent_conf", conf, "etc/waagent.conf")
    c = ctx.facts.config
    assert c["Extensions.Enabled"] == "n"  # what the agent reads: the comment is cut off
    assert c["AutoUpdate.Enabled"] == "no"
    assert "HttpProxy.Host" not in c and c["HttpProxy.Port"] == "3128"
    assert c["OS.PasswordPath"] == "/etc/sha"  # the agent cuts values at '#'
    # CRLF: the agent strips '" ' before '\r', so a quoted value keeps its closing quote
    assert c["ResourceDisk.Format"] == 'y"'
    assert c["Logs.Verbose"] == "n"
    kinds = {(w["key"], w["kind"]) for w in ctx.facts.extra["conf_warnings"]}
    assert ("Extensions.Enabled", "inline-comment") in kinds
    assert ("OS.PasswordPath", "inline-comment") in kinds
    assert ("AutoUpdate.Enabled", "bad-switch") in kinds
    assert ("Logs.Verbose", "duplicate") in kinds
    assert ("ResourceDisk.Format", "bad-switch") in kinds
    assert not any(k == "HttpProxy.Port" for k, _ in kinds)
    assert recs == [] and ctx.facts.config_source == "etc/waagent.conf"


def test_conf_proxy_password_masked():
    ctx, _ = parse("waagent_conf", b"HttpProxy.Host=http://user:pa55word@proxy\n", "etc/waagent.conf")
    assert "pa55word" not in repr(ctx.facts)


def test_empty_conf():
    ctx, _ = parse("waagent_conf", b"", "etc/waagent.conf")
    assert ctx.problems and ctx.facts.config == {}


# --------------------------------------------------------------------------- results.txt

RESULTS = b"""2024-05-01T10:00:00Z INFO Starting log collection at 2024-05-01T10:00:00Z
2024-05-01T10:00:00Z INFO Using log collection mode normal
2024-05-01T10:00:00Z INFO Using /var/lib/waagent as $LIB_DIR
2024-05-01T10:00:00Z INFO Output of command [ls -alF /var/log]:
total 4
drwxr-xr-x 1 root root 4096 May  1 10:00 ./
2024-05-01T10:00:01Z INFO ### Preparing list of files to add to archive ###
2024-05-01T10:00:01Z INFO Adding file /var/log/waagent.log, size 1234 b
2024-05-01T10:00:01Z INFO Adding truncated file /var/lib/waagent/logcollector/truncated/var.log.syslog, size 9999 b
2024-05-01T10:00:01Z WARNING Discarding large binary file /var/log/lastlog
2024-05-01T10:00:01Z INFO File /var/log/messages does not exist, skipping collection for this file
2024-05-01T10:00:02Z WARNING Archive too big, done with adding files.
2024-05-01T10:00:02Z INFO Uncompressed archive size is 123456 b
2024-05-01T10:00:02Z ERROR Failed to add file /var/log/x to the archive: [Errno 13] Permission denied
Traceback line 1
2024-05-01T10:00:03Z INFO Successfully compressed files. Compressed archive size is 2345 b
2024-05-01T10:00:03Z INFO Finishing log collection at 2024-05-01T10:00:03Z
2024-05-01T10:00:03Z INFO Elapsed time: 3000 ms
"""


def test_results_txt():
    ctx, recs = parse("results_txt", RESULTS, "results.txt")
    f = ctx.facts
    assert f.collection_time == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    assert f.collection_time_source == "results.txt"
    col = f.extra["collector"]
    assert (col["added"], col["truncated"], col["discarded"], col["missing"]) == (1, 1, 1, 1)
    assert col["archive_too_big"] is True and col["mode"] == "normal"
    assert col["uncompressed_bytes"] == 123456 and col["compressed_bytes"] == 2345
    assert col["elapsed_ms"] == 3000 and col["discarded_files"] == ["/var/log/lastlog"]
    assert [(r.level, r.line) for r in recs] == [("WARNING", 10), ("WARNING", 12), ("ERROR", 14)]
    assert recs[2].message.endswith("Permission denied\nTraceback line 1") and recs[2].end_line == 15
    assert all(r.kind == "results_txt" and r.ts.tzinfo is not None for r in recs)
    said = [p.message for p in ctx.problems]  # what the collector left out is said, not only kept in facts
    assert any("Archive too big" in m for m in said) and any("cut to their last part" in m for m in said)
    assert any("left out 1 large binary file" in m for m in said)


def test_results_txt_archive_too_big_makes_the_report_partial(tmp_path):
    import shutil

    import loganalyzer
    from conftest import SAMPLES
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "no-internet-access", b)
    res = b / "results.txt"
    res.write_text(res.read_text() + "2024-11-12T08:40:18Z WARNING Archive too big, done with adding files.\n")
    r = loganalyzer.analyze(b)
    assert r.partial and any("Archive too big" in reason for reason in r.partial_reasons)


def test_results_txt_garbage():
    ctx, recs = parse("results_txt", b"\xff\xfe nonsense\n", "results.txt")
    assert recs == [] and ctx.problems and ctx.facts.collection_time is None


# --------------------------------------------------------------------------- misc


def test_os_release_family():
    ctx = ParseContext()
    parse("os_release", b'NAME="Ubuntu"\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n',
          "etc/os-release", ctx)
    parse("os_release", b"CentOS Linux release 7.9.2009 (Core)\n", "etc/redhat-release", ctx)
    parse("os_release", b"myvm\n", "etc/hostname", ctx)
    assert (ctx.facts.os_name, ctx.facts.os_version, ctx.facts.hostname) == ("Ubuntu", "22.04", "myvm")
    ctx = ParseContext()
    parse("os_release", b"CentOS Linux release 7.9.2009 (Core)\n", "etc/redhat-release", ctx)
    assert (ctx.facts.os_name, ctx.facts.os_version) == ("CentOS Linux", "7.9.2009")


def test_hostname_beats_ovf():
    ctx = ParseContext()
    parse("os_release", b"realname\n", "etc/hostname", ctx)
    ovf = (b'<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" '
           b'xmlns:wa="http://schemas.microsoft.com/windowsazure"><wa:ProvisioningSection>'
           b'<LinuxProvisioningConfigurationSet xmlns="http://schemas.microsoft.com/windowsazure">'
           b'<HostName>ovfname</HostName><UserPassword>hunter2</UserPassword>'
           b'<CustomData>c2VjcmV0</CustomData></LinuxProvisioningConfigurationSet>'
           b'</wa:ProvisioningSection></Environment>')
    parse("ovf_env_xml", ovf, "var/lib/waagent/ovf-env.xml", ctx)
    assert ctx.facts.hostname == "realname"
    assert ctx.facts.extra["ovf_env"]["hostname"] == "ovfname"
    assert "hunter2" not in repr(ctx.facts) and "c2VjcmV0" not in repr(ctx.facts)


def test_incarnation_and_endpoint_files():
    ctx = ParseContext()
    parse("incarnation", b"7\n", "var/lib/waagent/Incarnation", ctx)
    parse("wireserver_endpoint", b"168.63.129.16", "var/lib/waagent/WireServerEndpoint", ctx)
    assert ctx.facts.incarnations == [7]
    assert ctx.facts.endpoint == "168.63.129.16"
    assert ctx.facts.endpoint_source == "WireServerEndpoint file"
    parse("wireserver_endpoint", b"not an ip", "var/lib/waagent/WireServerEndpoint", ctx)
    parse("incarnation", b"x", "var/lib/waagent/Incarnation", ctx)
    assert len(ctx.problems) == 2 and ctx.facts.endpoint == "168.63.129.16"


# --------------------------------------------------------------------------- goal-state ordering


def ext_conf(inc: int | None, state: str, version: str, family_version: str) -> bytes:
    attr = f' goalStateIncarnation="{inc}"' if inc is not None else ""
    return (f'<Extensions version="1.0.0.0"{attr}><GuestAgentExtension><GAFamilies><GAFamily>'
            f'<Name>Prod</Name><Version>{family_version}</Version></GAFamily></GAFamilies>'
            f'</GuestAgentExtension><StatusUploadBlob statusBlobType="BlockBlob">https://a/b?sig=SECRETSIG4'
            f'</StatusUploadBlob><Plugins><Plugin name="A.B" version="{version}" state="{state}" '
            f'autoUpgrade="false"/></Plugins><PluginSettings><Plugin name="A.B" version="{version}">'
            f'<RuntimeSettings seqNo="{inc or 0}">{{"runtimeSettings":[{{"handlerSettings":'
            f'{{"protectedSettings":"PROTECTEDX"}}}}]}}</RuntimeSettings></Plugin></PluginSettings>'
            f'</Extensions>').encode()


def test_newest_incarnation_wins_any_order():
    for order in ((2, 5), (5, 2)):
        ctx = ParseContext()
        for inc in order:
            data = ext_conf(inc, "enabled" if inc == 2 else "uninstall", f"1.{inc}", f"2.{inc}.0")
            parse("extensions_config_xml", data, f"var/lib/waagent/ExtensionsConfig.{inc}.xml", ctx)
        fact = ctx.facts.extensions["A.B"]
        assert (fact.state, fact.version, fact.seq_no) == ("uninstall", "1.5", 5)
        assert ctx.facts.requested_agent_version == "2.5.0"
        assert ctx.facts.incarnations == [2, 5]
        assert "SECRETSIG4" not in repr(ctx.facts) and "PROTECTEDX" not in repr(ctx.facts)


def test_incarnation_from_history_zip_member_path():
    ctx, _ = parse("extensions_config_xml", ext_conf(None, "enabled", "1.0", "2.0"),
                   "b/var/lib/waagent/history/2024-05-01T10-00-00__7-123.zip/ExtensionsConfig.xml")
    assert ctx.facts.incarnations == [7]
    ctx, _ = parse("extensions_config_xml", ext_conf(None, "enabled", "1.0", "2.0"),
                   "var/lib/waagent/history/2020-01-02T03:04:05.123456_incarnation_4/ExtensionsConfig.xml")
    assert ctx.facts.incarnations == [4]


def test_goal_state_placeholder_and_newest():
    ctx = ParseContext()
    parse("goal_state_xml", b"<xml>empty placeholder file</xml>", "var/lib/waagent/GoalState.1.xml", ctx)
    assert ctx.facts.incarnations == [] and not ctx.problems
    for inc in (9, 3):
        gs = (f"<GoalState><Incarnation>{inc}</Incarnation><Container><ContainerId>c{inc}</ContainerId>"
              f"<RoleInstanceList><RoleInstance><InstanceId>r{inc}</InstanceId></RoleInstance>"
              f"</RoleInstanceList></Container></GoalState>").encode()
        parse("goal_state_xml", gs, f"var/lib/waagent/GoalState.{inc}.xml", ctx)
    assert ctx.facts.incarnations == [3, 9]
    assert (ctx.facts.container_id, ctx.facts.role_instance_id) == ("c9", "r9")


def test_truncated_extensions_config_recovers():
    data = ext_conf(3, "enabled", "1.0", "2.0")
    cut = data[: data.index(b"<PluginSettings>") + 30]
    ctx, _ = parse("extensions_config_xml", cut, "var/lib/waagent/ExtensionsConfig.3.xml")
    assert ctx.facts.extensions["A.B"].state == "enabled"
    assert any("recovered" in p.message for p in ctx.problems)


@pytest.mark.parametrize("name", ["localtime", "posixrules", "Factory", "posix/Europe/Berlin"])
def test_timezone_names_of_the_analysing_machine_are_refused(name):
    """Red team 15: /etc/timezone 'localtime' resolved to the analysing machine's own zone."""
    ctx, _ = parse("os_release", (name + "\n").encode(), "etc/timezone")
    assert ctx.facts.timezone is None and not ctx.tz_known
    assert [p.message for p in ctx.problems] == [f"unknown time zone {name!r}: local times are read as UTC"]
