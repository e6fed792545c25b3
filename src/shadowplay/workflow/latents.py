"""Did the model learn to use z? The check at the end of training, and what to try when it did not.

A VAE whose posterior collapsed (every q(z_d|x) at the prior) still trains to a finite loss and writes every file a
good run writes; only the KL and the active units (Burda et al. 2016, §5.2) tell. ``train`` and ``resume`` record
them in ``run.json`` under ``latents`` and warn with :class:`PosteriorCollapseWarning` when the code carries
nothing; ``evaluate`` (and so the report) add the same advice to their diagnostics.
"""

from __future__ import annotations

from typing import Any

import torch

from ..config import RunConfig
from ..data import DataSplits
from ..errors import ShadowplayWarning
from ..evaluation import LatentDiagnostics, collapse_advice, latent_diagnostics
from ..model import LatentVariableModel, resolve_likelihood
from .build import build_objective


class PosteriorCollapseWarning(ShadowplayWarning):
    """A trained model whose latents carry (almost) nothing about the input."""


def collapse_warnings(diag: LatentDiagnostics, cfg: RunConfig, steps: int, x: torch.Tensor,
                      phrasing: str = "cli") -> list[str]:
    """``diag.warnings``, followed by what to try when the posterior collapsed. ``x`` ``(N, *shape)`` are the
    inputs the diagnostics were computed on (to tell binary data from grey levels); ``steps`` trained so far;
    ``phrasing`` names the settings as options (``"cli"``) or as estimator keywords (``"estimator"``)."""
    out = list(diag.warnings)
    if diag.collapsed:
        unit = float(x.min()) >= 0 and float(x.max()) <= 1
        likelihood = resolve_likelihood(cfg.model.likelihood, "unit" if unit else "real")
        beta = cfg.objective.beta if cfg.objective.beta is not None else (4.0 if cfg.model.preset == "beta_vae"
                                                                          else None)
        binary = cfg.data.binarize or bool(((x == 0) | (x == 1)).all())
        # the lr the run trained with: trainer.lr, else the preset's (FactorVAE's 1e-4, a short run barely learns)
        lr = cfg.trainer.lr if cfg.trainer.lr is not None else build_objective(cfg).objective.optimizer.lr
        out.append(collapse_advice(likelihood=likelihood, scale=cfg.model.scale, beta=beta,
                                   warmup_steps=cfg.objective.warmup_steps, steps=steps, binary_data=binary,
                                   phrasing=phrasing, lr=lr))
    return out


def latent_check(model: LatentVariableModel, cfg: RunConfig, splits: DataSplits, steps: int,
                 phrasing: str = "cli") -> dict[str, Any]:
    """Active units and total KL of ``model`` on the validation inputs (training inputs when there are fewer
    than 2), for ``run.json``'s ``latents``; ``warnings`` only when the posterior collapsed (some inactive latents
    are what a β-VAE is for, a code that carries nothing is not)."""
    x = splits.val.x if len(splits.val) >= 2 else splits.train.x[:2048]
    diag = latent_diagnostics(model, x)
    kl = None if diag.kl_per_dim is None else float(diag.kl_per_dim.sum())
    return {"n_active": diag.n_active, "latent_dim": len(diag.active), "kl_total": kl, "collapsed": diag.collapsed,
            "warnings": collapse_warnings(diag, cfg, steps, x, phrasing) if diag.collapsed else []}
