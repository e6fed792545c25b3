"""Command-line interface: argument parsing only. Each subcommand calls one function of ``shadowplay.api``.

One road per option: every option's destination is a keyword of the command's API function with the same name
(``--batch-size`` → ``train(batch_size=)``; ``tests/test_cli_api_parity.py`` walks every subcommand to check it).
Options default to "not given" (``argparse.SUPPRESS``), so the API's defaults are the only ones; the help text
shows them by reading the function's signature (and, for ``train``, ``shadowplay.config``). Choice lists come from
the modules that own them.

Errors: the library's own errors (``ShadowplayError``) and file errors are the user's: one line ``error: ...``, exit
status 2 (the traceback with ``--debug``, before or after the subcommand). Anything else is a bug in shadowplay:
the traceback is printed with a line saying so, exit status 1.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import json
import os
import re
import sys
import textwrap
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn

from . import api, debias
from ._version import __version__
from .config import RunConfig, unused_options
from .data import SPLITS
from .data.registry import source_names
from .distributions import LIKELIHOODS
from .errors import ConfigError, ShadowplayError, ShadowplayWarning
from .evaluation import PATHS, RANGE_MODES
from .evaluation.codes import MAP_METHODS
from .metrics import METRIC_NAMES
from .metrics.guide import describe as describe_metric
from .nets import NETS, pick_net
from .outliers import SCORE_NAMES as SCORES
from .run import RunFolder
from .training.precision import PRECISIONS

FILE_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)
USER_ERRORS = (ShadowplayError, *FILE_ERRORS)
# Options that only shape what the CLI prints; they are not keywords of the API function.
CLI_ONLY = {"json"}
_INTERNAL = {"api", "show", "command", "debias_command", "debug"}


def _default_text(fn: Callable, dest: str) -> str:
    """`` (default X)`` from ``fn``'s signature, or for ``train``'s config keywords from ``shadowplay.config``."""
    if fn is api.train and dest in api.TRAIN_KEYS:
        section, key = api.TRAIN_KEYS[dest].split(".")
        value = getattr(getattr(RunConfig(), section), key)
    else:
        param = inspect.signature(fn).parameters.get(dest)
        value = None if param is None else param.default
    if value is None or value is inspect.Parameter.empty or isinstance(value, bool):
        return ""
    return f" (default {value})"


class _Command:
    """One subcommand: its parser, the API function it calls and how its result is shown."""

    def __init__(self, sub: argparse._SubParsersAction, name: str, fn: Callable, show: Callable[[Any, Any], int],
                 **parser_kw: Any):
        self.fn = fn
        if "help" in parser_kw and "description" not in parser_kw:  # `shadowplay info --help` says what info does
            text = parser_kw["help"].replace("%%", "%")  # help strings are %-formatted, descriptions are not
            parser_kw["description"] = text[0].upper() + text[1:] + "."
        self.p = sub.add_parser(name, argument_default=argparse.SUPPRESS, **parser_kw)
        self.p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show tracebacks (also accepted before the command)")
        self.p.set_defaults(api=fn, show=show)

    def arg(self, *flags: str, help: str = "", **kw: Any) -> "_Command":
        dest = kw.get("dest") or (flags[0] if not flags[0].startswith("-") else
                                  max(flags, key=len).lstrip("-").replace("-", "_"))
        self.p.add_argument(*flags, help=help + _default_text(self.fn, dest), **kw)
        return self

    def run(self) -> "_Command":
        return self.arg("run", help="run folder (written by `shadowplay train`)")

    def checkpoint(self) -> "_Command":
        return self.arg("--checkpoint", help="best | last | a checkpoint file name")

    def split(self, what: str = "split to use") -> "_Command":
        return self.arg("--split", choices=SPLITS, help=what)

    def no_progress(self) -> "_Command":
        return self.arg("--no-progress", dest="progress", action="store_false", help="no progress bar")

    def new_run(self, name_help: str = "run folder name") -> "_Command":
        """The options of a command that writes a new run folder: where, its name, overwrite, progress bar."""
        self.arg("--runs-dir", help="parent folder of run folders").arg("--name", help=name_help)
        self.arg("--overwrite", action="store_true", help="replace an existing run folder of the same name")
        return self.no_progress()


# ------------------------------------------------------------------ what each command prints
def _stop_note(run: api.Run) -> str:
    """`` of E (stopped by trainer.max_steps=S; …)`` for a run that ended before its last epoch, which only
    ``trainer.max_steps`` does ("epochs 0 (stopped early)" said neither why nor how to go on), else nothing."""
    r, t = run.result, run.config.trainer
    if r.finished:
        return ""
    return (f" of {t.epochs} (stopped by trainer.max_steps={t.max_steps}; `shadowplay resume {run.path} "
            "trainer.max_steps=none` trains on)")


def _show_run(run: api.Run, a: argparse.Namespace) -> int:
    if os.environ.get("RANK", "0") != "0" or (os.environ.get("RANK") and os.environ.get("SHADOWPLAY_NPROC")):
        return 0  # under torchrun rank 0 reports for all; under `--nproc` the launching process does
    r = run.result
    # scalars only: a vector diagnostic (kl_per_latent/0 … /L−1) is summarized by the `latents:` line below
    val = ", ".join(f"{k} {v:.3f}" for k, v in r.val_metrics.items() if "/" not in k)
    folder = RunFolder(run)
    print(f"run folder: {run.path}")
    print(f"  steps {r.step}, epochs {r.epoch}{_stop_note(run)}; validation: {val or '-'}")
    meta = folder.meta if folder.meta_path.is_file() else {}
    world, comp = meta.get("world_size", 1), meta.get("compile") or {}
    if run.config.trainer.precision != "fp32" or world > 1 or comp.get("compiled"):  # the speed-ups that took effect
        print(f"  trained in {run.config.trainer.precision}" + (", compiled" if comp.get("compiled") else "")
              + (f" on {world} processes (DDP)" if world > 1 else ""))
    if comp.get("fallback"):  # asked for but not done: config.yaml still says compile: true
        print(f"  not compiled: torch.compile failed ({comp['fallback']}); trained eagerly")
    if folder.samples_path.exists():  # not for a classifier alone (no decoder trained)
        print(f"  samples: {folder.samples_path}   reconstructions: {folder.reconstructions_path}")
    _show_latents(run.latents or {}, run.warnings)
    return 0


def _show_latents(lat: dict[str, Any], warns: Iterable[str]) -> None:
    """The ``latents:`` line of a training run's latent check and its collapse warnings."""
    if lat:
        kl = "" if lat.get("kl_total") is None else f", KL {lat['kl_total']:.3g} nats per input"
        print(f"  latents: {lat['n_active']} of {lat['latent_dim']} active{kl}")
    for w in warns:  # the model may have learned nothing: say so where the user looks
        print(f"warning: {w}")


