"""How much of an audit's numbers is noise: confidence intervals of group accuracies, permutation tests of the gaps.

A worst-group accuracy is a minimum over estimates, so it is pulled down by whichever group is smallest: a group of 3
test inputs scores 0 or 1/3 by chance. Two tools tell a real gap from sampling noise:

- **Wilson score interval** for a proportion k/n (Wilson, "Probable Inference, the Law of Succession, and
  Statistical Inference", JASA 22, 1927; recommended over the normal interval for small n and proportions near 0 or
  1 by Brown, Cai & DasGupta, Statistical Science 16, 2001): centre (p + z²/2n) / (1 + z²/n), half-width
  z / (1 + z²/n) · √(p(1 − p)/n + z²/4n²), with z = 1.96 for 95 %.
- **Permutation test** of each fairness gap (Good, "Permutation, Parametric and Bootstrap Tests of Hypotheses",
  2005, ch. 3): the gap is recomputed after shuffling the sensitive attribute A, ``permutations`` times; p = (1 +
  #{shuffled gap ≥ observed}) / (1 + permutations) (Phipson & Smyth, SAGMB 9, 2010). Demographic parity's null
  hypothesis is ŷ ⊥ A, so A is shuffled over all inputs; equal opportunity's and equalized odds' is ŷ ⊥ A | y, so A
  is shuffled within each true class. A small p (say < 0.05) says the gap is larger than relabelling noise would
  give on this many inputs; a large p says the data cannot tell the gap from 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval ``(low, high)`` of the proportion ``k`` / ``n``; ``(nan, nan)`` when n = 0."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(min(p, max(0.0, centre - half))), float(max(p, min(1.0, centre + half)))  # rounding: p inside


@dataclass(frozen=True)
class Gaps:
    """The three fairness gaps (NaN where undefined); definitions in ``shadowplay.debias.audit``."""
    demographic_parity: float
    equal_opportunity: float
    equalized_odds: float


def _spread(rates: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """Max − min over axis 0 (values of A) of ``rates`` ``(m, K)`` where ``defined``; NaN for a column with none."""
    hi = np.where(defined, rates, -np.inf).max(0)
    lo = np.where(defined, rates, np.inf).min(0)
    return np.where(defined.any(0), hi - lo, np.nan)


def fairness_gaps(hard: np.ndarray, y: np.ndarray, a: np.ndarray, m: int, k: int, positive: int) -> Gaps:
    """Gaps of predictions ``hard`` ``(N,)`` against labels ``y`` ``(N,)`` across ``a`` ``(N,)`` in 0..m−1, for
    ``k`` classes: counts by ``np.bincount``, so a permutation costs three passes over the inputs."""
    n_a = np.bincount(a, minlength=m).astype(np.float64)
    pred = np.bincount(a * k + hard, minlength=m * k).reshape(m, k)
    dp = _spread(pred / np.maximum(n_a, 1)[:, None], np.broadcast_to(n_a[:, None] > 0, (m, k)))
    n_ac = np.bincount(a * k + y, minlength=m * k).reshape(m, k)
    hit = np.bincount((a * k + y)[hard == y], minlength=m * k).reshape(m, k)
    within = _spread(hit / np.maximum(n_ac, 1), n_ac > 0)
    odds = within[~np.isnan(within)]
    return Gaps(float(np.nanmax(dp)) if (~np.isnan(dp)).any() else float("nan"), float(within[positive]),
                float(odds.max()) if len(odds) else float("nan"))


def gap_p_values(hard: np.ndarray, y: np.ndarray, a: np.ndarray, k: int, positive: int, permutations: int = 199,
                 seed: int = 0) -> Gaps:
    """Permutation p-values of the three gaps (see the module docstring); NaN for a gap that is undefined or when
    ``permutations`` is 0. ``a`` holds any integer values; ``hard``, ``y`` are ``(N,)`` class ids < ``k``."""
    values, a = np.unique(a, return_inverse=True)
    m = len(values)
    observed = fairness_gaps(hard, y, a, m, k, positive)
    if permutations <= 0 or m < 2:
        return Gaps(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    by_class = np.argsort(y, kind="stable")  # positions of each class, contiguous
    bounds = np.searchsorted(y[by_class], np.arange(k + 1))
    exceed = np.zeros(3)
    tol = 1e-12
    for _ in range(permutations):
        dp = fairness_gaps(hard, y, rng.permutation(a), m, k, positive).demographic_parity
        within = a.copy()
        for c in range(k):
            idx = by_class[bounds[c]:bounds[c + 1]]
            within[idx] = a[rng.permutation(idx)]
        g = fairness_gaps(hard, y, within, m, k, positive)
        exceed += [dp >= observed.demographic_parity - tol, g.equal_opportunity >= observed.equal_opportunity - tol,
                   g.equalized_odds >= observed.equalized_odds - tol]
    p = (1.0 + exceed) / (1.0 + permutations)
    obs = (observed.demographic_parity, observed.equal_opportunity, observed.equalized_odds)
    return Gaps(*(float("nan") if o != o else float(v) for o, v in zip(obs, p)))
