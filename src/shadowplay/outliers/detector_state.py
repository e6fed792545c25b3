"""What a fitted :class:`~shadowplay.outliers.VAEOutlierDetector` keeps besides its model, and how it is saved.

JSON state (``threshold_``, the fitted score, the typicality reference, the background model's spec) rides in the
estimator file of :class:`shadowplay.sklearn.LatentEstimator`; tensors (``decision_scores_``, the aggregate-posterior
components, the background model's weights) go to ``RunFolder.outliers_state_path`` (``outliers.safetensors``). Nothing is
pickled: loading reads numbers and rebuilds the background model from its JSON spec.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, ConfigError
from ..model import ModelSpec, build_model
from ..run import RunFolder
from ..sklearn import LatentEstimator
from ..workflow import load_splits
from .combined import CombinedReference, fit_combined
from .latent import AggregatePosterior, fit_aggregate_posterior
from .ratio import perturb
from .scores import neg_iwae
from .typicality import TypicalityReference, fit_typicality

class DetectorStateMixin:
    """Fitting, saving and loading of the detector's references (mixed into ``VAEOutlierDetector``)."""

    # ---------------------------------------------------------------- references
    def _fit_references(self, x: torch.Tensor) -> None:
        """The reference ``self.outlier_score`` needs, fitted on normal model inputs ``x``; the others are dropped."""
        self.aggregate_posterior_ = self.background_ = self.typicality_ = self.combined_ = None
        k, seed = int(self.iw_samples), int(self.score_seed)
        if self.outlier_score in ("latent_density", "latent_knn", "combined"):
            self.aggregate_posterior_ = fit_aggregate_posterior(self.model_, x, max_components=self.latent_components,
                                                                seed=seed)
            if self.outlier_score == "combined":
                self.combined_ = fit_combined(self.model_, x, self.aggregate_posterior_)
        elif self.outlier_score == "typicality":
            self.typicality_ = fit_typicality(neg_iwae(self.model_, x, iw_samples=k, seed=seed),
                                              batch_size=int(self.typicality_batch), seed=seed)
        elif self.outlier_score == "likelihood_ratio":
            self.background_ = self._train_background(x)

    def _train_background(self, x: torch.Tensor) -> torch.nn.Module:
        """Ren et al.'s background model: the same architecture and budget, trained on perturbed inputs."""
        unit = bool(x.min() >= 0 and x.max() <= 1)
        lo, hi = (0.0, 1.0) if unit else (float(x.min()), float(x.max()))
        noisy = perturb(x.cpu(), float(self.background_rate), seed=int(self.seed) + 1, low=lo, high=hi)
        shape = tuple(self.input_shape_)
        bg = LatentEstimator(self.latent_dim, model=self.model, beta=self.beta, likelihood=self.likelihood,
                             net=self.net, hidden=self.hidden, input_shape=shape if len(shape) > 1 else None,
                             epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             val_fraction=self.val_fraction, seed=self.seed, device=self.device, runs_dir=None,
                             overrides=self.overrides, progress=self.progress)
        bg._fit_run(noisy.reshape(len(noisy), -1).numpy())
        return bg.model_.eval()

    # ---------------------------------------------------------------- JSON part (the estimator file)
    def _extra_state(self) -> dict[str, Any]:
        if getattr(self, "threshold_", None) is None:
            return {}
        bg = getattr(self, "background_", None)
        typ = getattr(self, "typicality_", None)
        return {"threshold": self.threshold_, "fitted_score": self.fitted_score_,
                "contamination": self.contamination, "typicality": typ.as_dict() if typ else None,
                "background_spec": bg.spec.to_dict() if bg is not None else None}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        self._loaded_state = dict(state)

    # ---------------------------------------------------------------- tensors
    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """The run folder of :meth:`LatentEstimator.save` plus ``outliers.safetensors``."""
        p = super().save(path, overwrite)
        tensors = {"decision_scores": torch.from_numpy(np.ascontiguousarray(self.decision_scores_))}
        if getattr(self, "aggregate_posterior_", None) is not None:
            tensors.update(self.aggregate_posterior_.tensors())
        if getattr(self, "combined_", None) is not None:
            tensors.update(self.combined_.tensors())
        if getattr(self, "background_", None) is not None:
            tensors.update({f"background/{k}": v.detach().cpu().contiguous()
                            for k, v in self.background_.state_dict().items()})
        target = RunFolder(p).outliers_state_path
        tmp = target.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata={"format": "shadowplay-outliers-1"})
        os.replace(tmp, target)
        return p

    def _restore_tensors(self, folder: Path) -> bool:
        """Restore the fitted state written by :meth:`save`; False when the folder has none (a plain run)."""
        state = getattr(self, "_loaded_state", None) or {}
        f = RunFolder(folder).outliers_state_path
        if not state.get("fitted_score") or not f.is_file():
            return False
        try:
            t = load_file(str(f))
        except Exception as e:  # safetensors raises its own error types for truncated files
            raise CheckpointError(f"{f}: unreadable ({e}); fit the detector again") from None
        self.decision_scores_ = t["decision_scores"].double().numpy()
        self.threshold_, self.fitted_score_ = float(state["threshold"]), state["fitted_score"]
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        self.aggregate_posterior_ = AggregatePosterior.from_tensors(t) if "latent/loc" in t else None
        self.combined_ = CombinedReference.from_tensors(t) if "combined/recon" in t else None
        self.typicality_ = TypicalityReference(**state["typicality"]) if state.get("typicality") else None
        self.background_ = None
        if state.get("background_spec"):
            bg = build_model(ModelSpec.from_dict(state["background_spec"]))
            bg.load_state_dict({k[len("background/"):]: v for k, v in t.items() if k.startswith("background/")})
            self.background_ = bg.to(self.model_.device).eval()
        return True

    @classmethod
    def from_run(cls, path: str | Path, outlier_score: str | None = None, contamination: float | None = None,
                 X: Any = None, checkpoint: str = "best", device: str = "auto", **params: Any):
        """A detector from a run folder: one a detector saved (restored exactly), or any run ``shadowplay train``
        made, wrapped with ``outlier_score``. When the folder holds no fitted detector for that score, the
        references and the threshold are fitted on ``X`` (normal inputs, as for ``fit``) or, without ``X``, on the
        training split of the data the run was trained on. Reading never writes into the folder: ``save`` keeps a
        refitted detector."""
        det = super().from_run(path, checkpoint=checkpoint, device=device)
        changes = {k: v for k, v in {"outlier_score": outlier_score, "contamination": contamination,
                                     **params}.items() if v is not None}
        if changes:
            det.set_params(**changes)
        restored = det._restore_tensors(Path(det.run_dir_))
        if restored and det.fitted_score_ == det.outlier_score and "contamination" not in changes:
            return det
        if X is not None:
            x = det._inputs(X)
        else:
            x = _run_training_inputs(det)
        det._fit_scoring(x, save=False)  # reading a run never replaces the detector saved in it
        return det


def _run_training_inputs(det) -> torch.Tensor:
    """The training split of the data a run was trained on, as model inputs (CSV data come standardized with the
    run's own statistics)."""
    cfg = det.config_
    if cfg.data.source == "arrays":
        raise ConfigError(f"{det.run_dir_} was fitted from arrays, which a run does not keep; pass X= (normal "
                          "inputs) to fit the score's reference and threshold")
    return load_splits(cfg).train.x.to(det.model_.device)
