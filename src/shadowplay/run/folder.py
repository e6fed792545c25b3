"""The run folder: the one place that knows the path and name of every file of a run.

Layout::

    runs/<name>/
      config.yaml          the resolved config (re-usable with --config)
      run.json             command line, seed, versions, git commit, data facts, model spec, status, world_size
      metrics.jsonl        one JSON object per logged step (train) and per epoch (val)
      tensorboard/         the same metrics for TensorBoard
      checkpoints/         step-<9 digits>.safetensors (the last k) and best.safetensors (best validation ELBO)
      samples.png          decoder means of prior draws, written after training
      reconstructions.png  test inputs (top) and their reconstructions (bottom), each row labelled; run.json
                           `pictures` records which checkpoint drew the pair, or each file once `sample` or
                           `reconstruct` drew over it (run/pictures.py)
      evaluation/          `shadowplay evaluate`: evaluation.json (ELBO, recon, KL, IWAE log p(x), bits/dim,
                           latent diagnostics, metrics), per_sample.npy|.csv (one row per input: index,
                           recon_ll, kl, elbo, log_px, bits_per_dim, recon_sq_error, label), worst_reconstructions.png,
                           mi_matrix.png (with --metrics); other splits add -<split> to each name, other data
                           -<data>-<split>
      traversals/<mode>-<start>/  `shadowplay traverse`: dim-<d>.png per latent, overview.png (one row per latent,
                           by decreasing KL), traversal.gif, traversal.json (dims, values, base codes, KL)
      interpolations/      `shadowplay interpolate`: <from>-<to>-<linear|slerp>.png
      report.html          `shadowplay report`: one self-contained page (reads only the files above)
      report/              samples.png, reconstructions.png drawn by `shadowplay report` when the training-time
                           ones above show other weights than its --checkpoint (run.json `report_pictures`)
      estimator.json       runs of shadowplay.sklearn estimators: class, parameters, feature names, shapes
      outliers.safetensors a fitted VAEOutlierDetector's tensors: training scores, aggregate-posterior components,
                           the likelihood-ratio background model's weights
      outliers/            `shadowplay outliers score|evaluate`: scores-<data>-<split>.csv (index, score, flag, rank,
                           label), evaluation-<data>-<split>.json (AUROC, AUPR, FPR@95%TPR), histogram-<…>.png,
                           top_k-<…>.png
      embeddings/          `shadowplay embed`: codes-<data>-<split>.npy (posterior means), map-<method>-<data>-
                           <split>.png (2-D map of the codes)

Everything that reads or writes a run (the API, the trainer, reports, studies) asks a :class:`RunFolder` for the
path; no other module spells these names. Checkpoint file names live beside, in :mod:`.checkpoints`.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import socket
import time
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from ..config import RunConfig, from_dict, save_yaml, yaml_problem
from ..errors import CheckpointError, CheckpointFallbackWarning, ShadowplayError, user_stacklevel
from .checkpoints import BEST, Checkpoint, latest_good, read_checkpoint, step_checkpoints, step_name


ESTIMATOR_FILE = "estimator.json"


def run_path(run: Any) -> Path:
    """The folder of ``run``: a path (``str`` or ``os.PathLike``) or anything with a ``path`` attribute (the
    ``Run`` that ``shadowplay.train`` returns, a ``RunFolder``)."""
    if isinstance(run, (str, os.PathLike)):
        return Path(run)
    path = getattr(run, "path", None)
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    raise TypeError(f"expected a run folder (a path or the Run that shadowplay.train returns), got "
                    f"{type(run).__name__}")


@dataclass(frozen=True)
class EvaluationFiles:
    """The files one ``evaluate`` call writes; ``suffix`` is ``""`` (the run's test split), ``-<split>`` or
    ``-<data>-<split>``."""

    folder: Path
    suffix: str

    def _name(self, stem: str, ext: str) -> Path:
        return self.folder / f"{stem}{self.suffix}.{ext}"

    @property
    def json(self) -> Path:
        return self._name("evaluation", "json")

    @property
    def per_sample_npy(self) -> Path:
        return self._name("per_sample", "npy")

    @property
    def per_sample_csv(self) -> Path:
        return self._name("per_sample", "csv")

    @property
    def worst_reconstructions(self) -> Path:
        return self._name("worst_reconstructions", "png")

    @property
    def mi_matrix(self) -> Path:
        return self._name("mi_matrix", "png")


@dataclass(frozen=True)
class OutlierFiles:
    """The files ``shadowplay outliers score|evaluate`` write for one data set: ``<stem>-<data>-<split>.<ext>``."""

    folder: Path
    suffix: str

    scores_csv = property(lambda self: self.folder / f"scores{self.suffix}.csv")
    json = property(lambda self: self.folder / f"evaluation{self.suffix}.json")
    histogram = property(lambda self: self.folder / f"histogram{self.suffix}.png")
    top_k = property(lambda self: self.folder / f"top_k{self.suffix}.png")


@dataclass(frozen=True)
class TraversalFiles:
    """The files of one traversal folder ``traversals/<mode>-<start>/``."""

    folder: Path

    def dim(self, d: int) -> Path:
        return self.folder / f"dim-{d:02d}.png"

    def dim_pictures(self) -> list[Path]:
        """The ``dim-<d>.png`` files in the folder now, by any traverse (only names :meth:`dim` makes)."""
        found = self.folder.glob("dim-*.png") if self.folder.is_dir() else []
        return sorted(p for p in found if p.stem[4:].isdigit() and p.name == self.dim(int(p.stem[4:])).name)

    @property
    def overview(self) -> Path:
        return self.folder / "overview.png"

    @property
    def gif(self) -> Path:
        return self.folder / "traversal.gif"

    @property
    def json(self) -> Path:
        return self.folder / "traversal.json"


class RunFolder:
    """A run folder. Paths need no I/O; ``config`` and ``meta`` are read from disk on first use
    (use :func:`open_run` to check that a folder is a run before reading it)."""

    def __init__(self, path: str | Path | Any):
        self.path = run_path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------ files at the top
    config_path = property(lambda self: self.path / "config.yaml")
    meta_path = property(lambda self: self.path / "run.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    tensorboard_dir = property(lambda self: self.path / "tensorboard")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    samples_path = property(lambda self: self.path / "samples.png")
    reconstructions_path = property(lambda self: self.path / "reconstructions.png")
    report_path = property(lambda self: self.path / "report.html")
    # a report's own pictures, when the training-time ones above show other weights (never overwritten by it)
    report_dir = property(lambda self: self.path / "report")
    report_samples_path = property(lambda self: self.report_dir / "samples.png")
    report_reconstructions_path = property(lambda self: self.report_dir / "reconstructions.png")
    evaluation_dir = property(lambda self: self.path / "evaluation")
    traversals_dir = property(lambda self: self.path / "traversals")
    interpolations_dir = property(lambda self: self.path / "interpolations")
    # DB-VAE: weights.png (inputs with the highest/lowest sampling weight), audit-<split>.json|.md|.png
    debias_dir = property(lambda self: self.path / "debias")
    estimator_path = property(lambda self: self.path / ESTIMATOR_FILE)
    outliers_state_path = property(lambda self: self.path / "outliers.safetensors")
    outliers_dir = property(lambda self: self.path / "outliers")

    def outlier_files(self, data: str, split: str) -> OutlierFiles:
        """Where ``outliers score|evaluate`` of ``data`` (a source name or a path; its stem is used) go."""
        stem = data if "/" not in data and "." not in data else Path(data).stem
        return OutlierFiles(self.outliers_dir, f"-{stem}-{split}")
    embeddings_dir = property(lambda self: self.path / "embeddings")

    @cached_property
    def config(self) -> RunConfig:
        try:
            return from_dict(yaml.safe_load(self.config_path.read_text()))
        except yaml.YAMLError as e:
            raise CheckpointError(f"{str(self.config_path)!r} is unreadable ({yaml_problem(e)})") from None

    @cached_property
    def meta(self) -> dict[str, Any]:
        try:
            return json.loads(self.meta_path.read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{str(self.meta_path)!r} is unreadable ({e})") from None

    @property
    def input_standardization(self) -> dict[str, Any] | None:
        """The ``{"mean", "std"[, "columns"]}`` the model's inputs were standardized with, or ``None``: a run trained
        on a CSV file records them in ``run.json`` (``data.meta.standardize``), an outlier detector that
        standardized its arrays in the estimator file. New rows must be put on that scale before the model sees
        them."""
        found = self.meta.get("data", {}).get("meta", {}).get("standardize")
        if found is None and self.estimator_path.is_file():
            try:
                found = json.loads(self.estimator_path.read_text()).get("standardize")
            except json.JSONDecodeError as e:
                raise CheckpointError(f"{str(self.estimator_path)!r} is unreadable ({e})") from None
        return found

    def write_config(self, cfg: RunConfig) -> None:
        save_yaml(cfg, self.config_path)
        self.__dict__.pop("config", None)

    def write_meta(self, doc: dict[str, Any]) -> None:
        """Replace ``run.json`` atomically (a kill leaves the old or the new document)."""
        tmp = self.meta_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(self.meta_path)
        self.__dict__.pop("meta", None)

    def update_meta(self, **fields: Any) -> None:
        """Set ``fields`` in ``run.json`` (e.g. ``status="finished"``)."""
        doc = json.loads(self.meta_path.read_text())
        doc.update(fields)
        self.write_meta(doc)

    def read_metrics(self) -> list[dict[str, Any]]:
        """All records of ``metrics.jsonl`` (a torn last line from a kill is skipped)."""
        if not self.metrics_path.is_file():
            return []
        out = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    @property
    def status(self) -> str:
        """``running``, ``finished``, ``stopped`` (a step budget ended it early), ``interrupted`` (Ctrl-C, or the
        process is gone: a kill leaves ``running`` in ``run.json`` with a dead pid) or ``failed`` (an error)."""
        meta = self.meta
        status = meta.get("status", "unknown")
        if status == "running" and not process_alive(meta.get("pid"), meta.get("host")):
            return "interrupted"
        return status

    def mark_running(self) -> None:
        """``status: running`` with this process's id and host, so ``status`` can tell a killed run."""
        self.update_meta(status="running", pid=os.getpid(), host=socket.gethostname())

    def truncate_metrics(self, step: int, drop_val_at_step: bool = False) -> int:
        """Drop the ``metrics.jsonl`` records of steps after ``step`` (the step a resume continues from), so the
        log never holds two records of one step after a fallback to an older checkpoint; returns how many.
        ``drop_val_at_step``: also drop the val record of ``step`` itself (the validation a ``trainer.max_steps``
        stop made inside an epoch, which that epoch's own end replaces once the run goes on)."""
        if not self.metrics_path.is_file():
            return 0
        lines = self.metrics_path.read_text().splitlines()
        keep = []
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a torn last line from a kill
                continue
            at = int(rec.get("step", 0))
            if at < step or (at == step and not (drop_val_at_step and rec.get("split") == "val")):
                keep.append(line)
        if len(keep) != len(lines):
            tmp = self.metrics_path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(f"{ln}\n" for ln in keep))
            tmp.replace(self.metrics_path)
        return len(lines) - len(keep)

    # ------------------------------------------------------------ checkpoints
    @property
    def checkpoints(self) -> list[Path]:
        """Step checkpoints, oldest first."""
        return step_checkpoints(self.checkpoints_dir)

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints_dir / step_name(step)

    @property
    def best_path(self) -> Path:
        return self.checkpoints_dir / BEST

    def newest_checkpoint(self, tensors: bool = True) -> Checkpoint:
        """The newest step checkpoint that reads cleanly: where ``resume`` continues from. ``tensors=False``
        reads headers only."""
        return latest_good(self.checkpoints_dir, tensors)

    def checkpoint(self, which: str = "best", tensors: bool = True) -> Checkpoint:
        """``best`` (falls back to the newest readable one when no validation ran), ``last`` (the newest readable
        one), or a checkpoint file name in ``checkpoints/`` or a path."""
        if which == "last":
            return self.newest_checkpoint(tensors)
        if which == "best":
            if not self.best_path.is_file():
                return self.newest_checkpoint(tensors)
            try:
                return read_checkpoint(self.best_path, tensors)
            except CheckpointError as e:  # say so: the numbers that follow are not the best model's
                warnings.warn(f"{e}; using the newest readable checkpoint instead of best",
                              CheckpointFallbackWarning, stacklevel=user_stacklevel())
                return self.newest_checkpoint(tensors)
        p = Path(which)
        return read_checkpoint(p if p.is_file() else self.checkpoints_dir / which, tensors)

    # ------------------------------------------------------------ outputs of evaluate / traverse / interpolate
    def evaluation(self, split: str = "test", data: str | None = None) -> EvaluationFiles:
        """The files of ``evaluate`` on ``split`` of the run's data, or of other ``data`` (a name or a path)."""
        suffix = f"-{Path(data).stem}-{split}" if data is not None else ("" if split == "test" else f"-{split}")
        return EvaluationFiles(self.evaluation_dir, suffix)

    def evaluations(self) -> list[EvaluationFiles]:
        """The evaluations on disk: the test split's first, then the others by name."""
        found = [self.evaluation()] if self.evaluation().json.is_file() else []
        if self.evaluation_dir.is_dir():
            found += [EvaluationFiles(self.evaluation_dir, p.stem[len("evaluation"):])
                      for p in sorted(self.evaluation_dir.glob("evaluation-*.json"))]
        return found

    def traversal(self, mode: str, inputs: list[int] | None = None) -> TraversalFiles:
        """The folder of a traversal in ``mode`` from the prior mean or from the codes of ``inputs``."""
        start = "prior-mean" if not inputs else "input-" + "-".join(map(str, inputs))
        return TraversalFiles(self.traversals_dir / f"{mode}-{start}")

    def traversals(self) -> list[TraversalFiles]:
        """The traversals on disk (those with an overview picture), by folder name."""
        return [TraversalFiles(p.parent) for p in sorted(self.traversals_dir.glob("*/overview.png"))]

    def interpolation(self, start: int, end: int, path: str) -> Path:
        return self.interpolations_dir / f"{start}-{end}-{path}.png"

    def interpolations(self) -> list[Path]:
        return sorted(self.interpolations_dir.glob("*.png"))

    def embedding_codes(self, data: str, split: str) -> Path:
        """Default file of ``shadowplay embed``'s codes of ``split`` of ``data`` (a source name or a path, named by
        its stem: a run trained on ``/abs/wine.csv`` writes ``codes-wine-test.npy``, not a nested folder)."""
        return self.embeddings_dir / f"codes-{Path(data).stem}-{split}.npy"

    def embedding_map(self, method: str, data: str, split: str) -> Path:
        """Default picture of ``shadowplay embed --map method`` (``data`` named by its stem, as above)."""
        return self.embeddings_dir / f"map-{method}-{Path(data).stem}-{split}.png"


