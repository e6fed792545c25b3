"""Outlier detection from the command line's point of view: fit a detector on normal data into a run folder, score
new data, evaluate against labels. ``shadowplay outliers fit|score|evaluate`` call these with the same keywords.

>>> from shadowplay import api
>>> run = api.outliers_fit("fashion-mnist", normal_class=0, score="iwae")             # doctest: +SKIP
>>> api.outliers_score(run.path, "new.npy", output="scores.csv")                      # doctest: +SKIP
>>> api.outliers_evaluate(run.path, "fashion-mnist")                                  # doctest: +SKIP

Files go where :class:`shadowplay.run.RunFolder` says (``outliers/`` in the run folder: the scores CSV, the
evaluation JSON, the histogram and the top-k grid of each data set; see ``RunFolder.outlier_files``).
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..config import DataConfig, parse_overrides
from ..data import SPLITS, Dataset, SourceOptions, load_data, load_path, split_rows
from ..errors import DataError
from ..jsonsafe import json_safe
from ..outliers import detection_metrics
from ..reports.outliers import save_score_histogram, save_top_k
from ..run import RunFolder, open_run, run_path
from ..workflow import is_builtin, resolve_source

if TYPE_CHECKING:  # a scikit-learn estimator: imported where a detector is made, not with the CLI
    from ..outliers.detector import VAEOutlierDetector


@dataclass(frozen=True)
class OutlierRun:
    path: Path
    detector: VAEOutlierDetector


@dataclass(frozen=True)
class OutlierScores:
    scores: np.ndarray   # (N,) higher = more abnormal
    flags: np.ndarray    # (N,) 1 = above the threshold
    ranks: np.ndarray    # (N,) 1 = most abnormal
    threshold: float
    score: str
    path: Path | None


@dataclass(frozen=True)
class OutlierEvaluation:
    document: dict[str, Any]
    files: dict[str, Path]


def _raw(ds: Dataset) -> torch.Tensor:
    """A CSV dataset's rows back on their own scale (the detector standardizes with its training statistics)."""
    stats = ds.meta.get("standardize")
    if stats is None:
        return ds.x
    return ds.x.double() * torch.tensor(stats["std"]) + torch.tensor(stats["mean"])


ALL = "all"  # the split name of every row of a file


def _load(data: str, split: str, data_dir: str | None, label_column: str | None,
          seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """Rows of ``data`` and their row numbers ``(N,)``: a built-in source's ``split`` (numbered within it), or a file's
    or folder's rows, all of them (``split="all"``) or one part of the seeded 80/10/10 split that ``train --data
    FILE`` makes (numbered as in the file), so the rows a detector was fitted on can be left out of its evaluation."""
    opts = SourceOptions(data_dir=data_dir, label_column=label_column, seed=seed)
    if is_builtin(data):
        if split == ALL:
            raise DataError(f"--split all is for files; {data} has the splits {', '.join(SPLITS)}")
        ds = load_data(data, seed=seed, options=opts).get(split)
        return ds, np.arange(len(ds))
    if split != ALL and split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join((*SPLITS, ALL))}")
    if not Path(data).expanduser().exists():
        load_data(data, seed=seed, options=opts)  # raises the loader's error: "did you mean 'fashion-mnist'?"
    ds = load_path(data, opts)
    if split == ALL:
        return ds, np.arange(len(ds))
    cfg = DataConfig()  # the fractions `train --data FILE` splits with by default
    rows = split_rows(len(ds), cfg.val_fraction, cfg.test_fraction, seed, ds.name)[split]
    return ds.subset(rows), rows.numpy()


def _same_data(a: str, b: str | None) -> bool:
    return b is not None and resolve_source(a) == resolve_source(b)


def _stem(data: str, split: str) -> str:
    return f"{Path(data).stem if not is_builtin(data) else data}-{split}"


def _normal_inputs(data: str, normal_class: int | None, seed: int, data_dir: str | None,
                   label_column: str | None) -> torch.Tensor:
    """The inputs a detector is fitted on: the training and validation parts of ``data`` (a built-in source's, or
    the seeded split of a file, whose test part stays out for ``evaluate``), only the rows labelled
    ``normal_class`` when given; on their own scale (the detector standardizes CSV rows itself)."""
    parts = [_load(data, split, data_dir, label_column, seed)[0] for split in ("train", "val")]
    x = torch.cat([_raw(p) for p in parts])
    labels = None if parts[0].labels is None else torch.cat([p.labels for p in parts])
    if normal_class is None:
        return x
    if labels is None:
        raise DataError(f"{data} has no labels, so --normal-class {normal_class} cannot pick the normal rows")
    keep = labels == int(normal_class)
    if not bool(keep.any()):
        raise DataError(f"no training rows of class {normal_class} in {data}; the labels are "
                        f"{sorted(set(labels.tolist()))[:20]}")
    return x[keep]


