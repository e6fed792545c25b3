"""``shadowplay.metrics.guide``: every metric says what its numbers mean (range, direction, chance)."""

from __future__ import annotations

from shadowplay.metrics import METRIC_NAMES
from shadowplay.metrics.guide import GUIDES, describe


def test_every_metric_has_a_reading_with_its_paper_and_direction():
    assert set(GUIDES) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        text = describe(name)
        assert "20" in GUIDES[name].title and ("higher is better" in text or "lower means" in text), name


def test_chance_is_worked_out_when_the_factor_count_is_known():
    assert "chance is 1/5 = 0.20" in describe("beta_vae", n_factors=5)
    assert "chance is 1/F" in describe("factor_vae") and describe("no_such_metric") == ""
