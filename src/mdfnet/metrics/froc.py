"""FROC: lesion sensitivity at fixed numbers of false positives per image, from one matching pass.

Conventions (stated once here):

* A detection hits when COCO's matching (the one AP uses: greedy by descending score, each detection to
  the unmatched ground truth of its class with the largest overlap ``>= threshold``) pairs it with a
  lesion. Each lesion is found at most once; a detection matched to a crowd region is ignored.
* The curve sweeps the score cut from high to low, one point per distinct score (a cut cannot split
  tied detections), starting at (0, 0). False positives per image divide by *all* images, those
  without lesions included (LUNA16 / object-CXR).
* Sensitivity at a rate ``f`` is the highest sensitivity reached with at most ``f`` false positives per
  image: a step, no interpolation (LUNA16 interpolates linearly between curve points; the step never
  credits a sensitivity the detector did not reach at that rate). A rate beyond the last point reads
  the final sensitivity.
* ``mFROC`` is the mean over 1/8, 1/4, 1/2, 1, 2, 4 and 8 false positives per image (LUNA16, object-CXR);
  ``mFROC4`` the mean over 0.5, 1, 2 and 4 (the convention of MDF-Net's follow-up work).
* Per class: that class's lesions and false positives. Overall: every class pooled, i.e. the fraction
  of all lesions found, against the false positives of all classes together, at one score cut.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mdfnet.metrics.keys import metric_key
from mdfnet.metrics.outcomes import Matching, Outcomes

FROC_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
FROC4_RATES = (0.5, 1.0, 2.0, 4.0)
ALL_CLASSES = "all classes"  # the name of the pooled curve


def sensitivity_kind(rate: float) -> str:
    """The metric kind of the sensitivity at ``rate`` false positives per image: ``Sens@0.125FP``."""
    return f"Sens@{rate:g}FP"


def froc(gt: dict, dets: list[dict], *, overlap: str = "iobb", threshold: float = 0.5, max_dets: int = 10,
         max_dets_per: str = "image_class", score_threshold: float = 0.05) -> dict:
    """FROC of COCO detections against COCO ground truth (arguments as for ``evaluate_detections``).

    Returns:
        See :func:`froc_metrics`.
    """
    matching = Matching(gt, dets, overlap=overlap, max_dets=max_dets, max_dets_per=max_dets_per,
                        score_threshold=score_threshold)
    return froc_metrics(matching.outcomes(threshold))


def froc_metrics(outcomes: Outcomes) -> dict:
    """FROC keys from matched detections (module docstring for the conventions).

    Returns:
        ``<O>`` = ``IoBB`` / ``IoU``, ``t`` the overlap threshold written ``0.50``, overall and with a
        ``_<Class>`` suffix per class: ``Sens@<f>FP_<O>_t`` for ``f`` in :data:`FROC_RATES`,
        ``mFROC_<O>_t`` and ``mFROC4_<O>_t`` (``nan`` for a class without lesions); and ``froc_curves``:
        ``{"all classes" or class name: {"fp_per_image": [M], "sensitivity": [M]}}`` for the curves
        with lesions (one point per distinct score, after the origin).
    """
    n_images = len(outcomes.image_ids)
    curves = {ALL_CLASSES: froc_curve(outcomes.score, outcomes.hit, int(outcomes.gt_count.sum()), n_images)}
    for k, name in enumerate(outcomes.names):
        rows = outcomes.of_class(k)
        curves[name] = froc_curve(outcomes.score[rows], outcomes.hit[rows], int(outcomes.gt_count[:, k].sum()),
                                  n_images)
    out: dict = {}
    for name, curve in curves.items():
        class_name = None if name == ALL_CLASSES else name
        at = sensitivity_at(*curve, FROC_RATES)
        for rate, value in zip(FROC_RATES, at):
            out[metric_key(sensitivity_kind(rate), outcomes.threshold, outcomes.overlap, class_name)] = float(value)
        out[metric_key("mFROC", outcomes.threshold, outcomes.overlap, class_name)] = float(np.mean(at))
        four = sensitivity_at(*curve, FROC4_RATES)
        out[metric_key("mFROC4", outcomes.threshold, outcomes.overlap, class_name)] = float(np.mean(four))
    out["froc_curves"] = {name: {"fp_per_image": fp.tolist(), "sensitivity": sens.tolist()}
                          for name, (fp, sens) in curves.items() if not np.isnan(sens).all()}
    return out


def froc_curve(score: np.ndarray, hit: np.ndarray, n_lesions: int, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(false positives per image, sensitivity) [M + 1] after each distinct score, from the origin.

    Args:
        score, hit: [N] counted detections (ignored ones left out) and whether each found a lesion.
        n_lesions: the lesions that count; ``0`` gives a sensitivity of nan.
        n_images: every image evaluated, with or without lesions.
    """
    order = np.argsort(-score, kind="stable")
    score, hit = score[order], hit[order]
    tp, fp = np.cumsum(hit), np.cumsum(~hit)
    last_of_score = np.flatnonzero(np.r_[score[1:] != score[:-1], True]) if len(score) else np.array([], np.int64)
    fp_per_image = np.r_[0.0, fp[last_of_score] / max(n_images, 1)]
    if n_lesions == 0:
        return fp_per_image, np.full(len(fp_per_image), np.nan)
    return fp_per_image, np.r_[0.0, tp[last_of_score] / n_lesions]


def sensitivity_at(fp_per_image: np.ndarray, sensitivity: np.ndarray, rates: Sequence[float]) -> np.ndarray:
    """The highest sensitivity at a curve point with at most ``rate`` false positives per image, per rate.

    The curve starts at (0, 0) and rises, so that is the last point at or below the rate.
    """
    last = np.searchsorted(fp_per_image, np.asarray(rates, dtype=np.float64), side="right") - 1
    return sensitivity[last]
