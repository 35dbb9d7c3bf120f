"""What ``evaluate`` and ``score`` report, from one matching: AP/AR with bootstrap intervals, and FROC.

>>> metrics = evaluate_with_statistics(gt, dets, patient_groups(gt), n_resamples=1000, seed=0)
>>> metrics[keys.AP_50], metrics[keys.ci_key(keys.AP_50)], metrics[keys.metric_key("mFROC")]

The records are checked and selected once (:class:`~mdfnet.metrics.outcomes.Matching`); the point
values come from :func:`~mdfnet.metrics.evaluate.evaluate_matching` exactly as
:func:`~mdfnet.metrics.evaluate_detections` gives them, the intervals from the patient bootstrap of
:mod:`mdfnet.metrics.bootstrap` (same draws as :func:`~mdfnet.metrics.bootstrap.bootstrap_metrics` for the
same ``seed`` and groups), and FROC from the matching at overlap 0.5 (:mod:`mdfnet.metrics.froc`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from mdfnet.metrics.bootstrap import (bootstrap_settings, check_bootstrap_settings, group_index, percentile_interval,
                                      resampled_values)
from mdfnet.metrics.evaluate import HEADLINE_THRESHOLD, evaluate_matching
from mdfnet.metrics.froc import froc_metrics
from mdfnet.metrics.keys import ci_key, metric_key
from mdfnet.metrics.matching import gc_paused
from mdfnet.metrics.outcomes import Matching, Outcomes


def evaluate_with_statistics(gt: dict, dets: list[dict], groups: Mapping[int, Hashable] | None = None, *,
                             overlap: str = "iobb", thresholds: Sequence[float] | None = None, max_dets: int = 10,
                             max_dets_per: str = "image_class", score_threshold: float = 0.05,
                             count_threshold: float | None = 0.1, n_resamples: int = 1000, seed: int = 0,
                             confidence: float = 0.95) -> dict:
    """:func:`~mdfnet.metrics.evaluate_detections`'s metrics, each AP/AR with its bootstrap interval, and FROC.

    Args:
        gt, dets, overlap, thresholds, max_dets, max_dets_per, score_threshold, count_threshold: as for
            :func:`~mdfnet.metrics.evaluate_detections`.
        groups: ``{image_id: patient}`` for every image (:func:`mdfnet.metrics.coco.patient_groups`);
            ``None`` resamples images.
        n_resamples, seed, confidence: as for :func:`~mdfnet.metrics.bootstrap.bootstrap_metrics`.

    Returns:
        ``evaluate_detections``'s dict plus ``<key>_ci95`` -> ``[low, high]`` for every AP/AR key in it
        (per threshold, threshold mean, per class at 0.5); ``froc_metrics``'s keys at overlap 0.5
        (``Sens@<f>FP_<O>_0.50``, ``mFROC_<O>_0.50``, ``mFROC4_<O>_0.50``, per class too, and
        ``froc_curves``); ``"bootstrap"``: the settings, with ``resampled`` ``"patients"`` or ``"images"``.
    """
    check_bootstrap_settings(n_resamples, confidence, [HEADLINE_THRESHOLD])
    with gc_paused():
        matching = Matching(gt, dets, overlap=overlap, max_dets=max_dets, max_dets_per=max_dets_per,
                            score_threshold=score_threshold)
        headline = matching.outcomes(HEADLINE_THRESHOLD)  # for the counts, the intervals and FROC
        metrics = evaluate_matching(matching, thresholds, score_threshold, count_threshold, headline)
        requested = metrics["thresholds"]
        outcomes = {t: headline if t == HEADLINE_THRESHOLD else matching.outcomes(t)
                    for t in sorted({*requested, HEADLINE_THRESHOLD})}
    group_of_image, n_groups = group_index(outcomes[HEADLINE_THRESHOLD].image_ids, groups)

    def resampled(chosen: Sequence[Outcomes]) -> dict[str, np.ndarray]:
        return resampled_values(chosen, group_of_image, n_groups, n_resamples, seed)

    values = resampled([outcomes[t] for t in requested])  # the threshold mean is over the requested ones
    if HEADLINE_THRESHOLD not in requested:  # evaluate_detections adds 0.5 (and its per-class keys)
        headline = resampled([outcomes[HEADLINE_THRESHOLD]])
        values.update({k: v for k, v in headline.items() if k not in _mean_keys(overlap)})
    for key in [k for k in metrics if k in values]:
        metrics[ci_key(key, confidence)] = percentile_interval(values[key], confidence)
    metrics.update(froc_metrics(outcomes[HEADLINE_THRESHOLD]))
    metrics["bootstrap"] = {**bootstrap_settings(n_resamples, seed, confidence, n_groups),
                            "resampled": "images" if groups is None else "patients"}
    return metrics


def _mean_keys(overlap: str) -> tuple[str, str]:
    return metric_key("AP", None, overlap), metric_key("AR", None, overlap)

