"""Explanations: how much each clinical value moved each detection's score.

For one image read with its clinical row, every value that was entered (and that the model reads) is
replaced, one at a time, by a reference, and the image is read again:

- ``missing``: the value left out (NaN), which the model handles as in training (the train mean, plus
  the missing indicator in the presets that have one);
- ``median``: the value replaced by the train split's median (the nine numbers, not gender); checkpoints
  written before the medians were stored have no such view.

A finding's score in a re-read is the best score the detector gives to a box of the same class at the
same place: over every box the RoI heads score (each proposal, each class; before the score cut and
NMS), the highest among those that lie at least :data:`MATCH_IOBB` inside the finding's box and that
the finding's box lies at least as much inside (IoBB measured both ways); 0 if there is none. Reading
boxes before NMS keeps the number continuous (a re-read where NMS keeps a near-twin instead gives the
same answer) and makes a replacement that changes nothing cost exactly nothing: a box overlapping the
finding that much has IoU >= 1/3 with it, so with a box NMS of at most 1/3 (the paper's 0.2) no such box
can outscore the finding it let through. The **effect** of a value is ``score as entered - score with
the value replaced``: above 0 the value raised the finding's score, below 0 it lowered it.

Cost: the image backbone runs once per image (:meth:`~mdfnet.model.MDFNet.encode_images`); the clinical
encoder, spatialiser, fusion, RPN and RoI heads run once per replaced value, ``chunk`` values per batch.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mdfnet.metrics.overlap import iobb
from mdfnet.schema import CLINICAL_FEATURES, NUMERIC_FEATURES

REFERENCES = ("missing", "median")
MATCH_IOBB = 0.5   # "the same place": each box lies at least half inside the other
EFFECT_DIGITS = 4  # scores and effects are reported to 4 decimals, as predictions are


@dataclass(frozen=True)
class Replacement:
    """One re-read: ``feature`` set to ``value`` (NaN for ``missing``) under view ``reference``."""

    reference: str
    feature: str
    value: float


def replacements(row: torch.Tensor, used: Sequence[str], medians: torch.Tensor | None) -> list[Replacement]:
    """The re-reads that explain ``row`` ``[10]``: each entered value the model reads, left out; then
    each entered number set to its train median (when ``medians`` ``[9]`` is known and not NaN)."""
    values = dict(zip(CLINICAL_FEATURES, row.tolist()))
    entered = [f for f in CLINICAL_FEATURES if f in used and not math.isnan(values[f])]
    out = [Replacement("missing", f, math.nan) for f in entered]
    if medians is not None:
        for f in entered:
            if f in NUMERIC_FEATURES and not math.isnan(float(medians[NUMERIC_FEATURES.index(f)])):
                out.append(Replacement("median", f, float(medians[NUMERIC_FEATURES.index(f)])))
    return out


def every_box_heads(roi_heads: nn.Module) -> nn.Module:
    """The same RoI heads (shared weights) returning every box they score: no score cut, no NMS (an IoU
    threshold of 1 suppresses nothing), no count limit. A shallow copy: the model itself is not changed."""
    every = copy.copy(roi_heads)
    every.score_thresh = -1.0
    every.nms_thresh = 1.0
    every.detections_per_img = sys.maxsize
    return every


def counterpart_score(box: Sequence[float], label: int, reread: dict[str, torch.Tensor]) -> float:
    """Score of the finding ``(box xyxy, label)`` in a re-read's boxes: the best box of the same class that
    lies at least :data:`MATCH_IOBB` inside ``box`` and that ``box`` lies as much inside, else 0."""
    same = reread["labels"] == label
    if not bool(same.any()):
        return 0.0
    boxes, finding = reread["boxes"][same].cpu(), [list(box)]
    mutual = np.minimum(iobb(boxes, finding)[:, 0], iobb(finding, boxes)[0])
    inside = torch.from_numpy(mutual >= MATCH_IOBB)
    return float(reread["scores"][same].cpu()[inside].max()) if bool(inside.any()) else 0.0


@torch.no_grad()
def explain_detections(model: nn.Module, encoded, row: torch.Tensor, detections: dict[str, torch.Tensor],
                       medians: torch.Tensor | None = None, image: int = 0, chunk: int = 8) -> list[dict]:
    """Effects of each entered value on each detection of one image.

    Args:
        model: an :class:`~mdfnet.model.MDFNet` in eval mode.
        encoded: :meth:`~mdfnet.model.MDFNet.encode_images` output holding the image.
        row: the clinical values ``[10]`` (NaN = missing) that gave ``detections``.
        detections: the model's output for ``row`` on that image (``boxes`` ``[K, 4]``, ``labels``, ``scores``).
        medians: the train medians ``[9]``, or None (then only the ``missing`` view).
        image: the image's index in ``encoded``.
        chunk: replaced values read per batch (bounds memory: the ``paper`` branch at 512 px holds
            ``chunk`` clinical images of 64 x 512 x 512).

    Returns:
        One dict per detection, ``{reference: {feature: {"score": s, "effect": e}}}`` with the views of
        :data:`REFERENCES` that apply; empty dicts when the model reads no clinical data.
    """
    n = len(detections["scores"])
    used = model.clinical_encoder.features if model.uses_clinical else ()
    todo = replacements(row.cpu(), used, medians)
    if n == 0 or not todo:
        return [{} for _ in range(n)]
    rows = row.cpu().repeat(len(todo), 1)
    for i, r in enumerate(todo):
        rows[i, CLINICAL_FEATURES.index(r.feature)] = r.value
    heads = every_box_heads(model.roi_heads)
    device = encoded.batch.tensors.device
    rereads: list[dict] = []
    for start in range(0, len(todo), chunk):
        part = rows[start:start + chunk].to(device)
        rereads += model.detect(encoded, part, torch.full((len(part),), image), roi_heads=heads)
    out: list[dict] = [{} for _ in range(n)]
    boxes, labels = detections["boxes"].tolist(), detections["labels"].tolist()
    scores = [round(s, EFFECT_DIGITS) for s in detections["scores"].tolist()]
    for r, reread in zip(todo, rereads):
        for k in range(n):  # the effect is the difference of the scores as reported, so they add up
            score = round(counterpart_score(boxes[k], labels[k], reread), EFFECT_DIGITS)
            out[k].setdefault(r.reference, {})[r.feature] = {"score": score,
                                                             "effect": round(scores[k] - score, EFFECT_DIGITS)}
    return out


@torch.no_grad()
def explain_image(model: nn.Module, image: torch.Tensor, row: torch.Tensor, medians: torch.Tensor | None = None,
                  chunk: int = 8) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Detections of one image ``[3, S, S]`` with clinical ``row`` ``[10]`` and their effects
    (:func:`explain_detections`); the detections equal ``model([image], row[None])[0]`` exactly."""
    encoded = model.encode_images([image])
    clinical = row[None].to(image.device) if model.uses_clinical else None
    detections = model.detect(encoded, clinical)[0]
    return detections, explain_detections(model, encoded, row, detections, medians, chunk=chunk)


