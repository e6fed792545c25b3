"""Latent perturbation as tensors: traversals of one or many dimensions, and interpolations between inputs.

A traversal starts from a base code (the prior mean 0, or a real input's posterior mean), sets one dimension to each
of ``steps`` values and decodes (Higgins et al. 2017, fig. 1 and 7; Locatello et al. 2019 use the same picture).
The values come from a range mode:

``prior``               quantiles of N(0, 1) at levels evenly spaced from Φ(−r) to Φ(r)
``posterior-quantile``  the same quantile levels of the aggregate posterior q(z_d) = E_x q(z_d|x) (draws μ + σ·ε)
``fixed``               evenly spaced from −r to +r
``minmax``              evenly spaced from the smallest to the largest posterior mean over the data

Interpolations decode a path between two codes: linear, or spherical (Shoemake 1985, "Animating rotation with
quaternion curves", eq. for slerp; recommended for Gaussian latents by White 2016, "Sampling generative networks").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..errors import ShadowplayError, ShadowplayWarning, user_stacklevel
from ..model import LatentVariableModel

RANGE_MODES = ("prior", "posterior-quantile", "fixed", "minmax")
PATHS = ("linear", "slerp")


def quantile_levels(range_: float, steps: int) -> np.ndarray:
    """``(steps,)`` probabilities from Φ(−r) to Φ(r), evenly spaced (r = 3 → 0.13 % … 99.87 %)."""
    return np.linspace(_ndtr(-range_), _ndtr(range_), steps)


# Φ and Φ⁻¹ in float64 from torch.special (SciPy's `ndtr`/`ndtri` give the same numbers; importing scipy.special
# cost ~0.2 s of every command's start-up, for two scalars).
def _ndtr(x: float) -> float:
    return float(torch.special.ndtr(torch.tensor(x, dtype=torch.float64)))


def _ndtri(p: np.ndarray) -> np.ndarray:
    return torch.special.ndtri(torch.as_tensor(p, dtype=torch.float64)).numpy()


def traversal_values(mode: str, latent_dim: int, steps: int = 11, range_: float = 3.0,
                     means: np.ndarray | None = None, draws: np.ndarray | None = None) -> np.ndarray:
    """``(latent_dim, steps)`` values each dimension takes.

    Args:
        means: ``(N, L)`` posterior means over the data (``minmax``).
        draws: ``(M, L)`` draws of the aggregate posterior (``posterior-quantile``).
    """
    if mode not in RANGE_MODES:
        raise ShadowplayError(f"unknown traversal range mode {mode!r}; choose one of {', '.join(RANGE_MODES)}")
    if steps < 2:
        raise ShadowplayError(f"a traversal needs at least 2 steps, got {steps}")
    if not range_ > 0:
        raise ShadowplayError(f"the traversal range must be > 0, got {range_}")
    if mode == "prior":
        return np.tile(_ndtri(quantile_levels(range_, steps)), (latent_dim, 1))
    if mode == "fixed":
        return np.tile(np.linspace(-range_, range_, steps), (latent_dim, 1))
    data = draws if mode == "posterior-quantile" else means
    if data is None or len(data) < 2 or np.shape(data)[1] != latent_dim:
        raise ShadowplayError(f"range mode {mode!r} needs codes of at least 2 inputs with {latent_dim} dimensions")
    if mode == "posterior-quantile":
        return np.quantile(data, quantile_levels(range_, steps), axis=0).T
    return np.linspace(data.min(axis=0), data.max(axis=0), steps).T


def aggregate_draws(mean: np.ndarray, var: np.ndarray, per_input: int = 4, seed: int = 0) -> np.ndarray:
    """``(N·per_input, L)`` draws z = μ + σ·ε from the aggregate posterior (numpy PCG64 seeded by ``seed``)."""
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((per_input,) + mean.shape)
    return (mean + np.sqrt(var) * eps).reshape(-1, mean.shape[1])


def select_dims(dims: str | Sequence[int], latent_dim: int, order: Sequence[int] | None = None) -> np.ndarray:
    """Dimensions to traverse: ``"all"`` (every one), ``"topN"`` (the N first in ``order``) or explicit indices.

    ``order`` (dimensions by decreasing KL) sorts ``all`` and ``topN``; explicit indices keep the given order.
    """
    order = np.arange(latent_dim) if order is None else np.asarray(order)
    if isinstance(dims, str):
        s = dims.strip().lower()
        if s == "all":
            return order.copy()
        if s.startswith("top") and s[3:].isdigit() and int(s[3:]) >= 1:
            if int(s[3:]) > latent_dim:  # said, not silently shortened: the user expected more rows
                warnings.warn(f"--dims {s}: this model has {latent_dim} latent dimensions; traversing all "
                              f"{latent_dim}", ShadowplayWarning, stacklevel=user_stacklevel())
            return order[: int(s[3:])].copy()
        try:
            dims = [int(d) for d in s.split(",") if d.strip()]
        except ValueError:
            raise ShadowplayError(f"--dims must be 'all', 'topN' or comma-separated indices, got {dims!r}") from None
    out = np.asarray(list(dims), dtype=int)
    if out.size == 0:
        raise ShadowplayError("no latent dimension to traverse; give 'all', 'topN' or indices such as 0,3")
    bad = out[(out < 0) | (out >= latent_dim)]
    if bad.size:
        raise ShadowplayError(f"latent dimension {int(bad[0])} is out of range; this model has {latent_dim} "
                              f"(valid: 0..{latent_dim - 1})")
    values, counts = np.unique(out, return_counts=True)
    if (counts > 1).any():  # each dimension is one row of the overview and one dim-<d>.png
        twice = values[counts > 1]
        raise ShadowplayError(f"latent dimension {int(twice[0])} is given {int(counts[counts > 1][0])} times in "
                              f"--dims {','.join(map(str, out.tolist()))}; give each dimension once")
    return out


@dataclass(frozen=True)
class LatentTraversal:
    """``images`` ``(B, n_dims, steps, *shape)``: base b with dimension ``dims[j]`` set to ``values[j, s]``."""

    images: torch.Tensor
    dims: np.ndarray
    values: np.ndarray
    base: np.ndarray
    mode: str


@torch.no_grad()
def traverse(model: LatentVariableModel, base: np.ndarray | torch.Tensor, dims: Sequence[int],
             values: np.ndarray, mode: str = "custom") -> LatentTraversal:
    """Decode every base code ``(B, L)`` with each dimension in ``dims`` set to each of its values; ``values`` is
    ``(L, steps)`` indexed by dimension (as :func:`traversal_values` returns). Images are decoder means."""
    base_t = torch.as_tensor(np.asarray(base, dtype=np.float32)).reshape(-1, model.latent_dim)
    dims = select_dims(list(np.asarray(dims, dtype=int)), model.latent_dim)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != model.latent_dim:
        raise ShadowplayError(f"values must have shape (latent_dim={model.latent_dim}, steps), got {values.shape}")
    values = values[dims]
    b, steps = base_t.shape[0], values.shape[1]
    z = base_t[:, None, None, :].repeat(1, len(dims), steps, 1)
    for j, d in enumerate(dims):
        z[:, j, :, d] = torch.as_tensor(values[j], dtype=z.dtype)
    x = model.decode(z.reshape(-1, model.latent_dim)).mean.float().cpu()
    return LatentTraversal(x.view(b, len(dims), steps, *model.data_shape), dims, values,
                           base_t.numpy().astype(np.float64), mode)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``(T, L)`` points (1 − t)·a + t·b."""
    t = t.view(-1, 1)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(T, L)`` spherical interpolation sin((1−t)Ω)/sin Ω·a + sin(tΩ)/sin Ω·b, cos Ω = â·b̂
    (Shoemake 1985).

    Falls back to :func:`lerp` when a and b are (anti)parallel or zero, where Ω gives no unique great circle.
    """
    a64, b64, t64 = a.double(), b.double(), t.double().view(-1, 1)
    na, nb = a64.norm(), b64.norm()
    if na < eps or nb < eps:
        return lerp(a, b, t)
    omega = torch.arccos(torch.clamp((a64 @ b64) / (na * nb), -1.0, 1.0))
    so = torch.sin(omega)
    if so < eps:
        return lerp(a, b, t)
    out = torch.sin((1 - t64) * omega) / so * a64 + torch.sin(t64 * omega) / so * b64
    return out.to(a.dtype)


@dataclass(frozen=True)
class Interpolation:
    """``images`` ``(T, *shape)`` decoded along ``codes`` ``(T, L)`` at fractions ``t`` ``(T,)``."""

    images: torch.Tensor
    codes: torch.Tensor
    t: torch.Tensor
    path: str


@torch.no_grad()
def interpolate(model: LatentVariableModel, za: torch.Tensor, zb: torch.Tensor, steps: int = 10,
                path: str = "slerp") -> Interpolation:
    """Decode ``steps`` codes from ``za`` to ``zb`` (both ``(L,)``, endpoints included) along ``path``."""
    if path not in PATHS:
        raise ShadowplayError(f"unknown interpolation path {path!r}; choose linear or slerp")
    if steps < 2:
        raise ShadowplayError(f"an interpolation needs at least 2 steps, got {steps}")
    za, zb = torch.as_tensor(za, dtype=torch.float32).flatten(), torch.as_tensor(zb, dtype=torch.float32).flatten()
    if za.shape != (model.latent_dim,) or zb.shape != (model.latent_dim,):
        raise ShadowplayError(f"interpolation endpoints must be codes of {model.latent_dim} values")
    t = torch.linspace(0, 1, steps)
    codes = (slerp if path == "slerp" else lerp)(za, zb, t)
    return Interpolation(model.decode(codes).mean.float().cpu(), codes, t, path)
