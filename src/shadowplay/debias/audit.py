"""Bias audit of any classifier's predictions: per-group accuracy, worst group, fairness gaps, calibration.

Definitions (all over the groups that hold at least one input; gaps are max − min over groups):

- accuracy of group g: mean of 1[ŷ = y] over its inputs; worst-group accuracy = min over groups (Sagawa et al.,
  "Distributionally Robust Neural Networks", ICLR 2020, §3).
- demographic-parity gap: spread of P(ŷ = positive | g) (Dwork et al. 2012; Feldman et al. 2015).
- equal-opportunity gap: spread of the true-positive rate P(ŷ = positive | y = positive, g) (Hardt, Price & Srebro,
  "Equality of Opportunity in Supervised Learning", NeurIPS 2016, Definition 2), over groups holding positives.
- expected calibration error per group (Guo, Pleiss, Sun & Weinberger, ICML 2017, eq. 3; Naeini et al. 2015):
  ECE = Σ_b |B_b| / n · |acc(B_b) − conf(B_b)| over ``n_bins`` equal-width bins of the confidence (the predicted
  probability of the predicted class). Hard predictions carry no confidence, so their ECE is NaN.

Without groups, inputs are grouped by k-means clusters of their latent codes (the audit then asks "does the model
fail on some region of its own latent space?").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import DebiasError


@dataclass(frozen=True)
class GroupStats:
    group: int
    name: str
    n: int
    accuracy: float
    positive_rate: float
    true_positive_rate: float  # NaN when the group holds no positive input
    ece: float                 # NaN for hard predictions


@dataclass(frozen=True)
class AuditResult:
    groups: tuple[GroupStats, ...]
    accuracy: float
    worst_group: str
    worst_group_accuracy: float
    demographic_parity_gap: float
    equal_opportunity_gap: float
    max_ece: float
    grouping: str  # "given" or "latent clusters"

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k != "groups"},
                "groups": [asdict(g) for g in self.groups]}

    def table(self) -> str:
        """A Markdown table, one row per group, then the summary numbers."""
        rows = ["| group | n | accuracy | positive rate | TPR | ECE |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        rows += [f"| {g.name} | {g.n} | {g.accuracy:.4f} | {g.positive_rate:.4f} | {_f(g.true_positive_rate)} | "
                 f"{_f(g.ece)} |" for g in self.groups]
        rows += ["", f"accuracy {self.accuracy:.4f}; worst group {self.worst_group} {self.worst_group_accuracy:.4f}; "
                     f"demographic-parity gap {self.demographic_parity_gap:.4f}; equal-opportunity gap "
                     f"{_f(self.equal_opportunity_gap)}; max group ECE {_f(self.max_ece)} (groups: {self.grouping})"]
        return "\n".join(rows)


def _f(v: float) -> str:
    return "-" if v != v else f"{v:.4f}"


def _array(a: Any, name: str) -> np.ndarray:
    return np.asarray(a.detach().cpu() if hasattr(a, "detach") else a)


def _decide(pred: np.ndarray, positive: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted class ``(N,)`` and confidence ``(N,)`` (None for hard predictions) from any prediction format."""
    if pred.ndim == 2:
        if pred.shape[1] < 2 or not np.isfinite(pred).all() or pred.min() < 0 or pred.max() > 1:
            raise DebiasError(f"class probabilities must have shape (N, K >= 2) with values in [0, 1], got shape "
                              f"{pred.shape}")
        return pred.argmax(1), pred.max(1)
    if pred.ndim != 1:
        raise DebiasError(f"predictions must have shape (N,) or (N, K), got {pred.shape}")
    if np.issubdtype(pred.dtype, np.integer) or pred.dtype == bool:
        return pred.astype(np.int64), None
    if not np.isfinite(pred).all() or pred.min() < 0 or pred.max() > 1:
        raise DebiasError("binary predictions must be probabilities of the positive class in [0, 1] (or integer "
                          "class ids); apply a sigmoid to logits first")
    if positive != 1:
        raise DebiasError("probabilities of shape (N,) are read as P(y = 1); give (N, K) probabilities to audit "
                          f"another positive class than 1 (got positive={positive})")
    hard = (pred >= 0.5).astype(np.int64)
    return hard, np.where(hard == 1, pred, 1.0 - pred)


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray, n_bins: int = 15) -> float:
    """ECE of Guo et al. 2017, eq. 3: bins (a, b] of the confidence; ``correct`` and ``confidence`` are ``(n,)``."""
    if len(correct) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in np.unique(idx):
        m = idx == b
        ece += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(ece)


