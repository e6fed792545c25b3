"""What the explorer page asks of a trained model, as plain methods (the HTTP layer only parses and routes).

An :class:`Explorer` holds one model and the inputs a person may start from. At start it encodes up to
``max_stats`` inputs once to order the latents by KL(q(z_d|x) ‖ N(0, 1)) averaged over inputs (closed form,
Kingma & Welling 2014, appendix B), to mark inactive latents (activity Var_x E_q[z_d] ≤ 0.01, Burda et al. 2016,
§5.2) and to set each slider's range (±3 prior standard deviations, widened to cover every posterior mean seen).
All model calls hold one lock: the HTTP server answers from several threads, and a module is not re-entrant.

An input's numbers are those ``shadowplay evaluate`` writes for it: the ELBO (Kingma & Welling 2014, eq. 3, its
reconstruction term averaged over the K draws) and the K-sample importance-weighted bound on log p(x) (Burda et al.
2016, eq. 8) with evaluate's default K = 1000 and seed 0, the noise keyed by the input's row in its split, so test
input i shows row i of ``evaluation/per_sample.csv``. K = 1000 for one input costs ~5 ms on the 8×8 digits' MLP,
0.3–0.8 s for a 28-px and 1–4 s for a 64-px conv net on a busy 2-core CPU. A click should answer within about a
second, so by default (``iw_samples=None``) K is evaluate's 1000 when one input at that K is timed to fit
``CLICK_SECONDS`` here, else the largest of 300, 100, 30, 10, 1 that does; the page says which K it shows and
whether the numbers are evaluate's. ``iw_samples`` fixes K.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..data import Dataset
from ..errors import ShadowplayError
from ..evaluation import PATHS, per_sample_likelihoods, posterior_moments, summarize_latents
from ..evaluation.likelihood import IW_CHOICES, check_iw_samples
from ..evaluation.traversal import lerp, slerp
from ..model import LatentVariableModel
from .pictures import example_png, is_image_shape

PRIOR_RANGE = 3.0  # slider half-width in prior standard deviations
MAX_ABS_CODE = 50.0  # a code value beyond this is a malformed request, not an exploration
MAX_REFERENCE = 250  # the first inputs of the stats split whose scores a percentile is taken among
EVALUATE_IW_SAMPLES = 1000  # `shadowplay evaluate`'s default K, so the page's log p(x) is the one evaluate writes
EVALUATE_SEED = 0  # `shadowplay evaluate`'s default seed of the importance-sampling noise
CLICK_SECONDS = 1.0  # the time an input's likelihood may take when K is chosen automatically
PROBE_K = 100  # draws of the one-input timing that K is chosen from (cost is linear in K)


def _seconds(model: LatentVariableModel, x: torch.Tensor, k: int) -> float:
    t0 = time.perf_counter()
    per_sample_likelihoods(model, x, k)
    return max(time.perf_counter() - t0, 1e-9)


def click_iw_samples(model: LatentVariableModel, x: torch.Tensor, seconds: float = CLICK_SECONDS) -> int:
    """The largest K of ``IW_CHOICES`` (1000 first) whose importance-weighted likelihood of one input ``x``
    ``(1, *shape)`` takes at most ``seconds`` here. A pass at K = 100 is timed first; a larger K is timed itself
    unless that pass puts it beyond 3× the budget (draws in one batch cost less each than at K = 100, so a linear
    extrapolation picked K = 300 for a 28-px conv net that answers K = 1000 in 0.7 s)."""
    per_sample_likelihoods(model, x, 2)  # warm-up: first calls allocate
    per_draw = _seconds(model, x, PROBE_K) / PROBE_K
    for k in IW_CHOICES:
        if k * per_draw > 3 * seconds:
            continue  # clearly too slow: not worth timing
        if (k * per_draw if k <= PROBE_K else _seconds(model, x, k)) <= seconds:
            return k
    return min(IW_CHOICES)


@dataclass(frozen=True)
class OutlierCheck:
    """A fitted outlier detector as the page shows it: ``score(x (1, *shape)) -> float`` (higher = more abnormal),
    the ``threshold`` above which an input is flagged (the detector's ``threshold_``: the (1 − contamination)
    quantile of its training scores), the score's name, the contamination and where the detector came from."""

    score: Callable[[torch.Tensor], float]
    threshold: float
    score_name: str
    contamination: float
    source: str

    def describe(self) -> dict[str, Any]:
        return {"score_name": self.score_name, "threshold": self.threshold, "contamination": self.contamination,
                "source": self.source}


