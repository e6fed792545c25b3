"""Separated Attribute Predictability (Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations", §3).

A score matrix S (L × F) says how well each single code dimension predicts each factor; SAP is the mean over
factors of the gap between the two largest entries of the factor's column::

    SAP = 1/F · Σ_k ( S_{(1),k} − S_{(2),k} )

- Discrete factors (disentanglement_lib's default, ``continuous_factors=False``): S_jk is the test accuracy of a
  one-feature ``LinearSVC(C=0.01, class_weight="balanced")`` trained on dimension j to predict factor k.
- Continuous factors: S_jk is the R² of a linear regression of factor k on dimension j (squared correlation),
  computed on all points because nothing is fitted to hold out; a dead dimension scores 0.

The default is disentanglement_lib's protocol, so numbers compare with published tables: the SVC is fitted on the
**raw** codes. Differences and options:
- The reference samples 10,000 training and 5,000 test points; this takes one array and splits it with
  ``test_fraction`` (default 1/3, the same 2:1 ratio) using one ``rng.permutation`` from PCG64(``seed``), or uses
  the explicit ``split=(train_indices, test_indices)`` given, to reproduce a protocol's split exactly.
- ``standardize=True`` (not the reference) standardizes each dimension with the training mean and std before the
  SVC. With C = 0.01 the regularization otherwise depends on the code's units (multiply a code by 0.001 and the
  reference score collapses towards chance), while SAP is meant to be invariant to rescaling a dimension. A dead
  (constant) dimension is left at 0, not divided by 0; its classifier can then only predict one class.

What a perfect code scores: the matching dimension reaches accuracy 1, and the runner-up (any other dimension)
only chance, about 1/K for a uniform factor with K values — so for discrete factors a perfect code scores about
mean_k(1 − 1/K), e.g. 0.5 for binary factors, not 1. A one-feature linear one-vs-rest classifier also cannot
single out the middle values of a factor with many values (K ≳ 5), which lowers the top accuracy. With
``continuous_factors=True`` a perfect linear code scores ≈ 1. Pure noise scores ≈ 0 either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validate import (SKLEARN_VERSION, ResultMixin, check_codes_factors, check_min_dims, dead_mask, frozen,
                        resolve_split)
from ._validate import standardize as standardize_columns


@dataclass(frozen=True)
class SAPResult(ResultMixin):
    """SAP and its score matrix.

    Fields:
        score: mean of ``per_factor``.
        matrix: ``(L, F)`` score matrix (test accuracy, or R² for continuous factors).
        per_factor: ``(F,)`` gap between the best and second-best dimension for each factor.
        continuous_factors, standardize, n_train, n_test: how it was computed (``n_test`` is 0 for continuous
            factors).
    """

    score: float
    matrix: np.ndarray
    per_factor: np.ndarray
    continuous_factors: bool
    standardize: bool
    n_train: int
    n_test: int
    sklearn_version: str = field(default=SKLEARN_VERSION)


def _r2_matrix(c: np.ndarray, f: np.ndarray) -> np.ndarray:
    cz = c - c.mean(axis=0)
    fz = (f - f.mean(axis=0)).astype(np.float64)
    cov = cz.T @ fz / len(c)
    var_c = (cz ** 2).mean(axis=0)
    var_f = (fz ** 2).mean(axis=0)
    live = ~dead_mask(c)
    out = np.zeros_like(cov)
    out[live] = cov[live] ** 2 / (var_c[live, None] * var_f[None, :])
    return out


def _accuracy_matrix(c: np.ndarray, f: np.ndarray, train: np.ndarray, test: np.ndarray, scale: bool, seed: int
                     ) -> tuple[np.ndarray, int, int]:
    """``(L, F)`` test accuracy of a one-feature SVC per (dimension, factor); raw codes unless ``scale``."""
    c_train, c_test = standardize_columns(c[train], c[test]) if scale else (c[train], c[test])
    out = np.zeros((c.shape[1], f.shape[1]))
    for k in range(f.shape[1]):
        y_train, y_test = f[train, k], f[test, k]
        if len(np.unique(y_train)) < 2:  # a rare value-set split; nothing to learn, predict the one value
            out[:, k] = np.mean(y_test == y_train[0])
            continue
        for j in range(c.shape[1]):
            # C = 0.01 and balanced class weights: disentanglement_lib's sap_score._compute_score_matrix
            from sklearn.svm import LinearSVC  # lazy: see _validate.SKLEARN_VERSION
            clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            clf.fit(c_train[:, j:j + 1], y_train)
            out[j, k] = np.mean(clf.predict(c_test[:, j:j + 1]) == y_test)
    return out, len(train), len(test)


def sap(codes: Any, factors: Any, test_fraction: float = 1 / 3, continuous_factors: bool = False,
        seed: int = 0, standardize: bool = False, split: Any = None) -> SAPResult:
    """SAP score of ``(N, L)`` codes against ``(N, F)`` integer factors.

    Args:
        codes: ``(N, L)`` codes, ``L ≥ 2``.
        factors: ``(N, F)`` integer factor values.
        test_fraction: share of the points held out to measure accuracy (discrete factors only).
        continuous_factors: score with R² of a linear fit instead of classifier accuracy.
        seed: seeds the train/test permutation (PCG64) and the SVC.
        standardize: standardize each dimension before its SVC (rescaling-invariant; not the reference protocol).
        split: explicit ``(train_indices, test_indices)`` row indices instead of ``test_fraction``/``seed``.

    Returns:
        :class:`SAPResult`.
    """
    c, f = check_codes_factors(codes, factors)
    check_min_dims(c, 2, "SAP")
    if continuous_factors:  # nothing is fitted, so all points are used (only the training rows of a given split)
        rows = np.arange(len(c)) if split is None else resolve_split(len(c), test_fraction, seed, split)[0]
        matrix, n_train, n_test = _r2_matrix(c[rows], f[rows]), len(rows), 0
    else:
        train, test = resolve_split(len(c), test_fraction, seed, split)
        matrix, n_train, n_test = _accuracy_matrix(c, f, train, test, standardize, seed)
    top2 = np.sort(matrix, axis=0)[-2:]
    per_factor = top2[1] - top2[0]
    return SAPResult(score=float(per_factor.mean()), matrix=frozen(matrix), per_factor=frozen(per_factor),
                     continuous_factors=bool(continuous_factors), standardize=bool(standardize),
                     n_train=int(n_train), n_test=int(n_test))
