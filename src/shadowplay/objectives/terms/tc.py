"""β-TCVAE's decomposition of the average KL into index-code MI, total correlation and dimension-wise KL.

Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in VAEs", eq. 2:

    E_p(n)[KL(q(z|n) ‖ p(z))] = I_q(z; n)                       index-code MI   E[log q(z|n) − log q(z)]
                              + KL(q(z) ‖ Π_j q(z_j))           total correlation E[log q(z) − Σ_j log q(z_j)]
                              + Σ_j KL(q(z_j) ‖ p(z_j))         dimension-wise KL E[Σ_j log q(z_j) − log p(z)]

with q(z) = (1/N) Σ_n q(z|n) over the N training examples. log q(z) and log q(z_j) are estimated from the
minibatch ``{n_1..n_B}`` at the batch's own samples z_i ~ q(z|n_i):

- ``mws``, minibatch-weighted sampling (ibid. §3.1 and appendix C.1):
  log q(z_i) ≈ log Σ_j q(z_i|n_j) − log(N·B). Only the −log(N·B) shift is a constant. The estimate itself is
  biased low, and by an amount that depends on the posteriors: in expectation over the batch,
  q̂(z_i) = (q(z_i|n_i) + (B−1)·q(z_i)) / (N·B), so log q̂(z_i) − log q(z_i) lies between about −log N (posteriors
  that overlap completely, q(z_i|n_i) ≈ q(z_i)) and about −log B (posteriors that do not overlap,
  q(z_i|n_i) ≈ N·q(z_i)). The same holds for each marginal q(z_ij), with each dimension's own overlap. The logged MI
  is therefore too high by between log B and log N, the dimension-wise KL too low (it can come out negative), and
  because the bias moves with the overlap of the posteriors, the gradients are biased too, not just the values.
- ``mss``, minibatch-stratified sampling (ibid. appendix C.2): the other N−1 examples are split into M = B−1
  strata; log q(z_i) ≈ log Σ_j w_ij q(z_i|n_j) with w_ii = 1/N, one stratum sample of weight (N−M)/(N·M) and the
  rest 1/M. Each row of weights sums to 1, and over stratified draws the estimate of q(z_i) is unbiased.
  (The reference code's weight matrix puts 1/N in column 0 instead of on the diagonal, rtqichen/beta-tcvae PR #1;
  the weights here are on the diagonal, and ``tests/objectives`` checks them against a brute-force expectation.)

N is ``StepContext.dataset_size``: a wrong N biases every term, so a batch larger than N is refused. The three
parts always sum to the one-sample KL estimate E[log q(z|x) − log p(z)] whatever the estimator. They are the parts
of one term, :class:`BetaTCVAE`, computed from one ``(B, B, L)`` table of log densities per batch.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

from ...model import ModelOutput
from .base import StepContext, Term, TermOutput
from .kl import kl_per_latent

ESTIMATORS = ("mws", "mss")


def pairwise_log_density(z: torch.Tensor, posterior: Normal) -> torch.Tensor:
    """``(B, B, L)`` log q(z_il | n_j): row i is the sample, column j the example whose posterior scores it."""
    if not isinstance(posterior, Normal):
        raise ValueError("β-TCVAE terms need a Gaussian posterior (model.posterior 'gaussian'), got "
                         f"{type(posterior).__name__}")
    return posterior.log_prob(z.unsqueeze(1))


def mss_log_weights(batch: int, dataset_size: int, device=None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(B, B)`` log importance weights of minibatch-stratified sampling (Chen et al. 2018, appendix C.2).

    Row i: 1/N on the diagonal (z_i's own example), (N−M)/(N·M) at column (i+1) mod B (the smaller stratum),
    1/M elsewhere, with M = B − 1. A batch of one keeps only its own 1/N. Each row sums to
    1/N + (N−M)/(N·M) + (M−1)/M = 1, so q̂(z_i) is a mixture of the batch's posteriors; ``tests/objectives`` checks
    that its mean over every stratified minibatch of a small dataset is q(z_i) exactly.
    """
    n, m = int(dataset_size), batch - 1
    dtype = dtype or torch.get_default_dtype()
    if m == 0:
        return torch.full((1, 1), -math.log(n), device=device, dtype=dtype)
    # float64 while building: 1/N for N ~ 10^6 and the sums to 1 are exact enough; cast to the codes' dtype at the end
    w = torch.full((batch, batch), 1.0 / m, device=device, dtype=torch.float64)
    idx = torch.arange(batch, device=device)
    w[idx, (idx + 1) % batch] = (n - m) / (n * m)
    w[idx, idx] = 1.0 / n
    return w.log().to(dtype)


