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
    p.set_defaults(func=lambda a: (_report_run(__import__("shadowplay.api", fromlist=["resume"]).resume(
        a.run, a.overrides, progress=not a.no_progress)), 0)[1])


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
        args = parser.parse_args(argv)
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
