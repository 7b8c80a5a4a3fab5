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
