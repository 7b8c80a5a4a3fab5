import pickle
from datetime import datetime, timezone

from loganalyzer.model import Record
from loganalyzer.residue import ResidueMiner, mask


def test_mask_hides_variable_parts():
    m = mask("Failed for 6f1e2d3c-1111-2222-3333-444455556666 at /var/lib/waagent/x v2.2.53.1 rc 127 'quoted'")
    assert "<guid>" in m and "<path>" in m and "<ver>" in m and "<num>" in m and "<str>" in m
    assert "6f1e2d3c" not in m and "127" not in m


def test_similar_messages_share_a_template():
    miner = ResidueMiner()
    ts = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for i in range(5):
        miner.add(Record("f", i + 1, ts, "ERROR", f"Unknown failure in module alpha{i} after {i} tries", "waagent_log"))
    miner.add(Record("f", 9, ts, "ERROR", "Completely different text here", "waagent_log"))
    t = miner.templates()
    assert t[0].count == 5 and "<*>" in t[0].template and t[0].example.line == 1
    assert t[1].count == 1


# --- the indexed miner gives what comparing with every group gives -----------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from loganalyzer.model import Evidence  # noqa: E402


def reference_templates(records, threshold=0.6, max_groups=2000):
    """The miner's rule, written the plain way: compare the record with every group of its length."""
    buckets: dict[int, list[list]] = {}
    n = 0
    for tokens, example in records:
        if not tokens:
            continue
        bucket = buckets.setdefault(len(tokens), [])
        best, best_sim = None, 0.0
        for g in bucket:
            sim = sum(1 for a, b in zip(g[0], tokens) if a == b or a == "<*>") / len(tokens)
            if sim > best_sim:
                best, best_sim = g, sim
        if best is None or best_sim < threshold:
            if n >= max_groups:
                continue
            best = [list(tokens), 0, example]
            bucket.append(best)
            n += 1
        else:
            best[0] = [a if a == b else "<*>" for a, b in zip(best[0], tokens)]
        best[1] += 1
    return sorted((" ".join(t), c, e) for b in buckets.values() for t, c, e in b)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "<*>", "<num>", "x"]), min_size=0, max_size=6),
                max_size=120),
       st.sampled_from([0.3, 0.6, 0.9]), st.integers(1, 40))
def test_indexed_miner_equals_comparing_every_group(token_lists, threshold, max_groups):
    records = [(tokens, Evidence("f", i, " ".join(tokens))) for i, tokens in enumerate(token_lists)]
    miner = ResidueMiner(threshold=threshold, max_groups=max_groups)
    for tokens, example in records:
        miner.absorb([tuple(tokens), "ERROR", example, None, None, 1])
    got = sorted((t.template, t.count, t.example) for t in miner.templates())
    assert got == reference_templates(records, threshold, max_groups)



@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "x"]), min_size=1, max_size=4), max_size=150),
       st.sampled_from([0.3, 0.6, 0.9]), st.integers(1, 12), st.integers(1, 4))
def test_recorded_runs_group_like_the_miner(token_lists, threshold, max_groups, split):
    """Records of a worker (runs folded, no example for tokens seen before) absorbed in order
    give the templates, counts, examples and times the miner gives reading them itself."""
    from datetime import datetime, timedelta, timezone

    from loganalyzer.model import Record
    from loganalyzer.residue import Recorder

    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    records = [Record("f", i + 1, t0 + timedelta(seconds=(i * 7919) % 101), "ERROR", " ".join(tokens),
                      "waagent_log") for i, tokens in enumerate(token_lists)]
    direct = ResidueMiner(threshold=threshold, max_groups=max_groups)
    for r in records:
        direct.add(r)
    merged = ResidueMiner(threshold=threshold, max_groups=max_groups)
    cut = len(records) * split // 5
    for part in (records[:cut], records[cut:]):  # two files read by workers
        rec = Recorder()
        for r in part:
            rec.add(r)
        rec = pickle.loads(pickle.dumps(rec))  # as it comes back from a worker
        for entry in rec:
            merged.absorb(entry)
    key = lambda m: sorted((t.template, t.count, t.example, t.level, t.first_seen, t.last_seen) for t in m.templates())
    assert key(merged) == key(direct)
    assert merged.dropped == direct.dropped
    ref = reference_templates([(tuple(tokens), example_of_record(r)) for tokens, r in zip(token_lists, records)],
                              threshold, max_groups)
    assert sorted((t, c) for t, c, _ in ref) == sorted((t.template, t.count) for t in direct.templates())


