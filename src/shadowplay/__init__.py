"""shadowplay: deep latent-variable generative models, from training to using what they learned.

The Python API mirrors the CLI: ``train``, ``resume``, ``load``, ``sample``, ``reconstruct``, ``info``,
``evaluate``, ``traverse``, ``interpolate``, ``report``, ``explore``, ``embed``. Importing it leaves matplotlib's
backend alone (figures are drawn on their own Agg canvas).
"""

from ._version import __version__

from .api import Run, RunInfo, info, load, reconstruct, resume, sample, train  # noqa: E402
from .api import Embedding, Evaluation, embed, evaluate, interpolate, report, traverse  # noqa: E402
from .api import explore  # noqa: E402
from .config import RunConfig, load_config  # noqa: E402
from .model import LatentVariableModel, ModelSpec, build_model  # noqa: E402
from . import debias  # noqa: E402  (sp.debias.train, audit_run, compare, sampling_weights, audit)

__all__ = ["Run", "RunInfo", "info", "load", "reconstruct", "resume", "sample", "train", "RunConfig",
           "load_config", "LatentVariableModel", "ModelSpec", "build_model", "__version__",
           "Evaluation", "evaluate", "interpolate", "report", "traverse", "explore", "debias", "Embedding",
           "embed"]
