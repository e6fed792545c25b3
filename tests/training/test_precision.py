"""Mixed precision and compiled steps: low precision in the nets only, float32 objective, checkpoints and resume."""

from __future__ import annotations

import math

import pytest
import torch

import shadowplay.api as api
from shadowplay.errors import ConfigError, TrainingDivergedError
from shadowplay.model import ModelSpec, build_model
from shadowplay.objectives.terms.base import TermOutput
from shadowplay.objectives.terms.kl import KL
from shadowplay.training import latest_good, precision
from shadowplay.training.precision import Accelerator
from shadowplay.workflow import training_run


def _train(data, runs_dir, name, extra=(), **kw):
    overrides = ["model.hidden=[32]", "trainer.batch_size=32", "trainer.epochs=2", *extra]
    return api.train(data=str(data), latent_dim=3, runs_dir=runs_dir, name=name, overrides=overrides,
                     progress=False, **kw)


def _weights(run_dir):
    return latest_good(run_dir / "checkpoints").section("model")


def test_bf16_runs_the_nets_in_bf16_and_everything_after_them_in_fp32():
    model = build_model(ModelSpec((1, 8, 8), 3, net="mlp", hidden=(32,), posterior="gaussian",
                                  likelihood="bernoulli"))
    acc = Accelerator(model, "bf16", False, torch.device("cpu"))
    seen = []
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            m.register_forward_hook(lambda mod, i, o: seen.append(o.dtype))
    x = torch.rand(16, 1, 8, 8)
    with acc.training():
        out = model(x)
    assert set(seen) == {torch.bfloat16}  # every GEMM ran in bf16 …
    assert out.posterior.loc.dtype == out.z.dtype == out.likelihood.mean.dtype == torch.float32  # … nothing else
    assert out.likelihood.log_prob(x).dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    seen.clear()
    model(x)  # outside training (validation, evaluation): plain fp32
    assert set(seen) == {torch.float32}


def test_bf16_trains_to_about_the_fp32_loss_and_resumes_exactly(tiny_flat, runs_dir):
    fp32 = _train(tiny_flat, runs_dir, "fp32", model="vae")
    bf16 = _train(tiny_flat, runs_dir, "bf16", ["trainer.precision=bf16"], model="vae")
    assert bf16.result.step == fp32.result.step
    assert abs(bf16.result.val_metrics["elbo"] - fp32.result.val_metrics["elbo"]) < 0.5  # nats per example
    assert any(not torch.equal(a, b) for a, b in zip(_weights(bf16.path).values(), _weights(fp32.path).values()))
    half = _train(tiny_flat, runs_dir, "half", ["trainer.precision=bf16", "trainer.max_steps=9"], model="vae")
    assert latest_good(half.path / "checkpoints").state["precision"]["precision"] == "bf16"
    api.resume(half.path, ["trainer.max_steps=null"], progress=False)
    for k, v in _weights(bf16.path).items():
        assert torch.equal(v, _weights(half.path)[k]), k


def test_fp16_on_cpu_is_a_clear_error_before_anything_is_written(tiny_flat, runs_dir):
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU.*bf16"):
        _train(tiny_flat, runs_dir, "fp16", ["trainer.precision=fp16", "trainer.device=cpu"], model="vae")
    assert not (runs_dir / "fp16").exists()
    with pytest.raises(ConfigError, match="trainer.precision must be"):
        _train(tiny_flat, runs_dir, "x", ["trainer.precision=int8"], model="vae")


def test_the_gradient_scaler_path_trains_saves_and_restores_its_scale(tiny_flat, runs_dir, monkeypatch):
    """fp16 is refused on CPU for users; the scaler logic itself (torch.amp.GradScaler("cpu")) is exercised here so
    it is tested without a GPU."""
    monkeypatch.setattr(precision, "check_precision", lambda p, d: None)
    monkeypatch.setattr(training_run, "check_precision", lambda p, d: None)
    run = _train(tiny_flat, runs_dir, "fp16", ["trainer.precision=fp16", "trainer.grad_clip=1.0"], model="vae")
    state = latest_good(run.path / "checkpoints").state["precision"]
    assert state["precision"] == "fp16" and state["scaler"]["scale"] > 0
    assert math.isfinite(run.result.val_metrics["elbo"])
    assert all(torch.isfinite(t).all() for t in _weights(run.path).values())


def test_nan_guard_under_bf16_still_names_the_step_and_the_term(tiny_flat, runs_dir, monkeypatch):
    real = KL.forward
    def poisoned(self, out, ctx):  # the KL part turns NaN from step 5 on
        o = real(self, out, ctx)
        f = math.nan if ctx.step >= 5 else 1.0
        return TermOutput({k: v * f for k, v in o.parts.items()}, o.diagnostics)

    monkeypatch.setattr(KL, "forward", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"'kl' became nan at step 5"):
        _train(tiny_flat, runs_dir, "nan", ["trainer.precision=bf16", "trainer.checkpoint_every=2"], model="vae")


