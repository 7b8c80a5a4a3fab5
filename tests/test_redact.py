"""Secrets never survive redact(); redaction is idempotent, linear and never raises."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loganalyzer.redact import MARK, is_secret_key, redact, redact_data

SHARED = Path(__file__).resolve().parents[2] / "shared"

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# --- fixed cases ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, secret, kept", [
    ("HTTP Req: PUT https://acct.blob.core.windows.net/$system/vm.status?sr=b&sp=rw&se=9999-01-01"
     "&sk=system-1&sv=2014-02-14&sig=Q2xvdWRTZWNyZXQ%3D done", "Q2xvdWRTZWNyZXQ",
     "https://acct.blob.core.windows.net/$system/vm.status?<redacted> done"),
    ("<StatusUploadBlob statusBlobType=\"BlockBlob\">https://a.blob.core.windows.net/v/s.status?sr=b&amp;"
     "sp=rw&amp;sv=2014-02-14&amp;sig=hfRh7gzUE7sUtY%3D</StatusUploadBlob>", "hfRh7gzUE7sUtY",
     "s.status?<redacted></StatusUploadBlob>"),
    ("download https://x.blob.core.windows.net/c/b.zip?skoid=abc-123&sktid=def&sv=2021&sig=SIGVALUE1",
     "SIGVALUE1", "https://x.blob.core.windows.net/c/b.zip?<redacted>"),
    ("token in text sig=AbCdEf0123%2B== and more", "AbCdEf0123", "sig=<redacted> and more"),
    ('{"protectedSettingsCertThumbprint":"4037FB","protectedSettings":"MIICWgYJKoZIhvcN","publicSettings":'
     '{"foo":"bar"}}', "MIICWgYJKoZIhvcN", '"protectedSettingsCertThumbprint":"4037FB"'),
    ('"protectedSettings": {"storageAccountKey": "k3y", "commandToExecute": "rm"}, "x": 1', "k3y",
     '"protectedSettings": "<redacted>", "x": 1'),
    ('{"password": "hunter2", "user": "bob"}', "hunter2", '"user": "bob"'),
    ("{'adminPassword': 'Pa55!word', 'n': 1}", "Pa55!word", "'adminPassword': '<redacted>'"),
    ('msg={\\"password\\": \\"Escaped9\\", \\"a\\": 1}', "Escaped9", '\\"password\\": \\"<redacted>\\"'),
    ("<UserPassword>Sup3rSecret</UserPassword>", "Sup3rSecret", "<UserPassword><redacted></UserPassword>"),
    ("<ns1:CustomData>I2Nsb3VkLWNvbmZpZw==</ns1:CustomData>", "I2Nsb3VkLWNvbmZpZw", "<ns1:CustomData>"),
    ("&lt;UserPassword&gt;EncPass1&lt;/UserPassword&gt;", "EncPass1", "&lt;UserPassword&gt;<redacted>"),
    ("mysql -u root password=Tr0ub4dor&3 now", "Tr0ub4dor", "password=<redacted>"),
    ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=bWFkZSB1cA+/==;EndpointSuffix=core",
     "bWFkZSB1cA", "AccountKey=<redacted>;EndpointSuffix=core"),
    ("Endpoint=sb://x/;SharedAccessKeyName=Root;SharedAccessKey=S4SKeyValue=", "S4SKeyValue",
     "SharedAccessKey=<redacted>"),
    ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.SflKxwRJ rest", "eyJhbGciOi", "Authorization: <redacted> rest"),
    ("headers {'x-ms-encryption-key': 'EncKey123', 'x-ms-version': '2012-11-30'}", "EncKey123",
     "'x-ms-version': '2012-11-30'"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nxyz\n-----END RSA PRIVATE KEY-----\ntail",
     "MIIEpAIBAAKCAQEA", "-----BEGIN RSA PRIVATE KEY-----<redacted>-----END RSA PRIVATE KEY-----\ntail"),
    ("-----BEGIN PRIVATE KEY----- MIIEvQIBADANBgkqh (cut)", "MIIEvQIBADANBgkqh", "-----BEGIN PRIVATE KEY-----"),
    ("Handler settings protectedSettings: MIIBzAYJKoZIhvcNAQcDoIIBvTCCAbkC more", "MIIBzAYJKoZIhvc",
     "protectedSettings: <redacted> more"),
    ("blob " + "QUJD" * 40 + " end", "QUJD" * 40, "blob <redacted> end"),
])
def test_fixed_cases(text, secret, kept):
    out = redact(text)
    assert secret not in out
    assert kept in out
    assert redact(out) == out


@pytest.mark.parametrize("text", [
    "2024-01-14T22:16:03.123456Z INFO ExtHandler Fetched goal state [incarnation 3]",
    "Provisioning.DeleteRootPassword=y",
    "DisableSshPasswordAuthentication=false",
    "Provisioning.PasswordCryptId=6",
    "<DisableSshPasswordAuthentication>false</DisableSshPasswordAuthentication>",
    '"protectedSettingsCertThumbprint": "4037FBF5F1F3014F99B5D6C7799E9B20E6871CB3"',
    "GET http://168.63.129.16/machine/?comp=goalstate HTTP/1.1",
    "https://x.blob.core.windows.net/c/b.status?<redacted>",
    "PWD=/var/lib/waagent",
    "",
])
def test_harmless_text_is_kept(text):
    assert redact(text) == text


def test_redact_accepts_non_strings():
    assert redact(None) == ""  # type: ignore[arg-type]
    assert redact(12) == "12"  # type: ignore[arg-type]


def test_secret_key_names():
    for key in ("password", "adminPassword", "ns1:UserPassword", "protectedSettings", "customData",
                "AccountKey", "sig", "Authorization", "client_secret"):
        assert is_secret_key(key), key
    for key in ("protectedSettingsCertThumbprint", "DisableSshPasswordAuthentication", "name", "status",
                "design", "Provisioning.PasswordCryptId"):
        assert not is_secret_key(key), key


def test_redact_data_masks_values_under_secret_keys():
    data = {"config": {"Provisioning.DeleteRootPassword": "y", "adminPassword": "plain1"},
            "list": ["https://a/b?sv=1&sig=XYZ123", 3, None, True],
            "extra": {"protectedSettings": "opaque", "n": 5, "password": 1234}}
    out = redact_data(data)
    assert out["config"] == {"Provisioning.DeleteRootPassword": "y", "adminPassword": MARK}
    assert out["list"] == ["https://a/b?<redacted>", 3, None, True]
    assert out["extra"] == {"protectedSettings": MARK, "n": 5, "password": MARK}


# --- real formats from ../shared ---------------------------------------------------------------------
def _shared(rel: str) -> Path:
    if not SHARED.exists():
        pytest.skip("shared/ not available")
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"{rel} not in shared/")
    return path


@pytest.mark.parametrize("rel", [
    "fixtures/walinuxagent/tests/data/wire/ext_conf.xml",
    "fixtures/walinuxagent/tests/data/hostgaplugin/vm_settings.json",
    "fixtures/walinuxagent/tests/data/hostgaplugin/ext_conf.xml",
    "fixtures/walinuxagent/tests/data/wire/ext_conf_multiple_extensions.xml",
    "realcases/case085.log",
    "realcases/case086.log",
])
def test_real_files_lose_sas_signatures_and_protected_settings(rel):
    text = _shared(rel).read_text(encoding="utf-8", errors="replace")
    sigs = set(re.findall(r"sig=([^&<\s\"']{6,})", text))
    protected = set(re.findall(r'"protectedSettings"\s*:\s*"([^"]{6,})"', text))
    protected = {p for p in protected if "REDACTED" not in p}  # the agent's own redaction
    assert sigs or protected, "fixture without secrets: test would prove nothing"
    out = "\n".join(redact(line) for line in text.splitlines())
    for s in sigs | protected:
        assert s not in out
    assert redact(out) == out


def test_real_ovf_env_loses_password_and_custom_data():
    text = _shared("fixtures/walinuxagent/tests/data/ovf-env.xml").read_text(encoding="utf-8")
    out = redact(text)
    assert "<UserPassword><redacted></UserPassword>" in out
    assert re.search(r"CustomData>\s*<redacted>", out)
    assert "<DisableSshPasswordAuthentication>false" in out


def test_real_waagent_conf_stays_readable():
    text = _shared("fixtures/walinuxagent/tests/data/test_waagent.conf").read_text(encoding="utf-8")
    assert redact(text) == text


# --- property tests ----------------------------------------------------------------------------------
def _secret(alphabet: str) -> st.SearchStrategy[str]:
    # a distinctive prefix keeps the secret from occurring by chance in the surrounding text
    return st.text(alphabet=alphabet, min_size=8, max_size=40).map(lambda s: "Zq7" + s)


CONTEXTS: list[tuple[str, str]] = [
    # (template, alphabet of the secret) -- a secret never contains its own terminator
    ("https://acct.blob.core.windows.net/cont/blob.vhd?sv=2020-08-04&sr=b&sig={s}&se=2030-01-01", ALNUM + "%+/="),
    ("GET /c/b?se=2030&sp=r&sig={s} HTTP/1.1", ALNUM + "%+/="),
    ("upload failed: sig={s}", ALNUM + "%+/="),
    ('{{"protectedSettings": "{s}", "publicSettings": {{}}}}', ALNUM + "+/=!#$%&()*,-.:;<>?@[]^_{|}~ "),
    ('"password":"{s}"', ALNUM + "+/=!#$%&()*,-.:;<>?@[]^_{|}~ '"),
    ("'adminPassword': '{s}'", ALNUM + "+/=!#$%&()*,-.:;<>?@[]^_{|}~ \""),
    ('{{\\"commandToExecute\\": \\"x\\", \\"storageAccountKey\\": \\"{s}\\"}}', ALNUM + "+/=!#$%&()*-.:;<>?@"),
    ("<UserPassword>{s}</UserPassword>", ALNUM + "+/=!#$%()*,-.:;?@[]^_{|}~ '\""),
    ("<wa:CustomData>{s}</wa:CustomData>", ALNUM + "+/="),
    ("password={s}", ALNUM + "+/=!#$%()*-.:<>?@[]^_{|}~"),
    ("DefaultEndpointsProtocol=https;AccountName=x;AccountKey={s};EndpointSuffix=core.windows.net", ALNUM + "+/="),
    ("Authorization: Bearer {s}", ALNUM + "._-"),
    ("x-ms-copy-source-authorization: {s}", ALNUM + "._-+/="),
    ("-----BEGIN EC PRIVATE KEY-----\n{s}\n-----END EC PRIVATE KEY-----", ALNUM + "+/=\n"),
    ("protectedSettings={s}", ALNUM + "+/="),
    ("protectedSettings {s}", ALNUM + "+/"),
]

FRAGMENTS = st.sampled_from([
    '"password"', ": ", '"', "'", "?", "sig=", "&", "<UserPassword>", "</UserPassword>", "=", '\\"',
    "protectedSettings", "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "{", "}", "[", "]",
    "Authorization: ", "AAAA", "&lt;", "&gt;", "customData", " ", "\n", "x", "<", ">", "Bearer ", "sv=1", ";",
    ",", "password", "AccountKey", MARK, "\\", ":", "x-ms-key", "SharedAccessSignature=", "https://a/b", "y", "n#",
])
# random text, and text made of the pieces the rules look for (found real bugs while writing these)
noise = st.one_of(st.text(max_size=60), st.lists(FRAGMENTS, max_size=8).map("".join))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ctx=st.sampled_from(CONTEXTS), data=st.data(), prefix=noise, suffix=noise)
def test_planted_secret_never_survives(ctx, data, prefix, suffix):
    template, alphabet = ctx
    secret = data.draw(_secret(alphabet))
    assume(secret not in prefix and secret not in suffix)
    # a separator keeps the random text from becoming part of the key name or the value
    text = prefix + " " + template.format(s=secret) + " " + suffix
    out = redact(text)
    assert secret not in out
    assert redact(out) == out


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_never_raises_and_is_idempotent(text):
    out = redact(text)
    assert isinstance(out, str)
    assert redact(out) == out


@settings(max_examples=500, deadline=None)
@given(st.lists(FRAGMENTS, max_size=40))
def test_hostile_fragments_are_idempotent(parts):
    text = "".join(parts)
    out = redact(text)
    assert redact(out) == out


ADVERSARIAL = [
    '"password"' * 6600, '"password": "' * 5000, "?sig=" * 13000, "sig=" * 16000, "sign=" * 13000,
    "<CustomData " * 5500, "<UserPassword>" * 4700, "&lt;UserPassword " * 3800, "password" * 8200 + "=",
    '\\"password\\": \\"' * 4000, "-----BEGIN PRIVATE KEY-----" * 2400, '"a":{' * 13000,
    "Authorization: " * 4300, "x-ms-key" * 8200, "A" * 65536, "A+/" * 21800 + "=", '"a": ' * 13000,
    "'password':" * 5900, "protectedSettings:" * 3600, "https://a/b?" * 5400, "{[" * 32000,
    "-----BEGIN KEY-----<redacted>" * 2200, "x-ms-key: " * 6600, 'password="' * 6600, "password=" * 7300,
    "SharedAccessSignature=" * 3000, '"a": "' * 11000,
    # session 6's finders: options, curl/sshpass command lines, user:pw@host, GitHub tokens, pwd keys
    " --" + "password" * 8000, " --a" + "-password" * 7000, "curl " * 13000, "curl -u " * 8000,
    "sshpass " * 8000, "sshpass -p" * 6500, "a:" * 32000 + "@", "a:b@" * 16000, " a" * 30000 + ":b@c",
    "ghp_" * 16000, "ghp_" + "a" * 65000, "github_pat_" * 6000, "Pwd=" * 16000, "_PWD=" * 13000,
    "pwd: " * 13000, "\u200b" * 65000 + "sig=x",
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=lambda s: repr(s[:14]))
def test_64k_adversarial_line_is_fast(text):
    assert len(text) >= 60000
    start = time.perf_counter()
    out = redact(text)
    assert time.perf_counter() - start < 1.0
    assert redact(out) == out


def test_scrub_prefilter_lists_every_hint():
    """scrub() spells its literals out for speed; they must stay those of _SCRUB_HINTS."""
    import inspect

    from loganalyzer.redact import _SCRUB_HINTS, needs_scrub
    src = inspect.getsource(needs_scrub)
    assert all(f'"{h}"' in src for h in _SCRUB_HINTS)


@pytest.mark.parametrize("text, secret", [
    ("password: hunter2xyz", "hunter2xyz"),
    ("  adminPassword: S3cret!", "S3cret!"),
    ("passwd: s3cretvalue", "s3cretvalue"),
    ('    password: "quoted secret"', "quoted secret"),
    ("chpasswd:\n  list: |\n    root:x\n  password: plainpw123", "plainpw123"),
])
def test_yaml_style_secret_keys_are_masked(text: str, secret: str) -> None:
    """cloud-init user data and config dumps write ``key: value``."""
    out = redact(text)
    assert secret not in out and MARK in out


@pytest.mark.parametrize("text", ["Password:  true", "password: n", "credentialType: none", "time: 12:00"])
def test_yaml_style_harmless_values_are_kept(text: str) -> None:
    assert redact(text) == text


# --- red team 5: forms that used to get through ------------------------------------------------------
@pytest.mark.parametrize("text, secret, kept", [
    # token= in text and in query strings, access_token
    ("upload failed token=TokSecret1 retry", "TokSecret1", "token=<redacted> retry"),
    ("GET https://x.example.com/api?token=TokSecret2&a=b", "TokSecret2", "?token=<redacted>&a=b"),
    ("GET https://x.example.com/api?a=1&token=TokSecret3", "TokSecret3", "&token=<redacted>"),
    ("https://login.example/cb?access_token=AccTok4&x=1", "AccTok4", "access_token=<redacted>&x=1"),
    ('{"access_token": "AccTok5", "expires_in": 3599}', "AccTok5", '"expires_in": 3599'),
    # commandToExecute (JSON, escaped JSON, k=v)
    ('{"commandToExecute": "mysql -u root -pCmdPw6 db", "fileUris": []}', "CmdPw6", '"fileUris": []'),
    ('settings={\\"commandToExecute\\": \\"echo CmdSecret7\\"}', "CmdSecret7", '\\"commandToExecute\\": \\"<redacted>\\"'),
    ("commandToExecute=CmdSecret8 rest", "CmdSecret8", "commandToExecute=<redacted> rest"),
    # URL-encoded SAS (once and twice)
    ("url=https%3A%2F%2Fa.blob.core.windows.net%2Fc%3Fsv%3D2020%26sig%3DEncSig9%252B%26se%3D1", "EncSig9",
     "%26sig%3D<redacted>%26se%3D1"),
    ("u=https%253A%252F%252Fa%252Fc%253Fsv%253D1%2526sig%253DEncSig10%2526se", "EncSig10", "sig%253D<redacted>%2526se"),
    # Python repr dicts
    ("{u'password': u'ReprPw11', u'user': u'bob'}", "ReprPw11", "u'password': u'<redacted>'"),
    ("{'protectedSettings': 'ReprPs12', 'n': 1}", "ReprPs12", "'protectedSettings': '<redacted>'"),
    ("{'protected_settings': 'ReprPs13'}", "ReprPs13", "'protected_settings': '<redacted>'"),
    ("{b'admin_password': b'ReprPw14'}", "ReprPw14", "b'admin_password': b'<redacted>'"),
    # snake_case spellings
    ("protected_settings=SnakePs15", "SnakePs15", "protected_settings=<redacted>"),
    ('"custom_data": "SnakeCd16"', "SnakeCd16", '"custom_data": "<redacted>"'),
    ("storage_account_key: SnakeKey17", "SnakeKey17", "storage_account_key: <redacted>"),
    # CDATA in secret elements
    ("<UserPassword><![CDATA[Cdata18]]></UserPassword>", "Cdata18", "<UserPassword><redacted></UserPassword>"),
    ("<ns1:CustomData><![CDATA[I2Nsb3VkLWNvbmZpZw19\n]]></ns1:CustomData>", "I2Nsb3VkLWNvbmZpZw19",
     "<ns1:CustomData><redacted></ns1:CustomData>"),
    ("<Settings><![CDATA[<UserPassword>Cdata20</UserPassword>]]></Settings>", "Cdata20", "<Settings><![CDATA["),
    ("<UserPassword><![CDATA[Cdata21 never closed", "Cdata21", "<UserPassword><redacted>"),
    # a bare bearer token
    ("call failed: Bearer eyJhbGciOi.eyJzdWIi.Sfl22 rest", "eyJhbGciOi", "Bearer <redacted> rest"),
    ("token: bearer AbCd1234efgh23", "AbCd1234efgh23", "bearer <redacted>"),
    # password:VALUE without a blank
    ("password:NoBlank24 next", "NoBlank24", "password:<redacted> next"),
    ("adminPassword:NoBlank25", "NoBlank25", "adminPassword:<redacted>"),
    # mysql -pPW (decided: masked, but only on a MySQL/MariaDB client command line)
    ("bash -c 'mysql -uroot -pMyPw26 db'", "MyPw26", "-p<redacted> db'"),
    ("mysqldump --single-transaction -pMyPw27 -h db > x.sql", "MyPw27", "-p<redacted> -h db"),
])
def test_red_team_forms_are_masked(text, secret, kept):
    out = redact(text)
    assert secret not in out
    assert kept in out
    assert redact(out) == out


@pytest.mark.parametrize("text", [
    "Password authentication is disabled",
    "token bucket refilled: 5 tokens",
    "max_tokens=5 tokens: 7",
    "the sig= parameter is missing from the URL",
    "Bearer token expired, requesting a new one",
    "using Bearer authentication.",
    "mysql -p db",  # prompts for the password
    "mysql -h db -P3306 -uroot",
    "ls -pa /var/lib/waagent; mkdir -p /tmp/x",
    "tar -cpf backup.tar /etc",
    "Password:",
    "password: n",
    "<Settings><![CDATA[{\"publicSettings\": {}}]]></Settings>",
    "commandToExecute: none",
    "u'name': u'bob'",
    "Enable completed (broken pipe ignored)",
])
def test_red_team_counter_examples_are_kept(text):
    assert redact(text) == text


def test_redact_data_redacts_keys_and_keeps_shape():
    data = {
        "extensions": {
            "Microsoft.Azure.RecoveryServices.VMSnapshotLinux": {"name": "a", "version": "1.0"},
            "X password=KeyPw1": {"name": "b"},
            'X "protectedSettings": "KeyPs2"': {"name": "c"},
            "X https://a/b?sv=1&sig=KeySig3": {"name": "d"},
            "X password=KeyPw4": {"name": "e"},  # collapses onto the first masked key
            "X password=KeyPw5": {"name": "f"},
        },
        "agent_status": "Ready", 7: "seven",
    }
    out = redact_data(data)
    text = repr(out)
    for s in ("KeyPw1", "KeyPs2", "KeySig3", "KeyPw4", "KeyPw5"):
        assert s not in text
    ext = out["extensions"]
    assert ext["Microsoft.Azure.RecoveryServices.VMSnapshotLinux"] == {"name": "a", "version": "1.0"}
    assert len(ext) == 6  # no value lost
    assert ext["X password=<redacted>"] == {"name": "b"}
    assert ext["X password=<redacted> (2)"] == {"name": "e"}
    assert ext["X password=<redacted> (3)"] == {"name": "f"}
    assert out["agent_status"] == "Ready" and out[7] == "seven"
    # ordinary field names are unchanged, order is kept
    plain = {"name": 1, "version": 2, "sig": 3, "password": "y", "token_type": "x", "seq_no": 4}
    assert list(redact_data(plain)) == list(plain)


def test_scrub_hints_are_digit_free_substring_checks():
    """fastpath masks digits before scanning for _SCRUB_HINTS: a digit in a hint would never match."""
    from loganalyzer.redact import _SCRUB_HINTS, needs_scrub
    assert _SCRUB_HINTS and all(h and not any(c in "0123456789" for c in h) for h in _SCRUB_HINTS)
    for h in _SCRUB_HINTS:
        assert needs_scrub("..." + h + "...")
    assert not needs_scrub("2024-01-14T22:16:03Z INFO ExtHandler Fetched goal state [incarnation 3]")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.lists(st.sampled_from(["sig", "=", "%", "assword", "token", "earer", "x", "ysql",
                                                          "ommandToExecute", "@", "ustom_data", "A"]),
                                         max_size=10).map("".join))
def test_needs_scrub_is_exactly_its_literals(text):
    from loganalyzer.redact import _SCRUB_HINTS, has_invisible, needs_scrub
    assert needs_scrub(text) == (any(h in text for h in _SCRUB_HINTS) or has_invisible(text))


_INVISIBLES = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2066", "\ufe0f",
               "\U000e0041", "\u180e", "\u061c", "\u034f"]


@pytest.mark.parametrize("mark", _INVISIBLES, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("template", ["?sv=2020&sig{z}=LEAKZW&se=1", "pass{z}word=LEAKZW", "Pass{z}word: LEAKZW",
                                      '"protected{z}Settings": "LEAKZW"', "Authori{z}zation: Bearer LEAKZW",
                                      "Account{z}Key=LEAKZW;"])
def test_invisible_characters_do_not_hide_a_secret(template, mark):
    """A zero-width space, joiner, soft hyphen, bidi control ... inside a key is removed, so the
    key is seen and its value masked; the text without a secret only loses the invisible character."""
    from loganalyzer.redact import needs_scrub
    text = "x " + template.format(z=mark) + " y"
    assert needs_scrub(text)
    out = redact(text)
    assert "LEAKZW" not in out and mark not in out
    assert redact(out) == out
    assert redact("Fail" + mark + "ed to x") == "Failed to x"


def test_every_invisible_character_is_seen_by_the_line_marker():
    """The fast path marks lines holding any byte sequence of INVISIBLE_UTF8_PREFIXES; every
    character redact() removes must start with one of them in UTF-8, or a line holding it would be
    read by the fast path without the redaction the slow path gives it."""
    from loganalyzer.redact import _INVISIBLE_RE, INVISIBLE_UTF8_PREFIXES, has_invisible
    found = 0
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        if _INVISIBLE_RE.match(c):
            found += 1
            assert c.encode().startswith(INVISIBLE_UTF8_PREFIXES), hex(cp)
            assert has_invisible("a" + c)
    assert found > 100
    assert not has_invisible("plain ASCII") and not has_invisible("Ünicode é ß – “quoted”")


# one template per red-team form: (template, alphabet of the secret)
NEW_CONTEXTS: list[tuple[str, str]] = [
    ("token={s}", ALNUM + "+/=-._~%"),
    ("https://x.example.com/api?token={s}", ALNUM + "+/=-._~%"),
    ("https://x.example.com/api?a=1&token={s}&b=2", ALNUM + "+/=-._~%"),
    ("https://login.example/cb#access_token={s}", ALNUM + "+/=-._~%"),
    ('{{"access_token": "{s}"}}', ALNUM + "+/=!#$%&()*,-.:;<>?@[]^_{|}~ '"),
    ('{{"commandToExecute": "{s}"}}', ALNUM + "+/=!#$%&()*,-.:;<>?@[]^_{|}~ '"),
    ("commandToExecute={s}", ALNUM + "+/=!#$%()*-.:<>?@[]^_{|}~"),
    ("url=https%3A%2F%2Fa.blob.core.windows.net%2Fc%3Fsv%3D2020%26sig%3D{s}%26se%3D1", ALNUM + "%-._~"),
    ("{{u'password': u'{s}'}}", ALNUM + "+/=!#$%&()*,-.:;<>?@[]^_{|}~ \""),
    ("{{'protectedSettings': '{s}'}}", ALNUM + "+/=!#$%&()*,-.:;<>?@[]^_{|}~ \""),
    ("{{'protected_settings': '{s}'}}", ALNUM + "+/=!#$%&()*,-.:;<>?@[]^_{|}~ \""),
    ("<UserPassword><![CDATA[{s}]]></UserPassword>", ALNUM + "+/=!#$%()*,-.:;?@[^_{|}~ '\"<>&"),
    ("Bearer {s}", ALNUM + "._-~+/"),
    ("custom_data={s}", ALNUM + "+/="),
    ("password:{s}", ALNUM + "+/=!#$%()*-.:>?@[]^_{|}~"),
    ("mysql -uroot -p{s} db", ALNUM + "+/=!#$%()*-.:<>?@[]^_{}~"),
]


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ctx=st.sampled_from(NEW_CONTEXTS), data=st.data(), prefix=noise, suffix=noise)
def test_planted_red_team_secret_never_survives(ctx, data, prefix, suffix):
    from loganalyzer.redact import needs_scrub
    template, alphabet = ctx
    secret = data.draw(_secret(alphabet))
    assume(secret not in prefix and secret not in suffix)
    text = prefix + " " + template.format(s=secret) + " " + suffix
    assert needs_scrub(text)  # the parsers' cheap pre-filter lets it through to redact()
    out = redact(text)
    assert secret not in out
    assert redact(out) == out


RED_ADVERSARIAL = [
    "<UserPassword><![CDATA[" * 2800, "<a><![CDATA[" * 5500, "Bearer a1" * 6700, "bearer " * 9400,
    "sig%3D" * 11000, "%26sig%3Da" * 6600, "mysql " * 11000, "mysql -p" * 8200, "token=" * 11000,
    "password:" * 7300, "{u'password': u'" * 4000,
]


@pytest.mark.parametrize("text", RED_ADVERSARIAL, ids=lambda s: repr(s[:14]))
def test_64k_adversarial_red_team_line_is_fast(text):
    assert len(text) >= 60000
    start = time.perf_counter()
    out = redact(text)
    assert time.perf_counter() - start < 1.0
    assert redact(out) == out


# --- GAFamily version of a damaged (recovered) ExtensionsConfig ---------------------------------------
def _ext_conf(version: str, decl: str = '<?xml version="1.0 x" encoding="utf-8"?>') -> bytes:
    return (f'{decl}<Extensions version="1.0.0.0" goalStateIncarnation="3"><GuestAgentExtension>'
            f'<GAFamilies><GAFamily><Name>Prod</Name><Version>{version}</Version></GAFamily></GAFamilies>'
            f'<Location>westeurope {version}</Location></GuestAgentExtension></Extensions>').encode()


@pytest.mark.parametrize("version, secret", [
    ("2.11.1.12 &lt;UserPassword&gt;GaPw1&lt;/UserPassword&gt;", "GaPw1"),
    ("2.11.1.12 &lt;CustomData&gt;GaCd2&lt;/CustomData&gt;", "GaCd2"),
    ("2.11.1.12 &quot;adminPassword&quot;:&quot;GaPw3&quot;", "GaPw3"),
    ("&lt;UserPassword&gt;&lt;![CDATA[GaPw4]]&gt;&lt;/UserPassword&gt;", "GaPw4"),
])
def test_gafamily_version_never_carries_a_secret(version, secret):
    from loganalyzer.parsers import ParseContext
    from loganalyzer.parsers.goal_state import parse_extensions_config
    ctx = ParseContext()
    list(parse_extensions_config(_ext_conf(version), "var/lib/waagent/ExtensionsConfig.3.xml", ctx))
    assert ctx.facts.requested_agent_version is None  # not a version: not shown at all
    assert any("GAFamily Version" in p.message for p in ctx.problems)
    # the recovered document kept its <>" so redaction still sees the secret elsewhere (Location)
    assert secret not in repr(redact_data({"facts": repr(ctx.facts), "problems": repr(ctx.problems)}))


def test_gafamily_plain_version_is_kept():
    from loganalyzer.parsers import ParseContext
    from loganalyzer.parsers.goal_state import parse_extensions_config
    for decl in ("", '<?xml version="1.0 x"?>'):  # well-formed and recovered
        ctx = ParseContext()
        list(parse_extensions_config(_ext_conf("2.13.1.1", decl), "var/lib/waagent/ExtensionsConfig.3.xml", ctx))
        assert ctx.facts.requested_agent_version == "2.13.1.1"


def test_scrub_screen_lets_every_hint_through():
    """needs_scrub turns a text away when none of _SCRUB_SCREEN is in it lower-cased: every hint,
    lower-cased, must hold one of them, and the function must spell out exactly those."""
    import inspect

    from loganalyzer.redact import _SCRUB_HINTS, _SCRUB_SCREEN, needs_scrub
    for h in _SCRUB_HINTS:
        assert any(s in h.lower() for s in _SCRUB_SCREEN), h
    src = inspect.getsource(needs_scrub)
    assert all(f'"{s}" in low' in src for s in _SCRUB_SCREEN)
    assert src.count(" in low") == len(_SCRUB_SCREEN)


_FRAGMENTS = ["sig", "=", "%", "SIG", "Sig", "pass", "word", "PASS", "WORD", "Protected", "Settings",
              "protected_settings", "custom", "Data", "USTOM", "_DATA", "private key", "PRIVATE KEY",
              "Account", "Key", "account_key", "SharedAccess", "Signature", "@", "Authorization", "x-ms-",
              "tok", "en", "EN", "Bearer", "BEARER", "commandTo", "Execute", "command_to_execute", "mysql",
              "MySQL", "MariaDB", "ariadb", " ", "İ", "ẞ", "Σ", "x"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12))
def test_needs_scrub_is_exactly_the_hint_check(parts):
    from loganalyzer.redact import _SCRUB_HINTS, needs_scrub
    text = "".join(parts)
    assert needs_scrub(text) == any(h in text for h in _SCRUB_HINTS)


@pytest.mark.parametrize("text, secret", [
    ("HttpProxy.Host=svc:LEAKA1@proxy.corp.example", "LEAKA1"),  # waagent.conf, no scheme
    ("proxy alice:LEAKA2@10.0.0.1:3128 refused", "LEAKA2"),
    ("Driver={ODBC Driver 17};Server=db;Uid=sa;Pwd=LEAKA3;", "LEAKA3"),
    ("curl -sS -u admin:LEAKA4 https://example.invalid/x", "LEAKA4"),
    ("curl --user admin:LEAKA5 https://example.invalid/x", "LEAKA5"),
    ("az vm create -n x --admin-password LEAKA6 --image y", "LEAKA6"),
    ("az login --service-principal -u app --password LEAKA7 --tenant t", "LEAKA7"),
    ("MYSQL_PWD=LEAKA8 mysql -u root", "LEAKA8"),
    ("sshpass -p LEAKA9 ssh root@host", "LEAKA9"),
    ("pwd: LEAKB1", "LEAKB1"),
    ("clone with ghp_LEAKB2abcdefghijklmnopqrstuvwxyz0123 done", "LEAKB2"),
    ("token github_pat_LEAKB3_abcdefghijklmnopqrstuvwxyz0123456789", "LEAKB3"),
    ("--client-secret LEAKB4 --tenant t", "LEAKB4"),
    ("passwd=LEAKB5", "LEAKB5"),
])
def test_red_team_8_secret_forms(text, secret):
    from loganalyzer.redact import needs_scrub
    assert needs_scrub(text)
    out = redact(text)
    assert secret not in out and "<redacted>" in out
    assert redact(out) == out


@pytest.mark.parametrize("text", [
    "PWD=/var/lib/waagent OLDPWD=/root", "Connecting to proxy 10.0.0.1:3128", "ssh git@github.com:org/repo.git",
    "--password-file /etc/secret.txt", "--no-password given", "Token refresh failed after 3 attempts",
    "mail admin@example.com: queued", "user@host:~$ ls",
])
def test_red_team_8_harmless_text_is_kept(text):
    assert redact(text) == text


def test_long_base64_is_masked_but_a_long_path_of_words_is_not():
    """Red team 8 (GNU long names): a 3 KB path of plain words was masked whole as if it were
    base64, so inputs and evidence lost their file names. Random bytes in base64 are still masked."""
    import base64
    import os
    blob = base64.b64encode(os.urandom(90)).decode()
    assert redact(f"key {blob} end") == "key <redacted> end"
    path = "var/log/" + "/".join(["longfoldername"] * 40) + "/waagent.log"
    assert redact(path) == path
    for _ in range(200):  # random base64 of 75+ bytes always holds a digit and both cases
        assert "<redacted>" in redact(base64.b64encode(os.urandom(75)).decode())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("n#yes<redacted> \"'\\=x")), max_size=700))
def test_keep_reads_a_bounded_start_and_never_keeps_more(value):
    """_keep_at reads at most KEEP_SCAN characters (password=n#password=n#... was quadratic): it
    agrees with _keep, except that it may mask a long value _keep would keep, never the reverse."""
    from loganalyzer.redact import _keep, _keep_at, KEEP_SCAN
    text = "password=" + value
    got = _keep_at(text, 9, len(text))
    if len(value) <= KEEP_SCAN:
        assert got == _keep(value)
    elif got:
        assert _keep(value)


@pytest.mark.parametrize("text, secret", [
    ("mysql --password=x ; export AZURE_STORAGE_KEY=LEAKC1 [stderr]", "LEAKC1"),
    ("AWS_SECRET_ACCESS_KEY='LEAKC2'", "LEAKC2"),
    ("azure_storage_key = \"LEAKC3\"", "LEAKC3"),
    ("DB_PASS=LEAKC4 ./run.sh", "LEAKC4"),
    ("SP_CREDENTIALS=LEAKC5", "LEAKC5"),
    ("StdErr: sshpass -p 'LEAKC6 x' ; commandToExecute=y", "LEAKC6"),
    ('sshpass -p "LEAKC7" ssh root@h', "LEAKC7"),
    ("Command output: chpasswd: root:LEAKC8 adminuser:LEAKC9", "LEAKC9"),
    ("cc_set_passwords.py[WARNING]: Failed to set passwords with chpasswd for ['root:LEAKD1']", "LEAKD1"),
    ("chpasswd -e <<< 'admin:LEAKD2'", "LEAKD2"),
    ("chpasswd:\n  list: |\n    root:LEAKD3\n    ubuntu:LEAKD4\n  expire: False", "LEAKD4"),
    ("sudo:  azureuser : COMMAND=/usr/bin/az login -u me -p LEAKD5 --tenant t", "LEAKD5"),
    ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=\nLEAKD6abc==;EndpointSuffix=core.windows.net", "LEAKD6"),
])
def test_red_team_18_secret_forms(text, secret):
    """Red team 18: an environment variable named like a secret, a quoted sshpass password, chpasswd's
    user:password lists, 'az login -p', an AccountKey= whose value is on the next line."""
    from loganalyzer.redact import needs_scrub
    assert needs_scrub(text)
    out = redact(text)
    assert secret not in out and MARK in out
    assert redact(out) == out and out.count("\n") == text.count("\n")  # the lines stay where they were


@pytest.mark.parametrize("text", [
    "SSH_PUBLIC_KEY=ssh-rsa AAAA", "MY_KEY_FILE=/etc/key.pem", "use_token=y", "AUTO_PASS=true",
    "chpasswd at 10:42 from http://x:8080/ path:/var/lib", "chpasswd:\n  list: |\n  expire: False",
    "password:\n  nested: yes", "az login --identity", "mkdir -p /var/lib/waagent",
])
def test_red_team_18_harmless_text_is_kept(text):
    assert redact(text) == text


@pytest.mark.parametrize("text", ["chpasswd a:b " * 4700, "X_KEY=" * 11000, "az login -p " * 5500, "AccountKey=\n" * 5500],
                         ids=lambda s: repr(s[:12]))
def test_64k_adversarial_red_team_18_line_is_fast(text):
    assert len(text) >= 50000
    t0 = time.perf_counter()
    out = redact(text)
    assert time.perf_counter() - t0 < 2.0 and redact(out) == out
