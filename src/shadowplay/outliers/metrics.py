"""Detection metrics with the anomaly as the positive class: AUROC, AUPR (average precision) and the false positive
rate at 95 % true positive rate (the metrics of Hendrycks & Gimpel 2017, §3)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import importlib.metadata

import numpy as np

from ..errors import ShadowplayError


@dataclass(frozen=True)
class DetectionMetrics:
    auroc: float
    aupr: float
    fpr_at_95_tpr: float
    n_normal: int
    n_anomalous: int

    def as_dict(self) -> dict:
        return {**asdict(self), "scikit_learn": importlib.metadata.version("scikit-learn")}


def fpr_at_tpr(is_anomaly: np.ndarray, scores: np.ndarray, tpr: float = 0.95) -> float:
    """The smallest false positive rate among thresholds whose true positive rate is at least ``tpr``."""
    from sklearn.metrics import roc_curve  # imported here: scikit-learn takes a third of the CLI's start-up
    fpr, tprs, _ = roc_curve(is_anomaly, scores)
    return float(fpr[np.searchsorted(tprs, tpr, side="left")])


def detection_metrics(is_anomaly, scores) -> DetectionMetrics:
    """``is_anomaly`` ``(N,)`` of 0/1 (1 = anomaly) and ``scores`` ``(N,)``, higher = more abnormal."""
    y = np.asarray(is_anomaly).astype(int).ravel()
    s = np.asarray(scores, np.float64).ravel()
    if y.shape != s.shape:
        raise ShadowplayError(f"{len(y)} labels but {len(s)} scores; give one label per scored input")
    if not set(np.unique(y)) <= {0, 1} or len(np.unique(y)) != 2:
        raise ShadowplayError("detection metrics need both normal (0) and anomalous (1) inputs among the labels")
    if not np.isfinite(s).all():
        raise ShadowplayError("some scores are NaN or infinite; the model may have diverged")
    from sklearn.metrics import average_precision_score, roc_auc_score  # lazy, as roc_curve above
    return DetectionMetrics(float(roc_auc_score(y, s)), float(average_precision_score(y, s)), fpr_at_tpr(y, s),
                            int((y == 0).sum()), int((y == 1).sum()))
