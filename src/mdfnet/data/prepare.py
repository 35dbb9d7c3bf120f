"""Build the cohort folder from the raw tables: ``cohort.csv``, ``boxes.csv`` and the report.

The flow, one function per step::

    locate + read (sources.py) -> readings frame -> exclusions (first failing reason, in order)
      -> link ED stays (link.py) -> clinical values (clean.py) -> boxes (labels.py) -> split (split.py)
      -> write (report.py)

Every REFLACX reading read is either kept or counted under exactly one exclusion reason, in the order of
:data:`EXCLUSION_REASONS`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mdfnet.data import clean, labels, link, report
from mdfnet.data.images import image_is_readable
from mdfnet.data.sources import BUILDER_STAY_ID, RawTables, Sources, file_exists, locate, read_sources
from mdfnet.data.split import check_no_leakage, official_split, split_by_patient, split_summary
from mdfnet.errors import InputError
from mdfnet.schema import (BOX_COLUMNS, BOX_COUNT_COLUMNS, CLASSES, CLINICAL_FEATURES, COHORT_COLUMNS,
                           TRIAGE_FEATURES)

EXCLUSION_REASONS: tuple[str, ...] = (
    "eye_tracking_discarded",  # REFLACX flagged the reading's eye-tracking data as discarded
    "image_not_in_metadata",   # dicom_id absent from the MIMIC-CXR metadata table
    "image_file_missing",      # no JPG (or DICOM/PNG beside it) on disk
    "no_stay",                 # no ED stay of the subject contains the study time
    "multiple_stays",          # several overlapping stays contain it: ambiguous, not linked
    "ellipses_file_missing",   # the reading's anomaly_location_ellipses.csv is absent
    "image_unreadable",        # the image file exists but its header cannot be read
)
EXTRA_COLUMNS = ("view_position", "study_datetime")


def prepare(out_dir: str | Path, *, root=None, mimic_cxr_jpg=None, mimic_iv=None, mimic_iv_ed=None,
            reflacx=None, mimic_eye=None, link_mode: str = "correct", split: str = "random",
            split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0,
            min_certainty: float | None = None) -> dict:
    """Write the cohort folder to ``out_dir`` and return the report (also written as JSON + Markdown)."""
    if link_mode not in link.LINK_MODES:
        raise InputError(f"--link-mode must be one of {', '.join(link.LINK_MODES)}, got {link_mode!r}")
    if split not in ("random", "official"):
        raise InputError(f"--split must be 'random' or 'official', got {split!r}")
    sources = locate(root=root, mimic_cxr_jpg=mimic_cxr_jpg, mimic_iv=mimic_iv, mimic_iv_ed=mimic_iv_ed,
                     reflacx=reflacx, mimic_eye=mimic_eye)
    tables = read_sources(sources)
    readings = build_readings(tables, sources)
    readable: dict[str, bool] = {}  # both link modes ask about mostly the same images: open each header once
    reasons = {mode: exclusion_reasons(readings, mode, readable) for mode in link.LINK_MODES}
    kept = readings[reasons[link_mode] == ""].copy()
    kept["stay_id"] = kept[f"stay_id_{link_mode}"].astype("int64")

    triage, cleaning = clean.clean_triage(tables.triage)
    kept, joining = add_clinical(kept, tables.patients, triage)
    cleaning.update(joining)
    boxes, label_counts = collect_boxes(kept, min_certainty)
    kept = add_box_counts(kept, boxes)
    label_counts["readings_without_finding"] = int((kept[list(BOX_COUNT_COLUMNS)].sum(axis=1) == 0).sum())

    if split == "official":
        kept["split"] = official_split(kept["split_official"], "REFLACX metadata").to_numpy()
    else:
        kept["split"] = split_by_patient(kept, split_fractions, seed).to_numpy()
    check_no_leakage(kept)

    # sorted by reading id so that every layout of the same data gives the same rows and image ids
    cohort = kept.sort_values("reading_id", kind="stable").reset_index(drop=True)[list(COHORT_COLUMNS) + list(EXTRA_COLUMNS)]
    result = {
        "link_mode": link_mode,
        "split_mode": split, "split_fractions": list(split_fractions), "seed": seed, "min_certainty": min_certainty,
        "sources": {"layout": sources.layout, "tables": {k: [str(p) for p in v[:3]] + (["..."] if len(v) > 3 else [])
                                                          for k, v in sources.files.items()}},
        "readings": {"read": int(len(readings)), "kept": int(len(cohort))},
        "excluded": {r: int((reasons[link_mode] == r).sum()) for r in EXCLUSION_REASONS},
        "link": {"studies_before_10am": int((kept["study_hour"] < 10).sum()),
                 "cohort_size_by_mode": {m: int((reasons[m] == "").sum()) for m in link.LINK_MODES},
                 "builder_stay_id_differs_by_mode": builder_stay_id_differs(readings)},
        "cleaning": cleaning,
        "labels": label_counts,
        "splits": split_summary(cohort),
        "cohort": {"images": int(cohort["dicom_id"].nunique()), "patients": int(cohort["subject_id"].nunique()),
                   "boxes": int(len(boxes))},
        "cohort_missing": {f: int(cohort[f].isna().sum()) for f in CLINICAL_FEATURES},
    }
    boxes = boxes.sort_values("reading_id", kind="stable").reset_index(drop=True)
    report.write_cohort(Path(out_dir), cohort, boxes, result)
    return result


def build_readings(tables: RawTables, sources: Sources) -> pd.DataFrame:
    """One row per REFLACX reading with its metadata, image path, both links and ellipse path."""
    rfx = tables.reflacx
    duplicated = rfx["id"].duplicated()
    if duplicated.any():
        raise InputError(f"REFLACX metadata: reading id {rfx.loc[duplicated, 'id'].iloc[0]!r} appears twice")
    readings = pd.DataFrame({
        "reading_id": rfx["id"].astype(str).to_numpy(), "dicom_id": rfx["dicom_id"].astype(str).to_numpy(),
        "subject_id": rfx["subject_id"].to_numpy(), "split_official": rfx["split"].to_numpy(),
        "discarded": rfx["eye_tracking_data_discarded"].to_numpy(),
        "image_width": rfx["image_size_x"].to_numpy(), "image_height": rfx["image_size_y"].to_numpy()})
    meta = tables.metadata[tables.metadata["dicom_id"].isin(readings["dicom_id"])]
    meta = meta.drop_duplicates("dicom_id")
    images = meta.copy()
    images["study_datetime"] = link.study_datetime(images["StudyDate"], images["StudyTime"])
    bad = images["study_datetime"].isna()
    if bad.any():
        row = images[bad].iloc[0]
        raise InputError(f"{sources.files['metadata'][0]}: dicom_id {row['dicom_id']}: StudyDate/StudyTime "
                         f"{row['StudyDate']}/{row['StudyTime']} is not a valid date and HHMMSS time")
    images["study_hour"] = link.study_hour(images["StudyTime"])
    for mode in link.LINK_MODES:
        linked = link.link_stays(images, tables.edstays, mode)
        images[f"n_stays_{mode}"], images[f"stay_id_{mode}"] = linked["n_stays"], linked["stay_id"]
    images["image_path"] = [str(_find_image(sources, s, st, d)) for s, st, d in
                            zip(images["subject_id"], images["study_id"], images["dicom_id"])]
    images["image_exists"] = file_exists(images["image_path"].tolist())
    keep = ["dicom_id", "study_id", "StudyTime", "study_datetime", "study_hour", "image_path", "image_exists"]
    keep += [c for c in images.columns if c.startswith(("n_stays_", "stay_id_")) or c == BUILDER_STAY_ID]
    images["view_position"] = images["ViewPosition"] if "ViewPosition" in images else pd.NA
    readings = readings.merge(images[keep + ["view_position"]], on="dicom_id", how="left", indicator=True)
    readings["in_metadata"] = readings.pop("_merge").eq("both").to_numpy()
    readings["ellipse_path"] = [sources.ellipse_path(s, r) for s, r in zip(readings["subject_id"], readings["reading_id"])]
    return readings


def builder_stay_id_differs(readings: pd.DataFrame) -> dict[str, int] | None:
    """Per link mode, the images (of readings, in the metadata) whose MIMIC-Eye ``stay_id`` is not our link.

    None when the source carries no builder ``stay_id`` (the raw layout).
    """
    if BUILDER_STAY_ID not in readings:
        return None
    images = readings[readings["in_metadata"]].drop_duplicates("dicom_id")
    return {mode: link.count_differing(images[BUILDER_STAY_ID], images[f"stay_id_{mode}"]) for mode in link.LINK_MODES}


def exclusion_reasons(readings: pd.DataFrame, mode: str, readable: dict[str, bool] | None = None) -> pd.Series:
    """The first failing reason of each reading under one link mode ("" = kept).

    ``readable`` caches image-header checks (path -> bool) between calls.
    """
    readable = {} if readable is None else readable
    n_stays = readings[f"n_stays_{mode}"].fillna(0).to_numpy()
    checks = [
        readings["discarded"].to_numpy(bool),
        ~readings["in_metadata"].to_numpy(bool),
        ~readings["image_exists"].fillna(False).to_numpy(bool),
        n_stays == 0,
        n_stays > 1,
        readings["ellipse_path"].isna().to_numpy(),
    ]
    reason = np.full(len(readings), "", dtype=object)
    for name, failed in zip(EXCLUSION_REASONS, checks):
        reason[(reason == "") & failed] = name
    candidates = np.flatnonzero(reason == "")
    for i in candidates:
        path = readings["image_path"].iat[i]
        if path not in readable:
            readable[path] = image_is_readable(path)
        if not readable[path]:
            reason[i] = "image_unreadable"
    return pd.Series(reason, index=readings.index)


def add_clinical(kept: pd.DataFrame, patients: pd.DataFrame, triage: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The kept readings with age and gender (patients) and the cleaned vitals (triage) joined on, and the
    counts of what the join met: ``age_implausible``, ``gender_unknown``, ``triage_duplicate_stays``."""
    kept, counts = kept.copy(), {}
    people = patients.drop_duplicates("subject_id").set_index("subject_id")
    who = people.reindex(kept["subject_id"].to_numpy())
    age, counts["age_implausible"] = clean.age_at_study(
        pd.Series(who["anchor_age"].to_numpy()), pd.Series(who["anchor_year"].to_numpy()),
        pd.Series(kept["study_datetime"].dt.year.to_numpy()))
    kept["age"] = age.to_numpy()
    gender = who["gender"].astype("string").str.strip().str.upper()
    known = gender.isin(["F", "M"]).fillna(False).to_numpy()
    counts["gender_unknown"] = int((~known & gender.notna().to_numpy()).sum())
    kept["gender"] = np.where(known, gender.to_numpy(dtype=object), None)
    counts["triage_duplicate_stays"] = int(triage["stay_id"].duplicated().sum())
    vitals = triage.drop_duplicates("stay_id").set_index("stay_id").reindex(kept["stay_id"].to_numpy())
    for feature in TRIAGE_FEATURES:
        kept[feature] = vitals[feature].to_numpy()
    return kept, counts