def _fitted_on(run: Path) -> dict[str, Any]:
    """What ``outliers fit`` recorded about the data in ``run.json`` (empty for any other run)."""
    return dict(open_run(run).meta.get("outliers", {}))


def _detector(run: Path, score: str | None, device: str, meta: dict[str, Any]) -> VAEOutlierDetector:
    """The detector saved in ``run``; with another ``score``, its reference and threshold are fitted on the normal
    inputs the run was fitted on (from ``run.json``; a plain training run uses its own training split)."""
    X = None
    if score is not None and score != meta.get("score") and meta.get("data") is not None:
        X = _normal_inputs(meta["data"], meta.get("normal_class"), int(meta.get("seed", 0)), meta.get("data_dir"),
                           meta.get("label_column")).numpy()
    from ..outliers.detector import VAEOutlierDetector
    return VAEOutlierDetector.from_run(run, outlier_score=score, device=device, X=X)


def outliers_fit(data: str, *, normal_class: int | None = None, score: str = "combined", contamination: float = 0.1,
                 model: str = "vae", latent_dim: int = 16, epochs: int | None = None, net: str = "auto",
                 likelihood: str = "auto", beta: float | None = None, batch_size: int = 128, lr: float | None = None,
                 iw_samples: int = 16, seed: int = 0, device: str = "auto", data_dir: str | None = None,
                 label_column: str | None = None, runs_dir: str | Path = "runs", name: str | None = None,
                 overwrite: bool = False, progress: bool = True,
                 overrides: list[str] | dict[str, Any] | None = None) -> OutlierRun:
    """Fit a :class:`VAEOutlierDetector` on the normal part of ``data``'s training and validation split (for a
    file, the seeded 80/10/10 split of ``train --data FILE``: its test part is left for ``evaluate``; only rows
    labelled ``normal_class`` when given) and keep it as the run folder ``runs_dir/name``. ``run.json`` records the
    data, class, seed and label column, which ``score`` and ``evaluate`` use as their defaults, and the epochs
    trained (``epochs=None``: ``train``'s automatic budget, 30 or enough for 1,000 steps on few inputs, as a single
    normal class often is). ``overrides`` sets any other config key (``["model.scale=0.1"]``, as ``train`` takes
    them)."""
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(list(overrides))
    data = resolve_source(data)  # a path made absolute: the run can be evaluated from any folder
    x = _normal_inputs(data, normal_class, seed, data_dir, label_column)
    part = "all" if normal_class is None else f"class{normal_class}"
    target = Path(runs_dir) / (name or f"outliers-{_stem(data, part)}-{time.strftime('%Y%m%d-%H%M%S')}")
    if target.exists() and not overwrite:
        raise FileExistsError(f"run folder {target} already exists; pick another --name or pass --overwrite")
    from ..outliers.detector import VAEOutlierDetector
    det = VAEOutlierDetector(model=model, outlier_score=score, contamination=contamination, latent_dim=latent_dim,
                             epochs=epochs, net=net, likelihood=likelihood, beta=beta, batch_size=batch_size, lr=lr,
                             iw_samples=iw_samples, seed=seed, device=device, runs_dir=runs_dir, progress=progress,
                             overrides=dict(overrides) if overrides else None)
    det._advice_phrasing = "cli"  # advice in this command's options (--likelihood, --epochs), as train's
    det.fit(x.numpy())
    if target.exists():
        shutil.rmtree(target)
    shutil.move(str(det.run_dir_), target)
    det.run_dir_ = target
    det.save(target)
    folder = RunFolder(target)
    folder.update_meta(outliers={"data": data, "normal_class": normal_class, "score": score,
                                 "contamination": contamination, "n_train": len(x), "seed": seed,
                                 "data_dir": data_dir, "label_column": label_column,
                                 "epochs": folder.config.trainer.epochs, "epochs_auto": epochs is None,
                                 "steps": int(det.n_steps_)})
    return OutlierRun(target, det)


def outliers_score(run: str | Path | Any, data: str, *, output: str | Path | None = None, score: str | None = None,
                   split: str | None = None, data_dir: str | None = None, label_column: str | None = None,
                   device: str = "auto") -> OutlierScores:
    """Score the inputs of ``data`` with the detector in ``run``: a built-in source's ``split`` (default test), or
    every row of a file (``split`` train/val/test: that part of its seeded split). Writes one CSV row per input
    (index, score, flag, rank, label if any; the index is the row's number in the file or split) to ``output``
    (default ``<run>/outliers/scores-<data>-<split>.csv``). ``data_dir`` and ``label_column`` default to the
    ones the run was fitted with, and so does the seed of the split."""
    run = run_path(run)
    meta = _fitted_on(run)
    split = split or ("test" if is_builtin(data) else ALL)
    ds, index = _rows(data, split, meta, data_dir, label_column)
    return _score(run, data, split, ds, index, meta, output, score, device)


