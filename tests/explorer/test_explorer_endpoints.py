"""The explorer's JSON and PNG endpoints, checked against the model and the evaluation functions directly."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from shadowplay import api
from shadowplay.evaluation import per_sample_likelihoods, posterior_moments
from shadowplay.evaluation.traversal import lerp, slerp
from shadowplay.explorer import Explorer, ExplorerServer, OutlierCheck
from shadowplay.run import open_run


@pytest.fixture(scope="module")
def model(explore_run):
    return api.load(explore_run)


@pytest.fixture(scope="module")
def test_x(explore_run):
    return api.load_splits(open_run(explore_run).config).test.x


def png_array(body: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(body))
    assert img.format == "PNG"
    return np.asarray(img)


def test_info_orders_latents_by_kl_and_marks_inactive_ones(http, model, test_x):
    r = http("GET", "/api/info")
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    info = json.loads(r.body)
    assert info["latent_dim"] == 4 and info["shape"] == [1, 8, 8] and info["is_image"]
    m = posterior_moments(model, test_x)
    kl = m.kl.mean(0)
    np.testing.assert_allclose(info["kl"], kl, rtol=1e-6)
    assert info["order"] == np.argsort(-kl, kind="stable").tolist()
    assert info["active"] == (m.mean.var(0, ddof=1) > 0.01).tolist()
    assert all(lo <= -3 and hi >= 3 for lo, hi in zip(info["low"], info["high"]))
    assert info["splits"]["test"] == len(test_x) and info["splits"]["train"] > 0
    assert info["mi_matrix"] is None and info["has_factors"] is False  # digits have no ground-truth factors


def test_decode_is_the_decoder_mean_as_a_small_png(http, model):
    z = [0.5, -1.0, 2.0, 0.0]
    r = http("GET", "/api/decode?z=" + ",".join(map(str, z)))
    assert r.status == 200 and r.headers["content-type"] == "image/png"
    assert len(r.body) < 1000  # an 8×8 picture travels at its own size; the page scales it
    got = png_array(r.body)
    want = model.decode(torch.tensor([z])).mean[0, 0].detach().clamp(0, 1).numpy() * 255
    assert got.shape == (8, 8)
    assert np.abs(got.astype(float) - want).max() <= 0.5 + 1e-6
    other = png_array(http("GET", "/api/decode?z=0,0,0,0").body)
    assert not np.array_equal(got, other)


def test_input_gives_the_posterior_mean_and_the_same_elbo_as_evaluate(http, model, test_x):
    doc = json.loads(http("GET", "/api/input?split=test&index=5").body)
    np.testing.assert_allclose(doc["code"], model.encode(test_x[5:6]).mean[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    lik = per_sample_likelihoods(model, test_x[5:6], doc["iw_samples"], index=torch.tensor([5]))
    assert doc["likelihood"]["elbo"] == pytest.approx(float(lik.elbo[0]), rel=1e-5)
    assert doc["likelihood"]["log_px"] == pytest.approx(float(lik.log_px[0]), rel=1e-5)
    assert 0 <= doc["score_percentile"] <= 100 and doc["outlier_score"] is None
    picture = png_array(http("GET", "/api/input.png?split=test&index=5").body)
    np.testing.assert_array_equal(picture, (test_x[5, 0].numpy() * 255).round().astype(np.uint8))


@pytest.mark.parametrize("path", ["slerp", "linear"])
def test_interpolation_matches_the_traversal_module(http, model, test_x, path):
    codes = model.encode(test_x[[1, 7]]).mean.detach()
    for t in (0.0, 0.3, 1.0):
        got = json.loads(http("GET", f"/api/interpolate?a=test:1&b=test:7&t={t}&path={path}").body)["code"]
        want = (slerp if path == "slerp" else lerp)(codes[0], codes[1], torch.tensor([t]))[0]
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)
    ends = [json.loads(http("GET", f"/api/interpolate?a=test:1&b=test:7&t={t}&path={path}").body)["code"]
            for t in (0, 1)]
    np.testing.assert_allclose(ends, codes.numpy(), rtol=1e-5, atol=1e-6)


def test_upload_gives_reconstruction_code_and_elbo(http, model):
    img = Image.new("L", (40, 40), 0)
    img.paste(255, (12, 4, 28, 36))  # a bright bar on black, like a digit "1"
    buf = io.BytesIO()
    img.save(buf, "PNG")
    r = http("POST", "/api/upload", body=buf.getvalue(), headers={"Content-Type": "image/png"})
    assert r.status == 200, r.text
    doc = json.loads(r.body)
    x = torch.as_tensor(np.asarray(img.resize((8, 8), Image.BOX), dtype=np.float32) / 255)[None, None]
    np.testing.assert_allclose(doc["code"], model.encode(x).mean[0].detach().numpy(), rtol=1e-4, atol=1e-5)
    lik = per_sample_likelihoods(model, x, doc["iw_samples"])
    assert doc["likelihood"]["elbo"] == pytest.approx(float(lik.elbo[0]), rel=1e-5)
    for key in ("input_png", "reconstruction_png"):
        assert doc[key].startswith("data:image/png;base64,")


def test_outlier_score_threshold_and_verdict_are_shown_when_a_detector_is_given(model, explore_run, raw_request):
    # the page showed the score alone: whether 12.3 is abnormal depends on the detector's threshold
    splits = api.load_splits(open_run(explore_run).config)
    sums = splits.test.x[:4].flatten(1).sum(1)
    threshold = float((sums[2] + sums[3]) / 2)
    check = OutlierCheck(lambda x: float(x.sum()), threshold, "sum", 0.1, "det/")
    ex = Explorer(model, {"test": splits.test}, outliers=check, outlier_hint="never shown", max_stats=50)
    with ExplorerServer(ex) as s:
        docs = [json.loads(raw_request(s, "GET", f"/api/input?split=test&index={i}").body) for i in (2, 3)]
        info = json.loads(raw_request(s, "GET", "/api/info").body)
    for i, doc in zip((2, 3), docs):
        assert doc["outlier_score"] == doc["outlier"]["score"] == pytest.approx(float(sums[i]))
        assert doc["outlier"]["threshold"] == threshold and doc["outlier"]["score_name"] == "sum"
        assert doc["outlier"]["flagged"] is bool(sums[i] > threshold)
    assert {d["outlier"]["flagged"] for d in docs} == {True, False}
    assert info["has_outlier_score"] is True and info["outlier_hint"] is None
    assert info["outlier_detector"] == {"score_name": "sum", "threshold": threshold, "contamination": 0.1,
                                        "source": "det/"}


def test_without_a_detector_the_page_says_how_to_fit_one(http, explore_run):
    info = json.loads(http("GET", "/api/info").body)
    assert info["has_outlier_score"] is False and info["outlier_detector"] is None
    assert "`shadowplay outliers fit --data digits`" in info["outlier_hint"]
    assert f"`shadowplay explore {explore_run} --outliers" in info["outlier_hint"]
    doc = json.loads(http("GET", "/api/input?split=test&index=1").body)
    assert doc["outlier"] is None and doc["outlier_score"] is None


def test_an_inputs_elbo_and_log_px_are_the_numbers_evaluate_writes(http, explore_run):
    # the page used K = 64 importance draws while `evaluate` uses K = 1000: a looser bound than the one evaluate
    # writes for the same input. Now the page uses evaluate's K and seed and the input's row as its noise index.
    ev = api.evaluate(explore_run, split="test", write=False, progress=False, device="cpu")
    assert ev.document["iw_samples"] == 1000
    for i in (0, 7):
        doc = json.loads(http("GET", f"/api/input?split=test&index={i}").body)
        assert doc["likelihood"]["log_px"] == pytest.approx(float(ev.likelihoods.log_px[i]), rel=1e-5)
        assert doc["likelihood"]["elbo"] == pytest.approx(float(ev.likelihoods.elbo[i]), rel=1e-5)
        assert doc["iw_samples"] == 1000 and doc["seed"] == 0
    info = json.loads(http("GET", "/api/info").body)
    assert info["estimator"]["iw_samples"] == 1000 and info["estimator"]["same_as_evaluate"] is True


def test_a_smaller_k_is_labelled_as_not_evaluates(model, explore_run, raw_request):
    splits = api.load_splits(open_run(explore_run).config)
    with ExplorerServer(Explorer(model, {"test": splits.test}, iw_samples=50, max_stats=50)) as s:
        info = json.loads(raw_request(s, "GET", "/api/info").body)
        doc = json.loads(raw_request(s, "GET", "/api/input?split=test&index=1").body)
    assert info["estimator"]["same_as_evaluate"] is False and "K = 50" in info["estimator"]["log_px"]
    assert info["estimator"]["evaluate_command"] == "shadowplay evaluate RUN --iw-samples 50"
    assert doc["iw_samples"] == 50


def test_the_page_and_its_assets_are_served_with_a_strict_policy(http):
    page = http("GET", "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in page.text and "https://" not in page.text  # no external resources
    for asset in ("/static/app.js", "/static/style.css"):
        r = http("GET", asset)
        assert r.status == 200 and b"http://" not in r.body and b"https://" not in r.body


def test_the_heat_map_is_shown_only_for_the_checkpoint_it_was_evaluated_on(explore_run, tmp_path):
    import shutil
    run = shutil.copytree(explore_run, tmp_path / "run")
    mi = {"nats": [[0.5]] * 4, "factor_entropy": [1.0], "factor_names": ["a"], "latents": "rows"}
    path = open_run(run).evaluation("test").json
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"checkpoint": "best", "mi_matrix": mi}))
    with api.explore(run, open_browser=False) as s:
        assert s.explorer.info()["mi_matrix"] == mi
    # `explore --checkpoint last` used to show the heat map that `evaluate` measured on the best checkpoint
    with api.explore(run, open_browser=False, checkpoint="last") as s:
        assert s.explorer.info()["mi_matrix"] is None


def test_k_falls_below_evaluates_only_when_a_click_would_be_slow_and_the_page_says_so(model, explore_run, raw_request):
    splits = api.load_splits(open_run(explore_run).config)
    ex = Explorer(model, {"test": splits.test}, max_stats=50, click_seconds=1e-12)  # no K fits: the smallest
    assert ex.iw_samples == 1
    with ExplorerServer(ex) as s:
        est = json.loads(raw_request(s, "GET", "/api/info").body)["estimator"]
    assert est["auto"] is True and est["same_as_evaluate"] is False and est["iw_samples_choice"].startswith("auto")
    assert Explorer(model, {"test": splits.test}, max_stats=50, click_seconds=60).iw_samples == 1000
