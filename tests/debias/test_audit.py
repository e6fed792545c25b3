"""The bias audit on predictions with answers worked out by hand."""

import numpy as np
import pytest

from shadowplay.debias import DebiasError, audit, expected_calibration_error


def test_known_answers_binary_probabilities():
    # group 0: 4 inputs, labels 1,1,0,0, predictions right except the last; group 1: 2 positives, one found
    p = np.array([0.9, 0.8, 0.2, 0.7, 0.6, 0.1])
    y = np.array([1, 1, 0, 0, 1, 1])
    g = np.array([0, 0, 0, 0, 1, 1])
    r = audit(p, y, g, group_names=["a", "b"])
    a, b = r.groups
    assert (a.name, a.n, a.accuracy, a.positive_rate, a.true_positive_rate) == ("a", 4, 0.75, 0.75, 1.0)
    assert (b.name, b.n, b.accuracy, b.positive_rate, b.true_positive_rate) == ("b", 2, 0.5, 0.5, 0.5)
    assert r.worst_group == "b" and r.worst_group_accuracy == 0.5
    assert r.demographic_parity_gap == pytest.approx(0.25) and r.equal_opportunity_gap == pytest.approx(0.5)
    assert r.accuracy == pytest.approx(4 / 6)
    # ECE of group a: confidences 0.9, 0.8, 0.8, 0.7 in bins (13/15..14/15], (11/15..12/15] ×2, (10/15..11/15]
    # → |1−.9|·¼ + |1−.8|·½ + |0−.7|·¼ = 0.025 + 0.1 + 0.175
    assert a.ece == pytest.approx(0.3)
    assert r.max_ece == pytest.approx(max(a.ece, b.ece))
    assert "| a | 4 | 0.7500" in r.table() and r.as_dict()["groups"][1]["name"] == "b"


def test_multiclass_probabilities_and_hard_labels_agree_on_accuracy():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    y = np.array([0, 1, 1, 2])
    g = np.array([0, 0, 1, 1])
    soft = audit(probs, y, g, positive=2)
    hard = audit(probs.argmax(1), y, g, positive=2)
    assert [s.accuracy for s in soft.groups] == [s.accuracy for s in hard.groups] == [1.0, 0.0]
    assert soft.groups[1].positive_rate == 0.5 and np.isnan(hard.groups[0].ece)
    assert soft.groups[1].true_positive_rate == 0.0 and np.isnan(soft.groups[0].true_positive_rate)


def test_exactly_fair_classifier_has_no_gap_over_class_by_attribute_cells():
    # two values of the attribute A, each with 2 positives and 2 negatives, every prediction right: ŷ has the same
    # distribution under both values (P(ŷ = 1 | A) = ½), so every gap is 0. The groups are the class × A cells:
    # their positive rates are 0 and 1, and the gap taken over them (the old definition) was 1.0, the base rates.
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    a = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    cells = 2 * y + a
    r = audit(y.astype(float), y, cells, sensitive=a, sensitive_names=["original", "inverted"],
              sensitive_name="inverted")
    assert sorted(g.positive_rate for g in r.groups) == [0.0, 0.0, 1.0, 1.0]
    assert (r.demographic_parity_gap, r.equal_opportunity_gap, r.equalized_odds_gap) == (0.0, 0.0, 0.0)
    assert [(s.name, s.n, s.positive_rates) for s in r.sensitive] == [("original", 4, (0.5, 0.5)),
                                                                       ("inverted", 4, (0.5, 0.5))]
    assert "gaps across inverted (original, inverted): demographic parity 0.0000" in r.table()
    # the same classifier, but A = 1 predicted positive only half as often: |P(ŷ=1|A=0) − P(ŷ=1|A=1)| = ½ − ¼
    unfair = audit(np.array([1, 1, 0, 0, 1, 0, 0, 0]), y, cells, sensitive=a)
    assert unfair.demographic_parity_gap == pytest.approx(0.25)
    assert unfair.equal_opportunity_gap == pytest.approx(0.5)   # TPR 1 vs ½
    assert unfair.equalized_odds_gap == pytest.approx(0.5)      # max(TPR gap ½, TNR gap 0)


