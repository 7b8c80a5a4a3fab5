"""Hostile input for the structured parsers: XML bombs, XXE, fuzzing, secrets never leaving a parser."""
from __future__ import annotations

import http.server
import json
import re
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loganalyzer import xmlsafe
from loganalyzer.parsers import DATA_PARSERS, ParseContext, ParseError, load_all

load_all()

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIX = SHARED / "fixtures"

XML_KINDS = ("goal_state_xml", "extensions_config_xml", "hosting_env_xml", "shared_config_xml",
             "ovf_env_xml")
SOURCES = {
    "goal_state_xml": "var/lib/waagent/history/2024-05-01T10-00-00__3/GoalState.xml",
    "extensions_config_xml": "var/lib/waagent/ExtensionsConfig.3.xml",
    "hosting_env_xml": "var/lib/waagent/HostingEnvironmentConfig.xml",
    "shared_config_xml": "var/lib/waagent/SharedConfig.xml",
    "ovf_env_xml": "var/lib/waagent/ovf-env.xml",
    "vmsettings_json": "var/lib/waagent/history/2024-05-01T10-00-00__3/VmSettings.json",
    "ext_status": "var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9225.0/status/25.status",
    "handler_status": "var/lib/waagent/A.B-1.0/config/HandlerStatus",
    "handler_state": "var/lib/waagent/A.B-1.0/config/HandlerState",
    "handler_manifest": "var/lib/waagent/A.B-1.0/HandlerManifest.json",
    "handler_env": "var/lib/waagent/A.B-1.0/HandlerEnvironment.json",
    "mrseq": "var/lib/waagent/A.B-1.0/mrseq",
    "ext_settings": "var/lib/waagent/A.B-1.0/config/3.settings",
    "waagent_status_json": "var/lib/waagent/waagent_status.json",
    "agent_error_json": "var/lib/waagent/WALinuxAgent-2.9.1.1/error.json",
    "dhcp_leases": "var/lib/dhcp/dhclient.eth0.leases",
    "networkd_lease": "run/systemd/netif/leases/2",
    "waagent_conf": "etc/waagent.conf",
    "results_txt": "var/lib/waagent/logcollector/results.txt",
    "os_release": "etc/os-release",
    "incarnation": "var/lib/waagent/Incarnation",
    "wireserver_endpoint": "var/lib/waagent/WireServerEndpoint",
}
MY_KINDS = tuple(SOURCES)


def run(kind: str, data: bytes, ctx: ParseContext | None = None):
    ctx = ctx or ParseContext()
    return ctx, list(DATA_PARSERS[kind](data, SOURCES[kind], ctx))


def test_all_kinds_registered():
    assert set(MY_KINDS) <= set(DATA_PARSERS)


