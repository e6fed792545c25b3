"""Plots are drawn with matplotlib's object API: importing shadowplay and drawing every kind of figure leaves the
user's matplotlib backend and pyplot's figure list as they were."""

from __future__ import annotations

import subprocess
import sys

from shadowplay.reports.plotting import subplots

SCRIPT = r"""
import matplotlib
matplotlib.use("svg")                       # the user's choice, made before shadowplay is imported
import matplotlib.pyplot as plt
import numpy as np, torch, tempfile, pathlib
import shadowplay
from shadowplay.reports import figures, images
from shadowplay.reports.disentanglement import save_mi_matrix
from shadowplay.study.aggregate import plot
out = pathlib.Path(tempfile.mkdtemp())
figures.figure_png(figures.training_curves([{"step": 1, "split": "train", "loss": 1.0}]))
figures.figure_png(figures.covariance_figure(np.eye(3)))
save_mi_matrix(out / "mi.png", np.ones((2, 2)), [1.0, 1.0], ["a", "b"])
images.save_traversal(out / "t", torch.randn(1, 2, 3, 5), [0, 1], ["z0", "z1"])
images.save_interpolation(out / "i.png", torch.zeros(5), torch.randn(3, 5), torch.ones(5))
images.rows_plot({"x": np.zeros((2, 5))}, out / "r.png")
plot([{"model": "m", "preset": "vae", "beta": 1.0, "mig": 0.1}], ["mig"], out / "plots")
print(matplotlib.get_backend(), len(plt.get_fignums()))
"""


def test_importing_and_plotting_leaves_the_backend_alone():
    p = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["svg", "0"]


def test_subplots_gives_an_agg_figure_outside_pyplot(tmp_path):
    fig, ax = subplots(figsize=(2, 2))
    ax.plot([0, 1])
    fig.savefig(tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert type(fig.canvas).__name__ == "FigureCanvasAgg"
