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
