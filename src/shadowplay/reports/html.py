"""The run report: one self-contained HTML page (inline CSS, images as base64 data URIs, no external requests).

It only reads files of the run folder — ``config.yaml``, ``run.json``, ``metrics.jsonl``, ``evaluation/``,
``traversals/``, ``interpolations/``, ``samples.png``, ``reconstructions.png``, each found through
:class:`shadowplay.run.RunFolder` — and never loads a model or trains.
``shadowplay.api.report`` first writes what is missing (evaluation, traversals, pictures of its checkpoint), then
calls :func:`write_report` with that checkpoint: the page then shows only the parts that record the same weights
(``checkpoint_step`` in ``evaluation.json`` and ``traversal.json``, ``pictures`` in ``run.json``; else the report's
own pair under ``report/``, ``report_pictures``) and says which checkpoint they are. Without one, each part says
which checkpoint it records.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics.guide import GUIDES
from ..metrics.guide import describe as describe_metric
from ..run import EvaluationFiles, RunFolder
from ..run.pictures import drawn_pair, picture_records
from .figures import covariance_figure, figure_png, histogram_figure, kl_per_dim_figure, training_curves

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5em 2em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .7em;text-align:left;
font-size:.92em}th{background:#f4f6f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;image-rendering:pixelated;border:1px solid #eee;margin:.3em 0}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em}.muted{color:#777}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em .8em;margin:.5em 0}
.note{background:#eef5fb;border-left:4px solid #4a90c2;padding:.5em .8em;margin:.5em 0}
figure{margin:.8em 0}figcaption{font-size:.9em;color:#555}.row{display:flex;gap:1.5em;align-items:flex-start;
flex-wrap:wrap}details summary{cursor:pointer;color:#31688e}
"""

_LABELS = {"elbo": "ELBO", "recon_ll": "reconstruction log-likelihood E_q[log p(x|z)]", "kl": "KL(q(z|x) ‖ p(z))",
           "log_px": "log p(x), importance-weighted", "bits_per_dim": "bits per dimension",
           "recon_sq_error": "reconstruction error Σ(x − x̂)²"}


def data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg"}.get(Path(path).suffix, "image/png")
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _img(src: bytes | Path, caption: str = "", alt: str = "") -> str:
    uri = ("data:image/png;base64," + base64.b64encode(src).decode("ascii")) if isinstance(src, bytes) \
        else data_uri(src)
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{html.escape(alt or caption)}">{cap}</figure>'


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else _esc(v)


def _num(v: float) -> str:
    """A mean of the evaluation table: 4 decimals, or 3 significant digits in scientific notation below 1e-3 (a
    collapsed run's KL of 0.000234 nats printed as "0.0002" hid its size)."""
    return f"{v:.2e}" if v != 0 and abs(v) < 1e-3 else f"{v:.4f}"


def _missing(what: str, cmd: str) -> str:
    return f'<p class="muted">No {what} yet: run <code>{_esc(cmd)}</code>.</p>'


Checkpoint = tuple[str, "int | None"]  # (the name asked for, e.g. "best", and the training step of its weights)


def _ckpt(label: Any, step: Any) -> str:
    """``checkpoint best (step 120)``; ``checkpoint not recorded`` for files written before it was."""
    if label is None and step is None:
        return "checkpoint not recorded"
    return f"checkpoint {_esc(label if label is not None else '?')}" + (f" (step {step})" if step is not None else "")


def _evaluation(folder: RunFolder, checkpoint: Checkpoint | None = None
                ) -> tuple[dict[str, Any] | None, EvaluationFiles | None]:
    """The test split's evaluation if there is one, else the first other one; with ``checkpoint``, only one that
    records the same weights."""
    for files in folder.evaluations():
        doc = json.loads(files.json.read_text())
        if checkpoint is None or doc.get("checkpoint_step") == checkpoint[1]:
            return doc, files
    return None, None


def _k_choice(ev: dict) -> str:
    """Why this K: reports choose it for a time budget, which the reader must know to read log p(x)."""
    why = ev.get("iw_samples_choice")
    return f" ({_esc(why)})" if why and why != "given" else ""


