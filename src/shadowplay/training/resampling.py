"""DB-VAE's adaptive resampling as a trainer callback (Amini et al., AIES 2019, Algorithm 1).

It lives with the trainer (below ``shadowplay.workflow``) so that the workflow can build it from a run's config on
``train`` and on ``resume`` alike; ``shadowplay.debias`` re-exports it.

At the start of every epoch the callback encodes the training inputs of the debiased class c, turns their posterior
means into sampling probabilities (:func:`~shadowplay.debias.weights.sampling_weights`) and hands the trainer one
weight per training input through ``trainer.sample_weights``; the trainer then draws the epoch with replacement in
proportion to them. The class shares are kept: class c keeps its share n_c / N of the draws, spread over its inputs by
the DB-VAE weights, and every other input keeps 1 / N. The weights are saved in every checkpoint
(``data/sample_weights``), so a run resumed mid-epoch draws the rest of that epoch from the same weights.

``mode="groups"`` is the oracle used as an upper reference: within each class, every true group present gets the same
share of that class's draws (group-balanced sampling, as in Sagawa et al., ICLR 2020, §5 and Idrissi et al., CLeaR
2022), which needs the group labels that DB-VAE does without.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import DebiasError
from .callbacks import Callback
from .weights import DEFAULTS, check_weight_options, sampling_weights

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

MODES = ("latent", "groups")


@torch.no_grad()
def posterior_means(model: torch.nn.Module, x: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """``(N, L)`` posterior means of ``x`` ``(N, *shape)``, encoded in chunks (no sampling: no RNG is used)."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model.encode(part).mean for part in x.split(chunk)]) if len(x) else x.new_zeros(0, 1)
    finally:
        model.train(was_training)


def group_balanced_weights(labels: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """``(N,)`` weights summing to 1: each class keeps its share; within it every group gets an equal share."""
    w = torch.zeros(len(labels), dtype=torch.float64)
    for c in labels.unique():
        in_c = labels == c
        present = groups[in_c].unique()
        for g in present:
            m = in_c & (groups == g)
            w[m] = float(in_c.sum()) / len(labels) / len(present) / float(m.sum())
    return w / w.sum()


class Resampling(Callback):
    """Sets ``trainer.sample_weights`` ``(N,)`` at every epoch start from the model's current latent codes."""

    def __init__(self, debias_class: int = 1, mode: str = "latent", bins: int = DEFAULTS.bins,
                 alpha: float = DEFAULTS.alpha, combine: str = DEFAULTS.combine, groups: torch.Tensor | None = None):
        if mode not in MODES:
            raise DebiasError(f"resampling mode must be one of {', '.join(MODES)}, got {mode!r}")
        check_weight_options(bins, alpha, combine)
        if mode == "groups" and groups is None:
            raise DebiasError("group-balanced (oracle) resampling needs the training groups; this source has none")
        self.debias_class, self.mode = int(debias_class), mode
        self.bins, self.alpha, self.combine = int(bins), float(alpha), combine
        self.groups = groups

    def weights(self, trainer: "Trainer") -> torch.Tensor:
        """The ``(N,)`` sampling probabilities for the next epoch (float64, summing to 1)."""
        labels = trainer.train_labels
        if labels is None:
            raise DebiasError("resampling needs labelled training data")
        labels = labels.cpu()
        if self.mode == "groups":
            return group_balanced_weights(labels, self.groups.cpu())
        mask = labels == self.debias_class
        if not bool(mask.any()):
            raise DebiasError(f"the debiased class {self.debias_class} is absent from the training labels "
                              f"(classes present: {sorted(labels.unique().tolist())})")
        codes = posterior_means(trainer.model, trainer.train_x[mask.to(trainer.train_x.device)])
        w_c = sampling_weights(codes, self.bins, self.alpha, self.combine)
        n = len(labels)
        w = np.full(n, 1.0 / n)
        w[mask.numpy()] = w_c * (int(mask.sum()) / n)
        return torch.from_numpy(w / w.sum())

    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None:
        trainer.sample_weights = self.weights(trainer)
