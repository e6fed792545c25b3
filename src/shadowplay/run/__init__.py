"""The run folder and its files: :class:`RunFolder` knows every path of a run, :mod:`.checkpoints` the checkpoint
file format, :mod:`.provenance` what ``run.json`` records about where a run came from, :mod:`.pictures` which weights drew its picture
pairs.

This package sits just above ``config``: the trainer, reports, studies and the API all read and write runs
through it, and it imports none of them.
"""

from .checkpoints import Checkpoint, latest_good, read_checkpoint, step_checkpoints, write_checkpoint
from .folder import (EvaluationFiles, OutlierFiles, RunFolder, TraversalFiles, create_run, default_name,
                     enclosing_run, open_run, run_path)
from .provenance import start_meta

__all__ = ["Checkpoint", "latest_good", "read_checkpoint", "step_checkpoints", "write_checkpoint",
           "EvaluationFiles", "OutlierFiles", "RunFolder", "TraversalFiles", "create_run", "default_name",
           "enclosing_run", "open_run", "run_path", "start_meta"]
