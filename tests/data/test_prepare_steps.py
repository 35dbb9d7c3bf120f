"""The steps of `prepare` return what they make and count, and leave their inputs as they were."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mdfnet.data.prepare import add_box_counts, add_clinical
from mdfnet.schema import BOX_COUNT_COLUMNS, TRIAGE_FEATURES


def test_add_clinical_joins_age_gender_and_vitals_and_returns_its_counts():
    kept = pd.DataFrame({"reading_id": ["a", "b", "c"], "subject_id": [1, 2, 3], "stay_id": [10, 20, 30],
                         "study_datetime": pd.to_datetime(["2180-05-01", "2185-01-01", "2181-01-01"])})
    before = kept.copy()
    patients = pd.DataFrame({"subject_id": [1, 2, 3], "anchor_age": [50, 118, 40], "anchor_year": [2178, 2180, 2181],
                             "gender": ["f", "M", "X"]})
    triage = pd.DataFrame({"stay_id": [10, 10, 20], **{f: [1.0, 2.0, 3.0] for f in TRIAGE_FEATURES}})
    out, counts = add_clinical(kept, patients, triage)
    assert counts == {"age_implausible": 1, "gender_unknown": 1, "triage_duplicate_stays": 1}
    np.testing.assert_array_equal(out["age"], [52.0, np.nan, 40.0])  # 118 + 5 years is past 120
    assert out["gender"].tolist()[:2] == ["F", "M"] and pd.isna(out["gender"].iloc[2])  # X: unknown
    np.testing.assert_array_equal(out["temperature"], [1.0, 3.0, np.nan])  # the first row of a duplicated stay
    pd.testing.assert_frame_equal(kept, before)  # the caller's frame is untouched


def test_add_box_counts_counts_boxes_per_reading_and_class():
    kept = pd.DataFrame({"reading_id": ["a", "b"]})
    boxes = pd.DataFrame({"reading_id": ["a", "a", "b"], "label": ["Atelectasis", "Atelectasis", "Pulmonary edema"]})
    out = add_box_counts(kept, boxes)
    assert out[list(BOX_COUNT_COLUMNS)].to_numpy().tolist() == [[0, 2, 0, 0, 0], [0, 0, 0, 0, 1]]
    assert list(kept.columns) == ["reading_id"]
