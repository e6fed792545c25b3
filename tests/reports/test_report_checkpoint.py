"""The report draws everything with one checkpoint and says which.

``shadowplay report RUN`` (checkpoint ``best``) used to reuse an evaluation made at another checkpoint (a study
evaluates ``last``) next to traversals drawn from ``best`` and samples drawn at the end of training, and the page did
not say which weights each part showed.
"""

from __future__ import annotations

import json
import shutil

import pytest

from shadowplay import api
from shadowplay.errors import ShadowplayWarning
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
    trained = {p: (run / p).read_bytes() for p in ("samples.png", "reconstructions.png")}
    page = api.report(run, iw_samples=1, progress=False).read_text()

    ev = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert (ev["checkpoint"], ev["checkpoint_step"]) == ("best", 5)  # evaluated again with the report's weights
    (trav,) = (run / "traversals").glob("*/traversal.json")
    assert json.loads(trav.read_text())["checkpoint_step"] == 5
    # the training-time pictures (step 10) were redrawn in place with best's weights: now the report draws its own
    meta = json.loads((run / "run.json").read_text())
    assert meta["pictures"] == {"checkpoint": "last", "step": 10}
    assert meta["report_pictures"] == {"checkpoint": "best", "step": 5}
    assert {p: (run / p).read_bytes() for p in trained} == trained
    assert (run / "report" / "samples.png").read_bytes() != trained["samples.png"]
    assert "samples and reconstructions: checkpoint best (step 5)." in page
    assert "checkpoint best (step 5), drawn for this report (report/samples.png); the training-time samples.png " \
           "and reconstructions.png show checkpoint last (step 10)." in page
    # each caption names its own picture (the reconstructions' caption named report/samples.png)
    assert "bottom); checkpoint best (step 5), drawn for this report (report/reconstructions.png);" in page
    assert "checkpoint last (step 10)" not in page.replace("show checkpoint last (step 10)", "")

    mtime = (run / "evaluation" / "evaluation.json").stat().st_mtime_ns
    api.report(run, iw_samples=1, progress=False)  # the same weights: nothing is evaluated again
    assert (run / "evaluation" / "evaluation.json").stat().st_mtime_ns == mtime

    other = render_report(run, ("last", 10))  # parts of other weights are left out, not shown as if they were
    assert "No evaluation yet" in other and "1 traversal(s) of other checkpoints left out" in other
    assert "<h3>Samples</h3>" in other and "<h3>Samples</h3>" in page  # at last: the training-time pair
    assert "drawn for this report" not in other

    stamp = (run / "report" / "samples.png").stat().st_mtime_ns
    api.report(run, iw_samples=1, progress=False)  # its own pictures are of these weights already: kept
    assert (run / "report" / "samples.png").stat().st_mtime_ns == stamp
    page = api.report(run, iw_samples=1, progress=False, checkpoint="last").read_text()
    assert "drawn for this report" not in page and "checkpoint last (step 10)." in page
    assert {p: (run / p).read_bytes() for p in trained} == trained


def test_report_at_other_weights_computes_the_metrics_asked_for_earlier_again(tmp_path):
    """``evaluate --checkpoint last --metrics mig,sap`` then ``report`` (best) evaluated again without metrics: the
    MIG and SAP the user computed vanished from the page and from evaluation.json, with no word; and the earlier
    mi_matrix.png stayed behind and was shown as if it were best's."""
    run = api.train(data="dsprites", latent_dim=3, runs_dir=tmp_path / "runs", name="d", progress=False,
                    overrides={"data.n_samples": 300, "model.net": "mlp", "model.hidden": [16],
                               "trainer.max_steps": 10, "trainer.checkpoint_every": 5}).path
    shutil.copy(run / "checkpoints" / "step-000000006.safetensors", run / "checkpoints" / "best.safetensors")
    options = {"mig": {"bins": 5}}
    api.evaluate(run, iw_samples=1, checkpoint="last", metrics="mig,sap", metric_options=options, seed=3,
                 progress=False)
    with pytest.warns(ShadowplayWarning, match=r"mig, sap of checkpoint last \(step 10\); the report shows "
                                               r"checkpoint best \(step 6\) and computes them again"):
        page = api.report(run, iw_samples=1, progress=False).read_text()
    ev = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert (ev["checkpoint_step"], list(ev["metrics"]), ev["seed"]) == (6, ["mig", "sap"], 3)
    assert ev["metric_request"] == {"metrics": ["mig", "sap"], "metric_options": options}
    assert "(<code>mig</code>)" in page and "(<code>sap</code>)" in page
    assert "Mutual information between each latent" in page

    api.evaluate(run, iw_samples=1, checkpoint="last", progress=False)  # no metrics: the old map is not this one's
    assert not (run / "evaluation" / "mi_matrix.png").exists()
    assert "Mutual information between each latent" not in render_report(run)


def test_tiny_means_show_their_magnitude():
    """A collapsed run's KL of 0.000234 nats was printed "0.0002"."""
    from shadowplay.reports.html import _evaluation_section
    from shadowplay.run import RunFolder

    ev = {"split": "test", "n_inputs": 3, "likelihood": {"kl": 0.000234, "elbo": -12.5}}
    section = _evaluation_section(RunFolder("x").path, ev, RunFolder("x").evaluation())
    assert "2.34e-04 nats" in section and "-12.5000 nats" in section


def test_sample_and_reconstruct_over_the_run_pictures_leave_no_false_record(tmp_path, capsys):
    """``shadowplay sample RUN --checkpoint best`` (no -o) drew over ``samples.png`` while ``run.json`` still said the
    training-time pair was ``last``'s: ``report --checkpoint last`` then showed best's samples captioned as last's."""
    from shadowplay.cli import main
    run = _run_whose_best_is_not_last(tmp_path)
    trained = (run / "reconstructions.png").read_bytes()
    assert main(["sample", str(run), "--checkpoint", "best", "-n", "9"]) == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["pictures"] == {"samples.png": {"checkpoint": "best", "step": 5, "by": "shadowplay sample"},
                                "reconstructions.png": {"checkpoint": "last", "step": 10}}
    assert main(["report", str(run), "--checkpoint", "last", "-k", "1", "--no-progress"]) == 0
    page = (run / "report.html").read_text()
    # the report drew its own pair with last's weights and says what the run folder's files show now
    assert json.loads((run / "run.json").read_text())["report_pictures"] == {"checkpoint": "last", "step": 10}
    assert "checkpoint last (step 10), drawn for this report (report/samples.png); the run folder's samples.png " \
           "shows checkpoint best (step 5), drawn by <code>shadowplay sample</code>; the run folder's " \
           "reconstructions.png shows checkpoint last (step 10)." in page
    assert (run / "reconstructions.png").read_bytes() == trained  # the report never draws over the run's files

    assert main(["reconstruct", str(run), "--checkpoint", "last", "-n", "40"]) == 0  # the same weights, other rows
    pictures = json.loads((run / "run.json").read_text())["pictures"]
    assert pictures["reconstructions.png"] == {"checkpoint": "last", "step": 10, "by": "shadowplay reconstruct"}
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "elsewhere.png")]) == 0  # not a run picture
    assert json.loads((run / "run.json").read_text())["pictures"] == pictures
    capsys.readouterr()
