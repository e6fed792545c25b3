"""``explore`` on a run trained from arrays in memory (a scikit-learn estimator's saved run) says why it cannot."""

from __future__ import annotations

import numpy as np
import pytest

from shadowplay import api
from shadowplay.errors import DataError
from shadowplay.sklearn import VAEEmbedding


def test_a_run_fitted_from_arrays_is_refused_with_the_reason(tmp_path):
    x = np.random.default_rng(0).random((40, 6))
    folder = VAEEmbedding(n_components=2, epochs=1, hidden=(8,), device="cpu").fit(x).save(tmp_path / "emb")
    # it used to fail with "unknown data source 'arrays'", naming a source the user never gave
    with pytest.raises(DataError, match="trained on arrays in memory .* the explorer starts from the run's own"):
        api.explore(folder, open_browser=False)