def _show_picture(attr: str) -> Callable[[Any, argparse.Namespace], int]:
    def show(result: Any, a: argparse.Namespace) -> int:
        print(getattr(a, "out", None) or getattr(RunFolder(a.run), attr))  # the API's default when -o is not given
        return 0
    return show


def _status_note(i: api.RunInfo) -> str:
    if i.status == "interrupted":
        return "; `shadowplay resume` continues it"
    if i.status == "failed":
        return f": {i.meta.get('error', '?')}"
    return ""


def _show_info(i: api.RunInfo, a: argparse.Namespace) -> int:
    if getattr(a, "json", False):
        print(json.dumps({"path": str(i.path), "status": i.status, "config": i.config, "run": i.meta,
                          "step": i.step, "epoch": i.epoch,
                          "last_train": i.last_train, "last_val": i.last_val, "checkpoints": i.checkpoints},
                         indent=2, default=str))
        return 0
    fmt = lambda d: ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"  # noqa: E731
                              for k, v in d.items() if k not in ("time", "split"))
    print(f"run      {i.path}  ({i.status}{_status_note(i)})")
    print(f"model    {i.config['model']['preset']}, latent_dim {i.config['model']['latent_dim']}, "
          f"data {i.config['data']['source']} {tuple(i.meta.get('data', {}).get('shape', []))}")
    print(f"progress step {i.step}, epoch {i.epoch}/{i.config['trainer']['epochs']}")
    print(f"train    {fmt(i.last_train) or '-'}")
    print(f"val      {fmt(i.last_val) or '-'}")
    print(f"ckpts    {', '.join(i.checkpoints) or '-'}")
    lat = i.meta.get("latents")
    if lat:  # written at the end of training: did the model learn to use z?
        kl = "" if lat.get("kl_total") is None else f", KL {lat['kl_total']:.3g} nats per input"
        print(f"latents  {lat['n_active']} of {lat['latent_dim']} active{kl}"
              f"{' (posterior collapse: the model ignores z)' if lat.get('collapsed') else ''}")
        for w in lat.get("warnings", []):
            print(f"warning: {w}")
    shape = tuple(i.meta.get("data", {}).get("shape", []))
    try:  # the net the run was built with (model.net may say "auto")
        net = pick_net(shape, i.config["model"].get("net", "auto")) if shape else None
    except ConfigError:
        net = None
    hidden = set(unused_options(i.config, net))
    print("config:")
    left_out = []
    for section, values in i.config.items():
        shown = [f"{k}={v}" for k, v in values.items() if f"{section}.{k}" not in hidden]
        if section == "trainer" and values.get("lr") is None and i.meta.get("lr") is not None:
            shown = [f"lr=None (the preset's {i.meta['lr']:g})" if s == "lr=None" else s for s in shown]
        if shown:
            print(f"  {section}: " + ", ".join(shown))
        dropped = [f"{section}.{k}" for k in values if f"{section}.{k}" in hidden]
        left_out += dropped if shown or not dropped else [f"{section}.*"]
    if left_out:
        print(f"  (not read by this run, left out: {', '.join(left_out)}; --json shows the whole config)")
    return 0


def _show_presets(presets: dict[str, str], a: argparse.Namespace) -> int:
    for name, doc in presets.items():
        print(f"{name:14s} {doc}")
    return 0