def test_a_failing_compiler_falls_back_to_eager_with_one_warning(tiny_flat, runs_dir, monkeypatch):
    def broken_compile(fn, **kw):
        def call(*a, **k):
            raise RuntimeError("no C++ compiler found (test)")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    eager = _train(tiny_flat, runs_dir, "eager", ["trainer.max_steps=5"], model="vae")
    with pytest.warns(RuntimeWarning, match="torch.compile failed .*no C\\+\\+ compiler.*without compilation"):
        fell_back = _train(tiny_flat, runs_dir, "fallback", ["trainer.max_steps=5", "trainer.compile=true"],
                           model="vae")
    for k, v in _weights(eager.path).items():  # the failed attempt left the RNG stream and the weights alone
        assert torch.equal(v, _weights(fell_back.path)[k]), k


def test_the_cli_prints_the_compile_fallback_as_one_warning_line(tiny_flat, runs_dir, monkeypatch, capsys):
    # it used to print as a raw Python warning: a file path and line number, then the trainer's source line
    from shadowplay import cli
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("no C++ compiler found (test)")))
    code = cli.main(["train", "--data", str(tiny_flat), "--latent-dim", "3", "--compile", "--runs-dir",
                     str(runs_dir), "--name", "c", "--no-progress", "model.hidden=[32]", "trainer.max_steps=2"])
    shown = capsys.readouterr()
    err = [line for line in shown.err.splitlines() if "compil" in line or "warm_up" in line]
    assert code == 0
    assert len(err) == 1 and err[0].startswith("warning: trainer.compile=true: torch.compile failed (RuntimeError")
    # the summary said nothing of it: a user reading the end of the output (or a log) saw a plain run
    assert "  not compiled: torch.compile failed (RuntimeError: no C++ compiler found (test)); trained eagerly" \
        in shown.out.splitlines()


def test_run_json_records_a_compile_fallback_and_resume_tries_to_compile_again(tiny_flat, runs_dir, monkeypatch):
    """config.yaml keeps ``compile: true`` (what was asked: ``resume`` tries again and may succeed elsewhere);
    run.json says what ran. torch.compile refusing up front (as on a Python that Dynamo does not support) used to
    end the run with a traceback; a failure at the first call is the warm-up's fallback."""
    def refuse(fn, **kw):
        raise RuntimeError("Dynamo is not supported on this Python (test)")

    monkeypatch.setattr(torch, "compile", refuse)
    with pytest.warns(precision.CompileFallbackWarning, match="Dynamo is not supported"):
        run = _train(tiny_flat, runs_dir, "fb", ["trainer.max_steps=3", "trainer.compile=true"], model="vae")
    assert run.folder.config.trainer.compile is True
    assert run.folder.meta["compile"] == {"requested": True, "compiled": False,
                                          "fallback": "RuntimeError: Dynamo is not supported on this Python (test)"}
    assert latest_good(run.path / "checkpoints").state["precision"]["compile"] is False

    monkeypatch.setattr(torch, "compile", lambda fn, **kw: lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("no C++ compiler found (test)")))
    with pytest.warns(precision.CompileFallbackWarning, match="no C\\+\\+ compiler") as rec:
        api.resume(run.path, ["trainer.max_steps=5"], progress=False)
    assert [w.filename for w in rec if w.category is precision.CompileFallbackWarning] == [__file__]  # user's line
    assert run.folder.meta["compile"]["fallback"] == "RuntimeError: no C++ compiler found (test)"
    api.resume(run.path, ["trainer.max_steps=7", "trainer.compile=false"], progress=False)
    assert run.folder.meta["compile"] == {"requested": False, "compiled": False, "fallback": None}


def test_a_compiled_step_keeps_the_step_out_of_its_graph_and_trains_to_the_eager_result(tiny_flat, runs_dir):
    """``trainer.compile`` compiles the model's forward with the step-free terms as one graph. The capacity term's
    C(t) changes at every step and is evaluated outside it: were it inside, Dynamo would recompile at every step (a
    changed int) and give up after 8. So the run compiles one graph (9 full batches an epoch here), really compiled
    (no fallback), logs C(t) of each step, and trains to the eager run's weights. A real inductor compile, ~15 s."""
    from torch._dynamo.utils import counters

    extra = ["trainer.max_steps=12", "objective.capacity_steps=10", "objective.capacity_max=5", "trainer.log_every=1"]
    eager = _train(tiny_flat, runs_dir, "eager", extra, model="annealed_vae")
    torch._dynamo.reset()
    counters.clear()
    comp = _train(tiny_flat, runs_dir, "comp", [*extra, "trainer.compile=true"], model="annealed_vae")
    assert latest_good(comp.path / "checkpoints").state["precision"]["compile"] is True  # no fallback
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])
    train = [r for r in comp.folder.read_metrics() if r["split"] == "train"]
    assert [r["capacity_target"] for r in train] == pytest.approx([min(5.0, 5.0 * t / 10) for t in range(12)])
    # the same ε as the eager run (fallback_random): each step's loss agrees to float rounding
    eager_losses = [r["loss"] for r in eager.folder.read_metrics() if r["split"] == "train"]
    assert [r["loss"] for r in train] == pytest.approx(eager_losses, rel=1e-5)
    for k, v in _weights(eager.path).items():
        torch.testing.assert_close(v, _weights(comp.path)[k], rtol=1e-4, atol=1e-5)


