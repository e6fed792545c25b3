"""``VAEOutlierDetector``: a latent-variable model as an outlier detector with scikit-learn's and PyOD's interface.

>>> from shadowplay.outliers import VAEOutlierDetector
>>> det = VAEOutlierDetector(model="vae", outlier_score="iwae", contamination=0.05).fit(X_train)  # doctest: +SKIP
>>> det.decision_function(X_new)   # (N,) higher = more abnormal (PyOD's convention)               # doctest: +SKIP
>>> det.score_samples(X_new)       # (N,) higher = more normal (scikit-learn's convention)         # doctest: +SKIP
>>> det.predict(X_new)             # (N,) 1 = outlier, 0 = inlier (PyOD's convention)              # doctest: +SKIP
>>> det.score(X_val)               # mean ELBO in nats, higher = better fit (GridSearchCV's default) # doctest: +SKIP

Conventions: PyOD's ``decision_function``/``predict``/``threshold_``/``decision_scores_``/``labels_``
(Zhao, Nasrullah & Li 2019, JMLR 20(96)); scikit-learn's ``score_samples`` sign, ``get_params``/``set_params``,
``clone``, ``fit`` returning ``self`` (the parameter plumbing, training and saving are
:class:`shadowplay.sklearn.LatentEstimator`'s). Note that ``predict`` returns 1/0 as PyOD does, not scikit-learn's
−1/+1 of ``IsolationForest``, and that ``score(X)`` is the model's mean ELBO (as ``GaussianMixture.score``: how well
the model fits ``X``, what ``GridSearchCV`` selects by when given no ``scoring``), not the mean of
``score_samples``, which is the chosen ``outlier_score`` negated.

Inputs: a 2-D array ``(N, D)`` (tabular: standardized with statistics stored with the model, then an MLP with a
Gaussian or Laplace likelihood), or images ``(N, H, W)`` / ``(N, C, H, W)`` in [0, 1] (a conv net for square 28,
32 and 64 px, else an MLP; Bernoulli likelihood by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..sklearn import LatentEstimator
from .detector_state import DetectorStateMixin
from .latent import KNN
from .registry import SCORES, compute_scores


class VAEOutlierDetector(DetectorStateMixin, LatentEstimator):
    """Unsupervised outlier detection with a VAE (or any shadowplay preset) trained on normal data.

    Parameters:
        model: preset (``vae``, ``beta_vae``, ``ae``, ...; ``shadowplay presets``).
        outlier_score: one of :data:`shadowplay.outliers.SCORE_NAMES` (see :mod:`shadowplay.outliers.registry`);
            the default ``combined`` joins the reconstruction error and the latent k-NN distance (Fisher's method),
            the score that leads in ``benchmarks/outliers.py``; ``iwae`` is the model's likelihood itself. (Not
            ``score``: that name is scikit-learn's ``score(X)`` method, which ``Pipeline.score`` and
            ``GridSearchCV`` call; it is the CLI's ``--score`` and the ``api`` functions' ``score=``.)
        contamination: expected outlier fraction in the training data, in (0, 0.5]; ``threshold_`` is the
            (1 − contamination) quantile of the training scores, as in PyOD; the latent scores of the training
            inputs are computed leave-one-out (without their own code), so that about ``contamination`` of new
            normal inputs are flagged.
        latent_dim, beta, likelihood, net, hidden, input_shape, epochs, batch_size, lr, val_fraction, seed, device,
            runs_dir, overrides, progress: the training parameters of :class:`shadowplay.sklearn.LatentEstimator`.
            ``epochs=None`` (the default) is ``train``'s automatic budget (``shadowplay.config.auto_epochs``: 30
            epochs, or enough for 1,000 optimizer steps on small data): one normal class is often small (161 zeros
            in ``digits``), and a fixed 30 epochs of 2 steps each left every latent at the prior.
        standardize: ``"auto"`` standardizes tabular (2-D) inputs with the training mean and standard deviation
            (stored with the model, applied to every later input); ``False`` leaves them as they are.
        iw_samples: importance samples K for the likelihood-based scores (Burda et al. 2016).
        score_seed: seed of the scores' noise (a score is a pure function of model, input and this seed).
        background_rate: mutation rate μ of the likelihood-ratio background model's training inputs (Ren et al.).
        latent_components: training inputs M in the aggregate posterior of ``latent_density``.
        typicality_batch: batch size M of the typicality statistic (1 = per input).

    Fitted attributes: ``threshold_``, ``decision_scores_`` ``(N_train,)``, ``labels_`` ``(N_train,)``,
    ``model_``, ``n_features_in_``, ``input_shape_``, ``standardize_`` and the references the score needs
    (``aggregate_posterior_``, ``background_``, ``typicality_``, ``combined_``).
    """

    _renamed_params = {"score": "outlier_score"}  # estimator files saved before the rename say "score"

    def __init__(self, *, model: str = "vae", outlier_score: str = "combined", contamination: float = 0.1,
                 latent_dim: int = 16, beta: float | None = None, likelihood: str = "auto", net: str = "auto",
                 hidden: tuple[int, ...] = (512, 256), input_shape: tuple[int, ...] | None = None,
                 epochs: int | None = None, batch_size: int = 128, lr: float | None = None, val_fraction: float = 0.1,
                 seed: int = 0, device: str = "auto", runs_dir: str | Path | None = None,
                 overrides: dict[str, Any] | None = None,
                 progress: bool = False, standardize: str | bool = "auto", iw_samples: int = 16,
                 score_seed: int = 0, background_rate: float = 0.2, latent_components: int = 2000,
                 typicality_batch: int = 1):
        super().__init__(latent_dim, model=model, beta=beta, likelihood=likelihood, net=net, hidden=hidden,
                         input_shape=input_shape, epochs=epochs, batch_size=batch_size, lr=lr,
                         val_fraction=val_fraction, seed=seed, device=device, runs_dir=runs_dir,
                         overrides=overrides, progress=progress)
        self.outlier_score, self.contamination, self.standardize = outlier_score, contamination, standardize
        self.iw_samples, self.score_seed, self.background_rate = iw_samples, score_seed, background_rate
        self.latent_components, self.typicality_batch = latent_components, typicality_batch

    # ---------------------------------------------------------------- parameter checks (at fit, as sklearn wants)
    def _check_params(self) -> None:
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 0.5:
            raise ConfigError(f"contamination must be a fraction in (0, 0.5], got {c!r}: the share of outliers "
                              "expected among the training inputs (PyOD's default is 0.1)")
        if self.outlier_score not in SCORES:
            raise ConfigError(f"unknown outlier_score {self.outlier_score!r}; choose one of {', '.join(SCORES)}")
        if int(self.iw_samples) != self.iw_samples or self.iw_samples < 1:
            raise ConfigError(f"iw_samples must be an integer >= 1, got {self.iw_samples}")
        if self.standardize not in ("auto", True, False):
            raise ConfigError(f"standardize must be 'auto', True or False, got {self.standardize!r}")

    # ---------------------------------------------------------------- input layout
    def _flatten(self, X: Any, fitting: bool) -> Any:
        """Images ``(N, H, W)``/``(N, C, H, W)`` → rows ``(N, C·H·W)``, checking the image shape after fit."""
        if not hasattr(X, "ndim") or X.ndim <= 2:
            if fitting:
                self._image_shape = None
            return X
        arr = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X)
        if arr.ndim not in (3, 4):
            raise DataError(f"X must be rows (N, D) or images (N, H, W) / (N, C, H, W); got shape {arr.shape}")
        shape = (1, *arr.shape[1:]) if arr.ndim == 3 else tuple(arr.shape[1:])
        if fitting:
            self._image_shape = shape
        elif hasattr(self, "input_shape_") and tuple(self.input_shape_) != shape:
            raise DataError(f"this detector's model takes images of shape {tuple(self.input_shape_)} "
                            f"(channels, height, width), got {shape}; resize the images to "
                            f"{self.input_shape_[-2]}x{self.input_shape_[-1]} or fit a detector on this size")
        return arr.reshape(len(arr), -1)

    def _shape(self, n_features: int) -> tuple[int, ...]:
        if self.input_shape is None and getattr(self, "_image_shape", None) is not None:
            return self._image_shape
        return super()._shape(n_features)

    def _rows(self, X: Any) -> np.ndarray:
        self._check_is_fitted()
        return self._validate(self._flatten(X, fitting=False), reset=False)

    def _inputs(self, X: Any) -> torch.Tensor:
        """Validated model inputs ``(N, *input_shape_)`` (standardized when the model was)."""
        return self._as_model_input(self._rows(X))

    def _elbo_draws_and_seed(self) -> tuple[int, int]:
        return int(self.iw_samples), int(self.score_seed)

    # ---------------------------------------------------------------- fit / score
    def fit(self, X: Any, y: Any = None) -> "VAEOutlierDetector":
        """Train on normal data ``X`` (``y`` is ignored), fit the score's reference and ``threshold_``."""
        self._check_params()
        rows = self._flatten(X, fitting=True)
        self._check_enough(len(rows))  # before training, not after
        self.standardize_ = stats = None  # a refit must not standardize with the previous fit's statistics
        if self.standardize is True or (self.standardize == "auto" and self._image_shape is None
                                        and self.input_shape is None):
            raw = self._validate(rows, reset=True)
            mean, std = raw.astype(np.float64).mean(0), raw.astype(np.float64).std(0)
            std[std == 0] = 1.0
            stats = {"mean": mean.tolist(), "std": std.tolist()}
            rows = ((raw - mean) / std).astype(np.float32)
        self._fit_run(rows)
        if stats is not None:
            self.standardize_ = stats  # from now on every input is standardized with the training statistics
        x = self._as_model_input(self._validate(self._flatten(X, fitting=False), reset=False))
        self._fit_scoring(x)
        return self

    def _fit_scoring(self, x: torch.Tensor, save: bool = True) -> None:
        """Fit the references ``self.outlier_score`` needs on normal model inputs ``x`` and set the threshold; ``save``
        writes them into the run folder (when there is one).

        The training scores behind ``threshold_`` are computed leave-one-out for the latent scores: an input whose
        own code is in the aggregate posterior would otherwise find itself at distance 0 (``latent_knn``,
        ``combined``) or under its own mixture component (``latent_density``), score lower than any new normal
        input, and put the threshold so low that far more than ``contamination`` of new normal inputs are flagged."""
        self._check_params()
        self._check_enough(len(x))
        self._fit_references(x)
        codes = self.aggregate_posterior_
        self.decision_scores_ = compute_scores(self, x, None if codes is None else codes.self_index(len(x)))
        self.threshold_ = float(np.percentile(self.decision_scores_, 100 * (1 - self.contamination)))
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        self.fitted_score_ = self.outlier_score
        if save and getattr(self, "run_dir_", None) is not None:
            self.save(self.run_dir_)

    def _check_enough(self, n: int) -> None:
        """The latent scores compare an input with its ``KNN`` nearest other training codes: refuse fewer inputs
        than that needs, naming the score, before any reference is fitted."""
        need = {"latent_knn": KNN + 1, "combined": KNN + 1, "latent_density": 2}.get(self.outlier_score, 1)
        if need > 1 and int(self.latent_components) < need:
            raise ConfigError(f"latent_components must be at least {need} for the {self.outlier_score!r} score, got "
                              f"{self.latent_components}")
        if n < need:
            raise DataError(f"the {self.outlier_score!r} score compares each input with "
                            + (f"its {KNN} nearest training codes" if need > 2 else "the other training codes")
                            + f", so it needs at least {need} normal inputs to fit; got n_samples = {n}")

    def calibrate(self, X: Any) -> "VAEOutlierDetector":
        """Keep the trained model, refit the current ``outlier_score``'s reference and ``threshold_`` on normal
        inputs ``X`` (after ``set_params(outlier_score=...)`` or ``set_params(contamination=...)``) and save them
        into the run folder when the detector has one. Returns ``self``."""
        self._fit_scoring(self._inputs(X))
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Outlier score of every input ``(N,)`` float64: higher = more abnormal (PyOD)."""
        return compute_scores(self, self._inputs(X))

    def score_samples(self, X: Any) -> np.ndarray:
        """Normality of every input ``(N,)``: the negated :meth:`decision_function`, higher = more normal
        (scikit-learn's convention, as in ``IsolationForest.score_samples``)."""
        return -self.decision_function(X)

    def predict(self, X: Any) -> np.ndarray:
        """1 for inputs whose score exceeds ``threshold_`` (outliers), 0 otherwise (PyOD's convention)."""
        return (self.decision_function(X) > self.threshold_).astype(int)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X).labels_``: 1 for the training inputs above the threshold."""
        return self.fit(X).labels_
