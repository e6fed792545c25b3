"""The summary of an epoch's sampling weights (``debias/draws.py``): effective inputs and group shares."""

import warnings

import numpy as np
import pytest

from shadowplay.debias import ConcentratedDrawsWarning, summarize_draws
from shadowplay.debias.draws import warn_if_concentrated


def test_closed_form():
    # weights 1, 1, 2 (any scale): n_eff = (1+1+2)² / (1+1+4) = 16/6; largest 2/4 of the draws = 1.5 × 1/3
    s = summarize_draws(np.array([0.5, 0.5, 1.0]), 1, groups=np.array([0, 0, 1]), group_names=["common", "rare"])
    assert s.effective_n == pytest.approx(16 / 6) and s.max_over_uniform == pytest.approx(1.5)
    common, rare = s.groups
    assert (rare.name, rare.n, rare.input_share, rare.draw_share) == ("rare", 1, pytest.approx(1 / 3), 0.5)
    assert common.draw_share == 0.5
    assert "effective inputs 3 of 3" in s.line() and "rare 50.0 % (of inputs 33.3 %)" in s.line()
    assert s.as_dict()["groups"][1]["draw_share"] == 0.5
    assert summarize_draws(np.ones(4), 0).groups == () and summarize_draws(np.ones(4), 0).effective_n == 4


def test_warns_only_when_a_few_inputs_take_the_draws():
    flat = summarize_draws(np.ones(100), 1)
    peaked = summarize_draws(np.r_[np.full(3, 1000.0), np.ones(997)], 1)  # n_eff 3.2 of 1,000
    spread = summarize_draws(np.r_[np.full(20, 1000.0), np.ones(980)], 1)  # n_eff 21 of 1,000: 2 %, no warning
    few = summarize_draws(np.r_[np.full(2, 100.0), np.ones(98)], 1)  # n_eff 298²/20,098 = 4.4 of 100: under 10 inputs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_concentrated(flat, "latent")
        warn_if_concentrated(spread, "latent")
    with pytest.warns(ConcentratedDrawsWarning, match="raise --alpha"):
        warn_if_concentrated(peaked, "latent")
    with pytest.warns(ConcentratedDrawsWarning, match="merge tiny groups"):
        warn_if_concentrated(peaked, "groups")
    with pytest.warns(ConcentratedDrawsWarning, match="about 4 of its 100"):
        warn_if_concentrated(few, "latent")
