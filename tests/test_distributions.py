"""Posteriors and likelihoods: the encoder's output is read as (μ, log σ²), the reparameterization
z = μ + σ ⊙ ε carries gradients to μ and log σ² but not into ε (Kingma & Welling 2014, §2.4), and each
likelihood's ``log_prob`` is the explicit per-example density summed over data dimensions."""

from __future__ import annotations

import math

import pytest
import torch

from shadowplay.distributions import (BernoulliLikelihood, GaussianLikelihood, GaussianPosterior, LaplaceLikelihood,
                                      PointMass, PointPosterior, standard_normal_prior)


def test_gaussian_posterior_reads_mu_then_log_variance():
    mu = torch.tensor([[0.5, -1.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]])
    q = GaussianPosterior()(torch.cat([mu, logvar], dim=1))
    assert q.batch_shape == (1, 3)
    torch.testing.assert_close(q.mean, mu)
    torch.testing.assert_close(q.stddev, torch.tensor([[1.0, 2.0, 0.5]]))
    assert GaussianPosterior().n_params(3) == 6 and PointPosterior().n_params(3) == 3


def test_rsample_is_mu_plus_sigma_eps_and_grads_reach_mu_and_logvar_not_eps():
    torch.manual_seed(0)
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    q = GaussianPosterior()(torch.cat([mu, logvar], dim=1))
    state = torch.get_rng_state()
    z = q.rsample()
    torch.set_rng_state(state)
    eps = torch.randn(4, 3)                                   # the same ε torch drew
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar) * eps)
    w = torch.randn(4, 3)
    (z * w).sum().backward()
    # d z / d μ = 1; d z / d log σ² = ½ σ ε
    torch.testing.assert_close(mu.grad, w)
    torch.testing.assert_close(logvar.grad, w * 0.5 * torch.exp(0.5 * logvar.detach()) * eps)
    assert not eps.requires_grad and eps.grad is None


def test_plain_sample_carries_no_gradient():
    h = torch.randn(2, 4, requires_grad=True)
    assert not GaussianPosterior()(h).sample().requires_grad


def test_point_mass_passes_gradient_to_its_loc():
    loc = torch.randn(5, 2, requires_grad=True)
    q = PointPosterior()(loc)
    assert isinstance(q, PointMass)
    z = q.rsample()
    assert torch.equal(z, loc) and torch.equal(q.mean, loc)
    assert torch.equal(q.stddev, torch.zeros(5, 2)) and torch.equal(q.variance, torch.zeros(5, 2))
    (3.0 * z).sum().backward()
    torch.testing.assert_close(loc.grad, torch.full((5, 2), 3.0))
    assert q.rsample((7,)).shape == (7, 5, 2)


def test_bernoulli_log_prob_is_the_explicit_formula_summed_over_pixels():
    torch.manual_seed(1)
    logits = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)           # grey levels, not just 0/1
    p = BernoulliLikelihood((1, 4, 4))(logits)
    assert p.batch_shape == (3,) and p.event_shape == (1, 4, 4)
    s = torch.sigmoid(logits)
    by_hand = (x * torch.log(s) + (1 - x) * torch.log(1 - s)).sum(dim=(1, 2, 3))
    torch.testing.assert_close(p.log_prob(x), by_hand)
    torch.testing.assert_close(p.mean, s)


@pytest.mark.parametrize("scale", [None, 0.3])
def test_gaussian_likelihood_log_prob_and_scale(scale):
    torch.manual_seed(2)
    lik = GaussianLikelihood((5,), scale).double()
    m = torch.randn(4, 5, dtype=torch.float64)
    x = torch.randn(4, 5, dtype=torch.float64)
    if scale is None:  # learned: one log σ per data dimension, a trainable parameter
        assert isinstance(lik.log_scale, torch.nn.Parameter)
        with torch.no_grad():
            lik.log_scale.copy_(torch.linspace(-1, 1, 5, dtype=torch.float64))
    else:              # fixed: a buffer, saved with the model but not trained
        assert "log_scale" in dict(lik.named_buffers()) and not list(lik.parameters())
    sigma = lik.log_scale.exp()
    by_hand = (-0.5 * torch.log(2 * math.pi * sigma**2) - (x - m) ** 2 / (2 * sigma**2)).sum(-1)
    torch.testing.assert_close(lik(m).log_prob(x).detach(), by_hand.detach())


def test_laplace_likelihood_log_prob():
    lik = LaplaceLikelihood((2, 3), 0.5).double()
    m = torch.zeros(2, 2, 3, dtype=torch.float64)
    x = torch.linspace(-1, 1, 12, dtype=torch.float64).view(2, 2, 3)
    by_hand = (-math.log(2 * 0.5) - x.abs() / 0.5).sum(dim=(1, 2))
    torch.testing.assert_close(lik(m).log_prob(x), by_hand)


def test_standard_normal_prior_follows_like():
    like = torch.zeros(1, dtype=torch.float64)
    p = standard_normal_prior((3, 2), like)
    assert p.batch_shape == (3, 2) and p.mean.dtype == torch.float64
    zeros = torch.zeros(3, 2, dtype=torch.float64)
    assert torch.equal(p.mean, zeros) and torch.equal(p.stddev, zeros + 1)
