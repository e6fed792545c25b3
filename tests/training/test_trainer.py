"""The training loop: NaN/Inf guard, exact resume in-process, seeding, validation metrics, callbacks, and terms
that train their own parameters with a second optimizer."""

from __future__ import annotations

import math

import pytest
import torch

import shadowplay.api as api
from shadowplay.errors import TrainingDivergedError
from shadowplay.objectives import Term, TermOutput
from shadowplay.objectives.terms.kl import KL
from shadowplay.training import Callback, Trainer, latest_good, read_checkpoint, read_metrics


def _train(data, runs_dir, name, extra=(), **kw):
    overrides = ["model.hidden=[32]", "trainer.batch_size=32", "trainer.epochs=3", *extra]
    return api.train(data=str(data), latent_dim=3, runs_dir=runs_dir, name=name, overrides=overrides,
                     **{"progress": False, **kw})


def _weights(run_dir, section="model"):
    return latest_good(run_dir / "checkpoints").section(section)


def test_nan_in_a_term_stops_with_the_step_and_term_named(tiny_flat, runs_dir, monkeypatch):
    real = KL.forward

    def kl_goes_nan(self, out, ctx):
        res = real(self, out, ctx)
        return TermOutput({"kl": res.parts["kl"] * math.nan}, res.diagnostics) if ctx.step >= 7 else res

    monkeypatch.setattr(KL, "forward", kl_goes_nan)
    with pytest.raises(TrainingDivergedError) as e:
        _train(tiny_flat, runs_dir, "nan", ["trainer.checkpoint_every=3", "trainer.max_steps=20"], model="vae")
    msg = str(e.value)
    assert "'kl'" in msg and "at step 7" in msg and "step-000000006.safetensors" in msg
    run = runs_dir / "nan"
    good = latest_good(run / "checkpoints")
    assert good.state["step"] == 6
    assert all(torch.isfinite(t).all() for t in good.section("model").values())
    model = api.load(run, "last")
    assert torch.isfinite(model.sample(4)).all()


