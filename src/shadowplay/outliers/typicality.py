"""A batch typicality test (Nalisnick, Matsukawa, Teh & Lakshminarayanan 2019).

"Detecting out-of-distribution inputs to deep generative models using typicality", arXiv:1906.02994, Algorithm 1:
a batch of M inputs is in distribution when its mean negative log-likelihood is close to the entropy of the model
on normal data. With Ĥ = −(1/N) Σ_n log p(x_n) over normal (held-out) inputs, the statistic of a batch is

    ε̂ = | −(1/M) Σ_m log p(x̃_m) − Ĥ |,

and the batch is declared out of distribution when ε̂ exceeds ε_α^M, the (1 − α) quantile of the same statistic
over K bootstrap batches of M normal inputs. Inputs far from typical in *either* direction are flagged, which is
what catches the too-likely simple inputs that raw −log p(x) misses. With M = 1 the statistic is per input,
|−log p(x) − Ĥ|.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ShadowplayError
from ..model import LatentVariableModel
from .scores import neg_iwae


@dataclass(frozen=True)
class TypicalityReference:
    """Ĥ (nats), the bootstrap threshold ε_α^M, the batch size M and α."""

    entropy: float
    threshold: float
    batch_size: int
    alpha: float

    def as_dict(self) -> dict:
        return asdict(self)


def fit_typicality(nll_normal: np.ndarray, *, batch_size: int = 1, alpha: float = 0.01, n_bootstrap: int = 1000,
                   seed: int = 0) -> TypicalityReference:
    """Ĥ and ε_α^M from −log p(x) ``(N,)`` of normal inputs (Algorithm 1's bootstrap, seeded numpy PCG64)."""
    nll = np.asarray(nll_normal, np.float64)
    if nll.ndim != 1 or len(nll) < 2 or not np.isfinite(nll).all():
        raise ShadowplayError("the typicality reference needs a 1-D array of >= 2 finite negative log-likelihoods")
    if batch_size < 1 or not 0 < alpha < 1:
        raise ShadowplayError(f"typicality: batch_size must be >= 1 and alpha in (0, 1), got {batch_size}, {alpha}")
    h = float(nll.mean())
    boot = np.random.default_rng(seed).choice(nll, size=(n_bootstrap, batch_size), replace=True)
    eps = np.abs(boot.mean(1) - h)
    return TypicalityReference(h, float(np.quantile(eps, 1 - alpha)), int(batch_size), float(alpha))


def typicality_statistic(nll: np.ndarray, reference: TypicalityReference) -> np.ndarray:
    """ε̂ per input ``(N,)``: consecutive inputs form batches of ``reference.batch_size`` (the last may be
    shorter) and every input gets its batch's |mean −log p − Ĥ|."""
    nll = np.asarray(nll, np.float64)
    m = reference.batch_size
    means = np.array([nll[i:i + m].mean() for i in range(0, len(nll), m)])
    return np.repeat(np.abs(means - reference.entropy), m)[:len(nll)]


def typicality(model: LatentVariableModel, x, reference: TypicalityReference, *, iw_samples: int = 100,
               seed: int = 0, batch_size: int = 4096, nll: np.ndarray | None = None) -> np.ndarray:
    """ε̂ ``(N,)`` (module docstring) with −log p(x) the importance-weighted estimate; compare with
    ``reference.threshold`` for the test's decision."""
    if nll is None:
        nll = neg_iwae(model, x, iw_samples=iw_samples, seed=seed, batch_size=batch_size)
    return typicality_statistic(nll, reference)
