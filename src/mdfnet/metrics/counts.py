"""True/false positives and false negatives per class at one overlap and score threshold (paper Fig. 2b)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mdfnet.metrics.matching import Boxes, Matcher


def count_outcomes(matcher: Matcher, gts: Boxes, dets: Boxes, categories: Sequence[dict], *,
                   score_threshold: float = 0.1, threshold: float = 0.5) -> dict[str, dict[str, int]]:
    """Count TP / FP / FN per class with COCO's greedy matching, for detections scoring ``>= score_threshold``.

    Args:
        matcher: the :class:`~mdfnet.metrics.matching.Matcher` of ``gts`` and ``dets``.
        gts, dets: its ground truth and (selected) detections; ``categories``: COCO categories sorted by id.
        threshold: a pair matches when its overlap is ``>= threshold``.

    Matching the detections above the score cut alone gives the same pairs as matching them all and
    keeping those above the cut: matching is greedy by descending score, so a detection's match depends
    only on the higher-scoring detections of its image and class. One matcher therefore serves AP and counts.

    Returns:
        ``{class_name: {"TP", "FP", "FN"}}`` for every category. Each ground truth is matched at most
        once, so a second box on the same lesion is a FP; a class without ground truth has only FPs.
        As in COCO, a detection matched to a crowd region counts as neither, and the region is no FN.
    """
    matched = matcher.run([threshold])["matched"]
    # Keys are "<det row + 1>_<gt row + 1>" (see Matcher.run).
    pairs = np.array([key.split("_") for key in matched], dtype=str).reshape(-1, 2).astype(np.int64) - 1
    det_rows, gt_rows = pairs[:, 0], pairs[:, 1]
    counted = dets.score >= score_threshold
    kept = counted[det_rows]
    det_rows, real = det_rows[kept], ~gts.crowd[gt_rows[kept]]  # matches to crowd regions are ignored
    counts = {}
    for category in categories:
        k = category["id"]
        tp = int(np.count_nonzero(dets.category[det_rows[real]] == k))
        ignored = int(np.count_nonzero(dets.category[det_rows[~real]] == k))
        n_gt = int(np.count_nonzero((gts.category == k) & ~gts.crowd))
        n_det = int(np.count_nonzero(counted & (dets.category == k)))
        counts[category["name"]] = {"TP": tp, "FP": n_det - tp - ignored, "FN": n_gt - tp}
    return counts