def estimate_log_qz(log_q: torch.Tensor, dataset_size: int, estimator: str = "mws"
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """From ``log_q`` ``(B, B, L)`` (see :func:`pairwise_log_density`) return log q(z_i) ``(B,)`` and the
    marginals log q(z_il) ``(B, L)`` under ``estimator`` (``mws`` or ``mss``)."""
    b = log_q.shape[0]
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown β-TCVAE estimator {estimator!r}; choose mws or mss (objective.extra.estimator)")
    if dataset_size < b:
        raise ValueError(f"β-TCVAE needs N = the number of training examples (StepContext.dataset_size); got "
                         f"N={dataset_size} with a batch of {b}. A wrong N biases every term")
    joint = log_q.sum(-1)  # (B, B): log q(z_i | n_j) of the whole code, a product over the L dimensions
    if estimator == "mws":
        shift = math.log(dataset_size * b)  # every weight is 1/(N·B): a constant shift of the log
        return torch.logsumexp(joint, 1) - shift, torch.logsumexp(log_q, 1) - shift  # sum over columns j
    logw = mss_log_weights(b, dataset_size, log_q.device, log_q.dtype)  # (B, B), row i weights example j
    return torch.logsumexp(joint + logw, 1), torch.logsumexp(log_q + logw.unsqueeze(-1), 1)


class BetaTCVAE(Term):
    """β-TCVAE's decomposition of the KL (Chen et al. 2018, eq. 2), one term with three parts, each a batch mean:

    - ``mi``   I_q(z; n)            ≈ mean_i [log q(z_i|n_i) − log q(z_i)]
    - ``tc``   KL(q(z) ‖ Π_j q(z_j)) ≈ mean_i [log q(z_i) − Σ_j log q(z_ij)]
    - ``dwkl`` Σ_j KL(q(z_j) ‖ p(z_j)) ≈ mean_i [Σ_j log q(z_ij) − log p(z_i)]

    weighted α, β, γ by the preset. Diagnostics: ``kl`` (the closed-form KL(q(z|x) ‖ p(z)), batch mean, which the
    three parts estimate by sampling) and ``kl_per_latent`` ``(L,)``.
    """

    name = "beta_tc"
    parts = ("mi", "tc", "dwkl")

    def __init__(self, estimator: str = "mss"):
        super().__init__()
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown β-TCVAE estimator {estimator!r}; choose mws or mss "
                             "(objective.extra.estimator)")
        self.estimator = estimator

    def forward(self, out: ModelOutput, ctx: StepContext) -> TermOutput:
        log_q = pairwise_log_density(out.z, out.posterior)                    # (B, B, L)
        log_qz, log_qz_marginals = estimate_log_qz(log_q, ctx.dataset_size, self.estimator)  # (B,), (B, L)
        log_qz_product = log_qz_marginals.sum(-1)                             # (B,): Σ_j log q(z_ij)
        log_qz_x = torch.diagonal(log_q, dim1=0, dim2=1).sum(0)               # (B,): log q(z_i | n_i), own example
        log_pz = out.prior.log_prob(out.z).sum(-1)                            # (B,)
        per_latent = kl_per_latent(out)                                       # (B, L), closed form
        return TermOutput(
            {"mi": (log_qz_x - log_qz).mean(), "tc": (log_qz - log_qz_product).mean(),
             "dwkl": (log_qz_product - log_pz).mean()},
            {"kl": per_latent.sum(-1).mean(), "kl_per_latent": per_latent.mean(0)})
