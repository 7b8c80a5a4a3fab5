"""The cause catalogue (patterns/causes.toml) and its loader (loganalyzer/causes.py)."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loganalyzer.causes import (
    BENIGN_ID, CAUSE_IDS, DETECTABLE, LANGS, Cause, CatalogueError, clear_cache, load_causes,
)
from loganalyzer.model import SEVERITIES
from loganalyzer.paths import patterns_dir

SHARED = Path(__file__).resolve().parents[2] / "shared"
CAUSES_MD = SHARED / "reference" / "causes.md"
BACKUP_MD = SHARED / "reference" / "backup-extension.md"

CATALOGUE = load_causes()
ALL_IDS = sorted(CATALOGUE)

# Word-level heuristics: English stop words must not survive in German prose and vice versa.
# Backticked spans (commands, keys, verbatim log text) are exempt: they stay in English.
EN_STOP = re.compile(r"\b(?:the|and|is|are|of|with|for|this|that|not|from|which|when|be|has|"
                     r"have|you|your|will|cannot|must|should|its|it|to|or|on|by)\b", re.I)
DE_STOP = re.compile(r"\b(?:und|der|die|das|nicht|Sie|ist|mit|für|wird|oder|eine?|auf)\b")
DE_MARKER = re.compile(r"\b(?:der|die|das|und|Sie|ist|den|dem|sich)\b")
PLACEHOLDER = re.compile(r"\b(?:TODO|TBD|FIXME|XXX|lorem)\b|\?\?\?", re.I)


def prose(text: str) -> str:
    """The text without `code` spans and URLs."""
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"https?://\S+", " ", text)


def reference_ids() -> list[str]:
    """The backticked IDs in the first column of causes.md's tables."""
    if not CAUSES_MD.exists():
        pytest.skip("shared/ not available")
    ids = re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", CAUSES_MD.read_text(encoding="utf-8"), re.M)
    assert len(ids) >= 20, "causes.md table format changed?"
    return ids


# -- the vocabulary ------------------------------------------------------------------------------

def test_every_reference_id_is_catalogued_and_public():
    ids = reference_ids()
    missing = [i for i in ids if i not in CATALOGUE]
    assert not missing, f"not in causes.toml: {missing}"
    assert set(ids) == set(CAUSE_IDS), "CAUSE_IDS drifted from causes.md"
    assert len(ids) == len(set(ids))


def test_catalogue_is_exactly_the_vocabulary_plus_benign():
    assert set(CATALOGUE) == set(CAUSE_IDS) | {BENIGN_ID}
    assert BENIGN_ID not in CAUSE_IDS
    assert CATALOGUE[BENIGN_ID].benign and CATALOGUE[BENIGN_ID].severity == "info"
    assert not any(CATALOGUE[i].benign for i in CAUSE_IDS)


def test_article_causes_have_the_documented_detectability():
    expect = {"no-internet-access": "yes", "agent-unresponsive-windows": "no",
              "agent-outdated": "yes", "snapshot-status-unavailable": "yes",
              "vm-state-misreported": "no", "dhcp-245-missing": "yes",
              "extension-load-failure": "yes", "restore-point-limit": "partly"}
    assert {i: CATALOGUE[i].detectable for i in expect} == expect


def test_blocking_causes_are_critical():
    for cid in ("extensions-disabled", "agent-not-running", "provisioning-failed",
                "agent-crash-loop", "wireserver-unreachable"):
        assert CATALOGUE[cid].severity == "critical", cid


# -- every entry ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cid", ALL_IDS)
def test_entry_is_complete_in_both_languages(cid):
    cause = CATALOGUE[cid]
    assert cause.id == cid
    for lang in LANGS:
        for name in ("title", "explanation"):
            assert cause.text(name, lang).strip(), f"{cid} {name}.{lang}"
            assert cause.text(name, lang) == getattr(cause, name)[lang]  # no silent fallback
        assert cause.steps(lang) and all(s.strip() for s in cause.steps(lang))
        assert cause.solution[lang] == cause.steps(lang)
    assert len(cause.steps("en")) == len(cause.steps("de")), f"{cid}: step count differs"
    assert cause.title["de"] != cause.title["en"]
    assert cause.explanation["de"] != cause.explanation["en"]
    assert all(d != e for d, e in zip(cause.steps("de"), cause.steps("en")))


@pytest.mark.parametrize("cid", ALL_IDS)
def test_german_has_no_leftover_english(cid):
    cause = CATALOGUE[cid]
    texts = [cause.title["de"], cause.explanation["de"], *cause.steps("de")]
    if "de" in cause.check_instead:
        texts.append(cause.check_instead["de"])
    for text in texts:
        found = EN_STOP.findall(prose(text))
        assert not found, f"{cid}: English words {found} in German text: {text[:80]}"
        assert not PLACEHOLDER.search(text), f"{cid}: placeholder in {text[:80]}"
    assert DE_MARKER.search(prose(cause.explanation["de"])), f"{cid}: explanation.de not German?"


