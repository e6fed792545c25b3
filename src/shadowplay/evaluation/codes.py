"""Latent codes of many inputs, and 2-D maps of them (the two most-used latents, PCA or t-SNE).

Pure functions of a model and tensors (``encode_all``) or of arrays (``kl_per_dimension``, ``latent_map``): the
``embed`` command and the scikit-learn transformer write and draw what these return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..distributions import PointMass
from ..errors import ShadowplayError
from ..model import LatentVariableModel

MAP_METHODS = ("top2", "pca", "tsne")


@dataclass(frozen=True)
class Codes:
    """Posterior parameters of ``N`` inputs: ``mean`` ``(N, L)`` = E[z|x]; ``logvar`` ``(N, L)`` = log σ² of a
    Gaussian posterior, ``None`` for a plain autoencoder's point-mass code."""

    mean: np.ndarray
    logvar: np.ndarray | None


@torch.inference_mode()
def encode_all(model: LatentVariableModel, x: torch.Tensor, max_rows: int = 4096) -> Codes:
    """Encode ``x`` ``(N, *shape)`` in chunks of ``max_rows`` (memory bound, not a change of the result)."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    model.eval()
    means, logvars, point = [], [], False
    for chunk in torch.as_tensor(x).split(max_rows):
        q = model.encode(chunk)
        means.append(q.mean.float().cpu().numpy())
        if isinstance(q, PointMass):
            point = True
        else:
            logvars.append((2 * torch.log(q.stddev)).float().cpu().numpy())  # log σ² from σ = exp(½ log σ²)
    mean = np.concatenate(means) if means else np.zeros((0, model.latent_dim), np.float32)
    logvar = None if point else (np.concatenate(logvars) if logvars else np.zeros_like(mean))
    return Codes(mean, logvar)


def kl_per_dimension(codes: Codes) -> np.ndarray:
    """Mean over inputs of KL(q(z_j|x) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²) per latent j, ``(L,)`` nats
    (Kingma & Welling 2014, appendix B). For a point-mass code, where no KL exists, the variance of the codes
    across inputs stands in as "how much the latent is used"."""
    if codes.logvar is None:
        return codes.mean.astype(np.float64).var(axis=0)
    mu, lv = codes.mean.astype(np.float64), codes.logvar.astype(np.float64)
    return (0.5 * (mu ** 2 + np.exp(lv) - 1.0 - lv)).mean(axis=0)


@dataclass(frozen=True)
class LatentMap:
    """A 2-D picture of codes: ``xy`` ``(M, 2)`` for the rows ``index`` ``(M,)`` of the codes (all of them, or a
    seeded subsample of ``max_points``), drawn with ``method``; ``axes`` names the two axes."""

    xy: np.ndarray
    index: np.ndarray
    method: str
    axes: tuple[str, str]


def latent_map(codes: Codes, method: str = "pca", seed: int = 0, max_points: int = 5000) -> LatentMap:
    """Project posterior means to 2-D.

    ``top2``: the two latents with the largest mean KL (:func:`kl_per_dimension`), unchanged; ``pca``: the first two
    principal components of the means; ``tsne``: scikit-learn's t-SNE (van der Maaten & Hinton 2008) of the means,
    initialized with PCA, perplexity min(30, (M − 1)/3). More than ``max_points`` rows are subsampled (seeded).
    """
    if method not in MAP_METHODS:
        raise ShadowplayError(f"unknown map {method!r}; choose one of {', '.join(MAP_METHODS)}")
    n, L = codes.mean.shape
    if L < 2:
        raise ShadowplayError(f"a 2-D map needs at least 2 latents; this model has {L}")
    if max_points < 2:
        raise ShadowplayError(f"max_points must be >= 2, got {max_points}")
    index = np.arange(n)
    if n > max_points:
        index = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    mu = codes.mean[index].astype(np.float64)
    if method == "top2":
        kl = kl_per_dimension(codes)
        dims = np.argsort(-kl, kind="stable")[:2]
        unit = "var" if codes.logvar is None else "KL"
        return LatentMap(mu[:, dims], index, method,
                         tuple(f"z{d} ({unit} {kl[d]:.2f}{' nats' if unit == 'KL' else ''})" for d in dims))
    if method == "pca":
        if len(mu) < 2:
            raise ShadowplayError(f"a PCA map needs at least 2 inputs, got {len(mu)}")
        from sklearn.decomposition import PCA
        pca = PCA(n_components=2, random_state=seed).fit(mu)
        ratio = pca.explained_variance_ratio_
        return LatentMap(pca.transform(mu), index, method, (f"PC1 ({ratio[0]:.0%} of variance)",
                                                             f"PC2 ({ratio[1]:.0%} of variance)"))
    if len(mu) < 5:
        raise ShadowplayError(f"t-SNE needs at least 5 points, got {len(mu)}")
    from sklearn.manifold import TSNE
    xy = TSNE(n_components=2, init="pca", random_state=seed, perplexity=min(30.0, (len(mu) - 1) / 3)).fit_transform(mu)
    return LatentMap(xy, index, method, ("t-SNE 1", "t-SNE 2"))
