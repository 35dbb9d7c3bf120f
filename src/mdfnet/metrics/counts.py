"""True/false positives and false negatives per class at one overlap and score threshold (paper Fig. 2b)."""

from __future__ import annotations

from collections import Counter

import numpy as np
from faster_coco_eval import COCO

from mdfnet.metrics.matching import run_matching


def count_outcomes(coco_gt: COCO, dets: list[dict], *, overlap: str = "iobb", threshold: float = 0.5,
                   max_dets: int = 10) -> dict[str, dict[str, int]]:
    """Count TP / FP / FN per class with COCO's greedy matching.

    Args:
        coco_gt: ground truth index (see :func:`mdfnet.metrics.matching.coco_from_ground_truth`).
        dets: detections already cut to the score threshold and ``max_dets`` per image.
        overlap: ``"iobb"`` or ``"iou"``; a pair matches when its overlap is ``>= threshold``.

    Returns:
        ``{class_name: {"TP", "FP", "FN"}}`` for every category. Each ground truth is matched at most
        once, so a second box on the same lesion is a FP; a class without ground truth has only FPs.
    """
    categories = sorted(coco_gt.loadCats(coco_gt.getCatIds()), key=lambda c: c["id"])
    recall = run_matching(coco_gt, dets, overlap=overlap, thresholds=np.array([threshold]), max_dets=max_dets)["recall"]
    gt_per_class = Counter(a["category_id"] for a in coco_gt.dataset["annotations"] if not a["iscrowd"])
    dets_per_class = Counter(d["category_id"] for d in dets)
    counts = {}
    for k, category in enumerate(categories):
        n_gt, n_det = gt_per_class[category["id"]], dets_per_class[category["id"]]
        # COCO stores recall = TP / n_gt; n_gt is small, so the product is an integer up to rounding.
        tp = int(round(float(recall[0, k, 0, 0]) * n_gt)) if n_gt else 0
        counts[category["name"]] = {"TP": tp, "FP": n_det - tp, "FN": n_gt - tp}
    return counts
