"""The outlier evaluation's top-k grid says its order and how many of each row are true anomalies."""

from __future__ import annotations

import numpy as np

from shadowplay.reports.outliers import top_k_labels


def test_each_row_caption_gives_its_ranks_and_anomaly_count():
    hits = np.array([1, 1, 0, 1, 0, 0, 1], bool)
    assert top_k_labels(hits, 3) == ["ranks 1-3 by score: 2/3 anomalous", "ranks 4-6: 1/3 anomalous",
                                     "ranks 7-7: 1/1 anomalous"]