def _show_study(res: Any, a: argparse.Namespace) -> int:
    width = max(map(len, res.files), default=0)
    for kind, path in res.files.items():
        print(f"{kind:{width}s} {path}")
    for r in res.failed:
        print(f"failed: {r.run.name}: {r.error}", file=sys.stderr)
    return 1 if res.failed else 0


def _show_evaluation(ev: api.Evaluation, a: argparse.Namespace) -> int:
    d, lk = ev.document, ev.document["likelihood"]
    rows = "all rows" if d["split"] == "all" else f"{d['split']} split"
    print(f"scored {d['n_inputs']:,} rows of {Path(d['source']).name} ({rows}), K = {d['iw_samples']}, checkpoint "
          f"{d['checkpoint']} ({d['inputs_per_s']:,.0f} inputs/s on {d['device']})")
    rows = [("ELBO", "elbo", "nats"), ("  reconstruction E_q[log p(x|z)]", "recon_ll", "nats"),
            ("  KL(q(z|x) || p(z))", "kl", "nats"), (f"log p(x), IWAE K={d['iw_samples']}", "log_px", "nats"),
            ("bits per dimension", "bits_per_dim", ""), ("reconstruction error sum (x-x^)^2", "recon_sq_error", "")]
    print("  (mean per input ± standard error)")
    for label, key, unit in rows:
        if key in lk and lk[key] is None:  # an inf or NaN among the inputs (JSON null); the warnings say which
            print(f"  {label:36s} {'not finite':>12s}")
        elif key in lk:
            print(f"  {label:36s} {lk[key]:12.4f} ± {lk[key + '_sem']:#.3g} {unit}".rstrip())
    dg = d["diagnostics"]
    print(f"  {'active units':36s} {dg['n_active']:12d} / {len(dg['active'])}")
    for w in dg["warnings"]:
        print(f"warning: {w}")
    for n in dg.get("notes", []):
        print(f"note: {n}")
    if d.get("note"):
        print(f"note: {d['note']}")
    n_factors = len((d.get("mi_matrix") or {}).get("factor_names") or []) or None
    for name, r in (d.get("metrics") or {}).items():
        vals = [f"{k} {v:.3f}" for k, v in r.items() if isinstance(v, float) and k != "prune_threshold"
                and "train" not in k]
        print(f"  {name:36s} {', '.join(vals)}")
        for line in ([describe_metric(name, n_factors)] + ([f"note: {r['note']}"] if r.get("note") else [])):
            print(textwrap.fill(line, 116, initial_indent="      ", subsequent_indent="      "))
    if d.get("metrics_note"):
        print(f"note: {d['metrics_note']}")
    for f in ev.files:
        print(f)
    return 0


def _show_traversal(res: api.TraversalResult, a: argparse.Namespace) -> int:
    print(f"dimensions by KL: {', '.join(map(str, res.traversal.dims))}")
    for key in ("overview", "gif"):
        if key in res.files:
            print(res.files[key])
    return 0


def _show_path(result: Any, a: argparse.Namespace) -> int:
    print(getattr(result, "path", result))
    return 0


