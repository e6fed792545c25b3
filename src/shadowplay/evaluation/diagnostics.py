"""Latent diagnostics: what each latent dimension carries, and whether the posterior collapsed.

* KL per dimension: mean over inputs of KL(q(z_d|x) ‖ N(0, 1)), closed form (Kingma & Welling 2014, appendix B).
* Active units (Burda, Grosse & Salakhutdinov 2016, §5.2): dimension d is active when
  A_d = Cov_x(E_q(z|x)[z_d]) > 0.01, i.e. the posterior mean moves with the input.
* Aggregate posterior q(z) = E_x q(z|x): its mean m = E_x[μ(x)] and covariance
  C = Cov_x[μ(x)] + E_x[diag σ²(x)] (law of total covariance; the matrix DIP-VAE-II pushes towards I,
  Kumar, Sattigeri & Balakrishnan 2018, eq. 8), compared with the prior N(0, I) through
  KL(N(m, C) ‖ N(0, I)) = ½ (tr C + mᵀm − L − log det C).
* Reconstruction error per input: Σ_d (x_d − x̂_d)² with x̂ the decoder mean at the posterior mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.distributions import kl_divergence

from ..distributions import PointMass, standard_normal_prior
from ..model import LatentVariableModel


@dataclass(frozen=True)
class PosteriorMoments:
    """``mean`` and ``var`` ``(N, L)`` of q(z|x) per input (``var`` is zero for an autoencoder's point code);
    ``kl`` ``(N, L)`` per-dimension KL to the prior, ``None`` for a point code."""

    mean: np.ndarray
    var: np.ndarray
    kl: np.ndarray | None


@torch.inference_mode()
def posterior_moments(model: LatentVariableModel, x: torch.Tensor, batch_size: int = 1024) -> PosteriorMoments:
    """Posterior means, variances and per-dimension KL of every input in ``x`` ``(N, *shape)``."""
    model.eval()
    means, variances, kls = [], [], []
    for chunk in torch.as_tensor(x).split(batch_size):
        q = model.encode(chunk)
        means.append(q.mean.double().cpu())
        variances.append(q.variance.double().cpu())
        if not isinstance(q, PointMass):
            kls.append(kl_divergence(q, standard_normal_prior(q.mean.shape, q.mean)).double().cpu())
    return PosteriorMoments(torch.cat(means).numpy(), torch.cat(variances).numpy(),
                            torch.cat(kls).numpy() if kls else None)


@torch.inference_mode()
def reconstruction_error(model: LatentVariableModel, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """``(N,)`` squared error Σ_d (x_d − x̂_d)² of each input, x̂ = decoder mean at the posterior mean."""
    model.eval()
    out = []
    for chunk in torch.as_tensor(x).split(batch_size):
        x_hat = model.reconstruct(chunk)
        out.append((chunk.to(x_hat) - x_hat).square().flatten(1).sum(1).double().cpu())
    return torch.cat(out).numpy()


@dataclass(frozen=True)
class LatentDiagnostics:
    """Per-dimension facts about the latent space (all arrays indexed by latent dimension ``(L,)``).

    Attributes:
        kl_per_dim: mean KL of each dimension in nats (``None`` for an autoencoder).
        activity: A_d = Var_x(E_q[z_d]).
        active: A_d > ``threshold``.
        order: dimensions sorted by decreasing KL (by decreasing activity for an autoencoder).
        aggregate_mean: ``(L,)`` m; aggregate_cov: ``(L, L)`` C; aggregate_kl: KL(N(m, C) ‖ N(0, I)).
        warnings: sentences a person should read (collapse, inactive dimensions).
    """

    kl_per_dim: np.ndarray | None
    activity: np.ndarray
    active: np.ndarray
    order: np.ndarray
    aggregate_mean: np.ndarray
    aggregate_cov: np.ndarray
    aggregate_kl: float
    threshold: float
    warnings: list[str] = field(default_factory=list)

    @property
    def n_active(self) -> int:
        return int(self.active.sum())

    @property
    def collapsed(self) -> bool:
        """No active latent, or under 0.1 nats of total KL: the code carries (almost) nothing about the input."""
        return self.n_active == 0 or (self.kl_per_dim is not None and float(self.kl_per_dim.sum()) < 0.1)

    def as_dict(self) -> dict[str, Any]:
        lst = lambda a: None if a is None else np.asarray(a).tolist()  # noqa: E731
        return {"kl_per_dim": lst(self.kl_per_dim), "activity": lst(self.activity), "active": lst(self.active),
                "n_active": self.n_active, "active_threshold": self.threshold, "order": lst(self.order),
                "aggregate_mean": lst(self.aggregate_mean), "aggregate_cov": lst(self.aggregate_cov),
                "aggregate_kl": self.aggregate_kl, "warnings": list(self.warnings)}


def gaussian_kl_to_standard(mean: np.ndarray, cov: np.ndarray) -> float:
    """KL(N(mean, cov) ‖ N(0, I)) in nats; ``inf`` when ``cov`` is singular (e.g. an autoencoder's dead code)."""
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.trace(cov) + mean @ mean - len(mean) - logdet))


