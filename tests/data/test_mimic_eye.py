"""prepare() on a hand-built MIMIC-Eye folder gives the same cohort as the raw layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from raw_layout import (EDSTAYS_HEADER, EXPECTED, META_HEADER, PATIENTS, PATIENTS_HEADER, PHASE1_LABELS,
                      PHASE2_LABELS, READINGS, REFLACX_HEADER, STAYS, TRIAGE_HEADER, ellipse_rows, meta_row,
                      triage_row, write_jpeg)
from mdfnet.data import load_cohort, prepare
from mdfnet.errors import InputError


def write_mimic_eye(base: Path, main_data: bool) -> Path:
    """One patient_<id>/ folder per subject, each table sliced to that subject (pandas-written, index kept)."""
    for subject, gender, age, year in PATIENTS:
        folder = base / f"patient_{subject}"
        mine = [r for r in READINGS if r[1] == subject]
        tables = {
            "Hosp/patients.csv": pd.DataFrame([[subject, gender, age, year, "2017 - 2019", None]], columns=PATIENTS_HEADER),
            "ED/edstays.csv": pd.DataFrame([[s[1], None, s[0], s[2], s[3], "F"] for s in STAYS if s[1] == subject],
                                           columns=EDSTAYS_HEADER),
            "ED/triage.csv": pd.DataFrame([triage_row(s) for s in STAYS if s[1] == subject], columns=TRIAGE_HEADER),
            "CXR-JPG/cxr_meta.csv": pd.DataFrame([meta_row(r) for r in mine if r[7]], columns=META_HEADER),
        }
        frames = []
        for rid, subj, dicom, study, _t, discarded, phase, _in, on_disk, ellipses in mine:
            labels = PHASE1_LABELS if phase == 1 else PHASE2_LABELS
            frames.append(pd.DataFrame([[rid, "train", discarded, "x", dicom, subj, 40, 30] + [0] * len(labels)],
                                       columns=REFLACX_HEADER + labels))
            if on_disk:
                write_jpeg(folder / "CXR-JPG" / f"s{study}" / f"{dicom}.jpg")
            if ellipses is not None:
                where = folder / "REFLACX" / ("main_data" if main_data else "") / rid
                where.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(ellipse_rows(ellipses, labels), columns=["xmin", "ymin", "xmax", "ymax", "certainty"] + labels
                             ).to_csv(where / "anomaly_location_ellipses.csv", index=False)
        tables["REFLACX/metadata.csv"] = pd.concat(frames, ignore_index=True)
        for relative, frame in tables.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(folder / relative)  # MIMIC-Eye keeps pandas' index column
    return base


@pytest.mark.parametrize("main_data", [True, False])
def test_mimic_eye_matches_raw(raw_root, tmp_path, main_data):
    eye = write_mimic_eye(tmp_path / "mimic-eye", main_data)
    report = prepare(tmp_path / "eye_cohort", mimic_eye=eye)
    assert report["readings"] == {"read": EXPECTED["read"], "kept": EXPECTED["kept"]}
    assert report["excluded"] == EXPECTED["excluded"]
    assert report["link"]["cohort_size_by_mode"] == EXPECTED["by_mode"]
    prepare(tmp_path / "raw_cohort", root=raw_root)
    eye_cohort, eye_boxes = load_cohort(tmp_path / "eye_cohort")
    raw_cohort, raw_boxes = load_cohort(tmp_path / "raw_cohort")
    columns = [c for c in raw_cohort.columns if c != "image_path"]
    pd.testing.assert_frame_equal(eye_cohort[columns], raw_cohort[columns])
    pd.testing.assert_frame_equal(eye_boxes, raw_boxes)
    assert eye_cohort["image_path"].str.contains("patient_1004/CXR-JPG/s504/d4.jpg").sum() == 2


def test_mimic_eye_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no patient_<subject_id> folders"):
        prepare(tmp_path / "c", mimic_eye=tmp_path / "empty")
    eye = write_mimic_eye(tmp_path / "eye", main_data=True)
    for folder in eye.iterdir():
        shutil.rmtree(folder / "ED")
    with pytest.raises(InputError, match=r"no patient_\*/ED/edstays.csv"):
        prepare(tmp_path / "c", mimic_eye=eye)
    with pytest.raises(InputError, match="--mimic-eye replaces"):
        prepare(tmp_path / "c", mimic_eye=eye, root=tmp_path)