def process_alive(pid: Any, host: Any) -> bool:
    """Whether process ``pid`` still runs; ``True`` when that cannot be told (no pid, or another host)."""
    if not isinstance(pid, int) or host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _is_run(path: Path) -> bool:
    folder = RunFolder(path)
    return folder.meta_path.is_file() and folder.config_path.is_file()


def enclosing_run(path: str | Path) -> Path | None:
    """The run folder that holds the file ``path`` (``runs/r/config.yaml``, ``runs/r/checkpoints/x``), or None."""
    return next((parent for parent in list(Path(path).parents)[:2] if _is_run(parent)), None)


def _not_a_folder(p: Path) -> CheckpointError:
    """Why ``p``, which is not a folder, is not a run: a file inside a run (name the run), or missing (name the
    closest run beside it, as ``--data`` names the closest source)."""
    if p.exists():
        run = enclosing_run(p)
        if run is not None:
            return CheckpointError(f"{str(p)!r} is a file inside the run folder {str(run)!r}; give the run folder "
                                   f"itself: {run}")
        return CheckpointError(f"{str(p)!r} is a file, not a run folder; give the folder `shadowplay train` "
                               "created, e.g. runs/<name>")
    parent = p.parent if str(p.parent) else Path(".")
    runs = sorted(q.name for q in parent.iterdir() if _is_run(q)) if parent.is_dir() else []
    close = difflib.get_close_matches(p.name, runs, n=1)
    hint = f"; did you mean {str(parent / close[0])!r}?" if close else ""
    return CheckpointError(f"run folder {str(p)!r} does not exist{hint}")