def _evaluation_section(run: Path, ev: dict[str, Any] | None, ev_files: EvaluationFiles | None) -> str:
    if ev is None or ev_files is None:
        return _missing("evaluation", f"shadowplay evaluate {run}")
    lk, rows = ev.get("likelihood", {}), []
    for key in ("elbo", "recon_ll", "kl", "log_px", "bits_per_dim", "recon_sq_error"):
        if key in lk:
            unit = "" if key in ("bits_per_dim", "recon_sq_error") else " nats"
            sem = lk.get(f"{key}_sem")
            err = f" ± {sem:#.3g}" if isinstance(sem, float) else ""  # #: 2.00, not 2, beside 1.99
            rows.append(f'<tr><td>{_esc(_LABELS[key])}</td><td class="num">{_num(lk[key])}{err}{unit}</td></tr>')
    dg = ev.get("diagnostics", {})
    if "n_active" in dg:
        rows.append(f'<tr><td>active units (Var<sub>x</sub> E<sub>q</sub>[z<sub>d</sub>] &gt; '
                    f'{dg.get("active_threshold")})</td>'
                    f'<td class="num">{dg["n_active"]} / {len(dg["active"])}</td></tr>')
    if isinstance(dg.get("aggregate_kl"), float):
        rows.append(f'<tr><td>KL(aggregate posterior moments ‖ prior)</td><td class="num">{dg["aggregate_kl"]:.4g}'
                    f' nats</td></tr>')
    out = [f'<p>{_esc(ev.get("split"))} split, {ev.get("n_inputs")} inputs, K = {ev.get("iw_samples")} importance '
           f'samples{_k_choice(ev)}, {_ckpt(ev.get("checkpoint"), ev.get("checkpoint_step"))} ({_esc(ev_files.json.name)}).</p>',
           "<table><tr><th>quantity (mean per input)</th><th>value</th></tr>" + "".join(rows) + "</table>"]
    out += [f'<div class="warn">{_esc(w)}</div>' for w in dg.get("warnings", [])]
    out += [f'<p class="muted">{_esc(n)}</p>' for n in dg.get("notes", [])]
    if ev.get("note"):
        out.append(f'<div class="note">{_esc(ev["note"])}</div>')
    n_factors = len((ev.get("mi_matrix") or {}).get("factor_names") or []) or None
    for name, result in (ev.get("metrics") or {}).items():
        cells = "".join(f"<tr><td>{_esc(k)}</td><td class='num'>{_fmt(v)}</td></tr>" for k, v in result.items()
                        if isinstance(v, (int, float, str)) and k != "note")
        guide = GUIDES.get(name)
        title = f"{_esc(guide.title)} (<code>{_esc(name)}</code>)" if guide else _esc(name)
        reading = describe_metric(name, n_factors).partition(": ")[2]
        out.append(f"<h3>{title}</h3>" + (f'<p class="muted">{_esc(reading)}</p>' if reading else "")
                   + f"<table>{cells}</table>"
                   + (f'<div class="note">{_esc(result["note"])}</div>' if result.get("note") else ""))
    if ev.get("mi_matrix") and ev_files.mi_matrix.is_file():  # not a map an earlier evaluation left behind
        out.append(_img(ev_files.mi_matrix, "Mutual information between each latent (rows) and each ground-truth factor "
                                "(columns), divided by the factor's entropy: a disentangled code has one bright "
                                "cell per column."))
    return "\n".join(out)