# ------------------------------------------------------------------ the commands
def _add_commands(sub: argparse._SubParsersAction) -> None:
    c = _Command(sub, "train", api.train, _show_run, help="train a model and write a run folder",
                 description="Train a model. Flags set common config keys; `section.key=value` overrides "
                             "(e.g. trainer.lr=3e-4 model.latent_dim=16) are applied last.")
    c.arg("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. trainer.lr=3e-4")
    c.arg("--config", help="YAML config file (sections data, model, objective, trainer)")
    c.arg("--data", help=f"{' | '.join(source_names())} | a .npy/.npz/.csv file | an image folder")
    c.arg("--data-dir", help="folder of the data files (Fashion-MNIST IDX files)")
    c.arg("--model", help="preset: ae, vae, beta_vae, annealed_vae, ... (see `shadowplay presets`)")
    c.arg("--latent-dim", type=int, help="number of latent dimensions")
    c.arg("--net", choices=("auto", *NETS), help="encoder/decoder family; auto picks conv for 28/32/64-px images")
    c.arg("--likelihood", choices=("auto", *LIKELIHOODS), help="decoder distribution p(x|z)")
    c.arg("--beta", type=float, help="KL weight β (β-TCVAE: the TC weight); the preset's default when not given")
    c.arg("--capacity-weight", type=float, help="annealed_vae: γ of γ·|KL − C(t)| (Burgess et al.)")
    c.arg("--tc-weight", type=float, help="factor_vae: γ, the weight of the discriminator's TC (Kim & Mnih)")
    c.arg("--dimwise-kl-weight", type=float, help="beta_tcvae: γ, the dimension-wise KL weight (Chen et al.)")
    c.arg("--epochs", type=int, help="passes over the training split (default: 30, or enough for 1,000 steps on "
                                      "small data)")
    c.arg("--batch-size", type=int, help="examples per step")
    c.arg("--lr", type=float, help="learning rate (default: the preset's, Adam 1e-3; factor_vae 1e-4)")
    c.arg("--seed", type=int, help="trainer.seed: weights, data order and sampling noise (the train/val/test "
                                "split follows data.seed)")
    c.arg("--device", help="auto | cpu | cuda | cuda:N")
    c.arg("--deterministic", action="store_true", help="deterministic kernels (exact resume)")
    c.arg("--precision", choices=tuple(PRECISIONS), help="nets in bf16 (CPU/GPU) or fp16 (GPU); losses fp32")
    c.arg("--compile", action="store_true", help="torch.compile the training step (eager fallback with a warning)")
    c.arg("--nproc", type=_positive_int, help="train on N local processes with DDP (torchrun)")
    c.new_run("run folder name (default <model>-<data>-<time>)")

    c = _Command(sub, "resume", api.resume, _show_run, help="continue a run from its last checkpoint")
    c.run().arg("overrides", nargs="*", metavar="KEY=VALUE", help="trainer.* changes, e.g. trainer.epochs=50")
    c.arg("--data", help="where the run's data are now, if they moved (a built-in name or a path)")
    c.arg("--nproc", type=_positive_int, help="continue on N local processes with DDP (torchrun)")
    c.no_progress()

    c = _Command(sub, "sample", api.sample, _show_picture("samples_path"),
                 help="draw from the prior and decode; write a picture")
    c.run().arg("-n", type=int, help="number of samples")
    c.arg("-o", "--out", help="output PNG (default <run>/samples.png), or .npy for the array")
    c.arg("--seed", type=int, help="seed of the prior draws").checkpoint()

    c = _Command(sub, "reconstruct", api.reconstruct, _show_picture("reconstructions_path"),
                 help="inputs above their reconstructions; write a picture")
    c.run().arg("-n", type=int, help="number of inputs").split()
    c.arg("-o", "--out", help="output PNG (default <run>/reconstructions.png)").checkpoint()
    c.arg("--data", help="other data of the same shape, or the run's data where they are now (a name or a path)")

    c = _Command(sub, "info", api.info, _show_info, help="config, steps, last metrics and checkpoints of a run")
    c.run().arg("--json", action="store_true", help="print one JSON document")

    _Command(sub, "presets", api.presets, _show_presets, help="list the model presets")

    c = _Command(sub, "study", api.study, _show_study,
                 help="train and evaluate a grid of models x hyper-parameters x seeds",
                 description="Run every run of a study file that is not done yet (one child process per run "
                             "step, --jobs at a time), then write results.csv, summary.csv and plots. Started "
                             "again after a kill, it skips finished runs and resumes the others.")
    c.arg("study", help="study YAML (base config, models grid, seeds, metrics, output)")
    c.arg("--jobs", "-j", type=_positive_int, help="runs at once")
    c.arg("--output", help="output folder (default: the file's `output`, else a folder named after it)")
    c.arg("--launcher", choices=("local", "ray"), help="child processes, or one Ray task per run step "
                                                       "(pip install 'shadowplay[ray]')")
    c.arg("--address", help="with --launcher ray: join this Ray cluster (auto or HOST:PORT)")
    c.arg("--no-progress", dest="progress", action="store_false",
          help="no start line and no line per finished run (failed runs are still listed at the end)")

    c = _Command(sub, "evaluate", api.evaluate, _show_evaluation,
                 help="ELBO, importance-weighted log p(x), KL per latent, active units",
                 description="Per-input ELBO (reconstruction + KL) and importance-weighted log p(x) (Burda et "
                             "al. 2016) on a split; writes <run>/evaluation/evaluation.json, per_sample.npy/.csv "
                             "and worst_reconstructions.png, and prints a table.")
    c.run().arg("--split", choices=api.EVALUATE_SPLITS,
                help="rows to score: default all rows of a --data file (new data), else test (the run's own data, "
                     "or a built-in source); train/val/test of a file: its seeded split; all: every row of --data")
    c.arg("--iw-samples", "-k", type=int, help="importance samples K per input")
    c.arg("--data", help="evaluate other data (a built-in name or a path) of the same shape").checkpoint()
    c.arg("--seed", type=int, help="seed of the importance-sampling noise")
    c.arg("--max-rows", type=int, help="decoder rows per pass (memory bound)")
    c.arg("--device", help="auto | cpu | cuda | cuda:N")
    c.arg("--metrics", help=f"disentanglement metrics, comma-separated ({','.join(METRIC_NAMES)}) or all; needs "
                            "data with factors; adds mi_matrix.png. The slow ones: the sampling scores beta_vae and "
                            "factor_vae (defaults of the papers: 10000 training and 5000 evaluation points) and dci "
                            "(100 boosting stages per factor), minutes each on a CPU; cut them with --metric-options")
    c.arg("--metric-options", type=_json_object,
          help='JSON of per-metric keyword arguments, e.g. \'{"beta_vae": {"n_train": 2000, "n_eval": 1000}, '
               '"factor_vae": {"n_train": 2000}, "dci": {"n_estimators": 10}}\' (cheaper: faster, noisier, not '
               'comparable with published numbers)')
    c.no_progress()

    c = _Command(sub, "traverse", api.traverse, _show_traversal,
                 help="latent traversals: a PNG grid per latent, an overview and a GIF",
                 description="Decode each latent dimension (ordered by KL) over a range while the others stay at "
                             "the prior mean or at a real input's code; writes <run>/traversals/<mode>-<start>/.")
    c.run().arg("--dims", help="all | topN | comma-separated indices")
    c.arg("--range", type=float, dest="range_", metavar="R",
          help="R: ±R for fixed; quantile levels Φ(-R)..Φ(R) for prior/posterior-quantile")
    c.arg("--steps", type=int, help="values per dimension")
    c.arg("--mode", choices=RANGE_MODES, help="how the range of each dimension is chosen")
    c.arg("--inputs", "--input", type=int, nargs="+",
          help="start from these inputs' codes (indices into --split) instead of the prior mean")
    c.split().checkpoint().arg("--seed", type=int, help="seed of the aggregate-posterior draws")
    c.arg("--data", help="other data of the same shape, or the run's data where they are now (a name or a path)")

    c = _Command(sub, "interpolate", api.interpolate, _show_path,
                 help="decode a path between the codes of two inputs; write a picture")
    c.run().arg("--start", "--from", type=int, required=True, help="index of the first input in --split")
    c.arg("--end", "--to", type=int, required=True, help="index of the second input")
    c.arg("--steps", type=int, help="codes on the path")
    c.arg("--path", choices=PATHS, help="straight line or great circle between the two codes")
    c.split().checkpoint().arg("-o", "--out", help="output PNG (default <run>/interpolations/<from>-<to>-<path>.png)")
    c.arg("--data", help="other data of the same shape, or the run's data where they are now (a name or a path)")

    c = _Command(sub, "report", api.report, _show_path, help="write one self-contained HTML page about a run",
                 description="Write <run>/report.html (works offline: images inline). Runs `evaluate` and "
                             "`traverse` first when their files are missing.")
    c.run().arg("--iw-samples", "-k", type=int,
                help="K when the evaluation has to be run (default: the largest of 1000, 300, 100, 30, 10, 1 that "
                     "fits a 40 s budget here, so a report takes about a minute; the page says which)")
    c.arg("--refresh", action="store_true", help="re-run evaluate and traverse even if their files exist")
    c.checkpoint().arg("-o", "--out", help="output HTML (default <run>/report.html)")
    c.no_progress()
    c.arg("--data", help="where the run's data are now, if they moved (a built-in name or a path)")


