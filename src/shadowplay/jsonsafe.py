"""One converter from numpy/Python values to what ``json.dumps`` writes as valid JSON.

numpy arrays and scalars become lists and plain numbers; non-finite floats become ``None`` (JSON has no NaN or
Infinity). Used by metric results (``as_dict``) and by the evaluation files the API writes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value
