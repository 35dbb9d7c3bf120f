"""COCO-style AP / AR with IoBB or IoU overlap, summarised for any thresholds and ``max_dets``.

Conventions (COCO's, stated once here):

* Detections are first cut to ``score >= score_threshold``, then to the ``max_dets`` highest-scoring per
  image and class (COCO's ``maxDets``; ``max_dets_per="image"`` cuts per image over all classes instead,
  as a detector's ``detections_per_img`` does).
* Matching is greedy by descending score; a detection matches the unmatched ground truth of its class
  with the largest overlap when that overlap is ``>= threshold``.
* AP of a class is the mean of the 101-point interpolated precision (recall 0, 0.01, ..., 1); AR of a
  class is the recall reached with all kept detections. The class mean skips classes without ground
  truth (COCO's -1 entries): detections of such a class do not lower the mean; they show as FPs in
  ``counts``. A class without ground truth reports ``nan``; so does a mean over no class at all.
* ``AP_<O>_mean`` / ``AR_<O>_mean`` average over the requested thresholds (COCO's "AP@[.50:.95]" idea).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from mdfnet.metrics.counts import count_outcomes
from mdfnet.metrics.keys import metric_key
from mdfnet.metrics.matching import gc_paused
from mdfnet.metrics.outcomes import Matching, Outcomes

DEFAULT_THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)
HEADLINE_THRESHOLD = 0.5  # the paper's AP / AR, PR curves and counts are at overlap 0.5


def evaluate_detections(gt: dict, dets: list[dict], *, overlap: str = "iobb",
                        thresholds: Sequence[float] | None = None, max_dets: int = 10,
                        max_dets_per: str = "image_class", score_threshold: float = 0.05,
                        count_threshold: float | None = 0.1) -> dict:
    """Score COCO detections against COCO ground truth.

    Args:
        gt: COCO ground truth (``images``, ``annotations`` with xywh ``bbox``, ``categories``).
        dets: COCO results ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``; may be empty.
        overlap: ``"iobb"`` (area(pred ∩ gt) / area(pred)) or ``"iou"``.
        thresholds: overlap thresholds; default 0.05, 0.10, ..., 0.95. 0.5 is always evaluated too.
        max_dets: detections kept per image and class after the score cut.
        max_dets_per: ``"image_class"`` (COCO's cut, equal to pycocotools) or ``"image"`` (the
            ``max_dets`` best of each image over all classes).
        score_threshold: detections below it are dropped before anything else.
        count_threshold: score cut for the TP/FP/FN counts (the paper uses 0.1); ``None`` skips the
            counts and their matching pass (about a quarter of the time on 100k detections).

    Returns:
        Flat keys, ``<O>`` being ``IoBB`` or ``IoU`` and ``t`` written ``0.50``:
        ``AP_<O>_t`` / ``AR_<O>_t`` per threshold, ``AP_<O>_mean`` / ``AR_<O>_mean``,
        ``AP_<O>_0.50_<Class_name>`` / ``AR_<O>_0.50_<Class_name>`` per class; the settings
        (``overlap, thresholds, max_dets, max_dets_per, score_threshold, count_threshold``) and sizes
        (``n_images, n_ground_truth, n_detections``); nested ``counts`` ``{class: {"TP", "FP", "FN"}}`` at 0.5 and
        ``count_threshold`` (absent when it is ``None``), and ``pr_curves``
        ``{class: {"recall": [101], "precision": [101]}}`` at 0.5 for the classes with ground truth.
    """
    with gc_paused():
        matching = Matching(gt, dets, overlap=overlap, max_dets=max_dets, max_dets_per=max_dets_per,
                            score_threshold=score_threshold)
        return evaluate_matching(matching, thresholds, score_threshold, count_threshold)


def evaluate_matching(matching: Matching, thresholds: Sequence[float] | None, score_threshold: float,
                      count_threshold: float | None, headline: Outcomes | None = None) -> dict:
    """:func:`evaluate_detections` on records already selected and matched (``score_threshold`` is only
    recorded: ``matching`` applied it); ``headline``: ``matching.outcomes(0.5)`` when the caller has it."""
    requested = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    grid = np.unique(np.append(requested, HEADLINE_THRESHOLD))
    names = [c["name"] for c in matching.categories]

    result = matching.matcher.run(grid)
    precision = result["precision"][:, :, :, 0, 0]  # [T, R, K]
    recall = result["recall"][:, :, 0, 0]  # [T, K]

    metrics: dict = {
        "overlap": matching.overlap, "thresholds": [float(t) for t in requested],
        "max_dets": matching.max_dets, "max_dets_per": matching.max_dets_per,
        "score_threshold": float(score_threshold),
        "count_threshold": None if count_threshold is None else float(count_threshold),
        "n_images": len(matching.image_ids), "n_ground_truth": len(matching.gts), "n_detections": len(matching.dets),
    }
    metrics.update(summarise(precision, recall, grid, requested, names, matching.overlap))
    if count_threshold is not None:
        headline = matching.outcomes(HEADLINE_THRESHOLD) if headline is None else headline
        metrics["counts"] = count_outcomes(headline, score_threshold=count_threshold)
    metrics["pr_curves"] = pr_curves(precision, grid, names)
    return metrics


def metrics_json(metrics: dict) -> str:
    """Strict JSON text of a metrics dict: ``nan`` (an undefined AP/AR) becomes ``null``."""
    return json.dumps(_nan_to_none(metrics), indent=2, allow_nan=False)


def _nan_to_none(value):
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


def summarise(precision: np.ndarray, recall: np.ndarray, grid: np.ndarray, requested: np.ndarray,
              names: Sequence[str], overlap: str) -> dict[str, float]:
    """Flat AP/AR keys from COCO's ``precision`` [T, R, K] and ``recall`` [T, K] (-1 = no ground truth).

    Written here because COCO's ``summarize()`` hard-codes maxDets 100 and the 0.50:0.95 grid.
    """
    ap_per_class = np.where(precision[:, 0, :] > -1, precision.mean(axis=1), np.nan)  # [T, K]
    ar_per_class = np.where(recall > -1, recall, np.nan)
    ap, ar = _mean_over_classes(ap_per_class), _mean_over_classes(ar_per_class)
    out: dict[str, float] = {}
    for i, t in enumerate(grid):
        out[metric_key("AP", t, overlap)] = float(ap[i])
        out[metric_key("AR", t, overlap)] = float(ar[i])
    chosen = np.isin(grid, requested)
    out[metric_key("AP", None, overlap)] = _nan_mean(ap[chosen])
    out[metric_key("AR", None, overlap)] = _nan_mean(ar[chosen])
    head = _index_of(grid, HEADLINE_THRESHOLD)
    for k, name in enumerate(names):
        out[metric_key("AP", HEADLINE_THRESHOLD, overlap, name)] = float(ap_per_class[head, k])
        out[metric_key("AR", HEADLINE_THRESHOLD, overlap, name)] = float(ar_per_class[head, k])
    return out


def pr_curves(precision: np.ndarray, grid: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, list[float]]]:
    """Interpolated precision at the 101 COCO recall points, per class with ground truth, at overlap 0.5."""
    head = _index_of(grid, HEADLINE_THRESHOLD)
    recall_points = np.linspace(0.0, 1.0, precision.shape[1])
    return {
        name: {"recall": recall_points.tolist(), "precision": precision[head, :, k].tolist()}
        for k, name in enumerate(names) if precision[head, 0, k] > -1
    }


def _mean_over_classes(per_class: np.ndarray) -> np.ndarray:
    """Row means ignoring nan (classes without ground truth); nan when a row has no class at all."""
    return np.array([_nan_mean(row) for row in per_class])


def _nan_mean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _index_of(grid: np.ndarray, value: float) -> int:
    return int(np.flatnonzero(np.isclose(grid, value))[0])
