"""Every pattern of the built-in library: examples match, counter-examples do not, regexes are safe."""
from __future__ import annotations

import fnmatch

import pytest
import regex
from hypothesis import HealthCheck, given, settings, strategies as st

from loganalyzer.causes import load_causes
from loganalyzer.inputs import KINDS
from loganalyzer.patterns import PatternError, _fast_enough, check_pattern, load_file, load_library
from loganalyzer.rules import load_rules

LIB = load_library()
CAUSES = load_causes()


def test_library_is_not_empty():
    assert len(LIB.patterns) >= 50


def test_every_builtin_regex_compiles():
    for p in LIB.patterns:
        assert p.compiled.pattern == p.regex


def test_ids_are_unique_across_files():
    ids = [p.id for p in LIB.patterns]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("pattern", LIB.patterns, ids=lambda p: p.id)
def test_pattern_examples(pattern):
    failures = check_pattern(pattern)
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.parametrize("pattern", LIB.patterns, ids=lambda p: p.id)
def test_pattern_metadata(pattern):
    assert all(k in KINDS for k in pattern.inputs), pattern.inputs
    assert all(c in CAUSES for c in pattern.causes), pattern.causes
    assert not (pattern.benign and pattern.causes), "benign patterns support no cause"
    assert not pattern.benign or pattern.severity == "info"


def test_rules_reference_existing_patterns():
    rules = load_rules()
    missing = [ref for ref in rules.referenced_patterns()
               if not any(fnmatch.fnmatchcase(p.id, ref) for p in LIB.patterns)]
    assert not missing
    for fr in rules.facts:
        assert fr.cause in CAUSES
    for cause, explained in rules.explains.items():
        assert cause in CAUSES and all(c in CAUSES for c in explained)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=0, max_size=3000))
def test_no_regex_is_slow_on_random_text(text):
    line = (text * (100_000 // max(1, len(text)) + 1))[:100_000] if text else ""
    for p in LIB.patterns:
        if not _fast_enough(p, line):  # pragma: no cover - the failure we look for
            pytest.fail(f"{p.id} takes more than 50 ms on a 100 kB line")


def test_bad_pattern_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[pattern]]\nid = "x.y"\nregex = "(unclosed"\nseverity = "info"\n')
    with pytest.raises(PatternError) as err:
        load_file(bad)
    assert "bad.toml:2" in str(err.value) and "invalid regex" in str(err.value)
    bad.write_text('[[pattern]\nid = "x"\n')
    with pytest.raises(PatternError) as err:
        load_file(bad)
    assert "bad.toml" in str(err.value) and "line 1" in str(err.value)


def test_user_library_merges_over_builtin(tmp_path):
    (tmp_path / "mine.toml").write_text(
        '[[pattern]]\nid = "mine.custom"\nregex = "custom failure (?P<code>\\\\d+)"\nseverity = "error"\n'
        'inputs = ["waagent_log"]\nhint = ["custom failure"]\ncauses = ["extension-operation-failed"]\n'
        'examples = ["2024-01-01T00:00:00.000000Z ERROR ExtHandler ExtHandler custom failure 42"]\n'
        'counter_examples = ["2024-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler custom success"]\n')
    lib = load_library(tmp_path)
    assert lib.get("mine.custom") is not None
    assert len(lib.patterns) == len(LIB.patterns) + 1
    assert not check_pattern(lib.get("mine.custom"))
    assert regex.search(lib.get("mine.custom").regex, "custom failure 7")


def test_library_match_returns_hits_with_named_groups():
    from datetime import datetime, timezone

    from loganalyzer.model import Record
    rec = Record(source="var/log/waagent.log", line=7, ts=datetime(2024, 1, 1, tzinfo=timezone.utc), level="INFO",
                 message="Azure Linux Agent Version: 2.15.0.1", kind="waagent_log")
    hits = LIB.match(rec)
    assert [h.pattern for h in hits] == ["start.daemon"] and hits[0].groups["version"] == "2.15.0.1"
    assert hits[0].record is rec
    assert LIB.match(Record("f", 1, None, "INFO", "nothing to see", "waagent_log")) == []


def test_library_version_without_loading_equals_the_loaded_version(tmp_path) -> None:
    """Batch runs compare this version to decide what to re-analyse; it must be load_library's."""
    from loganalyzer.patterns import library_version, patterns_dir  # noqa: PLC0415
    assert library_version() == load_library().version
    extra = tmp_path / "extra"
    extra.mkdir()
    first = sorted(patterns_dir().glob("*.toml"))[0]
    (extra / first.name).write_bytes(first.read_bytes())
    assert library_version(extra, builtin=False) == load_library(extra, builtin=False).version
    assert library_version(extra, builtin=False) != library_version()