def test_a_compiled_bf16_run_stopped_and_resumed_ends_with_the_uninterrupted_weights(tiny_flat, runs_dir):
    """Resume under ``trainer.compile`` is exact: the resumed process compiles the same graph again, and the
    checkpoint's RNG state gives the graph the same noise (two epochs of 9 steps, stopped mid-epoch at step 13)."""
    extra = ["trainer.precision=bf16", "trainer.compile=true"]
    whole = _train(tiny_flat, runs_dir, "whole", extra, model="beta_vae")
    half = _train(tiny_flat, runs_dir, "half", [*extra, "trainer.max_steps=13"], model="beta_vae")
    assert latest_good(half.path / "checkpoints").state["precision"] == {"precision": "bf16", "compile": True}
    api.resume(half.path, ["trainer.max_steps=null"], progress=False)
    for k, v in _weights(whole.path).items():
        assert torch.equal(v, _weights(half.path)[k]), k


@pytest.mark.slow
def test_compiled_nets_train_to_the_eager_result(tiny_flat, runs_dir):
    """A real torch.compile (inductor, C++ backend) of a VAE with a KL warm-up (a weight that changes every step:
    the weighted sum stays outside the graph); marked slow, the capacity test above is the short version."""
    extra = ["trainer.max_steps=12", "objective.warmup_steps=5"]
    eager = _train(tiny_flat, runs_dir, "eager", extra, model="vae")
    comp = _train(tiny_flat, runs_dir, "comp", [*extra, "trainer.compile=true"], model="vae")
    ckpt = latest_good(comp.path / "checkpoints")
    assert ckpt.state["precision"]["compile"] is True  # it really compiled (no fallback)
    for k, v in _weights(eager.path).items():
        torch.testing.assert_close(v, _weights(comp.path)[k], rtol=1e-4, atol=1e-5)


def test_the_cli_summary_of_a_bf16_run_says_it_trained_in_bf16(tiny_flat, runs_dir, capsys):
    # the summary used to look the same in every precision: nothing told a user that --precision bf16 took effect
    from shadowplay import cli
    args = ["train", "--data", str(tiny_flat), "--latent-dim", "3", "--runs-dir", str(runs_dir), "--no-progress",
            "model.hidden=[32]", "trainer.max_steps=2"]
    assert cli.main([*args, "--name", "bf16", "--precision", "bf16"]) == 0
    assert "  trained in bf16\n" in capsys.readouterr().out
    assert cli.main([*args, "--name", "fp32"]) == 0
    assert "trained in" not in capsys.readouterr().out  # the default says nothing


@pytest.mark.parametrize("preset", ["ae", "vae", "beta_vae", "annealed_vae", "beta_tcvae", "factor_vae", "dip_vae_i",
                                    "dip_vae_ii", "dbvae", "classifier"])
def test_every_presets_step_free_forward_traces_as_one_graph(preset):
    """What ``trainer.compile`` compiles (the model's forward and the terms that do not read the step) is one Dynamo
    graph for every preset: no graph break (``torch.distributions.kl_divergence``'s dispatch and DB-VAE's boolean
    mask each used to split it) and no read of the step. A trace only, no C++ compile."""
    from shadowplay.objectives import PresetParams, build_preset
    from shadowplay.objectives.terms.base import StepContext
    built = build_preset(preset, PresetParams(latent_dim=3))
    head = 1 if preset in ("dbvae", "classifier") else 0
    model = build_model(ModelSpec((1, 6, 6), 3, net="mlp", hidden=(16,), posterior=built.posterior,
                                  likelihood="bernoulli", head_dim=head))
    ctx = StepContext(step=3, dataset_size=100, model=model, labels=torch.tensor([0, 1] * 4) if head else None)
    names = built.objective.step_free_terms()
    assert set(names) == set(built.objective.terms) - ({"capacity"} if preset == "annealed_vae" else set())

    def forward(x):
        return built.objective.evaluate(model(x), ctx, names)

    explained = torch._dynamo.explain(forward)(torch.rand(8, 1, 6, 6).round())
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
