"""The planted counts: what ``mdfnet prepare`` must report on a synthetic folder.

Keys follow the contract's ``prepare_report.json`` wherever one exists (``readings``, ``excluded``, ``link``,
``cleaning``, ``labels``, ``cohort_missing``); ``extra`` holds counts that have no report key.
``cohort_missing`` assumes prepare turns implausible vitals and non-numeric or out-of-range pain into NaN
and converts Celsius temperatures (so those are not missing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mdfnet.schema import CLASSES, CLINICAL_FEATURES
from mdfnet.synth.clinical import IMPLAUSIBLE
from mdfnet.synth.readers import Reading

# REFLACX label -> target class (phase 1 splits pleural abnormality in two).
TARGET_OF_LABEL = {**{c: c for c in CLASSES}, "Pleural effusion": "Pleural abnormality",
                   "Pleural thickening": "Pleural abnormality"}
EXCLUSION_KEYS = {"discarded": "eye_tracking_discarded", "not_in_metadata": "image_not_in_metadata",
                  "file_missing": "image_file_missing", "no_stay": "no_stay", "multiple_stays": "multiple_stays"}


def cleaned_missing(triage: pd.DataFrame) -> pd.DataFrame:
    """Bool ``[rows, vitals]``: NaN after cleaning (missing, implausible, or pain that is not 0-10)."""
    out = pd.DataFrame(index=triage.index)
    for vital in ("temperature", "heartrate", "resprate", "o2sat", "sbp", "dbp", "acuity"):
        out[vital] = triage[vital].isna() | triage[vital].isin(IMPLAUSIBLE.get(vital, ()))
    pain = triage["pain"].astype(str)
    numeric = pain.str.fullmatch(r"\d+")
    out["pain"] = ~numeric | (pd.to_numeric(pain.where(numeric), errors="coerce") > 10)
    return out


def count_labels(readings: list[Reading]) -> dict:
    """Boxes per target class, two-label ellipses and readings without a target finding."""
    boxes = {c: 0 for c in CLASSES}
    by_certainty = {str(k): 0 for k in range(1, 6)}
    multi = without = no_class = pleural_merged = 0
    for r in readings:
        n_targets = 0
        for e in r.ellipses:
            targets = {TARGET_OF_LABEL[label] for label in e["labels"] if label in TARGET_OF_LABEL}
            no_class += not targets
            pleural_merged += {"Pleural effusion", "Pleural thickening"} <= e["labels"]
            for target in targets:
                boxes[target] += 1
                by_certainty[str(e["certainty"])] += 1
            multi += len(targets) > 1
            n_targets += len(targets)
        without += n_targets == 0
    return {"boxes_by_class": boxes, "ellipses_multi_label": multi, "ellipses_invalid": 0, "ellipses_clipped": 0,
            "ellipses_without_class": no_class, "pleural_labels_merged": pleural_merged,
            "readings_without_finding": without, "boxes_by_certainty": by_certainty}


def planted_counts(studies: pd.DataFrame, stays: pd.DataFrame, triage: pd.DataFrame,
                   readings: list[Reading], cleaning: dict) -> dict:
    """Every planted count, computed from what was written (``triage`` in ``stays`` order)."""
    study_of = {d: i for i, d in enumerate(studies["dicom_id"])}
    category = studies["category"].to_numpy()
    cat_of_reading = np.array([category[study_of[r.dicom_id]] for r in readings])
    kept = [r for r, c in zip(readings, cat_of_reading) if c == "clean"]
    kept_study = np.array([study_of[r.dicom_id] for r in kept], dtype=int)
    before = int(studies["before_10am"].to_numpy()[kept_study].sum())

    missing = cleaned_missing(triage)
    role = stays["role"].to_numpy()
    main_stay = {int(role[j]): j for j in range(len(role)) if role[j] >= 0}  # clean studies: exactly one
    rows = [main_stay[i] for i in kept_study]
    cohort_missing = {f: 0 for f in CLINICAL_FEATURES}
    for vital in missing.columns:
        cohort_missing[vital] = int(missing[vital].to_numpy()[rows].sum())

    several_stays = stays[stays["role"] < 0].merge(studies[studies["category"] == "clean"][["subject_id"]])
    return {
        "readings": {"read": len(readings), "kept": len(kept)},
        "excluded": {key: int((cat_of_reading == c).sum()) for c, key in EXCLUSION_KEYS.items()},
        "link": {"studies_before_10am": before,
                 "cohort_size_by_mode": {"correct": len(kept), "paper": len(kept) - before}},
        "cleaning": {**cleaning, "age_implausible": 0},
        "labels": count_labels(kept),
        "cohort_missing": cohort_missing,
        "extra": {
            "patients": len(studies),
            "images_read_by_reflacx": len(studies),
            "radiographs_not_read": int((studies["lateral_dicom_id"] != "").sum()),
            "patients_with_several_stays": int(several_stays["subject_id"].nunique()),
            "ed_stays": len(stays),
            "triage_rows": len(triage),
            "images_with_several_readers": int((studies["n_readers"] > 1).sum()),
            "readings_by_phase": {str(p): sum(r.phase == p for r in readings) for p in (1, 2, 3)},
            "vital_values_missing_in_triage": int(triage[["temperature", "heartrate", "resprate", "o2sat", "sbp",
                                                          "dbp", "acuity"]].isna().to_numpy().sum()),
        },
    }
