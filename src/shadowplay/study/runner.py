"""Running a study: one child process per step (train / resume, then evaluate), ``jobs`` at a time, restartable.

Output folder layout::

    <output>/configs/<run>.yaml    the resolved config of each run (what ``shadowplay train --config`` gets)
    <output>/runs/<run>/           ordinary run folders (``shadowplay info``, ``resume``, ``evaluate`` work on them)
    <output>/logs/<run>.<step>.log each child's stdout and stderr (appended across restarts)
    <output>/results/<run>.json    written last, atomically: the run's metrics and the evaluation settings that
                                   gave them; its presence means "done" (for those settings)

A run's state is read from disk, so a study that is killed and started again skips runs with a results file,
resumes runs with a checkpoint (``shadowplay resume``), retrains runs killed before their first checkpoint, and
evaluates runs whose training had finished. On Linux every child asks for ``PR_SET_PDEATHSIG`` (:mod:`.children`),
so killing the study (even with SIGKILL) stops its children instead of leaving them racing a restarted study; a
lock file refuses a second study process on the same output folder. A run's name does not carry the base config,
so a study file edited under runs it already started (another ``epochs``, ``n_samples``) is refused before anything
runs, naming the changed key, rather than skipping or resuming those runs with their old config. A finished run
whose results do not answer the evaluation settings (a metric added to ``metrics:``, ``evaluation:`` edited) is
evaluated again, without retraining, and the start line counts it as re-evaluated; metrics listed in another order
or fewer of them are not a reason to (``evaluate_step.settings_changes``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..config import save_yaml
from ..errors import CheckpointError, ConfigError, ShadowplayError
from ..run import RunFolder
from .children import ENV as CHILD_ENV
from .evaluate_step import answered, evaluate_command, evaluation_settings, read_metrics_output, settings_changes
from .spec import StudyRun, StudySpec


@dataclass
class RunRecord:
    """What became of one run: ``status`` is ``done`` (this call), ``skipped`` (done earlier) or ``failed``."""

    run: StudyRun
    status: str
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def training_state(run_dir: Path, max_steps: int | None) -> str:
    """``new`` (no folder), ``restart`` (no readable checkpoint), ``partial`` (resume) or ``trained``."""
    folder = RunFolder(run_dir)
    if not folder.path.exists():
        return "new"
    if not folder.meta_path.is_file() or not folder.checkpoints:
        return "restart"
    try:
        step = folder.newest_checkpoint(tensors=False).state["step"]  # where `resume` would continue
    except CheckpointError:
        return "restart"  # no checkpoint reads: nothing to resume from
    try:
        meta = folder.meta
    except CheckpointError:
        return "partial"
    done = meta.get("status") == "finished" or (meta.get("status") == "stopped" and max_steps is not None
                                                 and step >= max_steps)
    return "trained" if done else "partial"


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    return {k: v for key, value in d.items() for k, v in _flat(value, f"{prefix}{key}.").items()} if d else {prefix: d}


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old → new`` for every dotted config key whose value differs between two config dicts."""
    a, b = _flat(old), _flat(new)
    return [f"{k.rstrip('.')}: {a.get(k)!r} → {b.get(k)!r}" for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]


def child_error(log: Path, limit: int = 300) -> str:
    """The ``error: …`` line of the last command in a child's log (what the CLI printed on the way out), or ``""``.

    A failed step used to be reported as "exited with status 2; see <log>" only; the reason is one line there."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    last = text[text.rfind("\n$ shadowplay "):] if "\n$ shadowplay " in text else text
    found = [ln.split("error: ", 1)[1].strip() for ln in last.replace("\r", "\n").splitlines() if "error: " in ln]
    return (found[-1][:limit] + ("…" if len(found[-1]) > limit else "")) if found else ""


def _child_env(jobs: int) -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # .../src, holding the shadowplay package the children import
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    threads = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, threads)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[CHILD_ENV] = str(os.getpid())
    return env


def _todo_detail(todo: Any, reevaluated: int = 0) -> str:
    """`` (1 resumes from its checkpoint, 1 needs evaluating only, 2 re-evaluated)``: which runs a restarted study
    picks up where they stopped (``reevaluated`` of the evaluate-only ones had results from other evaluation
    settings); empty when every run starts from scratch."""
    resume = sum(steps[0] == "partial" for _, steps in todo)
    evaluate = sum(steps[0] == "evaluate" for _, steps in todo) - reevaluated
    parts = [f"{resume} resume{'s' if resume == 1 else ''} from {'its' if resume == 1 else 'their'} checkpoint"
             ] if resume else []
    parts += [f"{evaluate} need{'s' if evaluate == 1 else ''} evaluating only"] if evaluate else []
    parts += [f"{reevaluated} re-evaluated for changed evaluation settings"] if reevaluated else []
    return f" ({', '.join(parts)})" if parts else ""


class _Lock:
    def __init__(self, output: Path):
        self.path = output / ".study.lock"

    def __enter__(self) -> "_Lock":
        if self.path.is_file():
            try:
                pid = int(self.path.read_text().strip() or 0)
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, PermissionError, OSError):
                pid = 0
            if pid and pid != os.getpid():
                raise ShadowplayError(f"another study process (pid {pid}) is running in {self.path.parent}; wait for "
                                      f"it to end or stop it, then start this one again")
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(os.getpid()))
        tmp.replace(self.path)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.path.unlink(missing_ok=True)


def check_jobs(jobs: Any) -> None:
    """``jobs`` is how many runs go at once: a positive integer (0 or -1 was a traceback)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer (runs at once), got {jobs!r}")


