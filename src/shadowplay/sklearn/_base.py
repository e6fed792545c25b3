"""The scikit-learn plumbing every shadowplay estimator shares (``VAEEmbedding``, ``VAEOutlierDetector``).

:class:`LatentEstimator` turns constructor parameters into a run config, trains a run from arrays through the
library's one trainer (``workflow.train_run``), keeps the trained model in memory, checks every later input
(fitted or not, feature count, NaN rows named), and saves to / loads from a run folder (safetensors + JSON; nothing
is ever pickled to disk). Subclasses add the task: ``transform`` for features, ``score_samples`` for outliers.

Conventions of scikit-learn that this follows (https://scikit-learn.org/stable/developers/develop.html):
``__init__`` only stores its arguments, so ``get_params``/``set_params``/``clone`` work; everything learned ends in
``_``; ``fit`` returns ``self``; parameters are validated in ``fit``.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SkNotFittedError
from sklearn.utils.validation import check_array, validate_data

from ..config import RunConfig, set_keys
from ..data import Dataset
from ..data.base import split_dataset
from ..errors import CheckpointError, DataError, ShadowplayError
from ..evaluation import per_sample_likelihoods
from ..model import LatentVariableModel, check_value_range
from ..run import RunFolder, create_run, open_run, start_meta, write_checkpoint
from ..run.folder import ESTIMATOR_FILE  # estimator.json: class, get_params(), feature names, shapes
from ..training import resolve_device
from ..workflow import ARRAY_SOURCE, load_model, train_run

_ROWS = 4096                        # encoder/decoder rows per pass: bounds memory, not the result


class NotFittedError(ShadowplayError, _SkNotFittedError):
    """``transform``/``score`` before ``fit``; both a shadowplay error and scikit-learn's ``NotFittedError``."""


def _refuse_1d(X: Any, what: str, columns: str) -> None:
    """One line instead of scikit-learn's message, which prints the whole 1-D array (784 values for one image)."""
    ndim = X.ndim if hasattr(X, "ndim") else np.ndim(X) if isinstance(X, (list, tuple)) else None
    if ndim == 1:  # "Reshape your data" is the phrase scikit-learn's conformance checks look for
        raise DataError(f"{what} is 1-D, shape ({len(X)},); give a 2-D array (n_samples, {columns}). "
                        "Reshape your data: .reshape(1, -1) for one sample")


def _named_rows(bad: np.ndarray, limit: int = 10) -> str:
    rows = np.flatnonzero(bad)
    shown = ", ".join(map(str, rows[:limit])) + (", ..." if len(rows) > limit else "")
    return f"{len(rows)} row(s) ({shown})"


