"""COCO-format ground truth and detections: built from the cohort and model outputs, or read from JSON.

Coordinates are always in *original* image pixels; COCO boxes are ``[x, y, width, height]``.
Category ids are 1..K in class order (0 is background and never appears): the five of
:data:`mdfnet.schema.CLASSES` unless a cohort's schema names others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mdfnet.errors import InputError
from mdfnet.metrics.matching import Boxes, detection_boxes, ground_truth_boxes, group_ground_truth
from mdfnet.schema import CLASSES

GT_KEYS = ("images", "annotations", "categories")
GT_ANNOTATION_KEYS = ("image_id", "category_id", "bbox")
DETECTION_KEYS = ("image_id", "category_id", "bbox", "score")
PATIENT_FIELD = "patient_id"  # an image's patient, when known: the bootstrap resamples patients, not images


def coco_categories(classes: Sequence[str] = CLASSES) -> list[dict]:
    """The classes as COCO categories, ids 1..K (default: the five lesion classes)."""
    kind = "lesion" if tuple(classes) == CLASSES else "object"
    return [{"id": i, "name": name, "supercategory": kind} for i, name in enumerate(classes, start=1)]


def coco_ground_truth(cohort: pd.DataFrame, boxes: pd.DataFrame, classes: Sequence[str] = CLASSES) -> dict:
    """Build a COCO ground-truth dict from cohort rows and their boxes.

    Args:
        cohort: one row per reading with ``reading_id, image_id, image_width, image_height`` (and
            ``subject_id``, when present, as each image's ``patient_id``); only these readings become
            images (pass one split's rows to evaluate that split).
        boxes: ``boxes.csv`` rows (``reading_id, label, xmin, ymin, xmax, ymax``), class names in ``label``,
            xyxy in original pixels. Boxes of readings not in ``cohort`` are dropped.
        classes: the class names, label ids 1..K in this order (default: the five lesion classes).

    Returns:
        ``{"images", "annotations", "categories"}``: images ``id=image_id, width, height,
        file_name=reading_id`` (+ ``patient_id``); annotations ``bbox`` xywh, ``area = w * h``,
        ``iscrowd = 0``, ids from 1 in image order. Readings without boxes are images with no annotation (negative samples).
    """
    needed = ("reading_id", "image_id", "image_width", "image_height")
    missing = [c for c in needed if c not in cohort.columns]
    if missing:
        raise InputError(f"cohort: missing column(s) {missing}; load it with mdfnet.data.cohort.load_cohort")
    images = [
        {"id": int(row.image_id), "width": int(row.image_width), "height": int(row.image_height),
         "file_name": str(row.reading_id)}
        for row in cohort.itertuples(index=False)
    ]
    if "subject_id" in cohort.columns:
        for image, patient in zip(images, cohort["subject_id"].tolist()):
            image[PATIENT_FIELD] = patient if isinstance(patient, str) else int(patient)  # --coco groups: any text
    image_of = dict(zip(cohort["reading_id"], cohort["image_id"].astype(int)))
    kept = boxes[boxes["reading_id"].isin(image_of)]
    class_to_id = {name: i for i, name in enumerate(classes, start=1)}
    unknown = kept.loc[~kept["label"].isin(class_to_id), "label"]
    if len(unknown):
        raise InputError(f"boxes: row {unknown.index[0]}: label {unknown.iloc[0]!r} is not one of {list(classes)}")
    # Stable sort keeps each image's boxes in file order, so annotation ids are reproducible.
    kept = kept.assign(image_id=kept["reading_id"].map(image_of)).sort_values("image_id", kind="stable")
    annotations = []
    for ann_id, row in enumerate(kept.itertuples(index=False), start=1):
        w, h = float(row.xmax - row.xmin), float(row.ymax - row.ymin)
        annotations.append({
            "id": ann_id, "image_id": int(row.image_id), "category_id": class_to_id[row.label],
            "bbox": [float(row.xmin), float(row.ymin), w, h], "area": w * h, "iscrowd": 0,
        })
    return {"images": images, "annotations": annotations, "categories": coco_categories(classes)}


def detections_to_coco(outputs: Sequence[dict], image_ids: Sequence[int], scale_xy: Sequence[Sequence[float]]) -> list[dict]:
    """Turn detector outputs into COCO results in original pixels.

    Args:
        outputs: one dict per image with ``boxes`` [K, 4] xyxy in resized pixels, ``labels`` [K] in 1..5
            and ``scores`` [K] (torch tensors or arrays).
        image_ids: the COCO image id of each output.
        scale_xy: per image ``(sx, sy)`` with ``original = resized * s``, i.e. ``(width / S, height / S)``.

    Returns:
        ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]`` in output order.
    """
    if not len(outputs) == len(image_ids) == len(scale_xy):
        raise ValueError(f"got {len(outputs)} outputs, {len(image_ids)} image ids and {len(scale_xy)} scales; "
                         "expected one of each per image")
    results = []
    for output, image_id, (sx, sy) in zip(outputs, image_ids, scale_xy):
        boxes = _as_numpy(output["boxes"]).reshape(-1, 4).astype(np.float64) * np.array([sx, sy, sx, sy])
        labels = _as_numpy(output["labels"]).reshape(-1)
        scores = _as_numpy(output["scores"]).reshape(-1)
        for (x1, y1, x2, y2), label, score in zip(boxes.tolist(), labels.tolist(), scores.tolist()):
            results.append({"image_id": int(image_id), "category_id": int(label),
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    return results


def _as_numpy(values: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like as a numpy array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def check_ground_truth(gt: Any, source: str = "ground truth") -> None:
    """Raise :class:`InputError` naming ``source``, the record and the key when ``gt`` is not a usable
    COCO dict: lists ``images``, ``annotations``, ``categories``; integer ids in [0, 2**31); every
    annotation on a known image and category with a ``bbox`` of four finite numbers."""
    ground_truth_table(gt, source)


def check_detections(dets: Any, gt: dict, source: str = "detections") -> None:
    """Raise :class:`InputError` when ``dets`` is not a list of COCO results on ``gt``'s images and
    categories, with a ``bbox`` of four finite numbers and a finite ``score``; the error names the record."""
    detection_table(dets, gt, source)


def ground_truth_table(gt: Any, source: str = "ground truth") -> Boxes:
    """The checked annotations of ``gt`` (see :func:`check_ground_truth`) as columns, grouped by
    (image, category) with annotation order kept inside a group."""
    if not isinstance(gt, dict):
        raise InputError(f"{source}: expected a COCO object with keys {list(GT_KEYS)}, got {type(gt).__name__}")
    for key in GT_KEYS:
        if not isinstance(gt.get(key), list):
            raise InputError(f"{source}: missing key {key!r} (a list) of a COCO ground-truth file")
    if not _ids_look_valid(gt["images"]):  # checked column-wise; walked only to name the bad record
        for i, image in enumerate(gt["images"]):
            _require(image, ("id",), f"{source}: images[{i}]")
            _require_id(image, "id", f"{source}: images[{i}]")
    for i, category in enumerate(gt["categories"]):
        _require(category, ("id", "name"), f"{source}: categories[{i}]")
        _require_id(category, "id", f"{source}: categories[{i}]")
    table = _checked_table(gt["annotations"], ground_truth_boxes, GT_ANNOTATION_KEYS, gt, f"{source}: annotations")
    return group_ground_truth(table)


def detection_table(dets: Any, gt: dict, source: str = "detections") -> Boxes:
    """The checked detections (see :func:`check_detections`) as columns, in input order."""
    if not isinstance(dets, list):
        raise InputError(f"{source}: expected a list of COCO detections, got {type(dets).__name__}")
    return _checked_table(dets, detection_boxes, DETECTION_KEYS, gt, f"{source}: ")


def _checked_table(records: list, convert: Callable[[list], Boxes], keys: Sequence[str], gt: dict,
                   where: str) -> Boxes:
    """``convert(records)`` once its columns are known to be valid.

    Checked column-wise, so 100k records cost milliseconds; only a failure walks the records, to name
    the first bad one (``where`` + ``[i]``).
    """
    image_ids, category_ids = _id_sets(gt)
    try:
        table = convert(records)
        ok = (np.isin(table.image, np.fromiter(image_ids, np.int64)).all()
              and np.isin(table.category, np.fromiter(category_ids, np.int64)).all()
              and np.isfinite(table.xywh).all() and np.isfinite(table.score).all() and np.isfinite(table.area).all())
    except (KeyError, TypeError, ValueError, IndexError):
        ok = False
    if not ok:
        for i, record in enumerate(records):
            _check_record(record, keys, image_ids, category_ids, f"{where}[{i}]")
        raise InputError(f"{where.rstrip(': ')}: ids, boxes or scores of mixed types; expected integers and numbers")
    return table


def _id_sets(gt: dict) -> tuple[set, set]:
    return {image["id"] for image in gt["images"]}, {category["id"] for category in gt["categories"]}


def _ids_look_valid(records: list) -> bool:
    """True when every record is a dict whose ``id`` is an integer in [0, 2**31) (checked column-wise)."""
    try:
        ids = np.array([record["id"] for record in records])
    except (KeyError, TypeError):
        return False
    return not len(records) or (ids.dtype.kind in "iu" and ids.min() >= 0 and ids.max() < 2**31)


def _require(record: Any, keys: Sequence[str], where: str) -> None:
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected an object, got {type(record).__name__}")
    for key in keys:
        if key not in record:
            raise InputError(f"{where}: missing key {key!r}")


def _require_id(record: dict, key: str, where: str) -> None:
    value = record[key]
    if not (_is_int(value) and 0 <= value < 2**31):
        raise InputError(f"{where}: {key} must be an integer in [0, 2**31), got {value!r}")


def _check_record(record: Any, keys: Sequence[str], image_ids: set, category_ids: set, where: str) -> None:
    """One annotation or detection: keys present, known integer ids, four finite box numbers, a finite
    score (detections) and area (when given)."""
    _require(record, keys, where)
    for key, known, what in (("image_id", image_ids, "an image of the ground truth"),
                             ("category_id", category_ids, "a ground-truth category")):
        if not (_is_int(record[key]) and record[key] in known):
            raise InputError(f"{where}: {key} {record[key]!r} is not {what}")
    bbox = record["bbox"]
    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(_is_finite(v) for v in bbox)):
        raise InputError(f"{where}: 'bbox' must be [x, y, width, height] (four finite numbers), got {bbox!r}")
    if "score" in keys and not _is_finite(record["score"]):
        raise InputError(f"{where}: 'score' must be a finite number, got {record['score']!r}")
    if "area" in record and not _is_finite(record["area"]):
        raise InputError(f"{where}: 'area' must be a finite number, got {record['area']!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def patient_groups(gt: dict) -> dict[int, int] | None:
    """``{image_id: patient_id}`` when every image of ``gt`` names its patient; ``None`` (resample images)
    when none does. Some images with and some without a patient is an :class:`InputError`."""
    images = gt["images"]
    known = [image for image in images if PATIENT_FIELD in image]
    if not known:
        return None
    if len(known) < len(images):
        lacking = next(image for image in images if PATIENT_FIELD not in image)
        raise InputError(f"ground truth: image {lacking['id']} has no {PATIENT_FIELD!r} while {len(known)} of "
                         f"{len(images)} images have one; give every image its patient, or none")
    for image in images:
        patient = image[PATIENT_FIELD]
        if isinstance(patient, bool) or not isinstance(patient, (int, str)):
            raise InputError(f"ground truth: image {image['id']}: {PATIENT_FIELD} must be an integer or a string, "
                             f"got {patient!r}")
    return {image["id"]: image[PATIENT_FIELD] for image in images}


def read_json(path: str | Path) -> Any:
    """Load a JSON file; a missing file or bad JSON becomes an :class:`InputError` naming the file."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None


def read_ground_truth(path: str | Path) -> dict:
    """Read and check a COCO ground-truth JSON file."""
    gt = read_json(path)
    check_ground_truth(gt, source=str(path))
    return gt


def read_detections(path: str | Path, gt: dict) -> list[dict]:
    """Read and check a COCO results JSON file (a list, or an object with an ``annotations`` list)."""
    dets = read_json(path)
    if isinstance(dets, dict) and "annotations" in dets:
        dets = dets["annotations"]
    check_detections(dets, gt, source=str(path))
    return dets
