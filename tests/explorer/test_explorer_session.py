"""The :class:`Explorer` without HTTP: tabular rows, a plain autoencoder, and the MI map taken from evaluate."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from shadowplay.data import Dataset
from shadowplay.errors import ShadowplayError
from shadowplay.explorer import Explorer
from shadowplay.model import ModelSpec, build_model


def tiny(shape, posterior="gaussian", likelihood="gaussian") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelSpec(data_shape=shape, latent_dim=3, net="mlp", hidden=(16,), posterior=posterior,
                                 likelihood=likelihood))


def test_tabular_rows_are_drawn_as_lines_on_a_fixed_range():
    x = torch.randn(40, 6)
    ex = Explorer(tiny((6,)), {"test": Dataset("rows", x, value_range="real")})
    assert not ex.info()["is_image"]
    a = Image.open(io.BytesIO(ex.decode_png([0, 0, 0])))
    b = Image.open(io.BytesIO(ex.decode_png([3, -3, 3])))
    assert a.size == b.size == (256, 128) and a.tobytes() != b.tobytes()
    lo, hi = ex.value_range
    assert lo < float(x.min()) and hi > float(x.max())  # the y range does not follow the decoded curve


def test_an_autoencoder_has_no_kl_so_latents_are_ordered_by_activity():
    x = torch.rand(50, 1, 8, 8)
    ex = Explorer(tiny((1, 8, 8), posterior="point", likelihood="bernoulli"), {"train": Dataset("img", x)})
    info = ex.info()
    assert info["kl"] is None and info["score_name"] == "recon_ll"
    assert info["order"] == np.argsort(-np.asarray(info["activity"]), kind="stable").tolist()
    doc = ex.input_doc("train", 0)
    assert set(doc["likelihood"]) == {"recon_ll"}


def test_mi_matrix_comes_from_the_evaluation_document_and_splits_are_checked():
    x = torch.rand(30, 1, 8, 8)
    mi = {"nats": [[0.5, 0.0]] * 3, "factor_entropy": [1.0, 2.0], "factor_names": ["a", "b"], "latents": "rows"}
    ex = Explorer(tiny((1, 8, 8), likelihood="bernoulli"), {"test": Dataset("img", x)},
                  evaluation={"mi_matrix": mi})
    assert ex.info()["mi_matrix"] == mi and ex.info()["splits"] == {"test": 30}
    with pytest.raises(ShadowplayError, match="unknown split 'train'"):
        ex.input_png("train", 0)
    with pytest.raises(ShadowplayError, match="at least one non-empty split"):
        Explorer(tiny((1, 8, 8)), {})


def test_the_percentile_says_how_many_inputs_it_is_taken_among():
    ex = Explorer(tiny((1, 8, 8), likelihood="bernoulli"), {"test": Dataset("img", torch.rand(300, 1, 8, 8))})
    info = ex.info()
    # the page said "among the test inputs" while the reference holds only the first 250 of the 300
    assert info["reference_size"] == 250 == len(ex.reference) and info["splits"]["test"] == 300
    pct = ex.input_doc("test", 7)["score_percentile"]
    assert pct == pytest.approx(100 * np.searchsorted(ex.reference, ex.input_doc("test", 7)["likelihood"]["elbo"],
                                                      side="right") / 250)