class PoisonWeights(Callback):
    """Sets the first encoder weight to NaN after ``at`` steps: the next step's loss becomes NaN."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, trainer, step, values):
        if step == self.at:
            with torch.no_grad():
                next(trainer.model.encoder.parameters())[0, 0] = math.nan


def test_nan_weights_stop_training_and_keep_the_last_good_checkpoint(tiny_flat, runs_dir):
    with pytest.raises(TrainingDivergedError, match=r"'recon' became nan at step 5 .*step-000000004"):
        _train(tiny_flat, runs_dir, "poison", ["trainer.checkpoint_every=2"], model="beta_vae",
               callbacks=[PoisonWeights(5)])
    ckpts = sorted(p.name for p in (runs_dir / "poison" / "checkpoints").iterdir())
    assert ckpts[-1] == "step-000000004.safetensors"  # nothing written after the poisoned step
    assert all(torch.isfinite(t).all() for t in _weights(runs_dir / "poison").values())


def test_resume_after_max_steps_equals_an_uninterrupted_run(tiny_flat, runs_dir):
    extra = ["trainer.checkpoint_every=4"]
    full = _train(tiny_flat, runs_dir, "full", extra, model="vae", seed=3)
    part = _train(tiny_flat, runs_dir, "part", [*extra, "trainer.max_steps=11"], model="vae", seed=3)
    assert part.result.step == 11 and not part.result.finished
    again = api.resume(part.path, ["trainer.max_steps=none"], progress=False)
    assert again.result.step == full.result.step and again.result.finished
    a, b = _weights(full.path), _weights(part.path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fa = read_checkpoint(full.result.last_checkpoint).section("optim/model")
    fb = read_checkpoint(again.result.last_checkpoint).section("optim/model")
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    assert again.result.val_metrics == full.result.val_metrics


def test_sparse_epoch_checkpoints_change_nothing_trained_or_logged_and_resume_exactly(tiny_flat, runs_dir,
                                                                                       monkeypatch):
    """256 training images at batch 128: 2 steps an epoch. A run that saves every 6 steps (and at a new best),
    interrupted at step 15 (its newest checkpoint is at step 12, its log holds the val line of step 14), resumes to
    the weights and the log of a run that saved at every epoch's end (checkpoint_min_steps=1)."""
    real = Trainer.validate

    def scripted(self):  # the real validation (and its noise draws), with a new best after epochs 1 and 6 only
        return {**real(self), "elbo": 1.0 if self.epoch == 5 else 0.0}

    class Interrupt(Callback):
        def on_step_end(self, trainer, step, values):
            if step == 15:
                raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "validate", scripted)
    extra = ["trainer.batch_size=128", "trainer.epochs=10", "trainer.log_every=1", "trainer.keep_last=100"]
    every = _train(tiny_flat, runs_dir, "every", [*extra, "trainer.checkpoint_min_steps=1"], model="vae", seed=3)
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_flat, runs_dir, "cut", [*extra, "trainer.checkpoint_min_steps=6"], model="vae", seed=3,
               callbacks=[Interrupt()])

    def steps(path):
        return [read_checkpoint(p, tensors=False).state["step"] for p in sorted(path.glob("checkpoints/step-*"))]

    assert steps(runs_dir / "cut") == [2, 8, 12]  # the first epoch, 6 steps later, the new best
    again = api.resume(runs_dir / "cut", progress=False)

    def lines(run):
        return [{k: v for k, v in r.items() if k not in ("time", "samples_per_s")} for r in read_metrics(run.path)]

    assert steps(every.path) == list(range(2, 21, 2)) and steps(again.path) == [2, 8, 12, 18, 20]
    assert len(lines(every)) == 30 and lines(every) == lines(again)
    for section in ("model", "optim/model"):
        a, b = _weights(every.path, section), _weights(again.path, section)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), section
    assert read_checkpoint(again.result.best_checkpoint).state["step"] == 12


def test_a_max_steps_stop_mid_epoch_validates_and_keeps_a_best_checkpoint(tiny_flat, runs_dir):
    """It used to end with no validation, no val line and no best.safetensors (8 batches an epoch; it stops at 5)."""
    full = _train(tiny_flat, runs_dir, "full", model="vae", seed=3)
    part = _train(tiny_flat, runs_dir, "part", ["trainer.max_steps=5"], model="vae", seed=3)
    assert part.result.step == 5 and part.result.epoch == 0 and not part.result.finished
    val = [r for r in read_metrics(part.path) if r["split"] == "val"]
    assert [(r["step"], r["epoch"]) for r in val] == [(5, 0)]
    assert part.result.val_metrics["elbo"] == pytest.approx(val[0]["elbo"])
    assert part.result.best_checkpoint == part.path / "checkpoints" / "best.safetensors"
    assert read_checkpoint(part.result.best_checkpoint).state["step"] == 5
    # validation ran in a forked RNG: resuming still ends exactly where the uninterrupted run ends
    again = api.resume(part.path, ["trainer.max_steps=none"], progress=False)
    a, b = _weights(full.path), _weights(again.path)
    assert again.result.step == full.result.step and all(torch.equal(a[k], b[k]) for k in a)
    assert again.result.val_metrics == full.result.val_metrics


def test_a_resumed_max_steps_stop_logs_one_val_line_per_epoch_like_an_uninterrupted_run(tiny_flat, runs_dir):
    """One val line per epoch's end, plus one where the run ends when that is inside an epoch. A run stopped at step
    13 (8 steps an epoch) and resumed used to keep the stop's line: 4 val lines for 3 epochs."""
    def val(run):
        return [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(run.path) if r["split"] == "val"]

    full = _train(tiny_flat, runs_dir, "full", model="vae", seed=3)
    part = _train(tiny_flat, runs_dir, "part", ["trainer.max_steps=13"], model="vae", seed=3)
    assert [(r["step"], r["epoch"]) for r in val(part)] == [(8, 1), (13, 1)]  # epoch 1's end, then the stop
    at_boundary = _train(tiny_flat, runs_dir, "boundary", ["trainer.max_steps=16"], model="vae", seed=3)
    assert [r["step"] for r in val(at_boundary)] == [8, 16]  # a stop at an epoch's end is not validated twice
    again = api.resume(part.path, ["trainer.max_steps=none"], progress=False)
    assert [r["step"] for r in val(full)] == [8, 16, 24] and val(again) == val(full)