def _rows(data: str, split: str, meta: dict[str, Any], data_dir: str | None,
          label_column: str | None) -> tuple[Dataset, np.ndarray]:
    """:func:`_load` with the seed the run was fitted with; for the data it was fitted on, its data folder and
    label column are the defaults."""
    if _same_data(data, meta.get("data")):
        data_dir = meta.get("data_dir") if data_dir is None else data_dir
        label_column = meta.get("label_column") if label_column is None else label_column
    return _load(data, split, data_dir, label_column, int(meta.get("seed", 0)))


def _score(run: Path, data: str, split: str, ds: Dataset, index: np.ndarray, meta: dict[str, Any],
           output: str | Path | None, score: str | None, device: str) -> OutlierScores:
    """Score the rows ``ds`` (numbered ``index``) with the run's detector; write the scores CSV."""
    det = _detector(run, score, device, meta)
    s = det.decision_function(_raw(ds).numpy())
    flags = (s > det.threshold_).astype(int)
    ranks = np.empty(len(s), int)
    ranks[np.argsort(-s, kind="stable")] = np.arange(1, len(s) + 1)
    out = Path(output) if output else RunFolder(run).outlier_files(data, split).scores_csv
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "score", "flag", "rank"] + (["label"] if ds.labels is not None else []))
        for i in range(len(s)):
            w.writerow([int(index[i]), repr(float(s[i])), int(flags[i]), int(ranks[i])]
                       + ([int(ds.labels[i])] if ds.labels is not None else []))
    return OutlierScores(s, flags, ranks, det.threshold_, det.outlier_score, out)


def outliers_evaluate(run: str | Path | Any, data: str | None = None, *, normal_class: int | None = None,
                      split: str | None = None, score: str | None = None, top_k: int = 25,
                      data_dir: str | None = None, label_column: str | None = None,
                      device: str = "auto") -> OutlierEvaluation:
    """AUROC, AUPR and FPR at 95 % TPR of the detector in ``run`` on labelled ``data`` (default: the data it was
    fitted on, whose test split it never saw; ``split`` defaults to test for a built-in source and for the file it
    was fitted on, and to every row of another file). Anomalies are the rows whose label differs from
    ``normal_class`` (default: the class the run was fitted on); without a normal class the labels must be 0
    (normal) / 1 (anomaly). Writes the JSON, a score histogram and a grid of the ``top_k`` most abnormal inputs
    into ``<run>/outliers/``."""
    run = run_path(run)
    meta = _fitted_on(run)
    data = data or meta.get("data")
    if data is None:
        raise DataError("give --data: this run records no data it was fitted on")
    split = split or ("test" if is_builtin(data) or _same_data(data, meta.get("data")) else ALL)
    normal_class = normal_class if normal_class is not None else meta.get("normal_class")
    ds, index = _rows(data, split, meta, data_dir, label_column)
    if ds.labels is None:  # before any scoring
        raise DataError(f"{data} has no labels; evaluate needs to know which inputs are anomalies"
                        + ("" if is_builtin(data) else " (a CSV's label column: --label-column)"))
    y = ds.labels.numpy()
    anomaly = (y != int(normal_class)) if normal_class is not None else y
    if normal_class is None and not set(np.unique(y)) <= {0, 1}:
        raise DataError(f"{data}: labels {sorted(set(y.tolist()))[:10]} are not 0/1; pass --normal-class to say "
                        "which class is normal")
    res = _score(run, data, split, ds, index, meta, None, score, device)
    m = detection_metrics(anomaly, res.scores)
    where = RunFolder(run).outlier_files(data, split)
    files = {"scores": res.path,
             "histogram": save_score_histogram(where.histogram, res.scores, anomaly.astype(bool), res.threshold,
                                               f"{_stem(data, split)}: AUROC {100 * m.auroc:.1f}")}
    if ds.is_image:
        files["top_k"] = save_top_k(where.top_k, ds.x, res.scores, anomaly.astype(bool), top_k)
    doc = {"data": data, "split": split, "normal_class": normal_class, "score": res.score,
           "threshold": res.threshold, "flagged": int(res.flags.sum()), **m.as_dict()}
    path = where.json
    path.write_text(json.dumps(json_safe(doc), indent=2))
    files["evaluation"] = path
    return OutlierEvaluation(doc, files)
