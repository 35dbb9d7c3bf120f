"""A hand-built raw PhysioNet layout whose correct join is known (see EXPECTED below).

Readings (image 40 x 30 pixels, REFLACX phase in brackets):

| reading | subject | study time | stays of the subject                 | outcome                        |
|---------|---------|------------|--------------------------------------|--------------------------------|
| R1 [2]  | 1001    | 08:30:00   | 07:00-12:00                          | kept (correct); no_stay (paper) |
| R2 [2]  | 1002    | 14:00:00   | 12:00-18:00 and 13:00-20:00 overlap  | multiple_stays                 |
| R3 [2]  | 1003    | 15:00:00   | 09:00-11:00                          | no_stay                        |
| R4 [1]  | 1004    | 11:15:30.5 | 10:00-13:00 (pain "0-10", 37.0 C)    | kept; effusion+thickening      |
| R5 [2]  | 1004    | same image | same                                 | kept; two-label, clipped, flat |
| R6 [2]  | 1005    | -          | -                                    | eye_tracking_discarded         |
| R7 [2]  | 1006    | -          | -                                    | image_not_in_metadata          |
| R8 [2]  | 1007    | 12:00      | 11:00-13:00                          | image_file_missing             |
| R9 [2]  | 1008    | 12:00      | 11:00-13:00 (pain "13", HR 400)      | kept; no finding               |
| R10 [2] | 1009    | 16:45      | 16:00-18:00                          | ellipses_file_missing          |
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image

W, H = 40, 30
DAY = 21800506  # StudyDate of every study (year 2180)
PHASE2_LABELS = ["Enlarged cardiac silhouette", "Atelectasis", "Pleural abnormality", "Consolidation",
                 "Pulmonary edema", "Support devices"]
PHASE1_LABELS = ["Enlarged cardiac silhouette", "Atelectasis", "Pleural effusion", "Pleural thickening",
                 "Consolidation", "Pulmonary edema"]

# reading id, subject, dicom, study, StudyTime, discarded, phase, in metadata, image on disk, ellipses
READINGS = [
    ("R1", 1001, "d1", 501, 83000.0, False, 2, True, True, [(5, 5, 15, 15, 4, ["Atelectasis"])]),
    ("R2", 1002, "d2", 502, 140000.0, False, 2, True, True, []),
    ("R3", 1003, "d3", 503, 150000.0, False, 2, True, True, []),
    ("R4", 1004, "d4", 504, 111530.5, False, 1, True, True,
     [(2, 3, 12, 20, 3, ["Pleural effusion", "Pleural thickening"])]),
    ("R5", 1004, "d4", 504, 111530.5, False, 2, True, True,
     [(10, 10, 20, 20, 5, ["Atelectasis", "Consolidation"]),
      (30, -5, 50, 10, 2, ["Enlarged cardiac silhouette"]),   # reaches outside: clipped
      (45, 5, 60, 10, 4, ["Pulmonary edema"]),                 # wholly outside: no area, dropped
      (1, 1, 5, 5, 5, ["Support devices"])]),                  # not one of the five classes
    ("R6", 1005, "d6", 506, 120000.0, True, 2, True, True, []),
    ("R7", 1006, "d7", 507, 120000.0, False, 2, False, True, []),
    ("R8", 1007, "d8", 508, 120000.0, False, 2, True, False, []),
    ("R9", 1008, "d9", 509, 120000.0, False, 2, True, True, []),
    ("R10", 1009, "d10", 510, 164500.0, False, 2, True, True, None),  # None: no ellipse file
]
# stay id, subject, intime, outtime, temperature, heartrate, pain
STAYS = [
    (31, 1001, "2180-05-06 07:00:00", "2180-05-06 12:00:00", 98.0, 80, "3"),
    (32, 1002, "2180-05-06 12:00:00", "2180-05-06 18:00:00", 99.0, 90, "5"),
    (33, 1002, "2180-05-06 13:00:00", "2180-05-06 20:00:00", 97.5, 70, "0"),
    (34, 1003, "2180-05-06 09:00:00", "2180-05-06 11:00:00", 98.2, 75, "unable"),
    (35, 1004, "2180-05-06 10:00:00", "2180-05-06 13:00:00", 37.0, 100, "0-10"),
    (38, 1007, "2180-05-06 11:00:00", "2180-05-06 13:00:00", 98.6, 60, "2"),
    (39, 1008, "2180-05-06 11:00:00", "2180-05-06 13:00:00", 101.0, 400, "13"),
    (40, 1009, "2180-05-06 16:00:00", "2180-05-06 18:00:00", 98.1, 88, "critical"),
]
# anchor_age / anchor_year: subject 1004 is 60 in 2178, so 62 at the study
PATIENTS = [(s, "F" if s % 2 else "M", 50 + s % 10, 2178) for s in range(1001, 1010)]

EXPECTED = {
    "read": 10, "kept": 4,
    "excluded": {"eye_tracking_discarded": 1, "image_not_in_metadata": 1, "image_file_missing": 1,
                 "no_stay": 1, "multiple_stays": 1, "ellipses_file_missing": 1, "image_unreadable": 0},
    "by_mode": {"correct": 4, "paper": 3},
}


def _write_csv(path: Path, header: list[str], rows: list[list], gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join([",".join(header)] + [",".join("" if v is None else str(v) for v in r) for r in rows]) + "\n"
    if gz:
        with gzip.open(str(path) + ".gz", "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)


def write_jpeg(path: Path, width: int = W, height: int = H) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.arange(width)[None, :] * 255 // max(width - 1, 1)).repeat(height, 0).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(path, quality=95)


def ellipse_rows(ellipses, labels):
    return [[x0, y0, x1, y1, c] + [str(name in marked) for name in labels] for x0, y0, x1, y1, c, marked in ellipses]


def reflacx_rows(phase: int, reflacx_root: Path, main_data: bool = True) -> list[list]:
    """metadata rows of one phase, writing each reading's ellipse file under ``reflacx_root``."""
    labels = PHASE1_LABELS if phase == 1 else PHASE2_LABELS
    rows = []
    for rid, subject, dicom, _study, _t, discarded, ph, *_rest, ellipses in READINGS:
        if ph != phase:
            continue
        rows.append([rid, "train", discarded, f"files/{dicom}.dcm", dicom, subject, W, H] + [0] * len(labels))
        if ellipses is not None:
            folder = reflacx_root / ("main_data" if main_data else "") / rid
            _write_csv(folder / "anomaly_location_ellipses.csv", ["xmin", "ymin", "xmax", "ymax", "certainty"] + labels,
                       ellipse_rows(ellipses, labels))
    return rows


