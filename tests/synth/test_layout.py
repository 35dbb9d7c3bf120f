"""The raw layout: file names, exact columns, value types, image paths and sizes, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from mdfnet.errors import InputError
from mdfnet.synth import generate

METADATA = Path("mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz")
TABLE_COLUMNS = {
    METADATA: ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
               "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
               "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"],
    Path("mimiciv/hosp/patients.csv.gz"): ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
    Path("mimic-iv-ed/ed/edstays.csv.gz"): ["subject_id", "hadm_id", "stay_id", "intime", "outtime", "gender", "race",
                                            "arrival_transport", "disposition"],
    Path("mimic-iv-ed/ed/triage.csv.gz"): ["subject_id", "stay_id", "temperature", "heartrate", "resprate", "o2sat",
                                           "sbp", "dbp", "pain", "acuity", "chiefcomplaint"],
}
REFLACX = Path("reflacx/main_data")


def tables(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".gz", ".csv", ".json", ".md"))


def test_exact_columns_and_types(small):
    root, _ = small
    for name, columns in TABLE_COLUMNS.items():
        assert list(pd.read_csv(root / name).columns) == columns, name
    meta = pd.read_csv(root / METADATA)
    assert meta["StudyDate"].dtype == "int64" and meta["StudyTime"].dtype == "float64"
    assert meta["StudyDate"].between(21100101, 22101231).all()
    assert meta["subject_id"].astype(str).str.fullmatch(r"1\d{7}").all()
    assert meta["study_id"].astype(str).str.fullmatch(r"5\d{7}").all()
    assert meta["dicom_id"].str.fullmatch(r"([0-9a-f]{8}-){4}[0-9a-f]{8}").all()
    assert set(meta["ViewPosition"]) == {"AP", "PA", "LATERAL"}
    stays = pd.read_csv(root / "mimic-iv-ed/ed/edstays.csv.gz")
    assert stays["intime"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
    assert stays["hadm_id"].isna().any() and stays["hadm_id"].notna().any()
    triage = pd.read_csv(root / "mimic-iv-ed/ed/triage.csv.gz", dtype={"pain": str})
    assert triage["temperature"].dtype == "float64" and triage["temperature"].isna().any()


def test_study_time_is_unpadded_text(small):
    root, planted = small
    lines = pd.read_csv(root / METADATA, dtype=str)["StudyTime"]
    early = lines[lines.str.fullmatch(r"\d{5}\.\d+")]  # HMMSS.fff: before 10:00, no leading zero
    assert planted["link"]["studies_before_10am"] > 0 and len(early) > 0
    assert early.astype(float).between(30000, 95959.999).all()  # planted at 03:00-09:59 only
    assert not lines.str.startswith("0").any()
    assert lines.str.fullmatch(r"\d{5,6}\.\d{1,3}").all()


def test_reflacx_tables(small):
    root, planted = small
    phase = {p: pd.read_csv(root / REFLACX / f"metadata_phase_{p}.csv") for p in (1, 2, 3)}
    assert list(phase[1].columns[:8]) == ["id", "split", "eye_tracking_data_discarded", "image", "dicom_id",
                                          "subject_id", "image_size_x", "image_size_y"]
    assert {"Pleural effusion", "Pleural thickening"} <= set(phase[1].columns)
    assert "Pleural abnormality" not in phase[1].columns and "Pleural abnormality" in phase[3].columns
    assert "Lung nodule or mass" in phase[2].columns
    readings = pd.concat(phase.values())
    assert readings["id"].str.fullmatch(r"P[123]0[1-5]R\d{6}").all()
    assert readings["id"].str[1].astype(int).tolist() == [1] * len(phase[1]) + [2] * len(phase[2]) + [3] * len(phase[3])
    assert readings["eye_tracking_data_discarded"].dtype == bool
    assert int(readings["eye_tracking_data_discarded"].sum()) == planted["excluded"]["eye_tracking_discarded"]
    assert phase[3]["Atelectasis"].between(0, 5).all() and phase[3]["Support devices"].dtype == bool
    assert readings["dicom_id"].duplicated().any()  # several readers for some images
    assert len(readings) == planted["readings"]["read"]


def test_images_exist_with_metadata_sizes(small):
    root, planted = small
    meta = pd.read_csv(root / METADATA)
    missing = 0
    for row in meta.itertuples():
        sid = str(row.subject_id)
        path = root / "mimic-cxr-jpg/files" / f"p{sid[:2]}" / f"p{sid}" / f"s{row.study_id}" / f"{row.dicom_id}.jpg"
        if not path.exists():
            missing += 1
            continue
        with Image.open(path) as image:
            assert image.mode == "L" and image.size == (row.Columns, row.Rows), path
    assert missing == planted["excluded"]["image_file_missing"]
    sizes = meta[meta["ViewPosition"] != "LATERAL"][["Columns", "Rows"]]
    assert sizes["Columns"].between(108, 148).all() and (sizes["Columns"] != sizes["Rows"]).any()


def test_ellipses_inside_image(small):
    root, _ = small
    readings = pd.concat(pd.read_csv(root / REFLACX / f"metadata_phase_{p}.csv") for p in (1, 2, 3))
    n = 0
    for r in readings.itertuples():
        ellipses = pd.read_csv(root / REFLACX / r.id / "anomaly_location_ellipses.csv")
        assert list(ellipses.columns[:5]) == ["xmin", "ymin", "xmax", "ymax", "certainty"]
        assert (ellipses["xmin"] >= 0).all() and (ellipses["xmax"] <= r.image_size_x - 1).all()
        assert (ellipses["ymin"] >= 0).all() and (ellipses["ymax"] <= r.image_size_y - 1).all()
        assert (ellipses["xmin"] < ellipses["xmax"]).all() and ellipses["certainty"].between(1, 5).all()
        n += len(ellipses)
    assert n > 20


def test_same_seed_same_bytes_other_seed_differs(small, tmp_path):
    root, _ = small
    again = tmp_path / "again"
    generate(again, patients=40, image_size=128, seed=0)
    files = tables(root) + sorted(root.rglob("*.jpg"))
    assert len(files) == len(tables(again) + sorted(again.rglob("*.jpg")))
    for path in files:
        assert (again / path.relative_to(root)).read_bytes() == path.read_bytes(), path
    other = tmp_path / "other"
    generate(other, patients=40, image_size=128, seed=1)
    assert (other / METADATA).read_bytes() != (root / METADATA).read_bytes()


def test_bad_arguments_name_the_option(tmp_path):
    with pytest.raises(InputError, match=r"--patients must be at least 10, got 3"):
        generate(tmp_path, patients=3)
    with pytest.raises(InputError, match=r"--image-size must be at least 64 px, got 32"):
        generate(tmp_path, patients=20, image_size=32)


def test_readme_and_spec_written(small):
    from mdfnet.synth import SynthSpec
    import json

    root, planted = small
    spec = SynthSpec.from_dict(json.loads((root / "synth_spec.json").read_text()))
    assert spec == SynthSpec()
    assert json.loads((root / "planted.json").read_text()) == planted
    readme = (root / "SYNTH_README.md").read_text()
    assert f"| infection | {SynthSpec().cause_base['infection']:g} | +0 |" in readme
    assert "| temperature (deg F) | 97.9 (0.6) | +0 | +3 (1.5) |" in readme
    assert f"readings.kept: {planted['readings']['kept']}" in readme
    assert re.search(r"Cardio-thoracic ratio N\(0\.45, 0\.035\)", readme)
