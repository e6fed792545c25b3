"""FactorVAE's total-correlation term, estimated by a discriminator (Kim & Mnih 2018, "Disentangling by Factorising").

The discriminator D tells samples of q(z) from samples of q̄(z) = Π_j q(z_j), the latter made by permuting every
latent dimension independently across a batch (ibid. Algorithm 1). With D(z) the probability that z came from q(z),
the density-ratio trick gives (ibid. eq. 3)

    TC(z) = KL(q(z) ‖ q̄(z)) ≈ E_q(z)[log D(z) / (1 − D(z))] = E_q(z)[s_0(z) − s_1(z)],

where (s_0, s_1) are D's two logits. The VAE minimizes γ·TC; D minimizes its own cross-entropy

    ½ · (CE(D(z), "q") + CE(D(perm(z')), "q̄")),  z from the training batch, z' from a second batch,

with its own Adam optimizer (the trainer names it after this term, ``factor_tc``). Two things keep the two players
apart: the TC estimate is computed through a *detached copy* of D's parameters, so its gradient reaches the encoder
but never D (D's ``.grad`` stays untouched by the VAE loss), and D's loss sees only detached codes, so it never
moves the encoder. Defaults follow the paper's appendix: an MLP of 6 hidden layers of 1000 units with
LeakyReLU(0.2) and 2 outputs, Adam lr 1e-4, betas (0.5, 0.9).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ...model import ModelOutput
from .base import StepContext, Term, TermOutput


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, L)`` → ``(B, L)``: each column shuffled by its own random permutation (Kim & Mnih 2018, Alg. 1).

    Every column keeps its values (its marginal); only the pairing across columns is destroyed.
    """
    b, l = z.shape
    # (B, L): column j is an independent permutation of the rows; drawn on the CPU so a CPU generator (and the
    # global CPU RNG that resume restores) decides it on every device.
    idx = torch.stack([torch.randperm(b, generator=generator, device="cpu") for _ in range(l)], 1).to(z.device)
    return torch.gather(z, 0, idx)  # out[i, j] = z[idx[i, j], j]


def discriminator_mlp(latent_dim: int, hidden: int = 1000, layers: int = 6, slope: float = 0.2) -> nn.Sequential:
    """``(B, L)`` → ``(B, 2)`` logits (class 0: a sample of q(z); class 1: a permuted sample)."""
    mods: list[nn.Module] = []
    width = latent_dim
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LeakyReLU(slope)]
        width = hidden
    mods.append(nn.Linear(width, 2))
    return nn.Sequential(*mods)


class DiscriminatorTC(Term):
    """Part ``factor_tc``: TC ≈ mean over the batch of the log-odds s_0(z) − s_1(z) of a discriminator (Kim & Mnih
    2018, eq. 3). Its auxiliary loss (the discriminator's cross-entropy) is logged as ``factor_tc_aux``."""

    name = "factor_tc"
    parts = ("factor_tc",)

    def __init__(self, latent_dim: int, hidden: int = 1000, layers: int = 6, lr: float = 1e-4,
                 betas: tuple[float, float] = (0.5, 0.9)):
        super().__init__()
        if latent_dim < 1 or hidden < 1 or layers < 1:
            raise ValueError(f"the FactorVAE discriminator needs latent_dim, hidden and layers >= 1; got "
                             f"{latent_dim}, {hidden}, {layers}")
        self.discriminator = discriminator_mlp(latent_dim, hidden, layers)
        self.aux_lr, self.aux_betas = float(lr), (float(betas[0]), float(betas[1]))

    def log_odds(self, z: torch.Tensor) -> torch.Tensor:
        """``(B,)`` log D(z)/(1 − D(z)) through detached parameters: differentiable in z only."""
        # Detached copies of D's parameters: the VAE's gradient flows through D into z but never into D.
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        logits = functional_call(self.discriminator, frozen, (z,))  # (B, 2)
        # log D/(1 − D) with D = softmax(logits)[0] is exactly the logit difference s_0 − s_1.
        return logits[:, 0] - logits[:, 1]

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:
        return TermOutput({"factor_tc": self.log_odds(out.z).mean()})

    def aux_loss(self, out: ModelOutput, ctx: StepContext) -> torch.Tensor:
        """D's cross-entropy on this batch's codes (label 0) and a second batch's permuted codes (label 1).

        Without ``ctx.draw_batch`` (e.g. a hand-made context) the permuted codes come from this batch instead.
        """
        z = out.z.detach()  # (B, L): D's loss must not move the encoder
        if ctx.draw_batch is not None and ctx.model is not None:
            # A second, independent minibatch for the permuted samples (Kim & Mnih, Alg. 2): permuting the same
            # batch D just saw as "real" would let D compare a code with its own shuffled copy.
            with torch.no_grad():
                z2 = ctx.model.encode(ctx.draw_batch()).rsample()  # (B', L)
        else:
            z2 = z
        z_perm = permute_dims(z2.detach())  # (B', L), a sample of Π_j q(z_j)
        real = self.discriminator(z)        # (B, 2) logits
        fake = self.discriminator(z_perm)   # (B', 2)
        zeros = torch.zeros(len(real), dtype=torch.long, device=z.device)
        ones = torch.ones(len(fake), dtype=torch.long, device=z.device)
        return 0.5 * (F.cross_entropy(real, zeros) + F.cross_entropy(fake, ones))
