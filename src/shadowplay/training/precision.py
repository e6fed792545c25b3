"""Mixed precision for the nets and a compiled training step (``trainer.precision``, ``trainer.compile``).

What runs in low precision: only the encoder and decoder networks, inside ``torch.autocast`` (bf16 on CPU and GPU,
fp16 on GPU). Their outputs are cast back to float32 before the posterior and the likelihood are built, so every
distribution, log-likelihood, KL and loss reduction runs in float32, as do the objective's own networks (FactorVAE's
discriminator). Weights and optimizer state stay float32 ("master weights": autocast casts copies per op, never the
parameters). Autocast is switched on only inside :meth:`Accelerator.training`, so validation, sampling and every
evaluation stay float32.

fp16 has 5 exponent bits: small gradients underflow to zero, so fp16 training multiplies the loss by a scale before
``backward`` and divides the gradients by it before the optimizer step, skipping steps whose gradients overflowed
(Micikevicius et al. 2018, "Mixed Precision Training", sec. 3.2; ``torch.amp.GradScaler``). bf16 has float32's
exponent range and needs no scaler.

``trainer.compile=true`` runs the training step's forward through ``torch.compile``: the model's forward (nets,
posterior, reparameterization, likelihood) and every term of the objective whose value does not depend on the step
(:meth:`Objective.step_free_terms`), as one graph, so its backward is one compiled graph too. Compiling the nets
alone gave nothing here (a bf16 step is bound by the small operations around the GEMMs: the casts, bias and
activation, the reparameterization, the likelihood and KL); compiling them together with the loss fuses those, and
ran a bf16 step 1.4× faster than eager bf16 (benchmarks/README.md). The step's weights, and the terms that read the
step (the capacity term's C(t)), stay outside the graph: the step is a Python int that changes every step, and a
graph that read it would be recompiled at every step. Parameter names and checkpoints are unchanged, and evaluation
stays eager. Compilation happens on the first call; :meth:`Accelerator.warm_up`
makes that call (forward and backward, in a forked RNG so the training stream is untouched) before the first step and
falls back to eager mode with one warning naming the reason if the compiler fails (no C++ compiler, an unsupported
op), as it does when ``torch.compile`` itself refuses (a Python version Dynamo does not support). ``fallback`` keeps
the reason; the run's ``run.json`` records it under ``compile`` and the end-of-run summary prints it.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Iterable, Iterator, TypeVar

import torch
from torch import nn

from ..errors import ConfigError, ShadowplayWarning, user_stacklevel

T = TypeVar("T")

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a precision the device cannot train in (raised where the device is known, before any run folder)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"trainer.precision=fp16 needs a CUDA GPU (it trains with a gradient scaler there); the "
                          f"device is {device.type}. On CPU use trainer.precision=bf16 (same exponent range as fp32, "
                          "no scaler) or fp32")


class CompileFallbackWarning(ShadowplayWarning, RuntimeWarning):
    """``trainer.compile=true`` could not compile; training went on eagerly (the CLI prints it as one line)."""


class Accelerator:
    """Applies ``precision`` to ``model``'s nets and ``compile`` to the training step (:meth:`compile_step`); wraps
    backward/step for the gradient scaler."""

    def __init__(self, model: nn.Module, precision: str, compile: bool, device: torch.device):
        check_precision(precision, device)
        self.precision, self.device = precision, device
        self.dtype = PRECISIONS[precision]
        self._on = False  # autocast only while training (see `training`)
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        self.nets = [m for m in (getattr(model, "encoder", None), getattr(model, "decoder", None)) if m is not None]
        self.compiled = bool(compile)
        self.fallback: str | None = None  # why compilation was given up ("RuntimeError: …"); None: it was not
        if self.dtype is not None:
            for net in self.nets:
                self._wrap_forward(net)

    def _wrap_forward(self, net: nn.Module) -> None:
        """Replace ``net.forward`` on the instance (state_dict keys unchanged): while training, the forward under
        autocast, cast back to float32; otherwise the plain forward, so evaluation runs eager float32."""
        inner: Callable[..., torch.Tensor] = net.forward
        acc = self

        def forward(*args: Any, **kwargs: Any) -> torch.Tensor:
            if not acc._on:
                return inner(*args, **kwargs)
            with torch.autocast(acc.device.type, dtype=acc.dtype):
                out = inner(*args, **kwargs)
            return out.float()

        net.forward = forward  # type: ignore[method-assign]

    def compile_step(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` (the training step's forward) through ``torch.compile`` when ``compile`` was asked, else ``fn``.

        ``dynamic=False``: one graph for the full batch and one for a last partial batch. ``fallback_random``: random
        numbers drawn inside the graph come from torch's own kernels and the global generator, so a compiled run
        draws the same ε as an eager one and the checkpoint's RNG state resumes it exactly; inductor's own
        generator would give another stream for e.g. ``randn_like``. (The posterior's ``rsample`` draws with
        ``normal_``, which inductor leaves to torch anyway: the compiled and eager runs of
        ``test_a_compiled_step_keeps_the_step_out_of_its_graph_and_trains_to_the_eager_result`` log the same
        losses to 1e-7 either way.) After a fallback the returned function calls
        ``fn`` eagerly.
        """
        if not self.compiled:
            return fn
        try:
            fast = torch.compile(fn, dynamic=False, options={"fallback_random": True})
        except Exception as e:  # noqa: BLE001 - torch.compile refusing up front is a failure like any other
            self._fall_back(e)
            return fn
        acc = self

        def step(*args: Any, **kwargs: Any) -> T:
            return (fast if acc.compiled else fn)(*args, **kwargs)

        return step

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        """Low-precision nets inside this block only."""
        self._on = True
        try:
            yield
        finally:
            self._on = False

    # ------------------------------------------------------------ backward / step (gradient scaler for fp16)
    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, opt: torch.optim.Optimizer) -> None:
        """Bring gradients back to their true size before clipping (no-op without a scaler)."""
        if self.scaler is not None:
            self.scaler.unscale_(opt)

    def step(self, opt: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.step(opt)  # skipped when the scaled gradients overflowed; the scale then shrinks
            self.scaler.update()
        else:
            opt.step()

    # ------------------------------------------------------------ checkpoint state (JSON-able)
    def state(self) -> dict[str, Any]:
        s: dict[str, Any] = {"precision": self.precision, "compile": self.compiled}
        if self.scaler is not None:
            s["scaler"] = {k: (float(v) if isinstance(v, (float, torch.Tensor)) else v)
                           for k, v in self.scaler.state_dict().items()}
        return s

    def load_state(self, state: dict[str, Any] | None) -> None:
        """Restore the scaler (a run resumed in another precision simply starts that precision's defaults)."""
        if self.scaler is not None and state and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])

    # ------------------------------------------------------------ compile warm-up with fallback
    def warm_up(self, run_step: Callable[[], torch.Tensor], params: Iterable[torch.nn.Parameter]) -> None:
        """Compile by running ``run_step`` (the trainer's step forward, which enters :meth:`training` itself; returns
        a loss) once, forward and backward, without touching the training RNG stream or the gradients; on a compiler
        failure fall back to the eager step with one clear warning."""
        if not self.compiled:
            return
        params = list(params)
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                run_step().backward()
        except Exception as e:  # noqa: BLE001 - any compiler failure means "run eagerly", said once below
            self._fall_back(e)
        finally:
            for p in params:
                p.grad = None

    def _fall_back(self, e: Exception) -> None:
        """Train eagerly from now on (the step made by :meth:`compile_step` calls its eager function); warn once and
        keep the reason."""
        self.compiled = False
        if self.fallback is not None:
            return
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        self.fallback = f"{type(e).__name__}: {first}"
        warnings.warn(f"trainer.compile=true: torch.compile failed ({self.fallback}); training continues without "
                      "compilation (same results, eager speed)", CompileFallbackWarning, stacklevel=user_stacklevel())
