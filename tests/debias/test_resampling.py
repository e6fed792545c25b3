"""The resampling callback: weights from the current codes every epoch, class shares kept, saved and resumed."""

import numpy as np
import pytest
import torch

import shadowplay as sp
from shadowplay.workflow import load_splits
from shadowplay.debias import DebiasError, Resampling, group_balanced_weights, posterior_means, sampling_weights
from shadowplay.run import open_run
from shadowplay.training import Callback

FAST = {"model.hidden": "[32]", "trainer.batch_size": 32, "trainer.log_every": 5}


class Spy(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_start(self, trainer, epoch):
        self.seen.append(trainer.sample_weights.clone())


def test_weights_are_the_histogram_weights_of_the_current_codes(tmp_path, fmnist_dir):
    kw = dict(data_dir=str(fmnist_dir), latent_dim=3, net="mlp", runs_dir=tmp_path, progress=False,
              rare_fraction=0.05)
    run = sp.debias.train(epochs=2, overrides=FAST, name="a", bins=5, alpha=0.01, combine="product", **kw)
    ckpt = open_run(run.path).checkpoint("last")
    w = ckpt.tensors["data/sample_weights"]
    tr = load_splits(run.config).train
    pos = tr.labels == 1
    assert w.shape == (len(tr),) and abs(float(w.sum()) - 1) < 1e-9
    assert float(w[~pos].max()) == pytest.approx(1 / len(tr)) == pytest.approx(float(w[~pos].min()))
    assert float(w[pos].sum()) == pytest.approx(float(pos.sum()) / len(tr))  # the class keeps its share
    # the checkpoint's weights were computed at the start of the last epoch, from the weights saved after epoch 1
    first = open_run(run.path).checkpoints[0]
    from shadowplay.training import read_checkpoint
    model = sp.build_model(sp.ModelSpec.from_dict(ckpt.state["model_spec"]))
    model.load_state_dict(read_checkpoint(first).section("model"))
    expect = sampling_weights(posterior_means(model, tr.x[pos]), bins=5, alpha=0.01, combine="product")
    np.testing.assert_allclose(w[pos].numpy() / float(w[pos].sum()), expect, rtol=1e-5)
    assert (run.path / "debias" / "weights.png").is_file()


def test_recomputed_every_epoch_and_restored_on_resume(tmp_path, fmnist_dir):
    kw = dict(data_dir=str(fmnist_dir), latent_dim=3, net="mlp", runs_dir=tmp_path, progress=False,
              rare_fraction=0.05, epochs=3)
    train = sp.debias.train
    full = sp.debias.train(overrides={**FAST, "trainer.deterministic": True}, name="full", **kw)
    # 360 training images / 32 = 12 steps per epoch: stop in the middle of epoch 2, then resume
    part = train(overrides={**FAST, "trainer.deterministic": True, "trainer.max_steps": 17}, name="part", **kw)
    stopped = open_run(part.path).checkpoint("last")
    assert stopped.state["batch_in_epoch"] == 5 and "data/sample_weights" in stopped.tensors
    spy = Spy()
    sp.resume(part.path, overrides={"trainer.max_steps": "none"}, progress=False, callbacks=[spy])
    a, b = open_run(full.path).checkpoint("last"), open_run(part.path).checkpoint("last")
    assert torch.equal(a.tensors["data/sample_weights"], b.tensors["data/sample_weights"])
    for k in a.section("model"):
        assert torch.equal(a.section("model")[k], b.section("model")[k]), k
    # resumed mid-epoch: the first weights seen are recomputed at the next epoch start (the restored ones drew
    # the rest of epoch 2), and they differ from epoch to epoch
    assert len(spy.seen) == 1
    weights = [open_run(full.path).checkpoints[i] for i in range(len(open_run(full.path).checkpoints))]
    from shadowplay.training import read_checkpoint
    ws = [read_checkpoint(p).tensors["data/sample_weights"] for p in weights]
    assert not torch.equal(ws[-1], ws[-2])


def test_oracle_group_weights():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    groups = torch.tensor([0, 0, 0, 1, 2, 2, 2, 2, 2, 3])
    w = group_balanced_weights(labels, groups)
    # class 0 keeps 4/10, split 2/10 + 2/10 over its groups; class 1 keeps 6/10, 3/10 per group
    assert torch.allclose(w, torch.tensor([2 / 30] * 3 + [2 / 10] + [3 / 50] * 5 + [3 / 10], dtype=torch.float64))


def test_bad_options_and_absent_class(tmp_path, fmnist_dir):
    with pytest.raises(DebiasError, match="alpha"):
        Resampling(alpha=0)
    with pytest.raises(DebiasError, match="bins"):
        Resampling(bins=1)
    with pytest.raises(DebiasError, match="groups"):
        Resampling(mode="groups")
    with pytest.raises(ValueError, match="debiased class 4 is absent"):
        sp.debias.train(data_dir=str(fmnist_dir), debias_class=4, runs_dir=tmp_path, progress=False, epochs=1)
    assert not any(tmp_path.iterdir())  # nothing written for a bad input
