"""Pictures and reports made from arrays and run folders; never trains or loads checkpoints itself."""

from .images import image_grid, rows_plot, save_examples

__all__ = ["image_grid", "rows_plot", "save_examples"]