def summarize_latents(moments: PosteriorMoments, threshold: float = 0.01) -> LatentDiagnostics:
    """Diagnostics from the posterior moments of a data set (see the module docstring for the formulas)."""
    mean, var = moments.mean, moments.var
    n, dim = mean.shape
    if n < 2:
        raise ValueError(f"latent diagnostics need at least 2 inputs, got {n}")
    activity = mean.var(axis=0, ddof=1)
    active = activity > threshold
    kl = None if moments.kl is None else moments.kl.mean(axis=0)
    order = np.argsort(-(kl if kl is not None else activity), kind="stable")
    agg_mean = mean.mean(axis=0)
    agg_cov = np.atleast_2d(np.cov(mean, rowvar=False)) + np.diag(var.mean(axis=0))
    warnings = []
    dead = np.flatnonzero(~active)
    if len(dead) == dim:
        warnings.append(f"posterior collapse: no latent dimension is active (Var_x E_q[z_d] <= {threshold} for all "
                        f"{dim}); every input gets the same code, so the code tells the decoder nothing about the input")
    elif len(dead):
        warnings.append(f"{len(dead)} of {dim} latent dimensions are inactive (Var_x E_q[z_d] <= {threshold}): "
                        f"{dead.tolist()}; their posterior stays at the prior (partial posterior collapse)")
    if kl is not None and kl.sum() < 0.1 and len(dead) < dim:
        warnings.append(f"total KL is only {kl.sum():.3g} nats per input: the code carries almost no information")
    return LatentDiagnostics(kl, activity, active, order, agg_mean, agg_cov,
                             gaussian_kl_to_standard(agg_mean, agg_cov), threshold, warnings)


def latent_diagnostics(model: LatentVariableModel, x: torch.Tensor, threshold: float = 0.01,
                       batch_size: int = 1024) -> LatentDiagnostics:
    """:func:`summarize_latents` of :func:`posterior_moments` over ``x`` ``(N, *shape)``."""
    return summarize_latents(posterior_moments(model, x, batch_size), threshold)


ADVICE_PHRASINGS = ("cli", "estimator")


def _setting(phrasing: str, **values: Any) -> str:
    """Settings as the reader gives them: ``--likelihood gaussian model.scale=0.1`` on the command line,
    ``likelihood="gaussian", overrides={"model.scale": 0.1}`` to a scikit-learn estimator. Keys with a dot are
    config keys; the others are options/parameters of the same name."""
    own = {k: v for k, v in values.items() if "." not in k}
    keys = {k: v for k, v in values.items() if "." in k}
    if phrasing == "cli":
        return " ".join([*(f"--{k} {v}" for k, v in own.items()), *(f"{k}={v:g}" for k, v in keys.items())])
    parts = [f"{k}={v!r}" for k, v in own.items()]
    if keys:
        parts.append("overrides={" + ", ".join(f"{k!r}: {v!r}" for k, v in keys.items()) + "}")
    return ", ".join(parts).replace("'", '"')


