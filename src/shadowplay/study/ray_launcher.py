"""Studies on Ray (``shadowplay study study.yaml --launcher ray [--address HOST:PORT]``; extra ``shadowplay[ray]``).

Each step of a run (``train``/``resume``, then ``evaluate``) becomes one Ray task (``num_cpus=1`` unless
``SHADOWPLAY_RAY_CPUS`` says more) that runs the very command the local launcher runs, ``python -m
shadowplay …``, on whichever node Ray picks. Scheduling, skip-finished and resume-the-half-done
behaviour are the local runner's (``runner.StudyRunner``), unchanged: it sees a :class:`RayProcess`, which answers
``poll``/``terminate``/``wait`` like a ``subprocess.Popen``. The study file does not change between a laptop and a
cluster; on a cluster the study's output folder must be on a file system every node sees, and every node needs
shadowplay installed.

Without ``--address`` a private local Ray instance is started for the study and shut down after it;
``--address auto`` or ``HOST:PORT`` joins a running cluster (``ray start --head`` on the head node).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..config import positive_env
from ..errors import ShadowplayError


def _step(args: list[str], env: dict[str, str], log_path: str, cwd: str) -> int:
    """Runs on a Ray worker: the study child command in the study's working folder (relative data paths in the
    study file mean what they mean on the laptop), output appended to ``log_path``; returns its exit status."""
    child_env = dict(os.environ, **env)
    child_env["SHADOWPLAY_STUDY_PID"] = str(os.getpid())  # the child dies with this worker (cancel = kill)
    with open(log_path, "a") as log:
        return subprocess.call([sys.executable, "-m", "shadowplay", *args], stdout=log,
                               stderr=subprocess.STDOUT, env=child_env, cwd=cwd)


_PASSED = ("PYTHONPATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONUNBUFFERED", "CUDA_VISIBLE_DEVICES")


class RayProcess:
    """A submitted Ray task seen as a ``subprocess.Popen``: ``poll()``, ``returncode``, ``terminate()``, ``wait()``."""

    def __init__(self, ray: Any, ref: Any):
        self._ray, self.ref, self.returncode = ray, ref, None

    def poll(self) -> int | None:
        if self.returncode is None:
            ready, _ = self._ray.wait([self.ref], timeout=0)
            if ready:
                try:
                    self.returncode = int(self._ray.get(self.ref))
                except Exception:  # noqa: BLE001 - a crashed or cancelled task is a failed step, said in the log
                    self.returncode = 1
        return self.returncode

    def terminate(self) -> None:
        if self.returncode is None:
            self._ray.cancel(self.ref, force=True)

    kill = terminate

    def wait(self, timeout: float | None = None) -> int:
        ready, _ = self._ray.wait([self.ref], timeout=timeout)
        if not ready:
            raise subprocess.TimeoutExpired("ray task", timeout or 0)
        return self.poll() if self.returncode is None else self.returncode  # type: ignore[return-value]


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Refuse a ``HOST:PORT`` (or ``ray://HOST:PORT``) where nothing accepts a TCP connection. ``ray.init`` would
    otherwise retry for minutes, printing connection warnings, before failing. ``auto``, no address, or an address
    of another form are left to Ray (``auto`` without a cluster fails at once)."""
    if not address or address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as e:
        raise ShadowplayError(f"could not join the Ray cluster at {address}: nothing answers there ({e}); start one "
                              "with `ray start --head` on that machine, or use --address auto on a cluster node") \
            from None


def ray_cpus() -> float:
    """CPUs each Ray task asks for (``SHADOWPLAY_RAY_CPUS``, default 1, e.g. 2 or 0.5); a bad value is one line naming
    it, raised before Ray starts."""
    return positive_env("SHADOWPLAY_RAY_CPUS", 1, "CPUs per Ray task")


class RayLauncher:
    """Connects to Ray (or starts a local instance) and submits study steps as tasks."""

    def __init__(self, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise ShadowplayError("--launcher ray needs Ray: pip install 'shadowplay[ray]'") from None
        self.ray = ray
        cpus = ray_cpus()  # checked before Ray starts: a bad value fails at once
        self.owns = not ray.is_initialized()
        if self.owns:
            _check_reachable(address)
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         **({} if address else {"num_cpus": os.cpu_count() or 1}))
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ShadowplayError(f"could not {'join the Ray cluster at ' + address if address else 'start Ray'}"
                                      f": {e}") from None
        self.remote = ray.remote(num_cpus=cpus, max_retries=0)(_step)

    def start(self, args: list[str], env: dict[str, str], log_path: Path) -> RayProcess:
        """Submit one step; only the variables that shape the run travel (a worker keeps its own PATH, HOME …)."""
        keep = {k: v for k, v in env.items() if k in _PASSED}
        return RayProcess(self.ray, self.remote.remote(list(args), keep, str(Path(log_path).resolve()), os.getcwd()))

    def close(self) -> None:
        if self.owns and self.ray.is_initialized():
            self.ray.shutdown()
