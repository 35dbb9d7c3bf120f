"""Names shared by every stage: lesion classes, clinical features, cohort columns.

The cohort manifest (``cohort.csv`` / ``boxes.csv``) written by ``mdfnet prepare`` is the contract
between the data stage and the model stage; its column names live here and nowhere else.
"""

from __future__ import annotations

from mdfnet.errors import InputError

# Label ids 1..5 in this order; 0 is background (torchvision convention).
CLASSES: tuple[str, ...] = (
    "Enlarged cardiac silhouette",
    "Atelectasis",
    "Pleural abnormality",
    "Consolidation",
    "Pulmonary edema",
)
NUM_CLASSES = len(CLASSES) + 1  # + background
CLASS_TO_ID = {name: i + 1 for i, name in enumerate(CLASSES)}


def class_name(label_id: int) -> str:
    """The class of a label id (1..5; 0 is background): ``class_name(4) == "Consolidation"``."""
    if not 1 <= int(label_id) <= len(CLASSES):
        raise InputError(f"label id {label_id} is not a lesion class; expected 1..{len(CLASSES)}")
    return CLASSES[int(label_id) - 1]


# The six vital signs measured at ED triage (the feature study's "vitals" subset), and the triage table's
# numeric columns: the vitals, then the pain score (free text in MIMIC-IV-ED) and the acuity level.
VITALS: tuple[str, ...] = ("temperature", "heartrate", "resprate", "o2sat", "sbp", "dbp")
TRIAGE_FEATURES: tuple[str, ...] = VITALS + ("pain", "acuity")
# The nine numeric triage/demographic features in the paper's order, then gender.
NUMERIC_FEATURES: tuple[str, ...] = ("age",) + TRIAGE_FEATURES
CLINICAL_FEATURES: tuple[str, ...] = NUMERIC_FEATURES + ("gender",)
# Gender is coded 0 = F, 1 = M in tensors; NaN means missing.
GENDER_CODES = {"F": 0.0, "M": 1.0}

# cohort.csv: one row per REFLACX reading.
COHORT_ID_COLUMNS: tuple[str, ...] = (
    "reading_id", "dicom_id", "subject_id", "study_id", "stay_id", "split",
    "image_path", "image_width", "image_height",
)
BOX_COUNT_COLUMNS: tuple[str, ...] = tuple(f"n_{c.lower().replace(' ', '_')}" for c in CLASSES)
COHORT_COLUMNS: tuple[str, ...] = COHORT_ID_COLUMNS + CLINICAL_FEATURES + BOX_COUNT_COLUMNS

# boxes.csv: one row per (reading, ellipse, label), coordinates in original image pixels.
BOX_COLUMNS: tuple[str, ...] = ("reading_id", "label", "xmin", "ymin", "xmax", "ymax", "certainty")

SPLITS: tuple[str, ...] = ("train", "val", "test")
