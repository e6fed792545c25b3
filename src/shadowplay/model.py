"""``LatentVariableModel``: encoder → q(z|x) → z → decoder → p(x|z), with a N(0, I) prior.

One class serves every variant (autoencoder, VAE, β-VAE, β-TCVAE, FactorVAE, DIP-VAE); what differs is the
posterior kind and the objective's terms. ``ModelSpec`` is the JSON-able recipe that rebuilds a model from a
checkpoint without unpickling anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution

from .distributions import LIKELIHOODS, POSTERIORS, standard_normal_prior
from .errors import ConfigError, DataError
from .nets import NETS, build_nets, pick_net


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model's architecture (weights come from the checkpoint)."""

    data_shape: tuple[int, ...]
    latent_dim: int
    net: str = "auto"
    hidden: tuple[int, ...] = (512, 256)
    channels: tuple[int, ...] = (32, 32, 64, 64)
    posterior: str = "gaussian"
    likelihood: str = "bernoulli"
    scale: float | None = None
    head_dim: int = 0  # classifier outputs of the shared encoder (DB-VAE): 1 = binary logit, K = class logits

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        d = dict(d)
        for k in ("data_shape", "hidden", "channels"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass
class ModelOutput:
    """One forward pass over a batch of ``B`` inputs with ``L`` latents.

    Attributes:
        x: ``(B, *shape)`` the inputs.
        posterior: q(z|x), batch shape ``(B, L)``.
        z: ``(B, L)`` a reparameterized sample (the posterior mean for a point mass).
        likelihood: p(x|z), batch shape ``(B,)``, event shape ``shape``.
        prior: p(z) = N(0, I), batch shape ``(B, L)``.
        logits: ``(B, head_dim)`` classifier logits from the same encoder pass, or ``None`` without a head.

    ``kl_cache`` holds KL(q(z|x) ‖ p(z)) ``(B, L)`` once ``objectives.terms.kl.kl_per_latent`` has computed it, so the
    terms that read the KL in one step (the reconstruction's ELBO diagnostic, ``kl``, ``capacity``, β-TCVAE's
    dimension-wise KL) share one computation and one node of the graph.
    """

    x: torch.Tensor
    posterior: Distribution
    z: torch.Tensor
    likelihood: Distribution
    prior: Distribution
    logits: torch.Tensor | None = None  # (B, head_dim) classifier logits when ModelSpec.head_dim > 0
    kl_cache: torch.Tensor | None = field(default=None, repr=False, compare=False)


class LatentVariableModel(nn.Module):
    """Composes an encoder, a posterior, a decoder and a likelihood.

    Shapes: ``encode(x: (B, *shape)) -> q(z|x)`` with batch shape ``(B, L)``; ``decode(z: (B, L)) -> p(x|z)`` with
    batch shape ``(B,)``; ``sample(n) -> (n, *shape)`` decoder means of prior draws.

    With ``head_dim > 0`` the encoder emits ``head_dim`` more outputs after the posterior's parameters: classifier
    logits that share every encoder layer with q(z|x) (DB-VAE, Amini et al. 2019, §3). ``classify(x)`` returns them.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, posterior: nn.Module, likelihood: nn.Module,
                 latent_dim: int, data_shape: tuple[int, ...], spec: ModelSpec | None = None, head_dim: int = 0):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.posterior, self.likelihood = posterior, likelihood
        self.latent_dim = int(latent_dim)
        self.data_shape = tuple(data_shape)
        self.spec = spec
        self.head_dim = int(head_dim)

    def _encode(self, x: torch.Tensor) -> tuple[Distribution, torch.Tensor | None]:
        """q(z|x) and the classifier logits ``(B, head_dim)`` (``None`` without a head) from one encoder pass."""
        h = self.encoder(x)
        if not self.head_dim:
            return self.posterior(h), None
        return self.posterior(h[:, :-self.head_dim]), h[:, -self.head_dim:]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _as_input(self, x: Any) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x)
        if not torch.is_floating_point(x):
            raise DataError(f"model input must be floating point, got dtype {x.dtype}")
        if tuple(x.shape[1:]) != self.data_shape:
            raise DataError(f"model input must have shape (N, {', '.join(map(str, self.data_shape))}), "
                            f"got {tuple(x.shape)}")
        p = next(self.parameters())
        return x.to(device=p.device, dtype=p.dtype)

    def encode(self, x: torch.Tensor) -> Distribution:
        """q(z|x) for ``x`` of shape ``(B, *shape)``; ``.mean`` is ``(B, L)``."""
        return self._encode(self._as_input(x))[0]

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Classifier logits ``(B, head_dim)`` for ``x`` ``(B, *shape)``; an error for a model without a head."""
        if not self.head_dim:
            raise DataError("this model has no classifier head; train it with a classifier preset "
                            "(`shadowplay debias train`)")
        return self._encode(self._as_input(x))[1]

    def decode(self, z: torch.Tensor) -> Distribution:
        """p(x|z) for ``z`` of shape ``(B, L)``; ``.mean`` is ``(B, *shape)``."""
        if not isinstance(z, torch.Tensor):
            z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f"latent codes must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        p = next(self.parameters())
        return self.likelihood(self.decoder(z.to(device=p.device, dtype=p.dtype)))

    def prior(self, batch: int, like: torch.Tensor | None = None) -> Distribution:
        ref = like if like is not None else next(self.parameters())
        return standard_normal_prior((batch, self.latent_dim), ref)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        q, logits = self._encode(x)
        z = q.rsample()
        return ModelOutput(x=x, posterior=q, z=z, likelihood=self.likelihood(self.decoder(z)),
                           prior=standard_normal_prior(z.shape, z), logits=logits)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, *shape)`` decoder means of ``n`` draws from the prior."""
        if n < 1:
            raise ConfigError(f"number of samples must be >= 1, got {n}")
        z = torch.randn(n, self.latent_dim, generator=generator)
        return self.decode(z).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, *shape)`` decoder means at the posterior means."""
        return self.decode(self.encode(x).mean).mean