class StudyRunner:
    """Schedules every run's steps as child processes, at most ``jobs`` at once."""

    def __init__(self, spec: StudySpec, jobs: int = 1, log: Callable[[str], None] = print,
                 evaluate_step: Callable[[StudySpec, StudyRun, Path], list[str]] | None = None,
                 launcher: Any = None):
        check_jobs(jobs)
        self.spec, self.jobs, self.log = spec, jobs, log
        self.evaluate_step = evaluate_step or evaluate_command
        self.out = spec.output if launcher is None else Path(spec.output).resolve()  # Ray workers' cwd differs
        self.env = _child_env(jobs)
        self.launcher = launcher  # None: local child processes; else e.g. ray_launcher.RayLauncher
        self.settings = evaluation_settings(spec)
        self.reevaluating: set[str] = set()

    def run_dir(self, run: StudyRun) -> Path:
        return self.out / "runs" / run.name

    def result_path(self, run: StudyRun) -> Path:
        return self.out / "results" / f"{run.name}.json"

    def _train_command(self, run: StudyRun, state: str) -> list[str]:
        if state == "partial":
            return ["resume", str(self.run_dir(run)), "--no-progress"]
        cmd = ["train", "--config", str(self.out / "configs" / f"{run.name}.yaml"), "--runs-dir",
               str(self.out / "runs"), "--name", run.name, "--no-progress"]
        return cmd + (["--overwrite"] if state == "restart" else [])

    def _start(self, run: StudyRun, step: str, args: list[str]) -> tuple[subprocess.Popen, Any, float]:
        logf = open(self.out / "logs" / f"{run.name}.{step}.log", "a")
        logf.write(f"\n$ shadowplay {' '.join(args)}\n")
        logf.flush()
        if self.launcher is not None:  # the task appends to the same log file itself
            logf.close()
            return self.launcher.start(args, self.env, Path(logf.name)), logf, time.perf_counter()
        cmd = [sys.executable, "-m", "shadowplay", *args]  # = shadowplay <args>; __main__ makes it die with us
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=self.env)
        return proc, logf, time.perf_counter()

    def _plan(self, run: StudyRun) -> list[str]:
        state = training_state(self.run_dir(run), run.config.trainer.max_steps)
        return ([] if state == "trained" else [state]) + ["evaluate"]

    def run(self) -> list[RunRecord]:
        for sub in ("configs", "runs", "logs", "results"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        with _Lock(self.out):
            return self._loop()

    def _check_unchanged(self) -> None:
        """Refuse a study file edited under runs it already trained or started: they would be skipped or resumed
        with their old config while ``configs/<run>.yaml`` was overwritten with the new one."""
        for run in self.spec.runs:
            old_path = self.out / "configs" / f"{run.name}.yaml"
            started = self.result_path(run).is_file() or self.run_dir(run).exists()
            if not started or not old_path.is_file():
                continue
            changes = config_changes(yaml.safe_load(old_path.read_text()) or {}, run.config.to_dict())
            if changes:
                more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
                raise ConfigError(
                    f"run {run.name} in {self.out} was started with another config ({changes[0]}{more}); this study "
                    f"would skip or resume it unchanged. Give the changed study a new --output folder, or delete "
                    f"{self.run_dir(run)} and {self.result_path(run)} to train it again")

    def _loop(self) -> list[RunRecord]:
        records: dict[str, RunRecord] = {}
        todo: deque[tuple[StudyRun, list[str]]] = deque()
        self._check_unchanged()
        stale: dict[str, str] = {}
        for run in self.spec.runs:
            save_yaml(run.config, self.out / "configs" / f"{run.name}.yaml")
            if not self.result_path(run).is_file():
                todo.append((run, self._plan(run)))
                continue
            result = json.loads(self.result_path(run).read_text())
            changes = settings_changes(result, self.settings)
            if not changes:  # its numbers answer these settings (see settings_changes)
                records[run.name] = RunRecord(run, "skipped", answered(result, self.settings))
            elif self._plan(run) == ["evaluate"]:  # trained: evaluate it again, never retrain it
                self.reevaluating.add(run.name)
                todo.append((run, ["evaluate"]))
            else:
                stale[run.name] = (f"its results were computed with other evaluation settings ({changes[0]}) and "
                                   f"{self.run_dir(run)} holds no finished training to evaluate again; delete "
                                   f"{self.result_path(run)} to train it again")
                records[run.name] = RunRecord(run, "failed", result, stale[run.name])
        total, n_done = len(self.spec.runs), len(records) - len(stale)
        self.log(f"study {self.out}: {total} runs, {n_done} already done, {len(todo)} to do"
                 f"{_todo_detail(todo, len(self.reevaluating))}, {self.jobs} at a time")
        for name, why in stale.items():
            self.log(f"{name}: FAILED ({why})")
        running: dict[str, tuple[StudyRun, list[str], subprocess.Popen, Any, float, dict]] = {}
        try:
            while todo or running:
                while todo and len(running) < self.jobs:
                    run, steps = todo.popleft()
                    running[run.name] = (run, steps, *self._launch(run, steps[0]), {})
                time.sleep(0.1)
                for name in list(running):
                    run, steps, proc, logf, t0, times = running[name]
                    if proc.poll() is None:
                        continue
                    logf.close()
                    kind = "evaluate" if steps[0] == "evaluate" else "train"
                    times[kind] = round(time.perf_counter() - t0, 1)
                    if proc.returncode == 0 and len(steps) > 1:
                        running[name] = (run, steps[1:], *self._launch(run, steps[1]), times)
                        continue
                    del running[name]
                    log = self.out / "logs" / f"{name}.{kind}.log"
                    try:
                        if proc.returncode != 0:
                            why = child_error(log)
                            raise ShadowplayError(f"{kind} exited with status {proc.returncode}"
                                                  + (f": {why}" if why else "") + f"; see {log}")
                        records[name] = RunRecord(run, "done", self._record(run, times))
                    except (ShadowplayError, OSError, ValueError, KeyError) as e:
                        records[name] = RunRecord(run, "failed", error=str(e))
                        self.log(f"[{len(records)}/{total}] {name}: FAILED ({e})")
                    else:
                        m = records[name].result["metrics"]
                        heads = [(k, v) for k, v in m.items() if isinstance(v, float) and "train" not in k][:4]
                        shown = ", ".join(f"{k} {v:.3f}" for k, v in heads)
                        what = "re-evaluated" if name in self.reevaluating else "done"
                        self.log(f"[{len(records)}/{total}] {name}: {what} in {sum(times.values()):.0f} s; {shown}")
        except BaseException:
            for run, _, proc, logf, _, _ in running.values():
                proc.terminate()
            for run, _, proc, logf, _, _ in running.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                logf.close()
            raise
        return [records[r.name] for r in self.spec.runs]

    def _launch(self, run: StudyRun, step: str) -> tuple[subprocess.Popen, Any, float]:
        if step == "evaluate":
            return self._start(run, "evaluate", self.evaluate_step(self.spec, run, self.run_dir(run)))
        return self._start(run, "train", self._train_command(run, step))

    def _record(self, run: StudyRun, times: dict[str, float]) -> dict[str, Any]:
        meta = RunFolder(self.run_dir(run)).meta
        metrics, source = read_metrics_output(self.spec, run, self.run_dir(run))
        if run.name in self.reevaluating:  # keep the training time of the first call
            old = json.loads(self.result_path(run).read_text()).get("seconds", {})
            times = {**{k: v for k, v in old.items() if k != "evaluate"}, **times}
        doc = {"name": run.name, "preset": run.preset, "seed": run.seed, "params": run.params,
               "run_dir": str(Path("runs") / run.name), "train": {"status": meta.get("status"),
                                                                  "step": meta.get("step"),
                                                                  "val": meta.get("val_metrics", {})},
               "metrics": metrics, "evaluated_by": source, "evaluation": self.settings, "seconds": times, "versions": meta.get("versions", {})}
        path = self.result_path(run)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(path)
        return doc
