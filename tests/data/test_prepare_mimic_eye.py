"""prepare() on MIMIC-Eye folders repackaged from raw_layout.py's tables gives the raw layout's cohort."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from raw_layout import EXPECTED
from mdfnet.data import load_cohort, prepare
from mdfnet.data.sources import locate
from mdfnet.errors import InputError
from mdfnet.synth.mimic_eye import to_mimic_eye


def assert_same_cohort(eye_dir, raw_dir):
    eye_cohort, eye_boxes = load_cohort(eye_dir)
    raw_cohort, raw_boxes = load_cohort(raw_dir)
    columns = [c for c in raw_cohort.columns if c != "image_path"]
    pd.testing.assert_frame_equal(eye_cohort[columns], raw_cohort[columns])
    pd.testing.assert_frame_equal(eye_boxes, raw_boxes)


@pytest.mark.parametrize(("layout", "link_mode"), [("1.0.0", "correct"), ("1.0.0", "paper"), ("xami-mimic", "correct")])
def test_mimic_eye_matches_raw(raw_root, tmp_path, layout, link_mode):
    eye = to_mimic_eye(raw_root, tmp_path / "download", layout)
    report = prepare(tmp_path / "eye_cohort", mimic_eye=eye, link_mode=link_mode)
    raw_report = prepare(tmp_path / "raw_cohort", root=raw_root, link_mode=link_mode)
    assert report["readings"] == {"read": EXPECTED["read"], "kept": EXPECTED["by_mode"][link_mode]}
    for section in ("excluded", "labels", "splits", "cohort", "cohort_missing"):
        assert report[section] == raw_report[section], section
    assert report["link"]["cohort_size_by_mode"] == EXPECTED["by_mode"]
    assert_same_cohort(tmp_path / "eye_cohort", tmp_path / "raw_cohort")
    cohort, _ = load_cohort(tmp_path / "eye_cohort")
    assert cohort["image_path"].str.endswith(f"{eye.name}/patient_1004/CXR-JPG/s504/d4.jpg").sum() == 2


def test_builder_stay_id_is_counted_not_used(mimic_eye_download, raw_root, tmp_path):
    # the builder's unpadded StudyTime loses d1 (08:30, stay 31); every other image agrees with our link
    report = prepare(tmp_path / "eye", mimic_eye=mimic_eye_download)
    assert report["link"]["builder_stay_id_differs_by_mode"] == {"correct": 1, "paper": 0}
    assert "differs from ours for 1 images (correct link)" in (tmp_path / "eye" / "prepare_report.md").read_text()
    cohort, _ = load_cohort(tmp_path / "eye")
    assert cohort.set_index("reading_id").loc["R1", "stay_id"] == 31
    assert prepare(tmp_path / "raw", root=raw_root)["link"]["builder_stay_id_differs_by_mode"] is None


def test_release_reads_spreadsheets_once_and_edstays_per_patient(mimic_eye_download):
    files = locate(mimic_eye=mimic_eye_download).files
    base = mimic_eye_download / "mimic-eye"
    for table, relative in (("metadata", "cxr_meta.csv"), ("patients", "Hosp/patients.csv"),
                            ("triage", "ED/triage.csv"), ("reflacx", "REFLACX/metadata.csv")):
        assert files[table] == [base / "spreadsheets" / relative], table
    # subjects of cxr_meta with ED stays: 1005 has none, 1006's image is not in the metadata
    assert [p.relative_to(base).parts[0] for p in files["edstays"]] == [
        f"patient_{s}" for s in (1001, 1002, 1003, 1004, 1007, 1008, 1009)]


def test_download_root_or_inner_folder(mimic_eye_download, tmp_path):
    assert locate(mimic_eye=mimic_eye_download).image_dir == mimic_eye_download / "mimic-eye"
    assert locate(mimic_eye=mimic_eye_download / "mimic-eye").image_dir == mimic_eye_download / "mimic-eye"
    shutil.copytree(mimic_eye_download / "mimic-eye", mimic_eye_download / "copy")
    with pytest.raises(InputError, match=r"download: several MIMIC-Eye folders \(copy, mimic-eye\): give one"):
        locate(mimic_eye=mimic_eye_download)


def test_older_copy_reads_patients_per_patient(raw_root, tmp_path):
    eye = to_mimic_eye(raw_root, tmp_path / "old", "xami-mimic")
    files = locate(mimic_eye=eye).files
    assert files["patients"][0] == eye / "patient_1001" / "Core" / "patients.csv"
    assert len(files["patients"]) == len(files["triage"]) + 1  # 1005 has a patients row but no ED stay
    assert files["reflacx"] == [eye / "spreadsheets" / "REFLACX" / "metadata.csv"]


def test_bad_value_in_a_patient_slice_names_file_and_line(mimic_eye_download, tmp_path):
    path = mimic_eye_download / "mimic-eye" / "patient_1002" / "ED" / "edstays.csv"
    frame = pd.read_csv(path, index_col=0)
    frame["stay_id"] = frame["stay_id"].astype(object)
    frame.iloc[1, frame.columns.get_loc("stay_id")] = "abc"
    frame.to_csv(path)
    with pytest.raises(InputError, match=r"patient_1002/ED/edstays\.csv: line 3, column 'stay_id': "
                                         r"expected a number, got 'abc'"):
        prepare(tmp_path / "c", mimic_eye=mimic_eye_download)


def test_mimic_eye_errors(mimic_eye_download, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(InputError, match="empty: no patient_<subject_id> folders, here or one level down"):
        prepare(tmp_path / "c", mimic_eye=tmp_path / "empty")
    eye = mimic_eye_download / "mimic-eye"
    for folder in eye.glob("patient_*/ED"):
        shutil.rmtree(folder)
    with pytest.raises(InputError, match=r"no spreadsheets/ED/edstays.csv and no patient_\*/ED/edstays.csv "
                                         r"\(the MIMIC-Eye edstays table\)"):
        prepare(tmp_path / "c", mimic_eye=eye)
    (eye / "spreadsheets" / "Hosp" / "patients.csv").unlink()
    with pytest.raises(InputError, match=r"no spreadsheets/Hosp/patients.csv and no patient_\*/Hosp/patients.csv "
                                         r"or patient_\*/Core/patients.csv"):
        locate(mimic_eye=eye)
    with pytest.raises(InputError, match="--mimic-eye replaces"):
        prepare(tmp_path / "c", mimic_eye=eye, root=tmp_path)
