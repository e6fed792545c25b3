"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings With the F-Statistic
Loss", §3).

Modularity: with m_if the mutual information between code dimension i and factor f (plug-in, ``bins`` equal-width
bins as in disentanglement_lib) and θ_i = max_f m_if, the ideal "template" t_i keeps only that factor
(t_if = θ_i for the arg-max factor, 0 elsewhere) and::

    δ_i = Σ_f (m_if − t_if)² / (θ_i² (F − 1))  =  (Σ_f m_if² − θ_i²) / (θ_i² (F − 1))
    modularity = mean_i (1 − δ_i)

Explicitness: per factor, a one-vs-rest ``LogisticRegression()`` (scikit-learn defaults, as the reference) on
standardized codes predicts the factor's value; its macro-averaged ROC-AUC over the values is the factor's
explicitness, and the score is the mean over factors. The reference uses 10,000 training and 5,000 test points and
computes the MI on the training points; this splits the given arrays with ``test_fraction`` (one
``rng.permutation`` from PCG64(``seed``)), or uses the explicit ``split=(train_indices, test_indices)`` given, and
computes the MI on the training part.

Dead dimensions (constant on the training points), handled deliberately where the reference does not:
- standardization leaves them at 0 instead of dividing by 0 (the reference crashes, or feeds NaN to the solver);
- they are excluded from the modularity mean and reported as NaN in ``per_dim_modularity``: a constant carries no
  information, and counting it as 0 (the reference) would punish a model for switching a latent off, which is the
  normal state of a β-VAE. A live dimension whose MI is 0 with every factor still counts as 0, as in the reference.
- with every dimension dead, modularity is 0 and ``note`` says why; with one factor, δ_i is 0/0 and a live
  dimension counts as perfectly modular (1).

What the numbers mean for reference codes: a perfect code has modularity ≈ 1 and explicitness ≈ 1. Pure noise
has explicitness ≈ 0.5 (chance AUC) but modularity well above 0: its spurious MI differs between factors (the
plug-in bias grows with the number of factor values), so each dimension looks partly "modular". Modularity alone
does not say a code is informative; read it with explicitness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validate import (SKLEARN_VERSION, ResultMixin, check_codes_factors, dead_mask, discretize, frozen,
                        mutual_info_matrix, resolve_split, standardize)


@dataclass(frozen=True)
class ModularityExplicitnessResult(ResultMixin):
    """Modularity, explicitness and their parts.

    Fields:
        modularity: mean of ``per_dim_modularity`` over live dimensions.
        explicitness_train, explicitness_test: mean ROC-AUC over factors.
        per_dim_modularity: ``(L,)`` 1 − δ_i; NaN for dead dimensions.
        per_factor_explicitness: ``(F,)`` test ROC-AUC.
        mi_matrix: ``(L, F)`` plug-in MI (nats) on the training points.
        dead_dims: dimensions that are constant on the training points.
        n_train, n_test, bins; note: empty unless something was skipped.
    """

    modularity: float
    explicitness_train: float
    explicitness_test: float
    per_dim_modularity: np.ndarray
    per_factor_explicitness: np.ndarray
    mi_matrix: np.ndarray
    dead_dims: tuple[int, ...]
    n_train: int
    n_test: int
    bins: int
    note: str = ""
    sklearn_version: str = field(default=SKLEARN_VERSION)


def modularity_from_mi(mi: np.ndarray, live: np.ndarray) -> np.ndarray:
    """``(L, F)`` MI and ``(L,)`` live mask → ``(L,)`` per-dimension modularity (NaN for dead dimensions)."""
    n_factors = mi.shape[1]
    sq = mi ** 2
    theta_sq = sq.max(axis=1)
    out = np.full(mi.shape[0], np.nan)
    if n_factors == 1:
        out[live] = 1.0
        return out
    informative = live & (theta_sq > 0)
    delta = (sq[informative].sum(axis=1) - theta_sq[informative]) / (theta_sq[informative] * (n_factors - 1))
    out[informative] = 1.0 - delta
    out[live & (theta_sq == 0)] = 0.0
    return out


def _auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC over the classes that have both positives and negatives in ``y``."""
    from sklearn.metrics import roc_auc_score  # lazy: see _validate.SKLEARN_VERSION
    aucs = [roc_auc_score(y == cls, proba[:, j]) for j, cls in enumerate(classes) if 0 < np.sum(y == cls) < len(y)]
    return float(np.mean(aucs)) if aucs else float("nan")


def _mean_finite(x: np.ndarray) -> float:
    return float(np.mean(x[np.isfinite(x)])) if np.isfinite(x).any() else float("nan")


def modularity_explicitness(codes: Any, factors: Any, bins: int = 20, test_fraction: float = 1 / 3,
                            seed: int = 0, split: Any = None) -> ModularityExplicitnessResult:
    """Modularity and explicitness of ``(N, L)`` codes against ``(N, F)`` integer factors.

    Args:
        codes: ``(N, L)`` codes.
        factors: ``(N, F)`` integer factor values.
        bins: equal-width bins per dimension for the MI (disentanglement_lib: 20).
        test_fraction: share of the points held out for test explicitness (reference ratio 5,000 : 10,000).
        seed: seeds the split (PCG64) and the logistic regressions.
        split: explicit ``(train_indices, test_indices)`` row indices instead of ``test_fraction``/``seed``.

    Returns:
        :class:`ModularityExplicitnessResult`.
    """
    c, f = check_codes_factors(codes, factors)
    train, test = resolve_split(len(c), test_fraction, seed, split)
    live = ~dead_mask(c[train])
    mi = mutual_info_matrix(discretize(c[train], bins), f[train])
    per_dim = modularity_from_mi(mi, live)
    note = ""
    if live.any():
        modularity = float(np.mean(per_dim[live]))
    else:
        modularity, note = 0.0, "every code dimension is constant: modularity set to 0"
    x_train, x_test = standardize(c[train], c[test])
    expl_train, expl_test = np.full(f.shape[1], np.nan), np.full(f.shape[1], np.nan)
    for k in range(f.shape[1]):
        y_train, y_test = f[train, k], f[test, k]
        if len(np.unique(y_train)) < 2:
            note += f"; factor {k} has one value among the training points: explicitness skipped"
            continue
        from sklearn.linear_model import LogisticRegression  # lazy: see _validate.SKLEARN_VERSION
        clf = LogisticRegression(random_state=seed).fit(x_train, y_train)
        expl_train[k] = _auc(y_train, clf.predict_proba(x_train), clf.classes_)
        expl_test[k] = _auc(y_test, clf.predict_proba(x_test), clf.classes_)
    return ModularityExplicitnessResult(
        modularity=modularity, explicitness_train=_mean_finite(expl_train), explicitness_test=_mean_finite(expl_test),
        per_dim_modularity=frozen(per_dim), per_factor_explicitness=frozen(expl_test), mi_matrix=frozen(mi),
        dead_dims=tuple(int(i) for i in np.flatnonzero(~live)), n_train=len(train), n_test=len(test),
        bins=int(bins), note=note.lstrip("; "))
