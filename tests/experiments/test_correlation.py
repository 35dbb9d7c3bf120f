"""Clinical feature vs class presence: Pearson r against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mdfnet.experiments import clinical_correlation, run_study
from mdfnet.schema import BOX_COUNT_COLUMNS, CLASSES, CLINICAL_FEATURES, NUMERIC_FEATURES


def _frame():
    frame = pd.DataFrame({f: [1.0, 2.0, 3.0, 5.0] for f in NUMERIC_FEATURES})
    frame["age"] = [40, 50, 60, 70]
    frame["temperature"] = [98.0, np.nan, 100.0, 102.0]
    frame["gender"] = ["M", "F", "M", "M"]
    for column in BOX_COUNT_COLUMNS:
        frame[column] = 0
    frame["n_consolidation"] = [0, 0, 2, 1]  # presence 0, 0, 1, 1 (two boxes still means present)
    return frame


def test_pearson_by_hand_with_pairwise_missing_values_and_an_absent_class():
    matrix = clinical_correlation(_frame())
    assert list(matrix.index) == list(CLINICAL_FEATURES) and list(matrix.columns) == list(CLASSES)
    r = matrix["Consolidation"]
    assert r["age"] == pytest.approx(20 / math.sqrt(500))       # x -15,-5,5,15 vs y -.5,-.5,.5,.5
    assert r["gender"] == pytest.approx(1 / math.sqrt(3))       # M=1: 1,0,1,1
    assert r["temperature"] == pytest.approx(math.sqrt(3) / 2)  # row 2 left out: 98,100,102 vs 0,1,1
    assert math.isnan(matrix.loc["age", "Atelectasis"])          # never present: constant column


def test_correlation_study_writes_matrix_table_and_heatmap(tiny_cohort, tmp_path):
    out = tmp_path / "study"
    matrix = run_study("correlation", tiny_cohort, out, log=lambda *_: None)
    saved = pd.read_csv(out / "correlation.csv", index_col="feature")
    assert saved.shape == (10, 5)
    # tiny cohort: even readings have Enlarged cardiac silhouette, odd ones Consolidation; the
    # temperature is 98 (even) or 101 (odd), so it separates the two classes perfectly
    assert saved.loc["temperature", "Consolidation"] == pytest.approx(1.0)
    assert saved.loc["temperature", "Enlarged cardiac silhouette"] == pytest.approx(-1.0)
    assert matrix.loc["temperature", "Consolidation"] == pytest.approx(1.0)
    assert "| temperature | -1.000 | n/a | n/a | +1.000 | n/a |" in (out / "correlation.md").read_text()
    assert Image.open(out / "correlation.png").size == (800, 560)
