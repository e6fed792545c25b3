"""Codes and 2-D maps: encode_all against the model, KL per latent against torch's closed form, the top-2 choice,
PCA against scikit-learn, t-SNE shape and seeding, and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from torch.distributions import Normal, kl_divergence

from shadowplay.errors import ShadowplayError
from shadowplay.evaluation.codes import Codes, encode_all, kl_per_dimension, latent_map
from shadowplay.model import ModelSpec, build_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelSpec(data_shape=(6,), latent_dim=3, hidden=(8,), likelihood="gaussian")).eval()


def test_encode_all_matches_the_posterior_and_ignores_chunking(model):
    x = torch.rand(50, 6)
    c = encode_all(model, x, max_rows=7)
    q = model.encode(x)
    np.testing.assert_allclose(c.mean, q.mean.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c.logvar, 2 * np.log(q.stddev.detach().numpy()), rtol=1e-5, atol=1e-6)
    c2 = encode_all(model, x, max_rows=4096)
    np.testing.assert_allclose(c.mean, c2.mean, rtol=1e-6, atol=1e-7)  # batched products round differently


def test_autoencoder_codes_have_no_logvar():
    torch.manual_seed(0)
    ae = build_model(ModelSpec(data_shape=(6,), latent_dim=2, hidden=(8,), posterior="point", likelihood="gaussian"))
    c = encode_all(ae, torch.rand(10, 6))
    assert c.logvar is None and c.mean.shape == (10, 2)
    np.testing.assert_allclose(kl_per_dimension(c), c.mean.astype(np.float64).var(0))


def test_kl_per_dimension_is_the_closed_form():
    rng = np.random.default_rng(0)
    mu, lv = rng.normal(size=(40, 4)), rng.normal(size=(40, 4))
    ref = kl_divergence(Normal(torch.tensor(mu), torch.tensor(np.exp(0.5 * lv))),
                        Normal(torch.zeros(40, 4, dtype=torch.float64), torch.ones(40, 4, dtype=torch.float64)))
    np.testing.assert_allclose(kl_per_dimension(Codes(mu, lv)), ref.mean(0).numpy(), rtol=1e-12)


def test_top2_takes_the_latents_with_most_kl():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(30, 4)) * np.array([0.1, 2.0, 0.01, 1.0])  # latent 1 then 3 carry the most KL
    m = latent_map(Codes(mu, np.zeros_like(mu)), "top2")
    np.testing.assert_array_equal(m.xy, mu[:, [1, 3]])
    assert m.axes[0].startswith("z1 (KL") and m.axes[1].startswith("z3 (KL")


def test_pca_map_matches_scikit_learn_and_subsamples():
    rng = np.random.default_rng(2)
    mu = rng.normal(size=(200, 5))
    m = latent_map(Codes(mu, None), "pca", max_points=200)
    np.testing.assert_allclose(m.xy, PCA(2).fit_transform(mu), rtol=1e-6, atol=1e-8)
    sub = latent_map(Codes(mu, None), "pca", seed=3, max_points=50)
    assert sub.xy.shape == (50, 2) and len(np.unique(sub.index)) == 50 and np.all(np.diff(sub.index) > 0)
    assert np.array_equal(sub.index, latent_map(Codes(mu, None), "pca", seed=3, max_points=50).index)


def test_a_pca_map_of_one_input_is_refused_in_one_line():
    with pytest.raises(ShadowplayError, match="a PCA map needs at least 2 inputs, got 1"):
        latent_map(Codes(np.zeros((1, 3)), None), "pca")


def test_tsne_map_is_seeded():
    mu = np.random.default_rng(3).normal(size=(40, 3))
    a, b = latent_map(Codes(mu, None), "tsne", seed=0), latent_map(Codes(mu, None), "tsne", seed=0)
    assert a.xy.shape == (40, 2)
    np.testing.assert_allclose(a.xy, b.xy)


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="umap"), "unknown map 'umap'"),
    (dict(method="pca", max_points=1), "max_points must be >= 2"),
])
def test_bad_map_arguments(kwargs, match):
    with pytest.raises(ShadowplayError, match=match):
        latent_map(Codes(np.zeros((5, 3)), None), **kwargs)
    with pytest.raises(ShadowplayError, match="at least 2 latents"):
        latent_map(Codes(np.zeros((5, 1)), None), "pca")