def _show_debias_run(run: api.Run, a: argparse.Namespace) -> int:
    _show_run(run, a)
    weights = RunFolder(run).debias_dir / "weights.png"
    if weights.is_file():
        print(f"  highest/lowest sampling weights: {weights}")
    summary = weights.with_suffix(".json")
    if summary.is_file():  # did the resampling favour the rare inputs? (debias/draws.py)
        d = json.loads(summary.read_text())
        print(f"  resampling of class {d['debias_class']} (last epoch): "
              + debias.DrawSummary(**{**d, "groups": tuple(debias.GroupDraws(**g) for g in d["groups"])}).line())
    print(f"  audit it: shadowplay debias audit {run.path}")
    return 0


def _show_audit(result: debias.AuditResult, a: argparse.Namespace) -> int:
    print(result.table())
    stem = debias.audit_stem(getattr(a, "split", "test"), getattr(a, "groups", "group"), getattr(a, "sensitive", None))
    folder = RunFolder(a.run).debias_dir
    print(f"files: {folder}/{stem}.json, .md, .png")
    if (folder / f"{stem}-clusters.png").is_file() and getattr(a, "groups", "group") == "latent":
        print(f"what each cluster holds: {folder}/{stem}-clusters.png")
    return 0


def _show_compare(audits: dict, a: argparse.Namespace) -> int:
    print(debias.compare_table(audits))
    print(f"files: {debias.compare_dir(a.runs, getattr(a, 'out', None))}/compare.md, .png")
    return 0