# Adam's step moves each weight by about lr, so lr × steps bounds how far training can take the weights; the
# default lr 1e-3 needs ~2,000 steps (the "train longer" threshold below) before a collapse says much about the model.
DEFAULT_LR = 1e-3
SHORT_STEPS = 2000


def collapse_advice(*, likelihood: str, scale: float | None, beta: float | None, warmup_steps: int, steps: int,
                    binary_data: bool = False, phrasing: str = "cli", lr: float | None = None) -> str:
    """What to try after a posterior collapse, most likely cause first, from the run's settings.

    The trade the objective makes: a latent is used only when the reconstruction log-likelihood it buys exceeds
    β times its KL (Higgins et al. 2017, eq. 4; Alemi et al. 2018 on the rate-distortion trade-off). A Bernoulli
    likelihood on grey levels (or a decoder scale that is large or learned) makes each nat of reconstruction cheap,
    β > 1 makes each nat of KL dear, and early in training the decoder learns the mean image before z is useful
    (Bowman et al. 2016, §3.1, who propose the KL warm-up).

    ``phrasing`` names the settings for the reader: ``"cli"`` as ``shadowplay train`` options and ``key=value``
    overrides, ``"estimator"`` as the keywords of the scikit-learn estimators (``likelihood="gaussian"``,
    ``overrides={"model.scale": 0.1}``, ``epochs=``).

    ``lr`` (the learning rate the run used) below the usual 1e-3 (FactorVAE's 1e-4 of Kim & Mnih 2018, trained
    there for 3·10⁵ steps) with ``lr × steps`` under ``1e-3 × 2,000`` adds that the weights barely moved: a collapse
    then says little about the objective, and a higher lr or a longer run comes first (Adam's update of a weight is
    about lr per step, Kingma & Ba 2015, §2.1)."""
    if phrasing not in ADVICE_PHRASINGS:
        raise ValueError(f"phrasing must be one of {ADVICE_PHRASINGS}, got {phrasing!r}")
    cli = phrasing == "cli"
    tips = []
    if lr is not None and lr < DEFAULT_LR and lr * steps < DEFAULT_LR * SHORT_STEPS:
        need = math.ceil(DEFAULT_LR * SHORT_STEPS / lr)
        tips.append(f"at lr {lr:g} the {steps} step{'' if steps == 1 else 's'} barely moved the weights (Adam moves "
                    f"each by about lr a step): train for about {need:,} steps or raise the lr, e.g. "
                    + _setting(phrasing, lr=DEFAULT_LR))
    if likelihood == "bernoulli" and not binary_data:
        tips.append("a Bernoulli likelihood on grey levels rewards reconstruction little: try "
                    + _setting(phrasing, likelihood="gaussian", **{"model.scale": 0.1}))
    elif likelihood in ("gaussian", "laplace") and scale is None:
        tips.append(f"the learned {likelihood} scale can grow until z is not worth its KL: fix it, e.g. "
                    + _setting(phrasing, **{"model.scale": 0.1}))
    elif likelihood in ("gaussian", "laplace") and scale is not None and scale > 0.2:
        tips.append(f"{_setting(phrasing, **{'model.scale': scale})} makes reconstruction errors cheap: try a "
                    "smaller scale, e.g. 0.1")
    if beta is not None and beta > 1:
        lower = "--beta" if cli else "beta="
        tips.append(f"β = {beta:g} makes every nat of KL {beta:g}× as dear: try a lower {lower}")
    if warmup_steps == 0:
        tips.append("ramp the KL weight up from 0 with "
                    + _setting(phrasing, **{"objective.warmup_steps": max(100, steps // 3)}))
    if steps < SHORT_STEPS:
        tips.append(f"the run took only {steps} step{'' if steps == 1 else 's'}: train longer "
                    f"({'--epochs' if cli else 'epochs='})")
    return "what to try: " + "; ".join(tips) if tips else "what to try: a lower β or a smaller decoder scale"
