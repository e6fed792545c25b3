"""The report draws everything with one checkpoint and says which.

``shadowplay report RUN`` (checkpoint ``best``) used to reuse an evaluation made at another checkpoint (a study
evaluates ``last``) next to traversals drawn from ``best`` and samples drawn at the end of training, and the page did
not say which weights each part showed.
"""

from __future__ import annotations

import json
import shutil

from shadowplay import api
from shadowplay.reports.html import render_report


def _run_whose_best_is_not_last(tmp_path):
    run = api.train(data="digits", latent_dim=2, runs_dir=tmp_path / "runs", name="r", progress=False,
                    overrides={"trainer.max_steps": 10, "trainer.checkpoint_every": 5, "model.hidden": [16],
                               "trainer.log_every": 5}).path
    shutil.copy(run / "checkpoints" / "step-000000005.safetensors", run / "checkpoints" / "best.safetensors")
    return run


def test_report_reuses_only_an_evaluation_of_its_own_checkpoint_and_names_it(tmp_path):
    run = _run_whose_best_is_not_last(tmp_path)
    assert json.loads((run / "run.json").read_text())["pictures"] == {"checkpoint": "last", "step": 10}
    api.evaluate(run, iw_samples=1, checkpoint="last", progress=False)  # what a study leaves
    page = api.report(run, iw_samples=1, progress=False).read_text()

    ev = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert (ev["checkpoint"], ev["checkpoint_step"]) == ("best", 5)  # evaluated again with the report's weights
    (trav,) = (run / "traversals").glob("*/traversal.json")
    assert json.loads(trav.read_text())["checkpoint_step"] == 5
    assert json.loads((run / "run.json").read_text())["pictures"] == {"checkpoint": "best", "step": 5}
    assert "samples and reconstructions: checkpoint best (step 5)." in page
    assert "checkpoint last" not in page and "(step 10)" not in page

    mtime = (run / "evaluation" / "evaluation.json").stat().st_mtime_ns
    api.report(run, iw_samples=1, progress=False)  # the same weights: nothing is evaluated again
    assert (run / "evaluation" / "evaluation.json").stat().st_mtime_ns == mtime

    other = render_report(run, ("last", 10))  # parts of other weights are left out, not shown as if they were
    assert "No evaluation yet" in other and "1 traversal(s) of other checkpoints left out" in other
    assert "<h3>Samples</h3>" not in other and "<h3>Samples</h3>" in page


def test_tiny_means_show_their_magnitude():
    """A collapsed run's KL of 0.000234 nats was printed "0.0002"."""
    from shadowplay.reports.html import _evaluation_section
    from shadowplay.run import RunFolder

    ev = {"split": "test", "n_inputs": 3, "likelihood": {"kl": 0.000234, "elbo": -12.5}}
    section = _evaluation_section(RunFolder("x").path, ev, RunFolder("x").evaluation())
    assert "2.34e-04 nats" in section and "-12.5000 nats" in section
