"""``json_safe``: numpy values to valid JSON, non-finite floats to None."""

import json
import math

import numpy as np

from shadowplay.jsonsafe import json_safe


def test_numpy_and_non_finite_values_become_valid_json():
    doc = {"a": np.arange(3), "b": np.float32(1.5), "c": [math.nan, np.inf, -1.0], "d": np.bool_(True),
           1: (np.int64(7),), "e": "text"}
    out = json_safe(doc)
    assert out == {"a": [0, 1, 2], "b": 1.5, "c": [None, None, -1.0], "d": True, "1": [7], "e": "text"}
    assert type(out["a"][0]) is int and type(out["d"]) is bool
    json.dumps(out, allow_nan=False)
