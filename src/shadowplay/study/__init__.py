"""Studies: a grid of models × hyper-parameters × seeds, each run a resumable child process, then one table.

``shadowplay study study.yaml --jobs 2`` (``shadowplay.api.study``) reads the study file (:mod:`.spec`), trains
and evaluates every run that is not done yet (:mod:`.runner`, :mod:`.evaluate_step`), and aggregates all finished
runs into CSV/JSON tables and plots (:mod:`.aggregate`). Killing a study and starting it again skips finished
runs and resumes unfinished ones from their checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from .aggregate import collect, summarize, table, write_outputs
from .runner import RunRecord, StudyRunner, check_jobs, training_state
from .spec import StudyRun, StudySpec, load_study, run_name


@dataclass(frozen=True)
class StudyResult:
    """What a study call leaves: the output folder, one record per run, and the table/plot files."""

    output: Path
    records: list[RunRecord]
    files: dict[str, Path]

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status == "failed"]


def run_study(path: str | Path, jobs: int = 1, output: str | Path | None = None,
              log: Callable[[str], None] = print, launcher: str = "local", address: str | None = None
              ) -> StudyResult:
    """Run (or finish) the study in ``path``; see the module docstring. ``launcher="ray"`` runs each step as a Ray
    task (``study/ray_launcher.py``), on a local instance or on the cluster at ``address``."""
    check_jobs(jobs)  # before the study file is read or a Ray instance starts
    if launcher not in ("local", "ray"):
        raise ConfigError(f"--launcher must be local or ray, got {launcher!r}")
    if address and launcher != "ray":
        raise ConfigError("--address joins a Ray cluster; it needs --launcher ray")
    spec = load_study(path, output)
    if launcher == "ray":
        from .ray_launcher import RayLauncher
        ray = RayLauncher(address)
        try:
            records = StudyRunner(spec, jobs=jobs, log=log, launcher=ray).run()
        finally:
            ray.close()
    else:
        records = StudyRunner(spec, jobs=jobs, log=log).run()
    files = write_outputs(spec, {r.run.name: r.error or "" for r in records if r.status == "failed"})
    return StudyResult(spec.output, records, files)


__all__ = ["RunRecord", "StudyResult", "StudyRun", "StudyRunner", "StudySpec", "collect", "load_study", "run_name",
           "run_study", "summarize", "table", "training_state", "write_outputs"]
