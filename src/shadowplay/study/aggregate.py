"""A study's table and figures: every run's metrics in one CSV/JSON, a per-model summary over seeds, and plots.

Files written under the study's output folder:

- ``results.csv`` / ``results.json``: one row per finished run (name, model, preset, seed, swept values, final step,
  ``val_elbo`` = the last validation ELBO of training, ``eval_split`` = the split of the study's evaluation, then
  every scalar of that evaluation: ``elbo``, ``rate``, ``distortion``, ``log_px`` and the metrics are all on
  ``eval_split``, by default ``test``);
- ``summary.csv`` / ``summary.json``: one row per model (a grid point without its seed) with ``n`` and, per metric,
  the mean, the sample standard deviation over seeds (0 for one seed), min and max;
- ``summary.md``: the same summary as a Markdown table (mean ± sd over seeds, the mean alone for one seed; n),
  then every run that failed in this call with its reason and log, and the runs with no result yet;
- ``plots/metrics_by_model.png``: one panel per metric, each seed a dot and the mean ± std a bar, a legend saying so
  (the layout of Locatello et al. 2019, figs. 7 and 13);
- ``plots/metrics_vs_beta.png``: for grid points that differ only in β, each metric against β, mean ± std over
  seeds: one line per curve (:func:`curve_label`, the grid point without its β), so runs that differ in another
  value (``latent_dim``, ``trainer.lr``) are never averaged as if they were seeds; the β axis is logarithmic when
  the β values span more than a decade (:func:`beta_axis`);
- ``rate_distortion.csv`` and ``plots/rate_distortion.png``: when a preset ran at several β, every run's rate and
  distortion on the evaluation split with lines of equal ELBO (:mod:`.rate_distortion`, Alemi et al. 2018).
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .rate_distortion import rate_distortion_rows, varies_beta, write_rate_distortion
from .spec import StudyRun, StudySpec, run_name

PLOT_EXCLUDE = re.compile(r"(train|eval_accuracy)")  # keep the plots to headline scores (score = eval accuracy)
BETA_KEYS = ("beta", "objective.beta")  # how a model entry may name β (``spec._full_key``)


def model_label(name: str) -> str:
    """A run's name without its ``-s<seed>`` suffix: the model (grid point) it belongs to."""
    return re.sub(r"-s\d+$", "", name)


def curve_label(run: StudyRun) -> str:
    """The β curve a run lies on: its grid point without β and seed (``beta_vae``, ``beta_vae-latent_dim8``)."""
    return model_label(run_name(run.preset, {k: v for k, v in run.params.items() if k not in BETA_KEYS}, 0))


def beta_sweeps(runs: tuple[StudyRun, ...] | list[StudyRun]) -> dict[str, tuple[str, float]]:
    """``{run name: (curve, β)}`` for the runs whose β is set (``None``, the preset's default, is left out)."""
    return {r.name: (curve_label(r), float(r.config.objective.beta)) for r in runs
            if r.config.objective.beta is not None}


def beta_curves(rows: list[dict[str, Any]], sweeps: dict[str, tuple[str, float]],
                metric: str) -> dict[str, list[tuple[float, np.ndarray]]]:
    """``{curve: [(β, finite values of metric over its seeds), ...]}`` in β order, for every curve run at two or
    more β values. Runs of different grid points (another ``latent_dim``) are different curves, never pooled."""
    points: dict[str, dict[float, list[float]]] = {}
    for r in rows:
        if r.get("name") not in sweeps:
            continue
        curve, beta = sweeps[r["name"]]
        values = points.setdefault(curve, {}).setdefault(beta, [])
        v = r.get(metric)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            values.append(float(v))
    return {c: [(b, np.array(by_beta[b], float)) for b in sorted(by_beta)] for c, by_beta in points.items()
            if len(by_beta) > 1}


def collect(spec: StudySpec) -> list[dict[str, Any]]:
    """The results file of every run of ``spec`` that has one, in grid order."""
    out = []
    for run in spec.runs:
        p = spec.output / "results" / f"{run.name}.json"
        if p.is_file():
            out.append(json.loads(p.read_text()))
    return out


