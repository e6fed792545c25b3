"""Sampling weights against an independent, loop-by-loop computation of Amini et al. 2019, Algorithm 1."""

import math

import numpy as np
import pytest
import torch

from shadowplay.debias import DebiasError, sampling_weights


def reference(codes, bins, alpha, combine):
    """Pure-Python: equal-width bins over [min, max] per dimension, mass = count / N, w_j = 1 / (mass + α);
    product → Π_j w_j; max → max_j of w_j normalized over the inputs; normalized to sum 1."""
    n, L = len(codes), len(codes[0])
    per_dim = []
    for j in range(L):
        col = [float(c[j]) for c in codes]
        lo, hi = min(col), max(col)
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5  # numpy's convention for a constant column
        width = (hi - lo) / bins
        idx = [min(bins - 1, int(math.floor((v - lo) / width))) for v in col]
        mass = [idx.count(b) / n for b in range(bins)]
        per_dim.append([1.0 / (mass[i] + alpha) for i in idx])
    if combine == "product":
        w = [math.prod(per_dim[j][i] for j in range(L)) for i in range(n)]
    else:
        norm = [[v / sum(col) for v in col] for col in per_dim]
        w = [max(norm[j][i] for j in range(L)) for i in range(n)]
    s = sum(w)
    return np.array([v / s for v in w])


@pytest.mark.parametrize("combine", ["max", "product"])
@pytest.mark.parametrize("bins,alpha", [(10, 1e-3), (4, 0.05), (2, 1.0)])
def test_matches_independent_computation(combine, bins, alpha):
    # grid-free values: no code sits exactly on a bin edge, so floor() and numpy agree
    codes = np.random.default_rng(3).normal(size=(200, 3)) * [1.0, 0.1, 5.0]
    w = sampling_weights(codes, bins=bins, alpha=alpha, combine=combine)
    np.testing.assert_allclose(w, reference(codes.tolist(), bins, alpha, combine), rtol=1e-9)
    assert w.shape == (200,) and abs(w.sum() - 1) < 1e-12 and (w > 0).all()


def test_rare_codes_get_the_largest_weights_and_torch_input_works():
    rng = np.random.default_rng(0)
    common = rng.normal(0, 1, size=(990, 2))
    rare = rng.normal(8, 0.1, size=(10, 2))  # a far cluster: its own bins
    codes = torch.tensor(np.concatenate([common, rare]), dtype=torch.float32)
    for combine in ("max", "product"):
        w = sampling_weights(codes, combine=combine, alpha=1e-3)
        assert w[990:].min() > np.median(w[:990]) * 10
        # the rare cluster's share of the draws rises from 1 % to a large share
        assert w[990:].sum() > 0.05
    # the default (product, α = 0.3, tuned for 16 latents) is gentler in 2-D but still ranks every rare code first
    w = sampling_weights(codes)
    assert w[990:].min() > w[:990].max() and w[990:].min() > 4 * np.median(w[:990])


def test_product_is_sharper_than_max_with_many_dimensions():
    codes = np.random.default_rng(1).normal(size=(500, 16))
    top = lambda w: np.sort(w)[-5:].sum()  # noqa: E731
    assert top(sampling_weights(codes, combine="product")) > top(sampling_weights(codes, combine="max"))


def test_constant_dimension_and_uniform_codes_give_uniform_weights():
    w = sampling_weights(np.ones((7, 2)))
    np.testing.assert_allclose(w, np.full(7, 1 / 7))


@pytest.mark.parametrize("kwargs,match", [({"alpha": 0.0}, "alpha"), ({"alpha": -1e-3}, "alpha"),
                                          ({"alpha": float("inf")}, "finite"),  # gave NaN weights
                                          ({"bins": 1}, "bins"), ({"bins": 2.5}, "bins"),
                                          ({"combine": "mean"}, "combine")])
def test_bad_options(kwargs, match):
    with pytest.raises(DebiasError, match=match):
        sampling_weights(np.zeros((4, 2)), **kwargs)


def test_bad_codes():
    with pytest.raises(DebiasError, match="shape"):
        sampling_weights(np.zeros(4))
    with pytest.raises(DebiasError, match="NaN"):
        sampling_weights(np.array([[0.0], [np.nan]]))
