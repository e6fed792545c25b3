"""DB-VAE sampling weights from per-dimension latent histograms.

Amini, Soleimany, Schwarting, Bhatia & Rus, "Uncovering and Mitigating Algorithmic Bias through Learned Latent
Structure", AIES 2019, Algorithm 1: for every latent dimension j, a histogram Q̂_j of the posterior means μ_j over the
inputs of the debiased class; an input's weight is W(x) ∝ Π_j 1 / (Q̂_j(μ_j(x)) + α) (the paper's eq. under
"Algorithm 1", combine ``"product"``). The MIT 6.S191 course lab instead normalizes each dimension's weights
1 / (Q̂_j + α) over the inputs and keeps their maximum over j (combine ``"max"``), which is far less sensitive to α,
the bin count and the latent size, because a product over L dimensions sharpens exponentially with L.

Q̂_j here is the **probability mass** of a bin (count / N), with ``bins`` equal-width bins over [min μ_j, max μ_j].
The course lab uses numpy's ``density=True`` (count / (N · bin width)), which makes α's effect depend on the scale of
each latent; with the mass, α = 1e-3 means "one bin holding 0.1 % of the inputs" whatever the scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import DebiasConfig
from ..errors import DebiasError

COMBINES = ("max", "product")
DEFAULTS = DebiasConfig()  # bins, alpha, combine: the config's, so the function, the callback and a run agree

def check_weight_options(bins: int, alpha: float, combine: str) -> None:
    """Raise :class:`DebiasError` unless ``bins ≥ 2``, ``0 < α < ∞`` and ``combine`` is one of :data:`COMBINES`."""
    if isinstance(bins, bool) or int(bins) != bins or bins < 2:
        raise DebiasError(f"bins must be an integer >= 2 (one bin cannot tell rare from common), got {bins}")
    if not 0.0 < float(alpha) < float("inf"):
        raise DebiasError(f"alpha (the histogram smoothing) must be finite and > 0, got {alpha}; 0.3 suits "
                         "combine='product', 1e-3 combine='max'")
    if combine not in COMBINES:
        raise DebiasError(f"combine must be one of {', '.join(COMBINES)}, got {combine!r}")


def bin_index(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bins over ``[min, max]`` of ``values`` ``(N,)``: returns (bin of each value ``(N,)`` in
    ``0..bins-1``, probability mass of each bin ``(bins,)``). A constant column lands in one bin."""
    edges = np.histogram_bin_edges(values, bins=bins)
    # only the inner edges decide: the outer ones are open, so every value, the maximum included, falls in a bin
    idx = np.searchsorted(edges[1:-1], values, side="right")
    return idx, np.bincount(idx, minlength=bins) / max(len(values), 1)


def sampling_weights(codes: Any, bins: int = DEFAULTS.bins, alpha: float = DEFAULTS.alpha,
                     combine: str = DEFAULTS.combine) -> np.ndarray:
    """Sampling probabilities ``(N,)`` (non-negative, summing to 1) for ``codes`` ``(N, L)``, the posterior means
    of the debiased class's inputs. Rare codes get large weights. See the module docstring for the formulas."""
    check_weight_options(bins, alpha, combine)
    mu = np.asarray(codes.detach().cpu() if hasattr(codes, "detach") else codes, dtype=np.float64)
    if mu.ndim != 2 or mu.shape[0] == 0 or mu.shape[1] == 0:
        raise DebiasError(f"codes must have shape (N, L) with N, L >= 1, got {mu.shape}")
    if not np.isfinite(mu).all():
        raise DebiasError("codes contain NaN or Inf; the encoder diverged or the inputs are bad")
    if combine == "product":
        log_w = np.zeros(len(mu))
        for j in range(mu.shape[1]):
            idx, mass = bin_index(mu[:, j], int(bins))
            log_w -= np.log(mass[idx] + alpha)
        w = np.exp(log_w - log_w.max())  # in log space: a product over L dimensions under/overflows quickly
    else:
        w = np.zeros(len(mu))
        for j in range(mu.shape[1]):
            idx, mass = bin_index(mu[:, j], int(bins))
            wj = 1.0 / (mass[idx] + alpha)
            w = np.maximum(w, wj / wj.sum())
    return w / w.sum()
