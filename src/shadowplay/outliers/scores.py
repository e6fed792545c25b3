"""Per-input outlier scores of a trained model, **higher = more abnormal**, one float64 per input ``(N,)``.

Every score is a function of a model and inputs ``x`` ``(N, *shape)`` (plus, where the method needs one, a
reference fitted on normal data). Sampling uses the counter-based noise of
:func:`shadowplay.evaluation.likelihood.per_sample_likelihoods`, keyed by a hash of each input's values
(:func:`content_index`), so a score is a pure function of (model, input, seed): the same seed gives the same number
for an input whatever the batch size, the input's position or the other inputs scored with it.

* :func:`neg_elbo` — −ELBO (Kingma & Welling 2014, eq. 3), in nats.
* :func:`neg_iwae` — −L_K, the importance-weighted estimate of −log p(x) (Burda, Grosse & Salakhutdinov 2016, eq. 8).
* :func:`recon_error` — squared error between x and the decoder mean at the posterior mean, Σ_d (x_d − x̂_d)²
  (the reconstruction score of autoencoder anomaly detection, e.g. Sakurada & Yairi 2014; An & Cho 2015 use the
  probabilistic version, which :func:`neg_elbo` covers).
* :func:`kl_score` — KL(q(z|x) ‖ p(z)) in nats, closed form (Kingma & Welling 2014, appendix B).

Scores that need a reference live in their own modules: :mod:`.latent` (aggregate-posterior density),
:mod:`.ratio` (likelihood ratio, Ren et al. 2019), :mod:`.complexity` (Serrà et al. 2020) and :mod:`.typicality`
(Nalisnick et al. 2019).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ShadowplayError
from ..evaluation.likelihood import SampleLikelihoods, mix64, per_sample_likelihoods
from ..model import LatentVariableModel


def _needs_density(lk: SampleLikelihoods, what: str) -> None:
    if lk.elbo is None:
        raise ShadowplayError(f"the {what} score needs a VAE (a Gaussian posterior); this model is a plain "
                              "autoencoder. Use score='recon', or train with model='vae'")


def content_index(x: torch.Tensor) -> torch.Tensor:
    """``(N,)`` int64 keys, each a function of one input's float32 values only (SplitMix64 of every value's bits
    and position, summed modulo 2⁶⁴), so an input draws the same noise wherever it sits in a batch."""
    bits = x.detach().reshape(len(x), -1).float().cpu().contiguous().view(torch.int32).long()
    pos = mix64(torch.arange(1, bits.shape[1] + 1, dtype=torch.long))  # a distinct key per position
    return mix64(bits ^ pos).sum(1)


def likelihoods(model: LatentVariableModel, x: torch.Tensor, iw_samples: int = 1, seed: int = 0,
                batch_size: int = 4096) -> SampleLikelihoods:
    """Reconstruction, KL, ELBO and L_K for every input: one pass that several scores can share. The noise of
    each input is keyed by :func:`content_index`."""
    return per_sample_likelihoods(model, x, iw_samples, max_rows=batch_size, seed=seed, index=content_index(x))


def neg_elbo(model: LatentVariableModel, x: torch.Tensor, *, samples: int = 1, seed: int = 0,
             batch_size: int = 4096) -> np.ndarray:
    """−ELBO(x) = −E_q(z|x)[log p(x|z)] + KL(q(z|x) ‖ N(0, I)) (Kingma & Welling 2014, eq. 3) ``(N,)`` nats.

    The expectation is the mean over ``samples`` draws z = μ + σ ⊙ ε; the KL is the closed form.
    """
    lk = likelihoods(model, x, samples, seed, batch_size)
    _needs_density(lk, "elbo")
    return -lk.elbo


def neg_iwae(model: LatentVariableModel, x: torch.Tensor, *, iw_samples: int = 100, seed: int = 0,
             batch_size: int = 4096) -> np.ndarray:
    """−L_K(x) = −log (1/K) Σ_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x) (Burda et al. 2016, eq. 8) ``(N,)`` nats:
    the importance-weighted estimate of −log p(x); tighter than −ELBO and equal to it for K = 1 in expectation."""
    lk = likelihoods(model, x, iw_samples, seed, batch_size)
    _needs_density(lk, "iwae")
    return -lk.log_px


@torch.inference_mode()
def recon_error(model: LatentVariableModel, x: torch.Tensor, *, batch_size: int = 4096) -> np.ndarray:
    """Σ_d (x_d − E[p(x|z = μ(x))]_d)² ``(N,)``: squared distance between the input and the decoder mean at the
    posterior mean. Deterministic (no sampling); defined for plain autoencoders too."""
    return means_and_recon_error(model, x, batch_size=batch_size)[1]


@torch.inference_mode()
def means_and_recon_error(model: LatentVariableModel, x: torch.Tensor, *,
                          batch_size: int = 4096) -> tuple[torch.Tensor, np.ndarray]:
    """The posterior means μ(x) ``(N, L)`` float64 (CPU) and :func:`recon_error` ``(N,)`` from one encoder pass,
    for scores that need both (``combined``)."""
    model.eval()
    mus, errs = [], []
    for c in model._as_input(x).split(batch_size):
        mu = model.encode(c).mean
        errs.append((model.decode(mu).mean - c).square().flatten(1).sum(1))
        mus.append(mu.double().cpu())
    return torch.cat(mus), torch.cat(errs).double().cpu().numpy()


@torch.inference_mode()
def kl_score(model: LatentVariableModel, x: torch.Tensor, *, batch_size: int = 4096) -> np.ndarray:
    """KL(q(z|x) ‖ N(0, I)) = ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²) (Kingma & Welling 2014, appendix B) ``(N,)``
    nats: how far the encoder must move an input's code away from the prior."""
    model.eval()
    x = model._as_input(x)
    out = []
    for c in x.split(batch_size):
        q = model.encode(c)
        if not isinstance(q, torch.distributions.Normal):
            raise ShadowplayError("the kl score needs a VAE (a Gaussian posterior); this model is a plain "
                                  "autoencoder. Use score='recon'")
        var = q.scale.square()
        out.append(0.5 * (var + q.loc.square() - 1 - var.log()).sum(-1))
    return torch.cat(out).double().cpu().numpy()
