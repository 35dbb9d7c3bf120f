"""Explanations: how much each clinical value moved each detection's score.

For one image read with its clinical row, every value that was entered (and that the model reads) is
replaced, one at a time, by a reference, and the image is read again:

- ``missing``: the value left out (NaN), which the model handles as in training (the train mean, plus
  the missing indicator in the presets that have one);
- ``median``: the value replaced by the train split's median (the nine numbers, not gender); checkpoints
  written before the medians were stored have no such view.

**The same box.** A re-read scores the same regions as the original read: the proposals (the RPN's
boxes) are kept, and the RoI heads score them again under the replaced value. A finding's candidates
are the proposals whose box for the finding's class lies at the same place as the finding, IoBB measured
both ways (each box at least :data:`MATCH_IOBB` inside the other), the finding's own proposal first and
at most :data:`CANDIDATES` of them, by their score in the original read. In a re-read the finding's score
is the best score among its candidates whose new box still lies at the same place (0 if none does). So
a replacement that changes nothing costs exactly nothing, and the number moves smoothly with the value
(NMS, which keeps one of two near-twins, plays no part). The RPN's own reaction to a value (which regions
it proposes) is not part of an effect.

The **effect** of a value is ``score as entered - score with the value replaced``: above 0 the value
raised the finding's score, below 0 it lowered it.

Cost: the image backbone and the RPN run once per image; per replaced value only the clinical encoder,
the spatialiser, the fusion and the RoI heads run, on the candidates only, ``chunk`` values per batch
(:meth:`~mdfnet.model.MDFNet.score_proposals`: with the ``lite`` branch, only on the windows of the map
that the candidates read).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mdfnet.metrics.overlap import iobb, iobb_pairs
from mdfnet.model.heads import every_box, recording_heads
from mdfnet.schema import CLINICAL_FEATURES, NUMERIC_FEATURES

REFERENCES = ("missing", "median")
MATCH_IOBB = 0.5   # "the same place": each box lies at least half inside the other
CANDIDATES = 3     # proposals followed per finding: its own and the next best at the same place
EFFECT_DIGITS = 4  # scores and effects are reported to 4 decimals, as predictions are
CHUNK_BYTES = 256 << 20  # one stage of the paper branch's clinical images, for a batch of re-reads


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
        median = dict(zip(NUMERIC_FEATURES, medians.tolist()))
        out += [Replacement("median", f, median[f]) for f in entered if f in median and not math.isnan(median[f])]
    return out


def same_place(boxes, ref) -> np.ndarray:
    """Element by element (``[..., 4]`` xyxy, broadcast): each box and its ``ref`` lie at least
    :data:`MATCH_IOBB` inside each other (IoBB measured both ways)."""
    return np.minimum(iobb_pairs(boxes, ref), iobb_pairs(ref, boxes)) >= MATCH_IOBB


def candidates(every: dict[str, torch.Tensor], boxes: torch.Tensor, labels: torch.Tensor,
               classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The proposals that follow each finding through re-reads.

    Args:
        every: :class:`~mdfnet.model.heads.EveryBox` output of the original read (proposal-major,
            ``classes`` per proposal).
        boxes, labels: the findings, ``[N, 4]`` and ``[N]``.

    Returns:
        ``index`` ``[N, M]`` (proposal indices) and ``valid`` ``[N, M]``, ``M`` = :data:`CANDIDATES`: for each
        finding, the proposals whose box for its class lies at the same place, best score first.
    """
    per_class = every["boxes"].view(-1, classes, 4).cpu().numpy()[:, labels.cpu().numpy() - 1]  # [P, N, 4]
    scores = every["scores"].view(-1, classes).cpu().double().numpy()[:, labels.cpu().numpy() - 1]
    at = same_place(per_class, boxes.cpu().numpy()[None])                                       # [P, N]
    ranked = np.where(at, scores, -np.inf).T                                                    # [N, P]
    index = np.argsort(-ranked, axis=1, kind="stable")[:, :CANDIDATES]
    return index, np.take_along_axis(ranked, index, axis=1) > -np.inf


