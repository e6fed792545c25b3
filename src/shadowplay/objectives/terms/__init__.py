"""Loss terms, one file per term. Each returns a :class:`TermOutput`: its named **unweighted** parts, averaged over
the batch (summed over data and latent dimensions), and logged-only diagnostics; the objective applies the weights.
"""

from .base import StepContext, Term, TermOutput

__all__ = ["StepContext", "Term", "TermOutput"]