def table(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Flat rows and the metric column names (in first-seen order)."""
    params = list(dict.fromkeys(k for r in results for k in r.get("params", {})))
    metrics = list(dict.fromkeys(k for r in results for k in r.get("metrics", {})))
    rows = []
    for r in results:
        row = {"name": r["name"], "model": model_label(r["name"]), "preset": r["preset"], "seed": r["seed"]}
        row.update({k: _cell(r.get("params", {}).get(k)) for k in params})
        row.update({"step": r.get("train", {}).get("step"), "val_elbo": r.get("train", {}).get("val", {}).get("elbo"),
                    "eval_split": (r.get("evaluation") or {}).get("split")})
        row.update({k: r["metrics"].get(k) for k in metrics})
        rows.append(row)
    return rows, ["val_elbo", *metrics]


def _cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (dict, list)) else v


def summarize(rows: list[dict[str, Any]], metrics: list[str]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["model"], []).append(row)
    out = []
    for model, members in groups.items():
        s: dict[str, Any] = {"model": model, "preset": members[0]["preset"], "n": len(members)}
        for m in metrics:
            v = np.array([r[m] for r in members if isinstance(r.get(m), (int, float))], float)
            v = v[np.isfinite(v)]
            s[f"{m}.mean"] = float(v.mean()) if len(v) else None
            s[f"{m}.std"] = float(v.std(ddof=1)) if len(v) > 1 else (0.0 if len(v) else None)
            s[f"{m}.min"] = float(v.min()) if len(v) else None
            s[f"{m}.max"] = float(v.max()) if len(v) else None
        out.append(s)
    return out


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def _mean_sd(s: dict[str, Any], m: str) -> str:
    """``mean ± sd``; the mean alone for one seed, whose sd is undefined (``± 0`` would claim a measured spread)."""
    mean, std = s.get(f"{m}.mean"), s.get(f"{m}.std")
    if mean is None:
        return "–"
    return f"{mean:.4g}" if s.get("n", 0) < 2 else f"{mean:.4g} ± {std:.2g}"


def summary_markdown(spec: StudySpec, rows: list[dict[str, Any]], summary: list[dict[str, Any]],
                     metrics: list[str], failed: dict[str, str]) -> str:
    """``summary.md``: one line per model (mean ± sample sd over its ``n`` seeds), failed runs with their
    reasons, and the runs that have no result yet (``failed`` maps a run name to its error)."""
    done = {r["name"] for r in rows}
    lines = [f"# Study {spec.path.name}", "",
             f"{len(spec.runs)} runs: {len(done)} with results, {len(failed)} failed, "
             f"{len(spec.runs) - len(done) - len(failed)} not run yet. Mean ± sample sd over seeds (one seed: its "
             f"value; evaluation on the {spec.eval_split} split; `val_elbo` is the last validation ELBO of training).",
             ""]
    if summary:
        lines += ["| model | n | " + " | ".join(metrics) + " |", "|---|---:|" + "---:|" * len(metrics)]
        lines += [f"| {s['model']} | {s['n']} | " + " | ".join(_mean_sd(s, m) for m in metrics) + " |"
                  for s in summary]
    if failed:
        lines += ["", "## Failed runs", ""] + [f"- `{name}`: {why}" for name, why in failed.items()]
    missing = [r.name for r in spec.runs if r.name not in done and r.name not in failed]
    if missing:
        lines += ["", "## Not run yet", "", ", ".join(f"`{n}`" for n in missing)]
    return "\n".join(lines) + "\n"


def write_outputs(spec: StudySpec, failed: dict[str, str] | None = None) -> dict[str, Path]:
    """Write the tables and plots of whatever runs have finished, and ``summary.md`` naming the runs in
    ``failed`` (run name → reason); returns their paths by kind."""
    rows, metrics = table(collect(spec))
    summary = summarize(rows, metrics)
    out = spec.output
    paths = {"results_csv": out / "results.csv", "results_json": out / "results.json",
             "summary_csv": out / "summary.csv", "summary_json": out / "summary.json",
             "summary_md": out / "summary.md"}
    _write_csv(paths["results_csv"], rows)
    _write_csv(paths["summary_csv"], summary)
    paths["results_json"].write_text(json.dumps(rows, indent=1))
    paths["summary_json"].write_text(json.dumps(summary, indent=1))
    paths["summary_md"].write_text(summary_markdown(spec, rows, summary, metrics, failed or {}))
    shown = [m for m in metrics if not PLOT_EXCLUDE.search(m)
             and any(isinstance(r.get(m), (int, float)) and math.isfinite(r[m]) for r in rows)]
    sweeps = beta_sweeps(spec.runs)
    if rows and shown:
        paths.update(plot(rows, shown, out / "plots", sweeps))
    rd = rate_distortion_rows(rows, {r.name: r.config.objective.beta for r in spec.runs},
                              {name: curve for name, (curve, _) in sweeps.items()})
    if varies_beta(rd):
        paths.update(write_rate_distortion(rd, out, spec.eval_split))
    return paths


def beta_axis(betas: list[float]) -> tuple[str, dict[str, float]]:
    """The x scale of a β plot: ``log`` when the positive β span more than a decade (β 0.25–16 bunched at the left
    of a linear axis), ``symlog`` (linear below the smallest positive β) when β = 0 is among them, else
    ``linear``."""
    pos = [b for b in betas if b > 0]
    if len(pos) < 2 or max(pos) / min(pos) <= 10 or any(b < 0 for b in betas):
        return "linear", {}
    return ("symlog", {"linthresh": min(pos)}) if len(pos) < len(betas) else ("log", {})


def plot(rows: list[dict[str, Any]], metrics: list[str], folder: Path,
         sweeps: dict[str, tuple[str, float]] | None = None) -> dict[str, Path]:
    """``metrics_by_model.png``, and ``metrics_vs_beta.png`` when ``sweeps`` (:func:`beta_sweeps`) has a curve."""
    from ..reports.plotting import subplots

    folder.mkdir(parents=True, exist_ok=True)
    models = list(dict.fromkeys(r["model"] for r in rows))
    ncol = min(3, len(metrics))
    nrow = math.ceil(len(metrics) / ncol)
    fig, axes = subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, m in zip(axes.flat, metrics):
        for i, model in enumerate(models):
            v = np.array([r[m] for r in rows if r["model"] == model and isinstance(r.get(m), (int, float))], float)
            if len(v):
                first = not ax.collections  # label one model's markers: the legend names the two kinds once
                ax.scatter(i + rng.uniform(-0.12, 0.12, len(v)), v, s=14, alpha=0.6, color=f"C{i % 10}",
                           label="one run (seed)" if first else None)
                ax.errorbar(i + 0.25, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0, fmt="o", color="k", ms=4,
                            label="mean ± sample sd over seeds" if first else None)
        ax.set_title(m, fontsize=9)
        ax.set_xticks(range(len(models)), models, rotation=60, ha="right", fontsize=7)
    axes.flat[0].legend(fontsize=7)  # what the coloured dots and the black bar are
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    paths = {"by_model": folder / "metrics_by_model.png"}
    fig.savefig(paths["by_model"], dpi=110)

    curves = {m: beta_curves(rows, sweeps or {}, m) for m in metrics}
    if any(curves.values()):
        names = list(dict.fromkeys(c for by_curve in curves.values() for c in by_curve))
        fig, axes = subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
        for ax, m in zip(axes.flat, metrics):
            for j, curve in enumerate(names):
                pts = curves[m].get(curve)
                if not pts:
                    continue
                betas = [b for b, _ in pts]
                mean = np.array([v.mean() if len(v) else np.nan for _, v in pts])
                std = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for _, v in pts])
                ax.plot(betas, mean, "o-", color=f"C{j % 10}", label=curve, ms=3)
                ax.fill_between(betas, mean - std, mean + std, color=f"C{j % 10}", alpha=0.2)
            ax.set_title(m, fontsize=9)
            ax.set_xlabel("β", fontsize=8)
            betas = sorted({b for pts in curves[m].values() for b, _ in pts})
            scale, kw = beta_axis(betas)
            ax.set_xscale(scale, **kw)
            if scale != "linear":  # tick the swept values themselves (0.25, 1, 4, 16), not powers of ten
                ax.set_xticks(betas, [f"{b:g}" for b in betas], fontsize=7)
                ax.minorticks_off()
        axes.flat[0].legend(fontsize=7)
        for ax in axes.flat[len(metrics):]:
            ax.axis("off")
        fig.tight_layout()
        paths["vs_beta"] = folder / "metrics_vs_beta.png"
        fig.savefig(paths["vs_beta"], dpi=110)
    return paths