REFLACX_HEADER = ["id", "split", "eye_tracking_data_discarded", "image", "dicom_id", "subject_id",
                  "image_size_x", "image_size_y"]
META_HEADER = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
               "Rows", "Columns", "StudyDate", "StudyTime"]
EDSTAYS_HEADER = ["subject_id", "hadm_id", "stay_id", "intime", "outtime", "gender"]
TRIAGE_HEADER = ["subject_id", "stay_id", "temperature", "heartrate", "resprate", "o2sat", "sbp", "dbp", "pain",
                 "acuity", "chiefcomplaint"]
PATIENTS_HEADER = ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"]


def meta_row(reading) -> list:
    _rid, subject, dicom, study, time, *_ = reading
    return [dicom, subject, study, "CHEST (PA AND LAT)", "PA", H, W, DAY, time]


def triage_row(stay) -> list:
    stay_id, subject, _in, _out, temp, hr, pain = stay
    return [subject, stay_id, temp, hr, 18, 97, 120, 80, pain, 3, "cough"]


def write_raw_layout(root: Path) -> Path:
    """Write the four PhysioNet folders under ``root`` (gz and plain CSVs mixed) and return root."""
    seen, meta = set(), []
    for reading in READINGS:
        rid, subject, dicom, study, _t, _d, _p, in_meta, on_disk, _e = reading
        if in_meta and dicom not in seen:
            meta.append(meta_row(reading))
            seen.add(dicom)
        if on_disk:
            write_jpeg(root / "mimic-cxr-jpg" / "files" / f"p{str(subject)[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg")
    meta.append(["unused", 1999, 599, "CHEST", "AP", H, W, DAY, None])  # a row no reading uses may be empty
    _write_csv(root / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv", META_HEADER, meta, gz=True)
    _write_csv(root / "mimiciv" / "hosp" / "patients.csv", PATIENTS_HEADER,
               [[s, g, a, y, "2017 - 2019", None] for s, g, a, y in PATIENTS], gz=True)
    _write_csv(root / "mimic-iv-ed" / "ed" / "edstays.csv", EDSTAYS_HEADER,
               [[s[1], None, s[0], s[2], s[3], "F"] for s in STAYS], gz=True)
    _write_csv(root / "mimic-iv-ed" / "ed" / "triage.csv", TRIAGE_HEADER, [triage_row(s) for s in STAYS])
    for phase in (1, 2):
        labels = PHASE1_LABELS if phase == 1 else PHASE2_LABELS
        _write_csv(root / "reflacx" / "main_data" / f"metadata_phase_{phase}.csv", REFLACX_HEADER + labels,
                   reflacx_rows(phase, root / "reflacx"))
    return root
