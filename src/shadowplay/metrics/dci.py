"""Disentanglement, Completeness and Informativeness (Eastwood & Williams 2018, "A Framework for the Quantitative
Evaluation of Disentangled Representations", §2).

One predictor per factor k is trained on all code dimensions; its feature importances fill column k of an
importance matrix R (L × F). With P_ik = R_ik / Σ_k' R_ik' (row-normalized) and P̃_ik = R_ik / Σ_i' R_i'k
(column-normalized):

    D_i = 1 − H_F(P_i·)               disentanglement of dimension i (entropy in base F)
    D   = Σ_i ρ_i D_i,  ρ_i = Σ_k R_ik / Σ_ik R_ik
    C_k = 1 − H_L(P̃_·k)              completeness of factor k (entropy in base L)
    C   = 1/F · Σ_k C_k
    I   = mean over factors of the predictor's accuracy

Defaults follow disentanglement_lib: ``predictor="gbt"`` is scikit-learn's ``GradientBoostingClassifier`` with its
defaults (100 stages) and importances ``feature_importances_``. It is slow: one tree per factor value per stage, so
a 40-valued factor on 8,000 points takes minutes on a CPU; ``n_estimators=10`` gives a quick look. Informativeness is **accuracy** (higher is better), as the reference returns, although
the paper defines it as a prediction error and the reference's variable names say "err". The reference samples
10,000 training and 5,000 test points; this splits the given arrays with ``train_fraction`` (one
``rng.permutation`` from PCG64(``seed``)), or uses the explicit ``split=(train_indices, test_indices)`` given.

``predictor="lasso"`` stands in for the paper's LASSO regressor, as a classifier because factors are discrete here:
L1-penalized multinomial logistic regression (``saga``, inverse penalty ``lasso_c``) on standardized codes; importance of dimension i for factor k is the mean |coefficient| over
the classes. Each column of R is normalized to sum to 1 for both predictors (GBT importances already do), so
every factor weighs the same in D and the plain mean over factors in C equals the reference's
importance-weighted mean. The L1 penalty zeroes most weights, so for an uninformative code the few tiny weights
left can concentrate on one factor and D can come out well above 0: read D with informativeness.

Zero importance, handled deliberately:
- A dimension with zero total importance (dead, or never used) has no defined P_i·. It gets D_i = 0 and weight
  ρ_i = 0, so it neither raises nor lowers D (the reference reaches the same number through a 1e-11 smoothing).
- A factor with zero total importance (the predictor used no dimension) gets C_k = 0: nothing captures it.
- With one factor, D_i = 1 for every used dimension; with one dimension, C_k = 1 (base-1 entropy is undefined).
GBT is invariant to monotone maps of a dimension, lasso (standardized inputs) to positive rescaling; both to
permuting dimensions up to tie-breaking between equally good splits (seeded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validate import (SKLEARN_VERSION, MetricError, Progress, ResultMixin, check_codes_factors, frozen,
                        progress_ticker, resolve_split, standardize)

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

PREDICTORS = ("gbt", "lasso")


@dataclass(frozen=True)
class DCIResult(ResultMixin):
    """DCI scores and the importance matrix.

    Fields:
        disentanglement, completeness: in [0, 1].
        informativeness_train, informativeness_test: mean accuracy over factors (higher is better).
        importance: ``(L, F)`` column-normalized importance matrix R.
        per_dim_disentanglement: ``(L,)`` D_i (0 for dimensions with zero importance).
        per_factor_completeness: ``(F,)`` C_k.
        per_factor_accuracy_test: ``(F,)`` test accuracy of each factor's predictor.
        predictor, n_train, n_test: how it was computed.
    """

    disentanglement: float
    completeness: float
    informativeness_train: float
    informativeness_test: float
    importance: np.ndarray
    per_dim_disentanglement: np.ndarray
    per_factor_completeness: np.ndarray
    per_factor_accuracy_test: np.ndarray
    predictor: str
    n_train: int
    n_test: int
    sklearn_version: str = field(default=SKLEARN_VERSION)


def _normalized_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy of each row of a row-stochastic ``p`` in base ``base`` with 0·log 0 = 0."""
    logs = np.log(np.where(p > 0, p, 1.0))
    return -(p * logs).sum(axis=1) / np.log(base)


