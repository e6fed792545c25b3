"""Reconstruction term: −E_q(z|x)[log p(x|z)], one-sample estimate (Kingma & Welling 2014, eq. 3 & 7).

It also reports the ELBO as a diagnostic whenever the posterior has a KL to the prior (every preset but the plain
autoencoder, whose point-mass posterior has none, so an autoencoder logs no ELBO):

    ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))              (ibid., eq. 3; KL in closed form, appendix B)

with the same one-sample reconstruction the loss uses, averaged over the batch. It is the quantity whose validation
mean picks ``best.safetensors``, whatever the preset weights its terms by.
"""

from __future__ import annotations

from ...model import ModelOutput
from .base import StepContext, Term, TermOutput
from .kl import has_kl, kl_per_latent


class Reconstruction(Term):
    """Part ``recon``: −log p(x | z) summed over data dimensions (the likelihood's event), mean over the batch.

    Diagnostic ``elbo`` (scalar): log p(x|z) − KL(q(z|x) ‖ p(z)), mean over the batch, when the posterior is not a
    point mass.
    """

    name = "recon"
    generative = True
    parts = ("recon",)

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:
        log_lik = out.likelihood.log_prob(out.x)  # (B,): the likelihood's event covers every data dimension
        recon = -log_lik.mean()
        if not has_kl(out):
            return TermOutput({"recon": recon})
        elbo = -recon - kl_per_latent(out).sum(-1).mean()  # KL (B, L) → (B,) → batch mean
        return TermOutput({"recon": recon}, {"elbo": elbo})
