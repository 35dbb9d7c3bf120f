"""Write the synthetic tables in the raw PhysioNet layout (real file names, columns, value types).

``DIR/mimic-cxr-jpg/``, ``DIR/mimiciv/hosp/``, ``DIR/mimic-iv-ed/ed/``, ``DIR/reflacx/main_data/``. Gzipped
CSVs carry no timestamp or file name in their header, so a seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from mdfnet.synth.readers import BOOLEAN_LABELS, Reading, ellipse_labels, phase_labels

CXR_DIR = Path("mimic-cxr-jpg")
HOSP_DIR = Path("mimiciv") / "hosp"
ED_DIR = Path("mimic-iv-ed") / "ed"
REFLACX_DIR = Path("reflacx") / "main_data"
PROCEDURE = {"AP": "CHEST (PORTABLE AP)", "PA": "CHEST (PA AND LAT)"}
VIEW_MEANING = {"AP": "antero-posterior", "PA": "postero-anterior", "LATERAL": "lateral"}
YEAR_GROUPS = ("2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019")


def image_relpath(subject_id: int, study_id: int, dicom_id: str) -> Path:
    """``files/p{first 2 digits}/p{subject_id}/s{study_id}/{dicom_id}.jpg`` under ``mimic-cxr-jpg/``."""
    sid = str(subject_id)
    return CXR_DIR / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{study_id}" / f"{dicom_id}.jpg"


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV, gzipped (deterministically) when the name ends in ``.gz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = df.to_csv(index=False, lineterminator="\n").encode()
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(text)
    else:
        path.write_bytes(text)


def study_date_time(dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MIMIC-CXR ``StudyDate`` (int YYYYMMDD) and ``StudyTime`` (float HHMMSS.fff, not zero-padded)."""
    day = dt.astype("datetime64[D]")
    text = np.datetime_as_string(day)
    date = np.array([int(t.replace("-", "")) for t in text])
    ms = (dt - day).astype("timedelta64[ms]").astype(np.int64)
    sec, frac = ms // 1000, (ms % 1000) / 1000.0
    hhmmss = (sec // 3600) * 10000 + (sec % 3600 // 60) * 100 + sec % 60
    return date, np.round(hhmmss + frac, 3)


def cxr_metadata(studies: pd.DataFrame) -> pd.DataFrame:
    """``mimic-cxr-2.0.0-metadata.csv``: every frontal image in the metadata plus the unread laterals."""
    date, time = study_date_time(studies["study_dt"].to_numpy())
    base = pd.DataFrame({
        "dicom_id": studies["dicom_id"], "subject_id": studies["subject_id"], "study_id": studies["study_id"],
        "PerformedProcedureStepDescription": studies["view"].map(PROCEDURE), "ViewPosition": studies["view"],
        "Rows": studies["height"], "Columns": studies["width"], "StudyDate": date, "StudyTime": time,
        "ProcedureCodeSequence_CodeMeaning": studies["view"].map(PROCEDURE),
        "ViewCodeSequence_CodeMeaning": studies["view"].map(VIEW_MEANING),
        "PatientOrientationCodeSequence_CodeMeaning": np.where(studies["view"] == "AP", "Recumbent", "Erect"),
    })
    frontal = base[studies["category"].to_numpy() != "not_in_metadata"]
    has_lateral = studies["lateral_dicom_id"].to_numpy() != ""
    lateral = base[has_lateral].assign(
        dicom_id=studies.loc[has_lateral, "lateral_dicom_id"].to_numpy(), ViewPosition="LATERAL",
        ViewCodeSequence_CodeMeaning="lateral", PatientOrientationCodeSequence_CodeMeaning="Erect",
        Rows=studies.loc[has_lateral, "width"].to_numpy(), Columns=studies.loc[has_lateral, "height"].to_numpy())
    return pd.concat([frontal, lateral]).sort_values(["subject_id", "study_id", "dicom_id"]).reset_index(drop=True)


def patients_table(studies: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``patients.csv``: anchor_age = age at the study minus (study year - anchor_year)."""
    year = studies["study_dt"].to_numpy().astype("datetime64[Y]").astype(int) + 1970
    offset = np.minimum(rng.integers(0, 4, len(studies)), studies["age"].to_numpy() - 18)
    died = rng.random(len(studies)) < 0.06
    dod_day = studies["study_dt"].to_numpy().astype("datetime64[D]") + rng.integers(1, 900, len(studies))
    out = pd.DataFrame({
        "subject_id": studies["subject_id"], "gender": studies["gender"],
        "anchor_age": studies["age"] - offset, "anchor_year": year - offset,
        "anchor_year_group": rng.choice(YEAR_GROUPS, len(studies)),
        "dod": np.where(died, np.datetime_as_string(dod_day), ""),
    })
    return out.sort_values("subject_id").reset_index(drop=True)


def ed_tables(stays: pd.DataFrame, triage: pd.DataFrame, gender: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``edstays.csv`` (times "YYYY-MM-DD HH:MM:SS", empty hadm_id when not admitted) and ``triage.csv``."""
    order = np.lexsort((stays["intime"].to_numpy(), stays["subject_id"].to_numpy()))
    s = stays.iloc[order].reset_index(drop=True)
    fmt = lambda t: np.char.replace(np.datetime_as_string(t.to_numpy().astype("datetime64[s]")), "T", " ")  # noqa: E731
    edstays = pd.DataFrame({
        "subject_id": s["subject_id"], "hadm_id": s["hadm_id"], "stay_id": s["stay_id"],
        "intime": fmt(s["intime"]), "outtime": fmt(s["outtime"]),
        "gender": s["subject_id"].map(gender), "race": s["race"],
        "arrival_transport": s["arrival_transport"], "disposition": s["disposition"],
    })
    columns = ["subject_id", "stay_id", "temperature", "heartrate", "resprate", "o2sat", "sbp", "dbp",
               "pain", "acuity", "chiefcomplaint"]
    return edstays, triage.iloc[order][columns].reset_index(drop=True)


def reflacx_metadata(readings: list[Reading], phase: int, image_of: dict[str, str],
                     split_of: dict[int, str]) -> pd.DataFrame:
    """``metadata_phase_{phase}.csv``: one row per reading; label certainty 0-5, two booleans, ``Other``."""
    rows = []
    for r in (r for r in readings if r.phase == phase):
        row = {"id": r.id, "split": split_of[r.subject_id], "eye_tracking_data_discarded": r.discarded,
               "image": image_of[r.dicom_id], "dicom_id": r.dicom_id, "subject_id": r.subject_id,
               "image_size_x": r.width, "image_size_y": r.height}
        certainty = r.label_certainty()
        for label in phase_labels(phase):
            if label in BOOLEAN_LABELS:
                row[label] = r.support_devices if label == "Support devices" else r.quality_issue
            else:
                row[label] = r.other if label == "Other" else certainty[label]
        rows.append(row)
    return pd.DataFrame(rows, columns=["id", "split", "eye_tracking_data_discarded", "image", "dicom_id",
                                       "subject_id", "image_size_x", "image_size_y", *phase_labels(phase)])


def ellipses_table(reading: Reading) -> pd.DataFrame:
    """``{id}/anomaly_location_ellipses.csv``: bounding rectangle in original pixels, certainty, labels."""
    labels = ellipse_labels(reading.phase)
    rows = [{**{k: e[k] for k in ("xmin", "ymin", "xmax", "ymax", "certainty")},
             **{label: label in e["labels"] for label in labels}} for e in reading.ellipses]
    return pd.DataFrame(rows, columns=["xmin", "ymin", "xmax", "ymax", "certainty", *labels])


def write_reflacx(root: Path, readings: list[Reading], studies: pd.DataFrame, rng: np.random.Generator) -> None:
    subjects = np.sort(studies["subject_id"].unique())
    split_of = dict(zip(subjects, rng.choice(["train", "validate", "test"], len(subjects), p=[0.9, 0.05, 0.05])))
    image_of = {d: "physionet.org/files/mimic-cxr/2.0.0/" + str(image_relpath(s, t, d)).removeprefix(
        str(CXR_DIR) + "/").replace(".jpg", ".dcm") for d, s, t in studies[["dicom_id", "subject_id", "study_id"]].itertuples(index=False)}
    for phase in (1, 2, 3):
        write_csv(reflacx_metadata(readings, phase, image_of, split_of), root / REFLACX_DIR / f"metadata_phase_{phase}.csv")
    for r in readings:
        write_csv(ellipses_table(r), root / REFLACX_DIR / r.id / "anomaly_location_ellipses.csv")
