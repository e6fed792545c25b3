"""Latent density under the aggregate posterior.

The aggregate posterior of a VAE is the mixture of its per-input posteriors over the training data,
q(z) = (1/N) Σ_n q(z | x_n) (Makhzani et al. 2016, "Adversarial autoencoders", eq. 1; Hoffman & Johnson 2016,
"ELBO surgery", eq. 2). An input whose code μ(x) falls where q(z) has little mass is one the encoder never produced
for normal data: the score is −log q(μ(x)), with the mixture taken over a seeded subset of ``M`` training inputs

    −log q(μ(x)) = −logsumexp_m log N(μ(x); μ_m, diag σ_m²) + log M.

:func:`latent_knn` is the distance-based relative: the mean Euclidean distance from μ(x) to its k nearest training
codes, the k-NN outlier score of Ramaswamy, Rastogi & Shim (SIGMOD 2000; they rank by the k-th distance, Angiulli
& Pizzuti 2002 by the mean of the k), computed in the VAE's latent space instead of the input space.

For a plain autoencoder (point-mass posteriors) the components get the bandwidth ``point_bandwidth`` (a Gaussian
kernel density estimate of the codes, Parzen 1962).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ShadowplayError
from ..model import LatentVariableModel


KNN = 5  # the k of latent_knn (and of the combined score's latent component)


@dataclass(frozen=True)
class AggregatePosterior:
    """The mixture components: ``loc`` and ``scale`` ``(M, L)`` float32 tensors, and ``rows`` ``(M,)`` int64: which
    rows of the fitted inputs they came from (``None`` when unknown)."""

    loc: torch.Tensor
    scale: torch.Tensor
    rows: torch.Tensor | None = None

    def tensors(self) -> dict[str, torch.Tensor]:
        t = {"latent/loc": self.loc.contiguous(), "latent/scale": self.scale.contiguous()}
        if self.rows is not None:
            t["latent/rows"] = self.rows.contiguous()
        return t

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> "AggregatePosterior":
        return cls(t["latent/loc"], t["latent/scale"], t.get("latent/rows"))

    def neg_log_density(self, z: torch.Tensor, block: int = 512,
                        self_index: torch.Tensor | None = None) -> np.ndarray:
        """−log q(z) ``(N,)`` float64 for codes ``z`` ``(N, L)``; computed in blocks of ``block`` codes. With
        ``self_index`` ``(N,)`` (see :func:`self_index`) a code's own component is left out of its mixture, which
        then has M − 1 components (leave-one-out)."""
        loc, scale = self.loc.double(), self.scale.double()
        m = loc.shape[0]
        if self_index is not None and bool((self_index >= 0).any()) and m < 2:
            raise ShadowplayError("a leave-one-out latent density needs at least 2 reference codes")
        log_norm = -scale.log().sum(-1) - 0.5 * loc.shape[1] * math.log(2 * math.pi)  # (M,)
        out = []
        for start in range(0, len(z), block):
            zb = z[start:start + block].double()
            logp = log_norm - 0.5 * ((zb[:, None, :] - loc[None]) / scale[None]).square().sum(-1)  # (b, M)
            count = torch.full((len(zb),), float(m), dtype=torch.float64)
            if self_index is not None:
                own = self_index[start:start + block]
                has = (own >= 0).nonzero().squeeze(1)
                logp[has, own[has]] = float("-inf")
                count[has] -= 1
            out.append(-(torch.logsumexp(logp, dim=1) - count.log()))
        return torch.cat(out).cpu().numpy()

    def self_index(self, n: int) -> torch.Tensor:
        """``(n,)`` int64: for each of the ``n`` inputs this reference was fitted on, the index of its own code
        among ``loc`` (−1 when it has none), so that the fitted inputs can be scored leave-one-out; all −1 when
        the rows are unknown."""
        own = torch.full((n,), -1, dtype=torch.long)
        if self.rows is not None:
            own[self.rows] = torch.arange(len(self.rows))
        return own


@torch.inference_mode()
def fit_aggregate_posterior(model: LatentVariableModel, x_train: torch.Tensor, *, max_components: int = 2000,
                            seed: int = 0, point_bandwidth: float = 0.1,
                            batch_size: int = 4096) -> AggregatePosterior:
    """q(z | x_m) for a seeded subset of at most ``max_components`` rows of ``x_train`` ``(N, *shape)``."""
    model.eval()
    n = len(x_train)
    pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_components].sort().values
    locs, scales = [], []
    for chunk in model._as_input(x_train[pick]).split(batch_size):
        q = model.encode(chunk)
        locs.append(q.mean.float().cpu())
        s = q.stddev.float().cpu()
        scales.append(torch.where(s > 0, s, torch.full_like(s, point_bandwidth)))
    return AggregatePosterior(torch.cat(locs), torch.cat(scales), pick)


@torch.inference_mode()
def latent_density(model: LatentVariableModel, x: torch.Tensor, reference: AggregatePosterior, *,
                   batch_size: int = 4096, self_index: torch.Tensor | None = None) -> np.ndarray:
    """−log q(μ(x)) ``(N,)``: the negative log density of each input's posterior mean under the aggregate
    posterior ``reference`` (module docstring). Deterministic. ``self_index`` ``(N,)`` int64 names each input's
    own component (−1 for none), which is then left out (leave-one-out)."""
    model.eval()
    mu = torch.cat([model.encode(c).mean.float().cpu() for c in model._as_input(x).split(batch_size)])
    return reference.neg_log_density(mu, self_index=self_index)


@torch.inference_mode()
def latent_knn(model: LatentVariableModel, x: torch.Tensor, reference: AggregatePosterior, *, k: int = KNN,
               batch_size: int = 4096, self_index: torch.Tensor | None = None) -> np.ndarray:
    """Mean Euclidean distance from μ(x) to its ``k`` nearest codes among ``reference.loc`` ``(N,)`` (module
    docstring). Deterministic. An input that is itself a reference code counts its own distance 0, unless
    ``self_index`` ``(N,)`` int64 names its code (−1 for none): that code is then left out (leave-one-out)."""
    model.eval()
    mu = torch.cat([model.encode(c).mean.double().cpu() for c in model._as_input(x).split(batch_size)])
    return knn_distance(mu, reference, k=k, self_index=self_index)


def knn_distance(mu: torch.Tensor, reference: AggregatePosterior, *, k: int = KNN,
                 self_index: torch.Tensor | None = None) -> np.ndarray:
    """:func:`latent_knn` of codes already computed, ``mu`` ``(N, L)`` float64 → ``(N,)``."""
    n_ref = len(reference.loc) - (self_index is not None and bool((self_index >= 0).any()))
    if not 1 <= k <= n_ref:
        raise ShadowplayError(f"k must lie in [1, {n_ref}] (the number of reference codes), got {k}")
    ref = reference.loc.double()
    out = []
    for start in range(0, len(mu), 512):
        d = torch.cdist(mu[start:start + 512], ref)  # (b, M)
        if self_index is not None:
            own = self_index[start:start + 512]
            has = (own >= 0).nonzero().squeeze(1)
            d[has, own[has]] = float("inf")
        out.append(d.topk(k, largest=False).values.mean(1))
    return torch.cat(out).numpy()