def test_same_seed_same_weights_other_seed_other_weights(tiny_flat, runs_dir):
    a = _weights(_train(tiny_flat, runs_dir, "a", ["trainer.max_steps=6"], model="vae", seed=1).path)
    b = _weights(_train(tiny_flat, runs_dir, "b", ["trainer.max_steps=6"], model="vae", seed=1).path)
    c = _weights(_train(tiny_flat, runs_dir, "c", ["trainer.max_steps=6"], model="vae", seed=2).path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_validation_logs_elbo_each_epoch_and_callbacks_fire(tiny_flat, runs_dir):
    seen = []

    class Record(Callback):
        def on_epoch_start(self, trainer, epoch):
            seen.append(("start", epoch))

        def on_epoch_end(self, trainer, epoch, metrics):
            seen.append(("end", epoch, round(metrics["elbo"], 6)))

    run = _train(tiny_flat, runs_dir, "val", ["trainer.epochs=2", "trainer.log_every=3"], model="vae",
                 callbacks=[Record()])
    val = [r for r in read_metrics(run.path) if r["split"] == "val"]
    assert [r["epoch"] for r in val] == [1, 2]
    for r in val:
        assert r["elbo"] == pytest.approx(-(r["recon"] + r["kl"]))
    assert [s[:2] for s in seen] == [("start", 0), ("end", 1), ("start", 1), ("end", 2)]
    assert seen[-1][2] == round(val[-1]["elbo"], 6)
    train = [r for r in read_metrics(run.path) if r["split"] == "train"]
    assert train and all(r["step"] % 3 == 0 for r in train[:-1])
    assert train[-1]["step"] == run.result.step  # the last partial window is logged too, not dropped
    assert (run.path / "checkpoints" / "best.safetensors").is_file()


def test_train_and_val_records_of_an_epochs_last_step_carry_the_same_epoch(tiny_flat, runs_dir):
    # 256 training images at batch 32: 8 steps an epoch, so log_every=4 logs each epoch's last step
    run = _train(tiny_flat, runs_dir, "epochs", ["trainer.epochs=2", "trainer.log_every=4"], model="vae")
    rows = read_metrics(run.path)
    train = {r["step"]: r["epoch"] for r in rows if r["split"] == "train"}
    val = {r["step"]: r["epoch"] for r in rows if r["split"] == "val"}
    assert train == {4: 0, 8: 1, 12: 1, 16: 2} and val == {8: 1, 16: 2}  # epoch = epochs done at that step


class _MeanMatcher(Term):
    """A test term with a parameter of its own: ``forward`` is (m − mean z)² and ``aux_loss`` pulls m to the
    batch mean of z with its own optimizer, like FactorVAE's discriminator (Kim & Mnih 2018, Alg. 2)."""

    name = "test_mean_matcher"
    parts = ("test_mean_matcher",)
    aux_lr = 0.05

    def __init__(self):
        super().__init__()
        self.m = torch.nn.Parameter(torch.zeros(()))

    def forward(self, out, ctx):
        return TermOutput({"test_mean_matcher": (self.m.detach() - out.z.mean()) ** 2})

    def aux_loss(self, out, ctx):
        return (self.m - out.z.detach().mean()) ** 2


def test_a_term_with_its_own_optimizer_is_trained_saved_and_restored(tiny_flat, runs_dir, monkeypatch):
    from shadowplay.objectives import Objective, PresetResult, presets
    from shadowplay.objectives.terms.recon import Reconstruction

    monkeypatch.setitem(presets.PRESETS, "test_aux", lambda p: PresetResult(
        "gaussian", Objective([(Reconstruction(), 1.0), (KL(), 1.0), (_MeanMatcher(), 1.0)])))
    full = _train(tiny_flat, runs_dir, "aux_full", ["trainer.checkpoint_every=5"], model="test_aux")
    part = _train(tiny_flat, runs_dir, "aux_part", ["trainer.checkpoint_every=5", "trainer.max_steps=7",
                                                    "trainer.log_every=1"],
                  model="test_aux")
    ck = read_checkpoint(part.result.last_checkpoint)
    assert float(ck.tensors["objective/terms.test_mean_matcher.m"]) != 0.0       # it was trained
    assert "test_mean_matcher" in ck.state["optimizers"] and ck.section("optim/test_mean_matcher")
    assert "test_mean_matcher_aux" in [r for r in read_metrics(part.path) if r["split"] == "train"][-1]
    api.resume(part.path, ["trainer.max_steps=none"], progress=False)
    a, b = latest_good(full.path / "checkpoints"), latest_good(part.path / "checkpoints")
    for section in ("model", "objective", "optim/test_mean_matcher"):
        sa, sb = a.section(section), b.section(section)
        assert sa and all(torch.equal(sa[k], sb[k]) for k in sa), section


def test_grad_clip_and_adamw_run(tiny_flat, runs_dir):
    run = _train(tiny_flat, runs_dir, "clip", ["trainer.grad_clip=0.5", "trainer.optimizer=adamw",
                                               "trainer.weight_decay=0.01", "trainer.max_steps=5"], model="ae")
    assert run.result.step == 5 and not run.result.finished
    assert read_checkpoint(run.result.last_checkpoint).state["optimizers"]["model"]["param_groups"][0][
        "weight_decay"] == 0.01


def test_the_presets_optimizer_defaults_apply_unless_the_user_gives_an_lr(tiny_flat, runs_dir):
    def model_lr(run):
        group = read_checkpoint(run.result.last_checkpoint).state["optimizers"]["model"]["param_groups"][0]
        return group["lr"], tuple(group["betas"])

    small = ["trainer.max_steps=1", "trainer.epochs=1"]
    assert model_lr(_train(tiny_flat, runs_dir, "lr_vae", small, model="vae")) == (1e-3, (0.9, 0.999))
    fv = ["objective.extra={disc_hidden: 8, disc_layers: 1}"]
    assert model_lr(_train(tiny_flat, runs_dir, "lr_fv", [*small, *fv], model="factor_vae")) == (1e-4, (0.9, 0.999))
    user = _train(tiny_flat, runs_dir, "lr_user", [*small, *fv, "trainer.lr=3e-3"], model="factor_vae")
    assert model_lr(user) == (3e-3, (0.9, 0.999))  # the user's lr wins over the preset's


class _BatchSizes(Term):
    """Records the size of every batch it sees (a stand-in for any batch-based estimate)."""

    name = "batch_sizes"
    parts = ("batch_sizes",)
    seen: list[int] = []

    def forward(self, out, ctx):
        _BatchSizes.seen.append((len(out.z), ctx.dataset_size))
        return TermOutput({"batch_sizes": out.z.sum() * 0.0})


def test_validation_uses_minibatches_of_the_training_batch_size(tiny_flat, runs_dir, monkeypatch):
    from shadowplay.objectives import Objective, PresetResult, presets
    from shadowplay.objectives.terms.recon import Reconstruction

    monkeypatch.setitem(presets.PRESETS, "test_sizes", lambda p: PresetResult(
        "gaussian", Objective([(Reconstruction(), 1.0), (KL(), 1.0), (_BatchSizes(), 1.0)])))
    _BatchSizes.seen = []
    run = _train(tiny_flat, runs_dir, "sizes", ["trainer.epochs=1", "trainer.batch_size=7"], model="test_sizes")
    splits = api.load_splits(run.config)
    n_train, n_val = len(splits.train), len(splits.val)
    assert n_val > 7
    val_sizes = _BatchSizes.seen[run.result.step:]  # the training steps come first, then one validation pass
    assert [b for b, _ in val_sizes] == [7] * (n_val // 7) + ([n_val % 7] if n_val % 7 else [])
    assert {n for _, n in val_sizes} == {n_train}  # the training estimator's N


def test_beta_tcvae_validates_a_validation_set_larger_than_the_training_set(runs_dir):
    """The audit's crash: validation chunks larger than N made β-TCVAE refuse the batch before any checkpoint."""
    run = api.train(data="digits", model="beta_tcvae", runs_dir=runs_dir, name="tcval", progress=False,
                    overrides=["data.n_samples=300", "data.val_fraction=0.5", "trainer.epochs=1",
                               "model.hidden=[32]", "model.latent_dim=3"])
    splits = api.load_splits(run.config)
    assert len(splits.val) > len(splits.train)
    val = [r for r in read_metrics(run.path) if r["split"] == "val"]
    assert len(val) == 1 and {"mi", "tc", "dwkl", "kl", "elbo"} <= set(val[0])
    assert all(math.isfinite(val[0][k]) for k in ("mi", "tc", "dwkl"))
    assert (run.path / "checkpoints" / "best.safetensors").is_file()


class RecordingBar:
    """A tqdm that writes to a string and records the step count and postfix of every ``set_postfix``."""

    made: list["RecordingBar"] = []

    def __init__(self, *args, **kw):
        import io

        from tqdm.std import tqdm
        self.bar = tqdm(*args, **{**kw, "file": io.StringIO(), "disable": kw.get("disable", False)})
        self.calls: list[tuple[int, dict]] = []
        RecordingBar.made.append(self)

    def set_postfix(self, **kw):
        self.calls.append((self.bar.n, {k: v for k, v in kw.items() if k != "refresh"}))
        self.bar.set_postfix(**kw)

    def __getattr__(self, name):
        return getattr(self.bar, name)


@pytest.mark.parametrize("every", [0.0, 1e9])
def test_the_bar_shows_loss_and_samples_per_s_before_the_first_log_line(tiny_flat, runs_dir, monkeypatch, every):
    """Before, the postfix stayed empty until step log_every (~20 s of a bare bar on dSprites' conv net). Now it shows
    after the first step and then on a clock (every=0: each step; every=1e9: only the first), and metrics.jsonl
    holds the same train records as a run without a bar."""
    import shadowplay.training.trainer as trainer_mod
    monkeypatch.setattr(trainer_mod, "tqdm", RecordingBar)
    monkeypatch.setattr(trainer_mod, "POSTFIX_EVERY_S", every, raising=False)
    RecordingBar.made.clear()
    extra = ["trainer.batch_size=8", "trainer.epochs=5", "trainer.max_steps=60", "trainer.log_every=50"]
    shown = _train(tiny_flat, runs_dir, "bar", extra, model="vae", seed=2, progress=True)
    calls = RecordingBar.made[0].calls
    early = [(n, p) for n, p in calls if n < 49]  # set before bar.update of steps 1..49
    assert early and early[0][0] == 0
    assert all(math.isfinite(float(p["loss"])) and float(p["samples_s"].replace(",", "")) > 0 for _, p in early)
    assert [n for n, _ in early] == (list(range(49)) if every == 0 else [0])
    plain = _train(tiny_flat, runs_dir, "plain", extra, model="vae", seed=2)

    def train_records(run):
        return [{k: v for k, v in r.items() if k not in ("time", "samples_per_s")}
                for r in read_metrics(run.path) if r["split"] == "train"]
    assert train_records(shown) == train_records(plain) and [r["step"] for r in train_records(shown)] == [50, 60]