class LatentEstimator(BaseEstimator):
    """Base of shadowplay's scikit-learn estimators: a latent-variable model trained from a 2-D array ``(N, D)``.

    Parameters (shared by every subclass; a subclass repeats them in its own ``__init__`` so that scikit-learn's
    ``get_params`` sees them):
        latent_dim: number of latents L (``VAEEmbedding`` calls it ``n_components``; see ``_latent_param``).
        model: preset name: ``ae``, ``vae``, ``beta_vae``, ``beta_tcvae``, ... (``shadowplay presets``).
        beta: KL weight for the presets that have one; ``None`` = the preset's default.
        likelihood: ``auto`` (Bernoulli for data in [0, 1], else Gaussian), ``bernoulli``, ``gaussian``, ``laplace``.
        net: ``auto``, ``mlp`` or ``conv`` (conv needs ``input_shape`` of a square 28/32/64-px image).
        hidden: MLP widths.
        input_shape: shape of one row as the model sees it, e.g. ``(1, 28, 28)`` for flattened images; ``None`` =
            rows stay vectors ``(D,)``.
        epochs, batch_size, lr, seed, device: as in ``shadowplay train`` (``lr=None``: the preset's default;
            ``epochs=None``: ``train``'s automatic budget, :func:`shadowplay.config.auto_epochs`: 30 epochs, or
            enough for 1,000 optimizer steps on small data, where a fixed 30 epochs of a few steps each leaves every
            latent at the prior).
        val_fraction: part of the rows held out to pick the best checkpoint (0 = keep the last).
        runs_dir: parent folder to keep each fitted run in (resumable, inspectable with the CLI); ``None`` = train
            in a temporary folder and keep only the model in memory.
        overrides: any other config keys, ``{"trainer.weight_decay": 1e-5}``; applied last.
        progress: show the training progress bar.
    """

    _latent_param = "latent_dim"
    # how a posterior-collapse warning names settings: as this estimator's keywords; `outliers fit` sets "cli"
    _advice_phrasing = "estimator"
    # estimator-file parameter names of earlier versions → today's names, so that saved runs keep loading
    _renamed_params: dict[str, str] = {}

    def __init__(self, latent_dim: int = 10, *, model: str = "vae", beta: float | None = None,
                 likelihood: str = "auto", net: str = "auto", hidden: tuple[int, ...] = (512, 256),
                 input_shape: tuple[int, ...] | None = None, epochs: int | None = None, batch_size: int = 128,
                 lr: float | None = None, val_fraction: float = 0.1, seed: int = 0, device: str = "auto",
                 runs_dir: str | Path | None = None, overrides: dict[str, Any] | None = None, progress: bool = False):
        setattr(self, self._latent_param, latent_dim)  # PCA-like subclasses call it n_components
        self.model, self.beta, self.likelihood, self.net, self.hidden = model, beta, likelihood, net, hidden
        self.input_shape, self.epochs, self.batch_size, self.lr = input_shape, epochs, batch_size, lr
        self.val_fraction, self.seed, self.device, self.runs_dir = val_fraction, seed, device, runs_dir
        self.overrides, self.progress = overrides, progress

    # ---------------------------------------------------------------- scikit-learn tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    # ---------------------------------------------------------------- checks
    def _check_is_fitted(self) -> None:
        if getattr(self, "model_", None) is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first or load one "
                                 f"with {type(self).__name__}.from_run(path)")

    def _validate(self, X: Any, *, reset: bool, what: str = "X") -> np.ndarray:
        """``X`` as a finite float32 array ``(N, D)``; at fit (``reset``) records ``n_features_in_`` and feature
        names, afterwards checks them. Rows holding NaN or Inf are named in the error."""
        return self._validate_with_dtype(X, reset=reset, what=what)[0]

    def _validate_with_dtype(self, X: Any, *, reset: bool, what: str = "X") -> tuple[np.ndarray, np.dtype]:
        """:meth:`_validate`, and the dtype scikit-learn's ``check_array`` gives ``X`` (float32 for float32 arrays
        and all-float32 DataFrames, else float64): the dtype of what a transformer returns, as PCA does."""
        if not reset:
            self._check_is_fitted()
        _refuse_1d(X, what, "n_features")
        arr = check_array(X, dtype=(np.float64, np.float32), ensure_all_finite=False, input_name=what)
        dtype = arr.dtype  # before standardization, which computes in float64
        if not reset and arr.shape[1] != self.n_features_in_:
            raise DataError(f"{what} has {arr.shape[1]} features, but {type(self).__name__} is expecting "
                            f"{self.n_features_in_} features as input (the number it was fitted on)")
        validate_data(self, X, reset=reset, skip_check_array=True)  # feature names (DataFrames), n_features_in_
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise DataError(f"{what} has NaN or infinite values in {_named_rows(bad)}; drop or impute them first "
                            "(e.g. sklearn.impute.SimpleImputer)")
        if not reset and self.model_.spec.likelihood == "bernoulli":
            outside = ((arr < 0) | (arr > 1)).any(axis=1)
            if outside.any():  # the encoder never saw such values: its codes and the likelihood would be meaningless
                raise DataError(f"{what} has values outside [0, 1] in {_named_rows(outside)} (min {arr.min():g}, "
                                f"max {arr.max():g}), but this model has a Bernoulli likelihood fitted on data in "
                                f"[0, 1]; scale {what} as at fit (e.g. 8-bit images / 255)")
        stats = getattr(self, "standardize_", None)
        if stats is not None:  # a run trained on CSV data saw standardized columns
            arr = (arr - np.asarray(stats["mean"])) / np.asarray(stats["std"])
        return np.ascontiguousarray(arr, dtype=np.float32), dtype

    def _latent_dim(self) -> int:
        return getattr(self, self._latent_param)

    def _shape(self, n_features: int) -> tuple[int, ...]:
        if self.input_shape is None:
            return (n_features,)
        shape = tuple(int(s) for s in self.input_shape)
        if math.prod(shape) != n_features:
            raise DataError(f"input_shape={shape} holds {math.prod(shape)} values but X has {n_features} features")
        return shape

    # ---------------------------------------------------------------- fitting
    def _run_config(self) -> RunConfig:
        """The run config these parameters describe (``ConfigError`` names a bad value)."""
        keys = {"data.source": ARRAY_SOURCE, "data.val_fraction": self.val_fraction, "data.test_fraction": 0.0,
                "model.preset": self.model, "model.latent_dim": self._latent_dim(), "model.net": self.net,
                "model.hidden": tuple(self.hidden), "model.likelihood": self.likelihood,
                "objective.beta": self.beta, "trainer.epochs": self.epochs, "trainer.batch_size": self.batch_size,
                "trainer.lr": self.lr, "trainer.seed": self.seed, "trainer.device": self.device,
                "trainer.progress": self.progress}
        cfg = set_keys(RunConfig(), keys)
        return set_keys(cfg, dict(self.overrides)) if self.overrides else cfg

    def _fit_run(self, X: Any) -> np.ndarray:
        """Validate ``X`` ``(N, D)``, train a run on it and keep the best model as ``model_``; returns the
        validated float32 array (for subclasses that compute training statistics)."""
        self.standardize_ = None
        arr = self._validate(X, reset=True)
        if len(arr) < 2:
            raise DataError(f"{type(self).__name__} needs at least 2 samples to fit, got n_samples = {len(arr)}")
        cfg = self._run_config()
        shape = self._shape(arr.shape[1])
        x = torch.from_numpy(arr).reshape(len(arr), *shape)
        unit = bool(arr.min() >= 0 and arr.max() <= 1)
        check_value_range(self.likelihood, "unit" if unit else "real", what="the values of X",
                          fix='Use likelihood="gaussian" (or "laplace"), or scale X into [0, 1]')
        splits = split_dataset(Dataset(name="X", x=x, value_range="unit" if unit else "real"), cfg.data.val_fraction,
                               0.0, cfg.trainer.seed)
        # unique within a grid search that fits many clones in the same second
        name = f"{cfg.model.preset}-{type(self).__name__.lower()}-{time.strftime('%Y%m%d-%H%M%S')}-" \
               f"{uuid.uuid4().hex[:6]}"
        device = resolve_device(cfg.trainer.device)
        if self.runs_dir is None:
            with tempfile.TemporaryDirectory(prefix="shadowplay-") as tmp:
                run = train_run(cfg, splits=splits, runs_dir=tmp, name=name, progress=self.progress,
                                pictures=False, phrasing=self._advice_phrasing)
                self.model_ = load_model(run, "best", str(device))
            self.run_dir_ = None
        else:
            run = train_run(cfg, splits=splits, runs_dir=self.runs_dir, name=name, progress=self.progress,
                            phrasing=self._advice_phrasing)
            self.model_ = load_model(run, "best", str(device))
            self.run_dir_ = run.path
        self.config_, self.input_shape_ = run.config, shape  # resolved: epochs=None is the number trained for
        self.val_metrics_ = dict(run.result.val_metrics)
        self.n_steps_, self.n_epochs_ = run.result.step, run.result.epoch
        if self.run_dir_ is not None:
            self._write_estimator_file(self.run_dir_)
        return arr

    # ---------------------------------------------------------------- model passes
    def _as_model_input(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(arr).reshape(len(arr), *self.input_shape_)

    @torch.no_grad()
    def _encode(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and standard deviations, each ``(N, L)`` float64 (zeros for an autoencoder)."""
        means, stds = [], []
        for chunk in self._as_model_input(arr).split(_ROWS):
            q = self.model_.encode(chunk)
            means.append(q.mean.double().cpu().numpy())
            stds.append(q.stddev.double().cpu().numpy())
        return np.concatenate(means), np.concatenate(stds)

    @torch.no_grad()
    def _decode(self, codes: np.ndarray) -> np.ndarray:
        """Decoder means ``(N, D)`` float64 for codes ``(N, L)``, back on the scale of the input columns."""
        out = [self.model_.decode(c).mean.reshape(len(c), -1).double().cpu().numpy()
               for c in torch.from_numpy(np.ascontiguousarray(codes, dtype=np.float32)).split(_ROWS)]
        x = np.concatenate(out) if out else np.zeros((0, self.n_features_in_))
        stats = getattr(self, "standardize_", None)
        return x * np.asarray(stats["std"]) + np.asarray(stats["mean"]) if stats is not None else x

    # ---------------------------------------------------------------- likelihood (scikit-learn's score)
    def _rows(self, X: Any) -> np.ndarray:
        """``X`` checked and laid out as the model's rows ``(N, D)`` (standardized when the model was)."""
        return self._validate(X, reset=False)

    def _elbo_draws_and_seed(self) -> tuple[int, int]:
        """Reparameterized draws of the ELBO's reconstruction term and the seed of their noise, for ``score``."""
        return 8, int(self.seed)

    def _elbo_rows(self, X: Any, n_draws: int, seed: int) -> np.ndarray:
        """Per input of ``X``, the ELBO in nats ``(N,)`` float64 (Kingma & Welling 2014, eq. 3: E_q[log p(x|z)]
        over ``n_draws`` reparameterized draws minus the closed-form KL(q(z|x) ‖ p(z))); for the plain autoencoder
        log p(x | z = code). It bounds the log-density of ``X`` as given: when the model saw standardized columns,
        the change of variables adds −Σ_d log σ_d. Every row uses the same seeded noise ε, so a row's value does
        not depend on its position or on the other rows."""
        arr = self._rows(X)
        lk = per_sample_likelihoods(self.model_, self._as_model_input(arr), iw_samples=n_draws, seed=seed,
                                    index=np.zeros(len(arr), dtype=np.int64))
        elbo = lk.elbo if lk.elbo is not None else lk.recon_ll
        stats = getattr(self, "standardize_", None)
        if stats is not None:
            elbo = elbo - float(np.log(np.asarray(stats["std"], dtype=np.float64)).sum())
        return elbo

    def score(self, X: Any, y: Any = None) -> float:
        """The mean per-input ELBO of ``X`` in nats, a lower bound on the average log-likelihood (Kingma & Welling
        2014, "Auto-Encoding Variational Bayes", eq. 3); higher is better. ``y`` is ignored. As
        ``GaussianMixture.score`` and ``KernelDensity.score`` do, this is what ``GridSearchCV`` without ``scoring``
        maximizes on the held-out folds and what ``Pipeline.score`` returns. Data in [0, 1] under a Bernoulli
        likelihood are scored as Bernoulli probabilities, not as a density of grey levels."""
        n_draws, seed = self._elbo_draws_and_seed()
        return float(np.mean(self._elbo_rows(X, n_draws, seed)))

    def _check_codes(self, Z: Any, what: str = "Z") -> np.ndarray:
        self._check_is_fitted()
        _refuse_1d(Z, what, "n_components")
        z = check_array(Z, dtype=(np.float64, np.float32), ensure_all_finite=False, input_name=what)
        L = self.model_.latent_dim
        if z.shape[1] != L:
            raise DataError(f"{what} has {z.shape[1]} columns but this model has {L} latents; give codes of shape "
                            f"(N, {L}) as transform returns them")
        bad = ~np.isfinite(z).all(axis=1)
        if bad.any():
            raise DataError(f"{what} has NaN or infinite values in {_named_rows(bad)}")
        return z

    # ---------------------------------------------------------------- saving and loading
    def _write_estimator_file(self, path: Path) -> None:
        doc = {"estimator": type(self).__name__, "params": _jsonable(self.get_params()),
               "n_features_in": int(self.n_features_in_), "input_shape": list(self.input_shape_),
               "feature_names_in": [str(f) for f in getattr(self, "feature_names_in_", [])] or None,
               "standardize": self.standardize_, "extra": _jsonable(self._extra_state())}
        RunFolder(path).estimator_path.write_text(json.dumps(doc, indent=2))

    def _extra_state(self) -> dict[str, Any]:
        """JSON-able fitted state a subclass needs besides the model (e.g. a detector's threshold)."""
        return {}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`_extra_state`."""

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the fitted estimator as a run folder ``path`` (weights as safetensors, everything else JSON/YAML);
        ``from_run(path)``, ``shadowplay embed``/``evaluate --data`` and ``sp.load`` read it. A run kept under
        ``runs_dir`` is copied whole (resumable); one trained in a temporary folder is written weights-only."""
        self._check_is_fitted()
        path = Path(path)
        if self.run_dir_ is not None and path.resolve() == Path(self.run_dir_).resolve():
            pass  # saving a kept run in place: only the estimator file is new
        elif self.run_dir_ is not None and Path(self.run_dir_).is_dir():
            if path.exists():
                create_run(path.parent, path.name, overwrite)  # same refusal rules as a new run
                path.rmdir()
            shutil.copytree(self.run_dir_, path)
        else:
            folder = create_run(path.parent, path.name, overwrite)
            m: LatentVariableModel = self.model_
            spec = m.spec.to_dict()
            info = {"status": "finished", "preset": self.config_.model.preset, "model_spec": spec,
                    "data": {"source": ARRAY_SOURCE, "shape": list(self.input_shape_),
                             "value_range": "real" if spec["likelihood"] != "bernoulli" else "unit",
                             "meta": {"standardize": self.standardize_} if self.standardize_ else {}},
                    "note": f"written by {type(self).__name__}.save: weights only (no optimizer state)"}
            folder.write_config(self.config_)
            folder.write_meta(start_meta(self.config_, info))
            state = {"model_spec": spec, "config": self.config_.to_dict(), "preset": self.config_.model.preset,
                     "step": int(self.n_steps_), "epoch": int(self.n_epochs_), "finished": True,
                     "val_metrics": self.val_metrics_, "weights_only": True}
            tensors = {f"model/{k}": v for k, v in m.state_dict().items()}
            write_checkpoint(folder.step_checkpoint(int(self.n_steps_)), tensors, state)
        self._write_estimator_file(path)
        return path

    @classmethod
    def from_run(cls, path: str | Path, checkpoint: str = "best", device: str = "auto"):
        """A fitted estimator from a run folder: one written by :meth:`save` or ``runs_dir``, or any run that
        ``shadowplay train`` made (its config gives the parameters; CSV runs keep their standardization)."""
        folder = open_run(path)
        cfg = folder.config
        est_file = folder.estimator_path
        doc = json.loads(est_file.read_text()) if est_file.is_file() else None
        est = cls()
        names = set(est.get_params())
        if doc is not None:
            params = {cls._renamed_params.get(k, k): (tuple(v) if isinstance(v, list) else v)
                      for k, v in doc["params"].items()}
        else:
            params = {"model": cfg.model.preset, cls._latent_param: cfg.model.latent_dim, "beta": cfg.objective.beta,
                      "likelihood": cfg.model.likelihood, "net": cfg.model.net, "hidden": tuple(cfg.model.hidden),
                      "epochs": cfg.trainer.epochs, "batch_size": cfg.trainer.batch_size, "lr": cfg.trainer.lr,
                      "seed": cfg.trainer.seed, "val_fraction": cfg.data.val_fraction}
        est.set_params(**{k: v for k, v in params.items() if k in names})
        est.model_ = load_model(folder, checkpoint, str(resolve_device(device)))
        shape = tuple(est.model_.data_shape)
        est.input_shape_ = shape
        if est.input_shape is None and len(shape) > 1:
            est.input_shape = shape
        est.n_features_in_ = math.prod(shape)
        if doc is not None and doc.get("feature_names_in"):
            est.feature_names_in_ = np.asarray(doc["feature_names_in"], dtype=object)
        est.standardize_ = folder.input_standardization
        est.config_, est.run_dir_ = cfg, folder.path
        ckpt_state = folder.meta
        est.val_metrics_ = dict(ckpt_state.get("val_metrics") or {})
        est.n_steps_, est.n_epochs_ = int(ckpt_state.get("step", 0)), int(ckpt_state.get("epoch", 0))
        est._set_extra_state((doc or {}).get("extra") or {})
        est._after_load()
        return est

    def _after_load(self) -> None:
        """Hook: derive what ``fit`` would have set (``VAEEmbedding`` sets ``_n_features_out``)."""


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise CheckpointError(f"cannot save the parameter value {obj!r} ({type(obj).__name__}) as JSON")
