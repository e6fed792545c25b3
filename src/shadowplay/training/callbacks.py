"""Callbacks: the only way for later stages to feed back into training (β schedules live in the objective;
DB-VAE's resampling weights come through ``on_epoch_start`` setting ``trainer.sample_weights``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer


class Callback:
    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None:
        pass

    def on_step_end(self, trainer: "Trainer", step: int, values: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, trainer: "Trainer", epoch: int, metrics: dict[str, float]) -> None:
        pass
