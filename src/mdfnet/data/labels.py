"""REFLACX ellipses -> boxes of the five classes.

Each reading's ``anomaly_location_ellipses.csv`` holds one row per ellipse: its bounding rectangle
``xmin, ymin, xmax, ymax`` in original image pixels, the radiologist's ``certainty`` (1-5), then one
True/False column per label of that phase. Rules:

* Only the five classes count (:data:`mdfnet.schema.CLASSES`); an ellipse with none of them is skipped
  (``ellipses_without_class``).
* Phase 1's ``Pleural effusion`` and ``Pleural thickening`` are ``Pleural abnormality``; when both sit on
  one ellipse they give one box (``pleural_labels_merged``).
* An ellipse with several classes gives one box per class (``ellipses_multi_label``).
* An ellipse reaching outside the image is clipped to it (``ellipses_clipped``); one with no area after
  clipping, or with empty coordinates, is dropped (``ellipses_invalid``).
* With ``min_certainty``, a box whose certainty is below it (or unknown) is dropped
  (``boxes_below_min_certainty``).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

from mdfnet.errors import InputError
from mdfnet.schema import CLASSES

PLEURAL = "Pleural abnormality"
# Label column (lower case) -> class; phase 1 spelled the pleural findings apart.
LABEL_TO_CLASS: dict[str, str] = {c.lower(): c for c in CLASSES}
LABEL_TO_CLASS.update({"pleural effusion": PLEURAL, "pleural thickening": PLEURAL})
ELLIPSE_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "certainty")
_TRUE = {"true", "1", "1.0", "yes", "t"}

Box = tuple[str, float, float, float, float, float]  # label, xmin, ymin, xmax, ymax, certainty


def new_label_counts() -> dict:
    """The ``labels`` section of the report, zeroed."""
    return {"boxes_by_class": {c: 0 for c in CLASSES}, "ellipses_multi_label": 0, "ellipses_invalid": 0,
            "ellipses_clipped": 0, "ellipses_without_class": 0, "pleural_labels_merged": 0,
            "boxes_below_min_certainty": 0, "readings_without_finding": 0}


def read_ellipses(path: Path) -> list[dict[str, str]]:
    """Rows of one ellipse table as dicts of text; InputError if a coordinate column is missing."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in ELLIPSE_COLUMNS if c not in header]
            if missing:
                raise InputError(f"{path}: missing column '{missing[0]}' (expected {', '.join(ELLIPSE_COLUMNS)} + labels)")
            return [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: not a readable CSV ({type(err).__name__})") from None


def add_label_counts(a: dict, b: dict) -> dict:
    """The sum of two ``labels`` count sections (a new dict; ``boxes_by_class`` summed per class)."""
    return {key: add_label_counts(value, b[key]) if isinstance(value, dict) else value + b[key]
            for key, value in a.items()}


def ellipse_classes(row: dict[str, str]) -> tuple[list[str], bool]:
    """The distinct classes marked True on one ellipse, in CLASSES order, and whether two pleural labels
    were merged into one Pleural abnormality."""
    found = [LABEL_TO_CLASS[k.lower()] for k, v in row.items()
             if k.lower() in LABEL_TO_CLASS and v.lower() in _TRUE]
    tally = Counter(found)
    return [c for c in CLASSES if c in tally], tally[PLEURAL] > 1


def ellipses_to_boxes(rows: list[dict[str, str]], width: float, height: float, *,
                      min_certainty: float | None = None, source: Path | str = "") -> tuple[list[Box], dict]:
    """Turn one reading's ellipse rows into boxes (one per ellipse and class).

    Returns the boxes and this reading's counts (:func:`new_label_counts`'s keys; sum readings with
    :func:`add_label_counts`).
    """
    counts = new_label_counts()
    boxes: list[Box] = []
    for line, row in enumerate(rows, start=2):
        classes, merged = ellipse_classes(row)
        counts["pleural_labels_merged"] += int(merged)
        if not classes:
            counts["ellipses_without_class"] += 1
            continue
        coords = [_number(row[c], source, line, c) for c in ("xmin", "ymin", "xmax", "ymax")]
        certainty = _number(row["certainty"], source, line, "certainty")
        box = clip_box(coords, width, height)
        if box is None:
            counts["ellipses_invalid"] += 1
            continue
        if box != tuple(coords):
            counts["ellipses_clipped"] += 1
        if len(classes) > 1:
            counts["ellipses_multi_label"] += 1
        for label in classes:
            if min_certainty is not None and not certainty >= min_certainty:  # NaN certainty fails too
                counts["boxes_below_min_certainty"] += 1
                continue
            counts["boxes_by_class"][label] += 1
            boxes.append((label, *box, certainty))
    return boxes, counts


def clip_box(coords: list[float], width: float, height: float) -> tuple[float, float, float, float] | None:
    """Clip xyxy to [0, width] x [0, height]; None when a value is missing or no area is left."""
    if any(math.isnan(v) for v in coords):
        return None
    x0, y0 = min(max(coords[0], 0.0), width), min(max(coords[1], 0.0), height)
    x1, y1 = min(max(coords[2], 0.0), width), min(max(coords[3], 0.0), height)
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def _number(text: str, source: Path | str, line: int, column: str) -> float:
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{source}: line {line}, column '{column}': expected a number, got {text!r}") from None
