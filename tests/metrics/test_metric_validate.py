"""Input checks and the shared estimators (binning, plug-in MI, entropy) against independent computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sklearn.metrics
import torch

from shadowplay.errors import ShadowplayError
from shadowplay.metrics import (MetricError, check_codes_factors, dci, discretize, entropy, mig,
                                modularity_explicitness, mutual_info_matrix, sap)

FAST_ARRAY_METRICS = {
    "mig": lambda c, f: mig(c, f),
    "sap": lambda c, f: sap(c, f),
    "dci": lambda c, f: dci(c, f, n_estimators=5),
    "modularity_explicitness": lambda c, f: modularity_explicitness(c, f),
}


def _bad_inputs(factors, perfect):
    f, c = factors[:300], perfect[:300]
    nan_codes = c.copy()
    nan_codes[5, 1] = np.nan
    const = f.copy()
    const[:, 1] = 2
    return {
        "lengths": (c[:299], f, "different lengths"),
        "non-integer": (c, f + 0.5, "whole numbers"),
        "constant": (c, const, "column 1 is constant"),
        "nan": (nan_codes, f, "NaN"),
        "not-2d": (c[:, 0], f, "2-D"),
        "empty": (c[:0], f[:0], "empty"),
    }


@pytest.mark.parametrize("case", ["lengths", "non-integer", "constant", "nan", "not-2d", "empty"])
@pytest.mark.parametrize("metric", sorted(FAST_ARRAY_METRICS))
def test_every_array_metric_rejects_bad_input(metric, case, factors, perfect):
    codes, facs, word = _bad_inputs(factors, perfect)[case]
    with pytest.raises(MetricError, match=word):
        FAST_ARRAY_METRICS[metric](codes, facs)


def test_metric_error_is_a_value_error():
    assert issubclass(MetricError, ShadowplayError) and issubclass(MetricError, ValueError)


def test_constant_factor_message_explains_why(factors, perfect):
    const = factors.copy()
    const[:, 2] = 7
    with pytest.raises(MetricError, match="at least 2 distinct values"):
        check_codes_factors(perfect, const)


def test_accepts_torch_and_whole_floats(factors, perfect):
    c, f = check_codes_factors(torch.from_numpy(perfect).float(), factors.astype(np.float32))
    assert c.dtype == np.float64 and f.dtype == np.int64
    np.testing.assert_array_equal(f, factors)


def test_discretize_matches_histogram_binning():
    x = np.random.default_rng(0).standard_normal((500, 3))
    x[:, 2] = 4.0  # a dead dimension lands in one bin
    d = discretize(x, bins=20)
    for j in range(2):
        edges = np.histogram(x[:, j], 20)[1]
        np.testing.assert_array_equal(d[:, j], np.digitize(x[:, j], edges[:-1]) - 1)
    assert d[:, :2].min() == 0 and d[:, :2].max() == 19
    assert np.all(d[:, 2] == d[0, 2])


def test_mutual_info_matches_sklearn(factors, rotated):
    d = discretize(rotated, 20)
    mi = mutual_info_matrix(d, factors)
    ref = np.array([[sklearn.metrics.mutual_info_score(factors[:, k], d[:, j]) for k in range(3)] for j in range(3)])
    np.testing.assert_allclose(mi, ref, atol=1e-12)


def test_entropy_closed_form():
    f = np.stack([np.tile(np.arange(4), 10), np.repeat([0, 1], 20)], axis=1)
    np.testing.assert_allclose(entropy(f), [math.log(4), math.log(2)])


def test_results_are_json_and_record_sklearn_version(factors, perfect):
    for metric in FAST_ARRAY_METRICS.values():
        d = metric(perfect[:600], factors[:600]).as_dict()
        assert d["sklearn_version"] == sklearn.__version__
        json.dumps(d, allow_nan=False)


SPLIT_METRICS = {
    "sap": lambda c, f, **kw: sap(c, f, **kw),
    "dci": lambda c, f, **kw: dci(c, f, predictor="lasso", **kw),
    "modularity_explicitness": lambda c, f, **kw: modularity_explicitness(c, f, **kw),
}


@pytest.mark.parametrize("name", sorted(SPLIT_METRICS))
def test_every_split_based_metric_takes_an_explicit_split(name, rotated, factors):
    """An explicit (train, test) pair equal to the seeded default split gives the same result; another split gives
    the counts it was given and (here) another result; a bad split is refused."""
    c, f = rotated[:600], factors[:600]
    fn = SPLIT_METRICS[name]
    default = fn(c, f, seed=4)
    perm = np.random.default_rng(4).permutation(len(c))  # the documented default: PCG64(seed), first part is test
    n_test = default.n_test
    same = fn(c, f, seed=4, split=(perm[n_test:], perm[:n_test]))
    assert same.as_dict() == default.as_dict()
    other = fn(c, f, seed=4, split=(np.arange(100, 600), np.arange(0, 100)))
    assert (other.n_train, other.n_test) == (500, 100) and other.as_dict() != default.as_dict()
    with pytest.raises(MetricError, match="overlap"):
        fn(c, f, split=(np.arange(0, 400), np.arange(300, 600)))