def collect_boxes(kept: pd.DataFrame, min_certainty: float | None) -> tuple[pd.DataFrame, dict]:
    """Read each kept reading's ellipses; return the boxes.csv rows and the ``labels`` counts of all readings."""
    rows, counts = [], labels.new_label_counts()
    for reading_id, path, width, height in zip(kept["reading_id"], kept["ellipse_path"], kept["image_width"],
                                               kept["image_height"]):
        found, seen = labels.ellipses_to_boxes(labels.read_ellipses(path), float(width), float(height),
                                               min_certainty=min_certainty, source=path)
        rows.extend((reading_id, *box) for box in found)
        counts = labels.add_label_counts(counts, seen)
    return pd.DataFrame(rows, columns=list(BOX_COLUMNS)), counts


def add_box_counts(kept: pd.DataFrame, boxes: pd.DataFrame) -> pd.DataFrame:
    """The kept readings with one ``n_<class>`` column per class: how many boxes of it the reading has."""
    kept = kept.copy()
    table = pd.crosstab(boxes["reading_id"], boxes["label"]) if len(boxes) else pd.DataFrame()
    for name, column in zip(CLASSES, BOX_COUNT_COLUMNS):
        per_reading = table[name] if name in table else pd.Series(dtype="int64")
        kept[column] = kept["reading_id"].map(per_reading).fillna(0).astype("int64").to_numpy()
    return kept


def _find_image(sources: Sources, subject_id: int, study_id: int, dicom_id: str) -> Path:
    """The JPG path, or a DICOM/PNG of the same name beside it when only that exists."""
    path = sources.image_path(subject_id, study_id, dicom_id)
    if not os.path.isfile(path):
        for suffix in (".dcm", ".png"):
            if os.path.isfile(path.with_suffix(suffix)):
                return path.with_suffix(suffix)
    return path
