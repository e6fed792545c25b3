"""Confidence intervals of group accuracies and permutation tests of the fairness gaps (``debias/noise.py``)."""

import numpy as np
import pytest

from shadowplay.debias import audit
from shadowplay.debias.figures import audit_chart
from shadowplay.debias.noise import fairness_gaps, gap_p_values, wilson_interval


def test_wilson_interval_published_values():
    # Brown, Cai & DasGupta 2001 / Newcombe 1998 (Stat. Med. 17, table I): 0/10 → (0, 0.2775); 81/263 → (0.2553,
    # 0.3662); 0/3 → (0, 0.5615), what a 3-input group that was always wrong can claim
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(0, 3) == pytest.approx((0.0, 0.5615), abs=1e-4)
    low, high = wilson_interval(7, 7)
    assert low < 1.0 and high == 1.0  # the proportion itself always lies inside, rounding or not
    assert all(np.isnan(wilson_interval(0, 0)))


def test_fast_gaps_equal_the_audit_definitions():
    rng = np.random.default_rng(1)
    y, hard, a = rng.integers(0, 3, 400), rng.integers(0, 3, 400), rng.integers(0, 4, 400)
    r = audit(hard, y, a, positive=2, permutations=0)
    g = fairness_gaps(hard, y, a, 4, 3, 2)
    assert (g.demographic_parity, g.equal_opportunity, g.equalized_odds) == pytest.approx(
        (r.demographic_parity_gap, r.equal_opportunity_gap, r.equalized_odds_gap))


def test_p_values_tell_a_real_gap_from_noise():
    rng = np.random.default_rng(0)
    n = 600
    y, a = rng.integers(0, 2, n), rng.integers(0, 2, n)
    fair = np.where(rng.uniform(size=n) < 0.8, y, 1 - y)  # errors independent of A
    unfair = np.where(a == 1, 0, fair)                     # A = 1 is never predicted positive
    p_fair = gap_p_values(fair, y, a, 2, 1, permutations=99, seed=3)
    p_unfair = gap_p_values(unfair, y, a, 2, 1, permutations=99, seed=3)
    assert min(p_fair.demographic_parity, p_fair.equal_opportunity, p_fair.equalized_odds) > 0.05
    assert (p_unfair.demographic_parity, p_unfair.equal_opportunity, p_unfair.equalized_odds) == (0.01,) * 3
    assert gap_p_values(fair, y, a, 2, 1, permutations=99, seed=3) == p_fair  # seeded


def test_audit_reports_counts_intervals_and_p_values():
    # the worst group holds 3 inputs: its accuracy 0 is compatible with anything up to 0.56, and the table says so
    y = np.array([1] * 40 + [1, 1, 1])
    g = np.array([0] * 40 + [1, 1, 1])
    pred = np.array([1] * 40 + [0, 0, 0])
    r = audit(pred, y, g)
    small = r.groups[1]
    assert (small.n, small.n_positive) == (3, 3)
    assert (small.accuracy_low, small.accuracy_high) == pytest.approx((0.0, 0.5615), abs=1e-4)
    assert r.permutations == 199 and 0 < r.equal_opportunity_p <= 1
    t = r.table()
    assert "worst group group 1 0.0000 (95 % CI 0.000–0.561, n = 3)" in t
    assert "| group 1 | 3 | 0.0000 | 0.000–0.561 |" in t
    # the gaps compare the groups when no attribute is given: named as the group rows, not "value 0"
    assert "gaps across groups (group 0, group 1)" in t and "(p = " in t
    d = r.as_dict()
    assert d["groups"][1]["accuracy_high"] == pytest.approx(0.5615, abs=1e-4) and "equal_opportunity_p" in d


def test_latent_cluster_gaps_name_clusters():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))])
    r = audit(rng.uniform(size=40), rng.integers(0, 2, 40), codes=codes, n_clusters=2)
    assert "gaps across latent clusters (cluster 0, cluster 1)" in r.table()


