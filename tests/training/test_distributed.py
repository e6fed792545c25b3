"""DDP: sharding of the seeded batches, 2 gloo processes = 1 process at the same global batch, resume, FactorVAE's
second optimizer, rank 0 alone writing, and a dying rank stopping the run. Tiny data and few steps: each
``torchrun`` launch costs a few seconds of interpreter start-up per process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import shadowplay.api as api
from shadowplay.training import latest_good, read_metrics
import shadowplay.training.distributed as dist_mod
from shadowplay.errors import ConfigError, ShadowplayError
from shadowplay.training.distributed import Dist, DistributedError, from_env
from shadowplay.workflow import training_run


TOL = 1e-6  # float32 all-reduce sums in another order than one process's batch mean; Adam amplifies little in 8 steps


def test_shards_cover_the_global_batch_in_order_and_weights_make_the_mean():
    idx = torch.arange(10, 21)  # 11 rows: pieces of 4, 4, 3
    parts = [Dist(rank=r, world=3).shard(idx) for r in range(3)]
    assert torch.equal(torch.cat([p for p, _ in parts]), idx)
    assert [len(p) for p, _ in parts] == [4, 4, 3]
    assert sum(w for _, w in parts) == pytest.approx(3.0)  # DDP divides by world: mean weight 1
    assert Dist(rank=0, world=1).shard(idx) == (idx, 1.0)
    assert Dist(world=4).batches_per_epoch(n=66, batch=32) == 2  # a last batch of 2 rows < 4 ranks is dropped
    assert Dist(world=2).batches_per_epoch(n=66, batch=32) == 3


def _overrides(extra=()):
    # gloo on CPU processes, also on a machine with one GPU (where device auto would ask for a GPU per rank)
    return ["model.hidden=[32]", "trainer.batch_size=32", "trainer.epochs=1", "trainer.checkpoint_every=4",
            "trainer.log_every=2", "trainer.device=cpu", *extra]


def test_two_processes_reach_the_one_process_weights_and_resume(tiny_flat, runs_dir):
    """The plain autoencoder draws no noise, so one process and two (each half of every global batch of 32) must
    end at the same weights up to float rounding; the 2-process run is stopped at step 4 and resumed on 2."""
    one = api.train(data=str(tiny_flat), model="ae", latent_dim=3, runs_dir=runs_dir, name="one", progress=False,
                    overrides=_overrides(["trainer.max_steps=8"]))
    two = api.train(data=str(tiny_flat), model="ae", latent_dim=3, runs_dir=runs_dir, name="two", progress=False,
                    overrides=_overrides(["trainer.max_steps=4"]), nproc=2)
    assert two.result.step == 4
    two = api.resume(two.path, ["trainer.max_steps=8"], progress=False, nproc=2)
    assert two.result.step == 8
    ckpt = latest_good(two.path / "checkpoints")
    assert ckpt.state["world_size"] == 2 and {"rng/cpu/rank-0", "rng/cpu/rank-1"} <= set(ckpt.tensors)
    a, b = latest_good(one.path / "checkpoints").section("model"), ckpt.section("model")
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=TOL)
    steps = [r["step"] for r in read_metrics(two.path) if r["split"] == "train"]
    assert steps == [2, 4, 6, 8]  # rank 0 alone logs: each line once
    meta = json.loads((two.path / "run.json").read_text())
    assert meta["status"] == "finished"  # 8 steps = the one epoch
    # run.json used to hold no process count, and as command the ranks' `train --config <deleted temporary file>`
    assert meta["world_size"] == 2 and json.loads((one.path / "run.json").read_text())["world_size"] == 1
    assert meta["command"] == sys.argv and not any("shadowplay-ddp-" in a for a in meta["command"])


@pytest.mark.slow
def test_two_compiled_processes_reach_the_one_compiled_process_weights(tiny_flat, runs_dir):
    """``trainer.compile`` under DDP: each rank compiles the step's forward with the DDP-wrapped model inside it
    (Dynamo's DDP support splits the graph at the gradient buckets); the autoencoder ends where one compiled process
    does. Two compiling processes take about a minute on 2 CPU cores, so marked slow (checked by hand too)."""
    extra = ["trainer.max_steps=6", "trainer.compile=true"]
    one = api.train(data=str(tiny_flat), model="ae", latent_dim=3, runs_dir=runs_dir, name="one", progress=False,
                    overrides=_overrides(extra))
    two = api.train(data=str(tiny_flat), model="ae", latent_dim=3, runs_dir=runs_dir, name="two", progress=False,
                    overrides=_overrides(extra), nproc=2)
    for run in (one, two):
        assert json.loads((run.path / "run.json").read_text())["compile"]["compiled"] is True  # no fallback
    a, b = (latest_good(r.path / "checkpoints").section("model") for r in (one, two))
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=TOL)


def test_a_collapsed_model_trained_with_nproc_is_reported_as_after_one_process(tiny_flat, runs_dir):
    # The launching process used to return a Run without the latent check rank 0 wrote: the `latents:` line and the
    # collapse warnings were missing after `--nproc`, so a model that learned nothing went unreported.
    with pytest.warns(api.PosteriorCollapseWarning, match="posterior collapse"):
        run = api.train(data=str(tiny_flat), model="vae", latent_dim=3, runs_dir=runs_dir, name="collapsed",
                        progress=False, overrides=_overrides(["objective.beta=100", "trainer.max_steps=8"]), nproc=2)
    on_disk = json.loads((run.path / "run.json").read_text())["latents"]
    assert run.latents == on_disk and on_disk["collapsed"] and on_disk["n_active"] == 0
    assert run.warnings == tuple(on_disk["warnings"]) and "posterior collapse" in run.warnings[0]


def test_factor_vae_trains_its_discriminator_under_ddp(tiny_flat, runs_dir):
    run = api.train(data=str(tiny_flat), model="factor_vae", latent_dim=3, runs_dir=runs_dir, name="fvae",
                    progress=False, overrides=_overrides(["trainer.max_steps=4"]), nproc=2)
    ckpt = latest_good(run.path / "checkpoints")
    assert any(k.startswith("optim/factor_tc/") for k in ckpt.tensors)
    lines = [r for r in read_metrics(run.path) if r["split"] == "train"]
    assert lines and all(torch.isfinite(torch.tensor(r["factor_tc_aux"])) for r in lines)


def _cli_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(api.__file__).parents[2]), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _local_rank(pid: int) -> str | None:
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"LOCAL_RANK=")), None)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the rank processes through /proc (Linux)")
def test_a_rank_that_dies_stops_the_run_with_a_clear_error(tiny_flat, tmp_path):
    cmd = [sys.executable, "-m", "shadowplay", "train", "--data", str(tiny_flat), "--model", "vae", "--latent-dim", "3", "--nproc", "2",
                      "--no-progress", "--name", "dies", "--epochs", "100000", "model.hidden=[32]",
                      "trainer.batch_size=32", "trainer.device=cpu"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "runs" / "dies" / "checkpoints").is_dir():  # both ranks are training
            assert proc.poll() is None and time.monotonic() < deadline, "the 2-process run did not start"
            time.sleep(0.5)
        agent = _children(proc.pid)[0]  # shadowplay → torchrun → the two ranks
        rank1 = next(p for p in _children(agent) if _local_rank(p) == "1")
        t_kill = time.monotonic()
        os.kill(rank1, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - t_kill < 120
    assert proc.returncode == 2
    assert "error: distributed training on 2 processes failed" in err
    assert "SIGKILL" in err or "Signal 9" in err  # torchrun names the failed rank and its signal
    # rank 0, stopped by torchrun's SIGTERM, used to die on the spot and leave run.json saying "running"
    meta = tmp_path / "runs" / "dies" / "run.json"
    assert not meta.exists() or json.loads(meta.read_text())["status"] == "failed"


def test_a_rank_turns_torchruns_sigterm_into_an_error_so_its_run_ends_as_failed(monkeypatch):
    installed = _ranks_env(monkeypatch, rank=0, local=0)
    monkeypatch.setattr(dist_mod.td, "init_process_group", lambda *a, **k: None)
    assert from_env("cpu").world == 2
    with pytest.raises(DistributedError, match=r"stopped by torchrun \(SIGTERM\): another process"):
        installed[signal.SIGTERM](signal.SIGTERM, None)
    assert installed[signal.SIGTERM] == signal.SIG_IGN  # a second SIGTERM must not interrupt the clean-up


# ---------------------------------------------------------------- the CUDA path, without a GPU: what reaches torch
# These check the plumbing only (which backend, which device, which RNG keys); benchmarks/gpu_check.sh runs the real
# NCCL training where a GPU is lent.

def _ranks_env(monkeypatch, rank, local, world=2):
    for k, v in {"WORLD_SIZE": world, "RANK": rank, "LOCAL_RANK": local}.items():
        monkeypatch.setenv(k, str(v))
    monkeypatch.setattr(dist_mod.td, "is_initialized", lambda: False)
    installed = {}  # signal handlers from_env installs, kept out of the test process
    monkeypatch.setattr(dist_mod.signal, "signal", lambda sig, handler: installed.__setitem__(sig, handler))
    return installed


def test_ddp_on_cuda_refuses_more_processes_than_gpus_before_joining(monkeypatch):
    _ranks_env(monkeypatch, rank=1, local=1)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(dist_mod.td, "init_process_group", lambda *a, **k: pytest.fail("joined a group"))
    with pytest.raises(DistributedError, match=r"one process per GPU and this machine has 1; use --nproc 1"):
        from_env("cuda")


def test_ddp_on_cuda_joins_nccl_with_gloo_for_cpu_tensors_on_its_own_gpu(monkeypatch):
    # NCCL alone refuses CPU tensors, and the checkpoint's RNG gather and the logged means are CPU tensors
    _ranks_env(monkeypatch, rank=1, local=1)
    seen = {}
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: seen.setdefault("gpu", i))
    monkeypatch.setattr(dist_mod.td, "init_process_group", lambda backend, **k: seen.setdefault("backend", backend))
    d = from_env("cuda")
    assert seen == {"gpu": 1, "backend": "cpu:gloo,cuda:nccl"} and (d.rank, d.local_rank) == (1, 1)
    assert d.place(torch.device("cuda")) == d.place(torch.device("cuda:0")) == torch.device("cuda", 1)
    assert d.place(torch.device("cpu")) == torch.device("cpu") and Dist().place(torch.device("cuda:0")).index == 0


def test_checkpoints_of_a_gpu_ddp_run_hold_and_restore_every_ranks_cuda_stream(monkeypatch):
    states = {"cpu": torch.arange(4, dtype=torch.uint8), "cuda": torch.arange(8, dtype=torch.uint8)}
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device=None: states["cuda"])

    def all_gather(parts, t):  # two ranks; rank r's state is t + r
        for r, p in enumerate(parts):
            p.copy_(t + r)
    monkeypatch.setattr(dist_mod.td, "all_gather", all_gather)
    monkeypatch.setattr(torch, "get_rng_state", lambda: states["cpu"])
    saved = Dist(rank=0, world=2).rng_tensors(torch.device("cuda", 0))
    assert sorted(saved) == ["rng/cpu/rank-0", "rng/cpu/rank-1", "rng/cuda/rank-0", "rng/cuda/rank-1"]
    assert torch.equal(saved["rng/cuda/rank-1"], states["cuda"] + 1)
    assert sorted(Dist(rank=0, world=2).rng_tensors(torch.device("cpu"))) == ["rng/cpu/rank-0", "rng/cpu/rank-1"]

    got = {}
    monkeypatch.setattr(torch, "set_rng_state", lambda s: got.setdefault("cpu", s))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device=None: got.setdefault("cuda", s))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda s: got.setdefault("cuda_seed", s))
    Dist(rank=1, world=2, local_rank=1).restore_rng(saved, seed=0, step=5, device=torch.device("cuda", 1))
    assert torch.equal(got["cpu"], states["cpu"] + 1) and torch.equal(got["cuda"], states["cuda"] + 1)
    got.clear()  # a CPU run's checkpoint resumed on GPUs: rank 1 gets a fresh CUDA stream, not rank 0's
    cpu_only = {k: v for k, v in saved.items() if k.startswith("rng/cpu")}
    Dist(rank=1, world=2, local_rank=1).restore_rng(cpu_only, seed=0, step=5, device=torch.device("cuda", 1))
    assert "cuda" not in got and got["cuda_seed"] == 5 * 7_919 + 1


def test_nproc_beyond_the_gpus_is_refused_before_any_process_starts(monkeypatch, tmp_path):
    from shadowplay.config import RunConfig
    monkeypatch.setattr(dist_mod, "launch", lambda *a, **k: pytest.fail("launched"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr("shadowplay.training.device.resolve_device", lambda name="auto": torch.device("cuda"))
    with pytest.raises(DistributedError, match=r"--nproc 2: DDP on CUDA runs one process per GPU"):
        dist_mod.launch_run("train", RunConfig(), 2, runs_dir=tmp_path, name="r")


def test_a_batch_smaller_than_the_world_is_refused_before_any_process_starts(monkeypatch, tiny_flat, runs_dir):
    # `--nproc 2 --batch-size 1` used to start both ranks; rank 1's piece of every batch was empty and it died in a
    # traceback from inside the objective, under torchrun's report.
    monkeypatch.setattr(dist_mod, "launch", lambda *a, **k: pytest.fail("launched"))
    with pytest.raises(ConfigError, match=r"trainer.batch_size=1 cannot be shared by 2 processes.*raise "
                                          r"trainer.batch_size or fewer processes"):
        api.train(data=str(tiny_flat), runs_dir=runs_dir, name="b1", progress=False,
                  overrides=_overrides(["trainer.batch_size=1"]), nproc=2)
    assert not (runs_dir / "b1").exists()


def test_a_rank_refuses_a_training_split_smaller_than_the_world_before_the_folder(monkeypatch, tmp_path, runs_dir):
    # under torchrun (or --nproc) each rank checks the data it loaded: 2 training rows cannot feed 3 processes (the
    # trainer used to train 0 steps per epoch and call the run finished)
    np.save(tmp_path / "two.npy", np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32))
    monkeypatch.setattr(training_run, "from_env", lambda device_type: Dist(rank=0, world=3))
    with pytest.raises(ConfigError, match=r"the training split of 2 examples cannot be shared by 3 processes.*use "
                                          r"more data or fewer"):
        api.train(data=str(tmp_path / "two.npy"), runs_dir=runs_dir, name="small", progress=False,
                  overrides=_overrides(["data.val_fraction=0", "data.test_fraction=0"]))
    assert not (runs_dir / "small").exists()


def test_a_collective_broken_by_a_dead_rank_is_a_distributed_error_not_a_bug(tmp_path):
    # gloo's "Connection reset by peer" reached the CLI as a RuntimeError: "this is a bug in shadowplay"
    from types import SimpleNamespace

    def fit(error):
        def raise_it():
            raise error
        return raise_it
    (tmp_path / "run.json").write_text("{}")
    reset = RuntimeError("[../gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:1: Connection reset by peer")
    rank0 = SimpleNamespace(run_dir=tmp_path, dist=Dist(rank=0, world=2), fit=fit(reset), step=24, epoch=2)
    with pytest.raises(DistributedError, match=r"rank 0: a collective failed because another process .*gloo"):
        training_run._fit(rank0, fresh=False)
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["status"] == "failed" and meta["error"].startswith("DistributedError: rank 0: a collective failed")
    alone = SimpleNamespace(run_dir=tmp_path, dist=Dist(), fit=fit(reset), step=24, epoch=2)
    with pytest.raises(RuntimeError) as got:  # one process: no other rank to blame
        training_run._fit(alone, fresh=False)
    assert got.type is RuntimeError
    bug = SimpleNamespace(run_dir=tmp_path, dist=Dist(rank=0, world=2), fit=fit(RuntimeError("shape mismatch")),
                          step=24, epoch=2)
    with pytest.raises(RuntimeError, match="shape mismatch") as got:  # a real bug under DDP stays a bug
        training_run._fit(bug, fresh=False)
    assert got.type is RuntimeError


def test_nproc_into_an_existing_run_folder_is_refused_before_any_process_starts(monkeypatch, tiny_flat, runs_dir):
    # every rank used to start, load the data and fail on the folder, under torchrun's multi-screen failure report
    (runs_dir / "taken").mkdir(parents=True)
    monkeypatch.setattr(dist_mod, "launch", lambda *a, **k: pytest.fail("launched"))
    with pytest.raises(ShadowplayError, match=r"run folder .*taken' already exists; pick another --name"):
        api.train(data=str(tiny_flat), runs_dir=runs_dir, name="taken", progress=False, overrides=_overrides(),
                  nproc=2)


def test_resume_with_nproc_refuses_fp16_on_cpu_before_any_process_starts(monkeypatch, tiny_flat, runs_dir):
    # `train --nproc` refused it up front; `resume --nproc trainer.precision=fp16` started every rank to fail there
    run = api.train(data=str(tiny_flat), latent_dim=3, runs_dir=runs_dir, name="r", progress=False,
                    overrides=_overrides(["trainer.max_steps=1"]))
    monkeypatch.setattr(dist_mod, "launch", lambda *a, **k: pytest.fail("launched"))
    with pytest.raises(ConfigError, match=r"trainer.precision=fp16 needs a CUDA GPU"):
        api.resume(run.path, ["trainer.precision=fp16", "trainer.max_steps=none"], progress=False, nproc=2)


def test_resume_with_more_processes_than_the_batch_has_rows_is_refused(monkeypatch, tiny_flat, runs_dir):
    run = api.train(data=str(tiny_flat), latent_dim=3, runs_dir=runs_dir, name="b2", progress=False,
                    overrides=_overrides(["trainer.max_steps=1", "trainer.batch_size=2"]))
    monkeypatch.setattr(dist_mod, "launch", lambda *a, **k: pytest.fail("launched"))
    with pytest.raises(ConfigError, match=r"trainer.batch_size=2 cannot be shared by 3 processes"):
        api.resume(run.path, ["trainer.max_steps=none"], progress=False, nproc=3)


def test_a_sigterm_during_the_failed_status_write_does_not_leave_the_run_running(tiny_flat, runs_dir, monkeypatch):
    """The race behind a flaky subprocess test under load: a rank's collective fails (its peer died), and torchrun's
    SIGTERM arrives while rank 0 writes ``status: failed``; the SIGTERM's exception cut that write, leaving
    ``running``. Reproduced in one process: the handler DDP installs, and a SIGTERM sent from inside the write."""
    from shadowplay.run import RunFolder
    from shadowplay.training import Callback

    class PeerDied(Callback):
        def on_epoch_start(self, trainer, epoch):
            if epoch == 1:  # after the first epoch's checkpoint, so the folder is kept and marked
                raise RuntimeError("Connection closed by peer (test)")

    real = RunFolder.update_meta

    def update_meta(self, **kw):
        if kw.get("status") == "failed":
            os.kill(os.getpid(), signal.SIGTERM)  # torchrun's SIGTERM, delivered at the next bytecode
        return real(self, **kw)

    before = signal.getsignal(signal.SIGTERM)
    dist_mod._raise_on_sigterm()
    try:
        monkeypatch.setattr(RunFolder, "update_meta", update_meta)
        with pytest.raises((RuntimeError, DistributedError)):
            api.train(data=str(tiny_flat), latent_dim=3, runs_dir=runs_dir, name="cut", progress=False,
                      overrides=["model.hidden=[16]", "trainer.batch_size=32", "trainer.epochs=3"],
                      callbacks=[PeerDied()])
    finally:
        signal.signal(signal.SIGTERM, before)
    meta = json.loads((runs_dir / "cut" / "run.json").read_text())
    assert meta["status"] == "failed" and "Connection closed by peer" in meta["error"]


@pytest.mark.parametrize("value", ["ten", "-1", "0", "inf"])
def test_a_bad_collective_timeout_is_refused_before_torchrun_starts(monkeypatch, value):
    """SHADOWPLAY_DIST_TIMEOUT=ten was a ValueError traceback printed by every rank under torchrun."""
    started = []
    monkeypatch.setenv("SHADOWPLAY_DIST_TIMEOUT", value)
    monkeypatch.setattr(dist_mod.subprocess, "call", lambda *a, **k: started.append(a) or 0)
    with pytest.raises(ConfigError, match=f"SHADOWPLAY_DIST_TIMEOUT='{value}' must be a positive number"):
        dist_mod.launch(2, ["train"])
    assert not started
    _ranks_env(monkeypatch, rank=0, local=0)  # a rank started by torchrun itself says the same
    monkeypatch.setattr(dist_mod.td, "init_process_group", lambda *a, **k: None)
    with pytest.raises(ConfigError, match="SHADOWPLAY_DIST_TIMEOUT"):
        from_env("cpu")
