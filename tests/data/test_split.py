"""Patient-grouped stratified split and the leakage check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mdfnet.data.split import check_no_leakage, official_split, split_by_patient
from mdfnet.errors import InputError
from mdfnet.schema import BOX_COUNT_COLUMNS


def _cohort(n_patients=200, seed=0):
    rng = np.random.default_rng(seed)
    readings = rng.integers(1, 4, n_patients)  # 1-3 readings per patient
    subject = np.repeat(np.arange(n_patients), readings)
    frame = pd.DataFrame({"subject_id": subject, "dicom_id": [f"d{s}" for s in subject]})
    finding = np.repeat(rng.random(n_patients) < 0.5, readings)
    for i, column in enumerate(BOX_COUNT_COLUMNS):
        frame[column] = (finding & (i == 0)).astype(int)
    return frame


def test_split_fractions_grouping_and_seed():
    cohort = _cohort()
    splits = split_by_patient(cohort, (0.7, 0.15, 0.15), seed=1)
    cohort["split"] = splits
    check_no_leakage(cohort)
    shares = splits.value_counts(normalize=True)
    assert abs(shares["train"] - 0.7) < 0.02 and abs(shares["val"] - 0.15) < 0.02
    finding = cohort[BOX_COUNT_COLUMNS[0]] > 0
    by_split = cohort.groupby("split").apply(lambda g: (g[BOX_COUNT_COLUMNS[0]] > 0).mean())
    assert (by_split - finding.mean()).abs().max() < 0.1  # stratified: similar finding rate everywhere
    assert split_by_patient(cohort, seed=1).equals(splits)
    assert not split_by_patient(cohort, seed=2).equals(splits)


def test_leakage_fails_loudly():
    cohort = pd.DataFrame({"subject_id": [1, 1, 2], "dicom_id": ["a", "b", "c"], "split": ["train", "test", "val"]})
    with pytest.raises(InputError, match=r"1 patients in more than one split \(1\)"):
        check_no_leakage(cohort)


def test_official_split_names():
    assert official_split(pd.Series(["train", "validation", "test"])).tolist() == ["train", "val", "test"]
    with pytest.raises(InputError, match="column 'split' has values \\['dev'\\]"):
        official_split(pd.Series(["dev"]))


def test_bad_fractions():
    with pytest.raises(InputError, match="summing to 1"):
        split_by_patient(_cohort(5), (0.5, 0.2, 0.2))
