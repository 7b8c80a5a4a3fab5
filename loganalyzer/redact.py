"""Mask secrets in text before it leaves the tool (evidence lines, facts, messages).

:func:`redact` is applied by every renderer. It is idempotent, linear in the length of the
text (every pattern is bounded, no nested quantifiers) and never raises. What it masks::

    https://acct.blob.core.windows.net/c/b.status?sv=2018&sr=b&sig=AbC%3D   -> .../b.status?<redacted>
    ... sig=AbC%3D ...                                                       -> sig=<redacted>
    "password": "hunter2"        'adminPassword': 'x'                        -> "password": "<redacted>"
    \\"protectedSettings\\": \\"MIIB...\\"  (JSON inside a JSON string)       -> \\"protectedSettings\\": \\"<redacted>\\"
    <UserPassword>x</UserPassword>   <ns1:CustomData>...</ns1:CustomData>    -> <UserPassword><redacted></UserPassword>
    {u'password': u'x'}   {'protected_settings': '...'}   "commandToExecute": "..."  -> ...: u'<redacted>'
    <UserPassword><![CDATA[x]]></UserPassword>                                -> <UserPassword><redacted></UserPassword>
    password=x   password:x   token=x   ?access_token=x   AccountKey=abc==;  -> password=<redacted>
    Authorization: Bearer eyJ...   x-ms-encryption-key: ...                  -> Authorization: <redacted>
    Bearer eyJhbGciOi.eyJzdWIi  (a bare bearer token, anywhere)               -> Bearer <redacted>
    ...%3Fsv%3D2020%26sig%3DAbC%253D  (a URL-encoded SAS)                    -> ...%26sig%3D<redacted>
    mysql -uroot -pS3cret db   (the password option of the MySQL/MariaDB clients) -> mysql -uroot -p<redacted> db
    -----BEGIN RSA PRIVATE KEY----- ... -----END RSA PRIVATE KEY-----        -> -----BEGIN RSA PRIVATE KEY-----<redacted>-----END ...
    protectedSettings: MIIBzAYJKoZIhvcNAQcD...  and any base64 run of 100+ chars -> <redacted>

Every rule looks at the original text and names the spans to mask; the spans are merged and
replaced at the end, so one rule can never hide the context another rule needs. Boolean-like
values (``y``, ``n``, ``true``, ``false``, ``null``) are kept, so configuration such as
``Provisioning.DeleteRootPassword=y`` stays readable.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable, Iterator

from .textio import without_surrogates

MARK = "<redacted>"
_FAILED = "<redacted: text could not be checked for secrets>"

# words that make a key (JSON, XML, key=value) secret when contained in its name
_SECRET_WORDS = (
    "password", "passwd", "passphrase", "secret", "protectedsettings", "customdata",
    "accountkey", "sharedaccesskey", "sharedaccesssignature", "privatekey", "private_key",
    "apikey", "api_key", "accesskey", "access_key", "sastoken", "sas_token", "accesstoken",
    "access_token", "refreshtoken", "refresh_token", "authorization", "credential",
    # snake_case / kebab-case spellings (Python reprs, YAML, env dumps) of the keys above
    "protected_settings", "protected-settings", "custom_data", "custom-data", "account_key",
    "shared_access_key", "shared_access_signature",
    # a handler's command line: protected settings often carry one with credentials in it
    "commandtoexecute", "command_to_execute",
    # ODBC connection strings (Pwd=), MYSQL_PWD= (found as "_PWD": the shell's PWD= is a folder), "pwd: x"
    "_pwd", "pwd",
)
_SECRET_EXACT = {"sig", "signature", "token", "key", "sas", "userpassword"}
# key names that contain a secret word but name something harmless
_NOT_SECRET = ("thumbprint", "authentication", "passwordcryptid", "passwordcryptsaltlength", "oldpwd")
_KEEP_VALUES = {"y", "n", "yes", "no", "true", "false", "none", "null", "nil", "on", "off"}
_PREFILTER = tuple(_SECRET_WORDS) + ("sig", "token", "key", "sas", "signature")

Span = tuple[int, int, str]  # start, end, replacement


@functools.lru_cache(maxsize=4096)  # a report asks about the same few hundred field names
def is_secret_key(key: str) -> bool:
    """True when a field named ``key`` holds a secret (``adminPassword``, ``ns1:CustomData``)."""
    k = key.rsplit(":", 1)[-1].strip()
    if k in ("PWD", "OLDPWD"):  # the shell's working folder (env dumps), not ODBC's Pwd= or MYSQL_PWD
        return False
    k = k.lower()
    bare = k.replace("_", "").replace("-", "")  # protected_settings, user-password
    if not k or any(n in bare for n in _NOT_SECRET):
        return False
    return k in _SECRET_EXACT or bare in _SECRET_EXACT or any(w in k or w in bare for w in _SECRET_WORDS)


def _keep(value: str) -> bool:
    """Values that never hide a secret: empty, booleans, null, already masked, ``n#comment``."""
    v = value.strip().strip("\"'\\")
    if not v or v.startswith(MARK) or v.lower() in _KEEP_VALUES:
        return True
    head, sep, _ = v.partition("#")  # waagent.conf: "Provisioning.DecodeCustomData=n#comment"
    return bool(sep) and head.strip().lower() in _KEEP_VALUES


