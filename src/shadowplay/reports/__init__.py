"""Pictures and reports made from arrays and run folders; never trains or loads checkpoints itself."""

from .images import (image_grid, label_rows, rows_plot, save_examples, save_gif, save_interpolation,
                     save_traversal)

__all__ = ["image_grid", "label_rows", "rows_plot", "save_examples", "save_gif", "save_interpolation",
           "save_traversal"]