def _add_debias(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("debias", help="DB-VAE training, bias audit and comparison of runs",
                       description="Debiasing with learned latent structure (Amini et al., AIES 2019).")
    # required: `shadowplay debias` alone printed the top-level help and exited 2 with no word on what was missing
    dsub = p.add_subparsers(dest="debias_command", metavar="{train,audit,compare}", required=True,
                            help="train (a DB-VAE run), audit (one run's classifier), compare (several runs)")
    c = _Command(dsub, "train", debias.train, _show_debias_run,
                 help="train a DB-VAE (or the plain classifier) and write a run folder")
    c.arg("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. trainer.lr=3e-4")
    c.arg("--config", help="YAML config file")
    c.arg("--data", help="a labelled source (biased-fmnist without --config)")
    c.arg("--data-dir", help="folder of the Fashion-MNIST IDX files")
    c.arg("--model", choices=("dbvae", "classifier"), help="dbvae (joint loss; default unless --config names a "
                                                           "preset) or classifier (the same encoder and head, no VAE)")
    c.arg("--debias-class", type=int, help="class whose rare inputs are resampled (config default 1)")
    c.arg("--resample", choices=("none", *debias.MODES),
          help="latent (DB-VAE; default for dbvae), groups (oracle) or none (default for classifier)")
    c.arg("--bins", type=int, help="histogram bins per latent dimension (config default 10)")
    c.arg("--alpha", type=float, help="histogram smoothing α > 0 (config default 0.3, for product; "
                                                  "max wants ~1e-3)")
    c.arg("--combine", choices=debias.COMBINES, help="product (the paper, config default) or max (course lab)")
    c.arg("--rare-fraction", type=float, help="biased-fmnist: inverted share of the positives (config default "
                                              "0.005)")
    c.arg("--positive-classes", type=_int_list,
          help="biased-fmnist: comma-separated Fashion-MNIST classes labelled positive (config default 5,7,9)")
    c.arg("--latent-dim", type=int, help="number of latent dimensions")
    c.arg("--epochs", type=int, help="passes over the training split")
    c.arg("--net", choices=("auto", *NETS), help="encoder/decoder family")
    c.arg("--seed", type=int, help="trainer.seed: weights, data order and sampling noise (the split follows "
                                "data.seed)")
    c.arg("--device", help="auto | cpu | cuda | cuda:N")
    c.new_run()

    c = _Command(dsub, "audit", debias.audit_run, _show_audit,
                 help="per-group accuracy, worst group, fairness gaps and calibration of a run's classifier")
    c.run().arg("--groups", help="group (the source's groups), latent (k-means clusters of the codes) or a "
                                 "factor name such as inverted")
    c.split().checkpoint().arg("--n-clusters", type=int, help="clusters for --groups latent")
    c.arg("--seed", type=int, help="seed of the k-means clustering and of the permutation test")
    c.arg("--sensitive", help="attribute the fairness gaps compare: a factor name or group (default: the one the "
                              "source declares, e.g. inverted, else the groups)")

    c = _Command(dsub, "compare", debias.compare, _show_compare,
                 help="audit several runs the same way: one table (with the p-value of each run's worst-group "
                      "accuracy against the first run's) and one bar chart")
    c.arg("runs", nargs="+", help="run folders")
    c.arg("--groups", help="as for audit").split().checkpoint()
    c.arg("--sensitive", help="as for audit")
    c.arg("-o", "--out", help="output folder (default debias-compare/ beside the first run)")


# Later features append their own adders here: each takes the subparsers object and adds its commands.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_commands, _add_debias]


# ------------------------------------------------------------------ explore
def _show_explorer(server: Any, a: argparse.Namespace) -> int:
    print(f"explorer: {server.url}  (Ctrl-C to stop)", flush=True)
    server.wait()  # serves until Ctrl-C, then closes
    return 0


def _add_explore(sub: argparse._SubParsersAction) -> None:
    c = _Command(sub, "explore", api.explore, _show_explorer, help="a local web page with a slider per latent",
                 description="Serve the latent explorer for a run on 127.0.0.1 (a free port unless --port) and "
                             "open it in the browser. Ctrl-C stops it.")
    c.run().arg("--host", help="address to listen on; any other than loopback is reachable by other machines")
    c.arg("--port", type=int, help="TCP port (0: a free one)")
    c.arg("--no-browser", dest="open_browser", action="store_false", help="do not open a browser")
    c.checkpoint().arg("--device", help="where the model runs: cpu | cuda | cuda:N")
    c.arg("--verbose", action="store_true", help="log every request to stderr")
    c.arg("--outliers", help="a run folder from `shadowplay outliers fit` on the same data: show its outlier score, "
                             "threshold and verdict")
    c.arg("--iw-samples", "-k", type=int, help="importance samples K of an input's ELBO and log p(x) (default: "
                                               "evaluate's 1000 unless a click would take over a second here)")


COMMANDS.append(_add_explore)


def _int_list(text: str) -> list[int]:
    """``5,7,9`` → ``[5, 7, 9]``; anything else is a usage error naming the value."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated class numbers such as 5,7,9, got {text!r}") from None


def _json_object(text: str) -> dict[str, Any]:
    """``{"beta_vae": {"n_train": 2000}}`` → a dict; bad JSON is a usage error saying where it broke."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at column {exc.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"beta_vae\": {{\"n_train\": 2000}}}}', "
                                         f"got {text!r}")
    return value