KEEP_SCAN = 256  # a longer value is kept only for what its start says (a mask, n#comment)


def _keep_at(text: str, pos: int, end: int) -> bool:
    """:func:`_keep` of ``text[pos:end]`` reading at most KEEP_SCAN characters of it: a value inside
    a kept ``n#...`` value runs to that one's end, and slicing it whole for every key made
    ``password=n#password=n#...`` quadratic (12,000 keys: 0.75 s; red team 13's loaded machine
    failed the 1 s guard). Never keeps what _keep would mask."""
    if end - pos <= KEEP_SCAN:
        return _keep(text[pos:end])
    v = text[pos:pos + KEEP_SCAN].lstrip().lstrip("\"'\\")
    if v.startswith(MARK):
        return True
    head, sep, _ = v.partition("#")
    return bool(sep) and head.strip().lower() in _KEEP_VALUES


def _always(key: str) -> bool:
    return True


# --- PEM blocks -------------------------------------------------------------------------------
# PEM (-----BEGIN RSA PRIVATE KEY-----) and SSH2 (---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----) blocks
_PEM_HEAD = re.compile(r"(?P<dash>-----|---- )BEGIN (?P<label>[A-Z0-9 ]{0,40}KEY[A-Z0-9 ]{0,20}?)(?P<tail>-----| ----)")
PEM_END = re.compile(r"(?:-----|---- )END [A-Z0-9 ]{0,40}KEY")


def _pem(text: str) -> Iterator[Span]:
    """The body of each ``-----BEGIN ... KEY-----`` (or SSH2 ``---- BEGIN ... KEY ----``) block, to its
    END line or the end of the text."""
    done = 0
    for h in _PEM_HEAD.finditer(text):
        if h.start() < done or text.startswith(MARK, h.end()):
            continue  # inside a masked block, or masked already
        footer = f"{h.group('dash')}END {h.group('label')}{h.group('tail')}"
        end = text.find(footer, h.end())
        end = len(text) if end < 0 else end + len(footer)
        yield h.end(), end, MARK + footer
        done = end


# --- URL query strings that carry a SAS ---------------------------------------------------------
_QUERY = re.compile(r"\?(?P<q>[^\s\"'<>#`]+)")
_SAS_PARAM = re.compile(r"(?:^|[&;?])(?:sig|se|st|sp|sv|sr|sk\w{0,8}|sip|spr|srt|ss|ske|sdd|rscc)=",
                        re.I)


def _query(text: str) -> Iterator[Span]:
    for m in _QUERY.finditer(text):
        if _SAS_PARAM.search(m.group("q")):
            yield m.start("q"), m.end("q"), MARK


# --- JSON / Python-repr  "key": value  and JSON inside a JSON string ------------------------------
_JSON = re.compile(
    r"(?P<kq>[\"'])(?P<key>[\w.:\-$@]{1,80})(?P=kq)\s*:\s*"
    r"(?:[uUbBrR]{0,2}\"(?P<d>(?:[^\"\\\n]|\\.)*)(?P<dc>\")?|[uUbBrR]{0,2}'(?P<s>(?:[^'\\\n]|\\.)*)(?P<sc>')?"
    r"|(?P<br>[{\[])|(?P<bare>[^\s,}\]\"']+))")
_EJSON = re.compile(
    r"(?P<kq>\\+\")(?P<key>[\w.:\-$@]{1,80})\\+\"\s*:\s*"
    r"(?:\\+\"(?P<d>(?:[^\"\\]|\\(?!\\*\"))*)(?P<dc>\\+\")?|(?P<bare>[^\s,}\]\\\"]+))")


