"""Command-line interface: argument parsing only. Each subcommand calls one function of ``shadowplay.api``.

Errors a user can cause (bad input, config, files) print one line ``error: ...`` and exit with status 2; the
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from .errors import ShadowplayError

USER_ERRORS = (ShadowplayError, ValueError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError,
               IsADirectoryError, PermissionError, KeyError)


# ------------------------------------------------------------------ train / resume
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train a model. Flags set common config keys; `section.key=value` overrides "
                                   "(e.g. trainer.lr=3e-4 model.latent_dim=16) are applied last.")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. trainer.lr=3e-4")
    p.add_argument("--config", help="YAML config file (sections data, model, objective, trainer)")
    p.add_argument("--data", help="digits | fashion-mnist | dsprites | a .npy/.npz/.csv file | an image folder")
    p.add_argument("--data-dir", help="folder of the data files (Fashion-MNIST IDX files)")
    p.add_argument("--model", help="preset: ae, vae, beta_vae, annealed_vae, ... (see `shadowplay presets`)")
    p.add_argument("--beta", type=float, help="KL weight β (beta_vae default 4)")
    p.add_argument("--gamma", type=float, help="capacity/TC weight γ, per preset")
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--net", choices=["auto", "mlp", "conv"])
    p.add_argument("--likelihood", choices=["auto", "bernoulli", "gaussian", "laplace"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels (exact resume)")
    p.add_argument("--runs-dir", default="runs", help="parent folder of run folders (default runs/)")
    p.add_argument("--name", help="run folder name (default <model>-<data>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)


def _train(a: argparse.Namespace) -> int:
    from . import api

    keys = {"objective.gamma": a.gamma, "model.likelihood": a.likelihood, "trainer.batch_size": a.batch_size,
            "trainer.lr": a.lr, "trainer.deterministic": True if a.deterministic else None}
    from .config import parse_overrides
    overrides = {k: v for k, v in keys.items() if v is not None}
    overrides.update(parse_overrides(a.overrides))
    run = api.train(a.config, data=a.data, model=a.model, beta=a.beta, latent_dim=a.latent_dim, epochs=a.epochs,
                    net=a.net, data_dir=a.data_dir, device=a.device, seed=a.seed, overrides=overrides,
                    runs_dir=a.runs_dir, name=a.name, overwrite=a.overwrite, progress=not a.no_progress)
    _report_run(run)
    return 0


def _report_run(run) -> None:
    r = run.result
    val = ", ".join(f"{k} {v:.3f}" for k, v in r.val_metrics.items())
    print(f"run folder: {run.path}")
    print(f"  steps {r.step}, epochs {r.epoch}{'' if r.finished else ' (stopped early)'}; validation: {val or '-'}")
    print(f"  samples: {run.path / 'samples.png'}   reconstructions: {run.path / 'reconstructions.png'}")


def _add_resume(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("resume", help="continue a run from its last checkpoint")
    p.add_argument("run", help="run folder")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="trainer.* changes, e.g. trainer.epochs=50")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_resume)


def _resume(a: argparse.Namespace) -> int:
    from . import api
    _report_run(api.resume(a.run, a.overrides, progress=not a.no_progress))
    return 0


# ------------------------------------------------------------------ sample / reconstruct / info
def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw from the prior and decode; write a picture")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("-o", "--out", default=None, help="output PNG (default <run>/samples.png)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default="best", help="best | last | a checkpoint file name")

    def run(a: argparse.Namespace) -> int:
        from . import api
        out = a.out or str(Path(a.run) / "samples.png")
        api.sample(a.run, a.n, out, a.seed, a.checkpoint)
        print(out)
        return 0
    p.set_defaults(func=run)


def _add_reconstruct(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help="inputs above their reconstructions; write a picture")
    p.add_argument("run")
    p.add_argument("-n", type=int, default=16)
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("-o", "--out", default=None, help="output PNG (default <run>/reconstructions.png)")
    p.add_argument("--checkpoint", default="best")

    def run(a: argparse.Namespace) -> int:
        from . import api
        out = a.out or str(Path(a.run) / "reconstructions.png")
        api.reconstruct(a.run, a.n, a.split, out, a.checkpoint)
        print(out)
        return 0
    p.set_defaults(func=run)


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="config, steps, last metrics and checkpoints of a run")
    p.add_argument("run")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    def run(a: argparse.Namespace) -> int:
        from . import api
        i = api.info(a.run)
        if a.json:
            print(json.dumps({"path": str(i.path), "config": i.config, "run": i.meta, "step": i.step,
                              "epoch": i.epoch, "last_train": i.last_train, "last_val": i.last_val,
                              "checkpoints": i.checkpoints}, indent=2, default=str))
            return 0
        fmt = lambda d: ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"  # noqa: E731
                                  for k, v in d.items() if k not in ("time", "split"))
        print(f"run      {i.path}  ({i.meta.get('status', '?')})")
        print(f"model    {i.config['model']['preset']}, latent_dim {i.config['model']['latent_dim']}, "
              f"data {i.config['data']['source']} {tuple(i.meta.get('data', {}).get('shape', []))}")
        print(f"progress step {i.step}, epoch {i.epoch}/{i.config['trainer']['epochs']}")
        print(f"train    {fmt(i.last_train) or '-'}")
        print(f"val      {fmt(i.last_val) or '-'}")
        print(f"ckpts    {', '.join(i.checkpoints) or '-'}")
        print("config:")
        for section, values in i.config.items():
            print(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
        return 0
    p.set_defaults(func=run)


def _add_presets(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list the model presets")

    def run(a: argparse.Namespace) -> int:
        from .objectives import PRESETS
        for name in sorted(PRESETS):
            doc = (PRESETS[name].__doc__ or "").strip().splitlines()
            print(f"{name:14s} {doc[0] if doc else ''}")
        return 0
    p.set_defaults(func=run)


# Each entry adds one subcommand. Later features append their own adder here.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_train, _add_resume, _add_sample, _add_reconstruct, _add_info, _add_presets,
]


# ------------------------------------------------------------------ study
def _add_study(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="train and evaluate a grid of models x hyper-parameters x seeds",
                       description="Run every run of a study file that is not done yet (one child process per run "
                                   "step, --jobs at a time), then write results.csv, summary.csv and plots. Started "
                                   "again after a kill, it skips finished runs and resumes the others.")
    p.add_argument("study", help="study YAML (base config, models grid, seeds, metrics, output)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--output", help="output folder (default: the file's `output`, else a folder named after it)")

    def run(a: argparse.Namespace) -> int:
        from . import api
        res = api.study(a.study, jobs=a.jobs, output=a.output)
        for kind, path in res.files.items():
            print(f"{kind:13s} {path}")
        for r in res.failed:
            print(f"failed: {r.run.name}: {r.error}", file=sys.stderr)
        return 1 if res.failed else 0
    p.set_defaults(func=run)


COMMANDS.append(_add_study)


# ------------------------------------------------------------------ evaluate / traverse / interpolate / report
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="ELBO, importance-weighted log p(x), KL per latent, active units",
                       description="Per-input ELBO (reconstruction + KL) and importance-weighted log p(x) (Burda et "
                                   "al. 2016) on a split; writes <run>/evaluation/evaluation.json, per_sample.npy/.csv "
                                   "and worst_reconstructions.png, and prints a table.")
    p.add_argument("run", help="run folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--iw-samples", "-k", type=int, default=1000, help="importance samples K per input (default 1000)")
    p.add_argument("--data", default=None, help="evaluate other data (a built-in name or a path) of the same shape")
    p.add_argument("--checkpoint", default="best", help="best | last | a checkpoint file name")
    p.add_argument("--seed", type=int, default=0, help="seed of the importance-sampling noise")
    p.add_argument("--max-rows", type=int, default=4096, help="decoder rows per pass (memory bound; default 4096)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--metrics", type=lambda v: [m for m in v.split(",") if m], default=None,
                   help="disentanglement metrics, comma-separated (mig,sap,dci,modularity_explicitness,unsupervised,"
                        "beta_vae,factor_vae) or all; needs data with factors; adds mi_matrix.png")
    p.add_argument("--metric-options", type=json.loads, default=None,
                   help='JSON of per-metric keyword arguments, e.g. \'{"factor_vae": {"n_train": 2000}}\'')

    def run(a: argparse.Namespace) -> int:
        from . import api
        ev = api.evaluate(a.run, a.split, a.iw_samples, metrics=getattr(a, "metrics", None), which=a.checkpoint,
                          seed=a.seed, max_rows=a.max_rows, device=a.device, source=a.data,
                          metric_options=a.metric_options)
        d, lk = ev.document, ev.document["likelihood"]
        print(f"{d['data']} {d['split']} split: {d['n_inputs']} inputs, K = {d['iw_samples']}, checkpoint "
              f"{d['checkpoint']} ({d['inputs_per_s']:,.0f} inputs/s on {d['device']})")
        rows = [("ELBO", "elbo", "nats"), ("  reconstruction E_q[log p(x|z)]", "recon_ll", "nats"),
                ("  KL(q(z|x) || p(z))", "kl", "nats"), (f"log p(x), IWAE K={d['iw_samples']}", "log_px", "nats"),
                ("bits per dimension", "bits_per_dim", ""), ("reconstruction error sum (x-x^)^2", "recon_sq_error", "")]
        for label, key, unit in rows:
            if key in lk:
                print(f"  {label:36s} {lk[key]:12.4f} ± {lk[key + '_sem']:.3g} {unit}")
        dg = d["diagnostics"]
        print(f"  {'active units':36s} {dg['n_active']:12d} / {len(dg['active'])}")
        for w in dg["warnings"]:
            print(f"warning: {w}")
        if d.get("note"):
            print(f"note: {d['note']}")
        for name, r in (d.get("metrics") or {}).items():
            vals = [f"{k} {v:.3f}" for k, v in r.items() if isinstance(v, float) and k != "prune_threshold"
                    and "train" not in k]
            print(f"  {name:36s} {', '.join(vals)}")
        if d.get("metrics_note"):
            print(f"note: {d['metrics_note']}")
        for f in ev.files:
            print(f)
        return 0
    p.set_defaults(func=run)


def _add_traverse(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("traverse", help="latent traversals: a PNG grid per latent, an overview and a GIF",
                       description="Decode each latent dimension (ordered by KL) over a range while the others stay "
                                   "at the prior mean or at a real input's code; writes "
                                   "<run>/traversals/<mode>-<start>/.")
    p.add_argument("run", help="run folder")
    p.add_argument("--dims", default="all", help="all | topN | comma-separated indices (default all)")
    p.add_argument("--range", type=float, default=3.0, dest="range_",
                   help="r: ±r for fixed; quantile levels Φ(-r)..Φ(r) for prior/posterior-quantile (default 3)")
    p.add_argument("--steps", type=int, default=11)
    p.add_argument("--mode", default="prior", choices=["prior", "posterior-quantile", "fixed", "minmax"])
    p.add_argument("--input", type=int, nargs="+", default=None, dest="inputs",
                   help="start from these inputs' codes (indices into --split) instead of the prior mean")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--checkpoint", default="best")
    p.add_argument("--seed", type=int, default=0, help="seed of the aggregate-posterior draws")

    def run(a: argparse.Namespace) -> int:
        from . import api
        res = api.traverse(a.run, a.dims, a.range_, a.steps, a.mode, a.inputs, a.split, a.checkpoint, a.seed)
        print(f"dimensions by KL: {', '.join(map(str, res.traversal.dims))}")
        print(res.files["overview"])
        print(res.files["gif"])
        return 0
    p.set_defaults(func=run)


def _add_interpolate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("interpolate", help="decode a path between the codes of two inputs; write a picture")
    p.add_argument("run", help="run folder")
    p.add_argument("--from", type=int, required=True, dest="start", help="index of the first input in --split")
    p.add_argument("--to", type=int, required=True, dest="end", help="index of the second input")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--path", default="slerp", choices=["linear", "slerp"])
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--checkpoint", default="best")
    p.add_argument("-o", "--out", default=None, help="output PNG (default <run>/interpolations/<from>-<to>-<path>.png)")

    def run(a: argparse.Namespace) -> int:
        from . import api
        print(api.interpolate(a.run, a.start, a.end, a.steps, a.path, a.split, a.checkpoint, a.out).path)
        return 0
    p.set_defaults(func=run)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML page about a run",
                       description="Write <run>/report.html (works offline: images inline). Runs `evaluate` and "
                                   "`traverse` first when their files are missing.")
    p.add_argument("run", help="run folder")
    p.add_argument("--iw-samples", "-k", type=int, default=1000, help="K when the evaluation has to be run")
    p.add_argument("--refresh", action="store_true", help="re-run evaluate and traverse even if their files exist")
    p.add_argument("--checkpoint", default="best")
    p.add_argument("-o", "--out", default=None, help="output HTML (default <run>/report.html)")

    def run(a: argparse.Namespace) -> int:
        from . import api
        print(api.report(a.run, a.iw_samples, a.refresh, a.checkpoint, a.out))
        return 0
    p.set_defaults(func=run)


COMMANDS.extend([_add_evaluate, _add_traverse, _add_interpolate, _add_report])


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="shadowplay", description="Deep latent-variable generative models.")
    parser.add_argument("--version", action="version", version=f"shadowplay {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    debug = "--debug" in argv
    try:
        args, extra = parser.parse_known_args(argv)
        # `KEY=VALUE` overrides may come before and after flags; argparse's `nargs="*"` only takes one run of them
        if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides or []) + extra
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # argparse prints its own message; usage errors exit 2
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as e:
        if debug:
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; `shadowplay resume <run>` continues from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
