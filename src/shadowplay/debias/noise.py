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

Two classifiers' accuracies on a group (``debias compare``) are compared by:

- the **exact McNemar test** when both answered the same inputs (McNemar, "Note on the sampling error of the
  difference between correlated proportions or percentages", Psychometrika 12, 1947; its exact binomial form is the
  test Dietterich recommends for two classifiers on one test set, "Approximate Statistical Tests for Comparing
  Supervised Classification Learning Algorithms", Neural Computation 10, 1998, §3.1). Only the discordant inputs
  count: b answered right by the first classifier alone, c by the second alone; under H0 (equal accuracy) each
  discordant input goes either way with probability ½, so b ~ Binomial(b + c, ½) and the two-sided p is
  min(1, 2 · P(X ≤ min(b, c))), exactly (integer arithmetic), 1 when b + c = 0;
- a **permutation test of two proportions** when the accuracies rest on different inputs (another test set, or
  another group): the answers of both are pooled and split again at random into sets of the two sizes, the statistic
  is |k₁/n₁ − k₂/n₂|, and p = (1 + #{shuffled ≥ observed}) / (1 + permutations) as above. The number right that a
  random split gives the first set is hypergeometric, so each shuffle is drawn as one hypergeometric count.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import comb

import numpy as np

from ..errors import DebiasError

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


def permutation_p(exceed, permutations: int):
    """Phipson & Smyth's p-value (1 + exceed) / (1 + permutations) of a permutation test whose statistic reached the
    observed value ``exceed`` times in ``permutations`` shuffles (the observed labelling counts as one of them)."""
    return (1.0 + np.asarray(exceed, dtype=np.float64)) / (1.0 + permutations)


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
    p = permutation_p(exceed, permutations)
    obs = (observed.demographic_parity, observed.equal_opportunity, observed.equalized_odds)
    return Gaps(*(float("nan") if o != o else float(v) for o, v in zip(obs, p)))


def _correct(a, name: str) -> np.ndarray:
    v = np.asarray(a).reshape(-1)
    if v.dtype != bool:
        raise DebiasError(f"{name} must be a boolean array (True where the classifier was right), got {v.dtype}")
    return v


def mcnemar_exact(correct_a, correct_b) -> tuple[int, int, float]:
    """Exact McNemar test (module docstring) of two classifiers' answers on the same inputs: ``correct_a`` and
    ``correct_b`` are ``(n,)`` booleans, input i in both. Returns ``(b, c, p)``: the inputs only the first got
    right, those only the second got right, and the two-sided p-value."""
    a, b_ = _correct(correct_a, "correct_a"), _correct(correct_b, "correct_b")
    if a.shape != b_.shape:
        raise DebiasError(f"McNemar pairs the answers input by input; got {a.shape} and {b_.shape}")
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    n = b + c
    if n == 0:
        return b, c, 1.0
    tail = sum(comb(n, i) for i in range(min(b, c) + 1))  # P(X <= min(b, c)) · 2^n, exactly
    return b, c, float(min(Fraction(1), Fraction(2 * tail, 2 ** n)))


def two_proportion_p(correct_a, correct_b, permutations: int = 9999, seed: int = 0) -> float:
    """Permutation p-value (module docstring) of |mean(correct_a) − mean(correct_b)| for answers on different
    inputs, ``(n₁,)`` and ``(n₂,)`` booleans; NaN when either is empty or ``permutations`` is 0."""
    a, b = _correct(correct_a, "correct_a"), _correct(correct_b, "correct_b")
    if not len(a) or not len(b) or permutations <= 0:
        return float("nan")
    right = int(a.sum()) + int(b.sum())
    observed = abs(a.mean() - b.mean())
    k = np.random.default_rng(seed).hypergeometric(right, len(a) + len(b) - right, len(a), size=permutations)
    shuffled = np.abs(k / len(a) - (right - k) / len(b))
    return float(permutation_p((shuffled >= observed - 1e-12).sum(), permutations))
