"""compute_metrics / compute_sampling_metrics: names, options, results."""

from __future__ import annotations

import json

import pytest

from shadowplay.metrics import (ARRAY_METRIC_NAMES, METRIC_NAMES, SAMPLING_METRIC_NAMES, MetricError,
                                compute_metrics, compute_sampling_metrics)


def test_compute_metrics_all_array_metrics(perfect, factors):
    out = compute_metrics(perfect[:1500], factors[:1500], names=ARRAY_METRIC_NAMES,
                          options={"dci": {"n_estimators": 5}})
    assert list(out) == list(ARRAY_METRIC_NAMES)
    json.dumps({k: v.as_dict() for k, v in out.items()}, allow_nan=False)
    assert out["mig"].score > 0.95 and out["dci"].disentanglement > 0.9


def test_compute_sampling_metrics(toy_data):
    out = compute_sampling_metrics(toy_data, toy_data.identity_encoder(), seed=1, options={
        "beta_vae": {"batch_size": 8, "n_train": 100, "n_eval": 60},
        "factor_vae": {"batch_size": 8, "n_train": 100, "n_eval": 60, "n_variance_estimate": 200}})
    assert set(out) == set(SAMPLING_METRIC_NAMES) and out["factor_vae"].score == pytest.approx(1.0)


def test_unknown_and_misplaced_names(perfect, factors, toy_data):
    assert set(METRIC_NAMES) == set(ARRAY_METRIC_NAMES) | set(SAMPLING_METRIC_NAMES)
    with pytest.raises(MetricError, match="unknown metric"):
        compute_metrics(perfect, factors, names=("mig", "irs"))
    with pytest.raises(MetricError, match="compute_sampling_metrics"):
        compute_metrics(perfect, factors, names=("beta_vae",))
    with pytest.raises(MetricError, match="compute_metrics"):
        compute_sampling_metrics(toy_data, toy_data.identity_encoder(), names=("mig",))
    with pytest.raises(MetricError, match="sequence"):
        compute_metrics(perfect, factors, names="mig")


def test_a_random_rotation_lowers_every_metric(perfect, random_rotation, factors):
    # SAP standardized: with the reference protocol (raw codes), C = 0.01 regularizes these [0, 1]-scaled codes so
    # strongly that every accuracy is compressed towards chance; its drop is checked separately below.
    options = {"dci": {"n_estimators": 10}, "sap": {"standardize": True}}
    names = ("mig", "sap", "dci", "modularity_explicitness")
    good = compute_metrics(perfect, factors, names=names, options=options)
    bad = compute_metrics(random_rotation, factors, names=names, options=options)
    assert bad["mig"].score < good["mig"].score - 0.2
    assert bad["sap"].score < good["sap"].score - 0.2
    good_ref, bad_ref = (compute_metrics(c, factors, names=("sap",))["sap"] for c in (perfect, random_rotation))
    assert not good_ref.standardize and bad_ref.score < good_ref.score - 0.1
    assert bad["dci"].disentanglement < good["dci"].disentanglement - 0.2
    assert bad["modularity_explicitness"].modularity < good["modularity_explicitness"].modularity - 0.1


def test_every_array_metric_is_invariant_to_permuting_dimensions(rotated, factors):
    names = ("mig", "sap", "dci", "modularity_explicitness", "unsupervised")
    perm = [2, 0, 1]
    a = compute_metrics(rotated, factors, names=names, options={"dci": {"n_estimators": 10}})
    b = compute_metrics(rotated[:, perm], factors, names=names, options={"dci": {"n_estimators": 10}})
    for name, key in [("mig", "score"), ("sap", "score"), ("dci", "disentanglement"), ("dci", "completeness"),
                      ("modularity_explicitness", "modularity"), ("modularity_explicitness", "explicitness_test"),
                      ("unsupervised", "gaussian_total_correlation"), ("unsupervised", "mutual_info_score")]:
        assert getattr(b[name], key) == pytest.approx(getattr(a[name], key), abs=0.03), (name, key)


def test_a_misspelt_option_is_refused_by_name_not_a_type_error(perfect, factors, toy_data):
    # `--metric-options '{"mig": {"binz": 3}}'` reached mig() and crashed with a TypeError (a "bug" traceback)
    with pytest.raises(MetricError, match=r"mig has no option 'binz' \(did you mean 'bins'\?\); its options are bins"):
        compute_metrics(perfect, factors, names=("mig",), options={"mig": {"binz": 3}})
    with pytest.raises(MetricError, match="seed is not a per-metric option"):
        compute_metrics(perfect, factors, names=("sap",), options={"sap": {"seed": 3}})
    with pytest.raises(MetricError, match="'ntrain' .*did you mean 'n_train'"):
        compute_sampling_metrics(toy_data, toy_data.identity_encoder(), names=("factor_vae",),
                                 options={"factor_vae": {"ntrain": 10}})
    with pytest.raises(MetricError, match="must be a mapping"):
        compute_metrics(perfect, factors, names=("dci",), options={"dci": 5})