def _bracket_end(text: str, start: int) -> int:
    """Index after the bracket group opened at ``start`` (string-aware); len(text) if unclosed."""
    depth, i, n, quote = 0, start, len(text), None
    while i < n:
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _json(rx: re.Pattern) -> Callable[[str], Iterator[Span]]:
    def find(text: str) -> Iterator[Span]:
        pos = 0
        while True:
            m = rx.search(text, pos)
            if m is None:
                return
            # go on behind the key even after a masked value: in a malformed line the "value"
            # may be the next key ("password": "password": "x"); masks overlap harmlessly
            pos = m.end("key") + 1
            if not is_secret_key(m.group("key")):
                continue
            if "br" in m.re.groupindex and m.group("br"):
                end = _bracket_end(text, m.start("br"))
                yield m.start("br"), end, f'"{MARK}"'
                pos = end
                continue
            for g in ("d", "s", "bare"):
                if g in m.re.groupindex and m.group(g) is not None:
                    if not _keep(m.group(g)):
                        yield m.start(g), m.end(g), MARK
                    break
    return find


# --- XML elements ------------------------------------------------------------------------------
_XML = re.compile(r"<(?P<tag>[\w.:\-]{1,80})(?:\s[^<>]{0,1000})?>(?:(?P<val>[^<]+)|(?P<cdata><!\[CDATA\[))")
_XML_ESC = re.compile(r"&lt;(?P<tag>[\w.:\-]{1,80})(?:\s(?:(?!&gt;)[^<>]){0,200})?&gt;"
                      r"(?P<val>(?:(?!&lt;)[^<])+)")


def _xml(rx: re.Pattern) -> Callable[[str], Iterator[Span]]:
    """``<Secret>value`` and ``<Secret><![CDATA[value]]>`` (the whole section is masked).

    A CDATA section is matched only up to its opening; its end is looked up for secret tags
    alone, and a tag inside a section already masked is skipped, so the scan stays linear.
    """
    cdata = "cdata" in rx.groupindex

    def find(text: str) -> Iterator[Span]:
        done = 0
        for m in rx.finditer(text):
            if m.start() < done or not is_secret_key(m.group("tag")):
                continue
            if cdata and m.group("cdata") is not None:
                end = text.find("]]>", m.end("cdata"))
                done = len(text) if end < 0 else end + 3
                yield m.start("cdata"), done, MARK
            elif not _keep(m.group("val")):
                yield m.start("val"), m.end("val"), MARK
    return find


# --- key=value, key: value headers --------------------------------------------------------------
_KV = re.compile(r"(?P<key>(?:" + "|".join(_SECRET_WORDS) + r"|sig|token)[\w.\-]{0,30})(?P<sep>[ \t]*=[ \t]*)",
                 re.I)
# YAML / "Key: value" (cloud-init user data, config dumps) and "password:x" (a colon, blanks or not)
_KV_COLON = re.compile(r"(?P<key>(?:" + "|".join(_SECRET_WORDS) + r")[\w.\-]{0,30})"
                       r"(?P<sep>:[ \t]*)", re.I)
_KV_VAL = re.compile(r"\"[^\"\n]*\"?|'[^'\n]*'?|(?:[^\s;,&\"'<]|<(?!/|redacted>))+")  # stops at a closing tag, a mask
_KV_SAS = re.compile(r"(?P<key>SharedAccessSignature)(?P<sep>[ \t]*=[ \t]*)", re.I)
_KV_SAS_VAL = re.compile(r"(?:[^\s;,\"'<]|<(?!redacted>))+")
_HEADER = re.compile(
    r"(?<![\w-])(?P<key>(?:proxy-)?authorization|x-ms-[\w-]{0,40}?(?:key|token|secret|signature"
    r"|authorization|password)[\w-]{0,20}|ocp-apim-subscription-key)"
    r"(?P<sep>[\"']?[ \t]*[:=][ \t]*[\"']?)", re.I)
_SCHEME = r"(?:bearer|basic|sharedkey|sharedkeylite|sharedaccesssignature|sas|negotiate)[ \t]"
_HEADER_SCHEME = re.compile(_SCHEME, re.I)
_HEADER_VAL = re.compile(r"(?:(?:bearer|basic|sharedkey|sharedkeylite|sharedaccesssignature|sas|negotiate)"
                         r"[ \t]+)?(?:[^\s\"',;}<]|<(?!redacted>))+", re.I)


