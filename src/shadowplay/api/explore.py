"""``explore``: serve the latent explorer page for a trained run (``shadowplay explore runs/<run>``).

>>> import shadowplay as sp
>>> server = sp.explore("runs/demo", open_browser=False)   # doctest: +SKIP
>>> print(server.url); server.close()                      # doctest: +SKIP
"""

from __future__ import annotations

import ipaddress
import json
import warnings
import webbrowser
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError, user_stacklevel
from ..evaluation.likelihood import check_iw_samples
from ..explorer import Explorer, ExplorerServer, OutlierCheck
from ..run import RunFolder, open_run
from ..workflow import ARRAY_SOURCE, Run, load_model, load_splits

SPLITS = ("test", "train")  # the inputs a person may start from, in the order the page lists them


class ExposedExplorerWarning(UserWarning):
    """The explorer listens on an address other machines may reach."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _evaluation_document(folder: RunFolder, checkpoint: str) -> dict[str, Any] | None:
    """The run's test-split ``evaluation.json`` (its MI matrix feeds the heat map), or ``None`` when absent,
    unreadable, or written for another checkpoint than the one explored (its heat map would describe another
    model): the page shows what exists."""
    path = folder.evaluation("test").json
    try:
        doc = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("checkpoint", "best") == checkpoint else None


def _fit_hint(folder: RunFolder) -> str:
    """What the page says without a detector: the commands that fit one on the explored run's data and show it."""
    data = folder.config.data
    opts = "".join(f" {flag} {value}" for flag, value in (("--data-dir", data.data_dir),
                                                          ("--label-column", data.label_column)) if value)
    return (f"no outlier detector: fit one with `shadowplay outliers fit --data {data.source}{opts}`, then "
            f"`shadowplay explore {folder.path} --outliers <the run folder it prints>`")


def _outlier_check(outliers: str | Path | None, shape: tuple[int, ...], device: str,
                   standardize: dict[str, Any] | None) -> OutlierCheck | None:
    """The detector that ``shadowplay outliers fit`` saved in the run folder ``outliers``, with its score (higher =
    more abnormal) and ``threshold_``, or ``None`` when no folder is given. The explored run's CSV rows are
    standardized with that run's ``standardize`` statistics; the detector takes rows on their own scale (it
    standardizes them itself), so they are put back first."""
    if outliers is None:
        return None
    folder = open_run(outliers)
    if not folder.outliers_state_path.is_file():
        raise ConfigError(f"{folder.path} holds no outlier detector (write one with `shadowplay outliers fit`)")
    from ..outliers.detector import VAEOutlierDetector  # a scikit-learn estimator: imported when used
    detector = VAEOutlierDetector.from_run(folder.path, device=device)
    if tuple(detector.input_shape_) != tuple(shape):
        raise ConfigError(f"the detector in {folder.path} takes inputs of shape {tuple(detector.input_shape_)}, "
                          f"the explored run {tuple(shape)}: fit a detector on the same data")
    mean, std = ((np.asarray(standardize["mean"]), np.asarray(standardize["std"])) if standardize else (0.0, 1.0))

    def score(x: torch.Tensor) -> float:
        rows = x.reshape(len(x), -1).cpu().double().numpy() * std + mean
        return float(detector.decision_function(rows)[0])
    return OutlierCheck(score, float(detector.threshold_), str(detector.outlier_score), float(detector.contamination),
                        str(folder.path))


def explore(run: str | Path | Run, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
            checkpoint: str = "best", device: str = "cpu", verbose: bool = False,
            outliers: str | Path | None = None, iw_samples: int | None = None) -> ExplorerServer:
    """Start the latent explorer for ``run`` and return the running :class:`~shadowplay.explorer.ExplorerServer`
    (``.url``, ``.close()``, ``.wait()``); the server runs in a background thread until closed.

    Args:
        host: address to listen on; loopback by default. Any other address lets other machines drive the model
            and read the run's data, so it warns (:class:`ExposedExplorerWarning`).
        port: TCP port; 0 picks a free one (see ``.port``).
        open_browser: open the page in the default web browser.
        checkpoint: ``best``, ``last`` or a checkpoint file name.
        device: where the model runs (``cpu``, ``cuda``, …); a picture per slider move is cheap on a CPU.
        verbose: log every request to stderr.
        outliers: a run folder written by ``shadowplay outliers fit`` on the same kind of data; its detector's
            score (higher = more abnormal), threshold and verdict (flagged when the score is above the threshold)
            are shown for every input and upload. Without it the page says how to fit one.
        iw_samples: importance samples K of an input's ELBO and log p(x). ``None`` (the default): ``evaluate``'s
            1000, so the page shows the numbers ``evaluate`` writes, unless one input at that K is timed to take
            more than a second here (a 64-px conv net on a busy CPU); then the largest of 300, 100, … that fits,
            and the page says its numbers are not evaluate's.
    """
    check_iw_samples(iw_samples)  # before the model loads; the Explorer checks it again for direct callers
    if not 0 <= int(port) <= 65535:
        raise ConfigError(f"--port must be 0 (a free port) or 1..65535, got {port}")
    if not is_loopback(host):
        warnings.warn(f"the explorer listens on {host}, reachable beyond this machine: anyone who can reach it can "
                      "decode with the model and see the run's data. Use the default 127.0.0.1 unless you mean it",
                      ExposedExplorerWarning, stacklevel=user_stacklevel())
    folder = open_run(run)
    if folder.config.data.source == ARRAY_SOURCE:  # the page lists the run's own inputs; such a run has none
        raise DataError(f"{folder.path} was trained on arrays in memory (by a scikit-learn estimator or `outliers "
                        "fit`), which a run does not keep, and the explorer starts from the run's own inputs; "
                        "explore a run trained with `shadowplay train --data FILE` instead")
    model = load_model(folder, checkpoint, device)
    splits = load_splits(folder.config)
    datasets = {s: splits.get(s) for s in SPLITS}
    standardize = next((d.meta.get("standardize") for d in datasets.values() if d.meta.get("standardize")), None)
    explorer = Explorer(model, datasets, name=folder.path.name,
                        evaluation=_evaluation_document(folder, checkpoint),
                        outliers=_outlier_check(outliers, tuple(model.data_shape), device, standardize),
                        outlier_hint=_fit_hint(folder), iw_samples=iw_samples)
    server = ExplorerServer(explorer, host, int(port), quiet=not verbose)
    if open_browser:
        try:
            webbrowser.open(server.url)
        except webbrowser.Error:
            pass  # the URL is printed by the CLI; a machine without a browser is not an error
    return server
