"""Per-input likelihoods: the ELBO split into reconstruction and KL, and the importance-weighted log p(x).

* ELBO (Kingma & Welling 2014, eq. 3): L(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z)). The expectation is the mean
  over the same K draws the importance-weighted estimate uses; the KL is the closed form (ibid., appendix B).
* Importance-weighted estimate (Burda, Grosse & Salakhutdinov 2016, eq. 8):
  L_K(x) = log (1/K) Σ_k w_k,  w_k = p(x|z_k) p(z_k) / q(z_k|x),  z_k ~ q(z|x),
  computed as logsumexp_k(log w_k) − log K. L_1 is an unbiased single-draw ELBO and L_K ↑ log p(x) as K grows.

Cost and memory: the encoder is deterministic (μ and σ do not depend on the draw), so it runs **once per input**;
the decoder runs once per draw. Draws are decoded in blocks of at most ``max_rows`` (inputs × draws) rows and the
log-sum-exp over draws is accumulated across blocks, so memory is O(max_rows · D) for any K.

Randomness: ε[i, k, l] is a pure function of (seed, index of input i, draw k, latent l): a counter-based generator
(the SplitMix64 mixer of Steele, Lea & Flood 2014, then Box–Muller). Results therefore do not depend on
``max_rows``, on how inputs are chunked, or on the order in which they are evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..distributions import PointMass, standard_normal_prior
from ..errors import ConfigError
from ..model import LatentVariableModel

_GAMMA, _M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _i64(c: int) -> int:
    """A 64-bit constant as the signed int64 with the same bits (torch integers are signed)."""
    return c - (1 << 64) if c >= (1 << 63) else c


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bits (torch's ``>>`` is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finalizer on int64 tensors (multiplication wraps modulo 2⁶⁴)."""
    z = (z ^ _shr(z, 30)) * _i64(_M1)
    z = (z ^ _shr(z, 27)) * _i64(_M2)
    return z ^ _shr(z, 31)


def counter_normal(seed: int, index: torch.Tensor, k0: int, k1: int, dim: int) -> torch.Tensor:
    """``(k1 − k0, n, dim)`` standard normal draws k0..k1−1 for the inputs numbered ``index`` ``(n,)``.

    Each input has its own SplitMix64 stream keyed by (seed, index); one 64-bit output gives two 24-bit uniforms
    and Box–Muller turns them into two normals (|ε| ≤ 5.9 by construction, a 3·10⁻⁹ tail left out).
    """
    dev = index.device
    pairs = (dim + 1) // 2
    key = mix64(index.long() * _i64(_GAMMA) + int(mix64(torch.tensor([int(seed) & ((1 << 62) - 1)]))[0]))
    counter = torch.arange(k0, k1, device=dev).view(-1, 1, 1) * pairs + torch.arange(1, pairs + 1, device=dev)
    h = mix64(key.view(1, -1, 1) + counter * _i64(_GAMMA))
    u1 = (_shr(h, 40).float() + 0.5) * 2.0 ** -24
    u2 = ((h >> 8) & 0xFFFFFF).float() * (2.0 * math.pi * 2.0 ** -24)
    r = torch.sqrt(-2.0 * torch.log(u1))
    eps = torch.stack([r * torch.cos(u2), r * torch.sin(u2)], dim=-1)
    return eps.view(k1 - k0, len(index), 2 * pairs)[..., :dim]


@dataclass(frozen=True)
class SampleLikelihoods:
    """Per-input values in nats, each ``(N,)`` float64; ``kl``/``elbo``/``log_px`` are ``None`` for a plain
    autoencoder, whose point-mass code has no density (see ``note``).

    Attributes:
        recon_ll: E_q[log p(x|z)] (mean over the K draws); for an autoencoder log p(x | z = code).
        kl: KL(q(z|x) ‖ N(0, I)), closed form.
        elbo: recon_ll − kl.
        log_px: importance-weighted estimate L_K of log p(x).
        iw_samples: K.
        data_dims: D, the number of values in one input (for bits per dimension).
        note: what the numbers mean for this model (e.g. Bernoulli on grey levels is not a normalized density).
    """

    recon_ll: np.ndarray
    kl: np.ndarray | None
    elbo: np.ndarray | None
    log_px: np.ndarray | None
    iw_samples: int
    data_dims: int
    note: str = ""

    @property
    def bits_per_dim(self) -> np.ndarray | None:
        """−log p(x) / (D · ln 2) per input (from the importance-weighted estimate)."""
        return None if self.log_px is None else -self.log_px / (self.data_dims * math.log(2))

    def columns(self) -> dict[str, np.ndarray]:
        """The defined per-input arrays by name (for tables and files)."""
        cols = {"recon_ll": self.recon_ll, "kl": self.kl, "elbo": self.elbo, "log_px": self.log_px,
                "bits_per_dim": self.bits_per_dim}
        return {k: v for k, v in cols.items() if v is not None}

    def summary(self) -> dict[str, float]:
        """Mean (and standard error of the mean, ``<name>_sem``) of every defined column."""
        out: dict[str, float] = {}
        for k, v in self.columns().items():
            with np.errstate(invalid="ignore"):  # an inf among the inputs: inf − inf is NaN, the caller says why
                out[k] = float(v.mean())
                out[f"{k}_sem"] = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
        return out


