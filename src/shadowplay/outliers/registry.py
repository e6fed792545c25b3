"""The scores a :class:`~shadowplay.outliers.VAEOutlierDetector` can use, by name, and what each needs fitted.

========================  =====================================================================  ===============
name                      score (higher = more abnormal)                                         fitted reference
========================  =====================================================================  ===============
``elbo``                  −ELBO, K-draw estimate (Kingma & Welling 2014, eq. 3)                  —
``iwae``                  −L_K ≈ −log p(x) (Burda et al. 2016, eq. 8)                            —
``recon``                 Σ (x − decoder mean at the posterior mean)²                             —
``kl``                    KL(q(z|x) ‖ p(z))                                                      —
``latent_density``        −log q(μ(x)) under the aggregate posterior (Makhzani et al. 2016)      components
``latent_knn``            mean distance of μ(x) to its 5 nearest training codes (Ramaswamy 2000)  components
``likelihood_ratio``      −log p_θ(x) + log p_θ₀(x), background on perturbed inputs (Ren et al.)  background model
``complexity``            −log₂ p(x) − PNG bits (Serrà et al. 2020, eq. 2); images only          —
``typicality``            |−log p(x) − Ĥ| per batch (Nalisnick et al. 2019, Algorithm 1)          Ĥ, threshold
``combined``              −2 Σ log p_j of ``recon`` and ``latent_knn``'s conformal p-values       components,
                          (Fisher's method; :mod:`.combined`)                                    reference scores
========================  =====================================================================  ===============

``combined`` is the default: in ``benchmarks/outliers.py`` it is the one score that leads on both the one-class
protocol and the out-of-distribution pairs, where raw likelihood (``elbo``, ``iwae``) ranks simpler
out-of-distribution images as *more* normal.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ShadowplayError
from .combined import combined_score
from .complexity import complexity_corrected
from .latent import latent_density, latent_knn
from .ratio import likelihood_ratio
from .scores import kl_score, neg_elbo, neg_iwae, recon_error
from .typicality import typicality

SCORES = ("combined", "elbo", "iwae", "recon", "kl", "latent_density", "latent_knn", "likelihood_ratio", "complexity",
          "typicality")
SCORE_NAMES = SCORES
NEEDS = {"latent_density": ("aggregate_posterior_",), "latent_knn": ("aggregate_posterior_",),
         "likelihood_ratio": ("background_",), "typicality": ("typicality_",),
         "combined": ("aggregate_posterior_", "combined_")}


def compute_scores(det, x: torch.Tensor, self_index: torch.Tensor | None = None) -> np.ndarray:
    """``det.outlier_score`` of model inputs ``x`` ``(N, *input_shape_)`` with the detector's model and references.
    ``self_index`` ``(N,)`` int64 (for the inputs the references were fitted on): each input's own code in the
    aggregate posterior, left out of the latent scores (``latent_density``, ``latent_knn``, ``combined``) so that
    a training input is scored as a new normal input would be."""
    name, m = det.outlier_score, det.model_
    k, seed = int(det.iw_samples), int(det.score_seed)
    if any(getattr(det, ref, None) is None for ref in NEEDS.get(name, ())):
        raise ShadowplayError(f"the {name!r} score needs its reference fitted; call fit(X) (or calibrate(X) after "
                         "changing outlier_score)")
    if name == "elbo":
        return neg_elbo(m, x, samples=k, seed=seed)
    if name == "iwae":
        return neg_iwae(m, x, iw_samples=k, seed=seed)
    if name == "recon":
        return recon_error(m, x)
    if name == "kl":
        return kl_score(m, x)
    if name == "latent_density":
        return latent_density(m, x, det.aggregate_posterior_, self_index=self_index)
    if name == "latent_knn":
        return latent_knn(m, x, det.aggregate_posterior_, self_index=self_index)
    if name == "likelihood_ratio":
        return likelihood_ratio(m, det.background_, x, iw_samples=k, seed=seed)
    if name == "complexity":
        return complexity_corrected(m, x, iw_samples=k, seed=seed)
    if name == "typicality":
        return typicality(m, x, det.typicality_, iw_samples=k, seed=seed)
    if name == "combined":
        return combined_score(m, x, det.aggregate_posterior_, det.combined_, self_index)
    raise ShadowplayError(f"unknown score {name!r}; choose one of {', '.join(SCORES)}")