def scores_from_importance(importance: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(L, F)`` non-negative importance → (D, C, per-dimension D_i, per-factor C_k); see the module docstring."""
    r = np.asarray(importance, dtype=np.float64)
    n_dims, n_factors = r.shape
    row, col, total = r.sum(axis=1), r.sum(axis=0), r.sum()
    d_i = np.zeros(n_dims)
    used = row > 0
    if used.any():
        d_i[used] = 1.0 if n_factors == 1 else 1.0 - _normalized_entropy(r[used] / row[used, None], n_factors)
    c_k = np.zeros(n_factors)
    has = col > 0
    if has.any():
        c_k[has] = 1.0 if n_dims == 1 else 1.0 - _normalized_entropy((r[:, has] / col[has]).T, n_dims)
    # an importance spread evenly gives 1 − H = −2e-16 in floating point; the scores live in [0, 1] ("-0.000")
    d_i, c_k = np.clip(d_i, 0.0, 1.0), np.clip(c_k, 0.0, 1.0)
    d = float(np.sum(d_i * row / total)) if total > 0 else 0.0
    return d, float(c_k.mean()), d_i, c_k


def _lasso(c: float, seed: int) -> LogisticRegression:
    # scikit-learn 1.8 deprecated `penalty`; an L1 penalty is l1_ratio=1 there and penalty="l1" before.
    from sklearn.linear_model import LogisticRegression  # lazy: see _validate.SKLEARN_VERSION
    major, minor = (int(x) for x in SKLEARN_VERSION.split(".")[:2])
    if (major, minor) >= (1, 8):
        return LogisticRegression(l1_ratio=1.0, C=c, solver="saga", max_iter=1000, random_state=seed)
    return LogisticRegression(penalty="l1", C=c, solver="saga", max_iter=1000, random_state=seed)


def dci(codes: Any, factors: Any, train_fraction: float = 0.8, seed: int = 0, predictor: str = "gbt",
        n_estimators: int = 100, lasso_c: float = 0.1, split: Any = None,
        progress: Progress | None = None) -> DCIResult:
    """DCI of ``(N, L)`` codes against ``(N, F)`` integer factors.

    Args:
        codes: ``(N, L)`` codes.
        factors: ``(N, F)`` integer factor values.
        train_fraction: share of the points used to fit the predictors; the rest measure test accuracy.
        seed: seeds the split (PCG64) and the predictors.
        predictor: ``"gbt"`` (reference default) or ``"lasso"``.
        n_estimators: boosting stages for ``"gbt"`` (scikit-learn's and the reference's default: 100).
        lasso_c: inverse L1 strength for ``"lasso"``.
        split: explicit ``(train_indices, test_indices)`` row indices instead of ``train_fraction``/``seed``
            (e.g. the reference's separately drawn 10,000 training and 5,000 test points, concatenated).
        progress: ``progress(done, total)`` after each boosting stage (``total`` = factors × ``n_estimators``;
            for ``"lasso"``, after each factor): the default GBT takes minutes on a few thousand points. It only
            reports and cannot change a score.

    Returns:
        :class:`DCIResult`.
    """
    c, f = check_codes_factors(codes, factors)
    if predictor not in PREDICTORS:
        raise MetricError(f"unknown DCI predictor {predictor!r}; choose one of {PREDICTORS}")
    if not 0.0 < train_fraction < 1.0:
        raise MetricError(f"train_fraction must be in (0, 1), got {train_fraction}")
    train, test = resolve_split(len(c), 1.0 - train_fraction, seed, split)
    x_train, x_test = c[train], c[test]
    if predictor == "lasso":
        x_train, x_test = standardize(x_train, x_test)
    tick = progress_ticker(progress, f.shape[1] * (n_estimators if predictor == "gbt" else 1))
    importance = np.zeros((c.shape[1], f.shape[1]))
    acc_train, acc_test = np.zeros(f.shape[1]), np.zeros(f.shape[1])
    for k in range(f.shape[1]):
        y_train, y_test = f[train, k], f[test, k]
        if len(np.unique(y_train)) < 2:
            raise MetricError(f"factor {k} has a single value among the {len(train)} training points; "
                              f"pass more points or a larger train_fraction")
        if predictor == "gbt":
            from sklearn.ensemble import GradientBoostingClassifier  # lazy: see _validate.SKLEARN_VERSION
            model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
            model.fit(x_train, y_train, monitor=(lambda i, est, env: tick(1) or False) if tick else None)
            imp = np.abs(model.feature_importances_)
        else:
            model = _lasso(lasso_c, seed).fit(x_train, y_train)
            imp = np.abs(model.coef_).mean(axis=0)
            if tick:
                tick(1)
        importance[:, k] = imp / imp.sum() if imp.sum() > 0 else 0.0
        acc_train[k] = np.mean(model.predict(x_train) == y_train)
        acc_test[k] = np.mean(model.predict(x_test) == y_test)
    d, comp, d_i, c_k = scores_from_importance(importance)
    return DCIResult(disentanglement=d, completeness=comp, informativeness_train=float(acc_train.mean()),
                     informativeness_test=float(acc_test.mean()), importance=frozen(importance),
                     per_dim_disentanglement=frozen(d_i), per_factor_completeness=frozen(c_k),
                     per_factor_accuracy_test=frozen(acc_test), predictor=predictor, n_train=len(train),
                     n_test=len(test))