def _log_likelihood(model: LatentVariableModel, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) ``(k, n)`` from decoder outputs ``h`` ``(k, n, *shape)`` and inputs ``x`` ``(n, *shape)``.

    A Bernoulli with logits l has log p(x|l) = Σ_d x_d·l_d − softplus(l_d); written that way it is one batched
    matrix-vector product and one softplus pass, instead of the several full-size passes of
    ``binary_cross_entropy_with_logits`` (same value up to rounding).
    """
    dist = model.likelihood(h)
    base = dist.base_dist if isinstance(dist, Independent) else None
    if isinstance(base, Bernoulli) and "logits" in base.__dict__:
        k, n = h.shape[:2]
        logits = base.logits.reshape(k, n, -1)
        dot = torch.einsum("knd,nd->kn", logits, x.reshape(n, -1))
        return dot - F.softplus(logits).sum(-1)
    return dist.log_prob(x)


def _note(model: LatentVariableModel, point: bool, x: torch.Tensor) -> str:
    """What the numbers mean for this model and these inputs ``x``: a Bernoulli is a normalized density of binary
    data (dSprites, binarized MNIST), so the grey-level caveat is said only when some input lies strictly inside
    (0, 1) (it used to be said for dSprites too)."""
    parts = []
    if point:
        parts.append("plain autoencoder: the code is a point mass, so q(z|x) has no density and neither KL, ELBO "
                     "nor the importance-weighted log p(x) are defined; only reconstruction is reported")
    if getattr(model.likelihood, "name", "") == "bernoulli" and bool(((x > 0) & (x < 1)).any()):
        parts.append("Bernoulli likelihood: on grey levels in [0, 1] it is not a normalized density of those "
                     "values, so compare numbers only with others computed the same way")
    return "; ".join(parts)


@torch.inference_mode()
def per_sample_likelihoods(model: LatentVariableModel, x: torch.Tensor, iw_samples: int = 1000, *,
                           max_rows: int = 4096, seed: int = 0, index: torch.Tensor | None = None,
                           progress: bool = False) -> SampleLikelihoods:
    """ELBO, its two parts and the K-sample importance-weighted log p(x) of every input in ``x`` ``(N, *shape)``.

    Args:
        iw_samples: K ≥ 1 importance samples per input.
        max_rows: the most decoder rows (inputs × draws) evaluated at once; bounds memory, not the result.
        seed: seed of the counter-based noise; ``index`` ``(N,)`` numbers the inputs in that stream (default
            0..N−1), so a subset evaluated alone with its original indices gives the same numbers.
        progress: show a progress bar over the inputs with the estimated time left (K = 1000 on 64×64 images
            runs at about one input per second on a small CPU).
    """
    if int(iw_samples) != iw_samples or iw_samples < 1:
        raise ValueError(f"the number of importance samples K must be an integer >= 1, got {iw_samples}")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    model.eval()
    x = model._as_input(x)
    n, dev, K = x.shape[0], x.device, int(iw_samples)
    index = torch.arange(n, device=dev) if index is None else torch.as_tensor(index, device=dev).long()
    if index.shape != (n,):
        raise ValueError(f"index must have shape ({n},), got {tuple(index.shape)}")
    locs, scales, kls = [], [], []
    for chunk in x.split(max_rows):
        q = model.encode(chunk)
        if isinstance(q, PointMass):
            locs.append(q.loc)
            continue
        if not isinstance(q, Normal):
            raise TypeError(f"importance sampling needs a Normal posterior, got {type(q).__name__}")
        locs.append(q.loc)
        scales.append(q.scale)
        kls.append(kl_divergence(q, standard_normal_prior(q.loc.shape, q.loc)).sum(-1))
    loc = torch.cat(locs)
    d = math.prod(model.data_shape)
    if not scales:  # autoencoder: reconstruction at the code only
        rec = torch.cat([model.decode(c).log_prob(xc) for c, xc in zip(loc.split(max_rows), x.split(max_rows))])
        arr = rec.double().cpu().numpy()
        return SampleLikelihoods(arr, None, None, None, K, d, _note(model, True, x))
    scale = torch.cat(scales)
    log_scale_sum = scale.log().sum(-1)
    k_c = min(K, max_rows)
    n_c = max(1, max_rows // k_c)
    log_px, recon = torch.empty(n, device=dev, dtype=loc.dtype), torch.empty(n, device=dev, dtype=loc.dtype)
    bar = tqdm(total=n, unit="input", desc=f"log p(x), K={K}", disable=not progress, leave=False)
    for i0 in range(0, n, n_c):
        i1 = min(n, i0 + n_c)
        xi, mu, sd = x[i0:i1], loc[i0:i1], scale[i0:i1]
        acc = torch.full((i1 - i0,), -math.inf, device=dev, dtype=loc.dtype)
        rsum = torch.zeros(i1 - i0, device=dev, dtype=loc.dtype)
        for k0 in range(0, K, k_c):
            k1 = min(K, k0 + k_c)
            eps = counter_normal(seed, index[i0:i1], k0, k1, model.latent_dim).to(loc.dtype)  # (k, n, L)
            z = mu + sd * eps
            # log p(z) − log q(z|x) for diagonal Gaussians; the ½·log 2π terms cancel.
            log_ratio = 0.5 * (eps.square() - z.square()).sum(-1) + log_scale_sum[i0:i1]
            h = model.decoder(z.reshape(-1, model.latent_dim))
            ll = _log_likelihood(model, h.view(k1 - k0, i1 - i0, *h.shape[1:]), xi)  # (k, n)
            acc = torch.logaddexp(acc, torch.logsumexp(ll + log_ratio, dim=0))
            rsum += ll.sum(0)
        log_px[i0:i1] = acc - math.log(K)
        recon[i0:i1] = rsum / K
        bar.update(i1 - i0)
    bar.close()
    kl = torch.cat(kls)
    as_np = lambda t: t.double().cpu().numpy()  # noqa: E731
    return SampleLikelihoods(as_np(recon), as_np(kl), as_np(recon - kl), as_np(log_px), K, d, _note(model, False, x))


IW_CHOICES = (1000, 300, 100, 30, 10, 1)


def check_iw_samples(iw_samples: int | None) -> None:
    """Refuse a ``--iw-samples`` (``iw_samples=``) that is not an integer >= 1, before any work; ``None`` (the
    command's automatic K) passes."""
    if iw_samples is not None and (int(iw_samples) != iw_samples or iw_samples < 1):
        raise ConfigError(f"--iw-samples must be an integer >= 1, got {iw_samples}")


def iw_samples_for_budget(model: LatentVariableModel, x: torch.Tensor, seconds: float, *, max_rows: int = 4096,
                          probe: int = 32, choices: tuple[int, ...] = IW_CHOICES) -> int:
    """The largest K in ``choices`` whose importance-weighted evaluation of all of ``x`` ``(N, *shape)`` should take
    at most ``seconds`` here, timed on ``probe`` inputs at K = 10 (the cost is linear in N·K: one decoder pass per
    input and draw). ``report`` uses it so that a report on a fresh run takes about a minute; the K chosen is
    recorded with the results, since fewer draws give a looser bound (Burda et al. 2016, theorem 1)."""
    import time

    x = model._as_input(x)
    sub = x[:probe]
    per_sample_likelihoods(model, sub[:2], 2, max_rows=max_rows)  # warm-up: first calls allocate
    t0 = time.perf_counter()
    per_sample_likelihoods(model, sub, 10, max_rows=max_rows)
    rate = len(sub) * 10 / max(time.perf_counter() - t0, 1e-6)  # decoder rows per second
    return next((k for k in choices if len(x) * k / rate <= seconds), min(choices))
