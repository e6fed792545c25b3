"""Traversals and interpolations as tensors: range modes, dimension selection and ordering, shapes, and the exact
effect of a traversal on a linear decoder; lerp/slerp endpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from shadowplay.errors import ShadowplayError, ShadowplayWarning
from shadowplay.evaluation import (aggregate_draws, interpolate, lerp, linear_gaussian_model, quantile_levels,
                                   select_dims, slerp, traversal_values, traverse)


def test_range_modes():
    prior = traversal_values("prior", 3, steps=5, range_=2.0)
    assert prior.shape == (3, 5)
    np.testing.assert_allclose(prior[0], norm.ppf(np.linspace(norm.cdf(-2), norm.cdf(2), 5)))
    np.testing.assert_allclose(prior[:, 0], -2.0)  # the extreme quantile levels are Φ(±r)
    np.testing.assert_allclose(traversal_values("fixed", 2, 3, 1.5), [[-1.5, 0, 1.5]] * 2)
    means = np.random.default_rng(0).normal(size=(500, 2)) * [1.0, 3.0]
    mm = traversal_values("minmax", 2, 4, means=means)
    np.testing.assert_allclose(mm[:, 0], means.min(0))
    np.testing.assert_allclose(mm[:, -1], means.max(0))
    draws = aggregate_draws(means, np.full_like(means, 0.01), per_input=4, seed=0)
    assert draws.shape == (2000, 2)
    pq = traversal_values("posterior-quantile", 2, 7, 2.0, draws=draws)
    assert np.all(np.diff(pq, axis=1) > 0)
    np.testing.assert_allclose(pq[:, 3], np.median(draws, axis=0))
    assert pq[1, -1] - pq[1, 0] > 2.5 * (pq[0, -1] - pq[0, 0])  # the wider aggregate posterior gives a wider range
    assert quantile_levels(3.0, 2)[0] == pytest.approx(norm.cdf(-3), rel=1e-14)
    levels = quantile_levels(3.0, 11)  # torch.special's Φ⁻¹ against SciPy's, over the whole range a traversal uses
    np.testing.assert_allclose(traversal_values("prior", 1, 11, 3.0)[0], norm.ppf(levels), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kwargs, match", [
    (dict(mode="sideways"), "unknown traversal range mode"), (dict(mode="prior", steps=1), "at least 2 steps"),
    (dict(mode="fixed", range_=0.0), "range must be > 0"), (dict(mode="posterior-quantile"), "needs codes"),
])
def test_range_mode_errors(kwargs, match):
    with pytest.raises(ShadowplayError, match=match):
        traversal_values(latent_dim=2, **kwargs)


def test_select_dims():
    order = [2, 0, 3, 1]
    assert select_dims("all", 4, order).tolist() == order
    assert select_dims("top2", 4, order).tolist() == [2, 0]
    with pytest.warns(ShadowplayWarning, match="top9: this model has 4 latent dimensions; traversing all 4"):
        assert select_dims("top9", 4, order).tolist() == order  # it used to shorten the list without a word
    assert select_dims("3,1", 4, order).tolist() == [3, 1]
    assert select_dims([0], 4).tolist() == [0]
    with pytest.raises(ShadowplayError, match="latent dimension 7 is out of range; this model has 4"):
        select_dims("1,7", 4)
    with pytest.raises(ShadowplayError, match="'all', 'topN'"):
        select_dims("first", 4)
    # a dimension given twice drew the same row twice and wrote dim-<d>.png twice
    with pytest.raises(ShadowplayError, match="latent dimension 1 is given 2 times in --dims 3,1,1; give each"):
        select_dims("3,1,1", 4)
    with pytest.raises(ShadowplayError, match="latent dimension 0 is given 3 times"):
        select_dims([0, 0, 0], 4)


def test_traversal_moves_exactly_one_dimension_of_a_linear_decoder(linear):
    W = linear.columns(5, [2.0, 1.0, 0.5])
    b = torch.arange(5, dtype=torch.float64)
    model = linear_gaussian_model(W, b, 0.1)
    base = np.array([[0.0, 0.0, 0.0], [0.5, -1.0, 2.0]])
    values = traversal_values("fixed", 3, steps=4, range_=1.0)
    tr = traverse(model, base, [2, 0], values)
    assert tr.images.shape == (2, 2, 4, 5) and tr.values.shape == (2, 4)
    for i, z0 in enumerate(base):
        for j, d in enumerate([2, 0]):
            for s, v in enumerate(values[d]):
                z = z0.copy()
                z[d] = v
                np.testing.assert_allclose(tr.images[i, j, s].numpy(), (W.numpy() @ z + b.numpy()), atol=1e-5)


def test_traversal_shapes_for_images(vae_run):
    from shadowplay import api
    model = api.load(vae_run)
    tr = traverse(model, np.zeros((1, 4)), [1, 3, 0], traversal_values("prior", 4, steps=6))
    assert tr.images.shape == (1, 3, 6, 1, 8, 8)
    assert float(tr.images.min()) >= 0 and float(tr.images.max()) <= 1
    with pytest.raises(ShadowplayError, match="values must have shape"):
        traverse(model, np.zeros((1, 4)), [0], np.zeros((2, 6)))


def test_lerp_and_slerp_endpoints_and_norms():
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])
    t = torch.linspace(0, 1, 9)
    for f in (lerp, slerp):
        path = f(a, b, t)
        assert path.shape == (9, 3)
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b)
    mid = slerp(a / 3, b / 2, torch.tensor([0.5]))[0]  # unit vectors stay on the unit circle
    assert float(mid.norm()) == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(slerp(a, 2 * a, t), lerp(a, 2 * a, t))  # parallel: no unique great circle


def test_interpolate(linear):
    model = linear_gaussian_model(linear.columns(4, [1.0, 1.0]), torch.zeros(4), 0.1)
    za, zb = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    out = interpolate(model, za, zb, steps=5, path="slerp")
    assert out.images.shape == (5, 4) and out.codes.shape == (5, 2)
    torch.testing.assert_close(out.codes[0], za)
    torch.testing.assert_close(out.codes[-1], zb)
    with pytest.raises(ShadowplayError, match="linear or slerp"):
        interpolate(model, za, zb, path="cubic")
    with pytest.raises(ShadowplayError, match="codes of 2 values"):
        interpolate(model, torch.zeros(3), zb)