def _positive_int(text: str) -> int:
    """A count of processes or jobs: ``0``, ``-1`` or ``two`` is a usage error naming the value."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (1, 2, ...), got {text!r}")
    return value


# ------------------------------------------------------------------ outliers
def _show_outlier_fit(r: api.OutlierRun, a: argparse.Namespace) -> int:
    d = r.detector
    print(f"run folder: {r.path}")
    print(f"  score {d.outlier_score}, threshold {d.threshold_:.6g} (contamination {d.contamination}), "
          f"{int(d.labels_.sum())} of {len(d.labels_)} training inputs above it")
    fitted = RunFolder(r.path).meta.get("outliers") or {}
    how = ("auto: 30, or enough for 1,000 steps on few inputs; --epochs to set" if fitted.get("epochs_auto")
           else "--epochs")
    print(f"  epochs {fitted.get('epochs')} ({how}), {fitted.get('steps')} steps")
    lat = RunFolder(r.path).meta.get("latents") or {}
    _show_latents(lat, lat.get("warnings", []))
    return 0


def _show_outlier_scores(r: api.OutlierScores, a: argparse.Namespace) -> int:
    print(f"{len(r.scores)} inputs scored with {r.score}; {int(r.flags.sum())} above the threshold {r.threshold:.6g}")
    print(r.path)
    return 0


def _show_outlier_evaluation(r: api.OutlierEvaluation, a: argparse.Namespace) -> int:
    d = r.document
    print(f"{d['data']} {d['split']}: {d['n_normal']} normal, {d['n_anomalous']} anomalous; score {d['score']}")
    print(f"  AUROC {100 * d['auroc']:.2f}   AUPR {100 * d['aupr']:.2f}   FPR@95%TPR {100 * d['fpr_at_95_tpr']:.2f}")
    for path in r.files.values():
        print(path)
    return 0


def _add_outliers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outliers", help="outlier detection: fit a detector on normal data, score, evaluate",
                       description="A VAE trained on normal data scores every input (higher = more abnormal). "
                                   "`fit` trains one into a run folder, `score` writes a CSV of scores, flags and "
                                   "ranks, `evaluate` writes AUROC, AUPR, FPR at 95% TPR and pictures.")
    osub = p.add_subparsers(dest="command", metavar="{fit,score,evaluate}", required=True,
                            help="fit a detector, score inputs with it, or evaluate it against labels")

    def data_opts(c: _Command, required: bool) -> _Command:
        c.arg("--data", required=required,
              help="digits | fashion-mnist | dsprites | a .npy/.npz/.csv file | an image folder")
        c.arg("--data-dir", help="folder of the data files (Fashion-MNIST IDX files)")
        c.arg("--label-column", help="CSV: the column holding labels (not a feature)")
        return c.arg("--device", help="auto | cpu | cuda | cuda:N")

    c = data_opts(_Command(osub, "fit", api.outliers_fit, _show_outlier_fit,
                           help="train a detector on the normal inputs of --data; write a run folder"), True)
    c.arg("--normal-class", type=int, help="train only on rows with this label (one-class protocol)")
    c.arg("--score", choices=SCORES, help="outlier score (combined: reconstruction and latent k-NN, Fisher-combined)")
    c.arg("--contamination", type=float, help="expected outlier fraction of the training data, in (0, 0.5]")
    c.arg("--model", help="preset (see `shadowplay presets`)")
    c.arg("--latent-dim", type=int, help="number of latent dimensions")
    c.arg("--epochs", type=int, help="passes over the training data (default: as train, 30 or enough for 1,000 "
                                      "steps on a small class)")
    c.arg("--net", choices=("auto", *NETS), help="encoder/decoder family")
    c.arg("--likelihood", choices=("auto", *LIKELIHOODS), help="decoder distribution p(x|z)")
    c.arg("--beta", type=float, help="KL weight; the preset's default when not given")
    c.arg("--batch-size", type=int, help="examples per step")
    c.arg("--lr", type=float, help="learning rate")
    c.arg("--iw-samples", "-k", type=int, help="importance samples K of the likelihood-based scores")
    c.arg("--seed", type=int, help="seed of weights, data split and noise")
    c.new_run("run folder name (default outliers-<data>-<class>-<time>)")
    c.arg("overrides", nargs="*", metavar="KEY=VALUE", help="other config keys, e.g. model.scale=0.1")

    c = _Command(osub, "score", api.outliers_score, _show_outlier_scores,
                 help="score every input of --data; write index, score, flag, rank as CSV")
    c.arg("run", help="run folder of a fitted detector (or any run: add --score)")
    data_opts(c, True).arg("-o", "--output", help="CSV path (default <run>/outliers/scores-<data>-<split>.csv)")
    c.arg("--score", choices=SCORES, help="another score than the detector's (fits its reference on the normal "
                                           "inputs the run was fitted on; the saved detector is kept)")
    c.arg("--split", choices=(*SPLITS, "all"), help="a built-in source's split (default test); a file's rows: all "
          "(default) or a part of the seeded 80/10/10 split the detector was fitted on")

    c = _Command(osub, "evaluate", api.outliers_evaluate, _show_outlier_evaluation,
                 help="AUROC, AUPR, FPR at 95%% TPR on labelled data; histogram, top-k grid")
    c.arg("run", help="run folder of a fitted detector")
    data_opts(c, False).arg("--normal-class", type=int, help="label of the normal rows (default: the class fitted on)")
    c.arg("--split", choices=(*SPLITS, "all"), help="default test: the part of the data the detector was fitted on "
          "that it never saw (a built-in source's test split, or the file's); all rows of another file")
    c.arg("--score", choices=SCORES, help="another score than the detector's")
    c.arg("--top-k", type=int, help="most abnormal inputs in the grid")


COMMANDS.append(_add_outliers)


# ------------------------------------------------------------------ embed
def _show_embedding(e: api.Embedding, a: argparse.Namespace) -> int:
    what = f"{e.map.method} map of {len(e.map.index)} of" if e.map is not None else "codes of"
    print(f"{what} {len(e.codes)} inputs, {e.codes.shape[1]} latents{', labelled' if e.labels is not None else ''}")
    for f in e.files:
        print(f)
    return 0


def _add_embed(sub: argparse._SubParsersAction) -> None:
    c = _Command(sub, "embed", api.embed, _show_embedding,
                 help="latent codes of any data as .npy/.csv, or a 2-D map of them",
                 description="Encode inputs with a trained run. Without --map, write the posterior means (and with "
                             "--logvar the log-variances) as .npy or .csv; with --map, draw the codes in 2-D (top2: "
                             "the two latents with the most KL; pca; tsne), coloured by label when the data have "
                             "labels.")
    c.run().arg("--data", help="data to embed (a built-in name or a path of the run's input shape); default the "
                               "run's own data")
    c.arg("--split", choices=api.EMBED_SPLITS, help="default: all rows of --data, or the test split of the run's "
                                                     "own data")
    c.arg("-o", "--out", help="codes file (.npy/.csv) or, with --map, the PNG (default <run>/embeddings/...)")
    c.arg("--logvar", action="store_true", help="also write log-variances: .npy (N, 2L) = [means | logvar]")
    c.arg("--map", choices=MAP_METHODS, help="draw a 2-D map instead of writing codes")
    c.checkpoint().arg("--seed", type=int, help="seed of the map's subsample and t-SNE")
    c.arg("--max-points", type=int, help="most points drawn on a map")
    c.arg("--device", help="auto | cpu | cuda | cuda:N").no_progress()


COMMANDS.append(_add_embed)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``shadowplay train: error: argument --likelihood: invalid choice: 'gauss'
    (choose from ...); did you mean 'gaussian'?``, exit status 2, without the 15-line usage block argparse prints
    first (``--help`` shows it). Subcommands' parsers are made of this class too."""

    def error(self, message: str) -> NoReturn:
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if bad:
            close = difflib.get_close_matches(bad.group(1), re.findall(r"'([^']*)'", bad.group(2)), n=1, cutoff=0.6)
            message += f"; did you mean {close[0]!r}?" if close else ""
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="shadowplay", description="Deep latent-variable generative models.")
    parser.add_argument("--version", action="version", version=f"shadowplay {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _print_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                   line: str | None = None) -> None:
    """shadowplay's own warnings as one line ``warning: ...`` (others keep Python's format, with their source)."""
    if category.__module__.startswith("shadowplay"):
        print(f"warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def api_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options that are keywords of the command's API function (all but the CLI's own)."""
    return {k: v for k, v in vars(args).items() if k not in _INTERNAL and k not in CLI_ONLY}


def _unrecognized(parser: argparse.ArgumentParser, argv: list[str], extra: list[str]) -> NoReturn:
    """Exit with status 2 and one line naming the (sub)command the unknown arguments were given to and, for a
    misspelt option, the closest one it has (the top-level parser's usage and error named neither)."""
    for token in argv:  # down to the innermost subcommand named (`debias train`, `outliers fit`)
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and token in subs[0].choices:
            parser = subs[0].choices[token]
    options = [s for a in parser._actions for s in a.option_strings]
    close = [m for e in extra if e.startswith("--")
             for m in difflib.get_close_matches(e.split("=")[0], options, n=1, cutoff=0.7)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    parser.error(f"unrecognized arguments: {' '.join(extra)}{hint} (`{parser.prog} --help` lists the options)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        # `KEY=VALUE` overrides may come before and after flags; argparse's `nargs="*"` only takes one run of them
        takes = getattr(args, "api", None) and "overrides" in inspect.signature(args.api).parameters
        if extra and takes and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(getattr(args, "overrides", [])) + extra
        elif extra:
            _unrecognized(parser, argv, extra)
    except SystemExit as e:  # argparse prints its own message; usage errors exit 2
        return int(e.code or 0)
    if not getattr(args, "api", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():  # library warnings print as one line `warning: ...`
            warnings.showwarning = _print_warning
            warnings.simplefilter("always", ShadowplayWarning)  # every checkpoint fallback, not the first only
            warnings.simplefilter("ignore", api.PosteriorCollapseWarning)  # the result's show prints these
            result = args.api(**api_keywords(args))
        return int(args.show(result, args) or 0)
    except BrokenPipeError:  # `shadowplay info run | head`: the reader left; stop quietly, as `cat` does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return 141
    except USER_ERRORS as e:
        if args.debug:  # the traceback too, but still the user's error: status 2, not a bug's 1
            traceback.print_exc()
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # only a training command leaves something to continue; evaluate, explore & co. just stop
        hint = {"train": "; `shadowplay resume <run>` continues from the last checkpoint",
                "resume": "; `shadowplay resume <run>` continues from the last checkpoint",
                "study": "; the same `shadowplay study` command skips finished runs and resumes the others"
                }.get(args.command, "")
        print(f"interrupted{hint}", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 -- not the user's doing: show everything and say whose it is
        traceback.print_exc()
        print("error: this is a bug in shadowplay, not a problem with your input; please report it with the "
              "traceback above", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
