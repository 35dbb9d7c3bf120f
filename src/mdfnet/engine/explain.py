"""Explanations: how much each clinical value moved each detection's score.

For one image read with its clinical row, every value that was entered (and that the model reads) is
replaced, one at a time, by a reference, and the image is read again:

- ``missing``: the value left out (NaN), which the model handles as in training (the train mean, plus
  the missing indicator in the presets that have one);
- ``median``: the value replaced by the train split's median (the nine numbers, not gender); checkpoints
  written before the medians were stored have no such view.

A detection's counterpart in a re-read is the highest-scoring detection of the same class that lies
mostly inside it (IoBB >= :data:`MATCH_IOBB` against the original box); with none, the finding is gone
and its score counts as 0. The **effect** of a value is ``score as entered - score with the value
replaced``: above 0 the value raised the finding's score, below 0 it lowered it.

Cost: the image backbone runs once per image (:meth:`~mdfnet.model.MDFNet.encode_images`); the clinical
encoder, spatialiser, fusion, RPN and RoI heads run once per replaced value, ``chunk`` values per batch.
The re-reads keep every detection with a score above 0 (up to :data:`RELAXED_DETECTIONS`), so a finding
that falls under the model's score cut still shows how far it fell.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from mdfnet.metrics.overlap import iobb
from mdfnet.schema import CLINICAL_FEATURES, NUMERIC_FEATURES

REFERENCES = ("missing", "median")
MATCH_IOBB = 0.5          # a re-read box is "the same finding" when >= half of it lies in the original box
RELAXED_DETECTIONS = 100  # detections kept per re-read (the model keeps 10 above its score cut)
EFFECT_DIGITS = 4         # scores and effects are reported to 4 decimals, as predictions are


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


def relaxed_heads(roi_heads: nn.Module) -> nn.Module:
    """The same RoI heads (shared weights) that keep every detection scored above 0, up to
    :data:`RELAXED_DETECTIONS`; a shallow copy, so the model itself is never changed."""
    relaxed = copy.copy(roi_heads)
    relaxed.score_thresh = 0.0
    relaxed.detections_per_img = RELAXED_DETECTIONS
    return relaxed


def counterpart_score(box: Sequence[float], label: int, reread: dict[str, torch.Tensor]) -> float:
    """Score of the finding ``(box xyxy, label)`` in a re-read's output: its best same-class detection with
    IoBB >= :data:`MATCH_IOBB` (the re-read box measured against ``box``), else 0."""
    same = reread["labels"] == label
    if not bool(same.any()):
        return 0.0
    overlap = torch.from_numpy(iobb(reread["boxes"][same].cpu(), [list(box)])[:, 0])
    scores = reread["scores"][same].cpu().double()
    inside = overlap >= MATCH_IOBB
    return float(scores[inside].max()) if bool(inside.any()) else 0.0


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
    heads = relaxed_heads(model.roi_heads)
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
