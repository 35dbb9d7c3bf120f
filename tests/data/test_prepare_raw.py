"""prepare() on the hand-built raw layout of raw_layout.py: exact cohort, exclusions and counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from raw_layout import EXPECTED
from mdfnet.data import load_cohort, prepare
from mdfnet.errors import InputError
from mdfnet.schema import BOX_COLUMNS, COHORT_COLUMNS


def test_correct_mode_cohort_and_exclusions(raw_root, tmp_path):
    report = prepare(tmp_path / "cohort", root=raw_root)
    assert report["readings"] == {"read": EXPECTED["read"], "kept": EXPECTED["kept"]}
    assert report["excluded"] == EXPECTED["excluded"]
    assert report["link"] == {"studies_before_10am": 1, "cohort_size_by_mode": EXPECTED["by_mode"],
                              "builder_stay_id_differs_by_mode": None}
    cohort, boxes = load_cohort(tmp_path / "cohort")
    assert list(cohort.columns[: len(COHORT_COLUMNS)]) == list(COHORT_COLUMNS)
    assert list(boxes.columns[: len(BOX_COLUMNS)]) == list(BOX_COLUMNS)
    assert cohort["reading_id"].tolist() == ["R1", "R4", "R5", "R9"]
    assert cohort["stay_id"].tolist() == [31, 35, 35, 39]
    assert cohort["image_id"].tolist() == [1, 2, 3, 4]
    assert (tmp_path / "cohort" / "prepare_report.md").read_text().count("| no_stay | 1 |") == 1
    assert json.loads((tmp_path / "cohort" / "prepare_report.json").read_text())["readings"]["kept"] == 4


def test_paper_mode_loses_the_study_before_ten(raw_root, tmp_path):
    report = prepare(tmp_path / "paper", root=raw_root, link_mode="paper")
    assert report["readings"]["kept"] == 3
    assert report["excluded"]["no_stay"] == 2  # R3 as before, plus R1 taken at 08:30
    assert report["link"]["studies_before_10am"] == 0
    assert report["link"]["cohort_size_by_mode"] == EXPECTED["by_mode"]


def test_clinical_values_are_cleaned(raw_root, tmp_path):
    report = prepare(tmp_path / "cohort", root=raw_root)
    cleaning = report["cleaning"]
    assert (cleaning["pain_not_a_number"], cleaning["pain_out_of_range"]) == (3, 1)  # unable, 0-10, critical; 13
    assert cleaning["temperature_celsius_converted"] == 1
    assert cleaning["heartrate_implausible"] == 1 and cleaning["temperature_implausible"] == 0
    cohort, _ = load_cohort(tmp_path / "cohort")
    r4 = cohort.set_index("reading_id").loc["R4"]
    assert r4["temperature"] == pytest.approx(98.6)
    assert np.isnan(r4["pain"]) and r4["heartrate"] == 100
    assert r4["age"] == 56 and r4["gender"] == "M"  # anchor_age 54 in 2178, study in 2180
    r9 = cohort.set_index("reading_id").loc["R9"]
    assert np.isnan(r9["pain"]) and np.isnan(r9["heartrate"])
    assert report["cohort_missing"]["pain"] == 3 and report["cohort_missing"]["heartrate"] == 1


def test_labels_boxes_and_counts(raw_root, tmp_path):
    report = prepare(tmp_path / "cohort", root=raw_root)
    labels = report["labels"]
    assert labels["boxes_by_class"] == {"Enlarged cardiac silhouette": 1, "Atelectasis": 2, "Pleural abnormality": 1,
                                        "Consolidation": 1, "Pulmonary edema": 0}
    assert (labels["ellipses_multi_label"], labels["ellipses_invalid"], labels["ellipses_clipped"]) == (1, 1, 1)
    assert (labels["pleural_labels_merged"], labels["ellipses_without_class"]) == (1, 1)
    assert labels["readings_without_finding"] == 1
    _, boxes = load_cohort(tmp_path / "cohort")
    r5 = boxes[boxes["reading_id"] == "R5"].sort_values("label")
    assert r5["label"].tolist() == ["Atelectasis", "Consolidation", "Enlarged cardiac silhouette"]
    assert r5.iloc[2][["xmin", "ymin", "xmax", "ymax"]].tolist() == [30, 0, 40, 10]  # clipped to the 40 x 30 image
    cohort, _ = load_cohort(tmp_path / "cohort")
    assert cohort.set_index("reading_id").loc["R4", "n_pleural_abnormality"] == 1


def test_min_certainty_drops_boxes(raw_root, tmp_path):
    report = prepare(tmp_path / "cohort", root=raw_root, min_certainty=4)
    # below 4: R4's pleural box (3) and R5's clipped box (2)
    assert report["labels"]["boxes_below_min_certainty"] == 2
    assert report["cohort"]["boxes"] == 3


def test_splits_are_patient_grouped(raw_root, tmp_path):
    report = prepare(tmp_path / "cohort", root=raw_root, seed=3)
    cohort, _ = load_cohort(tmp_path / "cohort")
    assert cohort.groupby("subject_id")["split"].nunique().max() == 1
    assert sum(s["readings"] for s in report["splits"].values()) == 4
    official = prepare(tmp_path / "official", root=raw_root, split="official")
    assert official["splits"]["train"]["readings"] == 4


def test_missing_column_names_file_and_column(raw_root, tmp_path):
    path = raw_root / "mimic-iv-ed" / "ed" / "triage.csv"
    frame = pd.read_csv(path).drop(columns=["acuity"])
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"triage\.csv: missing column 'acuity'"):
        prepare(tmp_path / "cohort", root=raw_root)


def test_wrong_type_names_line_and_value(raw_root, tmp_path):
    path = raw_root / "mimic-iv-ed" / "ed" / "edstays.csv.gz"
    frame = pd.read_csv(path)
    frame["stay_id"] = frame["stay_id"].astype(object)
    frame.loc[2, "stay_id"] = "abc"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"edstays\.csv\.gz: line 4, column 'stay_id': expected a number, got 'abc'"):
        prepare(tmp_path / "cohort", root=raw_root)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(InputError, match=r"--mimic-cxr-jpg .*nowhere: folder not found"):
        prepare(tmp_path / "c", mimic_cxr_jpg=tmp_path / "nowhere", mimic_iv=tmp_path, mimic_iv_ed=tmp_path,
                reflacx=tmp_path)
    with pytest.raises(InputError, match="no folder given for --mimic-iv-ed"):
        prepare(tmp_path / "c", mimic_cxr_jpg=tmp_path, mimic_iv=tmp_path, reflacx=tmp_path)


def test_corrupt_image_is_counted(raw_root, tmp_path):
    (raw_root / "mimic-cxr-jpg" / "files" / "p10" / "p1008" / "s509" / "d9.jpg").write_bytes(b"not a jpeg")
    report = prepare(tmp_path / "cohort", root=raw_root)
    assert report["excluded"]["image_unreadable"] == 1 and report["readings"]["kept"] == 3


def test_bad_study_time_and_flag_are_named(raw_root, tmp_path):
    meta_path = raw_root / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz"
    meta = pd.read_csv(meta_path)
    meta.loc[meta["dicom_id"] == "d1", "StudyTime"] = 256000.0  # hour 25
    meta.to_csv(meta_path, index=False)
    with pytest.raises(InputError, match="dicom_id d1: StudyDate/StudyTime 21800506/256000.0 is not a valid"):
        prepare(tmp_path / "cohort", root=raw_root)
    phase_path = raw_root / "reflacx" / "main_data" / "metadata_phase_1.csv"
    phase = pd.read_csv(phase_path)
    phase["eye_tracking_data_discarded"] = "maybe"
    phase.to_csv(phase_path, index=False)
    with pytest.raises(InputError, match=r"metadata_phase_1.csv: line 2, column 'eye_tracking_data_discarded': expected True/False"):
        prepare(tmp_path / "cohort", root=raw_root)