@pytest.mark.parametrize("cid", ALL_IDS)
def test_english_has_no_german(cid):
    cause = CATALOGUE[cid]
    texts = [cause.title["en"], cause.explanation["en"], *cause.steps("en"),
             cause.check_instead.get("en", "")]
    for text in texts:
        assert not DE_STOP.findall(prose(text)), f"{cid}: German words in English text: {text[:80]}"
        assert not PLACEHOLDER.search(text), f"{cid}: placeholder in {text[:80]}"
        assert not re.search(r"[äöüß]", prose(text)), f"{cid}: umlaut in English text"


@pytest.mark.parametrize("cid", ALL_IDS)
def test_metadata_is_valid(cid):
    cause = CATALOGUE[cid]
    assert cause.detectable in DETECTABLE
    assert cause.severity in SEVERITIES
    assert cause.docs, f"{cid}: no documentation link"
    for url in cause.docs:
        assert re.fullmatch(r"https://[a-z0-9.-]+\.[a-z]{2,}/\S*", url), url
    assert len(set(cause.docs)) == len(cause.docs)
    for code in cause.portal_errors:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]+", code), code
    for step in cause.steps("en") + cause.steps("de"):
        assert not re.match(r"\d+[.)]\s", step), f"{cid}: steps are numbered by the renderer"
    # explanations are short prose: 2-6 sentences
    assert 2 <= len(re.findall(r"[.!?](?:\s|$)", prose(cause.explanation["en"]))) <= 6, cid


@pytest.mark.parametrize("cid", ALL_IDS)
def test_undetectable_causes_say_what_to_check_instead(cid):
    cause = CATALOGUE[cid]
    if cause.detectable == "yes":
        assert not cause.check_instead, f"{cid}: check_instead only for causes a bundle cannot show"
        return
    for lang in LANGS:
        assert cause.check_instead.get(lang, "").strip(), f"{cid}: check_instead.{lang}"
    assert cause.check_instead["de"] != cause.check_instead["en"]


def test_portal_codes_exist_in_the_reference():
    if not BACKUP_MD.exists():
        pytest.skip("shared/ not available")
    reference = BACKUP_MD.read_text(encoding="utf-8")
    for cause in CATALOGUE.values():
        for code in cause.portal_errors:
            assert code in reference, f"{cause.id}: {code} is not a documented portal error"


def test_facts_from_the_references_are_in_the_texts():
    def en(cid: str) -> str:
        c = CATALOGUE[cid]
        return " ".join([c.explanation["en"], *c.steps("en")])

    assert "2.2.53.1" in en("agent-outdated")
    assert "AutoUpdate.Enabled=y" in en("agent-outdated")
    for port in ("80", "32526"):
        assert port in en("wireserver-unreachable")
    assert "unknown-245" in en("dhcp-245-missing")
    assert "Extensions.Enabled=y" in en("extensions-disabled")
    assert "/etc/environment" in en("proxy-misconfigured")
    assert "HttpProxy.Host" in en("proxy-misconfigured")
    assert "18" in en("restore-point-limit")
    assert "Uninstall" in en("extension-load-failure")
    assert "walinuxagent" in en("agent-not-running") and "waagent" in en("agent-not-running")


# -- the Cause API -------------------------------------------------------------------------------

def test_text_and_steps_fall_back_to_english():
    cause = CATALOGUE["extensions-disabled"]
    assert cause.text("title", "fr") == cause.title["en"]
    assert cause.steps("fr") == cause.steps("en")
    assert cause.text("check_instead", "de") == ""
    numbered = cause.text("solution", "de").splitlines()
    assert numbered[0].startswith("1. ") and len(numbered) == len(cause.steps("de"))
    with pytest.raises(ValueError):
        cause.text("severity")


def test_cause_is_frozen_hashable_and_serialisable():
    import json

    cause = CATALOGUE["disk-full"]
    assert isinstance(cause, Cause)
    with pytest.raises(AttributeError):
        cause.severity = "info"  # type: ignore[misc]
    assert hash(cause) == hash(load_causes()["disk-full"])
    data = json.loads(json.dumps(cause.to_dict()))
    assert data["id"] == "disk-full" and data["solution"]["de"]
    assert json.loads(json.dumps(cause.to_dict("de")))["title"] == cause.title["de"]


def test_patterns_dir_holds_the_catalogue():
    assert (patterns_dir() / "causes.toml").is_file()