def _kv(rx: re.Pattern, val_rx: re.Pattern, secret: Callable[[str], bool] = is_secret_key,
        starts: tuple[str, ...] = (), local: bool = False, unless: re.Pattern | None = None,
        tight: frozenset[str] = frozenset()) -> Callable[[str], Iterator[Span]]:
    """key=value: the value is matched only for secret keys, so ``sign=sign=...`` stays linear.

    ``local``: whether a value starting inside an unquoted value that was kept (``n#x``) ends
    where that one ends, so it need not be matched again (``password=n#password=n#...`` stays
    linear); ``unless`` names the starts for which that is not so (``Bearer x``).

    ``tight``: lower-case keys that are ordinary words too (``sig``, ``token``): for them a value
    is taken only right after a bare ``=`` (``token=x``, not ``the sig= parameter``).

    ``starts``: the lower-case words every match of ``rx`` begins with. In ASCII text the regex
    is then tried only where one occurs (what ``rx.search`` finds, without trying every offset
    of a case-insensitive alternation).
    """
    def matches(text: str) -> Iterator[re.Match]:
        pos = 0
        if starts and text.isascii():
            low = text.lower()
            at: set[int] = set()
            for word in starts:
                i = low.find(word)
                while i != -1:
                    at.add(i)
                    i = low.find(word, i + 1)
            for i in sorted(at):
                if i >= pos:
                    m = rx.match(text, i)
                    if m is not None:
                        yield m
                        pos = m.end()
            return
        while True:
            m = rx.search(text, pos)
            if m is None:
                return
            yield m
            pos = m.end()  # go on behind the separator: a value may be the next key

    def find(text: str) -> Iterator[Span]:
        masked_to = 0
        kept_to = -1  # end of the last unquoted value that was kept
        for m in matches(text):
            pos = m.end()
            if tight and m.group("sep") != "=" and m.group("key").lower() in tight:
                continue
            if pos >= masked_to and secret(m.group("key")):  # (a value inside a mask is masked)
                if local and pos < kept_to and not (unless and unless.match(text, pos)):
                    end = kept_to
                else:
                    v = val_rx.match(text, pos)
                    if v is None and text[pos:pos + 1] == "\n" and "=" in m.group("sep"):
                        at = pos + 1  # 'AccountKey=' ending a line: the value is on the next (red team 18)
                        while text[at:at + 1] in (" ", "\t"):
                            at += 1
                        v = val_rx.match(text, at)
                        pos = at  # the line break stays (evidence maps lines by it)
                    if v is None:
                        continue
                    end = v.end()
                if not _keep_at(text, pos, end):
                    yield pos, end, MARK
                    masked_to = end
                elif text[pos:pos + 1] not in ("\"", "'"):
                    kept_to = end
    return find


# --- sig= anywhere, base64 after protectedSettings, long base64 runs ----------------------------
_SIG = re.compile(r"(?<![A-Za-z0-9_])sig=(?P<val>[^\s&\"'<>;,]+)", re.I)
# a SAS inside a URL-encoded URL (url=https%3A%2F%2F...%3Fsv%3D..%26sig%3D...), also encoded twice;
# the value ends at an encoded '&' (%26, %2526)
_SIG_ENC = re.compile(r"(?:(?<![A-Za-z0-9_])|(?<=%26)|(?<=%3f)|(?<=%2526)|(?<=%253f))sig%(?:25)?3d"
                      r"(?P<val>(?:[^\s&\"'<>;,%]|%(?!26|2526)[0-9a-f]{2})+)", re.I)
# a bearer token anywhere (not only after "Authorization:"): RFC 6750 token characters, and at
# least a digit or an inner punctuation mark, so "Bearer token" / "Bearer authentication" stay
_BEARER = re.compile(r"(?<![\w-])bearer[ \t]+(?P<val>(?=[a-z]{0,200}(?:[0-9]|[._~+/\-][a-z0-9]))"
                     r"[a-z0-9._~+/\-]+=*)", re.I)
# the MySQL/MariaDB clients take the password glued to -p (mysql -uroot -pS3cret db); "-p" alone
# prompts, -P is the port. Looked for only in the rest of the command (up to ; | & or a newline).
_MYSQL = re.compile(r"\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b", re.I)
_MYSQL_END = re.compile(r"[\n;|&]")
_MYSQL_PW = re.compile(r"(?<=\s)-p(?!" + re.escape(MARK) + r")(?P<val>[^\s'\"`;|&]+)")


