"""Bias audit of any classifier's predictions: per-group accuracy, worst group, fairness gaps, calibration.

Two partitions of the inputs are involved, and they need not be the same:

- the **groups** the accuracy is reported on (e.g. the class × attribute cells of ``biased-fmnist``, the setting of
  worst-group accuracy), and
- the **sensitive attribute** A the fairness gaps compare (e.g. ``inverted``: original or colour-inverted). It
  defaults to the groups. Fairness criteria are statements about A alone: computed over class × A cells, "positive
  rate" differs between cells by the class base rates (0 in a negative cell, ≈ 1 in a positive one), so the gap was
  ≈ 1 for every model and measured the data, not the classifier.

Definitions (over the values that hold at least one input; a spread is max − min over those values):

- accuracy of group g: mean of 1[ŷ = y] over its inputs; worst-group accuracy = min over groups (Sagawa et al.,
  "Distributionally Robust Neural Networks", ICLR 2020, §3).
- demographic-parity gap (statistical parity, Dwork, Hardt, Pitassi, Reingold & Zemel, "Fairness Through
  Awareness", ITCS 2012, §2; Feldman et al. 2015): ŷ independent of A, measured as max over classes c of the spread
  of P(ŷ = c | A = a). For two classes this is |P(ŷ = 1 | A = 0) − P(ŷ = 1 | A = 1)|.
- equal-opportunity gap (Hardt, Price & Srebro, "Equality of Opportunity in Supervised Learning", NeurIPS 2016,
  Definition 2): spread of the true-positive rate P(ŷ = positive | y = positive, A = a).
- equalized-odds gap (ibid., Definition 1: ŷ independent of A given y): max over classes c of the spread of
  P(ŷ = c | y = c, A = a), the within-class accuracy gap; for two classes, max(TPR gap, TNR gap) = max(TPR gap,
  FPR gap). Values of A that hold no input of class c are left out of that class's spread.
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
from .noise import gap_p_values, wilson_interval


@dataclass(frozen=True)
class GroupStats:
    group: int
    name: str
    n: int
    accuracy: float
    positive_rate: float
    true_positive_rate: float  # NaN when the group holds no positive input
    ece: float                 # NaN for hard predictions
    n_positive: int = 0        # inputs of the positive class (what the TPR is measured on)
    accuracy_low: float = float("nan")   # 95 % Wilson interval of the accuracy (``noise.py``)
    accuracy_high: float = float("nan")


@dataclass(frozen=True)
class AttributeStats:
    """One value of the sensitive attribute: ``positive_rates[c]`` = P(ŷ = c | A = a), ``class_accuracy[c]`` =
    P(ŷ = c | y = c, A = a) (NaN where the value holds no input of class c), for every class c."""
    value: int
    name: str
    n: int
    positive_rates: tuple[float, ...]
    class_accuracy: tuple[float, ...]


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
    sensitive: tuple[AttributeStats, ...]  # the attribute values the gaps compare
    sensitive_name: str                    # what that attribute is ("groups" when it defaults to the groups)
    equalized_odds_gap: float
    # permutation-test p-values of the gaps (``noise.py``): small = larger than relabelling noise; NaN when undefined
    demographic_parity_p: float = float("nan")
    equal_opportunity_p: float = float("nan")
    equalized_odds_p: float = float("nan")
    permutations: int = 0
    note: str = ""  # why the gaps are missing, when they are

    @property
    def worst(self) -> GroupStats:
        """The group with the lowest accuracy."""
        return next(g for g in self.groups if g.name == self.worst_group)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if k not in ("groups", "sensitive")},
                "groups": [asdict(g) for g in self.groups], "sensitive": [asdict(a) for a in self.sensitive]}

    def table(self) -> str:
        """A Markdown table, one row per group (accuracy with its 95 % interval), then the summary numbers with the
        permutation p-value of each gap."""
        rows = ["| group | n | accuracy | 95 % CI | positive rate | n positive | TPR | ECE |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        rows += [f"| {g.name} | {g.n} | {g.accuracy:.4f} | {_ci(g)} | {g.positive_rate:.4f} | {g.n_positive} | "
                 f"{_f(g.true_positive_rate)} | {_f(g.ece)} |" for g in self.groups]
        w = self.worst
        rows += ["", f"accuracy {self.accuracy:.4f}; worst group {self.worst_group} {self.worst_group_accuracy:.4f} "
                     f"(95 % CI {_ci(w)}, n = {w.n}); max group ECE {_f(self.max_ece)} (groups: {self.grouping})",
                 f"gaps across {self.sensitive_name} ({', '.join(a.name for a in self.sensitive)}): demographic "
                 f"parity {_f(self.demographic_parity_gap)}{_p(self.demographic_parity_p)}; equal opportunity "
                 f"{_f(self.equal_opportunity_gap)}{_p(self.equal_opportunity_p)}; equalized odds "
                 f"{_f(self.equalized_odds_gap)}{_p(self.equalized_odds_p)}"]
        if self.note:
            rows.append(self.note)
        elif self.permutations:
            rows.append(f"p: share of {self.permutations} random shuffles of {self.sensitive_name} with a gap at "
                        "least as large (p >= 0.05: the gap is within noise on this many inputs)")
        return "\n".join(rows)


def _f(v: float) -> str:
    return "-" if v != v else f"{v:.4f}"


def _ci(g: GroupStats) -> str:
    return "-" if g.accuracy_low != g.accuracy_low else f"{g.accuracy_low:.3f}–{g.accuracy_high:.3f}"


def _p(v: float) -> str:
    return "" if v != v else f" (p = {v:.3f})"


def _array(a: Any, name: str) -> np.ndarray:
    return np.asarray(a.detach().cpu() if hasattr(a, "detach") else a)


def _decide(pred: np.ndarray, y: np.ndarray, positive: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Predicted class ``(N,)``, confidence ``(N,)`` (None for hard predictions) and the number of classes K, from
    any prediction format; probabilities must cover every class in ``y`` ``(N,)``."""
    if y.min() < 0 or positive < 0:
        raise DebiasError(f"labels and the positive class must be class ids >= 0, got labels down to "
                          f"{int(y.min())} and positive={positive}")
    if pred.ndim == 2:
        if pred.shape[1] < 2 or not np.isfinite(pred).all() or pred.min() < 0 or pred.max() > 1:
            raise DebiasError(f"class probabilities must have shape (N, K >= 2) with values in [0, 1], got shape "
                              f"{pred.shape}")
        k = pred.shape[1]
        if y.max() >= k:
            raise DebiasError(f"predictions of shape {pred.shape} give {k} classes but labels of shape {y.shape} "
                              f"hold class ids up to {int(y.max())} ({int(y.max()) + 1} classes); give (N, "
                              f"{int(y.max()) + 1}) class probabilities or integer class ids")
        if not 0 <= positive < k:
            raise DebiasError(f"positive class {positive} is not one of the {k} classes of predictions {pred.shape}")
        return pred.argmax(1), pred.max(1), k
    if pred.ndim != 1:
        raise DebiasError(f"predictions must have shape (N,) or (N, K), got {pred.shape}")
    if np.issubdtype(pred.dtype, np.integer) or pred.dtype == bool:
        hard = pred.astype(np.int64)
        if hard.min() < 0:
            raise DebiasError(f"integer predictions must be class ids >= 0, got {int(hard.min())}")
        return hard, None, int(max(hard.max(), y.max(), positive)) + 1
    if not np.isfinite(pred).all() or pred.min() < 0 or pred.max() > 1:
        raise DebiasError("binary predictions must be probabilities of the positive class in [0, 1] (or integer "
                          "class ids); apply a sigmoid to logits first")
    if y.max() > 1:
        raise DebiasError(f"predictions of shape {pred.shape} are P(y = 1) of a binary task but labels of shape "
                          f"{y.shape} hold class ids up to {int(y.max())} ({int(y.max()) + 1} classes); give "
                          f"(N, {int(y.max()) + 1}) class probabilities or integer class ids")
    if positive != 1:
        raise DebiasError("probabilities of shape (N,) are read as P(y = 1); give (N, K) probabilities to audit "
                          f"another positive class than 1 (got positive={positive})")
    hard = (pred >= 0.5).astype(np.int64)
    return hard, np.where(hard == 1, pred, 1.0 - pred), 2


