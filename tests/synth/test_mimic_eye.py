"""The MIMIC-Eye repackaging: the builder's files and stay_id, and prepare reading it like the raw layout."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from mdfnet.cli import main
from mdfnet.data import load_cohort, prepare
from mdfnet.errors import InputError
from mdfnet.synth import to_mimic_eye

REPORT_SECTIONS = ("readings", "excluded", "cleaning", "labels", "splits", "cohort", "cohort_missing")


@pytest.fixture(scope="module")
def eye(small, tmp_path_factory):
    """``small`` as MIMIC-Eye 1.0.0, three laterals named EyeGaze images: ``(inner folder, raw root, planted)``."""
    root, planted = small
    meta = pd.read_csv(root / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz")
    eye_gaze = frozenset(meta.loc[meta["ViewPosition"] == "LATERAL", "dicom_id"][:3])
    return to_mimic_eye(root, tmp_path_factory.mktemp("download"), "1.0.0", eye_gaze), root, planted


def study_time(date: int, hhmmss: float) -> datetime:
    """StudyDate + StudyTime read with zero padding: 83045.1 is 08:30:45.1."""
    seconds = int(hhmmss) // 10000 * 3600 + int(hhmmss) // 100 % 100 * 60 + hhmmss % 100
    return datetime.strptime(str(date), "%Y%m%d") + timedelta(seconds=seconds)


def correct_links(cxr_meta: pd.DataFrame, edstays: pd.DataFrame) -> list:
    """Per image, the one stay with intime < study time < outtime, else None (a loop, independent of link.py)."""
    links = []
    for subject, date, hhmmss in zip(cxr_meta["subject_id"], cxr_meta["StudyDate"], cxr_meta["StudyTime"]):
        when = study_time(date, hhmmss)
        stays = edstays[edstays["subject_id"] == subject]
        inside = [s for s, a, b in zip(stays["stay_id"], stays["intime"], stays["outtime"])
                  if datetime.fromisoformat(a) < when < datetime.fromisoformat(b)]
        links.append(inside[0] if len(inside) == 1 else None)
    return links


def test_release_files(eye):
    base, root, _ = eye
    assert base.name == "mimic-eye"
    sheets = base / "spreadsheets"
    assert sorted(str(p.relative_to(sheets)) for p in sheets.rglob("*.csv")) == [
        "ED/triage.csv", "Hosp/patients.csv", "REFLACX/metadata.csv", "cxr_meta.csv"]
    assert not list(base.glob("patient_*/Hosp")) and not list(base.glob("patient_*/Core"))
    reflacx = pd.read_csv(sheets / "REFLACX" / "metadata.csv", index_col=0)
    assert len(reflacx) == sum(len(pd.read_csv(p)) for p in (root / "reflacx/main_data").glob("metadata_phase_*.csv"))
    assert sorted(p.name for p in base.glob("patient_*")) == sorted(f"patient_{s}" for s in set(reflacx["subject_id"]))
    meta = pd.read_csv(sheets / "cxr_meta.csv", index_col=0)
    assert list(meta.columns[-4:]) == ["in_eye_gaze", "in_reflacx", "StudyDateTime", "stay_id"]
    raw_meta = pd.read_csv(root / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz")
    lateral = raw_meta["ViewPosition"] == "LATERAL"
    eye_gaze = lateral & (lateral.cumsum() <= 3)  # the fixture's first three laterals
    assert meta.index.tolist() == raw_meta.index[raw_meta["dicom_id"].isin(reflacx["dicom_id"]) | eye_gaze].tolist()
    assert (meta["in_eye_gaze"].sum(), (meta["in_eye_gaze"] & meta["in_reflacx"]).sum()) == (3, 0)
    subject = int(meta.loc[meta["stay_id"].notna(), "subject_id"].iloc[0])
    text = (base / f"patient_{subject}" / "CXR-JPG" / "cxr_meta.csv").read_text().splitlines()
    assert text[0].startswith(",dicom_id,") and text[1].endswith(".0")  # re-read spreadsheet: stay_id as float
    first = meta.iloc[0]
    assert (base / f"patient_{first['subject_id']}" / "CXR-JPG" / f"s{first['study_id']}" / f"{first['dicom_id']}.jpg").is_file()
    reading = reflacx.iloc[0]
    assert (base / f"patient_{reading['subject_id']}" / "REFLACX" / "main_data" / reading["id"]
            / "anomaly_location_ellipses.csv").is_file()


def test_builder_stay_id_uses_the_unpadded_time(eye, tmp_path):
    base, root, _ = eye
    meta = pd.read_csv(base / "spreadsheets" / "cxr_meta.csv", index_col=0)
    meta = meta[meta["in_reflacx"]]  # the report counts the images of REFLACX readings
    ours = correct_links(meta, pd.read_csv(root / "mimic-iv-ed/ed/edstays.csv.gz"))
    before_ten = (meta["StudyTime"] < 100000).to_numpy()
    builder = meta["stay_id"].astype("Int64").tolist()
    for i, (theirs, correct) in enumerate(zip(builder, ours)):
        assert (theirs if theirs is not pd.NA else None) == (None if before_ten[i] else correct), i
    expected = sum(1 for early, correct in zip(before_ten, ours) if early and correct is not None)
    assert expected > 0
    report = prepare(tmp_path / "cohort", mimic_eye=base.parent)
    assert report["link"]["builder_stay_id_differs_by_mode"] == {"correct": expected, "paper": 0}


@pytest.mark.parametrize("link_mode", ["correct", "paper"])
def test_prepare_mimic_eye_equals_raw(eye, tmp_path, link_mode):
    base, root, planted = eye
    eye_report = prepare(tmp_path / "eye", mimic_eye=base.parent, link_mode=link_mode)
    raw_report = prepare(tmp_path / "raw", root=root, link_mode=link_mode)
    for section in REPORT_SECTIONS:
        assert eye_report[section] == raw_report[section], section
    assert eye_report["link"]["cohort_size_by_mode"] == planted["link"]["cohort_size_by_mode"]
    eye_cohort, eye_boxes = load_cohort(tmp_path / "eye")
    raw_cohort, raw_boxes = load_cohort(tmp_path / "raw")
    assert len(eye_cohort) == planted["link"]["cohort_size_by_mode"][link_mode]
    columns = [c for c in raw_cohort.columns if c != "image_path"]
    pd.testing.assert_frame_equal(eye_cohort[columns], raw_cohort[columns])
    pd.testing.assert_frame_equal(eye_boxes, raw_boxes)
    assert eye_cohort["image_path"].str.startswith(str(base / "patient_")).all()


def test_cli_synth_mimic_eye_then_prepare(tmp_path, capsys):
    out = tmp_path / "download"
    assert main(["synth", "--out", str(out), "--layout", "mimic-eye", "--patients", "12", "--image-size", "64"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["SYNTH_README.md", "mimic-eye", "planted.json", "synth_spec.json"]
    assert "mdfnet prepare --mimic-eye" in (out / "SYNTH_README.md").read_text()
    capsys.readouterr()
    assert main(["prepare", "--mimic-eye", str(out), "--out", str(tmp_path / "cohort")]) == 0
    planted = pd.read_json(out / "planted.json", typ="series")
    assert f"kept {planted['readings']['kept']} of {planted['readings']['read']}" in capsys.readouterr().out


def test_unknown_layout(tmp_path):
    with pytest.raises(InputError, match="MIMIC-Eye layout must be one of 1.0.0, xami-mimic, got '2.0'"):
        to_mimic_eye(tmp_path, tmp_path / "out", "2.0")