def _mysql(text: str) -> Iterator[Span]:
    """``-pPASSWORD`` options after a MySQL/MariaDB client name, within that command."""
    done = 0
    for m in _MYSQL.finditer(text):
        if m.start() < done:
            continue  # inside the command of an earlier client name (maybe in a masked value)
        end = _MYSQL_END.search(text, m.end())
        done = len(text) if end is None else end.start()
        for p in _MYSQL_PW.finditer(text, m.end(), done):
            yield p.start("val"), p.end("val"), MARK
_B64_AFTER = re.compile(
    r"(?:protectedsettings|customdata|userpassword|protected_settings|custom_data|user_password)[\s\"':=\\]{1,10}"
    r"(?P<val>(?:(?=[A-Za-z]*[0-9+/])[A-Za-z0-9+/]{8,}|[A-Za-z0-9+/]{20,})={0,2})(?![\w+/=])(?!" + re.escape(MARK) + ")", re.I)
_B64_LONG = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{100,}={0,2}")
_DIGIT = re.compile(r"[0-9]")


def _b64_long(text: str) -> Iterator[Span]:
    """Runs of 100+ base64 characters, except a path of words ("abc/def/ghi/...": three slashes,
    no digit, no '+'; base64 of 75 random bytes lacks a digit once in 25 million)."""
    for m in _B64_LONG.finditer(text):
        run = m.group()
        if run.count("/") >= 3 and "+" not in run and _DIGIT.search(run) is None:
            continue
        yield m.start(), m.end(), MARK


def without_long_base64(text: str | None) -> str | None:
    """``text`` with its runs of 100+ base64 characters masked (what :func:`redact` does to them).
    Records are redacted where a secret's hint is in them; a base64 settings blob has none (red team
    18: one that decodes to a password stayed whole in the events table)."""
    if not text or len(text) < 100 or _B64_LONG.search(text) is None:
        return text
    spans = list(_b64_long(text))
    return _apply(text, spans) if spans else text


def _group(rx: re.Pattern, name: str = "val") -> Callable[[str], Iterator[Span]]:
    def find(text: str) -> Iterator[Span]:
        for m in rx.finditer(text):
            yield m.start(name), m.end(name), MARK
    return find


def _whole(rx: re.Pattern) -> Callable[[str], Iterator[Span]]:
    def find(text: str) -> Iterator[Span]:
        for m in rx.finditer(text):
            yield m.start(), m.end(), MARK
    return find


# credentials in a URL: scheme://user:PASSWORD@host
_URL_CRED = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]{0,20}://[^/\s:@\"'<>]{1,200}:(?P<val>[^@\s/\"'<>]{1,200})@")

# credentials without a scheme: HttpProxy.Host=user:PASSWORD@proxy (waagent.conf), user:pw@host:port
_USERINFO = re.compile(r"(?<![\w/:.@%+-])[\w.%+-]{1,200}:(?P<val>[^@\s/\"'<>:]{1,200})@(?=[A-Za-z0-9\[])")
# command lines: curl -u user:PW, sshpass -p PW, --admin-password PW (an option whose name says so);
# every repeat is bounded: a 64 KiB line of "curl curl ..." or "--passwordpassword..." stays linear
_CURL_USER = re.compile(r"\bcurl\b[^\n;|&]{0,300}?\s(?:-u|--user)[ =]?[^\s:'\"]*:(?P<val>[^\s'\"]+)", re.I)
_ARG_VAL = r"(?P<val>'[^'\n]*'?|\"[^\"\n]*\"?|[^\s'\"]+)"  # a command's argument, quoted or not
_SSHPASS = re.compile(r"\bsshpass\b[^\n;|&]{0,300}?\s-p\s*" + _ARG_VAL, re.I)
# az login -p PW (--password is an _OPTION); within the command
_AZ_LOGIN = re.compile(r"\baz\s+login\b[^\n;|&]{0,300}?\s-p\s+" + _ARG_VAL, re.I)
# an environment variable named like a secret: AZURE_STORAGE_KEY=x, CLIENT_SECRET=x, GH_TOKEN=x
_ENV_SECRET = re.compile(r"(?<![\w-])(?P<key>[A-Za-z][A-Za-z0-9_]{0,60}_(?:key|secret|token|pass|credentials?))"
                         r"[ \t]*=[ \t]*(?P<val>\"[^\"\n]*\"?|'[^'\n]*'?|[^\s;,&\"'<]+)", re.I)
