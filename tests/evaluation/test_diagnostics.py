"""Latent diagnostics on models with known answers: a linear-Gaussian model with one dead latent (its column of W
is zero, so its exact posterior is the prior), a fully collapsed one, and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shadowplay.run import open_run
from shadowplay import api
from shadowplay.evaluation import (gaussian_kl_to_standard, latent_diagnostics, linear_gaussian_model,
                                   posterior_moments, reconstruction_error, summarize_latents)


def test_a_dead_latent_is_found_and_the_aggregate_posterior_matches_the_prior(linear):
    W = linear.columns(8, [2.0, 0.0, 1.0])  # latent 1 does not reach the decoder
    b = torch.zeros(8, dtype=torch.float64)
    x = linear.draw(W, b, 0.3, 4000)
    model = linear_gaussian_model(W, b, 0.3, posterior="exact", dtype=torch.float64)
    d = latent_diagnostics(model, x)
    assert d.active.tolist() == [True, False, True] and d.n_active == 2
    assert d.kl_per_dim[1] == pytest.approx(0.0, abs=1e-9)
    assert d.activity[1] == pytest.approx(0.0, abs=1e-12)
    assert d.order.tolist() == [0, 2, 1]  # latent 0 carries the most information (largest column norm)
    assert len(d.warnings) == 1 and "[1]" in d.warnings[0] and "inactive" in d.warnings[0]
    # data drawn from the model + exact posterior: E_x q(z|x) is exactly p(z) = N(0, I)
    np.testing.assert_allclose(d.aggregate_mean, 0, atol=0.06)
    np.testing.assert_allclose(d.aggregate_cov, np.eye(3), atol=0.08)
    assert d.aggregate_kl < 0.01
    out = d.as_dict()
    assert out["n_active"] == 2 and out["active"] == [True, False, True]


def test_full_collapse_warns(linear):
    W = torch.zeros(5, 2, dtype=torch.float64)
    model = linear_gaussian_model(W, torch.zeros(5), 1.0, posterior="exact", dtype=torch.float64)
    d = latent_diagnostics(model, linear.draw(W, torch.zeros(5, dtype=torch.float64), 1.0, 50))
    assert d.n_active == 0
    assert "posterior collapse" in d.warnings[0]


def test_kl_per_dim_is_the_closed_form(vae_run):
    model = api.load(vae_run)
    x = api.load_splits(open_run(vae_run).config).test.x
    m = posterior_moments(model, x, batch_size=17)
    manual = 0.5 * (m.var + m.mean ** 2 - 1 - np.log(m.var))  # Kingma & Welling 2014, appendix B
    np.testing.assert_allclose(m.kl, manual, rtol=1e-4, atol=1e-6)
    d = summarize_latents(m)
    np.testing.assert_allclose(d.kl_per_dim, manual.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d.activity, m.mean.var(0, ddof=1))


def test_reconstruction_error_is_the_squared_distance_to_the_decoder_mean(vae_run):
    model = api.load(vae_run)
    x = torch.rand(9, 1, 8, 8)
    expected = (x - model.reconstruct(x)).square().flatten(1).sum(1).double().numpy()
    np.testing.assert_allclose(reconstruction_error(model, x, batch_size=4), expected, rtol=1e-5)


def test_autoencoder_diagnostics_use_activity(ae_run):
    d = latent_diagnostics(api.load(ae_run), torch.rand(30, 1, 8, 8))
    assert d.kl_per_dim is None
    assert d.order.tolist() == np.argsort(-d.activity, kind="stable").tolist()


def test_gaussian_kl_to_standard_closed_form():
    assert gaussian_kl_to_standard(np.zeros(3), np.eye(3)) == pytest.approx(0.0)
    # one dimension: ½(s² + m² − 1 − log s²)
    assert gaussian_kl_to_standard(np.array([1.0]), np.array([[4.0]])) == pytest.approx(0.5 * (4 + 1 - 1 - np.log(4)))
    assert gaussian_kl_to_standard(np.zeros(2), np.zeros((2, 2))) == float("inf")


def test_diagnostics_need_two_inputs(vae_run):
    with pytest.raises(ValueError, match="at least 2 inputs"):
        latent_diagnostics(api.load(vae_run), torch.rand(1, 1, 8, 8))


def test_collapse_advice_names_the_likely_causes():
    from shadowplay.evaluation import collapse_advice
    tip = collapse_advice(likelihood="bernoulli", scale=None, beta=4.0, warmup_steps=0, steps=360)
    assert "--likelihood gaussian model.scale=0.1" in tip and "β = 4" in tip and "warmup_steps=120" in tip
    assert "360 steps" in tip
    tip = collapse_advice(likelihood="gaussian", scale=None, beta=None, warmup_steps=500, steps=5000)
    assert "learned gaussian scale" in tip and "β" not in tip and "warmup" not in tip and "steps" not in tip
    assert "smaller scale" in collapse_advice(likelihood="laplace", scale=1.0, beta=1.0, warmup_steps=9, steps=9999)
    assert "Bernoulli" not in collapse_advice(likelihood="bernoulli", scale=None, beta=1, warmup_steps=0, steps=10,
                                              binary_data=True)


def test_collapse_advice_for_estimator_users_names_their_keywords():
    from shadowplay.evaluation import collapse_advice
    tip = collapse_advice(likelihood="bernoulli", scale=None, beta=4.0, warmup_steps=0, steps=360,
                          phrasing="estimator")
    assert 'try likelihood="gaussian", overrides={"model.scale": 0.1}' in tip and "lower beta=" in tip
    assert 'overrides={"objective.warmup_steps": 120}' in tip and "(epochs=)" in tip and "--" not in tip
    tip = collapse_advice(likelihood="laplace", scale=1.0, beta=1.0, warmup_steps=9, steps=9999, phrasing="estimator")
    assert tip.startswith('what to try: overrides={"model.scale": 1.0} makes reconstruction errors cheap')
    with pytest.raises(ValueError, match="phrasing"):
        collapse_advice(likelihood="gaussian", scale=None, beta=None, warmup_steps=0, steps=1, phrasing="python")


def test_collapsed_property(linear):
    W = torch.zeros(5, 2, dtype=torch.float64)
    model = linear_gaussian_model(W, torch.zeros(5), 1.0, posterior="exact", dtype=torch.float64)
    assert latent_diagnostics(model, linear.draw(W, torch.zeros(5, dtype=torch.float64), 1.0, 50)).collapsed


def test_collapse_advice_counts_steps_in_the_singular_and_plural():
    """A one-step run was told "the run took only 1 steps"."""
    from shadowplay.evaluation import collapse_advice
    one = collapse_advice(likelihood="gaussian", scale=None, beta=None, warmup_steps=0, steps=1)
    assert "the run took only 1 step: train longer" in one
    assert "the run took only 360 steps:" in collapse_advice(likelihood="gaussian", scale=None, beta=None,
                                                              warmup_steps=0, steps=360)


def test_collapse_advice_names_a_low_lr_only_when_the_budget_was_short_for_it():
    """FactorVAE trains at lr 1e-4 (Kim & Mnih 2018): a short run barely moves its weights, and the advice did not say
    so (it suggested a Gaussian likelihood, a warm-up and --epochs, not the lr)."""
    from shadowplay.evaluation import collapse_advice
    common = dict(likelihood="gaussian", scale=0.1, beta=None, warmup_steps=50)
    tip = collapse_advice(**common, steps=35, lr=1e-4)
    assert "at lr 0.0001 the 35 steps barely moved the weights" in tip and "about 20,000 steps" in tip
    assert "--lr 0.001" in tip
    assert "lr=0.001" in collapse_advice(**common, steps=35, lr=1e-4, phrasing="estimator")
    for quiet in (dict(steps=35, lr=1e-3), dict(steps=35, lr=3e-3), dict(steps=25_000, lr=1e-4), dict(steps=35)):
        assert "lr" not in collapse_advice(**common, **quiet), quiet
