"""Rate–distortion (Alemi et al. 2018): the rows, when a study counts as a β sweep (a study without one writes no
files: ``varies_beta`` is False), the files, and a real 2-run β study whose rate and distortion are checked against
an independent computation on the test split."""

from __future__ import annotations

import csv

import pytest
import torch
import yaml
from PIL import Image
from torch.distributions import Normal, kl_divergence

import shadowplay as sp
from shadowplay.api import load_splits
from shadowplay.run import open_run
from shadowplay.study.rate_distortion import (_merged_labels, rate_distortion_rows, rd_figure, varies_beta,
                                              write_rate_distortion)


def _rows():
    return [{"name": f"beta_vae-beta{b}-s{s}", "preset": "beta_vae", "seed": s, "rate": 10.0 / b + s,
             "distortion": 50.0 + b + s} for b in (1, 4) for s in (0, 1)] + \
           [{"name": "ae-s0", "preset": "ae", "seed": 0, "rate": None, "distortion": 60.0}]


def test_rows_elbo_and_sweep_detection(tmp_path):
    betas = {f"beta_vae-beta{b}-s{s}": float(b) for b in (1, 4) for s in (0, 1)}
    rd = rate_distortion_rows(_rows(), betas)
    assert len(rd) == 4  # the autoencoder has no rate
    assert all(r["elbo"] == -(r["rate"] + r["distortion"]) for r in rd)  # Alemi et al., eq. 6
    assert varies_beta(rd)
    assert not varies_beta([dict(r, beta=1.0) for r in rd]) and not varies_beta([dict(r, beta=None) for r in rd])
    paths = write_rate_distortion(rd, tmp_path, "test")
    table = list(csv.DictReader(open(paths["rate_distortion_csv"])))
    assert [t["name"] for t in table] == [r["name"] for r in rd] and table[0]["split"] == "test"
    assert float(table[1]["rate"]) == 11.0 and float(table[1]["distortion"]) == 52.0
    assert Image.open(paths["rate_distortion_plot"]).size[0] > 500


@pytest.fixture(scope="module")
def beta_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rd")
    doc = {"output": "out", "seeds": [0], "metrics": [],
           "base": {"data": {"source": "digits", "n_samples": 300}, "model": {"latent_dim": 3, "hidden": [32]},
                    "trainer": {"epochs": 2, "batch_size": 32}},
           "evaluation": {"iw_samples": 50},
           "models": [{"preset": "beta_vae", "beta": [0.5, 4]}]}
    (folder / "rd.yaml").write_text(yaml.safe_dump(doc))
    return sp.api.study(folder / "rd.yaml", progress=False)


def test_a_beta_study_writes_the_rate_distortion_table(beta_study):
    assert not beta_study.failed
    files = beta_study.files
    assert {"rate_distortion_csv", "rate_distortion_plot"} <= set(files)
    table = list(csv.DictReader(open(files["rate_distortion_csv"])))
    assert [(t["preset"], float(t["beta"])) for t in table] == [("beta_vae", 0.5), ("beta_vae", 4.0)]
    low, high = (float(t["rate"]) for t in table)
    assert low > high  # a larger β sells rate (Alemi et al., §4)
    results = list(csv.DictReader(open(files["results_csv"])))
    assert {"rate", "distortion"} <= set(results[0])


def test_rate_and_distortion_match_an_independent_computation(beta_study):
    table = list(csv.DictReader(open(beta_study.files["rate_distortion_csv"])))
    row = table[0]
    run = beta_study.output / "runs" / row["name"]
    model = sp.load(run, "last")
    x = load_splits(open_run(run).config).test.x
    with torch.no_grad():
        q = model.encode(x)
        rate = kl_divergence(q, Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))).sum(-1).mean()
        g = torch.Generator().manual_seed(1)
        draws = [model.decode(q.loc + q.scale * torch.randn(q.loc.shape, generator=g)).log_prob(x) for _ in range(200)]
        distortion = -torch.stack(draws).mean()
    assert float(row["rate"]) == pytest.approx(float(rate), rel=1e-4)  # closed form both times
    assert float(row["distortion"]) == pytest.approx(float(distortion), rel=0.02)  # 50 vs 200 Monte Carlo draws


def test_points_on_one_spot_share_one_label():
    # collapsed runs at β = 4 and 16 both sit at rate ≈ 0: their labels used to be drawn over each other
    pts = [(24.1, 5.85, 0.25), (26.7, 0.90, 1.0), (27.70, 0.009, 4.0), (27.72, 0.001, 16.0)]
    labels = _merged_labels(pts, span=(4.0, 6.4))
    assert [lab for _, _, lab in labels] == ["β=0.25", "β=1", "β=4, 16"]
    assert labels[-1][:2] == (27.70, 0.009)  # placed at the first point of the group
    assert [lab for _, _, lab in _merged_labels(pts, span=(0.01, 0.01))] == ["β=0.25", "β=1", "β=4", "β=16"]


def test_negative_distortion_stays_inside_the_axes():
    # a Gaussian or Laplace likelihood whose density exceeds 1 gives D = −E log p(x|z) < 0; the x axis used to be
    # clamped at 0, which left every point of such a study outside an inverted axis and the plot empty
    rows = [{"name": f"g-b{b}", "model": f"g-b{b}", "preset": "beta_vae", "beta": b, "seed": 0, "rate": r,
             "distortion": d, "elbo": -(r + d)} for b, r, d in ((0.5, 12.0, -140.0), (1.0, 8.0, -120.0),
                                                               (4.0, 1.5, -60.0))]
    ax = rd_figure(rows, "test").axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < x1 and y0 < y1
    assert all(x0 < r["distortion"] < x1 and y0 < r["rate"] < y1 for r in rows)
    assert y0 >= 0.0  # a rate is a KL divergence: its axis still stops at 0


def test_every_line_of_equal_elbo_is_labelled():
    # lines leaving through the bottom edge lost their label: c − (c − y0) ≠ y0 after rounding failed the check
    rows = [{"name": f"g-b{b}", "model": f"g-b{b}", "preset": "beta_vae", "beta": b, "seed": 0, "rate": r,
             "distortion": d, "elbo": -(r + d)} for b, r, d in ((0.5, 12.0, 60.0), (1.0, 8.0, 80.0), (4.0, 1.5, 140.0))]
    ax = rd_figure(rows, "test").axes[0]
    assert len([t for t in ax.texts if t.get_text().startswith("−ELBO")]) == 5
