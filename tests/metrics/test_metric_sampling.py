"""β-VAE and FactorVAE scores on a tiny linear ground-truth dataset with known encoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shadowplay.metrics import MetricError, beta_vae_score, factor_vae_score

BETA = dict(batch_size=16, n_train=300, n_eval=200)
FACTOR = dict(batch_size=16, n_train=300, n_eval=200, n_variance_estimate=1000)
CHANCE = 1 / 3


def test_identity_encoder_scores_one(toy_data):
    assert beta_vae_score(toy_data, toy_data.identity_encoder(), **BETA).score > 0.95
    r = factor_vae_score(toy_data, toy_data.identity_encoder(), **FACTOR)
    assert r.score == pytest.approx(1.0) and r.active_dims == (0, 1, 2)


def test_random_encoder_scores_chance(toy_data):
    assert beta_vae_score(toy_data, toy_data.random_encoder(), **BETA).score == pytest.approx(CHANCE, abs=0.1)
    assert factor_vae_score(toy_data, toy_data.random_encoder(), **FACTOR).score == pytest.approx(CHANCE, abs=0.1)


def test_dead_dimension(toy_data):
    encode = toy_data.identity_encoder(dead_dims=2)
    assert beta_vae_score(toy_data, encode, **BETA).score > 0.95
    # Threshold 0 is the reference's 0/0 pitfall: a dead dimension must still not vote.
    r = factor_vae_score(toy_data, encode, prune_threshold=0.0, **FACTOR)
    assert r.score == pytest.approx(1.0) and r.active_dims == (0, 1, 2)
    assert np.all(r.votes_train[:, 3:] == 0)


def test_factor_vae_all_pruned_scores_zero_with_a_note(toy_data):
    tiny = toy_data.identity_encoder(mixing=0.001 * np.eye(3))
    r = factor_vae_score(toy_data, tiny, **FACTOR)  # std ≈ 0.0004 < 0.05 in code units
    assert r.score == 0.0 and r.active_dims == () and "prune_threshold" in r.note


@pytest.mark.parametrize("metric, options", [(beta_vae_score, BETA), (factor_vae_score, FACTOR)])
def test_deterministic_and_independent_of_encode_batch_size(toy_data, metric, options):
    mixing = np.array([[1.0, 0.6, 0.0], [0.0, 1.0, 0.6], [0.6, 0.0, 1.0]])
    encode = toy_data.identity_encoder(mixing=mixing)  # a deterministic, partly entangled code
    a = metric(toy_data, encode, seed=5, **options).as_dict()
    b = metric(toy_data, encode, seed=5, encode_batch_size=40, **options).as_dict()
    assert a == b
    assert a["score"] > CHANCE + 0.1


def test_bad_data_and_encoder(toy_data):
    with pytest.raises(MetricError, match="GroundTruthData"):
        beta_vae_score(object(), toy_data.identity_encoder(), **BETA)
    with pytest.raises(MetricError, match="one row per observation"):
        factor_vae_score(toy_data, lambda x: np.zeros((1, 3)), **FACTOR)
    with pytest.raises(MetricError, match="NaN"):
        beta_vae_score(toy_data, lambda x: torch.full((len(x), 3), float("nan")), **BETA)


@pytest.mark.parametrize("metric, options, total", [
    (beta_vae_score, BETA, 2 * 16 * (300 + 200)),           # two sides of batch_size pairs per example
    (factor_vae_score, FACTOR, 1000 + 16 * (300 + 200))])   # the variance estimate, then batch_size per vote
def test_progress_counts_every_encoded_observation_and_changes_nothing(toy_data, metric, options, total):
    mixing = np.array([[1.0, 0.6, 0.0], [0.0, 1.0, 0.6], [0.6, 0.0, 1.0]])
    encode = toy_data.identity_encoder(mixing=mixing)
    calls = []
    with_bar = metric(toy_data, encode, seed=3, encode_batch_size=100, progress=lambda d, t: calls.append((d, t)),
                      **options).as_dict()
    without = metric(toy_data, encode, seed=3, encode_batch_size=100, **options).as_dict()
    assert with_bar == without
    done = [d for d, _ in calls]
    assert len(calls) > 10 and {t for _, t in calls} == {total}
    assert done == sorted(done) and done[-1] == total and all(0 < d <= total for d in done)


def test_progress_must_be_callable(toy_data):
    with pytest.raises(MetricError, match="progress must be a callable"):
        beta_vae_score(toy_data, toy_data.identity_encoder(), progress=True, **BETA)