def counterpart_scores(boxes: torch.Tensor, labels: torch.Tensor, reread_boxes: torch.Tensor,
                       reread_scores: torch.Tensor, index: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[R, N]``: each finding's score in each of ``R`` re-reads of the followed proposals.

    ``reread_boxes`` ``[R, U, K, 4]`` and ``reread_scores`` ``[R, U, K]`` are the re-reads' every box
    (``U`` proposals, ``K`` classes); ``index`` / ``valid`` ``[N, M]`` say which of the ``U`` follow each
    finding (:func:`candidates`, renumbered). A finding's score is the best among its candidates whose new
    box for its class still lies at the same place as ``boxes[n]``, else 0.
    """
    label = labels.cpu().numpy()[:, None] - 1                                     # [N, 1]
    mine = reread_boxes.cpu().numpy()[:, index, label]                             # [R, N, M, 4]
    kept = valid & same_place(mine, boxes.cpu().numpy()[None, :, None])            # [R, N, M]
    scores = reread_scores.cpu().double().numpy()[:, index, label]
    return np.where(kept, scores, 0.0).max(axis=2, initial=0.0)


@torch.no_grad()
def explain_detections(model: nn.Module, encoded, row: torch.Tensor, detections: dict[str, torch.Tensor],
                       every: dict[str, torch.Tensor], proposals: torch.Tensor, medians: torch.Tensor | None = None,
                       image: int = 0, chunk: int | None = None) -> list[dict]:
    """Effects of each entered value on each detection of one image.

    Args:
        model: an :class:`~mdfnet.model.MDFNet` in eval mode.
        encoded: :meth:`~mdfnet.model.MDFNet.encode_images` output holding the image.
        row: the clinical values ``[10]`` (NaN = missing) that gave ``detections``.
        detections: the model's output for ``row`` on that image (``boxes`` ``[K, 4]``, ``labels``, ``scores``).
        every: every box the RoI heads scored for ``detections``, in the same pixels
            (:func:`~mdfnet.model.heads.every_box` layout; :func:`read_with_every_box` gives both).
        proposals: ``[P, 4]``, the proposals they were scored on (the transformed image's pixels).
        medians: the train medians ``[9]``, or None (then only the ``missing`` view).
        image: the image's index in ``encoded``.
        chunk: replaced values read per batch; default :func:`default_chunk` (bounds the memory that the
            ``paper`` branch's clinical images take, 64 x S x S floats per value).

    Returns:
        One dict per detection, ``{reference: {feature: {"score": s, "effect": e}}}`` with the views of
        :data:`REFERENCES` that apply; empty dicts when the model reads no clinical data.
    """
    n = len(detections["scores"])
    used = model.clinical_encoder.features if model.uses_clinical else ()
    todo = replacements(row.cpu(), used, medians)
    if n == 0 or not todo:
        return [{} for _ in range(n)]
    device = encoded.batch.tensors.device
    classes = len(every["scores"]) // max(1, len(proposals))
    index, valid = candidates(every, detections["boxes"], detections["labels"], classes)
    union, index = np.unique(np.where(valid, index, index[:, :1]), return_inverse=True)  # renumber in U
    index = index.reshape(valid.shape)
    subset = proposals[torch.from_numpy(union).to(proposals.device)]

    rows = np.tile(row.cpu().numpy(), (len(todo), 1))
    rows[np.arange(len(todo)), [CLINICAL_FEATURES.index(r.feature) for r in todo]] = [r.value for r in todo]
    rows = torch.from_numpy(rows)
    chunk = chunk or default_chunk(model)
    rereads: list[dict] = []
    for start in range(0, len(todo), chunk):
        part = rows[start:start + chunk].to(device)
        rereads += model.score_proposals(encoded, part, image, subset)
    reread_boxes = torch.stack([r["boxes"] for r in rereads]).view(len(todo), len(union), classes, 4)
    reread_scores = torch.stack([r["scores"] for r in rereads]).view(len(todo), len(union), classes)
    found = counterpart_scores(detections["boxes"], detections["labels"], reread_boxes, reread_scores, index, valid)
    scores = [round(s, EFFECT_DIGITS) for s in detections["scores"].tolist()]
    out: list[dict] = [{} for _ in range(n)]
    for k in range(n):  # the effect is the difference of the scores as reported, so they add up
        for r, score in zip(todo, found[:, k].tolist()):
            score = round(score, EFFECT_DIGITS)
            out[k].setdefault(r.reference, {})[r.feature] = {"score": score,
                                                             "effect": round(scores[k] - score, EFFECT_DIGITS)}
    return out


def default_chunk(model: nn.Module) -> int:
    """Replaced values read per batch: all of them, except with the ``paper`` branch, whose clinical images
    (64 x S x S floats each, at several stages) are kept under about :data:`CHUNK_BYTES` per stage."""
    from mdfnet.model.spatialise import PaperClinicalBranch

    if not isinstance(model.clinical_branch, PaperClinicalBranch):
        return len(CLINICAL_FEATURES) * len(REFERENCES)
    size = model.transform.min_size[0]
    return max(1, CHUNK_BYTES // (64 * size * size * 4))


@torch.no_grad()
def explain_image(model: nn.Module, image: torch.Tensor, row: torch.Tensor, medians: torch.Tensor | None = None,
                  chunk: int | None = None) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Detections of one image ``[3, S, S]`` with clinical ``row`` ``[10]`` and their effects
    (:func:`explain_detections`); the detections equal ``model([image], row[None])[0]`` exactly."""
    encoded = model.encode_images([image])
    detections, every, proposals = read_with_every_box(model, encoded, row)
    return detections, explain_detections(model, encoded, row, detections, every, proposals, medians, chunk=chunk)


@torch.no_grad()
def read_with_every_box(model: nn.Module, encoded, row: torch.Tensor, image: int = 0):
    """One read of image ``image`` of ``encoded`` with ``row`` ``[10]``: ``(detections, every box, proposals)``.

    The detections are the model's own (``model.detect``, bit for bit); every box the RoI heads scored
    on the way (:func:`~mdfnet.model.heads.every_box`, in the detections' pixels) is recorded from the same
    pass, so nothing runs twice.
    """
    heads, record = recording_heads(model.roi_heads)
    clinical = row[None].to(encoded.batch.tensors.device) if model.uses_clinical else None
    (detections,), (proposals,) = model.detect(encoded, clinical, torch.tensor([image]), roi_heads=heads,
                                               with_proposals=True)
    sizes = [encoded.batch.image_sizes[image]]
    every = every_box(model.roi_heads.box_coder, record["logits"], record["deltas"], [proposals], sizes)
    every = model.transform.postprocess(every, sizes, [encoded.original_sizes[image]])[0]
    return detections, every, proposals


def reference_values(medians: torch.Tensor | None) -> dict:
    """What each view replaces a value with, for reports: ``{"missing": ..., "median": {feature: value}}``."""
    views: dict = {"missing": "left out (NaN): the model's missing-value handling, as in training"}
    if medians is not None:
        views["median"] = {f: (None if math.isnan(v) else round(v, 2))
                           for f, v in zip(NUMERIC_FEATURES, medians.tolist())}
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
                           score_threshold: float = 0.1, chunk: int | None = None) -> list[dict]:
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
                records += [{"reading_id": reading, "detection": k, "class": label, "score": score,
                             "reference": reference, "feature": feature, "effect": value["effect"]}
                            for feature, value in by_feature.items()]
    return records


def mean_abs_effects(records: list[dict], reference: str = "missing") -> dict[str, dict[str, float]]:
    """``{class: {feature: mean |effect| over that class's true positives where the value was present}}``."""
    sums: dict[str, dict[str, list[float]]] = {}
    for r in records:
        if r["reference"] == reference:
            sums.setdefault(r["class"], {}).setdefault(r["feature"], []).append(abs(r["effect"]))
    return {c: {f: round(sum(v) / len(v), EFFECT_DIGITS) for f, v in by.items()} for c, by in sums.items()}