def _ids(a: Any, name: str, n: int) -> np.ndarray:
    """``(n,)`` integer ids (groups or a sensitive attribute), checked."""
    ids = _array(a, name).reshape(-1)
    if len(ids) != n:
        raise DebiasError(f"{name} have {len(ids)} entries but there are {n} predictions; give one id per prediction")
    if not np.issubdtype(ids.dtype, np.integer):
        raise DebiasError(f"{name} must be integer ids, got dtype {ids.dtype}")
    return ids


def _named(k: int, names: Sequence[str] | None, default: str) -> str:
    return str(names[k]) if names is not None and 0 <= k < len(names) else f"{default} {k}"


def _spread(values: Any) -> float:
    v = [x for x in values if x == x]
    return float(max(v) - min(v)) if v else float("nan")


def attribute_stats(hard: np.ndarray, y: np.ndarray, a: np.ndarray, n_classes: int,
                    names: Sequence[str] | None = None) -> tuple[AttributeStats, ...]:
    """P(ŷ = c | A = a) and P(ŷ = c | y = c, A = a) for every class c < ``n_classes`` and every value of ``a``
    ``(N,)`` that occurs; ``hard`` and ``y`` are ``(N,)`` class ids."""
    out = []
    for v in np.unique(a):
        m = a == v
        rates = tuple(float((hard[m] == c).mean()) for c in range(n_classes))
        within = tuple(float((hard[m & (y == c)] == c).mean()) if (m & (y == c)).any() else float("nan")
                       for c in range(n_classes))
        out.append(AttributeStats(int(v), _named(int(v), names, "value"), int(m.sum()), rates, within))
    return tuple(out)


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