def test_load_returns_a_fresh_dict_from_the_cache():
    first = load_causes()
    first.pop("disk-full")
    assert "disk-full" in load_causes()


# -- user catalogues and errors ------------------------------------------------------------------

def test_extra_catalogue_overrides_fields_and_adds_causes(tmp_path):
    (tmp_path / "causes.toml").write_text(
        '[cause.disk-full]\n'
        'severity = "error"\n'
        'title.de = "Platte voll"\n'
        '\n'
        '[cause.site-specific]\n'
        'detectable = "yes"\n'
        'severity = "warning"\n'
        'docs = ["https://example.org/runbook"]\n'
        'title.en = "Our own cause"\n'
        'explanation.en = "Something local."\n'
        'solution.en = ["Call the on-call team."]\n',
        encoding="utf-8")
    merged = load_causes(tmp_path)
    assert merged["disk-full"].severity == "error"
    assert merged["disk-full"].title["de"] == "Platte voll"
    assert merged["disk-full"].title["en"] == CATALOGUE["disk-full"].title["en"]  # kept
    assert merged["disk-full"].steps("de") == CATALOGUE["disk-full"].steps("de")
    assert merged["site-specific"].text("title", "de") == "Our own cause"  # English fallback
    assert load_causes()["disk-full"].severity == "critical"  # built-in unchanged


def test_extra_folder_without_causes_file_gives_the_builtin(tmp_path):
    assert load_causes(tmp_path).keys() == CATALOGUE.keys()


def test_broken_toml_names_file_and_line(tmp_path):
    bad = tmp_path / "causes.toml"
    bad.write_text('[cause.disk-full]\nseverity = "error"\ntitle.en = "unterminated\n',
                   encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_causes(tmp_path)
    message = str(err.value)
    assert err.value.line == 3
    assert f"{bad}:3:" in message and "\n" not in message
    assert "TOML" in message


@pytest.mark.parametrize("body, needle", [
    ('[cause.disk-full]\n\nseverity = "fatal"\n', "severity"),
    ('[cause.disk-full]\ndetectable = "maybe"\n', "detectable"),
    ('[cause.disk-full]\ndocs = "https://x.org"\n', "docs"),
    ('[cause.disk-full]\ndocs = ["ftp://x.org/a"]\n', "docs"),
    ('[cause.disk-full]\ncolour = "red"\n', "unknown key"),
    ('[cause.Disk_Full]\nseverity = "error"\n', "IDs"),
    ('[cause.new-one]\nseverity = "error"\ndetectable = "yes"\n', "title.en"),
    ('[rule.x]\na = 1\n', "top-level"),
])
def test_schema_errors_are_catalogue_errors(tmp_path, body, needle):
    (tmp_path / "causes.toml").write_text("# user catalogue\n" + body, encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_causes(tmp_path)
    assert needle in str(err.value)
    if body.startswith("[cause."):
        assert err.value.line == 2, str(err.value)  # the table's header line


def test_non_utf8_and_missing_files(tmp_path):
    (tmp_path / "causes.toml").write_bytes(b'[cause.disk-full]\ntitle.en = "\xff"\n')
    with pytest.raises(CatalogueError, match=r":2: not valid UTF-8"):
        load_causes(tmp_path)
    with pytest.raises(CatalogueError, match="cannot read"):
        load_causes(tmp_path / "nope.toml")


def test_edited_file_is_reloaded(tmp_path):
    f = tmp_path / "causes.toml"
    f.write_text('[cause.disk-full]\nseverity = "error"\n', encoding="utf-8")
    assert load_causes(tmp_path)["disk-full"].severity == "error"
    f.write_text('[cause.disk-full]\nseverity = "warning"   # edited\n', encoding="utf-8")
    assert load_causes(tmp_path)["disk-full"].severity == "warning"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=300),
    st.builds(lambda k, v: f"[cause.disk-full]\n{k} = {v}\n",
              st.sampled_from(["severity", "detectable", "docs", "title", "title.en",
                               "solution", "solution.de", "portal_errors", "check_instead"]),
              st.sampled_from(['"x"', "1", "[]", "[1]", '["a"]', "{}", '{en = 1}',
                               '{en = ["a"]}', "true", '"https://a.b/c"'])),
))
def test_any_user_file_loads_or_raises_catalogue_error(body):
    clear_cache()
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "causes.toml").write_text(body, encoding="utf-8", errors="surrogatepass")
        try:
            result = load_causes(d)
        except CatalogueError as exc:
            assert "\n" not in str(exc)
        else:
            assert set(CAUSE_IDS) <= set(result)
            assert all(isinstance(c, Cause) for c in result.values())
