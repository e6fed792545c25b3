"""The β-VAE disentanglement score (Higgins et al. 2017, "β-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework", the disentanglement-metric section and its appendix; no numbered equation).

One training example of the score's classifier is built as follows: pick a factor k uniformly; draw
``batch_size`` pairs of factor vectors (a, b) that share the value of factor k and are otherwise independent;
encode both observations; the feature is the mean over the pairs of |z_a − z_b| (an ``(L,)`` vector) and the label
is k. A linear classifier is trained on ``n_train`` such examples and the score is its accuracy on ``n_eval`` fresh
ones. A disentangled code has one dimension whose difference is ~0 exactly when its factor is shared, so the
classifier is right every time; a code that ignores the input leaves it at chance, 1 / F.

Defaults follow disentanglement_lib (``beta_vae_sklearn`` with batch 64, 10,000 training and 5,000 evaluation
points; ``LogisticRegression`` with scikit-learn's defaults apart from ``random_state``). The paper used a linear
classifier trained with Adagrad; scikit-learn's default solver has changed between releases, which is why the
result records ``sklearn_version``.

Random stream: one ``np.random.Generator(np.random.PCG64(seed))``. For each training example, then each evaluation
example, it is called in this order: ``rng.integers(F)`` for k, ``data.sample_factors(batch_size, rng)`` for the a
side, ``data.sample_factors(batch_size, rng)`` for the b side (whose column k is then overwritten with a's).
Encoding consumes no random numbers, so the result does not depend on ``encode_batch_size``; the classifier gets
``random_state=seed``. ``encode`` is called under ``torch.no_grad()`` on at most ``encode_batch_size``
observations at a time, so memory stays bounded whatever ``n_train``.

Cost: ``2 · batch_size · (n_train + n_eval)`` encoded observations (1.92 million with the defaults), which is why
``progress(done, total)`` can be given to follow it; it only reports and never changes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ._validate import (SKLEARN_VERSION, MetricError, Progress, ResultMixin, check_groundtruth, encode_factors,
                        make_rng, progress_ticker, sample_factors)


@dataclass(frozen=True)
class BetaVAEResult(ResultMixin):
    """β-VAE score (= ``eval_accuracy``) and how it was computed."""

    score: float
    train_accuracy: float
    eval_accuracy: float
    n_train: int
    n_eval: int
    batch_size: int
    seed: int
    sklearn_version: str = field(default=SKLEARN_VERSION)


def _examples(data: Any, encode: Callable, rng: np.random.Generator, sizes: tuple[int, ...], n_points: int,
              batch_size: int, encode_batch_size: int, tick: Callable[[int], None] | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` examples: features ``(n_points, L)`` and labels ``(n_points,)``, in the documented rng order."""
    per_chunk = max(1, encode_batch_size // (2 * batch_size))
    feats, labels = [], np.empty(n_points, dtype=np.int64)
    for start in range(0, n_points, per_chunk):
        m = min(per_chunk, n_points - start)
        side_a, side_b = [], []
        for i in range(m):
            k = int(rng.integers(len(sizes)))
            a = sample_factors(data, batch_size, rng, sizes)
            b = sample_factors(data, batch_size, rng, sizes)
            b[:, k] = a[:, k]
            labels[start + i] = k
            side_a.append(a)
            side_b.append(b)
        z = encode_factors(data, encode, np.concatenate(side_a + side_b), encode_batch_size, tick)
        half = m * batch_size
        diff = np.abs(z[:half] - z[half:]).reshape(m, batch_size, -1)
        feats.append(diff.mean(axis=1))
    return np.concatenate(feats, axis=0), labels


def beta_vae_score(data: Any, encode: Callable[[torch.Tensor], Any], batch_size: int = 64, n_train: int = 10000,
                   n_eval: int = 5000, seed: int = 0, encode_batch_size: int = 1024,
                   progress: Progress | None = None) -> BetaVAEResult:
    """β-VAE score of an encoder on a ground-truth dataset.

    Args:
        data: a ``GroundTruthData`` (``factor_sizes``, ``sample_factors(n, rng)``, ``observations(factors)``).
        encode: maps a float32 ``(n, *observation_shape)`` tensor to ``(n, L)`` codes (numpy or torch), e.g. the
            posterior mean.
        batch_size: pairs averaged per example (reference: 64).
        n_train, n_eval: examples to train and to evaluate the classifier (reference: 10,000 and 5,000).
        seed: seeds the one PCG64 stream (see the module docstring for the call order) and the classifier.
        encode_batch_size: most observations passed to ``encode`` at once.
        progress: called as ``progress(done, total)`` after each encoded batch, counting observations
            (``total = 2 · batch_size · (n_train + n_eval)``); for a progress bar, it does not change the result.

    Returns:
        :class:`BetaVAEResult`; ``score`` is the evaluation accuracy, chance is 1 / F.
    """
    sizes = check_groundtruth(data)
    for name, value in (("batch_size", batch_size), ("n_train", n_train), ("n_eval", n_eval),
                        ("encode_batch_size", encode_batch_size)):
        if value < 1:
            raise MetricError(f"{name} must be a positive integer, got {value}")
    rng = make_rng(seed)
    tick = progress_ticker(progress, 2 * batch_size * (n_train + n_eval))
    x_train, y_train = _examples(data, encode, rng, sizes, n_train, batch_size, encode_batch_size, tick)
    if len(np.unique(y_train)) < 2:
        raise MetricError(f"all {n_train} training examples share one factor; increase n_train")
    from sklearn.linear_model import LogisticRegression  # here, not at import: see _validate.SKLEARN_VERSION
    model = LogisticRegression(random_state=seed).fit(x_train, y_train)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval = _examples(data, encode, rng, sizes, n_eval, batch_size, encode_batch_size, tick)
    eval_acc = float(np.mean(model.predict(x_eval) == y_eval))
    return BetaVAEResult(score=eval_acc, train_accuracy=train_acc, eval_accuracy=eval_acc, n_train=int(n_train),
                         n_eval=int(n_eval), batch_size=int(batch_size), seed=int(seed))