def _latents_section(ev: dict[str, Any] | None, per_sample: Path) -> str:
    if ev is None or "activity" not in ev.get("diagnostics", {}):
        return ""
    dg, parts = ev["diagnostics"], []
    parts.append(_img(figure_png(kl_per_dim_figure(dg.get("kl_per_dim"), dg["activity"], dg["active"],
                                                   dg.get("active_threshold", 0.01))),
                      "Dark bars: active units. Dimensions in KL order: " + ", ".join(map(str, dg["order"]))))
    parts.append(_img(figure_png(covariance_figure(dg["aggregate_cov"])),
                      "Covariance of the aggregate posterior (Cov μ(x) + E diag σ²(x)); the prior's is I."))
    if per_sample.is_file():
        table = np.load(per_sample)
        cols = {k: table[k] for k in ("log_px", "elbo", "recon_sq_error") if k in table.dtype.names}
        if cols:
            parts.append(_img(figure_png(histogram_figure(cols)), "Per-input values (for outlier thresholds)."))
    return "<h2>Latent space</h2>" + "\n".join(parts)


def _traversals_section(folder: RunFolder, checkpoint: Checkpoint | None = None) -> str:
    found = [(tr, json.loads(tr.json.read_text()) if tr.json.is_file() else {}) for tr in folder.traversals()]
    shown = [(tr, m) for tr, m in found if checkpoint is None or m.get("checkpoint_step") == checkpoint[1]]
    parts = ["<h2>Latent traversals</h2>"]
    if len(shown) < len(found):
        parts.append(f'<p class="muted">{len(found) - len(shown)} traversal(s) of other checkpoints left out.</p>')
    if not shown:
        return "".join(parts) + _missing("traversals", f"shadowplay traverse {folder.path}")
    for tr, meta in shown:
        ov = tr.overview
        start = meta.get("start", "?")
        cap = (f"{_esc(ov.parent.name)}: range mode {_esc(meta.get('mode', '?'))}, range {meta.get('range', '?')}, "
               f"{meta.get('steps', '?')} steps, from {_esc(start)}, "
               f"{_ckpt(meta.get('checkpoint'), meta.get('checkpoint_step'))}; one row (or panel) per dimension, "
               "by decreasing KL.")
        gif = tr.gif
        anim = _img(gif, alt="animated traversal") if gif.is_file() else ""
        more = " Right: animated, each row moving through its range." if anim else ""
        parts.append(f"<h3>{_esc(ov.parent.name)}</h3><div class='row'>{_img(ov, alt='traversal grid')}{anim}"
                     f"</div><p class='muted'>{cap}{more}</p>")
    return "\n".join(parts)


def _drew(rec: dict[str, Any]) -> str:
    """What drew one picture of a pair: ``checkpoint last (step 8), drawn by shadowplay sample``."""
    by = f", drawn by <code>{_esc(rec['by'])}</code>" if rec.get("by") else ""
    return _ckpt(rec.get("checkpoint"), rec.get("step")) + by


def _pictures(folder: RunFolder, meta: dict[str, Any], checkpoint: Checkpoint | None
              ) -> list[tuple[Path | None, str]]:
    """The samples and reconstructions to show, each with what drew it (for its caption): the training-time pair
    when it is still the pair drawn together (``run.pictures.drawn_pair``) with ``checkpoint``'s weights (or none
    is asked), else the report's own pair under ``report/`` (saying which weights the run folder's files show),
    else none. Without ``checkpoint``, the run folder's files, each with its own record."""
    files = (folder.samples_path, folder.reconstructions_path)
    trained, own = drawn_pair(meta, "pictures"), drawn_pair(meta, "report_pictures")
    records = picture_records(folder, meta, "pictures")
    if trained is not None and (checkpoint is None or trained["step"] == checkpoint[1]):
        return [(p, _ckpt(trained["checkpoint"], trained["step"])) for p in files]
    if checkpoint is None:
        return [(p, _drew(records.get(p.name, {}))) for p in files]
    if own is not None and own["step"] == checkpoint[1]:
        shows = (f"the training-time {files[0].name} and {files[1].name} show "
                 f"{_ckpt(trained['checkpoint'], trained['step'])}" if trained is not None else
                 "; ".join(f"the run folder's {p.name} shows {_drew(records.get(p.name, {}))}" for p in files))
        drew = _ckpt(own["checkpoint"], own["step"])
        return [(q, f"{drew}, drawn for this report (report/{q.name}); {shows}")
                for q in (folder.report_samples_path, folder.report_reconstructions_path)]
    return [(None, ""), (None, "")]