def test_chart_shows_counts_and_intervals_even_at_accuracy_one():
    y = np.array([1] * 12 + [0] * 3)
    g = np.array([0] * 12 + [1] * 3)
    r = audit(y.copy(), y, g, group_names=["big", "tiny"], permutations=0)  # every prediction right: CI up to 1
    fig = audit_chart({"run": r})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["big\nn = 12", "tiny\nn = 3"]
    from matplotlib.container import ErrorbarContainer
    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)  # the 95 % intervals are drawn


def test_bad_permutations():
    from shadowplay.debias import DebiasError
    with pytest.raises(DebiasError, match="permutations"):
        audit(np.array([0, 1]), np.array([0, 1]), np.array([0, 1]), permutations=-1)


def test_no_gaps_across_groups_that_each_hold_one_class():
    # an .npz's groups are often class × attribute cells: across them the "positive rate" is 0 or 1 by
    # construction, so a near-perfect classifier showed a demographic-parity gap of 0.99 "beyond noise"
    y = np.array([0] * 20 + [1] * 20)
    cells = 2 * y + np.arange(40) % 2
    r = audit(y.copy(), y, cells)
    assert np.isnan(r.demographic_parity_gap) and np.isnan(r.equal_opportunity_gap) and np.isnan(r.equalized_odds_gap)
    assert "every group holds a single class" in r.table() and r.note
    # the attribute itself, given: the gaps are back (and 0 for this perfect classifier)
    fair = audit(y.copy(), y, cells, sensitive=np.arange(40) % 2)
    assert (fair.demographic_parity_gap, fair.equal_opportunity_gap, fair.note) == (0.0, 0.0, "")


@pytest.mark.parametrize("b,c,both", [(0, 0, 5), (3, 0, 10), (12, 4, 30), (7, 7, 0), (1, 40, 2), (300, 251, 9000)])
def test_exact_mcnemar_is_the_binomial_test_of_the_discordant_inputs(b, c, both):
    # an independent computation: scipy's exact binomial test of b successes in b + c trials at 1/2
    from scipy.stats import binomtest

    from shadowplay.debias.noise import mcnemar_exact
    rng = np.random.default_rng(b + c)
    a = np.array([True] * b + [False] * c + [True] * both + [False] * 4)
    o = np.array([False] * b + [True] * c + [True] * both + [False] * 4)
    order = rng.permutation(len(a))  # the pairing, not the order, is what counts
    got_b, got_c, p = mcnemar_exact(a[order], o[order])
    assert (got_b, got_c) == (b, c)
    assert p == pytest.approx(binomtest(b, b + c, 0.5).pvalue if b + c else 1.0, rel=1e-12)


def test_mcnemar_refuses_unpaired_answers():
    from shadowplay.debias.noise import mcnemar_exact
    from shadowplay.errors import DebiasError
    with pytest.raises(DebiasError, match="input by input"):
        mcnemar_exact(np.ones(3, bool), np.ones(4, bool))


@pytest.mark.parametrize("k1,n1,k2,n2", [(9, 20, 18, 22), (30, 40, 33, 40), (5, 5, 2, 9)])
def test_two_proportion_permutation_p_matches_the_exact_permutation_distribution(k1, n1, k2, n2):
    # exact: under the shuffle the first set's count right is hypergeometric; p = P(|k/n1 - (K-k)/n2| >= observed)
    from scipy.stats import hypergeom

    from shadowplay.debias.noise import two_proportion_p
    a = np.arange(n1) < k1
    b = np.arange(n2) < k2
    total = k1 + k2
    k = np.arange(max(0, total - n2), min(n1, total) + 1)
    extreme = np.abs(k / n1 - (total - k) / n2) >= abs(k1 / n1 - k2 / n2) - 1e-12
    exact = hypergeom(n1 + n2, total, n1).pmf(k)[extreme].sum()
    assert two_proportion_p(a, b, permutations=40000, seed=1) == pytest.approx(exact, abs=0.006)
    assert np.isnan(two_proportion_p(a, b[:0]))
