"""The HTML report: self-contained (no http(s) references, images inline), built from files only, and complete
for image and tabular runs."""

from __future__ import annotations

import base64
import re
import shutil

import pytest

from shadowplay import api
from shadowplay.reports.html import render_report, write_report

_EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", re.IGNORECASE)


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/(?:png|gif);base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_is_self_contained_and_complete(image_run, run_cli):
    r = run_cli(image_run.parent, ["report", str(image_run), "--iw-samples", "10"])
    assert r.returncode == 0, r.stderr
    path = image_run / "report.html"
    assert r.stdout.strip() == str(path)
    page = path.read_text()
    assert not _EXTERNAL.search(page) and "http://" not in page and "https://" not in page
    images = _images(page)
    assert len(images) >= 8
    assert all(im[:8] == b"\x89PNG\r\n\x1a\n" or im[:6] == b"GIF89a" for im in images)
    for section in ("Training curves", "Evaluation", "Latent space", "Latent traversals", "Samples",
                    "Reconstructions", "Worst reconstructions", "config.yaml", "active units"):
        assert section in page, section
    assert (image_run / "evaluation" / "evaluation.json").is_file()  # the API ran what was missing
    assert list((image_run / "traversals").glob("*/overview.png"))


def test_rendering_reads_files_only(image_run, tmp_path):
    api.report(image_run, iw_samples=5)
    copy = tmp_path / "copy"
    shutil.copytree(image_run, copy)
    shutil.rmtree(copy / "checkpoints")  # no model can be loaded: the page must not need one
    page = render_report(copy)
    assert "Latent traversals" in page and len(_images(page)) >= 8


def test_missing_parts_say_which_command_makes_them(image_run, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("run.json", "config.yaml", "metrics.jsonl"):
        shutil.copy(image_run / name, bare / name)
    page = write_report(bare).read_text()
    assert f"shadowplay evaluate {bare}" in page and f"shadowplay traverse {bare}" in page


def test_tabular_run_report(tabular_run):
    path = api.report(tabular_run, iw_samples=5)
    page = path.read_text()
    assert "Latent traversals" in page and len(_images(page)) >= 6
    folder = next((tabular_run / "traversals").iterdir())
    assert {"overview.png", "traversal.gif", "dim-00.png", "dim-01.png"} <= {p.name for p in folder.iterdir()}
    res = api.interpolate(tabular_run, 0, 5, steps=4)
    assert res.path.is_file() and res.interpolation.images.shape == (4, 6)


def test_report_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ValueError, match="not a shadowplay run folder"):
        api.report(tmp_path)


def test_a_classifier_report_says_its_decoder_is_untrained(tmp_path):
    """A classifier-only run's report used to show an ELBO, reconstructions and "1 of 6 latent dimensions are
    inactive (partial posterior collapse)" as if its decoder had been trained; nothing trains it."""
    run = api.train(data="digits", model="classifier", latent_dim=4, net="mlp", runs_dir=tmp_path, name="clf",
                    progress=False, overrides={"trainer.max_steps": 3, "model.hidden": [16]}).path
    ev = api.evaluate(run, iw_samples=1, progress=False)
    assert ev.document["generative"] is False
    assert [w for w in ev.document["diagnostics"]["warnings"]] == [api.inspect.untrained_decoder_warning("classifier")]
    page = api.report(run, iw_samples=1, progress=False).read_text()
    top = page[:page.index("config.yaml")]
    assert "q(z|x) and the decoder p(x|z) were never trained" in top and "posterior collapse" not in page
