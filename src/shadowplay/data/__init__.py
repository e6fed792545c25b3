"""Data sources: built-in sets, Fashion-MNIST from Debian's package, files, procedural dSprites."""

from .base import Dataset, DataSplits, split_dataset, validate_tensor
from .registry import SourceOptions, load_data, register_source, source_names
from . import digits  # noqa: F401  (registers "digits")

__all__ = ["Dataset", "DataSplits", "SourceOptions", "load_data", "register_source", "source_names",
           "split_dataset", "validate_tensor"]
