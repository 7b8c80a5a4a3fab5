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

from conftest import SAMPLES

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
    for ex in rules.explains:
        assert ex.cause in CAUSES and all(c in CAUSES for c in ex.explains)


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


def _user_pattern(**fields) -> str:
    entry = {"id": "mine.x", "regex": "custom failure", "severity": "error", "inputs": ["waagent_log"],
             "hint": ["custom failure"], "causes": ["extension-operation-failed"],
             "examples": ["2024-01-01T00:00:00.000000Z ERROR ExtHandler ExtHandler custom failure"],
             "counter_examples": ["2024-01-01T00:00:00.000000Z INFO ExtHandler ExtHandler fine"]}
    entry.update(fields)
    import json
    return "[[pattern]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in entry.items())


@pytest.mark.parametrize("fields, says", [
    ({"causes": ["no-such-cause"]}, "unknown cause 'no-such-cause'"),
    ({"inputs": ["no_such_kind"]}, "unknown input kind 'no_such_kind'"),
    ({"benign": True, "causes": [], "severity": "critical"}, "benign pattern must have severity info"),
    ({"regex": "a{1000000000}"}, "counted repeats expand to 1,000,000,000, more than 100,000"),
    ({"regex": "(?:(?:a{100}){100}){100}"}, "counted repeats expand to 1,000,000, more than 100,000"),
    # red team 13: a regex matching its own counter-example was used as it was
    ({"regex": "(?:)", "hint": []}, "counter-example matches: '2024-01-01T00:00:00.000000Z INFO"),
    ({"regex": "custom failure!"}, "example does not match: '2024-01-01T00:00:00.000000Z ERROR"),
])
def test_a_user_pattern_is_checked_on_load(tmp_path, fields, says):
    """Red team 9: a pattern naming an unknown cause became the top finding; a{1000000000} took 23 GB
    to compile. Both are refused with the file, line and reason."""
    (tmp_path / "mine.toml").write_text(_user_pattern(**fields))
    with pytest.raises(PatternError, match=regex.escape(says)):
        load_library(tmp_path)


def test_pattern_files_that_are_not_files_or_nest_too_deep(tmp_path):
    """A *.toml linked to /dev/zero was read without end (23 GB), a FIFO blocked the run, TOML nested
    100,000 deep was 'internal error': each is a PatternError now, at once."""
    import os
    import time
    for name, make in [("zero", lambda d: (d / "z.toml").symlink_to("/dev/zero")),
                       ("fifo", lambda d: os.mkfifo(d / "f.toml")),
                       ("deep", lambda d: (d / "d.toml").write_text("x = " + "[" * 100_000 + "]" * 100_000)),
                       ("big", lambda d: (d / "b.toml").write_text("# " + "x" * (5 << 20)))]:
        d = tmp_path / name
        d.mkdir()
        make(d)
        start = time.monotonic()
        with pytest.raises(PatternError):
            load_library(d)
        assert time.monotonic() - start < 5, name


def test_a_user_regex_that_backtracks_is_stopped_and_the_report_says_so(tmp_path):
    """A user regex with catastrophic backtracking ran for minutes in `analyze` (red team 9; `patterns
    test` flags it, analyze never ran that check): each search of a --patterns regex has a time limit,
    the pattern is stopped after the first timeout and the report is partial with the reason."""
    import shutil
    import time

    import loganalyzer
    pat = tmp_path / "pat"
    pat.mkdir()
    (pat / "slow.toml").write_text(_user_pattern(id="mine.slow", regex="RT9(.*,){20}x", hint=["RT9"],
                                                 examples=["2024-01-01T00:00:00.000000Z ERROR ExtHandler "
                                                           "ExtHandler RT9" + "," * 20 + "x"]))
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "healthy", b)
    log = next(b.rglob("waagent.log"))
    log.write_text(log.read_text() + "".join(f"2024-01-01T00:00:0{i}.000000Z ERROR ExtHandler ExtHandler RT9"
                                             + "," * 3000 + "\n" for i in range(5)))
    start = time.monotonic()
    r = loganalyzer.analyze(b, patterns=pat)
    assert time.monotonic() - start < 20
    assert r.partial and any("mine.slow" in reason and "one search took more than" in reason
                             for reason in r.partial_reasons)


@pytest.mark.parametrize("rx, size", [("a{1000000000}", 10 ** 9), ("(?:a{1000}){1000}", 10 ** 6), ("a{2000} b{300}", 2000),
                                      (r"\{99999999}", 1), ("[{]{5}x{3}", 5), ("(a{10}|b{20}){30}", 600), ("abc", 1),
                                      ("(?P<v>[0-9.]{1,40})", 40)])
def test_repeat_size_multiplies_nested_counts(rx, size):
    from loganalyzer.patterns import repeat_size
    assert repeat_size(rx) == size


def test_every_builtin_regex_is_within_the_user_repeat_limit():
    """The bench's 4x library is renamed copies of the built-in files, loaded as a user folder."""
    from loganalyzer.patterns import MAX_REPEAT, repeat_size
    assert max(repeat_size(p.regex) for p in LIB.patterns) <= MAX_REPEAT