class Explorer:
    """A trained model, the data to start from and the latent statistics the page shows.

    Args:
        model: the trained model (evaluated on its own device).
        datasets: split name → :class:`~shadowplay.data.Dataset` with inputs ``(N, *shape)``; empty splits are left out.
        name: the run's name shown on the page.
        evaluation: the run's ``evaluation.json`` document when it exists (its ``mi_matrix`` is the latent × factor
            heat map of ``shadowplay evaluate --metrics``).
        outliers: an optional :class:`OutlierCheck`; every input and upload then shows its score, the threshold and
            whether the input is flagged.
        outlier_hint: what the page says when there is no detector (e.g. the command that fits one).
        iw_samples: importance samples K for the ELBO and log p(x) of a single input; ``None`` (the default):
            evaluate's 1000 when that fits ``click_seconds`` per input here, else fewer (:func:`click_iw_samples`).
        click_seconds: the per-input time budget of the automatic K.
        seed: seed of the importance-sampling noise (default evaluate's 0).
        max_stats: how many inputs (of the first split in ``stats_splits`` that has any) set the KL order,
            slider ranges and the reference distribution of the ELBO.
    """

    def __init__(self, model: LatentVariableModel, datasets: dict[str, Dataset], *, name: str = "run",
                 evaluation: dict[str, Any] | None = None, outliers: OutlierCheck | None = None,
                 outlier_hint: str | None = None, iw_samples: int | None = None, seed: int = EVALUATE_SEED,
                 max_stats: int = 2000, stats_splits: tuple[str, ...] = ("test", "train"),
                 click_seconds: float = CLICK_SECONDS):
        check_iw_samples(iw_samples)
        self.model = model.eval()
        self.datasets = {k: v for k, v in datasets.items() if len(v)}
        if not self.datasets:
            raise ShadowplayError("the explorer needs at least one non-empty split of data to start from")
        self.name, self.evaluation, self.outliers, self.outlier_hint = name, evaluation, outliers, outlier_hint
        self.seed, self.auto_k, self.click_seconds = int(seed), iw_samples is None, float(click_seconds)
        self.lock = threading.Lock()
        self.shape = tuple(model.data_shape)
        split = next((s for s in stats_splits if s in self.datasets), next(iter(self.datasets)))
        x = self.datasets[split].x[:max_stats]
        moments = posterior_moments(model, x)
        self.diagnostics = summarize_latents(moments) if len(x) >= 2 else None
        self.kl = None if moments.kl is None else moments.kl.mean(0)
        self.activity = moments.mean.var(0, ddof=1) if len(x) >= 2 else np.zeros(model.latent_dim)
        self.order = np.argsort(-(self.kl if self.kl is not None else self.activity), kind="stable")
        self.active = self.activity > 0.01
        self.low = np.floor(np.minimum(-PRIOR_RANGE, moments.mean.min(0)) * 10) / 10
        self.high = np.ceil(np.maximum(PRIOR_RANGE, moments.mean.max(0)) * 10) / 10
        lo, hi = float(x.min()), float(x.max())
        pad = 0.1 * (hi - lo) or 1.0
        self.value_range = (lo - pad, hi + pad) if not is_image_shape(self.shape) else (0.0, 1.0)
        # the reference ELBOs use fewer draws than a single input does: both average to the same ELBO, and 250 × 8
        # decoder passes keep the start quick even for a 64-px conv net
        self.iw_samples = click_iw_samples(model, x[:1], click_seconds) if self.auto_k else int(iw_samples)
        ref = per_sample_likelihoods(model, x[:MAX_REFERENCE], min(8, self.iw_samples))
        self.score_name = "elbo" if ref.elbo is not None else "recon_ll"
        self.reference = np.sort(ref.elbo if ref.elbo is not None else ref.recon_ll)
        self.stats_split = split

    # ------------------------------------------------------------------ page facts
    def info(self) -> dict[str, Any]:
        """Everything the page needs to lay itself out (JSON-ready)."""
        mi = (self.evaluation or {}).get("mi_matrix")
        return {"name": self.name, "latent_dim": self.model.latent_dim, "shape": list(self.shape),
                "is_image": is_image_shape(self.shape), "order": self.order.tolist(),
                "kl": None if self.kl is None else self.kl.tolist(), "activity": self.activity.tolist(),
                "active": self.active.tolist(), "low": self.low.tolist(), "high": self.high.tolist(),
                "splits": {k: len(v) for k, v in self.datasets.items()}, "stats_split": self.stats_split,
                "score_name": self.score_name, "reference_size": len(self.reference), "has_factors": any(d.factors is not None for d in self.datasets.values()),
                "mi_matrix": mi, "has_outlier_score": self.outliers is not None,
                "outlier_detector": None if self.outliers is None else self.outliers.describe(),
                "outlier_hint": None if self.outliers is not None else self.outlier_hint,
                "estimator": self.estimator(),
                "warnings": [] if self.diagnostics is None else list(self.diagnostics.warnings)}

    def estimator(self) -> dict[str, Any]:
        """How an input's likelihood numbers are computed, and whether they are the ones ``evaluate`` writes."""
        same = self.iw_samples == EVALUATE_IW_SAMPLES and self.seed == EVALUATE_SEED
        return {"elbo": f"ELBO, reconstruction term averaged over K = {self.iw_samples} draws",
                "log_px": f"importance-weighted bound log p(x) >= IWAE_K with K = {self.iw_samples} draws",
                "iw_samples": self.iw_samples, "seed": self.seed, "same_as_evaluate": same, "auto": self.auto_k,
                "click_seconds": self.click_seconds,
                "iw_samples_choice": (f"auto: K = {EVALUATE_IW_SAMPLES} or the largest K whose one-input likelihood "
                                      f"was timed to fit {self.click_seconds:g} s here; --iw-samples sets K"
                                      if self.auto_k else "given (--iw-samples)"),
                "evaluate_command": f"shadowplay evaluate RUN --iw-samples {self.iw_samples}"
                                    + ("" if self.seed == EVALUATE_SEED else f" --seed {self.seed}")}

    # ------------------------------------------------------------------ checked arguments
    def dataset(self, split: str) -> Dataset:
        if split not in self.datasets:
            raise ShadowplayError(f"unknown split {split!r}; choose one of {', '.join(self.datasets)}")
        return self.datasets[split]

    def index(self, split: str, index: int) -> int:
        n = len(self.dataset(split))
        if not 0 <= index < n:
            raise ShadowplayError(f"index {index} is out of range: the {split} split has {n} inputs (0..{n - 1})")
        return index

    def check_code(self, z: list[float]) -> torch.Tensor:
        """``(1, L)`` tensor of a code sent by the page, refused unless it has L finite, bounded values."""
        arr = np.asarray(z, dtype=np.float64)
        if arr.shape != (self.model.latent_dim,):
            raise ShadowplayError(f"a code has {self.model.latent_dim} values, got {arr.size}")
        if not np.all(np.isfinite(arr)) or np.abs(arr).max(initial=0) > MAX_ABS_CODE:
            raise ShadowplayError(f"code values must be finite and within ±{MAX_ABS_CODE:g}")
        return torch.as_tensor(arr, dtype=torch.float32)[None]

    # ------------------------------------------------------------------ model calls
    def decode_png(self, z: list[float]) -> bytes:
        """PNG of the decoder mean at code ``z`` ``(L,)``."""
        code = self.check_code(z)
        with self.lock, torch.inference_mode():
            x = self.model.decode(code).mean[0]
        return example_png(x, self.value_range)

    def input_png(self, split: str, index: int) -> bytes:
        return example_png(self.dataset(split).x[self.index(split, index)], self.value_range)

    def _scores(self, x: torch.Tensor, index: torch.Tensor | None = None) -> dict[str, Any]:
        """Code, likelihood numbers and the percentile of the score among the reference inputs for ``x`` ``(1, *)``."""
        with self.lock, torch.inference_mode():
            code = self.model.encode(x).mean[0].double().cpu().numpy()
            lik = per_sample_likelihoods(self.model, x, self.iw_samples, seed=self.seed, index=index)
            outlier = None if self.outliers is None else float(self.outliers.score(x))
        cols = {k: float(v[0]) for k, v in lik.columns().items()}
        score = cols["elbo" if lik.elbo is not None else "recon_ll"]
        pct = 100.0 * np.searchsorted(self.reference, score, side="right") / len(self.reference)
        check = None if self.outliers is None else {  # flagged as the detector's predict does: score > threshold
            "score": outlier, "threshold": self.outliers.threshold, "flagged": bool(outlier > self.outliers.threshold),
            "score_name": self.outliers.score_name}
        return {"code": code.tolist(), "likelihood": cols, "iw_samples": self.iw_samples, "seed": self.seed,
                "note": lik.note, "score_percentile": pct, "outlier_score": outlier, "outlier": check}

    def input_doc(self, split: str, index: int) -> dict[str, Any]:
        """The code and numbers of input ``index`` of ``split`` (its noise index is its row, as in evaluate)."""
        data, i = self.dataset(split), self.index(split, index)
        doc = self._scores(data.x[i:i + 1], torch.tensor([i]))
        doc.update(split=split, index=i, label=None if data.labels is None else int(data.labels[i]))
        return doc

    def interpolate(self, a: tuple[str, int], b: tuple[str, int], t: float, path: str) -> list[float]:
        """The code a fraction ``t`` of the way from input ``a``'s posterior mean to ``b``'s along ``path``
        (``linear`` or ``slerp``, :mod:`shadowplay.evaluation.traversal`)."""
        if path not in PATHS:
            raise ShadowplayError(f"unknown path {path!r}; choose {' or '.join(PATHS)}")
        if not 0.0 <= t <= 1.0:
            raise ShadowplayError(f"t must lie in [0, 1], got {t}")
        xa = self.dataset(a[0]).x[self.index(*a)]
        xb = self.dataset(b[0]).x[self.index(*b)]
        with self.lock, torch.inference_mode():
            codes = self.model.encode(torch.stack([xa, xb])).mean.float().cpu()
        step = slerp if path == "slerp" else lerp
        return step(codes[0], codes[1], torch.tensor([float(t)]))[0].double().tolist()

    def upload_doc(self, x: torch.Tensor) -> dict[str, Any]:
        """Numbers and pictures (base64 PNG) of an uploaded input ``x`` ``(1, *shape)`` and its reconstruction."""
        doc = self._scores(x)
        with self.lock, torch.inference_mode():
            recon = self.model.reconstruct(x)[0]
        b64 = lambda png: "data:image/png;base64," + base64.b64encode(png).decode("ascii")  # noqa: E731
        doc.update(input_png=b64(example_png(x[0], self.value_range)),
                   reconstruction_png=b64(example_png(recon, self.value_range)))
        return doc
