"""The development score on ../shared/realcases (skipped when absent): the quality bars of the classifier."""
from __future__ import annotations

import sys

import pytest

from conftest import ROOT, SHARED

sys.path.insert(0, str(ROOT / "bench"))


@pytest.fixture(scope="module")
def score():
    if not (SHARED / "realcases" / "LABELS.tsv").is_file():
        pytest.skip("../shared/realcases is not available")
    from score_realcases import score as run
    return run(SHARED / "realcases")


def test_top3_accuracy(score):
    assert score["top3"] >= 0.95, [(c.name, c.got[:3]) for c in score["cases"] if c.kind == "cause" and not c.top3]


def test_top1_accuracy(score):
    assert score["top1"] >= 0.85, [(c.name, c.got[:2]) for c in score["cases"] if c.kind == "cause" and not c.top1]


def test_no_false_alarm_on_benign_excerpts(score):
    assert score["benign_alarms"] == 0, [(c.name, c.got) for c in score["cases"] if c.kind == "benign" and c.alarm]


def test_every_excerpt_reads_without_problems_that_stop_it(score):
    assert len(score["cases"]) >= 25
