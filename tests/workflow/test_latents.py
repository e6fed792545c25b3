"""The advice after a posterior collapse, worded from the run's own config (the lr it trained with)."""

from __future__ import annotations

import numpy as np
import torch

from shadowplay.config import load_config
from shadowplay.evaluation import PosteriorMoments
from shadowplay.evaluation.diagnostics import summarize_latents
from shadowplay.workflow import collapse_warnings


def _collapsed():
    """Diagnostics of a code that is the same for every input: every latent inactive."""
    zeros = np.zeros((20, 3))
    return summarize_latents(PosteriorMoments(zeros, np.ones((20, 3)), zeros))


def test_a_short_factor_vae_run_is_told_about_its_low_default_lr():
    # FactorVAE trains at the preset's lr 1e-4 (Kim & Mnih 2018): in 35 steps (5 epochs of 1,000 28-px images) it
    # reached a validation ELBO of -448 where lr 1e-3 reached -160, yet the advice named only --epochs
    x = torch.rand(20, 1, 8, 8)
    advice = collapse_warnings(_collapsed(), load_config(overrides={"model.preset": "factor_vae"}), 35, x)[-1]
    assert "at lr 0.0001 the 35 steps barely moved the weights" in advice and "--lr 0.001" in advice
    mine = load_config(overrides={"model.preset": "factor_vae", "trainer.lr": 1e-3})
    assert "at lr" not in collapse_warnings(_collapsed(), mine, 35, x)[-1]  # the user's lr, not the preset's
    assert "at lr" not in collapse_warnings(_collapsed(), load_config(overrides={"model.preset": "vae"}), 35, x)[-1]
    long = collapse_warnings(_collapsed(), load_config(overrides={"model.preset": "factor_vae"}), 30_000, x)[-1]
    assert "at lr" not in long