def reference_values(medians: torch.Tensor | None) -> dict:
    """What each view replaces a value with, for reports: ``{"missing": ..., "median": {feature: value}}``."""
    views: dict = {"missing": "left out (NaN): the model's missing-value handling, as in training"}
    if medians is not None:
        views["median"] = {f: (None if math.isnan(v) else round(v, 2)) for f, v in zip(NUMERIC_FEATURES, medians.tolist())}
    else:
        views["median"] = None
    return views


def true_positives(detections: dict[str, torch.Tensor], gt_boxes: torch.Tensor, gt_labels: torch.Tensor,
                   score_threshold: float = 0.1, iobb_threshold: float = 0.5) -> list[int]:
    """Indices of the detections that are true positives under COCO's greedy rule at IoBB: by descending
    score, each detection scored >= ``score_threshold`` takes the unmatched ground truth of its class that
    it overlaps most, if that IoBB is >= ``iobb_threshold``. Boxes ``[K, 4]`` / ``[G, 4]`` xyxy, same pixels."""
    scores = detections["scores"].tolist()
    overlap = iobb(detections["boxes"].cpu(), gt_boxes.cpu())
    labels, gt_labels = detections["labels"].tolist(), gt_labels.tolist()
    taken: set[int] = set()
    hits = []
    for k in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if scores[k] < score_threshold:
            break
        free = [g for g in range(len(gt_labels)) if gt_labels[g] == labels[k] and g not in taken]
        best = max(free, key=lambda g: overlap[k, g], default=None)
        if best is not None and overlap[k, best] >= iobb_threshold:
            taken.add(best)
            hits.append(k)
    return sorted(hits)


@torch.no_grad()
def explain_true_positives(model: nn.Module, dataset, medians: torch.Tensor | None, device: torch.device,
                           score_threshold: float = 0.1, chunk: int = 8) -> list[dict]:
    """Explanations of every true positive of a :class:`~mdfnet.data.dataset.CohortDataset` (IoBB 0.5).

    Returns one record per (true positive, replaced value): ``reading_id``, ``detection`` (its index in
    the image's detections), ``class``, ``score``, ``reference``, ``feature``, ``effect``.
    """
    from mdfnet.schema import CLASSES

    model.eval()
    records = []
    for index in range(len(dataset)):
        image, row, target = dataset[index]
        detections, effects = explain_image(model, image.to(device), row, medians, chunk=chunk)
        reading = str(dataset.frame.iloc[index]["reading_id"])
        for k in true_positives(detections, target["boxes"], target["labels"], score_threshold):
            label, score = CLASSES[int(detections["labels"][k]) - 1], round(float(detections["scores"][k]), 4)
            for reference, by_feature in effects[k].items():
                records += [{"reading_id": reading, "detection": k, "class": label, "score": score, "reference": reference,
                             "feature": feature, "effect": value["effect"]} for feature, value in by_feature.items()]
    return records


def mean_abs_effects(records: list[dict], reference: str = "missing") -> dict[str, dict[str, float]]:
    """``{class: {feature: mean |effect| over that class's true positives where the value was present}}``."""
    sums: dict[str, dict[str, list[float]]] = {}
    for r in records:
        if r["reference"] == reference:
            sums.setdefault(r["class"], {}).setdefault(r["feature"], []).append(abs(r["effect"]))
    return {c: {f: round(sum(v) / len(v), EFFECT_DIGITS) for f, v in by.items()} for c, by in sums.items()}
