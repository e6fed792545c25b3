"""Per-input likelihoods against exact answers: the linear-Gaussian model, IWAE ≥ ELBO, convergence in K,
chunking invariance of the counter-based noise, and the autoencoder case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from shadowplay.run import open_run
from shadowplay import api
from shadowplay.errors import DataError, ShadowplayError
from shadowplay.evaluation import (counter_normal, exact_log_likelihood, exact_posterior, linear_gaussian_model,
                                   per_sample_likelihoods)
from shadowplay.evaluation.likelihood import _log_likelihood, mix64


def _setup(linear, n=150):
    W = linear.columns(6, [2.0, 1.0, 0.5])
    b = torch.linspace(-1, 1, 6, dtype=torch.float64)
    return W, b, 0.4, linear.draw(W, b, 0.4, n)


def test_exact_posterior_makes_the_estimate_exact_for_any_k(linear):
    W, b, sigma, x = _setup(linear)
    model = linear_gaussian_model(W, b, sigma, posterior="exact", dtype=torch.float64)
    exact = exact_log_likelihood(W, b, sigma, x)
    for k in (1, 7):
        r = per_sample_likelihoods(model, x, k)
        np.testing.assert_allclose(r.log_px, exact, atol=1e-6)  # every weight p(x,z)/q(z|x) equals p(x)
        np.testing.assert_allclose(r.elbo, r.recon_ll - r.kl)


def test_exact_formulas_match_gaussian_conditioning(linear):
    W, b, sigma, x = _setup(linear, n=5)
    W = W + 0.3  # columns no longer orthogonal: the formulas hold for any W
    cov_x = W @ W.T + sigma ** 2 * torch.eye(6, dtype=torch.float64)
    gain = W.T @ torch.linalg.inv(cov_x)  # E[z|x] = Wᵀ Σ_x⁻¹ (x − b), Cov = I − Wᵀ Σ_x⁻¹ W
    post = exact_posterior(W, b, sigma, x)
    np.testing.assert_allclose(post.mean, ((x - b) @ gain.T).numpy(), atol=1e-10)
    np.testing.assert_allclose(post.cov, (torch.eye(3, dtype=torch.float64) - gain @ W).numpy(), atol=1e-10)
    d = x - b
    manual = -0.5 * (6 * math.log(2 * math.pi) + torch.logdet(cov_x) + (d @ torch.linalg.inv(cov_x) * d).sum(1))
    np.testing.assert_allclose(exact_log_likelihood(W, b, sigma, x), manual.numpy(), atol=1e-10)
    with pytest.raises(ShadowplayError, match="orthogonal columns"):
        linear_gaussian_model(W, b, sigma, posterior="exact")


def test_iwae_bounds_and_approaches_exact_as_k_grows(linear):
    W, b, sigma, x = _setup(linear)
    model = linear_gaussian_model(W, b, sigma, posterior="amortized", seed=3, dtype=torch.float64)
    exact = exact_log_likelihood(W, b, sigma, x).mean()
    gaps = []
    for k in (1, 10, 100, 1000):
        r = per_sample_likelihoods(model, x, k, seed=1)
        assert r.elbo.mean() <= r.log_px.mean() + 1e-9 or k == 1
        assert r.log_px.mean() <= exact + 0.05
        gaps.append(exact - r.log_px.mean())
    assert all(g1 > g2 for g1, g2 in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 0.1 * gaps[0]


def test_iwae_above_elbo_on_a_trained_model(vae_run):
    model = api.load(vae_run)
    x = api.load_splits(open_run(vae_run).config).test.x
    r = per_sample_likelihoods(model, x, 50)
    assert r.log_px.mean() > r.elbo.mean()
    assert np.all(r.kl >= 0)
    np.testing.assert_allclose(r.bits_per_dim, -r.log_px / (64 * math.log(2)))
    s = r.summary()
    assert s["log_px"] == pytest.approx(r.log_px.mean()) and s["elbo_sem"] > 0


def test_results_do_not_depend_on_chunking(vae_run):
    model = api.load(vae_run)
    x = api.load_splits(open_run(vae_run).config).test.x[:23]
    ref = per_sample_likelihoods(model, x, 37, max_rows=100_000, seed=5)
    for rows in (1, 10, 64):
        r = per_sample_likelihoods(model, x, 37, max_rows=rows, seed=5)
        np.testing.assert_allclose(r.log_px, ref.log_px, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(r.recon_ll, ref.recon_ll, rtol=1e-5, atol=1e-4)
    part = per_sample_likelihoods(model, x[5:9], 37, seed=5, index=torch.arange(5, 9))
    np.testing.assert_allclose(part.log_px, ref.log_px[5:9], rtol=1e-5, atol=1e-4)
    other = per_sample_likelihoods(model, x, 37, seed=6)
    assert not np.allclose(other.log_px, ref.log_px)


def test_counter_noise_is_standard_normal_and_matches_splitmix64():
    mask = (1 << 64) - 1

    def ref(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)
    vals = [0, 1, 12345, 2 ** 62 + 7, -5]
    assert [v & mask for v in mix64(torch.tensor(vals)).tolist()] == [ref(v & mask) for v in vals]
    eps = counter_normal(0, torch.arange(200), 0, 200, 5)
    assert eps.shape == (200, 200, 5)
    assert abs(float(eps.mean())) < 0.01 and abs(float(eps.std()) - 1) < 0.01
    assert torch.equal(counter_normal(0, torch.arange(3, 7), 50, 60, 5), eps[50:60, 3:7])


def test_bernoulli_fast_path_equals_log_prob():
    from shadowplay.model import ModelSpec, build_model
    model = build_model(ModelSpec(data_shape=(1, 4, 4), latent_dim=2, net="mlp", hidden=(8,)))
    h, x = torch.randn(3, 5, 1, 4, 4), torch.rand(5, 1, 4, 4)
    torch.testing.assert_close(_log_likelihood(model, h, x), model.likelihood(h).log_prob(x))


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_k_must_be_a_positive_integer(vae_run, k):
    with pytest.raises(ValueError, match="K must be an integer >= 1"):
        per_sample_likelihoods(api.load(vae_run), torch.rand(2, 1, 8, 8), k)


def test_wrong_input_shape_is_a_clear_error(vae_run):
    with pytest.raises(DataError, match=r"shape \(N, 1, 8, 8\)"):
        per_sample_likelihoods(api.load(vae_run), torch.rand(2, 1, 28, 28), 5)


def test_autoencoder_reports_reconstruction_only(ae_run):
    model = api.load(ae_run)
    r = per_sample_likelihoods(model, torch.rand(6, 1, 8, 8), 10)
    assert r.kl is None and r.elbo is None and r.log_px is None and r.bits_per_dim is None
    assert r.recon_ll.shape == (6,) and "autoencoder" in r.note
    assert set(r.columns()) == {"recon_ll"}


def test_the_grey_level_caveat_is_said_only_for_grey_levels(vae_run):
    """A Bernoulli is a normalized density of binary inputs (dSprites): its evaluation and report used to say
    "on grey levels in [0, 1] it is not a normalized density" there too."""
    model = api.load(vae_run)
    binary = (torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    assert per_sample_likelihoods(model, binary, 2).note == ""
    assert "grey levels" in per_sample_likelihoods(model, binary * 0.5 + 0.25, 2).note
