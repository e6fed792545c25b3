"""The FactorVAE disentanglement score (Kim & Mnih 2018, "Disentangling by Factorising", the section introducing
the new metric; no numbered equation).

1. Global scale: the per-dimension std s_j of the codes of ``n_variance_estimate`` random points (ddof 1).
   Dimensions with s_j < ``prune_threshold`` are pruned as collapsed to the prior.
2. One vote: pick a factor k uniformly, draw ``batch_size`` factor vectors that all share factor k's value,
   encode, divide each kept dimension by s_j and take the variance over the batch; the dimension of least
   variance votes for k.
3. The classifier maps each dimension to the factor it received most votes for on ``n_train`` votes (majority
   vote); the score is its accuracy on ``n_eval`` fresh votes. Chance is about 1 / F.

Defaults follow disentanglement_lib's study configuration (batch 64, 10,000 training, 5,000 evaluation and
10,000 variance-estimation points, pruning at std 0.05). The threshold is in the code's own units, so unlike the
other scores this one is not invariant to rescaling a dimension; it is invariant to permuting dimensions.

Dead dimensions, handled deliberately: a constant dimension (all codes equal) is never kept, even with
``prune_threshold=0``. The reference keeps it at threshold 0 and computes 0 / 0 = NaN, after which every vote lands
on one column and the score falls to about chance. If every dimension is pruned the score is 0 and ``note`` says
why, as in the reference, instead of raising.

Random stream: one ``np.random.Generator(np.random.PCG64(seed))``, called in this order: ``data.sample_factors(
n_variance_estimate, rng)``; then for each training vote and then each evaluation vote ``rng.integers(F)`` for k
and ``data.sample_factors(batch_size, rng)`` (column k is then set to the first row's value). Encoding draws
nothing, so ``encode_batch_size`` (the most observations passed to ``encode`` at once, under
``torch.no_grad()``) does not change the result.

Cost: ``n_variance_estimate + batch_size · (n_train + n_eval)`` encoded observations (970,000 with the defaults);
``progress(done, total)`` can be given to follow it and never changes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ._validate import (SKLEARN_VERSION, MetricError, Progress, ResultMixin, check_groundtruth, dead_mask,
                        encode_factors, frozen, make_rng, progress_ticker, sample_factors)


@dataclass(frozen=True)
class FactorVAEResult(ResultMixin):
    """FactorVAE score (= ``eval_accuracy``) and how it was computed.

    Fields:
        global_std: ``(L,)`` per-dimension std used to normalize.
        active_dims: the kept dimensions.
        votes_train: ``(F, L)`` training vote counts (factor × dimension).
        note: empty unless the score was set without voting.
    """

    score: float
    train_accuracy: float
    eval_accuracy: float
    active_dims: tuple[int, ...]
    global_std: np.ndarray
    votes_train: np.ndarray
    prune_threshold: float
    n_train: int
    n_eval: int
    batch_size: int
    seed: int
    note: str = ""
    sklearn_version: str = field(default=SKLEARN_VERSION)


def _votes(data: Any, encode: Callable, rng: np.random.Generator, sizes: tuple[int, ...], n_points: int,
           batch_size: int, scale: np.ndarray, active: np.ndarray, encode_batch_size: int,
           tick: Callable[[int], None] | None) -> np.ndarray:
    """``(F, L)`` vote counts from ``n_points`` fixed-factor batches, in the documented rng order."""
    votes = np.zeros((len(sizes), len(scale)), dtype=np.int64)
    per_chunk = max(1, encode_batch_size // batch_size)
    for start in range(0, n_points, per_chunk):
        m = min(per_chunk, n_points - start)
        ks, batches = [], []
        for _ in range(m):
            k = int(rng.integers(len(sizes)))
            f = sample_factors(data, batch_size, rng, sizes)
            f[:, k] = f[0, k]
            ks.append(k)
            batches.append(f)
        z = encode_factors(data, encode, np.concatenate(batches), encode_batch_size, tick)
        z = z[:, active] / scale[active]
        local_var = z.reshape(m, batch_size, -1).var(axis=1, ddof=1)
        winners = active[np.argmin(local_var, axis=1)]
        np.add.at(votes, (np.asarray(ks), winners), 1)
    return votes


def _accuracy(votes: np.ndarray, classifier: np.ndarray) -> float:
    total = votes.sum()
    return float(votes[classifier, np.arange(votes.shape[1])].sum() / total) if total else 0.0


def factor_vae_score(data: Any, encode: Callable[[torch.Tensor], Any], batch_size: int = 64, n_train: int = 10000,
                     n_eval: int = 5000, n_variance_estimate: int = 10000, prune_threshold: float = 0.05,
                     seed: int = 0, encode_batch_size: int = 1024, progress: Progress | None = None
                     ) -> FactorVAEResult:
    """FactorVAE score of an encoder on a ground-truth dataset.

    Args:
        data: a ``GroundTruthData``.
        encode: maps a float32 ``(n, *observation_shape)`` tensor to ``(n, L)`` codes (numpy or torch).
        batch_size: points per vote, all sharing one factor value (reference: 64; at least 2).
        n_train, n_eval: votes to build and to evaluate the majority-vote classifier.
        n_variance_estimate: points for the global per-dimension std (at least 2).
        prune_threshold: dimensions with global std below this are ignored (study setting 0.05, code units).
        seed: seeds the one PCG64 stream (see the module docstring for the call order).
        encode_batch_size: most observations passed to ``encode`` at once.
        progress: called as ``progress(done, total)`` after each encoded batch, counting observations
            (``total = n_variance_estimate + batch_size · (n_train + n_eval)``; when every dimension is pruned the
            votes are skipped and ``done`` stops short of it); it does not change the result.

    Returns:
        :class:`FactorVAEResult`.
    """
    sizes = check_groundtruth(data)
    for name, value, least in (("batch_size", batch_size, 2), ("n_train", n_train, 1), ("n_eval", n_eval, 1),
                               ("n_variance_estimate", n_variance_estimate, 2),
                               ("encode_batch_size", encode_batch_size, 1)):
        if value < least:
            raise MetricError(f"{name} must be at least {least}, got {value}")
    if prune_threshold < 0:
        raise MetricError(f"prune_threshold must be >= 0, got {prune_threshold}")
    rng = make_rng(seed)
    tick = progress_ticker(progress, n_variance_estimate + batch_size * (n_train + n_eval))
    codes = encode_factors(data, encode, sample_factors(data, n_variance_estimate, rng, sizes), encode_batch_size,
                           tick)
    std = codes.std(axis=0, ddof=1)
    active = np.flatnonzero(~dead_mask(codes) & (std >= prune_threshold))
    common = dict(global_std=frozen(std), prune_threshold=float(prune_threshold), n_train=int(n_train),
                  n_eval=int(n_eval), batch_size=int(batch_size), seed=int(seed))
    if len(active) == 0:
        return FactorVAEResult(score=0.0, train_accuracy=0.0, eval_accuracy=0.0, active_dims=(),
                               votes_train=np.zeros((len(sizes), len(std)), dtype=np.int64),
                               note=f"every code dimension has std below prune_threshold={prune_threshold} "
                                    f"(or is constant): no dimension can vote, score set to 0", **common)
    args = (data, encode, rng, sizes)
    train_votes = _votes(*args, n_train, batch_size, std, active, encode_batch_size, tick)
    classifier = np.argmax(train_votes, axis=0)
    eval_votes = _votes(*args, n_eval, batch_size, std, active, encode_batch_size, tick)
    train_acc, eval_acc = _accuracy(train_votes, classifier), _accuracy(eval_votes, classifier)
    train_votes.setflags(write=False)
    return FactorVAEResult(score=eval_acc, train_accuracy=train_acc, eval_accuracy=eval_acc,
                           active_dims=tuple(int(j) for j in active), votes_train=train_votes, **common)
