"""One training loop for every variant.

Batches are gathered from tensors already on the device (no per-sample ``Dataset``/collate on the hot path). The
epoch order is a permutation drawn from a generator seeded by ``(seed, epoch)``, so the data order is a pure
function of the position and needs no saved state; the global torch RNG (reparameterization noise, dynamic
binarization, extra minibatches) is saved in every checkpoint. Together with weights, optimizers and the step this
makes resume exact: a run killed mid-epoch and resumed ends with the same weights as an uninterrupted one.

The trainer knows no formula. It minimizes ``LossOutput.loss`` and logs what the objective reports: the loss, every
part (unweighted) with its weight as ``weight/<part>``, every diagnostic (a ``(K,)`` vector as ``name/0`` …
``name/K−1``) and each auxiliary loss as ``<term>_aux``. ``best.safetensors`` is the epoch with the highest
validation ``elbo`` when the objective reports one (every preset with a Gaussian posterior), else the lowest
validation loss (the plain autoencoder).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from tqdm.auto import tqdm

from ..config import TrainerConfig
from ..errors import TrainingDivergedError
from ..model import LatentVariableModel, ModelOutput
from ..objectives import LossOutput, Objective, StepContext
from ..run import RunFolder
from .callbacks import Callback
from .checkpoint import (Checkpoint, copy_as, optimizer_from_flat, optimizer_to_flat, prune, write_checkpoint)
from .denormals import flush_denormals
from .device import make_optimizer
from .distributed import Dist, NullLogger
from .logger import MetricsLogger, MetricWindow, flatten_values
from .precision import Accelerator


# Seconds between two updates of the progress bar's loss and samples/s before a log line (each reads the loss from
# the device once). Before, the bar showed neither until step log_every: ~20 s of a bare bar on dSprites' conv net.
POSTFIX_EVERY_S = 1.0


@dataclass
class TrainResult:
    """What a finished (or stopped) ``fit`` leaves behind."""

    run_dir: Path
    step: int
    epoch: int
    finished: bool
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    val_metrics: dict[str, float] = field(default_factory=dict)
    samples_per_s: float = 0.0


class Trainer:
    """Trains ``model`` on ``train_x`` ``(N, *shape)`` to minimize ``objective``; writes into ``run_dir``."""

    def __init__(self, model: LatentVariableModel, objective: Objective, train_x: torch.Tensor,
                 val_x: torch.Tensor | None, cfg: TrainerConfig, run_dir: Path, device: torch.device,
                 binarize: bool = False, callbacks: Iterable[Callback] = (), header: dict[str, Any] | None = None,
                 train_labels: torch.Tensor | None = None, val_labels: torch.Tensor | None = None,
                 dist: Dist | None = None):
        self.model, self.objective, self.cfg = model.to(device), objective.to(device), cfg
        # precision acts on the nets, compile on the step's forward (training/precision.py); DDP wraps the model
        # (training/distributed.py)
        self.acc = Accelerator(self.model, cfg.precision, cfg.compile, device)
        self.denormal_mode = "off"  # what flush_denormals gave the last fit: on, already on, this thread only, …
        self.dist = dist or Dist()
        self.net = self.dist.wrap(self.model, device)
        self._step_free = objective.step_free_terms()
        self._step_terms = tuple(n for n in objective.terms if n not in self._step_free)
        self._forward = self.acc.compile_step(self._forward_step_free)
        self.shard_weight = 1.0
        self.device, self.run_dir, self.binarize = device, Path(run_dir), binarize
        self.train_x = train_x.to(device)  # (N, *shape), kept on the device: batches are index-gathered from it
        self.val_x = val_x.to(device) if val_x is not None and len(val_x) else None  # (N_val, *shape) or None
        # labels ``(N,)`` travel with their inputs into StepContext.labels (terms with a classifier read them)
        self.train_labels = train_labels.to(device) if train_labels is not None else None
        self.val_labels = val_labels.to(device) if val_labels is not None and self.val_x is not None else None
        self.callbacks = list(callbacks)
        self.header = header or {}
        self.folder = RunFolder(self.run_dir)  # every file name of the run comes from here
        self.ckpt_dir = self.folder.checkpoints_dir
        # trainer.lr given by the user wins; otherwise the preset's default (objectives.OptimizerDefaults).
        defaults = objective.optimizer
        self.lr = cfg.lr if cfg.lr is not None else defaults.lr
        self.optimizers = {"model": make_optimizer(model.parameters(), cfg.optimizer, self.lr, cfg.weight_decay,
                                                   defaults.betas)}
        for name, term in objective.aux_terms().items():
            # A term's own network (FactorVAE's discriminator) gets its own optimizer, named after the term, with the
            # term's lr/betas (the model's lr when the term sets none) and no weight decay.
            self.optimizers[name] = make_optimizer(term.parameters(), cfg.optimizer, term.aux_lr or self.lr, 0.0,
                                                   term.aux_betas)
        self.sample_weights: torch.Tensor | None = None  # (N,) set by a callback (DB-VAE); None = uniform order
        # step: optimizer steps taken; epoch: epochs completed; batch_in_epoch: batches of the current epoch done
        # (resume continues at that batch of the same permutation).
        self.step = self.epoch = self.batch_in_epoch = 0
        self.best: float | None = None
        self.best_path: Path | None = None
        self.last_path: Path | None = None
        self.saved_step: int | None = None  # step of the newest checkpoint written or resumed from; None: none yet
        self.val_metrics: dict[str, float] = {}

    # ---------------------------------------------------------------- state
    @property
    def n(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def batches_per_epoch(self) -> int:
        return self.dist.batches_per_epoch(self.n, self.cfg.batch_size)

    def save(self) -> Path:
        tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        tensors.update({f"objective/{k}": v for k, v in self.objective.state_dict().items()})
        optim_meta = {}
        for name, opt in self.optimizers.items():
            t, meta = optimizer_to_flat(name, opt)
            tensors.update(t)
            optim_meta[name] = meta
        tensors["rng/cpu"] = torch.get_rng_state()
        tensors.update(self.dist.rng_tensors(self.device))  # a collective under DDP: all ranks gather, rank 0 writes
        if self.device.type == "cuda":
            tensors["rng/cuda"] = torch.cuda.get_rng_state(self.device)
        if self.sample_weights is not None:
            tensors["data/sample_weights"] = self.sample_weights
        state = dict(self.header, step=self.step, epoch=self.epoch, batch_in_epoch=self.batch_in_epoch,
                     best=self.best, optimizers=optim_meta, val_metrics=self.val_metrics,
                     finished=self.finished, precision=self.acc.state(), world_size=self.dist.world)
        path = self.folder.step_checkpoint(self.step)
        if self.dist.is_main:  # every rank took part in the RNG gather above; rank 0 alone writes
            write_checkpoint(path, tensors, state)
            prune(self.ckpt_dir, self.cfg.keep_last)
        self.last_path, self.saved_step = path, self.step
        return path

    def restore(self, ckpt: Checkpoint) -> None:
        """Load everything :meth:`save` wrote and continue from that exact position."""
        self.model.load_state_dict(ckpt.section("model"))
        self.objective.load_state_dict(ckpt.section("objective"))
        for name, opt in self.optimizers.items():
            opt.load_state_dict(optimizer_from_flat(ckpt, name, ckpt.state["optimizers"][name]))
        torch.set_rng_state(ckpt.tensors["rng/cpu"])
        if self.device.type == "cuda" and "rng/cuda" in ckpt.tensors:
            torch.cuda.set_rng_state(ckpt.tensors["rng/cuda"], self.device)
        self.dist.restore_rng(ckpt.tensors, self.cfg.seed, ckpt.state["step"], self.device)  # ranks > 0: their own
        self.acc.load_state(ckpt.state.get("precision"))
        self.sample_weights = ckpt.tensors.get("data/sample_weights")
        s = ckpt.state
        self.step, self.epoch, self.batch_in_epoch = s["step"], s["epoch"], s["batch_in_epoch"]
        self.best, self.val_metrics = s.get("best"), s.get("val_metrics", {})
        self.best_path = self.folder.best_path if self.folder.best_path.is_file() else None
        self.last_path, self.saved_step = ckpt.path, self.step
        # After a fallback the log must not hold the lost steps twice. A checkpoint inside an epoch with a val line at
        # its step is a max_steps stop (_stop_mid_epoch): the run goes on, so that validation was not its end and
        # the epoch's end validates instead; dropping it keeps one val line per epoch, as in an uninterrupted run.
        if self.dist.is_main:  # rank 0 alone writes the log (two ranks rewriting it raced on its temporary file)
            self.folder.truncate_metrics(self.step, drop_val_at_step=self.batch_in_epoch > 0)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.epochs

    # ---------------------------------------------------------------- data
    def epoch_order(self, epoch: int) -> torch.Tensor:
        """``(N,)`` indices of the training examples in the order epoch ``epoch`` visits them (with replacement when
        ``sample_weights`` are set), a pure function of ``(trainer.seed, epoch)``."""
        # One generator per (seed, epoch). 1_000_003 is a prime larger than any epoch count, so seed·p + epoch never
        # gives two (seed, epoch) pairs the same stream (seed 1 epoch 0 ≠ seed 0 epoch 1, unlike seed + epoch).
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        if self.sample_weights is not None:
            idx = torch.multinomial(self.sample_weights.float().cpu(), self.n, replacement=True, generator=g)
        else:
            idx = torch.randperm(self.n, generator=g)
        return idx.to(self.device)

    def draw_batch(self) -> torch.Tensor:
        """``(B/world, *shape)``: a uniformly drawn extra training batch (global RNG, so it is part of the resumable
        state); FactorVAE's discriminator trains on it. Under DDP each rank draws its share of the global batch."""
        idx = torch.randint(self.n, (-(-self.cfg.batch_size // self.dist.world),), device="cpu").to(self.device)
        return self._prepare(self.train_x.index_select(0, idx))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, *shape)`` → the same shape; dynamic binarization draws a fresh x ~ Bernoulli(intensity) per visit."""
        return torch.bernoulli(x) if self.binarize else x

    # ---------------------------------------------------------------- loop
    def _diverged(self, values: dict[str, torch.Tensor], loss: torch.Tensor) -> TrainingDivergedError:
        bad = [n for n, v in values.items() if not bool(torch.isfinite(v))] or ["total loss"]
        keep = f"the last good checkpoint is {self.last_path}" if self.last_path else "no checkpoint was written yet"
        return TrainingDivergedError(
            f"loss term {bad[0]!r} became {float(values.get(bad[0], loss).detach())} at step {self.step} (epoch "
            f"{self.epoch}); training stopped and {keep}. Try a lower trainer.lr or trainer.grad_clip=1.0")

    def _forward_step_free(self, x: torch.Tensor, ctx: StepContext
                           ) -> tuple[ModelOutput, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The model's forward on ``x`` ``(B, *shape)`` and the parts and diagnostics of every term that does not read
        the step: what ``trainer.compile`` compiles as one graph (``self._forward``)."""
        out = self.net(x)
        return (out, *self.objective.evaluate(out, ctx, self._step_free))

    def _loss(self, x: torch.Tensor, ctx: StepContext) -> tuple[ModelOutput, LossOutput]:
        """``objective(model(x), ctx)``, with the step-free part through ``self._forward`` (compiled if asked) and
        the terms that read the step and the weighted sum eagerly."""
        with self.acc.training():  # nets in bf16/fp16 if asked; distributions and the objective stay float32
            out, parts, diagnostics = self._forward(x, ctx)
        if self._step_terms:
            parts, diagnostics = self.objective.evaluate(out, ctx, self._step_terms, before=(parts, diagnostics))
        return out, self.objective.combine(parts, diagnostics, ctx.step)

    def _train_step(self, x: torch.Tensor, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One optimizer step on ``x`` ``(B, *shape)``, then one step of each term's own optimizer; returns the
        detached values to log (scalars, or ``(K,)`` vector diagnostics)."""
        out, lo = self._loss(x, ctx)
        # Checked before the step so a NaN never reaches the weights (and the last checkpoint stays good). This
        # costs one device sync per step, the price of stopping at the step that diverged.
        if not bool(torch.isfinite(lo.loss)):
            raise self._diverged(lo.parts, lo.loss)
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        self.acc.backward(lo.loss * self.shard_weight if self.shard_weight != 1.0 else lo.loss)
        if self.cfg.grad_clip:
            self.acc.unscale(opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.acc.step(opt)
        values = lo.logged()  # loss, parts and diagnostics, detached: tensors, so logging costs no sync per step
        # After the model's step: the auxiliary losses see this batch's codes detached (see Term.aux_loss), and
        # the model step above used the discriminator as it was before this update.
        for name, term in self.objective.aux_terms().items():
            aux = term.aux_loss(out, ctx)
            if not bool(torch.isfinite(aux)):
                raise self._diverged({f"{name}_aux": aux.detach()}, aux.detach())
            aopt = self.optimizers[name]
            aopt.zero_grad(set_to_none=True)
            aux.backward()
            self.dist.average_grads(term.parameters())
            aopt.step()
            values[f"{name}_aux"] = aux.detach()
        return values

    @property
    def val_batch_size(self) -> int:
        """Validation minibatches have the size of the training minibatches (a training batch never exceeds N)."""
        return min(self.cfg.batch_size, self.n)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean over the validation set of everything the objective reports (loss, parts, diagnostics).

        The set is cut into minibatches of the training batch size and each is scored with the training
        ``dataset_size``, so batch-based estimates (β-TCVAE's MI, TC and dimension-wise KL, DIP-VAE's covariance)
        come from the same estimator as the training values and the two are comparable; each minibatch's means are
        weighted by its size. The data are not binarized here: validation scores the intensities as given.
        """
        if self.val_x is None:
            return {}
        self.model.eval()
        sums: dict[str, torch.Tensor] = {}
        ctx = StepContext(step=self.step, dataset_size=self.n, model=self.model)
        vx = self.val_x.split(self.val_batch_size)  # (b, *shape) chunks, b <= the training batch size
        vy = self.val_labels.split(self.val_batch_size) if self.val_labels is not None else [None] * len(vx)
        for chunk, y in zip(vx, vy):
            ctx.labels = y  # (b,) or None: DB-VAE's mask needs the chunk's labels
            lo = self.objective(self.model(chunk), ctx)
            # Batch means weighted by the batch's size, so the result is the mean over the set's examples.
            for k, v in lo.logged().items():
                sums[k] = sums[k] + v * len(chunk) if k in sums else v * len(chunk)
        self.model.train()
        return flatten_values({k: v / len(self.val_x) for k, v in sums.items()})

    def fit(self) -> TrainResult:
        """Train until ``cfg.epochs`` (or ``cfg.max_steps``); on CPU with subnormal floats flushed to zero unless
        ``cfg.flush_denormal`` is false (see :mod:`.denormals`: later epochs otherwise ran 1.9× slower)."""
        with flush_denormals(self.cfg.flush_denormal and self.device.type == "cpu") as self.denormal_mode:
            return self._fit()

    def _fit(self) -> TrainResult:
        cfg = self.cfg
        total = cfg.epochs * self.batches_per_epoch
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        logger = MetricsLogger(self.folder.metrics_path, self.folder.tensorboard_dir) if self.dist.is_main \
            else NullLogger()
        bar = tqdm(total=total, initial=min(self.step, total), unit="step", disable=not (cfg.progress and
                                                                                          self.dist.is_main),
                   dynamic_ncols=True, mininterval=0.5, desc="train")
        self.model.train()
        window = MetricWindow(running=False)  # its clock counts training steps only (see _pause)
        t_start = time.perf_counter()
        # One context for the whole fit; only its step changes (terms read N, the model and draw_batch from it).
        ctx = StepContext(step=self.step, dataset_size=self.n, model=self.model, draw_batch=self.draw_batch)
        rate = 0.0
        if self.acc.compiled:  # the warm-up step (compilation) runs on the first batch, with its labels
            ctx.labels = self.train_labels[:cfg.batch_size] if self.train_labels is not None else None
            bar.set_description_str("compile")  # tens of seconds on a small CPU, before the first step
            self.acc.warm_up(lambda: self._loss(self._prepare(self.train_x[:cfg.batch_size]), ctx)[1].loss,
                             self.model.parameters())
            if not bar.disable:  # the bar's clock and rate start at the first step, not before the compilation
                bar.set_description_str("train", refresh=False)
                bar.reset()
                bar.n = bar.last_print_n = bar.initial
        window.resume()
        # the bar's running loss and samples/s between two log lines: after the first step, then every
        # POSTFIX_EVERY_S seconds (None: no bar, nothing read). Logged values are unaffected.
        shown = None if bar.disable else -math.inf
        try:
            while self.epoch < cfg.epochs and (cfg.max_steps is None or self.step < cfg.max_steps):
                if self.batch_in_epoch == 0 and self.callbacks:
                    self._pause(window)  # e.g. DB-VAE's re-weighting pass over the training set
                    for cb in self.callbacks:
                        cb.on_epoch_start(self, self.epoch)
                    window.resume()
                order = self.epoch_order(self.epoch)  # (N,); recomputed on resume from (seed, epoch) alone
                for b in range(self.batch_in_epoch, self.batches_per_epoch):
                    if cfg.max_steps is not None and self.step >= cfg.max_steps:
                        break
                    # (B, *shape) global batch, this rank's shard of it; the epoch's last batch holds the remaining
                    # N mod B examples when B does not divide N
                    idx, self.shard_weight = self.dist.shard(order[b * cfg.batch_size:(b + 1) * cfg.batch_size])
                    # index_select, not train_x[idx]: the same rows, ~5x faster on CPU for a (B,) index into
                    # (N, C, H, W) (advanced indexing takes a generic path), about 1 % of an MLP VAE step
                    x = self._prepare(self.train_x.index_select(0, idx))
                    ctx.step = self.step
                    ctx.labels = self.train_labels.index_select(0, idx) if self.train_labels is not None else None
                    values = self._train_step(x, ctx)
                    self.step += 1
                    self.batch_in_epoch = b + 1
                    window.add(values, x.shape[0])
                    for cb in self.callbacks:
                        cb.on_step_end(self, self.step, values)
                    if self.step % cfg.log_every == 0:
                        rate = self._log_train(logger, window, bar)
                    elif shown is not None and time.perf_counter() - shown >= POSTFIX_EVERY_S:
                        shown = self._show_running(window, bar)
                    bar.update(1)
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self._pause(window)
                        self.save()
                        window.resume()
                self._pause(window)  # validation and checkpoints are not training time
                if self.batch_in_epoch >= self.batches_per_epoch:
                    self._end_epoch(logger)
                else:  # stopped by max_steps mid-epoch: validated and checkpointed as at an epoch's end
                    self._stop_mid_epoch(logger)
                window.resume()
            if window.n:  # a partial logging window (short runs, max_steps) is logged, not dropped
                rate = self._log_train(logger, window, bar)
        finally:
            bar.close()
            logger.close()
        # The final state is always on disk (unless the last thing done was saving exactly this step).
        if self.last_path != self.folder.step_checkpoint(self.step):
            self.save()
        elapsed = time.perf_counter() - t_start
        return TrainResult(self.run_dir, self.step, self.epoch, self.finished, self.last_path, self.best_path,
                           dict(self.val_metrics), rate or (self.step * cfg.batch_size / max(elapsed, 1e-9)))

    def _pause(self, window: MetricWindow) -> None:
        """Stop the window's clock before work that is not a training step. On CUDA the queued steps finish first,
        so their time is counted as training time and the pause as not."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        window.pause()

    def _show_running(self, window: MetricWindow, bar: Any) -> float:
        """Put the current window's mean loss and samples/s (this rank's shard; samples/s of all ranks) on the
        progress bar, before the window is logged at the next multiple of ``log_every``; returns the time shown.
        One device sync (reading the loss) per call."""
        loss, rate = window.peek("loss")
        bar.set_postfix(loss=f"{loss:.2f}", samples_s=f"{rate * self.dist.world:,.0f}", epoch=self.epoch,
                        refresh=False)  # the bar.update that follows draws it (at most every mininterval)
        return time.perf_counter()

    def _log_train(self, logger: MetricsLogger, window: MetricWindow, bar: Any) -> float:
        """Log the window's mean terms, weights and samples/s; reset the window; return samples/s."""
        means, rate = window.flush()
        means, rate = self.dist.mean(means), rate * self.dist.world  # the whole global batch, not rank 0's shard
        # The weights the window's last step used: that step was computed with ctx.step = self.step − 1.
        weights = {f"weight/{k}": w for k, w in self.objective.weights(max(self.step - 1, 0)).items()}
        # The epochs done at this step, so the train and val records of an epoch's last step carry the same epoch
        # (self.epoch only moves on in _end_epoch, after validation).
        done = self.epoch + int(self.batch_in_epoch >= self.batches_per_epoch)
        logger.log("train", self.step, done, {**means, **weights, "samples_per_s": rate})
        bar.set_postfix(loss=f"{means['loss']:.2f}", samples_s=f"{rate:,.0f}", epoch=done)
        return rate

    def _end_epoch(self, logger: MetricsLogger) -> None:
        self.val_metrics = self.validate()
        self.epoch += 1
        self.batch_in_epoch = 0
        self._save_validated(logger, self._epoch_checkpoint_due())
        for cb in self.callbacks:
            cb.on_epoch_end(self, self.epoch, self.val_metrics)

    def _stop_mid_epoch(self, logger: MetricsLogger) -> None:
        """``trainer.max_steps`` ended the run inside an epoch: validate, log and keep ``best`` as an epoch's end
        does (the run used to end with no validation and no best checkpoint). The epoch is not counted and no
        callback fires. Validation draws posterior noise from the global RNG, so it runs in a forked RNG: the
        checkpoint holds the stream an uninterrupted run continues with, and a resumed run still ends with the
        same weights."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self.val_metrics = self.validate()
        self._save_validated(logger, due=True)

    def _epoch_checkpoint_due(self) -> bool:
        """Whether an epoch's end writes a checkpoint even when validation found no new best: the run's first
        epoch, its last (``epochs`` or ``max_steps`` reached), or ``checkpoint_min_steps`` steps after the newest
        checkpoint. Epochs of at least that many steps are all saved; tiny ones (2 steps an epoch on 161 images) are
        not: writing, fsyncing and pruning a ~4 MB checkpoint took 16–27 ms of such an epoch's 36–63 ms. Which epochs
        are saved changes neither the training nor ``metrics.jsonl`` (``save`` draws no random number); a kill loses
        at most ``checkpoint_min_steps`` steps, which ``resume`` redoes exactly."""
        if self.saved_step is None or self.finished:
            return True
        if self.cfg.max_steps is not None and self.step >= self.cfg.max_steps:
            return True
        return self.step - self.saved_step >= self.cfg.checkpoint_min_steps

    def _save_validated(self, logger: MetricsLogger, due: bool) -> None:
        """Log ``val_metrics`` at this step; save a checkpoint when ``due`` or when it is the best yet, and then copy
        it to ``best`` (so ``best`` is always a copy of a step checkpoint no newer than the newest one)."""
        if self.val_metrics:
            logger.log("val", self.step, self.epoch, self.val_metrics)
        # Higher is better: the validation ELBO where the objective reports one, else minus the validation loss.
        score = self.val_metrics.get("elbo", -self.val_metrics.get("loss", float("inf")))
        improved = bool(self.val_metrics) and math.isfinite(score) and (self.best is None or score > self.best)
        # Under DDP each rank validates with its own noise: rank 0's verdict decides, since save() is a collective.
        improved = bool(self.dist.broadcast_object(improved))
        if improved:
            self.best = score
        if not (improved or due):
            return
        path = self.save()
        if improved and self.dist.is_main:
            self.best_path = self.folder.best_path
            copy_as(path, self.best_path)