# --------------------------------------------------------------------------- XML attacks

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE GoalState [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<GoalState><Incarnation>1</Incarnation><Container><ContainerId>&lol9;</ContainerId></Container></GoalState>"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE GoalState [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<GoalState><Incarnation>1</Incarnation><Container><ContainerId>&xxe;</ContainerId></Container></GoalState>"""


class _Hits(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Hits.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY x "pwned">')

    def log_message(self, *args):
        pass


@pytest.fixture()
def web():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hits.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _hostile_docs(url: str) -> dict[str, bytes]:
    return {
        "laughs": LAUGHS,
        "xxe_file": XXE_FILE,
        "xxe_http": (f'<?xml version="1.0"?><!DOCTYPE GoalState [<!ENTITY xxe SYSTEM "{url}/ent">]>'
                     f"<GoalState><Incarnation>&xxe;</Incarnation></GoalState>").encode(),
        "external_dtd": (f'<?xml version="1.0"?><!DOCTYPE GoalState SYSTEM "{url}/dtd">'
                         f"<GoalState><Incarnation>1</Incarnation></GoalState>").encode(),
        "parameter_entity": (f'<?xml version="1.0"?><!DOCTYPE GoalState [<!ENTITY % pe SYSTEM "{url}/pe">%pe;]>'
                             f"<GoalState><Incarnation>1</Incarnation></GoalState>").encode(),
        "utf16_xxe": XXE_FILE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
        .encode("utf-16"),
    }


@pytest.mark.parametrize("kind", XML_KINDS)
def test_hostile_xml_refused_nothing_fetched_or_expanded(kind, web):
    for name, doc in _hostile_docs(web).items():
        ctx = ParseContext()
        try:
            recs = list(DATA_PARSERS[kind](doc, SOURCES[kind], ctx))
        except ParseError as exc:
            assert "not allowed" in str(exc), name
            recs = []
        dump = repr(ctx.facts) + repr(ctx.problems) + repr(recs)
        assert "root:" not in dump and "lollol" not in dump and "pwned" not in dump, name
        assert ctx.facts.container_id is None and ctx.facts.incarnations == [], name
    assert _Hits.hits == []


def test_xmlsafe_second_line_of_defence(monkeypatch, web):
    """Even with the byte pre-scan disabled, the tree check refuses entities and external DTDs."""
    monkeypatch.setattr(xmlsafe, "_prescan", lambda data: None)
    for name, doc in _hostile_docs(web).items():
        with pytest.raises(ParseError):
            xmlsafe.parse_xml(doc)
    assert _Hits.hits == []


def test_xmlsafe_helpers():
    root = xmlsafe.parse_xml(b'<a xmlns="urn:x" xmlns:w="urn:w"><w:b w:k=" v ">t</w:b><c/></a>')
    assert xmlsafe.text(root, "b") == "t" and xmlsafe.attr(xmlsafe.child(root, "b"), "k") == "v"
    assert [xmlsafe.local(e) for e in xmlsafe.iter_named(root, "c")] == ["c"]
    assert xmlsafe.find_path(root, "b", "zz") is None and xmlsafe.text(None) is None
    for bad in (b"", b"   ", b"<a>", b"\xff\xfe\x00"):
        with pytest.raises(ParseError):
            xmlsafe.parse_xml(bad)


def test_huge_depth_xml_is_a_parse_error_not_a_crash():
    deep = b"<a>" * 300000 + b"</a>" * 300000
    with pytest.raises(ParseError):
        xmlsafe.parse_xml(deep)


# --------------------------------------------------------------------------- fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["status", "code", "name", "substatus", "formattedMessage", "message",
                         "timestampUTC", "aggregateStatus", "guestAgentStatus", "handlerAggregateStatus",
                         "handlerName", "runtimeSettings", "handlerSettings", "publicSettings",
                         "extensionGoalStates", "gaFamilies", "settings", "telemetryData", "Key",
                         "Value", "handlerManifest", "handlerEnvironment", "failure_count",
                         "was_fatal", "last_failure", "runtimeSettingsStatus", "settingsStatus"]),
        inner, max_size=5),
    max_leaves=25)


def _call(kind: str, data: bytes) -> None:
    ctx = ParseContext()
    try:
        for rec in DATA_PARSERS[kind](data, SOURCES[kind], ctx):
            assert isinstance(rec.message, str) and rec.line >= 1
    except ParseError:
        pass
    ctx.facts.to_dict()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(MY_KINDS), data=st.binary(max_size=2000))
def test_any_bytes_only_parse_error(kind, data):
    _call(kind, data)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(MY_KINDS), value=json_values)
def test_any_json_only_parse_error(kind, value):
    _call(kind, json.dumps(value).encode())
    _call(kind, json.dumps([{"status": value, "aggregateStatus": value}]).encode())


xml_fragments = st.lists(st.sampled_from([
    "<GoalState>", "</GoalState>", "<Incarnation>", "</Incarnation>", "12", "-1", "x", "<Extensions>",
    "</Extensions>", '<Plugins>', "</Plugins>", '<Plugin name="A" version="1" state="enabled"/>',
    '<Plugin version="1"/>', "<PluginSettings>", "</PluginSettings>", '<Plugin name="A">',
    '<RuntimeSettings seqNo="x">', "</RuntimeSettings>", "<Container>", "</Container>", "&amp;",
    "<![CDATA[x]]>", "<!-- c -->", "<Environment>", "</Environment>", "<SharedConfig>",
    "<Instances>", '<Instance id="a" address="b"/>', "</Instances>", "</SharedConfig>", "</Plugin>",
    '<HostingEnvironmentConfig goalStateIncarnation="99999999999999999999">', "</HostingEnvironmentConfig>",
    "<GAFamily><Name>Prod</Name><Version>1</Version></GAFamily>", "<?pi x?>", "\x00", "é"]), max_size=30)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(XML_KINDS), parts=xml_fragments)