_ENV_NOT = ("public_key", "pub_key", "_key_file", "_key_path", "_token_file", "_token_path")
# chpasswd's user:password pairs (the command, cloud-init's 'chpasswd: list' and its failure text),
# in the 2,000 characters after the word; a value starting with '/' is a path or URL
_CHPASSWD_PAIR = re.compile(r"(?<![\w./:@-])[a-z_][a-z0-9_.-]{0,31}:(?P<val>(?![/\s])[^\s'\",\]\)]+)")


def _env_secret(text: str) -> Iterator[Span]:
    for m in _ENV_SECRET.finditer(text):
        key = m.group("key").lower()
        if not key.endswith(_ENV_NOT) and "public" not in key and not _keep(m.group("val")):
            yield m.start("val"), m.end("val"), MARK


def _chpasswd(text: str) -> Iterator[Span]:
    done = 0
    low = text.lower()
    i = low.find("chpasswd")
    while i != -1:
        start = max(i + 8, done)
        done = min(len(text), i + 2000)
        for m in _CHPASSWD_PAIR.finditer(text, start):
            if m.start() >= done:
                break  # a pair that starts in the window is taken whole (a cut one would mask a mask)
            if not _keep(m.group("val")):
                yield m.start("val"), m.end("val"), MARK
        i = low.find("chpasswd", done)
_OPTION = re.compile(r"(?<![\w-])(?P<name>--?[\w-]{0,40}?(?:password|passwd|pwd|passphrase|secret|token)[\w-]{0,40})[ \t]+"
                     r"(?!-)(?P<val>[^\s'\"]+)", re.I)
_OPTION_NOT = ("file", "path", "dir", "length", "policy", "prompt", "stdin", "env", "type", "name")


def _option(text: str) -> Iterator[Span]:
    """The value after ``--admin-password``, ``-secret`` ... (not after --password-file, --no-...)."""
    for m in _OPTION.finditer(text):
        name = m.group("name").lower()
        if not name.startswith("--no-") and not name.endswith(_OPTION_NOT):
            yield m.start("val"), m.end("val"), MARK


# GitHub tokens (personal, OAuth, user-to-server, server-to-server, refresh; fine-grained)
_GITHUB = re.compile(r"\b(?:gh[pousr]_|github_pat_)[A-Za-z0-9_]{30,}")

# (words of which one must occur in the lower-cased text, a finder of spans to mask)
_FINDERS: list[tuple[tuple[str, ...], Callable[[str], Iterator[Span]]]] = [
    (("-----begin", "---- begin"), _pem),
    (("?",), _query),
    (_PREFILTER, _json(_JSON)),
    (_PREFILTER, _json(_EJSON)),
    (_PREFILTER, _xml(_XML)),
    (("&lt;",), _xml(_XML_ESC)),
    (("protectedsettings", "customdata", "userpassword", "protected_settings", "custom_data", "user_password"),
     _group(_B64_AFTER)),
    (("authorization", "x-ms-", "ocp-apim"),
     _kv(_HEADER, _HEADER_VAL, _always, ("proxy-authorization", "authorization", "x-ms-", "ocp-apim-subscription-key"),
         local=True, unless=_HEADER_SCHEME)),
    (("sharedaccesssignature",), _kv(_KV_SAS, _KV_SAS_VAL, starts=("sharedaccesssignature",), local=True)),
    (_PREFILTER, _kv(_KV, _KV_VAL, starts=tuple(_SECRET_WORDS) + ("sig", "token"), local=True,
                          tight=frozenset({"sig", "token"}))),
    (tuple(_SECRET_WORDS), _kv(_KV_COLON, _KV_VAL, local=True)),
    (("sig=",), _group(_SIG)),
    (("sig%3d", "sig%253d"), _group(_SIG_ENC)),
    (("bearer",), _group(_BEARER)),
    (("mysql", "mariadb"), _mysql),
    (("@",), _group(_URL_CRED)),
    (("@",), _group(_USERINFO)),
    (("curl",), _group(_CURL_USER)),
    (("sshpass",), _group(_SSHPASS)),
    (("az ", "az\t"), _group(_AZ_LOGIN)),
    (("_key", "_secret", "_token", "_pass", "_credential"), _env_secret),
    (("chpasswd",), _chpasswd),
    (("assword", "asswd", "pwd", "passphrase", "secret", "token"), _option),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), _whole(_GITHUB)),
]