def example_of_record(record):
    from loganalyzer.residue import example_of
    return example_of(record)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["http", "s", "://", "/var/x", "-", "0x1f", "deadbeefdeadbeef1234", "1.2.3",
                                 "12", "'", '"', ".", " ", "a", "\n", "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                                 "ab", "_", "@", "%"]), max_size=25).map("".join))
def test_mask_skips_only_searches_that_cannot_match(text):
    """mask() runs a placeholder's regex only when the line holds one of its literals: the
    result is that of running all of them in order."""
    from loganalyzer import residue
    line = text.split("\n", 1)[0][:2000]
    for rx, repl, _ in residue._MASKS:
        line = rx.sub(repl, line)
    assert residue.mask(text) == line


def test_a_group_that_shares_every_token_is_not_rewritten():
    """Records joining a group with all tokens in common leave its template alone; a differing
    token still becomes <*>, and best() answers from its memo only while no group changes."""
    m = ResidueMiner()
    for word in ["alpha", "beta", "alpha", "gamma", "alpha"]:
        m.add_text(f"failure {word} in module 7")
    assert [(t.template, t.count) for t in m.templates()] == [("failure <*> in module <num>", 5)]
    # no room for a second group: "a x y" is dropped, then "a b y" makes the group "a b <*>",
    # which "a x y" now joins, making it "a <*> <*>" (a memo kept across that change would drop it)
    full = ResidueMiner(threshold=0.6, max_groups=1)
    for tokens in ["a b c", "a x y", "a b y", "a x y"]:
        full.absorb([tuple(tokens.split()), "ERROR", Evidence("f", 1, tokens), None, None, 1])
    assert [(t.template, t.count) for t in full.templates()] == [("a <*> <*>", 3)] and full.dropped == 1


def test_recorder_keeps_times_of_any_zone_and_levels():
    """Rows hold UTC times as whole microseconds; a time with another zone object (an offset a
    log wrote) is kept as it is, and the miner fed by the recorder gives what it gives itself."""
    from datetime import timedelta

    from loganalyzer.model import Record
    from loganalyzer.residue import Recorder
    plus2 = timezone(timedelta(hours=2))
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    # the first record of each text has a UTC time (kept whole); the latest time, written at +02:00, is in a row
    times = [t0, t0 - timedelta(days=1), None, t0 + timedelta(microseconds=1),
             t0.astimezone(plus2) + timedelta(minutes=5), t0.astimezone(plus2)]
    texts = ["disk a failed 1", "net b failed 2", "disk a failed 3", "net b failed 4"]
    records = [Record("f", i + 1, times[i % len(times)], "ERROR" if i % 3 else "WARNING", texts[i % len(texts)],
                      "waagent_log") for i in range(60)]
    direct, merged, rec = ResidueMiner(), ResidueMiner(), Recorder()
    for r in records:
        direct.add(r)
        rec.add(r)
    for entry in pickle.loads(pickle.dumps(rec)):
        merged.absorb(entry)
    key = lambda m: sorted((t.template, t.count, t.level, str(t.first_seen), str(t.last_seen)) for t in m.templates())
    assert key(merged) == key(direct) and "+02:00" in str(key(direct))
    assert len(rec.whole) == 2 and len(rec) == 60  # no run: one row a record, two of them whole


def test_grouping_work_is_bounded_and_what_is_left_out_is_counted():
    """Red team 14: 50k ERROR lines of random words took 28 s here, each compared with up to 2,000
    groups. Past WORK_BUDGET comparisons a message of a new kind is counted as dropped (the report
    says how many); messages of a kind already grouped still join their group."""
    from loganalyzer import residue
    m = residue.ResidueMiner()
    def word(i: int, letter: str) -> str:
        return letter + "".join(chr(97 + int(d)) for d in str(i))
    for i in range(3000):  # nothing in common: every one starts a group, up to max_groups
        m.add_text(f"{word(i, 'a')} {word(i, 'b')} {word(i, 'c')}")
    assert m._work >= residue.WORK_BUDGET and m.dropped == 1000
    before = sum(t.count for t in m.templates())
    m.add_text("aa ba ca")  # the first message's tokens: still grouped
    assert sum(t.count for t in m.templates()) == before + 1
    m.add_text("aa ba zz")  # a new kind that would join that group: past the budget only counted
    assert sum(t.count for t in m.templates()) == before + 1 and m.dropped == 1001
