"""Data-parallel training with PyTorch DistributedDataParallel, under ``torchrun`` or ``shadowplay train --nproc N``.

Every rank holds the whole training set and computes the same seeded epoch order as a single process would (the
trainer's ``randperm`` from ``(seed, epoch)``). Global batch ``b`` is ``order[b·B:(b+1)·B]`` exactly as in one process;
rank ``r`` takes the ``r``-th of ``world`` near-equal contiguous pieces of it (``tensor_split``). That is the sharding a
``DistributedSampler`` does, but on the trainer's index gather, so ``trainer.batch_size`` is the *global* batch and a
run on N processes sees the same batches, in the same order, as a run on one.

Gradients: DDP averages the model's gradients over ranks. A rank's loss is a mean over its ``n_r`` rows; scaling it
by ``world · n_r / B`` makes that average the gradient of the mean over all ``B`` rows, also when ``B`` does not
divide evenly. Terms that are not means over examples (β-TCVAE's minibatch estimates of log q(z), DIP-VAE's
covariance) are computed per shard, as in every data-parallel VAE. Term networks with their own optimizer
(FactorVAE's discriminator) are not inside the DDP module; their gradients are all-reduced (averaged) here before
their optimizer steps, so every rank keeps the same discriminator.

Rank 0 alone writes the run folder (checkpoints, metrics, pictures). Checkpoints hold every rank's RNG state
(``rng/cpu/rank-<r>``), gathered to rank 0, so a resume on the same number of processes continues every rank's noise
stream. A rank that dies is detected by torchrun's agent, which stops the others and exits non-zero naming the failed
rank; collectives also carry a timeout (``SHADOWPLAY_DIST_TIMEOUT`` seconds, default 600) so nothing waits forever.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import threading
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
import torch.distributed as td

from ..config import positive_env
from ..errors import ConfigError, ShadowplayError


class DistributedError(ShadowplayError):
    """A distributed run failed (a rank died, the launcher could not start, a collective timed out)."""


@dataclass
class Dist:
    """This process's place in a data-parallel run (``world == 1``: a plain single-process run)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    # ------------------------------------------------------------ data
    def shard(self, batch_idx: torch.Tensor) -> tuple[torch.Tensor, float]:
        """This rank's piece of a global batch of indices and the loss weight ``world · n_r / B`` (see module doc)."""
        if not self.active:
            return batch_idx, 1.0
        piece = batch_idx.tensor_split(self.world)[self.rank]
        return piece, self.world * len(piece) / max(len(batch_idx), 1)

    def batches_per_epoch(self, n: int, batch: int) -> int:
        """A last partial batch smaller than the world would leave some rank empty; it is dropped."""
        full, rest = divmod(n, batch)
        return full + (1 if rest and (rest >= self.world) else 0)

    # ------------------------------------------------------------ model and gradients
    def place(self, device: torch.device) -> torch.device:
        """The device this rank trains on: ``cuda:LOCAL_RANK`` under DDP on CUDA (one GPU per process, whatever
        index ``trainer.device`` named), else ``device`` itself."""
        if self.active and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``model`` in DDP (rank 0's weights are broadcast to all ranks here); unchanged in a single process."""
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel
        ids = [device.index if device.index is not None else self.local_rank] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def average_grads(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Average ``.grad`` over ranks (for networks outside the DDP module)."""
        if not self.active:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        td.all_reduce(flat)
        flat /= self.world
        for g, part in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(part.view_as(g))

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Average logged scalars over ranks (every rank logs at the same steps)."""
        if not self.active or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        td.all_reduce(t)
        return {k: float(v) / self.world for k, v in zip(keys, t)}

    def shutdown(self) -> None:
        """End a finished DDP run on every rank together: wait until rank 0 has written the run folder, then tear the
        process group down. A rank that left its gloo threads running while the interpreter exited could abort
        ("terminate called without an active exception", SIGABRT), and torchrun then failed the whole run."""
        if self.active and td.is_initialized():
            td.barrier()
            td.destroy_process_group()

    def lost_peer(self, e: BaseException) -> DistributedError | None:
        """The error to raise for ``e`` when it is a collective failing because another rank stopped (gloo's
        "Connection reset by peer", an NCCL or distributed-backend error), not a bug in this process; else None."""
        text = str(e)
        if not self.active or not (isinstance(e, td.DistError) or any(w in text.lower() for w in ("gloo", "nccl"))):
            return None
        first = (text.strip().splitlines() or [type(e).__name__])[0][:200]
        return DistributedError(f"rank {self.rank}: a collective failed because another process of this run stopped "
                                f"({first})")

    def broadcast_object(self, obj):  # noqa: ANN001, ANN201 - any picklable value from rank 0 (in memory only)
        if not self.active:
            return obj
        box = [obj]
        td.broadcast_object_list(box, src=0)
        return box[0]

    # ------------------------------------------------------------ RNG
    def rng_tensors(self, device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """Every rank's RNG states, gathered (a collective: all ranks call it): the CPU generator's as
        ``rng/cpu/rank-<r>`` and, when ``device`` is a GPU, that GPU's as ``rng/cuda/rank-<r>`` (the
        reparameterization noise of a GPU run is drawn there). The states are CPU byte tensors; under NCCL the
        process group carries gloo for CPU tensors (see :func:`from_env`)."""
        if not self.active:
            return {}
        states = {"cpu": torch.get_rng_state()}
        if device is not None and device.type == "cuda":
            states["cuda"] = torch.cuda.get_rng_state(device)
        out: dict[str, torch.Tensor] = {}
        for kind, state in states.items():
            parts = [torch.empty_like(state) for _ in range(self.world)]
            td.all_gather(parts, state)  # uint8 tensors of equal size
            out.update({f"rng/{kind}/rank-{r}": p for r, p in enumerate(parts)})
        return out

    def restore_rng(self, tensors: dict[str, torch.Tensor], seed: int, step: int,
                    device: torch.device | None = None) -> None:
        """Give rank > 0 its own saved streams back (rank 0's are the checkpoint's ``rng/cpu`` and ``rng/cuda``,
        restored by the trainer before this). A state the checkpoint lacks (resumed on more processes than it was
        saved with, or a CPU run resumed on GPUs) becomes a fresh stream distinct per rank, never rank 0's."""
        if not self.active or self.rank == 0:
            return
        fresh = seed * 1_000_003 + step * 7_919 + self.rank
        key = f"rng/cpu/rank-{self.rank}"
        if key in tensors:
            torch.set_rng_state(tensors[key])
        else:
            torch.manual_seed(fresh)  # CPU and every GPU
        if device is not None and device.type == "cuda":
            ckey = f"rng/cuda/rank-{self.rank}"
            if ckey in tensors:
                torch.cuda.set_rng_state(tensors[ckey], device)
            else:
                torch.cuda.manual_seed(fresh)

    def seed(self, seed: int) -> None:
        """Distinct noise per rank (rank 0 keeps the single-process stream)."""
        if self.active and self.rank:
            torch.manual_seed(seed + 104_729 * self.rank)


class NullLogger:
    """What ranks other than 0 log to: nothing (rank 0 alone writes ``metrics.jsonl`` and TensorBoard)."""

    def log(self, *args: object, **kwargs: object) -> None:
        pass

    def close(self) -> None:
        pass


def _more_ranks_than_gpus(who: str) -> DistributedError:
    """The error for more DDP processes on CUDA than this machine has GPUs (NCCL cannot put two ranks on one)."""
    gpus = torch.cuda.device_count()
    return DistributedError(f"{who}: DDP on CUDA runs one process per GPU and this machine has {gpus}; use --nproc "
                            f"{gpus} (torchrun --nproc-per-node {gpus}), or trainer.device=cpu to train on CPU "
                            "processes with gloo")


def check_world(world: int, batch_size: int, n_train: int | None = None) -> None:
    """Refuse a global batch that cannot give every rank a row: rank ``r`` trains on the ``r``-th piece of each batch,
    so with fewer rows than processes some rank's piece is empty (its loss is a mean over nothing) and the run used to
    die in a traceback from inside the objective. ``n_train`` (when known) caps the batch, as in the trainer."""
    if world <= 1:
        return
    rows = batch_size if n_train is None else min(batch_size, n_train)
    if rows < world:
        small_data = n_train is not None and n_train < batch_size
        what = f"the training split of {n_train} examples" if small_data else f"trainer.batch_size={batch_size}"
        raise ConfigError(f"{what} cannot be shared by {world} processes: each process trains on its piece of every "
                          f"global batch, so a batch needs at least {world} rows; "
                          f"{'use more data' if small_data else 'raise trainer.batch_size'} or fewer processes "
                          "(--nproc)")


def from_env(device_type: str) -> Dist:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE`` > 1), else a single process.

    gloo on CPU. On CUDA each rank uses ``cuda:LOCAL_RANK`` (one GPU per process; more processes than GPUs are
    refused, since NCCL cannot run two ranks on one GPU) and the group is ``cpu:gloo,cuda:nccl``: NCCL for the
    gradients, gloo for the few collectives on CPU tensors (the RNG states of a checkpoint, the logged means),
    which NCCL alone refuses.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not td.is_initialized():
        backend = "gloo"
        if device_type == "cuda":
            if local >= torch.cuda.device_count():
                raise _more_ranks_than_gpus(f"rank {rank} (local rank {local})")
            torch.cuda.set_device(local)
            backend = "cpu:gloo,cuda:nccl"
        timeout = datetime.timedelta(seconds=dist_timeout())
        td.init_process_group(backend, timeout=timeout)
        _raise_on_sigterm()
    return Dist(rank=rank, world=world, local_rank=local)


def _stopped_by_agent(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM must not cut the run folder's clean-up
    raise DistributedError("stopped by torchrun (SIGTERM): another process of this run failed or the run was "
                           "interrupted")


def _raise_on_sigterm() -> None:
    """torchrun stops the surviving ranks with SIGTERM when one fails. Python's default for SIGTERM is to die on the
    spot, which left rank 0's run folder marked ``running`` (or, before its first checkpoint, a folder that
    ``resume`` cannot continue and that blocks the name); as an exception, the run ends as a failed one does."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stopped_by_agent)


def ignore_sigterm() -> None:
    """Called first thing when a run is already ending with an error: the failed status it writes next must not be cut
    by torchrun's SIGTERM, which reaches the surviving ranks a moment after the collective that saw a rank die has
    failed. (Under load the two coincided: the SIGTERM's exception, raised while ``run.json`` was being written, left
    it saying ``running``.) Only undoes :func:`_raise_on_sigterm`; any other handler is left alone."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is _stopped_by_agent:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def launch_run(command: str, cfg, nproc: int, *, run: Path | None = None, runs_dir: str | Path = "runs",  # noqa: ANN001
               name: str | None = None, overwrite: bool = False, progress: bool = True,
               overrides: dict[str, object] | None = None) -> Path:
    """``shadowplay train`` of the resolved config ``cfg`` (or ``resume`` of ``run`` with ``overrides``) on ``nproc``
    processes; returns the run folder. The config travels as a YAML file, so every setting reaches every rank."""
    from ..config import save_yaml
    from .device import resolve_device
    if resolve_device(cfg.trainer.device).type == "cuda" and nproc > torch.cuda.device_count():
        raise _more_ranks_than_gpus(f"--nproc {nproc}")  # refused before any process starts
    with tempfile.TemporaryDirectory(prefix="shadowplay-ddp-") as tmp:
        if command == "train":
            save_yaml(cfg, Path(tmp) / "config.yaml")
            argv = ["train", "--config", str(Path(tmp) / "config.yaml"), "--runs-dir", str(runs_dir),
                    "--name", str(name)] + (["--overwrite"] if overwrite else [])
            out = Path(runs_dir) / str(name)
        else:
            argv = ["resume", str(run)] + [f"{k}={v}" for k, v in (overrides or {}).items()]
            out = Path(str(run))
        launch(nproc, argv + ([] if progress else ["--no-progress"]))
    return out


def dist_timeout() -> float:
    """Seconds a collective may wait (``SHADOWPLAY_DIST_TIMEOUT``, default 600); a bad value is one line naming it."""
    return positive_env("SHADOWPLAY_DIST_TIMEOUT", 600, "seconds")


def launch(nproc: int, argv: list[str]) -> None:
    """Run ``shadowplay <argv>`` on ``nproc`` local processes with torchrun (``--standalone``: a private rendezvous
    on a free port). Raises :class:`DistributedError` naming the exit status when a rank failed."""
    if nproc < 1:
        raise DistributedError(f"--nproc must be >= 1, got {nproc}")
    dist_timeout()  # a bad SHADOWPLAY_DIST_TIMEOUT is refused here, once, not by every rank
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "shadowplay", *argv]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), SHADOWPLAY_NPROC=str(nproc),
               SHADOWPLAY_LAUNCH_ARGV=json.dumps(sys.argv))  # run.json's command: the user's, not the ranks' argv
    env.pop("SHADOWPLAY_STUDY_PID", None)  # the ranks' parent is torchrun, not a study: they must not exit at start
    code = subprocess.call(cmd, env=env)
    if code != 0:
        raise DistributedError(f"distributed training on {nproc} processes failed (torchrun exit status {code}); "
                               "the failing rank's error is printed above")