def _apply(text: str, spans: list[Span]) -> str:
    """Replace the spans; overlapping or touching spans become one ``<redacted>``."""
    spans.sort(key=lambda s: (s[0], -s[1]))
    out: list[str] = []
    pos = 0
    cur: list = []
    for start, end, repl in spans:
        if end <= start:
            continue
        if cur and start <= cur[1]:
            if end > cur[1]:
                cur[1], cur[2] = end, MARK
            continue
        if cur:
            out.append(text[pos:cur[0]] + cur[2])
            pos = cur[1]
        cur = [start, end, repl]
    if cur:
        out.append(text[pos:cur[0]] + cur[2])
        pos = cur[1]
    out.append(text[pos:])
    return "".join(out)


def _finder_scanner():
    """One Aho-Corasick automaton over every finder's trigger words: one scan picks the finders to run."""
    import ahocorasick
    by_word: dict[str, set[int]] = {}
    for i, (words, _) in enumerate(_FINDERS):
        for w in words:
            by_word.setdefault(w, set()).add(i)
    automaton = ahocorasick.Automaton()
    for w, idxs in by_word.items():
        automaton.add_word(w, tuple(sorted(idxs)))
    automaton.make_automaton()
    return automaton


_SCANNER = _finder_scanner()


# Format characters nobody sees (zero-width spaces and joiners, bidi controls, the soft hyphen,
# variation selectors, tags). Inside a key they would hide a secret from every rule
# (``sig\u200b=AbC``), so :func:`redact` removes them and :func:`needs_scrub` says yes to any text
# that holds one. The UTF-8 form of each starts with one of INVISIBLE_UTF8_PREFIXES: the fast
# path's line marker looks for these, so such a line is read the slow way (tests check both).
_INVISIBLE_RE = re.compile("[\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
                           "\ufe00-\ufe0f\ufeff\U000e0000-\U000e0fff]")
INVISIBLE_UTF8_PREFIXES = (b"\xc2\xad", b"\xcd\x8f", b"\xd8\x9c", b"\xe1\xa0\x8e", b"\xe2\x80", b"\xe2\x81",
                           b"\xef\xb8", b"\xef\xbb\xbf", b"\xf3\xa0")


def has_invisible(text: str) -> bool:
    """True when ``text`` holds a character of :data:`_INVISIBLE_RE` (never for ASCII text)."""
    return not text.isascii() and _INVISIBLE_RE.search(text) is not None


def redact(text: str) -> str:
    """Return ``text`` with every secret replaced by ``<redacted>``. Never raises."""
    try:
        if text is None:
            return ""
        if not isinstance(text, str):
            text = str(text)
        if not text:
            return text
        text = without_surrogates(text)
        if not text.isascii():
            text = _INVISIBLE_RE.sub("", text)
        active: set[int] = set()
        for _, idxs in _SCANNER.iter(text.lower()):
            active.update(idxs)
        spans: list[Span] = []
        for i in sorted(active):
            spans.extend(_FINDERS[i][1](text))
        if len(text) >= 100:
            spans.extend(_b64_long(text))
        return _apply(text, spans) if spans else text
    except Exception:  # pragma: no cover - defensive: a bug here must not leak the text
        return _FAILED


# literals one of which every secret a log line can carry contains (case-sensitive, cheap).
# No literal contains an ASCII digit: the fast path (fastpath.py) masks digits before it looks.
_SCRUB_HINTS = ("sig=", "SIG=", "Sig=", "sig%", "SIG%", "Sig%", "assword", "ASSWORD", "rotectedSettings",
                "rotected_settings", "ROTECTED", "ustomData", "ustom_data", "USTOMDATA", "USTOM_DATA",
                "PRIVATE KEY", "AccountKey", "ccountKey", "ccount_key", "SharedAccessSignature", "@",
                "uthorization", "x-ms-", "token", "Token", "TOKEN", "earer", "EARER",
                "ommandToExecute", "ommandtoexecute", "ommand_to_execute", "OMMANDTOEXECUTE", "ysql",
                "YSQL", "ariadb", "ARIADB", "pwd", "Pwd", "PWD", "curl", "sshpass", "ecret", "ECRET", "asswd",
                "ASSWD", "assphrase", "ASSPHRASE", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
                "_KEY", "_key", "_PASS", "_pass", "_CREDENTIAL", "_credential", "az login")