def open_run(run: str | Path | Any) -> RunFolder:
    """A run folder checked and read (``config``, ``meta``), or ``CheckpointError`` saying why it is not one.
    ``run`` is a path or the ``Run`` that ``shadowplay.train`` returns."""
    folder = RunFolder(run)
    p = folder.path
    if not p.is_dir():
        raise _not_a_folder(p)
    if not folder.meta_path.is_file() or not folder.config_path.is_file():
        raise CheckpointError(f"{str(p)!r} is not a shadowplay run folder (no run.json/config.yaml); "
                              "give the folder `shadowplay train` created, e.g. runs/<name>")
    folder.meta, folder.config  # read both now, so a damaged file is reported here  # noqa: B018
    return folder


def check_new_run(runs_dir: str | Path, name: str, overwrite: bool) -> Path:
    """``runs_dir/name`` if :func:`create_run` may make it (nothing is touched); else the error it would raise. The
    ``--nproc`` launcher asks before starting processes that would each fail on it."""
    path = Path(runs_dir) / name
    if path.exists():
        if not overwrite:
            raise ShadowplayError(f"run folder {str(path)!r} already exists; pick another --name, resume it with "
                                  f"`shadowplay resume {path}`, or pass --overwrite to replace it")
        if not RunFolder(path).meta_path.is_file() and any(path.iterdir()):
            raise ShadowplayError(f"{str(path)!r} exists and is not a shadowplay run; refusing to delete it")
    return path


def create_run(runs_dir: str | Path, name: str, overwrite: bool) -> RunFolder:
    """A new, empty run folder ``runs_dir/name`` (an existing run is replaced only with ``overwrite``)."""
    path = check_new_run(runs_dir, name, overwrite)
    if path.exists():  # overwrite of a run (check_new_run refused everything else)
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return RunFolder(path)


def default_name(preset: str, source: str) -> str:
    stem = Path(source).stem if ("/" in source or "." in source) else source
    return f"{preset}-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
