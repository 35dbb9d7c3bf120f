"""AP / AR with bootstrap intervals per subgroup of readings, and the largest gap between subgroups.

The paper names bias across demographic groups as its main limitation. The subgroups (attributes and
their levels, in display order):

* ``gender``: ``F``, ``M``, ``missing``;
* ``age`` (years at the study): ``<45``, ``45-64``, ``65-79``, ``80+``, ``missing``;
* ``acuity`` (triage ESI level): ``1`` ... ``5``, ``missing``;
* ``clinical``: ``complete`` (every clinical value present) or ``incomplete`` (any missing).

A cohort with another schema than MIMIC's (``prepare --coco``) has one attribute per categorical feature,
its values as levels (and ``missing``), then ``clinical`` over its features.

Each level is evaluated on its readings alone, with its own patient bootstrap (the same ``seed`` for
every level). A level with fewer than :data:`MIN_READINGS` readings is reported but left out of the
largest gap: its AP is mostly noise.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import pandas as pd

from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.metrics.bootstrap import bootstrap_metrics
from mdfnet.metrics.keys import KINDS, ci_key, metric_key, subgroup_key
from mdfnet.schema import CLINICAL_FEATURES

MISSING = "missing"
AGE_BANDS: tuple[tuple[float, str], ...] = ((45, "<45"), (65, "45-64"), (80, "65-79"), (math.inf, "80+"))
LEVELS: dict[str, tuple[str, ...]] = {
    "gender": ("F", "M", MISSING),
    "age": (*(band for _, band in AGE_BANDS), MISSING),
    "acuity": ("1", "2", "3", "4", "5", MISSING),
    "clinical": ("complete", "incomplete"),
}
MIN_READINGS = 10


def subgroup_levels(frame: pd.DataFrame, schema: CohortSchema | None = None) -> dict[str, list[str]]:
    """The level of each reading (row of a ``cohort.csv`` frame, in order) for each attribute of :data:`LEVELS`
    (or of ``schema``'s, see the module docstring)."""
    if schema is not None and schema != MIMIC_SCHEMA:
        incomplete = frame[list(schema.names)].isna().any(axis=1)
        levels = {name: [MISSING if pd.isna(v) else str(v) for v in frame[name].tolist()] for name in schema.categorical}
        return {**levels, "clinical": ["incomplete" if i else "complete" for i in incomplete.tolist()]}

    def age_band(age: float) -> str:
        return MISSING if pd.isna(age) else next(band for upper, band in AGE_BANDS if age < upper)

    def acuity(value: float) -> str:
        return MISSING if pd.isna(value) else str(int(value))

    incomplete = frame[list(CLINICAL_FEATURES)].isna().any(axis=1)
    return {
        "gender": [g if g in ("F", "M") else MISSING for g in frame["gender"].tolist()],
        "age": [age_band(a) for a in frame["age"].tolist()],
        "acuity": [acuity(a) for a in frame["acuity"].tolist()],
        "clinical": ["incomplete" if i else "complete" for i in incomplete.tolist()],
    }


def subgroup_metrics(gt: dict, dets: list[dict], levels: Mapping[str, Mapping[int, str]],
                     groups: Mapping[int, Hashable] | None = None, *, overlap: str = "iobb", threshold: float = 0.5,
                     n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95, max_dets: int = 10,
                     max_dets_per: str = "image_class", score_threshold: float = 0.05) -> dict:
    """AP and AR (class means) at ``threshold`` with bootstrap intervals, per attribute and level.

    Args:
        gt, dets: COCO ground truth and detections of all readings.
        levels: ``{attribute: {image_id: level}}`` for every image (e.g. from :func:`subgroup_levels`).
        groups: ``{image_id: patient}`` (``None``: each image its own group); the other arguments as for
            :func:`~mdfnet.metrics.bootstrap.bootstrap_metrics`.

    Returns:
        ``{attribute: {level: {"n_readings", "n_patients", "n_boxes", "AP_<O>_t", "AP_<O>_t_ci95",
        "AR_<O>_t", "AR_<O>_t_ci95"}}}``, levels present in the data only, in :data:`LEVELS` order
        (unknown levels after them, sorted).
    """
    keys = [metric_key(kind, threshold, overlap) for kind in KINDS]
    out: dict = {}
    for attribute, level_of in levels.items():
        known = LEVELS.get(attribute, ())
        present = set(level_of.values())
        out[attribute] = {}
        for level in [lv for lv in known if lv in present] + sorted(present - set(known)):
            ids = {image_id for image_id, lv in level_of.items() if lv == level}
            part = _subset(gt, ids)
            patients = None if groups is None else {i: groups[i] for i in ids}
            metrics = bootstrap_metrics(part, [d for d in dets if d["image_id"] in ids], patients, overlap=overlap,
                                        thresholds=(threshold,), n_resamples=n_resamples, seed=seed,
                                        confidence=confidence, max_dets=max_dets, max_dets_per=max_dets_per,
                                        score_threshold=score_threshold)
            entry = {"n_readings": len(ids), "n_patients": metrics["bootstrap"]["n_groups"],
                     "n_boxes": len(part["annotations"])}
            for key in keys:
                entry[key], entry[ci_key(key, confidence)] = metrics[key], metrics[ci_key(key, confidence)]
            out[attribute][level] = entry
    return out


def _subset(gt: dict, image_ids: set) -> dict:
    return {**gt, "images": [image for image in gt["images"] if image["id"] in image_ids],
            "annotations": [ann for ann in gt["annotations"] if ann["image_id"] in image_ids]}


def subgroup_values(subgroups: Mapping, key: str, min_readings: int = MIN_READINGS) -> dict[str, float]:
    """``{subgroup_key(key, attribute, level): value}`` for the levels with at least ``min_readings``
    readings (flat columns for a study's per-run table)."""
    return {subgroup_key(key, attribute, level): entry[key]
            for attribute, by_level in subgroups.items() for level, entry in by_level.items()
            if entry["n_readings"] >= min_readings}


def largest_gap(values: Mapping[str, Mapping[str, float]]) -> dict | None:
    """The largest difference between two levels of one attribute, from ``{attribute: {level: value}}``
    (undefined values, nan or None, left out): ``{"attribute", "high", "low", "high_value", "low_value",
    "gap"}``; the first attribute wins a tie; ``None`` when no attribute has two defined levels."""
    best = None
    for attribute, by_level in values.items():
        defined = {level: float(v) for level, v in by_level.items() if v is not None and not math.isnan(v)}
        if len(defined) < 2:
            continue
        high, low = max(defined, key=defined.get), min(defined, key=defined.get)
        gap = defined[high] - defined[low]
        if best is None or gap > best["gap"]:
            best = {"attribute": attribute, "high": high, "low": low, "high_value": defined[high],
                    "low_value": defined[low], "gap": gap}
    return best


def subgroup_gap(subgroups: Mapping, key: str, min_readings: int = MIN_READINGS) -> dict | None:
    """:func:`largest_gap` of ``key`` over the levels with at least ``min_readings`` readings, with ``key``
    and ``min_readings`` recorded."""
    values = {attribute: {level: entry[key] for level, entry in by_level.items()
                          if entry["n_readings"] >= min_readings}
              for attribute, by_level in subgroups.items()}
    gap = largest_gap(values)
    return None if gap is None else {"key": key, **gap, "min_readings": min_readings}


def levels_by_image(frame: pd.DataFrame, image_ids: Sequence[int],
                    schema: CohortSchema | None = None) -> dict[str, dict[int, str]]:
    """:func:`subgroup_levels` keyed by each row's image id (``image_ids`` in the frame's row order)."""
    return {attribute: dict(zip([int(i) for i in image_ids], levels))
            for attribute, levels in subgroup_levels(frame, schema).items()}
