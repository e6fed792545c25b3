"""Disentanglement metrics of a trained model, as one pure function over codes, factors and an encoder.

``evaluate --metrics`` (``shadowplay.api.evaluate``) calls :func:`disentanglement_metrics` with the posterior
means of a split and its ground-truth factors. The array metrics (MIG, SAP, DCI, modularity/explicitness,
unsupervised scores; ``shadowplay.metrics.compute_metrics``) score those codes; the sampling metrics (β-VAE and
FactorVAE scores) draw their own observations from the source's ground-truth generator
(``shadowplay.data.groundtruth_for``) and are skipped, with a note, when there is none. ``"all"`` means every
metric the data allow. The latent × factor mutual-information matrix (plug-in MI in nats of the codes cut into 20
equal-width bins, as MIG uses; Chen et al. 2018, §5) is always returned, for the heat map of
``shadowplay.reports.disentanglement``.

The sampling metrics are slow (with their defaults, 1.9 million and 970,000 encoded observations; minutes on a
CPU), and so is DCI's gradient boosting (100 stages per factor: about 5 minutes for the 2,000 test images of the
default dSprites run), so ``progress=True`` shows a bar for each of them (tqdm, as the likelihood's and the
training bar). Like those, it also writes when stderr is not a terminal (a log of CI, ``nohup`` or a study child
shows that the work goes on); there it stays, once done, as one line with the metric's count and time, where a
terminal clears it. The bar only listens to the metric's ``progress`` callback and cannot change a score.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..errors import ConfigError


@dataclass(frozen=True)
class DisentanglementResult:
    """``results``: ``{metric: result.as_dict()}``; ``mi_matrix`` ``(L, F)`` nats; ``factor_entropy`` ``(F,)``."""

    results: dict[str, dict[str, Any]]
    mi_matrix: np.ndarray
    factor_entropy: np.ndarray
    factor_names: tuple[str, ...]
    notes: tuple[str, ...] = ()


def resolve_metric_names(names: Sequence[str], sampling_available: bool, code_dims: int | None = None
                         ) -> tuple[list[str], list[str], list[str]]:
    """Split ``names`` (``"all"`` allowed) into array and sampling metrics; returns ``(array, sampling, notes)``.

    ``code_dims``, when known, drops from ``all`` (with a note) the metrics that compare code dimensions and need
    more than the model has (MIG, SAP, the unsupervised scores of a 1-latent model); naming one is an error."""
    from ..metrics import ARRAY_METRIC_NAMES, METRIC_NAMES, MIN_CODE_DIMS, SAMPLING_METRIC_NAMES
    names = list(names)
    everything = "all" in names
    if everything:
        names = [n for n in names if n != "all"] + [n for n in METRIC_NAMES if n not in names]
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        import difflib
        close = difflib.get_close_matches(unknown[0], list(METRIC_NAMES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown metric {unknown[0]!r}{hint}; choose from {', '.join(METRIC_NAMES)} or all")
    notes = []
    too_few = [n for n in names if code_dims is not None and code_dims < MIN_CODE_DIMS.get(n, 1)]
    if too_few and not everything:
        usable = [n for n in METRIC_NAMES if MIN_CODE_DIMS.get(n, 1) <= code_dims]
        verbs = ("compares", "needs") if len(too_few) == 1 else ("compare", "need")
        raise ConfigError(f"{', '.join(too_few)} {verbs[0]} latents with each other and {verbs[1]} at least "
                          f"{max(MIN_CODE_DIMS[n] for n in too_few)}; this model has {code_dims}: ask for "
                          f"{', '.join(usable)}, or train with --latent-dim 2 or more")
    if too_few:
        notes.append(f"{', '.join(too_few)} skipped: they compare latents with each other and the model has "
                     f"{code_dims}")
        names = [n for n in names if n not in too_few]
    array = [n for n in names if n in ARRAY_METRIC_NAMES]
    sampling = [n for n in names if n in SAMPLING_METRIC_NAMES]
    if sampling and not sampling_available:
        if not everything:
            raise ConfigError(f"{', '.join(sampling)} sample their own observations and need a ground-truth "
                              "generator (dsprites, color-dsprites, noisy-dsprites or an .npz of images + factors)")
        notes.append(f"{', '.join(sampling)} skipped: the data have no ground-truth generator")
        sampling = []
    return array, sampling, notes


def check_metric_request(names: Sequence[str], options: dict[str, dict[str, Any]] | None,
                         code_dims: int | None = None) -> None:
    """Refuse, before anything is computed, a misspelt metric name, options for a metric not asked for, an
    option a metric does not take (``{"mig": {"binz": 5}}``; the CLI's ``--metric-options``) and, when
    ``code_dims`` is given, a named metric that needs more latents than the model has."""
    from ..metrics import check_metric_options
    array, sampling, _ = resolve_metric_names(names, sampling_available=True, code_dims=code_dims)
    bad = sorted(set(options or {}) - set(array) - set(sampling))
    if bad:
        raise ConfigError(f"metric options given for {', '.join(bad)}, which is not being computed")
    check_metric_options(options)


def disentanglement_metrics(codes: np.ndarray, factors: np.ndarray, names: Sequence[str], seed: int = 0,
                            factor_names: Sequence[str] = (), groundtruth: Any = None,
                            encode: Callable[[Any], np.ndarray] | None = None,
                            options: dict[str, dict[str, Any]] | None = None,
                            progress: bool = False) -> DisentanglementResult:
    """Metrics ``names`` of ``(N, L)`` codes against ``(N, F)`` integer factors (and of ``encode`` on
    ``groundtruth`` for the sampling metrics), plus the MI matrix. ``options`` holds per-metric keyword arguments,
    e.g. ``{"factor_vae": {"n_train": 2000}}``; ``progress`` shows a bar for each sampling metric."""
    from ..metrics import compute_metrics, compute_sampling_metrics, discretize, entropy, mutual_info_matrix
    options = dict(options or {})
    code_dims = np.shape(codes)[1] if np.ndim(codes) == 2 else None
    check_metric_request(names, options, code_dims)
    array, sampling, notes = resolve_metric_names(names, groundtruth is not None and encode is not None, code_dims)
    results: dict[str, dict[str, Any]] = {}
    for name in array:  # one at a time: DCI's boosting takes minutes and gets a bar, the others take seconds
        with _bar(name, progress, unit="stage") if name in SLOW_ARRAY_METRICS else nullcontext() as update:
            opts = {**({"progress": update} if update else {}), **options.get(name, {})}
            res = compute_metrics(codes, factors, [name], seed, {name: opts})
        results[name] = res[name].as_dict()
    for name in sampling:
        with _bar(name, progress) as update:
            opts = {**({"progress": update} if update else {}), **options.get(name, {})}  # a caller's own wins
            res = compute_sampling_metrics(groundtruth, encode, [name], seed, {name: opts})
        results[name] = res[name].as_dict()
    f = np.asarray(factors)
    if "mig" in results:
        mi, h = np.asarray(results["mig"]["mi_matrix"], float), np.asarray(results["mig"]["factor_entropy"], float)
    else:
        mi, h = mutual_info_matrix(discretize(np.asarray(codes, float)), f), entropy(f)
    names_f = tuple(factor_names) or tuple(f"factor_{k}" for k in range(f.shape[1]))
    floor, worst = mi_noise_floor(f)
    if floor > NOISE_FLOOR_NOTE:
        floor = min(floor, 1.0)
        notes.append(f"the MI of the heat map{' and of MIG' if 'mig' in results else ''} is estimated from "
                     f"{len(f):,} points: plug-in MI is biased upwards by about (bins−1)(K−1)/(2N) nats, "
                     f"{floor:.2f} of H({names_f[worst]}), so shares below ~{floor:.2f} in mi_matrix.png are noise "
                     "even for a code that ignores the input; score more points (a larger data.n_samples or split) "
                     "for MI that means something")
    return DisentanglementResult(results, mi, h, names_f, tuple(notes))


NOISE_FLOOR_NOTE = 0.1  # above this share of a factor's entropy, the evaluation says the MI matrix is mostly bias


def mi_noise_floor(factors: np.ndarray, bins: int = 20) -> tuple[float, int]:
    """The largest expected plug-in MI of an independent code, as a share of the factor's entropy, over the
    factors, and which factor: (bins−1)(K−1)/(2N) / H(v_k) with K values (Miller 1955; Paninski 2003, eq. 3.1,
    the first-order bias of the plug-in estimate). ``(0.0, 0)`` for one point or constant factors."""
    from ..metrics import entropy
    f = np.asarray(factors)
    n, h = len(f), entropy(f)
    k = np.array([len(np.unique(f[:, j])) for j in range(f.shape[1])])
    share = np.where(h > 0, (bins - 1) * (k - 1) / (2 * max(n, 1)) / np.where(h > 0, h, 1.0), 0.0)
    return (float(share.max()), int(share.argmax())) if len(share) else (0.0, 0)


def evaluate_disentanglement(model: Any, codes: np.ndarray, factors: np.ndarray, source: str, names: Sequence[str],
                             seed: int = 0, factor_names: Sequence[str] = (),
                             options: dict[str, dict[str, Any]] | None = None,
                             progress: bool = False) -> DisentanglementResult:
    """:func:`disentanglement_metrics` for a trained ``model`` on data from ``source``: the sampling metrics use
    ``groundtruth_for(source)`` when it exists and the model's posterior mean as the representation."""
    import torch

    from ..data import groundtruth_for
    from ..errors import DataError
    try:
        gt = groundtruth_for(source)
    except DataError:
        gt = None

    def encode(x: Any) -> np.ndarray:
        with torch.no_grad():
            return model.encode(torch.as_tensor(x)).mean.double().cpu().numpy()
    return disentanglement_metrics(codes, factors, names, seed, factor_names, gt, encode, options, progress)


SLOW_ARRAY_METRICS = ("dci",)  # array metrics that take a progress callback (DCI: ~5 min at 2,000 dSprites points)


def _terminal() -> bool:
    """Whether stderr, where the bars go, is a terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def _bar(name: str, show: bool, unit: str = "image") -> Iterator[Callable[[int, int], None] | None]:
    """A tqdm bar for one slow metric and the ``progress(done, total)`` callback that moves it, or ``None``
    unless ``show``; the bar is closed however the metric ends, and left in place (with its time) off a terminal."""
    bar = tqdm(desc=f"{name} score", unit=unit, unit_scale=True, disable=not show, leave=not _terminal(),
               dynamic_ncols=True, mininterval=0.5, delay=0.5)  # delay: no "0 image" frame before the total

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    try:
        yield None if bar.disable else update
    finally:
        bar.close()
