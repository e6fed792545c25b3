"""Each outlier score against an independent computation."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from shadowplay.errors import DataError, ShadowplayError
from shadowplay.evaluation.linear_gaussian import exact_log_likelihood, linear_gaussian_model
from shadowplay.outliers import (complexity_corrected, fit_aggregate_posterior, fit_typicality, kl_score,
                                 latent_density, latent_knn, likelihood_ratio, neg_elbo, neg_iwae, perturb, png_bits,
                                 recon_error, typicality, typicality_statistic)
from shadowplay.outliers.latent import AggregatePosterior


def test_neg_elbo_and_iwae_equal_exact_nll_with_the_exact_posterior(linear):
    model, W, b, sigma, x = linear
    exact = -exact_log_likelihood(W, b, sigma, x.numpy())
    # with the exact posterior, log p(x, z) − log q(z|x) = log p(x) for every z: both bounds are tight
    np.testing.assert_allclose(neg_iwae(model, x, iw_samples=5), exact, rtol=1e-6)
    # the ELBO has the Monte Carlo error of E_q[log p(x|z)]; with many draws it is close
    np.testing.assert_allclose(neg_elbo(model, x, samples=4000), exact, atol=0.1)


def test_neg_iwae_tightens_towards_exact_for_an_amortized_posterior(linear):
    _, W, b, sigma, x = linear
    model = linear_gaussian_model(W, b, sigma, posterior="amortized", seed=3, dtype=torch.float64)
    exact = -exact_log_likelihood(W, b, sigma, x.numpy())
    e1, e1000 = neg_iwae(model, x, iw_samples=1), neg_iwae(model, x, iw_samples=2000)
    assert np.mean(e1000 - exact) >= -0.05 and np.mean(e1 - exact) > np.mean(e1000 - exact)


def test_scores_are_deterministic_and_independent_of_batch_size(image_vae):
    x = torch.rand(37, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    a = neg_iwae(image_vae, x, iw_samples=7, seed=5)
    np.testing.assert_array_equal(a, neg_iwae(image_vae, x, iw_samples=7, seed=5))
    np.testing.assert_allclose(a, neg_iwae(image_vae, x, iw_samples=7, seed=5, batch_size=9), rtol=1e-6)
    assert not np.allclose(a, neg_iwae(image_vae, x, iw_samples=7, seed=6))


def test_recon_error_by_hand(image_vae):
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = image_vae.encoder(x)
        mu = h[:, :3]  # the encoder's first half is μ
        x_hat = torch.sigmoid(image_vae.decoder(mu))  # Bernoulli mean
    expect = ((x - x_hat) ** 2).flatten(1).sum(1).double().numpy()
    np.testing.assert_allclose(recon_error(image_vae, x, batch_size=2), expect, rtol=1e-5)


def test_kl_score_against_torch_kl(linear):
    model, *_, x = linear
    with torch.no_grad():
        q = model.encode(x)
        ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1).numpy()
    np.testing.assert_allclose(kl_score(model, x), ref, rtol=1e-10)


def test_latent_density_against_scipy_mixture(linear):
    model, *_, x = linear
    ref = fit_aggregate_posterior(model, x[:20], max_components=20)
    with torch.no_grad():
        q = model.encode(x[:20])
        mu_new = model.encode(x[20:25]).mean.numpy()
    comps = [multivariate_normal(m, np.diag(s ** 2)) for m, s in zip(q.mean.numpy(), q.stddev.numpy())]
    expect = [-(logsumexp([c.logpdf(z) for c in comps]) - math.log(20)) for z in mu_new]
    np.testing.assert_allclose(latent_density(model, x[20:25], ref), expect, rtol=1e-5)


def test_latent_density_subset_is_seeded(linear):
    model, *_, x = linear
    a = fit_aggregate_posterior(model, x, max_components=10, seed=1)
    b = fit_aggregate_posterior(model, x, max_components=10, seed=1)
    assert torch.equal(a.loc, b.loc) and a.loc.shape == (10, 3)


def test_png_bits_is_the_length_of_a_lossless_png():
    g = np.random.default_rng(0)
    imgs = np.stack([np.zeros((1, 8, 8)), g.integers(0, 256, (1, 8, 8)) / 255.0])
    bits = png_bits(imgs)
    for im, nbits in zip(imgs, bits):
        buf = io.BytesIO()
        Image.fromarray(np.rint(im[0] * 255).astype(np.uint8), "L").save(buf, format="PNG", compress_level=9)
        assert nbits == 8 * len(buf.getvalue())
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        np.testing.assert_array_equal(back, np.rint(im[0] * 255))  # lossless
    assert bits[0] < bits[1]  # a blank image is simpler than noise


def test_complexity_is_nll_in_bits_minus_png_bits(image_vae):
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    nll = neg_iwae(image_vae, x, iw_samples=4)
    np.testing.assert_allclose(complexity_corrected(image_vae, x, iw_samples=4), nll / math.log(2) - png_bits(x))
    with pytest.raises(DataError, match="tabular"):
        png_bits(np.zeros((3, 5)))


def test_likelihood_ratio_is_the_exact_log_density_ratio(linear, orthogonal):
    model, W, b, sigma, x = linear
    W2 = orthogonal(6, [1.0, 1.0, 1.0], seed=4)
    background = linear_gaussian_model(W2, torch.zeros(6, dtype=torch.float64), 1.2, dtype=torch.float64)
    expect = -exact_log_likelihood(W, b, sigma, x.numpy()) + exact_log_likelihood(W2, np.zeros(6), 1.2, x.numpy())
    np.testing.assert_allclose(likelihood_ratio(model, background, x, iw_samples=3), expect, rtol=1e-6)
    np.testing.assert_allclose(likelihood_ratio(model, model, x, iw_samples=3), 0.0, atol=1e-10)


def test_perturb_replaces_the_given_fraction_with_grey_levels():
    x = torch.full((200, 1, 10, 10), 0.5)
    y = perturb(x, 0.2, seed=0)
    changed = (y != x).float().mean().item()
    assert 0.18 < changed < 0.22  # the rest of 0.2: draws that land on 0.5 exactly (1/256) or binomial noise
    new = y[y != x]
    assert torch.allclose(torch.round(new * 255) / 255, new) and torch.equal(y, perturb(x, 0.2, seed=0))
    with pytest.raises(ShadowplayError, match="mutation rate"):
        perturb(x, 1.5)


def test_typicality_reference_and_statistic_by_brute_force():
    nll = np.random.default_rng(0).normal(100, 5, 500)
    ref = fit_typicality(nll, batch_size=4, alpha=0.05, n_bootstrap=2000, seed=1)
    assert ref.entropy == pytest.approx(nll.mean())
    boot = np.random.default_rng(1).choice(nll, size=(2000, 4), replace=True)
    assert ref.threshold == pytest.approx(np.quantile(np.abs(boot.mean(1) - nll.mean()), 0.95))
    test = np.array([90.0, 92, 94, 96, 130, 131])
    stat = typicality_statistic(test, ref)
    first, last = abs(test[:4].mean() - ref.entropy), abs(test[4:].mean() - ref.entropy)
    np.testing.assert_allclose(stat, [first] * 4 + [last] * 2)


def test_typicality_flags_too_likely_inputs(orthogonal):
    # in 40 dimensions the mode of p(x) is ~D/2 = 20 nats more likely than a typical input (sd ~ sqrt(D/2))
    W, b = orthogonal(40, [1.0, 1.0, 1.0]), torch.zeros(40, dtype=torch.float64)
    model = linear_gaussian_model(W, b, 0.5, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 3, generator=g, dtype=torch.float64) @ W.T + 0.5 * torch.randn(400, 40, generator=g,
                                                                                            dtype=torch.float64)
    ref = fit_typicality(neg_iwae(model, x, iw_samples=2), batch_size=1)
    assert (typicality(model, b.expand(3, -1), ref, iw_samples=2) > ref.threshold).all()
    assert (typicality(model, x[:100], ref, iw_samples=2) > ref.threshold).mean() < 0.05


def test_score_of_an_input_does_not_depend_on_its_position_or_company(image_vae):
    x = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    full = neg_iwae(image_vae, x, iw_samples=5, seed=2)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(neg_iwae(image_vae, x[perm], iw_samples=5, seed=2), full[perm.numpy()], rtol=1e-6)
    np.testing.assert_allclose(neg_iwae(image_vae, x[3:5], iw_samples=5, seed=2), full[3:5], rtol=1e-6)


def test_latent_knn_by_brute_force(linear):
    model, *_, x = linear
    ref = fit_aggregate_posterior(model, x[:20], max_components=20)
    with torch.no_grad():
        codes, new = model.encode(x[:20]).mean.numpy(), model.encode(x[20:26]).mean.numpy()
    expect = [np.sort(np.linalg.norm(codes - z, axis=1))[:3].mean() for z in new]
    np.testing.assert_allclose(latent_knn(model, x[20:26], ref, k=3), expect, rtol=1e-6)


def test_leave_one_out_latent_scores_score_a_fitted_input_against_the_other_codes(linear):
    # The threshold comes from the fitted inputs' own scores: each must be scored without its own code, i.e. as a
    # new input under the reference built from the other codes (an independent brute-force computation).
    model, *_, x = linear
    ref = fit_aggregate_posterior(model, x[:20], max_components=12, seed=3)
    own = ref.self_index(20)
    assert sorted(own[own >= 0].tolist()) == list(range(12)) and int((own >= 0).sum()) == 12
    loo_density = latent_density(model, x[:20], ref, self_index=own)
    loo_knn = latent_knn(model, x[:20], ref, k=3, self_index=own)
    for i in range(20):
        keep = [m for m in range(12) if m != own[i]]
        other = AggregatePosterior(ref.loc[keep], ref.scale[keep])
        np.testing.assert_allclose(loo_density[i], latent_density(model, x[i:i + 1], other)[0], rtol=1e-10)
        np.testing.assert_allclose(loo_knn[i], latent_knn(model, x[i:i + 1], other, k=3)[0], rtol=1e-10)