def render_report(run_dir: str | Path, checkpoint: Checkpoint | None = None) -> str:
    """The report of ``run_dir`` as one HTML string (see the module docstring for what it reads); ``checkpoint``
    (name, step) keeps to the parts drawn with those weights."""
    folder = RunFolder(run_dir)
    run = folder.path
    meta = json.loads(folder.meta_path.read_text()) if folder.meta_path.is_file() else {}
    config = folder.config_path.read_text() if folder.config_path.is_file() else ""
    ev, ev_files = _evaluation(folder, checkpoint)
    data = meta.get("data", {})
    body = [f"<h1>shadowplay run: {_esc(run.name)}</h1>",
            f'<p class="muted">preset {_esc(meta.get("preset", "?"))}, data {_esc(data.get("source", "?"))} '
            f'{_esc(tuple(data.get("shape", [])))}, status {_esc(meta.get("status", "?"))}, created '
            f'{_esc(meta.get("created", "?"))}, shadowplay {_esc(meta.get("versions", {}).get("shadowplay", "?"))}'
            "</p>"]
    if checkpoint is not None:
        body.append(f"<p>Evaluation, latent space, traversals, samples and reconstructions: {_ckpt(*checkpoint)}."
                    "</p>")
    if ev is not None and ev.get("generative") is False:  # a classifier: say so before any ELBO or picture
        body += [f'<div class="warn">{_esc(w)}</div>' for w in ev.get("diagnostics", {}).get("warnings", [])]
    body.append(f"<details><summary>config.yaml</summary><pre>{_esc(config)}</pre></details>")
    fig = training_curves(folder.read_metrics())
    body.append("<h2>Training curves</h2>" + (_img(figure_png(fig), "Every logged loss term (unweighted) against "
                                                              "the step; validation once per epoch.")
                                              if fig is not None else '<p class="muted">metrics.jsonl is empty.</p>'))
    body += ["<h2>Evaluation</h2>", _evaluation_section(run, ev, ev_files)]
    ev_files = ev_files or folder.evaluation()
    body.append(_latents_section(ev, ev_files.per_sample_npy))
    body.append(_traversals_section(folder, checkpoint))
    worst = ", ".join(map(str, (ev or {}).get("worst_inputs", [])))
    top, bottom = ("top", "bottom") if len(data.get("shape", [])) == 3 else ("left", "right")
    (samples, samples_by), (recons, recons_by) = _pictures(folder, meta, checkpoint)
    pictures = [("Samples", samples, f"Decoder means of draws from the prior; {samples_by}."),
                ("Reconstructions", recons, f"Test inputs ({top}) and their reconstructions ({bottom}); "
                                            f"{recons_by}."),
                ("Worst reconstructions", ev_files.worst_reconstructions,
                 f"The inputs with the largest reconstruction error ({top}; {_esc((ev or {}).get('split'))} indices "
                 f"{worst}, worst first) and their reconstructions ({bottom}).")]
    body.append("<h2>Samples and reconstructions</h2>" + "".join(
        f"<h3>{t}</h3>" + _img(p, c) for t, p, c in pictures
        if p is not None and p.is_file() and (ev is not None or not t.startswith("Worst"))))
    interps = folder.interpolations()
    if interps:
        body.append("<h2>Interpolations</h2>" + "".join(
            _img(p, f"{p.stem}: first input, decoded path, second input (drawn by <code>shadowplay interpolate</code> "
                    "with its own --checkpoint)") for p in interps))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>shadowplay report: "
            f"{_esc(run.name)}</title><style>{_CSS}</style></head><body>" + "\n".join(body) + "</body></html>")


def write_report(run_dir: str | Path, out: str | Path | None = None, checkpoint: Checkpoint | None = None) -> Path:
    """Write :func:`render_report` to ``out`` (default ``<run>/report.html``) and return its path."""
    out = Path(out) if out is not None else RunFolder(run_dir).report_path
    out.write_text(render_report(run_dir, checkpoint), encoding="utf-8")
    return out
