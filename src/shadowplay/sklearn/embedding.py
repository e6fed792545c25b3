"""``VAEEmbedding``: a drop-in for ``sklearn.decomposition.PCA`` whose components are a latent-variable model's codes.

>>> from shadowplay.sklearn import VAEEmbedding
>>> emb = VAEEmbedding(n_components=8, model="vae")                 # doctest: +SKIP
>>> Z = emb.fit_transform(X)          # (N, 8) posterior means E[z|x]
>>> Z, S = emb.transform(X, return_std=True)                          # and posterior standard deviations
>>> X_hat = emb.inverse_transform(Z)  # (N, D) decoder means E[x|z]

Like PCA's ``transform`` (the projection onto the principal subspace, i.e. the posterior mean of probabilistic PCA,
Tipping & Bishop 1999, eq. 5), ``transform`` returns the mean of q(z|x), and ``inverse_transform`` the mean of
p(x|z). For the plain autoencoder (``model="ae"``) the code is a point, so the standard deviations are zeros.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from ..errors import ConfigError
from ._base import LatentEstimator


class VAEEmbedding(ClassNamePrefixFeaturesOutMixin, TransformerMixin, LatentEstimator):
    """Feature reduction with any shadowplay preset (``ae``, ``vae``, ``beta_vae``, ``beta_tcvae``, ...).

    Parameters are those of :class:`~shadowplay.sklearn._base.LatentEstimator`, with the latent size called
    ``n_components`` as in PCA, and ``standardize``: ``"auto"`` (the default) standardizes the columns of a table
    ``X`` with values outside [0, 1] (and no ``input_shape``) with the training mean and standard deviation, as
    ``shadowplay train`` does with a CSV file; ``transform``, ``inverse_transform`` and ``score`` use those
    statistics, so codes and reconstructions stay on the scale of ``X``. ``True`` always, ``False`` never.
    Without it a raw table (wine's proline, ~10³) sent the encoder's log-variance to overflow at the first step.

    Fitted attributes: ``model_`` (the ``LatentVariableModel``), ``n_features_in_``, ``feature_names_in_`` (for
    DataFrames), ``input_shape_``, ``config_`` (the run config), ``val_metrics_`` (last validation metrics, nats),
    ``run_dir_`` (the kept run folder, or ``None``), ``n_steps_``, ``n_epochs_``, ``standardize_``
    (``{"mean", "std"}`` per column, or ``None``).
    """

    _latent_param = "n_components"

    def __init__(self, n_components: int = 10, *, model: str = "vae", beta: float | None = None,
                 likelihood: str = "auto", net: str = "auto", hidden: tuple[int, ...] = (512, 256),
                 input_shape: tuple[int, ...] | None = None, epochs: int | None = None, batch_size: int = 128,
                 lr: float | None = None, val_fraction: float = 0.1, seed: int = 0, device: str = "auto",
                 runs_dir: str | Path | None = None, overrides: dict[str, Any] | None = None, progress: bool = False,
                 standardize: str | bool = "auto"):
        super().__init__(n_components, model=model, beta=beta, likelihood=likelihood, net=net, hidden=hidden,
                         input_shape=input_shape, epochs=epochs, batch_size=batch_size, lr=lr,
                         val_fraction=val_fraction, seed=seed, device=device, runs_dir=runs_dir,
                         overrides=overrides, progress=progress)
        self.standardize = standardize

    def fit(self, X: Any, y: Any = None) -> "VAEEmbedding":
        """Train on ``X`` ``(N, D)`` (``y`` is ignored; it is accepted for pipelines). Returns ``self``."""
        if self.standardize not in ("auto", True, False):
            raise ConfigError(f"standardize must be 'auto', True or False, got {self.standardize!r}")
        self.standardize_ = None  # a refit must not reuse the previous fit's statistics
        raw = self._validate(X, reset=True)
        stats = None
        if self.standardize is True or (self.standardize == "auto" and self.input_shape is None
                                        and not (raw.min(initial=0) >= 0 and raw.max(initial=0) <= 1)):
            mean, std = raw.astype(np.float64).mean(0), raw.astype(np.float64).std(0)
            std[std == 0] = 1.0
            stats = {"mean": mean.tolist(), "std": std.tolist()}
            if hasattr(self, "feature_names_in_"):
                stats["columns"] = [str(c) for c in self.feature_names_in_]
            X = ((raw - mean) / std).astype(np.float32)
        names = getattr(self, "feature_names_in_", None)
        self._fit_run(X)
        if names is not None:  # the standardized array has lost the DataFrame's column names
            self.feature_names_in_ = names
        if stats is not None:
            self.standardize_ = stats  # from now on every input is standardized with the training statistics
            if self.run_dir_ is not None:
                self._write_estimator_file(self.run_dir_)
        self._after_load()
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]  # scikit-learn then checks float32 → float32
        return tags

    def _after_load(self) -> None:
        self._n_features_out = int(self.model_.latent_dim)

    @classmethod
    def from_run(cls, path: str | Path, checkpoint: str = "best", device: str = "auto") -> "VAEEmbedding":
        """As :meth:`LatentEstimator.from_run`; a run ``shadowplay train`` made from a CSV file also gives its column
        names as ``feature_names_in_``, so a DataFrame read from that file is checked by name (a reordered or
        different table is refused instead of being encoded column by position)."""
        est = super().from_run(path, checkpoint=checkpoint, device=device)
        columns = (est.standardize_ or {}).get("columns")
        if getattr(est, "feature_names_in_", None) is None and columns and len(columns) == est.n_features_in_:
            est.feature_names_in_ = np.asarray(columns, dtype=object)
        return est

    def transform(self, X: Any, return_std: bool = False):
        """Posterior means ``(N, n_components)``; with ``return_std=True`` also the posterior standard deviations
        σ = exp(½ log σ²) ``(N, n_components)`` as a second array. The model computes in float32, so float32 input
        (an array or a DataFrame of float32 columns) gives float32 codes and anything else float64, the dtype
        ``check_array`` gives ``X`` (as PCA fitted in that dtype; the ``preserves_dtype`` tag says so)."""
        arr, dtype = self._validate_with_dtype(X, reset=False)
        mean, std = self._encode(arr)
        return (mean.astype(dtype), std.astype(dtype)) if return_std else mean.astype(dtype)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decoder means ``(N, n_features_in_)`` for codes ``X`` ``(N, n_components)`` (scikit-learn names the
        argument ``X``, as PCA does)."""
        z = self._check_codes(X, "codes given to inverse_transform")
        return self._decode(z).astype(z.dtype)

    def score_samples(self, X: Any, n_draws: int = 8) -> np.ndarray:
        """Per row, the ELBO in nats ``(N,)`` (Kingma & Welling 2014, eq. 3; the reconstruction term averaged over
        ``n_draws`` reparameterized draws); for the plain autoencoder log p(x | z = code). Higher is more typical,
        as for ``PCA.score_samples``; :meth:`score` is their mean. Every row uses the same seeded noise ε, so a
        row's score does not depend on its position or on the other rows."""
        return self._elbo_rows(X, n_draws, int(self.seed))
