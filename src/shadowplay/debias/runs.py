"""Run-level debiasing functions: train a DB-VAE (or its baselines), audit a run's classifier, compare runs.

They build on ``shadowplay.workflow`` (train a config, load a model, load a run's data), never on ``shadowplay.api``.

>>> import shadowplay as sp
>>> run = sp.debias.train(data="biased-fmnist", rare_fraction=0.005, alpha=0.3, combine="product")  # doctest: +SKIP
>>> sp.debias.audit_run(run.path, groups="group").table()                                      # doctest: +SKIP

Files written into the run folder (``debias/``): ``weights.png`` (the training inputs with the highest and lowest
sampling weight of the last epoch), ``weights.json`` (those weights summarized: effective number of inputs, each
group's share of the draws against its share of the inputs; ``draws.py``), ``audit-<split>[-<groups>][-by-<sensitive>]
.json|.md|.png`` (one audit; the suffixes name a grouping other than ``group`` and an attribute given by
``sensitive``; ``--groups latent`` on pictures adds ``-clusters.png``, a row of inputs per cluster). ``compare``
writes ``compare.md`` and ``compare.png`` into ``out``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import yaml

from ..config import DEBIAS_PRESETS, DebiasConfig, RunConfig, load_config, parse_overrides, set_keys
from ..errors import DebiasError
from ..jsonsafe import json_safe
from ..data import Dataset
from ..run import open_run
from ..training import Callback, check_weight_options, posterior_means
from ..workflow import Run, load_model, load_splits, run_splits, train_run
from .audit import AuditResult, _decide, audit, latent_clusters
from .comparison import Answers, Comparison, compare_table, worst_group_test
from .draws import DrawSummary, summarize_draws, warn_if_concentrated
from .figures import audit_chart, save_cluster_examples, save_figure, save_weight_extremes


def _file_value(config: str | Path | None, section: str, key: str) -> Any:
    """The value a YAML config file itself sets for ``section.key`` (``None`` when it sets none, or no file):
    unlike the loaded :class:`RunConfig`, this tells a value the user wrote from a default."""
    if config is None or not Path(config).is_file():
        return None
    try:
        raw = yaml.safe_load(Path(config).read_text()) or {}
    except yaml.YAMLError:
        return None  # load_config reports it
    part = raw.get(section) if isinstance(raw, dict) else None
    return part.get(key) if isinstance(part, dict) else None


def train(config: str | Path | None = None, *, data: str | None = None, model: str | None = None,
          debias_class: int | None = None, resample: str | None = None, bins: int | None = None,
          alpha: float | None = None, combine: str | None = None, rare_fraction: float | None = None,
          positive_classes: Sequence[int] | None = None, latent_dim: int | None = None, epochs: int | None = None,
          net: str | None = None, data_dir: str | None = None, device: str | None = None, seed: int | None = None,
          overrides: list[str] | dict[str, Any] | None = None, runs_dir: str | Path = "runs",
          name: str | None = None, overwrite: bool = False, progress: bool = True) -> Run:
    """Train a DB-VAE (``model="dbvae"``) or a baseline (``model="classifier"``) and write a run folder.

    ``model``: ``None`` keeps the config file's ``model.preset``, else ``dbvae``. ``resample``: ``latent`` (DB-VAE's
    histograms; the default for ``dbvae``), ``groups`` (the oracle: balance the true groups; needs a source with
    groups) or ``none`` (the default for ``classifier``); ``None`` keeps the config file's ``debias.resample`` when
    it sets one. ``bins``, ``alpha``, ``combine`` (they act with ``latent`` only) and ``debias_class`` set the
    ``debias.*`` keys, ``rare_fraction`` and ``positive_classes`` the ``data.*`` keys of ``biased-fmnist`` (other
    sources refuse them); ``None`` keeps the config's value. Without a config, ``data`` defaults to
    ``biased-fmnist``.
    """
    if data is None and config is None:
        data = "biased-fmnist"
    if bins is not None or alpha is not None or combine is not None:  # fail before loading anything
        d = DebiasConfig()
        check_weight_options(d.bins if bins is None else bins, d.alpha if alpha is None else alpha,
                             combine or d.combine)
    if rare_fraction is not None and not 0.0 < rare_fraction < 1.0:
        raise DebiasError(f"rare_fraction must lie strictly between 0 and 1, got {rare_fraction}")
    model = model or _file_value(config, "model", "preset") or "dbvae"
    if model not in DEBIAS_PRESETS:
        raise DebiasError(f"debias train trains one of the presets {', '.join(DEBIAS_PRESETS)}, got {model!r}; "
                          "train other models with `shadowplay train`")
    resample = resample or _file_value(config, "debias", "resample") or ("latent" if model == "dbvae" else "none")
    if resample != "latent" and (bins is not None or alpha is not None or combine is not None):
        raise DebiasError(f"bins, alpha and combine shape the latent histograms of resample='latent'; with "
                          f"resample={resample!r} (model {model}) they would do nothing: drop them or resample "
                          "latent")
    keys = {"debias.debias_class": debias_class, "debias.resample": resample, "debias.bins": bins,
            "debias.alpha": alpha, "debias.combine": combine, "data.rare_fraction": rare_fraction,
            "data.positive_classes": list(positive_classes) if positive_classes is not None else None}
    keys.update({"data.source": data, "model.preset": model, "model.latent_dim": latent_dim,
                 "trainer.epochs": epochs, "model.net": net, "data.data_dir": data_dir, "trainer.device": device,
                 "trainer.seed": seed})
    cfg = set_keys(load_config(config), {k: v for k, v in keys.items() if v is not None})
    if overrides:  # applied last, as in sp.train
        cfg = set_keys(cfg, parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides))
    if cfg.data.source != "biased-fmnist" and (rare_fraction is not None or positive_classes is not None):
        raise DebiasError(f"rare_fraction and positive_classes plant the bias of biased-fmnist; the source "
                          f"{cfg.data.source!r} has its own labels and groups, so drop them")
    return train_writing_weights(cfg, runs_dir=runs_dir, name=name, overwrite=overwrite, progress=progress)


def train_writing_weights(cfg: RunConfig, *, runs_dir: str | Path, name: str | None, overwrite: bool,
                          progress: bool, callbacks: Iterable[Callback] = ()) -> Run:
    """``train_run(cfg)``, then, for a run that resamples (``debias.resample`` not ``none``), ``debias/weights.*``
    from the weights its last epoch was drawn with (:func:`write_weights`), the data loaded once for both. Under
    torchrun rank 0 alone writes the files. ``debias train`` and ``sp.train`` (``shadowplay train``) train this way."""
    weights = cfg.debias.resample != "none" and os.environ.get("RANK", "0") == "0"
    splits = load_splits(cfg) if weights else None
    run = train_run(cfg, splits=splits, in_memory=False, runs_dir=runs_dir, name=name, overwrite=overwrite,
                    progress=progress, callbacks=callbacks)
    if weights:
        write_weights(run, splits.train)
    return run


def write_weights(run: str | Path | Run, train: Dataset | None = None) -> DrawSummary | None:
    """Write ``debias/weights.png`` and ``weights.json`` of ``run`` from its newest checkpoint's sampling weights
    (those its last epoch was drawn with) over the debiased class, and warn when they are concentrated
    (:func:`~shadowplay.debias.draws.warn_if_concentrated`). ``train``: the run's training split when the caller
    holds it (else read from the run's data). :func:`train` calls it, and so does ``sp.resume`` (``shadowplay
    resume``) after continuing a run that resamples, so the files describe the run's final weights. Returns the
    summary, or ``None`` (nothing written) for a run without resampling weights."""
    folder = open_run(run)
    weights = folder.checkpoint("last").tensors.get("data/sample_weights")
    if weights is None:
        return None
    cfg = folder.config
    train = train if train is not None else run_splits(folder).train
    mask = train.labels == cfg.debias.debias_class
    out = folder.debias_dir
    stats = train.meta.get("standardize") or {}  # a CSV's header names its feature columns
    save_weight_extremes(out / "weights.png", train.x[mask], weights[mask], columns=stats.get("columns"),
                         standardized="mean" in stats)
    draws = summarize_draws(weights[mask], cfg.debias.debias_class,
                            None if train.groups is None else train.groups[mask], train.meta.get("group_names"))
    (out / "weights.json").write_text(json.dumps(json_safe(draws.as_dict()), indent=2))
    warn_if_concentrated(draws, cfg.debias.resample)
    return draws


def _factor(ds, name: str) -> tuple[np.ndarray, list[str] | None]:
    """Values ``(N,)`` of factor ``name`` and the names the source gives them (``meta["factor_value_names"]``)."""
    return ds.factors[:, ds.factor_names.index(name)].numpy(), ds.meta.get("factor_value_names", {}).get(name)


def _groups_of(ds, groups: str | None) -> tuple[np.ndarray | None, list[str] | None]:
    """Group ids ``(N,)`` and names of a split: ``group`` (the source's groups), a factor name, or ``latent``."""
    if groups in (None, "latent"):
        return None, None
    if groups == "group":
        if ds.groups is None:
            raise DebiasError(f"{ds.name} has no groups; use --groups latent (k-means clusters of the codes) or a "
                              f"factor name ({', '.join(ds.factor_names) or 'none here'})")
        return ds.groups.numpy(), ds.meta.get("group_names")
    if groups in ds.factor_names:
        return _factor(ds, groups)
    raise DebiasError(f"unknown grouping {groups!r}; choose group, latent or a factor name "
                      f"({', '.join(ds.factor_names) or 'this source has none'})")


def _sensitive_of(ds, name: str | None = None) -> tuple[np.ndarray | None, list[str] | None, str | None]:
    """The sensitive attribute ``name`` (a factor name, or ``group`` for the source's groups), else the one the
    source declares (``meta["sensitive"]``: ``inverted`` for ``biased-fmnist``), as values, value names and name;
    all ``None`` when neither is there (the audit then compares the groups)."""
    if name is None:
        name = ds.meta.get("sensitive")
        if name is None or name not in ds.factor_names:
            return None, None, None
    elif name == "group":
        if ds.groups is None:
            raise DebiasError(f"{ds.name} has no groups to use as the sensitive attribute; choose a factor name "
                              f"({', '.join(ds.factor_names) or 'this source has none'})")
        return ds.groups.numpy(), ds.meta.get("group_names"), "groups"
    elif name not in ds.factor_names:
        raise DebiasError(f"unknown sensitive attribute {name!r}; choose group or a factor name "
                          f"({', '.join(ds.factor_names) or 'this source has none'})")
    return (*_factor(ds, name), name)


def audit_stem(split: str = "test", groups: str = "group", sensitive: str | None = None) -> str:
    """File stem of an audit in ``debias/``: ``audit-<split>[-<groups>][-by-<sensitive>]``."""
    stem = f"audit-{split}" if groups == "group" else f"audit-{split}-{groups}"
    return stem if sensitive is None else f"{stem}-by-{sensitive}"


@torch.no_grad()
def predict(model, x: torch.Tensor, chunk: int = 1024) -> np.ndarray:
    """Class probabilities: ``(N,)`` P(y = 1) for a one-logit head, ``(N, K)`` softmax otherwise."""
    logits = torch.cat([model.classify(part) for part in x.split(chunk)]).double()
    return (torch.sigmoid(logits[:, 0]) if logits.shape[1] == 1 else torch.softmax(logits, 1)).cpu().numpy()


def audit_run(run: str | Path | Run, groups: str = "group", split: str = "test", checkpoint: str = "last",
              n_clusters: int = 8, seed: int = 0, sensitive: str | None = None) -> AuditResult:
    """Audit the classifier of a run on ``split``; writes ``debias/audit-<split>.json|.md|.png`` into the run.

    ``groups``: ``group`` (the source's group ids, e.g. class × inverted for ``biased-fmnist``), a factor name
    (``inverted``), or ``latent`` (k-means clusters of the posterior means, for data without groups). The fairness
    gaps compare the sensitive attribute the source declares (``biased-fmnist``: ``inverted``, original vs
    inverted) whatever the grouping, or ``sensitive`` (a factor name, or ``group``: e.g. an ``.npz``'s named
    ``factors``, a CSV's ``data.group_column`` while grouping by ``latent``); with neither, they compare the groups.
    """
    return _audit(run, groups, split, checkpoint, n_clusters, seed, sensitive)[0]


def _audit(run: str | Path | Run, groups: str, split: str, checkpoint: str, n_clusters: int, seed: int,
           sensitive: str | None) -> tuple[AuditResult, Answers | None]:
    """:func:`audit_run`, and what the classifier got right input by input (``None`` for latent clusters, which
    belong to this run alone), for :func:`compare`'s tests."""
    folder = open_run(run)
    path = folder.path
    model = load_model(path, checkpoint)
    if not model.head_dim:  # before the data: no grouping option can help a model that makes no predictions
        raise DebiasError(f"{path} has no classifier (preset {folder.config.model.preset}); the audit needs a run of "
                          "`shadowplay debias train` (--model dbvae or classifier)")
    ds = run_splits(folder).get(split)
    if ds.labels is None:
        raise DebiasError(f"split {split!r} of {folder.config.data.source} has no labels to audit against")
    g, names = _groups_of(ds, groups)
    attribute, sensitive_names, sensitive_name = _sensitive_of(ds, sensitive)
    codes = posterior_means(model, ds.x).cpu().numpy() if g is None else None
    probabilities, labels, positive = predict(model, ds.x), ds.labels.numpy(), folder.config.debias.debias_class
    result = audit(probabilities, labels, g, codes=codes, n_clusters=n_clusters, group_names=names,
                   sensitive=attribute, sensitive_names=sensitive_names, sensitive_name=sensitive_name,
                   positive=positive, seed=seed)
    out = folder.debias_dir
    out.mkdir(exist_ok=True)
    stem = audit_stem(split, groups, sensitive)  # one file set per grouping and attribute
    (out / f"{stem}.json").write_text(json.dumps(json_safe(result.as_dict()), indent=2))
    (out / f"{stem}.md").write_text(result.table() + "\n")
    if g is None:  # which inputs are in "cluster 5"? the same seeded k-means as the audit's, shown as pictures
        save_cluster_examples(out / f"{stem}-clusters.png", ds.x, latent_clusters(codes, n_clusters, seed), result,
                              seed=seed)
    save_figure(audit_chart({path.name: result}, f"{path.name}: accuracy per group ({split})"),
                out / f"{stem}.png")
    if g is None:
        return result, None
    hard = _decide(probabilities, labels, positive)[0]  # the class ids the audit scored
    return result, Answers.of(hard == labels, g, ds.x.numpy(), labels)


def compare(runs: Sequence[str | Path | Run], groups: str = "group", split: str = "test", checkpoint: str = "last",
            out: str | Path | None = None, sensitive: str | None = None) -> Comparison:
    """Audit every run the same way; write a side-by-side table ``compare.md`` and bar chart ``compare.png`` into
    ``out`` (default: ``debias-compare/`` beside the first run). Returns a :class:`Comparison`: the audits by run
    name, and each later run's test of its worst-group accuracy against the first run's (exact McNemar on the same
    inputs, else a permutation test; ``comparison.py``), shown in the table's ``worst-group p`` column. ``groups``
    and ``sensitive`` as for :func:`audit_run`, except ``latent`` for several runs (their clusters come from
    different encoders)."""
    if len(runs) < 1:
        raise DebiasError("compare needs at least one run folder")
    if groups == "latent" and len(runs) > 1:  # k-means of each run's own codes: cluster k differs between runs
        raise DebiasError("--groups latent clusters each run's own codes, so cluster k of one run is not cluster k "
                          "of another and their bars would not compare; compare on group or a factor name, and "
                          "audit each run with --groups latent")
    paths = [Path(r.path if isinstance(r, Run) else r) for r in runs]
    if len({p.name for p in paths}) < len(paths):  # the table's rows are named by the folders' names
        raise DebiasError(f"compare names each run by its folder name, and {', '.join(str(p) for p in paths)} "
                          "repeat one; give each run once (or rename a folder)")
    done = {p.name: _audit(p, groups, split, checkpoint, 8, 0, sensitive) for p in paths}
    audits = {name: a for name, (a, _) in done.items()}
    reference, (ref_audit, ref_answers) = next(iter(done.items()))
    tests = {name: worst_group_test(name, a, answers, reference, ref_audit, ref_answers)
             for name, (a, answers) in list(done.items())[1:]}
    comparison = Comparison(audits, tests)
    out = compare_dir(paths, out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(compare_table(comparison) + "\n")
    save_figure(audit_chart(audits, f"accuracy per group ({split})"), out / "compare.png")
    return comparison


def compare_dir(runs: Sequence[str | Path | Run], out: str | Path | None = None) -> Path:
    """Where :func:`compare` writes: ``out``, or ``debias-compare/`` beside the first run."""
    first = runs[0].path if isinstance(runs[0], Run) else runs[0]
    return Path(out) if out is not None else Path(first).parent / "debias-compare"