def test_any_xmlish_only_parse_error(kind, parts):
    _call(kind, "".join(parts).encode("utf-8", "replace"))


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(("dhcp_leases", "networkd_lease", "waagent_conf", "results_txt",
                             "os_release", "handler_state", "mrseq")),
       lines=st.lists(st.sampled_from([
           "lease {", "}", 'interface "eth0";', "option unknown-245 a8:3f:81:10;",
           "option unknown-245 zz;", 'option unknown-245 "\\250?\\201\\020";', "expire 4 2024/13/45 99:99:99;",
           "expire never;", "OPTION_245=a83f8110", "ADDRESS=1.2.3.4", "Extensions.Enabled=n # x",
           "=", "#=", "2024-05-01T10:00:00Z ERROR boom", "2024-05-01T10:00:00Z INFO Starting log collection at x",
           'NAME="x', "VERSION_ID=", "\r", "\udcff"]) | st.text(max_size=30), max_size=25))
def test_any_lines_only_parse_error(kind, lines):
    _call(kind, "\n".join(lines).encode("utf-8", "surrogatepass"))


# --------------------------------------------------------------------------- secrets from fixtures

FIXTURE_KINDS = [
    ("walinuxagent/tests/data/wire/ext_conf.xml", "extensions_config_xml"),
    ("walinuxagent/tests/data/wire/ext_conf_multiple_extensions.xml", "extensions_config_xml"),
    ("walinuxagent/tests/data/wire/multi-config/ext_conf_with_multi_config.xml", "extensions_config_xml"),
    ("walinuxagent/tests/data/wire/ext_conf_rsm_version.xml", "extensions_config_xml"),
    ("walinuxagent/tests/data/hostgaplugin/ext_conf.xml", "extensions_config_xml"),
    ("walinuxagent/v2.2.18/tests/data/wire/ext_conf.xml", "extensions_config_xml"),
    ("walinuxagent/tests/data/hibernate/goal_state_1/ExtensionsConfig.xml", "extensions_config_xml"),
    ("walinuxagent/tests/data/hostgaplugin/vm_settings.json", "vmsettings_json"),
    ("walinuxagent/tests/data/hibernate/goal_state_1/VmSettings.json", "vmsettings_json"),
    ("walinuxagent/tests/data/wire/goal_state.xml", "goal_state_xml"),
    ("walinuxagent/tests/data/wire/goal_state_remote_access.xml", "goal_state_xml"),
    ("walinuxagent/tests/data/wire/hosting_env.xml", "hosting_env_xml"),
    ("walinuxagent/tests/data/wire/shared_config.xml", "shared_config_xml"),
    ("walinuxagent/tests/data/ovf-env.xml", "ovf_env_xml"),
    ("vmbackup/Utils/test/ovf-env.xml", "ovf_env_xml"),
    ("vmbackup/script/0.settings", "ext_settings"),
    ("vmbackup/OSPatching/test/config/0.settings", "ext_settings"),
    ("walinuxagent/tests/data/ext/sample-status.json", "ext_status"),
    ("walinuxagent/tests/data/test_waagent.conf", "waagent_conf"),
    ("walinuxagent/tests/data/dhcp.leases", "dhcp_leases"),
]


def _secrets(text: str) -> set[str]:
    found = set(re.findall(r'"protectedSettings"\s*:\s*"([^"]{6,})"', text))
    found |= set(re.findall(r"[?&]sig=([^&\"<\s]{4,})", text))
    found |= set(re.findall(r"<UserPassword>([^<]+)</UserPassword>", text))
    found |= set(re.findall(r"<CustomData>([^<]+)</CustomData>", text))
    found |= set(re.findall(r"AccountKey=([^;\"]{4,})", text))
    # the ovf fixture's CustomData is the placeholder word itself, which waagent.conf keys contain
    return {s for s in found if "REDACTED" not in s and s != "CustomData"}