def audit(predictions: Any, labels: Any, groups: Any = None, *, sensitive: Any = None,
          sensitive_names: Sequence[str] | None = None, sensitive_name: str | None = None, codes: Any = None,
          n_clusters: int = 8, group_names: Sequence[str] | None = None, positive: int = 1, n_bins: int = 15,
          seed: int = 0, permutations: int = 199) -> AuditResult:
    """Audit ``predictions`` against ``labels`` ``(N,)`` per group, and the fairness gaps across ``sensitive``.

    ``predictions``: ``(N,)`` probabilities of class 1 (binary labels only), ``(N, K)`` class probabilities (K must
    cover every label), or ``(N,)`` integer class ids. ``groups``: ``(N,)`` integer group ids; when ``None``, k-means
    clusters (``n_clusters``) of ``codes`` ``(N, L)`` are the groups. ``sensitive``: ``(N,)`` integer values of the
    sensitive attribute the gaps compare (named ``sensitive_names``; ``sensitive_name`` says what it is); it
    defaults to the groups. ``positive`` is the class of the per-group positive rate and of the equal-opportunity gap.
    Each group's accuracy comes with its 95 % Wilson interval and each gap with a permutation-test p-value over
    ``permutations`` shuffles of the attribute (0: none), seeded by ``seed`` like the k-means (``noise.py``).
    Without ``sensitive``, groups that each hold a single class (class × attribute cells) give no gaps (NaN, and
    ``note`` says why): across them, "positive rate" differs by the class base rates whatever the classifier.
    The definitions and their sources are in the module docstring.
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
        g = _ids(groups, "groups", len(y))
    kind = "group" if grouping == "given" else "cluster"
    if sensitive is None:  # the groups themselves, named as in the group rows ("group 3", "cluster 5")
        a = g
        sensitive_names = [_named(int(v), group_names, kind) for v in range(int(g.max()) + 1)] if g.min() >= 0 \
            else None
        sensitive_name = sensitive_name or ("groups" if grouping == "given" else "latent clusters")
    else:
        a, sensitive_name = _ids(sensitive, "sensitive", len(y)), sensitive_name or "sensitive attribute"
    hard, conf, n_classes = _decide(pred, y, positive)
    note = ""
    if sensitive is None and grouping == "given" and len(np.unique(y)) > 1 and all(
            len(np.unique(y[g == k])) == 1 for k in np.unique(g)):
        note = ("no gaps: every group holds a single class (class × attribute cells?), so gaps across the groups "
                "would measure the class base rates, not the classifier; give the attribute itself (sensitive=; "
                "debias audit --sensitive with a factor name)")
    correct = (hard == y).astype(np.float64)
    stats = []
    for k in np.unique(g):
        m = g == k
        pos = m & (y == positive)
        stats.append(GroupStats(int(k), _named(int(k), group_names, kind),
                                int(m.sum()), float(correct[m].mean()), float((hard[m] == positive).mean()),
                                float((hard[pos] == positive).mean()) if pos.any() else float("nan"),
                                expected_calibration_error(correct[m], conf[m], n_bins) if conf is not None
                                else float("nan"), int(pos.sum()),
                                *wilson_interval(int(correct[m].sum()), int(m.sum()))))
    worst = min(stats, key=lambda s: s.accuracy)
    eces = [s.ece for s in stats if s.ece == s.ece]
    attr = attribute_stats(hard, y, a, n_classes, sensitive_names)
    parity = max(_spread(v.positive_rates[c] for v in attr) for c in range(n_classes))
    odds = [_spread(v.class_accuracy[c] for v in attr) for c in range(n_classes)]
    odds = [d for d in odds if d == d]
    if isinstance(permutations, bool) or int(permutations) != permutations or permutations < 0:
        raise DebiasError(f"permutations must be an integer >= 0 (0: no permutation test), got {permutations!r}")
    nan = float("nan")
    if note:
        return AuditResult(tuple(stats), float(correct.mean()), worst.name, worst.accuracy, nan, nan,
                           max(eces) if eces else nan, grouping, attr, sensitive_name, nan, note=note)
    p = gap_p_values(hard, y, a, n_classes, positive, int(permutations), seed)
    return AuditResult(tuple(stats), float(correct.mean()), worst.name, worst.accuracy, parity,
                       _spread(v.class_accuracy[positive] for v in attr), max(eces) if eces else nan,
                       grouping, attr, sensitive_name, max(odds) if odds else nan, p.demographic_parity,
                       p.equal_opportunity, p.equalized_odds, int(permutations))
