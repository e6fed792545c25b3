"""Disentanglement metrics as pure functions of arrays (codes, factors) or of an encode callable.

Array metrics take ``(N, L)`` codes and ``(N, F)`` integer factors: :func:`mig`, :func:`sap`, :func:`dci`,
:func:`modularity_explicitness`, and the factor-free :func:`unsupervised_metrics`. Sampling metrics take a
``GroundTruthData`` and an ``encode`` callable and draw their own observations: :func:`beta_vae_score`,
:func:`factor_vae_score`. Each returns a frozen dataclass with ``as_dict()``; defaults follow disentanglement_lib
(Locatello et al. 2019), and each module's docstring names the paper, the equation and any deliberate deviation.

    >>> results = compute_metrics(codes, factors)                       # {"mig": MIGResult, ...}
    >>> {name: r.as_dict() for name, r in results.items()}              # JSON-friendly
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Mapping, Sequence

from ._validate import (MetricError, check_codes, check_codes_factors, check_factors, discretize, entropy,
                        mutual_info_matrix)
from .beta_vae import BetaVAEResult, beta_vae_score
from .dci import DCIResult, dci
from .factor_vae import FactorVAEResult, factor_vae_score
from .mig import MIGResult, mig
from .modularity import ModularityExplicitnessResult, modularity_explicitness
from .sap import SAPResult, sap
from .unsupervised import (UnsupervisedResult, gaussian_total_correlation, gaussian_wasserstein_correlation,
                           mutual_info_score, unsupervised_metrics)

ARRAY_METRIC_NAMES = ("mig", "sap", "dci", "modularity_explicitness", "unsupervised")
SAMPLING_METRIC_NAMES = ("beta_vae", "factor_vae")
METRIC_NAMES = ARRAY_METRIC_NAMES + SAMPLING_METRIC_NAMES
# metrics that compare code dimensions with each other (each calls check_min_dims with this many)
MIN_CODE_DIMS = {"mig": 2, "sap": 2, "unsupervised": 2}

_ARRAY: dict[str, Callable[..., Any]] = {
    "mig": lambda c, f, seed, **o: mig(c, f, **o),
    "sap": lambda c, f, seed, **o: sap(c, f, seed=seed, **o),
    "dci": lambda c, f, seed, **o: dci(c, f, seed=seed, **o),
    "modularity_explicitness": lambda c, f, seed, **o: modularity_explicitness(c, f, seed=seed, **o),
    "unsupervised": lambda c, f, seed, **o: unsupervised_metrics(c, **o),
}
_SAMPLING: dict[str, Callable[..., Any]] = {"beta_vae": beta_vae_score, "factor_vae": factor_vae_score}
# The functions behind each name, whose keyword arguments are the options a caller may pass for it.
_FUNCTIONS: dict[str, Callable[..., Any]] = {"mig": mig, "sap": sap, "dci": dci,
                                             "modularity_explicitness": modularity_explicitness,
                                             "unsupervised": unsupervised_metrics, **_SAMPLING}
_NOT_OPTIONS = ("codes", "factors", "data", "encode", "seed")  # given by compute_metrics / compute_sampling_metrics


def metric_options(name: str) -> tuple[str, ...]:
    """The keyword arguments metric ``name`` takes as options (e.g. ``mig`` → ``("bins",)``)."""
    params = inspect.signature(_FUNCTIONS[name]).parameters
    return tuple(p for p in params if p not in _NOT_OPTIONS)


def metric_option_defaults(name: str) -> dict[str, Any]:
    """The default of each option of metric ``name`` that has one (``mig`` → ``{"bins": 20}``)."""
    params = inspect.signature(_FUNCTIONS[name]).parameters
    return {k: p.default for k, p in params.items() if k not in _NOT_OPTIONS and p.default is not p.empty}


def check_metric_options(options: Mapping[str, Mapping[str, Any]] | None) -> None:
    """Refuse an option a metric does not take, naming the ones it does (``{"mig": {"binz": 5}}``), before
    anything is computed; unknown metric names are the caller's to check."""
    for name, given in (options or {}).items():
        if name not in _FUNCTIONS:
            continue
        if not isinstance(given, Mapping):
            raise MetricError(f"options of {name} must be a mapping of keyword arguments such as "
                              f'{{"{metric_options(name)[0]}": ...}}, got {given!r}')
        valid = metric_options(name)
        for key in given:
            if key == "seed":
                raise MetricError(f"seed is not a per-metric option: every metric takes the evaluation's seed "
                                  "(`shadowplay evaluate --seed`, or seed=)")
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise MetricError(f"{name} has no option {key!r}{hint}; its options are {', '.join(valid)}")