def test_multiclass_gaps_closed_form():
    # A = 0: every prediction right; A = 1: one of the two class-2 inputs predicted as 0.
    # P(ŷ = c | A): (⅓, ⅓, ⅓) vs (½, ⅓, ⅙) → parity gap max(⅙, 0, ⅙) = ⅙;
    # P(ŷ = c | y = c, A): (1, 1, 1) vs (1, 1, ½) → equalized-odds gap ½; equal opportunity for class 2: ½.
    y = np.tile([0, 1, 2], 4)
    a = np.repeat([0, 1], 6)
    pred = y.copy()
    pred[11] = 0
    r = audit(pred, y, 3 * y + a, sensitive=a, positive=2)  # groups: the 6 class × A cells
    assert r.demographic_parity_gap == pytest.approx(1 / 6)
    assert r.equalized_odds_gap == pytest.approx(0.5) and r.equal_opportunity_gap == pytest.approx(0.5)
    assert r.sensitive[1].class_accuracy == (1.0, 1.0, 0.5) and r.sensitive_name == "sensitive attribute"
    # without `sensitive`, the gaps are taken across the given groups (and say so)
    assert audit(pred, y, a, positive=2).demographic_parity_gap == pytest.approx(1 / 6)
    assert audit(pred, y, a, positive=2).sensitive_name == "groups"


@pytest.mark.parametrize("probs", [np.full(6, 0.7), np.tile([0.3, 0.7], (6, 1))])
def test_binary_probabilities_with_three_class_labels_are_refused(probs):
    # they used to give numbers: (N,) read as P(y = 1) and (N, 2) argmaxed, so class 2 was always "wrong"
    with pytest.raises(DebiasError, match=r"predictions of shape \(6,( 2)?\) .* labels of shape \(6,\) hold class "
                                          r"ids up to 2 \(3 classes\); give \(N, 3\) class probabilities"):
        audit(probs, np.array([0, 1, 2, 0, 1, 2]), np.zeros(6, int))


def test_ece_closed_form_perfectly_calibrated_and_overconfident():
    conf = np.full(1000, 0.8)
    correct = np.r_[np.ones(800), np.zeros(200)]
    assert expected_calibration_error(correct, conf) == pytest.approx(0.0)
    assert expected_calibration_error(np.zeros(1000), conf) == pytest.approx(0.8)


def test_latent_clusters_when_no_groups():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    y = np.ones(100, int)
    pred = np.r_[np.ones(50, int), np.zeros(50, int)]  # the model fails on the second cluster only
    r = audit(pred, y, codes=codes, n_clusters=2)
    assert r.grouping == "latent clusters" and sorted(s.accuracy for s in r.groups) == [0.0, 1.0]
    assert r.worst_group.startswith("cluster")
    for bad in (0, 1, 2.5):  # 0 reached scikit-learn's own parameter error as a traceback
        with pytest.raises(DebiasError, match="n_clusters must be an integer >= 2"):
            audit(pred, y, codes=codes, n_clusters=bad)


@pytest.mark.parametrize("kwargs,match", [
    ({"groups": np.zeros(3, int)}, "groups have 3 entries but there are 4"),
    ({"groups": np.zeros(4)}, "integer"),
    ({}, "give groups"),
    ({"codes": np.zeros((2, 2))}, "codes have 2 rows"),
    ({"groups": np.zeros(4, int), "sensitive": np.zeros(3, int)}, "sensitive have 3 entries but there are 4"),
    ({"groups": np.zeros(4, int), "sensitive": np.zeros(4)}, "sensitive must be integer"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(DebiasError, match=match):
        audit(np.full(4, 0.5), np.ones(4, int), **kwargs)


def test_bad_predictions():
    with pytest.raises(DebiasError, match="sigmoid"):
        audit(np.array([2.0, -1.0]), np.array([1, 0]), np.array([0, 1]))
    with pytest.raises(DebiasError, match="same length"):
        audit(np.array([0.5]), np.array([1, 0]), np.array([0, 1]))
