"""True/false positives and false negatives per class at one overlap and score threshold (paper Fig. 2b)."""

from __future__ import annotations

import numpy as np

from mdfnet.metrics.outcomes import Outcomes


def count_outcomes(outcomes: Outcomes, score_threshold: float = 0.1) -> dict[str, dict[str, int]]:
    """Count TP / FP / FN per class among the detections scoring ``>= score_threshold``.

    Args:
        outcomes: the matching at one overlap threshold (:meth:`mdfnet.metrics.outcomes.Matching.outcomes`).

    Matching all kept detections and keeping those above the cut gives the same pairs as matching only
    those above it: matching is greedy by descending score, so a detection's match depends only on the
    higher-scoring detections of its image and class. One matching therefore serves AP and counts.

    Returns:
        ``{class_name: {"TP", "FP", "FN"}}`` for every category. Each ground truth is matched at most
        once, so a second box on the same lesion is a FP; a class without ground truth has only FPs.
        As in COCO, a detection matched to a crowd region counts as neither, and the region is no FN.
    """
    above = outcomes.score >= score_threshold
    n_classes = len(outcomes.names)
    tp = np.bincount(outcomes.category[above & outcomes.hit], minlength=n_classes)
    fp = np.bincount(outcomes.category[above & ~outcomes.hit], minlength=n_classes)
    fn = outcomes.gt_count.sum(axis=0) - tp
    return {name: {"TP": int(tp[k]), "FP": int(fp[k]), "FN": int(fn[k])} for k, name in enumerate(outcomes.names)}