def check_choices(net: str, likelihood: str) -> None:
    """``model.net`` and ``model.likelihood`` checked against the lists their modules own (``nets.NETS``,
    ``distributions.LIKELIHOODS``), without data: for callers that resolve many configs before running any."""
    for key, value, allowed in (("model.net", net, NETS), ("model.likelihood", likelihood, tuple(LIKELIHOODS))):
        if value != "auto" and value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of auto, {', '.join(allowed)}")


def check_value_range(likelihood: str, value_range: str, fix: str = "Use --likelihood gaussian (or laplace)",
                      what: str = "these data") -> None:
    """Refuse data outside [0, 1] (``value_range`` ``"real"``) for a Bernoulli likelihood: training a model on them,
    and scoring them with a trained one (its log-likelihood of such values is meaningless). ``fix`` ends the
    message with what to do instead; ``what`` names the data."""
    if likelihood == "bernoulli" and value_range != "unit":
        raise DataError(f"a Bernoulli likelihood needs data in [0, 1]; {what} are real-valued. {fix}")


def resolve_likelihood(likelihood: str, value_range: str) -> str:
    """``auto`` → Bernoulli for data in [0, 1], Gaussian otherwise; Bernoulli on real-valued data is an error."""
    if likelihood != "auto" and likelihood not in LIKELIHOODS:
        raise ConfigError(f"unknown likelihood {likelihood!r}; choose auto or one of {', '.join(LIKELIHOODS)}")
    if likelihood == "auto":
        return "bernoulli" if value_range == "unit" else "gaussian"
    check_value_range(likelihood, value_range)
    if likelihood not in LIKELIHOODS:
        raise ConfigError(f"unknown likelihood {likelihood!r}; choose auto or one of {', '.join(LIKELIHOODS)}")
    return likelihood


def build_model(spec: ModelSpec) -> LatentVariableModel:
    """Instantiate the architecture ``spec`` describes (fresh weights)."""
    if spec.posterior not in POSTERIORS:
        raise ValueError(f"unknown posterior {spec.posterior!r}; choose one of {', '.join(POSTERIORS)}")
    if spec.likelihood not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {spec.likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")
    if spec.latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {spec.latent_dim}")
    if spec.head_dim < 0:
        raise ValueError(f"head_dim must be >= 0, got {spec.head_dim}")
    posterior = POSTERIORS[spec.posterior]()
    encoder, decoder = build_nets(spec.data_shape, spec.latent_dim, posterior.n_params(spec.latent_dim) + spec.head_dim,
                                  pick_net(spec.data_shape, spec.net), spec.hidden, spec.channels)
    likelihood = LIKELIHOODS[spec.likelihood](spec.data_shape, spec.scale)
    return LatentVariableModel(encoder, decoder, posterior, likelihood, spec.latent_dim, spec.data_shape, spec,
                               spec.head_dim)