# lower-case literals one of which every hint, lower-cased, contains (tests/test_redact.py checks it)
_SCRUB_SCREEN = ("sig=", "sig%", "assword", "rotected", "ustom", "private key", "ccountkey", "ccount_key",
                 "sharedaccesssignature", "@", "uthorization", "x-ms-", "token", "earer", "ommandto",
                 "ommand_to", "ysql", "ariadb", "pwd", "curl", "sshpass", "ecret", "asswd", "assphrase", "ghp_",
                 "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "_key", "_pass", "_credential", "az login")


def scrub(text: str) -> str:
    """:func:`redact` behind a cheap literal pre-filter: what parsers call on every record."""
    return redact(text) if needs_scrub(text) else text


def needs_scrub(text: str) -> bool:
    """True when ``text`` contains a literal that every secret a log line can carry contains
    (one of :data:`_SCRUB_HINTS`, case as written). Most texts have none: they are turned away by
    :data:`_SCRUB_SCREEN` on the lower-cased text (half the searches, each hint holds one)."""
    if not text:
        return False
    low = text.lower()
    if not ("sig=" in low or "sig%" in low or "assword" in low or "rotected" in low or "ustom" in low
            or "private key" in low or "ccountkey" in low or "ccount_key" in low
            or "sharedaccesssignature" in low or "@" in low or "uthorization" in low or "x-ms-" in low
            or "token" in low or "earer" in low or "ommandto" in low or "ommand_to" in low
            or "ysql" in low or "ariadb" in low or "pwd" in low or "curl" in low or "sshpass" in low
            or "ecret" in low or "asswd" in low or "assphrase" in low or "ghp_" in low or "gho_" in low
            or "ghu_" in low or "ghs_" in low or "ghr_" in low or "github_pat_" in low or "_key" in low
            or "_pass" in low or "_credential" in low or "az login" in low):
        return not text.isascii() and _INVISIBLE_RE.search(text) is not None  # has_invisible, inlined
    return ("sig=" in text or "SIG=" in text or "Sig=" in text or "sig%" in text or "SIG%" in text
        or "Sig%" in text or "assword" in text or "ASSWORD" in text or "rotectedSettings" in text
        or "rotected_settings" in text or "ROTECTED" in text or "ustomData" in text or "ustom_data" in text
        or "USTOMDATA" in text or "USTOM_DATA" in text or "PRIVATE KEY" in text or "AccountKey" in text
        or "ccountKey" in text or "ccount_key" in text or "SharedAccessSignature" in text or "@" in text
        or "uthorization" in text or "x-ms-" in text or "token" in text or "Token" in text
        or "TOKEN" in text or "earer" in text or "EARER" in text or "ommandToExecute" in text
        or "ommandtoexecute" in text or "ommand_to_execute" in text or "OMMANDTOEXECUTE" in text
        or "ysql" in text or "YSQL" in text or "ariadb" in text or "ARIADB" in text or "pwd" in text
        or "Pwd" in text or "PWD" in text or "curl" in text or "sshpass" in text or "ecret" in text
        or "ECRET" in text or "asswd" in text or "ASSWD" in text or "assphrase" in text or "ASSPHRASE" in text
        or "ghp_" in text or "gho_" in text or "ghu_" in text or "ghs_" in text or "ghr_" in text
        or "github_pat_" in text or "_KEY" in text or "_key" in text or "_PASS" in text or "_pass" in text
        or "_CREDENTIAL" in text or "_credential" in text or "az login" in text or has_invisible(text))


def redact_data(obj: Any, _key: str | None = None, _depth: int = 0) -> Any:
    """Redact every string inside dicts/lists/tuples; a value under a secret key is masked whole.

    String keys are redacted too (an extension name is a key and comes from the bundle);
    ordinary field names come out unchanged. Should two keys become the same, the later one
    gets a `` (2)`` suffix, so no value is lost. Non-string scalars are returned unchanged.
    """
    try:
        if _depth > 50:
            return MARK
        if isinstance(obj, str):
            if _key is not None and is_secret_key(_key) and not _keep(obj):
                return MARK
            return redact(obj)
        if isinstance(obj, dict):
            out: dict = {}
            for k, v in obj.items():
                value = redact_data(v, str(k), _depth + 1)
                key = redact(k) if isinstance(k, str) else k
                if key in out:
                    n = 2
                    while f"{key} ({n})" in out:
                        n += 1
                    key = f"{key} ({n})"
                out[key] = value
            return out
        if isinstance(obj, (list, tuple)):
            return [redact_data(v, _key, _depth + 1) for v in obj]
        if _key is not None and is_secret_key(_key) and isinstance(obj, (int, float)) \
                and not isinstance(obj, bool):
            return MARK
        return obj
    except Exception:  # pragma: no cover - defensive
        return MARK