@pytest.mark.skipif(not FIX.exists(), reason="shared/ not available")
def test_no_fixture_secret_leaves_a_parser():
    ctx = ParseContext()
    records = []
    secrets: set[str] = set()
    for rel, kind in FIXTURE_KINDS:
        path = FIX / rel
        if not path.exists():
            continue
        data = path.read_bytes()
        secrets |= _secrets(data.decode("utf-8", "replace"))
        try:
            records += list(DATA_PARSERS[kind](data, SOURCES[kind], ctx))
        except ParseError:
            pass
    assert len(secrets) >= 5  # the check has teeth: the fixtures do carry secrets
    dump = repr(ctx.facts) + json.dumps(ctx.facts.to_dict(), default=str) + repr(records) + repr(ctx.problems)
    leaked = sorted(s for s in secrets if s in dump)
    assert leaked == []
    assert "sig=" not in dump.replace("sig=***", "")
    assert "<UserPassword>" not in dump


# --------------------------------------------------------------------------- red-team regressions

@pytest.mark.parametrize("kind", XML_KINDS)
def test_refused_xml_surfaces_while_reading_records(kind):
    """The analyser reads records inside its error handling: a ParseError must not come at the call."""
    doc = b'<?xml version="1.0"?><!DOCTYPE GoalState SYSTEM "http://127.0.0.1:9/x.dtd"><GoalState/>'
    records = DATA_PARSERS[kind](doc, SOURCES[kind], ParseContext())  # must not raise yet
    with pytest.raises(ParseError, match="not allowed"):
        list(records)


def test_refused_xml_is_a_problem_of_the_report(tmp_path):
    from loganalyzer import analyze
    root = tmp_path / "bundle"
    (root / "var/log").mkdir(parents=True)
    (root / "var/lib/waagent").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(
        b"2024-03-02T08:00:01.000001Z INFO Daemon Daemon Azure Linux Agent Version: 2.9.1.1\n")
    (root / "var/lib/waagent/GoalState.1.xml").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><GoalState>&a;</GoalState>')
    report = analyze(root)
    assert any(p.source == "var/lib/waagent/GoalState.1.xml" and "not allowed" in p.message
               for p in report.problems)


@pytest.mark.parametrize("kind", XML_KINDS)
def test_element_with_100k_attributes_is_refused_fast(kind):
    attrs = b" ".join(b'a%d="1"' % i for i in range(100_000))
    doc = (b"<Extensions><Plugins><Plugin " + attrs + b"/></Plugins></Extensions>")
    start = time.monotonic()
    with pytest.raises(ParseError, match="attributes"):
        list(DATA_PARSERS[kind](doc, SOURCES[kind], ParseContext()))
    assert time.monotonic() - start < 1.5  # lxml reads such an attribute list in quadratic time


def test_lone_surrogates_never_reach_the_output(tmp_path):
    """JSON "\\ud800" escapes decode to lone surrogates, which no output encoding accepts."""
    from loganalyzer import analyze
    from loganalyzer.render import render
    root = tmp_path / "bundle"
    status = root / "var/lib/waagent/A.B-1.0/status/1.status"
    status.parent.mkdir(parents=True)
    status.write_bytes(b'[{"status": {"status": "error", "name": "x\\ud800", "code": 1, '
                       b'"formattedMessage": {"message": "boom \\udfff password=hunter2"}}}]')
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/waagent.log").write_bytes(
        b"2024-03-02T08:00:01.000001Z ERROR ExtHandler ExtHandler failed\n")
    report = analyze(root)
    for fmt in ("text", "json", "md", "html"):
        out = render(report, fmt, lang="en", show_all=True)
        out.encode("utf-8")  # strict: raises on a lone surrogate
        assert "hunter2" not in out
    assert "\ufffd" in render(report, "json", lang="en")


