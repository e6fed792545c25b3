"""Data sources: built-in sets, Fashion-MNIST from Debian's package, files, procedural dSprites."""

from .base import SPLITS, Dataset, DataSplits, split_dataset, split_rows, validate_tensor
from .registry import SourceOptions, has_factors, load_data, register_source, source_names
from . import digits  # noqa: F401  (registers "digits")
from . import fashion_mnist  # noqa: F401  (registers "fashion-mnist")
from . import biased_fmnist  # noqa: F401  (registers "biased-fmnist")
from . import dsprites  # noqa: F401  (registers "dsprites", "color-dsprites", "noisy-dsprites")
from .dsprites import ColorDSprites, DSprites, NoisyDSprites
from .files import apply_standardization, load_path
from .groundtruth import GroundTruthData, NpzGroundTruth, groundtruth_for

__all__ = ["SPLITS", "Dataset", "DataSplits", "SourceOptions", "has_factors", "load_data", "register_source",
           "source_names",
           "split_dataset", "split_rows", "validate_tensor",
           "DSprites", "ColorDSprites", "NoisyDSprites", "GroundTruthData", "NpzGroundTruth", "groundtruth_for",
           "apply_standardization", "load_path"]
