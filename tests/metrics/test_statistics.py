"""evaluate_with_statistics: evaluate_detections' values, the bootstrap's intervals and FROC from one matching."""

from __future__ import annotations

import pytest
from test_bootstrap import patients
from test_evaluate_detections import random_case

from mdfnet.errors import InputError
from mdfnet.metrics import evaluate_detections
from mdfnet.metrics.bootstrap import bootstrap_metrics
from mdfnet.metrics.froc import froc
from mdfnet.metrics.statistics import evaluate_with_statistics


def test_points_intervals_and_froc_equal_the_separate_functions():
    gt, dets = random_case(1, n_images=30, max_dets=6)
    groups = patients(gt, 1)
    out = evaluate_with_statistics(gt, dets, groups, n_resamples=100, seed=3)
    point = evaluate_detections(gt, dets)
    assert {k: out[k] for k in point} == point
    boot = bootstrap_metrics(gt, dets, groups, thresholds=out["thresholds"], n_resamples=100, seed=3)
    intervals = [k for k in out if k.endswith("_ci95")]
    assert len(intervals) == 2 * (19 + 1 + 3)  # AP and AR: 19 thresholds, their mean, 3 classes at 0.5
    assert all(out[k] == boot[k] for k in intervals)
    curves = froc(gt, dets)
    assert {k: out[k] for k in curves} == curves
    assert out["bootstrap"]["resampled"] == "patients" and out["bootstrap"]["n_groups"] == len(set(groups.values()))


def test_thresholds_without_0_5_keep_evaluate_detections_mean():
    gt, dets = random_case(2, n_images=20, max_dets=6)
    out = evaluate_with_statistics(gt, dets, thresholds=[0.75], n_resamples=50, seed=1)
    at_75 = bootstrap_metrics(gt, dets, thresholds=[0.75], n_resamples=50, seed=1)
    at_50 = bootstrap_metrics(gt, dets, thresholds=[0.5], n_resamples=50, seed=1)
    assert out["AP_IoBB_mean"] == evaluate_detections(gt, dets, thresholds=[0.75])["AP_IoBB_mean"]
    assert out["AP_IoBB_mean_ci95"] == at_75["AP_IoBB_mean_ci95"]  # the mean over 0.75 alone, as the point
    assert out["AP_IoBB_0.50_ci95"] == at_50["AP_IoBB_0.50_ci95"] and out["bootstrap"]["resampled"] == "images"


def test_bad_settings():
    gt, dets = random_case(2, n_images=5, max_dets=2)
    with pytest.raises(InputError, match=r"^confidence: expected a number between 0 and 1 \(e.g. 0.95\), got 95$"):
        evaluate_with_statistics(gt, dets, confidence=95)
