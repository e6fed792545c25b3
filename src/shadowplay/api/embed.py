"""``embed``: latent codes of any data a run can read, as a file, or a 2-D map of them coloured by label.

>>> import shadowplay as sp
>>> e = sp.embed("runs/<run>", data="new.npy", out="codes.csv")      # doctest: +SKIP
>>> e = sp.embed("runs/<run>", map="tsne", out="map.png")            # doctest: +SKIP
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import set_keys
from ..data import SPLITS as DATA_SPLITS
from ..data import Dataset
from ..errors import ConfigError
from ..evaluation.codes import MAP_METHODS, LatentMap, encode_all, latent_map
from ..reports.embedding import CODE_SUFFIXES, latent_map_figure, write_codes
from ..reports.plotting import save
from ..run import RunFolder, open_run
from ..training import resolve_device
from ..workflow import ARRAY_SOURCE, Run, load_model, load_splits
from .runs import check_model_data

SPLITS = (*DATA_SPLITS, "all")


@dataclass(frozen=True)
class Embedding:
    """What :func:`embed` computed: ``codes`` ``(N, L)`` posterior means, ``logvar`` ``(N, L)`` (``None`` for an
    autoencoder), ``labels`` ``(N,)`` or ``None``, the 2-D ``map`` when asked for, and the ``files`` written."""

    codes: np.ndarray
    logvar: np.ndarray | None
    labels: np.ndarray | None
    map: LatentMap | None
    files: list[Path]


def data_rows(folder: RunFolder, data: str | None, split: str) -> Dataset:
    """The inputs to embed (or to evaluate with ``--split all``): a split of the run's data, or of ``data``
    (``all`` = every row, in file order)."""
    cfg = folder.config
    if data is None and cfg.data.source == ARRAY_SOURCE:
        raise ConfigError(f"{folder.path} was fitted from arrays in memory, which a run does not keep; give the "
                          "data to embed with --data")
    keys = {} if data is None else {"data.source": data}
    if split == "all":  # no random split: every row of the source in its own order (sorted split indices)
        keys.update({"data.val_fraction": 0.0, "data.test_fraction": 0.0})
    splits = load_splits(set_keys(cfg, keys) if keys else cfg)
    if split == "all":
        parts = [splits.train, splits.val, splits.test]
        parts = [p for p in parts if len(p)]
        cat = lambda a: None if any(getattr(p, a) is None for p in parts) else torch.cat([getattr(p, a) for p in parts])  # noqa: E731,E501
        ds = Dataset(name=parts[0].name, x=torch.cat([p.x for p in parts]), labels=cat("labels"),
                     value_range=parts[0].value_range, meta=parts[0].meta)
    else:
        ds = splits.get(split)
    trained_stats = folder.input_standardization
    if data is not None and trained_stats is not None:  # new rows on the training scale
        from ..data.files import restandardize
        ds = restandardize(ds, trained_stats)
    if len(ds) == 0:
        raise ConfigError(f"the {split} split of {data or cfg.data.source!r} is empty; choose another --split")
    return ds


def embed(run: str | Path | Run, data: str | None = None, split: str | None = None, out: str | Path | None = None,
          logvar: bool = False, map: str | None = None, checkpoint: str = "best", seed: int = 0,
          max_points: int = 5000, device: str = "auto", progress: bool = True) -> Embedding:
    """Encode inputs with a trained run and write the codes, or a 2-D map of them.

    Args:
        data: a built-in source name or a path the run can read (same input shape); default the run's own data.
        split: ``train``, ``val``, ``test`` or ``all``; default ``all`` rows of ``data``, or the ``test`` split
            of the run's own data.
        out: without ``map``, the codes file (``.npy``: ``(N, L)`` float32, or ``(N, 2L)`` = [means |
            log-variances] with ``logvar``; ``.csv``: ``index, z0.., logvar0.., label``); with ``map``, the PNG.
            Default: ``<run>/embeddings/codes-<data>-<split>.npy`` or ``map-<method>-<data>-<split>.png``.
        logvar: also write log σ² of each posterior (not defined for the autoencoder's point-mass code).
        map: ``top2`` (the two latents with the most KL), ``pca`` or ``tsne``: draw a 2-D map coloured by label
            (when the data have labels) instead of writing codes; at most ``max_points`` rows (seeded subsample).
        progress: say on stderr when a t-SNE map starts (scikit-learn's t-SNE reports nothing while it runs, and
            5,000 points take about two minutes on a busy 2-core machine).
    """
    folder = open_run(run)
    split = split or ("all" if data is not None else "test")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if map is not None and map not in MAP_METHODS:
        raise ConfigError(f"unknown map {map!r}; choose one of {', '.join(MAP_METHODS)}")
    if map is not None and max_points < 2:  # before loading the model and the data
        raise ConfigError(f"--max-points must be >= 2 (a map needs two points), got {max_points}")
    if logvar and map is not None:
        raise ConfigError("--logvar adds log-variances to a codes file, and --map draws posterior means only; drop "
                          "one of them")
    if out is not None:  # refuse a wrong file type before any work
        want = (".png",) if map is not None else CODE_SUFFIXES
        if Path(out).suffix.lower() not in want:
            raise ConfigError(f"{'a map' if map else 'codes'} can be written as {' or '.join(want)}, not "
                              f"{Path(out).suffix or '(no suffix)'!r}: {out}")
    model = load_model(folder.path, checkpoint, str(resolve_device(device)))
    ds = check_model_data(folder, data_rows(folder, data, split), data)  # a Bernoulli run: data in [0, 1] only
    if tuple(ds.shape) != tuple(model.data_shape):
        raise ConfigError(f"the data {data or folder.config.data.source!r} have inputs of shape {tuple(ds.shape)} "
                          f"but this model takes {tuple(model.data_shape)}; give data of that shape")
    codes = encode_all(model, ds.x)
    if logvar and codes.logvar is None:
        raise ConfigError("this run is a plain autoencoder: its code is a point, so it has no log-variances; "
                          "drop --logvar")
    labels = None if ds.labels is None else ds.labels.numpy()
    stem = Path(data if data is not None else folder.config.data.source).stem  # a file's name, not its path
    files: list[Path] = []
    lmap = None
    if map is None:
        path = Path(out) if out is not None else folder.embedding_codes(stem, split)
        files.append(write_codes(path, codes.mean, codes.logvar if logvar else None, labels))
    else:
        if progress and map == "tsne":
            print(f"t-SNE of {min(len(ds), max_points):,} codes: this can take minutes (--max-points draws fewer)",
                  file=sys.stderr, flush=True)
        lmap = latent_map(codes, map, seed=seed, max_points=max_points)
        path = Path(out) if out is not None else folder.embedding_map(map, stem, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        title = f"{folder.path.name}: posterior means of {stem} {split}, {len(lmap.index)} of {len(ds)} inputs"
        fig = latent_map_figure(lmap.xy, lmap.axes, None if labels is None else labels[lmap.index],
                                ds.meta.get("classes"), title)
        save(fig, path)
        files.append(path)
    return Embedding(codes.mean, codes.logvar, labels, lmap, files)
