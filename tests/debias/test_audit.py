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
])
def test_bad_input(kwargs, match):
    with pytest.raises(DebiasError, match=match):
        audit(np.full(4, 0.5), np.ones(4, int), **kwargs)


def test_bad_predictions():
    with pytest.raises(DebiasError, match="sigmoid"):
        audit(np.array([2.0, -1.0]), np.array([1, 0]), np.array([0, 1]))
    with pytest.raises(DebiasError, match="same length"):
        audit(np.array([0.5]), np.array([1, 0]), np.array([0, 1]))
