"""Flush subnormal floats to zero while training on CPU (``trainer.flush_denormal``, on by default).

Why: Adam keeps a first moment m ← β₁·m + (1 − β₁)·g per weight (Kingma & Ba 2015, Algorithm 1). A weight whose
gradient is zero for a while (the weights into a ReLU unit that the current inputs never switch on, common in a
VAE's encoder) has its m shrink by β₁ = 0.9 a step, from ~1e-4 into float32's subnormal range (below 1.18e-38)
after ~700 steps, where it stays until the next non-zero gradient refreshes it. x86 CPUs handle a subnormal operand
or result in a microcode assist that costs on the order of a hundred cycles instead of one (Intel 64 and IA-32
Architectures Optimization Reference Manual, "Floating-point exceptions / denormals"). Measured on the MLP VAE at
batch 128 on Fashion-MNIST, one thread: from about step 600 on, ~300,000 of Adam's 1.1 M first moments were
subnormal and every later epoch took 1.9× as long as the first (fp32 and bf16 alike); with subnormals flushed, every
epoch ran at the first one's speed and the validation loss after 6 epochs was the same to the third decimal
(``benchmarks/later_epochs.py``, benchmarks/README.md). TensorFlow flushes them on CPU by default for the same
reason; PyTorch leaves it to the user (``torch.set_flush_denormal``).

How: the x86 MXCSR flags FTZ (results) and DAZ (operands) are per thread, and ``torch.set_flush_denormal`` sets
them for the calling thread only, while most of the work runs on the intra-op OpenMP threads. A new thread copies
its creator's flags, so after setting them here the OpenMP thread pool is released (``omp_pause_resource_all``,
OpenMP 5.0, found in the libgomp torch loaded) and the next parallel region starts fresh threads that carry them.
:func:`flush_denormals` restores the previous mode the same way on exit, so code run after ``fit`` (evaluation,
the user's own) sees IEEE subnormals again. Where the threads cannot be reached (another OpenMP runtime, a CPU
without the flags) it says so in the mode it returns, and training goes on unchanged.
"""

from __future__ import annotations

import contextlib
import ctypes
from pathlib import Path
from typing import Iterator

import torch

_OMP_PAUSE_HARD = 2  # omp_pause_resource_t: "hard" frees the thread pool, so the next region creates new threads
_PROBE = 1e-30  # normal in float32; × 1e-10 lands in the subnormal range unless results are flushed to zero


def _libgomps() -> list[ctypes.CDLL]:
    """The GNU OpenMP runtimes this process already loaded: torch's wheels bundle one, scikit-learn's another."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux
        return []
    libs = []
    for path in sorted({ln.split()[-1] for ln in maps.splitlines() if "libgomp" in ln and ln.split()[-1][:1] == "/"}):
        try:
            lib = ctypes.CDLL(path)  # already mapped: dlopen returns the loaded library, nothing new is loaded
            lib.omp_pause_resource_all.argtypes = [ctypes.c_int]
            libs.append(lib)
        except (OSError, AttributeError):  # gone, or an OpenMP runtime older than 5.0
            continue
    return libs


def _restart_threads() -> None:
    """Release every OpenMP thread pool (not knowing which runtime torch's kernels use: releasing the others only
    costs them new threads), so the next parallel region's threads copy this thread's flags."""
    for lib in _libgomps():
        lib.omp_pause_resource_all(_OMP_PAUSE_HARD)


def flushed_threads() -> tuple[bool, int]:
    """``(this thread flushes, how many of the intra-op chunks flushed)``: a product that is subnormal under IEEE
    rules, computed on a tensor large enough that every intra-op thread takes a part of it."""
    main = (torch.tensor([_PROBE]) * 1e-10).item() == 0.0
    n = torch.get_num_threads()
    chunk = 1 << 16  # above ATen's element-wise grain size (32,768), so the parallel_for splits it across threads
    probe = torch.full((n * chunk,), _PROBE) * 1e-10
    flushed = (probe.view(n, chunk) == 0).all(dim=1)
    return main, int(flushed.sum())


def _set(on: bool) -> bool:
    """Set the mode in this thread and, by restarting them, in the intra-op threads; ``True`` if all now follow."""
    if not torch.set_flush_denormal(on):  # no FTZ/DAZ on this CPU
        return False
    if torch.get_num_threads() > 1:
        _restart_threads()
    main, chunks = flushed_threads()
    return main == on and chunks == (torch.get_num_threads() if on else 0)


@contextlib.contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[str]:
    """Flush subnormals to zero in this thread and the intra-op threads inside the block; restore the mode after.

    Yields what holds inside: ``"off"`` (not asked), ``"already on"`` (the process flushed them before, left as is),
    ``"on"`` (every thread flushes), ``"this thread only"`` (the OpenMP threads could not be restarted) or
    ``"unsupported"`` (the CPU has no flush-to-zero mode)."""
    if not enabled:
        yield "off"
        return
    main, chunks = flushed_threads()
    if main and chunks == torch.get_num_threads():
        yield "already on"
        return
    if not torch.set_flush_denormal(True):
        yield "unsupported"
        return
    try:
        yield "on" if _set(True) else "this thread only"
    finally:
        _set(False)