def _check_names(names: Sequence[str], known: Sequence[str], options: Mapping[str, Any] | None,
                 hint: str) -> None:
    if isinstance(names, str):
        raise MetricError(f"names must be a sequence of metric names, got the string {names!r}; "
                          f"write ({names!r},)")
    for name in list(names) + list(options or {}):
        if name not in known:
            where = f" ({hint})" if name in METRIC_NAMES else ""
            raise MetricError(f"unknown metric {name!r}{where}; choose from {tuple(known)}")


def compute_metrics(codes: Any, factors: Any,
                    names: Sequence[str] = ("mig", "sap", "dci", "modularity_explicitness"), seed: int = 0,
                    options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Several array metrics of the same ``(N, L)`` codes and ``(N, F)`` integer factors.

    Args:
        codes, factors: as in each metric; validated once here.
        names: metrics to compute, from ``ARRAY_METRIC_NAMES``.
        seed: passed to every metric that draws random numbers.
        options: per-metric keyword arguments, e.g. ``{"dci": {"n_estimators": 10}}``.

    Returns:
        ``{name: result dataclass}`` in the order of ``names``; call ``.as_dict()`` on each for JSON.
    """
    _check_names(names, ARRAY_METRIC_NAMES, options, "it samples its own data: use compute_sampling_metrics")
    check_metric_options(options)
    c, f = check_codes_factors(codes, factors)
    return {name: _ARRAY[name](c, f, seed, **dict((options or {}).get(name, {}))) for name in names}


def compute_sampling_metrics(data: Any, encode: Callable[..., Any],
                             names: Sequence[str] = ("beta_vae", "factor_vae"), seed: int = 0,
                             options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The metrics that sample their own observations from a ``GroundTruthData`` and encode them.

    Args:
        data: a ``GroundTruthData``.
        encode: maps a float32 ``(n, *observation_shape)`` tensor to ``(n, L)`` codes.
        names: from ``SAMPLING_METRIC_NAMES``.
        seed: each metric gets its own PCG64 stream seeded with ``seed``.
        options: per-metric keyword arguments, e.g. ``{"beta_vae": {"n_train": 1000}}``.

    Returns:
        ``{name: result dataclass}`` in the order of ``names``.
    """
    _check_names(names, SAMPLING_METRIC_NAMES, options, "it takes codes and factors: use compute_metrics")
    check_metric_options(options)
    return {name: _SAMPLING[name](data, encode, seed=seed, **dict((options or {}).get(name, {}))) for name in names}


__all__ = [
    "ARRAY_METRIC_NAMES", "METRIC_NAMES", "MIN_CODE_DIMS", "SAMPLING_METRIC_NAMES", "BetaVAEResult", "DCIResult",
    "FactorVAEResult", "MIGResult", "MetricError", "ModularityExplicitnessResult", "SAPResult",
    "UnsupervisedResult", "beta_vae_score", "check_codes", "check_codes_factors", "check_factors",
    "check_metric_options", "compute_metrics", "compute_sampling_metrics", "dci", "discretize", "entropy",
    "factor_vae_score", "gaussian_total_correlation", "gaussian_wasserstein_correlation", "metric_option_defaults",
    "metric_options", "mig", "modularity_explicitness", "mutual_info_matrix", "mutual_info_score", "sap",
    "unsupervised_metrics",
]