def latent_clusters(codes: Any, n_clusters: int = 8, seed: int = 0) -> np.ndarray:
    """``(N,)`` k-means cluster ids of ``codes`` ``(N, L)`` (scikit-learn, ``n_init=10``, seeded)."""
    from sklearn.cluster import KMeans
    z = _array(codes, "codes").astype(np.float64)
    if isinstance(n_clusters, bool) or int(n_clusters) != n_clusters or n_clusters < 2:
        raise DebiasError(f"n_clusters must be an integer >= 2 (latent clusters to compare), got {n_clusters!r}")
    if z.ndim != 2 or len(z) < n_clusters:
        raise DebiasError(f"latent clustering needs codes of shape (N, L) with N >= n_clusters={n_clusters}, "
                          f"got {z.shape}")
    return KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(z)


def audit(predictions: Any, labels: Any, groups: Any = None, *, codes: Any = None, n_clusters: int = 8,
          group_names: Sequence[str] | None = None, positive: int = 1, n_bins: int = 15, seed: int = 0
          ) -> AuditResult:
    """Audit ``predictions`` against ``labels`` ``(N,)`` per group.

    ``predictions``: ``(N,)`` probabilities of class 1, ``(N, K)`` class probabilities, or ``(N,)`` integer class
    ids. ``groups``: ``(N,)`` integer group ids; when ``None``, k-means clusters (``n_clusters``) of ``codes``
    ``(N, L)`` are the groups. ``positive`` is the class the parity and opportunity gaps are about.
    """
    pred = _array(predictions, "predictions")
    y = _array(labels, "labels").astype(np.int64).reshape(-1)
    if len(pred) != len(y) or len(y) == 0:
        raise DebiasError(f"predictions ({len(pred)} rows) and labels ({len(y)} rows) must be non-empty and of "
                          "the same length")
    grouping = "given"
    if groups is None:
        if codes is None:
            raise DebiasError("give groups (N,), or codes (N, L) to audit latent clusters instead")
        if len(_array(codes, "codes")) != len(y):
            raise DebiasError(f"codes have {len(_array(codes, 'codes'))} rows but labels have {len(y)}")
        g, grouping = latent_clusters(codes, n_clusters, seed), "latent clusters"
        group_names = None
    else:
        g = _array(groups, "groups").reshape(-1)
        if len(g) != len(y):
            raise DebiasError(f"groups have {len(g)} entries but there are {len(y)} predictions; give one group id "
                              "per prediction")
        if not np.issubdtype(g.dtype, np.integer):
            raise DebiasError(f"groups must be integer ids, got dtype {g.dtype}")
    hard, conf = _decide(pred, positive)
    correct = (hard == y).astype(np.float64)
    stats = []
    for k in np.unique(g):
        m = g == k
        pos = m & (y == positive)
        name = (group_names[k] if group_names is not None and 0 <= k < len(group_names)
                else (f"cluster {k}" if grouping != "given" else f"group {k}"))
        stats.append(GroupStats(int(k), str(name), int(m.sum()), float(correct[m].mean()),
                                float((hard[m] == positive).mean()),
                                float((hard[pos] == positive).mean()) if pos.any() else float("nan"),
                                expected_calibration_error(correct[m], conf[m], n_bins) if conf is not None
                                else float("nan")))
    worst = min(stats, key=lambda s: s.accuracy)
    spread = lambda v: float(max(v) - min(v)) if v else float("nan")  # noqa: E731
    tprs = [s.true_positive_rate for s in stats if s.true_positive_rate == s.true_positive_rate]
    eces = [s.ece for s in stats if s.ece == s.ece]
    return AuditResult(tuple(stats), float(correct.mean()), worst.name, worst.accuracy,
                       spread([s.positive_rate for s in stats]), spread(tprs), max(eces) if eces else float("nan"),
                       grouping)