@pytest.mark.parametrize("line", [
    "password=<redacted>" * 3400, "password=n#" * 6000, "authorization:<redacted>" * 2700,
    "authorization:n#" * 4000, "x-ms-key:n#" * 6000, "sharedaccesssignature=<redacted>" * 2000,
    "sharedaccesssignature=n#" * 2600], ids=lambda s: repr(s[:16]))
def test_kept_values_do_not_make_redaction_quadratic(line):
    """A value that is kept (already masked, or ``n#comment``) was matched again from every
    later key: ten such 64 KB lines of a waagent.log took over a minute."""
    from loganalyzer.redact import redact
    start = time.monotonic()
    out = redact(line)
    assert redact(out) == out
    assert time.monotonic() - start < 1.0
    key = line.split("=" if "=" in line[:25] else ":")[0]
    tail = redact(line[:200] + " " + key + ("=" if "=" in line[:25] else ":") + "hunter2")
    assert "hunter2" not in tail


def test_a_data_parser_that_raises_at_the_call_is_a_problem_too(tmp_path, monkeypatch):
    """Any data parser, generator or not: its ParseError becomes a problem of its file."""
    from loganalyzer import analyze, parsers  # noqa: PLC0415
    parsers.load_all()

    def eager(data, source, ctx):
        raise ParseError("refused before any record")

    monkeypatch.setitem(parsers.DATA_PARSERS, "os_release", eager)
    root = tmp_path / "bundle"
    (root / "var/log").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "var/log/waagent.log").write_bytes(
        b"2024-03-02T08:00:01.000001Z INFO Daemon Daemon Azure Linux Agent Version: 2.9.1.1\n")
    (root / "etc/os-release").write_bytes(b'NAME="Ubuntu"\n')
    report = analyze(root)
    assert any(p.source == "etc/os-release" and "refused before any record" in p.message
               for p in report.problems)


def test_problems_of_one_file_are_capped_with_their_count():
    """A file of a million bad lines must not hold a million problem objects: past the cap one
    summary line keeps the number (and the worst severity)."""
    from loganalyzer.parsers import MAX_PROBLEMS_PER_SOURCE, ParseContext

    ctx = ParseContext()
    for i in range(MAX_PROBLEMS_PER_SOURCE + 500):
        ctx.problem("a.log", f"bad line {i}", i, "error" if i == MAX_PROBLEMS_PER_SOURCE + 7 else "warning")
    ctx.problem("b.log", "fine")
    a = [p for p in ctx.problems if p.source == "a.log"]
    assert len(a) == MAX_PROBLEMS_PER_SOURCE + 1
    assert a[-1].message == "500 more problem(s) in this file, not listed" and a[-1].severity == "error"
    assert a[-1].params == {"n": 500} and [p.message for p in ctx.problems if p.source == "b.log"] == ["fine"]


def test_binary_data_under_a_log_name_is_said(tmp_path):
    """An executable or random bytes at var/log/syslog were read as thousands of records without a
    word (red team 8): a problem says the file looks binary; text in UTF-8 or Latin-1 does not."""
    import os
    import random

    import loganalyzer
    from loganalyzer.textio import looks_binary
    rnd = random.Random(3)
    elf = b"\x7fELF\x02\x01\x01" + bytes(rnd.getrandbits(8) for _ in range(20_000))
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/syslog").write_bytes(elf)
    (tmp_path / "var/log/waagent.log").write_bytes(
        "2024-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler Grüße aus München\n".encode() * 200)
    r = loganalyzer.analyze(tmp_path)
    said = [p for p in r.problems if "looks like binary" in p.message]
    assert [p.source for p in said] == ["var/log/syslog"]
    assert looks_binary(os.urandom(4096)) and looks_binary(b"\x00" * 4096)
    assert not looks_binary("Fehler beim Öffnen der Datei /var/lib/x: Zugriff verweigert\n".encode("latin-1") * 100)
    assert not looks_binary(b"\x1b[31mred\x1b[0m plain\tline\r\n" * 100)
    assert not looks_binary(b"\x00\xff" * 100)  # too short to tell
