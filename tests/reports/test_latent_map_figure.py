"""The latent map's figure says what its colours are."""

from __future__ import annotations

import numpy as np

from shadowplay.reports.embedding import latent_map_figure


def test_the_legend_names_what_the_colours_are():
    # the legend listed 0, 1, 2 (or class names) with nothing saying they are the inputs' labels
    xy = np.random.default_rng(0).normal(size=(30, 2))
    fig = latent_map_figure(xy, ("z0", "z1"), np.arange(30) % 3, ["a", "b", "c"], "title")
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text() == "label"
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "c"]


def test_a_long_title_stays_inside_the_figure():
    # `embed --map tsne` of a run named beta_vae-digits-<time> cut the end of its one-line title off
    xy = np.random.default_rng(0).normal(size=(30, 2))
    title = "beta_vae-digits-20261201-162501: posterior means of digits test, 180 of 180 inputs"
    fig = latent_map_figure(xy, ("t-SNE 1", "t-SNE 2"), title=title)
    renderer = fig.canvas.get_renderer()
    box = fig.axes[0].title.get_window_extent(renderer)
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width
    assert fig.axes[0].get_title().replace("\n", " ") == title
