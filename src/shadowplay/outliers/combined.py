"""The ``combined`` score: reconstruction error and latent k-NN distance joined by Fisher's method over conformal
p-values.

The two scores see different failures. The reconstruction error :func:`~.scores.recon_error` is large for an input
off the data manifold the decoder learned; the latent k-NN distance :func:`~.latent.latent_knn` is large for an input
whose code lands where the encoder put no normal input. Neither needs a likelihood, so neither inherits the failure
of raw likelihood on simpler out-of-distribution inputs (Nalisnick et al. 2019). Their units differ, so each is first
turned into a *conformal p-value* against the scores of normal reference inputs (Vovk, Gammerman & Shafer 2005,
"Algorithmic Learning in a Random World", ch. 2; Bates, Candès, Lei, Romano & Zrnic 2023, "Testing for outliers with
conformal p-values", Ann. Statist. 51(1), eq. 2):

    p_j(x) = (1 + #{i : s_j(x_i) ≥ s_j(x)}) / (n + 1),     x_1 … x_n the reference inputs.

That count is a step function of the score, so an input scored twice (in batches of different sizes, whose GEMMs
round differently) could jump by 1/(n + 1) when it sits exactly on a reference score, as every training input does.
The count is therefore interpolated linearly between the sorted reference scores r_(1) ≤ … ≤ r_(n):

    p_j(x) = (n + 2 − interp(s_j(x); r_(1..n) → 1..n)) / (n + 1),

which equals the exact p-value at every reference score, lies between it and it + 1/(n + 1) elsewhere (so it stays
a valid, slightly conservative p-value) and is 1 below r_(1). Above r_(n) the count runs out: every input beyond all
reference inputs would get the same 2/(n + 1), and the most abnormal inputs could not be ranked among themselves.
There the p-value continues with an exponential tail, the generalized Pareto tail of shape 0 of peaks-over-threshold
extreme-value statistics (Pickands 1975, "Statistical inference using extreme order statistics", Ann. Statist.
3(1)), whose scale τ is the maximum-likelihood estimate, the mean excess of the reference scores over their 90th
percentile:

    p_j(x) = 2/(n + 1) · exp(−(s_j(x) − r_(n)) / τ)     for s_j(x) > r_(n),

continuous at r_(n) and decreasing. The p-values are joined by Fisher's method (Fisher 1932, "Statistical Methods for Research Workers", 4th ed.,
§21.1):

    S(x) = −2 Σ_j log p_j(x).

Higher = more abnormal. Under independent components and exchangeable reference inputs S would be χ² with 2J degrees
of freedom; the two components are correlated here, so S is a ranking score, not a calibrated test (the detector's
``threshold_`` comes from the training scores, as for every score). The reference scores are those of the inputs
the detector was fitted on; an input that is itself one of the aggregate posterior's codes is scored against the
other codes (leave-one-out), so its own zero distance does not make the reference optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ShadowplayError
from ..model import LatentVariableModel
from .latent import AggregatePosterior, knn_distance
from .scores import means_and_recon_error

COMPONENTS = ("recon", "latent_knn")


def conformal_pvalues(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Conformal p-values ``(N,)`` of ``scores`` against ``reference`` ``(n,)``: the count of reference scores at
    least as large, interpolated between the sorted reference scores, with an exponential tail beyond the largest
    (module docstring); in (0, 1], smaller = more abnormal."""
    ref = np.sort(np.asarray(reference, np.float64))
    if ref.ndim != 1 or len(ref) == 0 or not np.isfinite(ref).all():
        raise ShadowplayError("conformal p-values need a non-empty 1-D array of finite reference scores")
    n, s = len(ref), np.asarray(scores, np.float64)
    rank = np.interp(s, ref, np.arange(1.0, n + 1.0))  # r_(i) -> i, clamped at both ends
    p = (n + 2.0 - rank) / (n + 1.0)
    tau = exponential_tail_scale(ref)
    beyond = s > ref[-1]
    if tau > 0 and beyond.any():
        p[beyond] = 2.0 / (n + 1.0) * np.exp(-(s[beyond] - ref[-1]) / tau)
    return p


def exponential_tail_scale(reference: np.ndarray, quantile: float = 0.9) -> float:
    """τ: the mean excess of the sorted ``reference`` ``(n,)`` over its ``quantile`` (the maximum-likelihood scale of
    an exponential tail above that threshold, module docstring); 0 when no score exceeds the threshold."""
    u = np.quantile(reference, quantile)
    excess = reference[reference > u] - u
    return float(excess.mean()) if len(excess) else 0.0


def fisher_combination(pvalues: list[np.ndarray]) -> np.ndarray:
    """Fisher's statistic −2 Σ_j log p_j ``(N,)`` of J arrays of p-values ``(N,)`` each (module docstring)."""
    if not pvalues:
        raise ShadowplayError("fisher_combination needs at least one array of p-values")
    p = np.stack([np.asarray(v, np.float64) for v in pvalues])
    if ((p <= 0) | (p > 1)).any():
        raise ShadowplayError("p-values must lie in (0, 1]")
    return -2.0 * np.log(p).sum(0)


@dataclass(frozen=True)
class CombinedReference:
    """Sorted reference scores of normal inputs, one float64 array ``(n,)`` per name in :data:`COMPONENTS`."""

    scores: dict[str, np.ndarray]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"combined/{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.scores.items()}

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> "CombinedReference":
        return cls({k: t[f"combined/{k}"].double().numpy() for k in COMPONENTS})


def _components(model: LatentVariableModel, x: torch.Tensor, codes: AggregatePosterior,
                self_index: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """``recon_error`` and ``latent_knn`` of ``x`` from one encoder pass."""
    mu, recon = means_and_recon_error(model, x)
    return {"recon": recon, "latent_knn": knn_distance(mu, codes, self_index=self_index)}


def fit_combined(model: LatentVariableModel, x: torch.Tensor, codes: AggregatePosterior) -> CombinedReference:
    """Reference scores of the normal inputs ``x`` ``(n, *shape)``, whose rows ``codes.rows`` are the aggregate
    posterior's codes (those are scored leave-one-out)."""
    comp = _components(model, x, codes, codes.self_index(len(x)))
    return CombinedReference({k: np.sort(v) for k, v in comp.items()})


def combined_score(model: LatentVariableModel, x: torch.Tensor, codes: AggregatePosterior,
                   reference: CombinedReference, self_index: torch.Tensor | None = None) -> np.ndarray:
    """S(x) = −2 Σ log p_j(x) over :data:`COMPONENTS` ``(N,)`` for inputs ``x`` ``(N, *shape)`` (module docstring).
    Deterministic. ``self_index`` ``(N,)``: each input's own code among ``codes`` (−1 for none), left out of its
    k-NN distance, as for the reference scores."""
    comp = _components(model, x, codes, self_index)
    return fisher_combination([conformal_pvalues(reference.scores[k], comp[k]) for k in COMPONENTS])
