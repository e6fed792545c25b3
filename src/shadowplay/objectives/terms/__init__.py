"""Loss terms. Each returns its **unweighted** value averaged over the batch (summed over data and latent
dimensions); the objective applies weights. A term is a ``Term`` subclass registered by name where it is defined."""

from .base import TERMS, StepContext, Term, register_term
from . import kl, recon  # noqa: F401  (register)
from . import dip, factor_tc, tc  # noqa: F401  (register the disentangling terms)

__all__ = ["TERMS", "StepContext", "Term", "register_term"]
