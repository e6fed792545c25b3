"""The files in ``examples/`` run as they are and show what they say they show."""

from __future__ import annotations

import csv
from pathlib import Path

import shadowplay as sp

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_rd_example_draws_a_curve_not_a_collapsed_point(tmp_path):
    """``examples/rd.yaml`` sweeps β to draw a rate–distortion curve: every β must keep some rate (with the
    Bernoulli default, β = 4 and 16 had 0.009 and 0.001 nats, one point twice), and the rate must fall as β rises
    while the distortion grows (Alemi et al. 2018)."""
    result = sp.api.study(EXAMPLES / "rd.yaml", jobs=2, output=tmp_path / "rd", progress=False)
    assert not result.failed
    rows = sorted(csv.DictReader(open(result.files["rate_distortion_csv"])), key=lambda r: float(r["beta"]))
    assert [float(r["beta"]) for r in rows] == [0.25, 1.0, 4.0, 16.0]
    rates = [float(r["rate"]) for r in rows]
    distortions = [float(r["distortion"]) for r in rows]
    assert min(rates) > 1.0, f"a β whose latents all collapsed (rate in nats): {rates}"
    assert rates == sorted(rates, reverse=True) and distortions == sorted(distortions), (rates, distortions)
