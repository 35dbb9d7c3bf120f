"""Paired comparison: differences over the same resampled patients, the p-value rule, per-seed
differences, and two ground truths that must describe the same cohort and split."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from test_bootstrap import patients
from test_evaluate_detections import TARGET, det, make_gt, random_case

from mdfnet.errors import InputError
from mdfnet.metrics.bootstrap import bootstrap_metrics
from mdfnet.metrics.paired import bootstrap_p_value, check_same_cohort, paired_bootstrap, seed_differences


def two_detectors(seed: int) -> tuple[dict, list[dict], list[dict]]:
    """A: random detections; B: the same plus a well-placed box on every lesion."""
    gt, dets_a = random_case(seed, n_images=20, max_dets=6)
    found = [det(a["image_id"], a["category_id"], a["bbox"], 0.99) for a in gt["annotations"]]
    return gt, dets_a, dets_a + found


def test_differences_are_over_the_same_resampled_patients():
    gt, dets_a, dets_b = two_detectors(3)
    groups = patients(gt, 3)
    paired = paired_bootstrap(gt, dets_a, dets_b, groups, n_resamples=50, seed=4)
    a = bootstrap_metrics(gt, dets_a, groups, n_resamples=50, seed=4, return_resamples=True)
    b = bootstrap_metrics(gt, dets_b, groups, n_resamples=50, seed=4, return_resamples=True)
    d = b["resamples"]["AP_IoBB_0.50"] - a["resamples"]["AP_IoBB_0.50"]
    assert paired["AP_IoBB_0.50_diff"] == pytest.approx(b["AP_IoBB_0.50"] - a["AP_IoBB_0.50"], abs=1e-15)
    assert paired["AP_IoBB_0.50_diff_ci95"] == pytest.approx(np.percentile(d, [2.5, 97.5]).tolist(), abs=1e-15)
    assert paired["a"]["AP_IoBB_0.50_ci95"] == a["AP_IoBB_0.50_ci95"]
    assert paired["b"]["AR_IoBB_0.50_ci95"] == b["AR_IoBB_0.50_ci95"]
    # B finds every lesion first, so it is better in every resample: the smallest p-value 2 / (B + 1).
    assert (d > 0).all() and paired["AP_IoBB_0.50_p"] == pytest.approx(2 / 51)
    assert paired["AP_IoBB_0.50_diff_ci95"][0] > 0
    assert paired["bootstrap"]["p_value"].startswith("two-sided: min(1, 2 * (1 + min(#{d* <= 0}, #{d* >= 0}))")


def test_a_detector_against_itself_differs_by_zero_with_p_one():
    gt, dets, _ = two_detectors(5)
    paired = paired_bootstrap(gt, dets, copy.deepcopy(dets), n_resamples=20)
    assert paired["AP_IoBB_0.50_diff"] == 0.0 and paired["AP_IoBB_0.50_diff_ci95"] == [0.0, 0.0]
    assert paired["AP_IoBB_0.50_p"] == 1.0 and paired["AR_IoBB_mean_p"] == 1.0


def test_p_value_rule_on_hand_values():
    # d* <= 0: 2 (-0.1, 0); d* >= 0: 3 (0, 0.1, 0.2): 2 * (1 + 2) / (4 + 1) > 1 -> 1.
    assert bootstrap_p_value(np.array([0.1, 0.2, -0.1, 0.0, np.nan])) == 1.0
    assert bootstrap_p_value(np.array([0.1] * 9 + [-0.1])) == pytest.approx(4 / 11)  # 2 * (1 + 1) / 11
    assert bootstrap_p_value(np.full(19, -0.3)) == pytest.approx(0.1)  # 2 * (1 + 0) / 20
    assert math.isnan(bootstrap_p_value(np.array([np.nan, np.nan])))


def test_seed_differences_mean_and_sd():
    runs_a = {0: {"AP_IoBB_0.50": 0.20}, 1: {"AP_IoBB_0.50": 0.30}, 2: {"AP_IoBB_0.50": 0.25}}
    runs_b = {2: {"AP_IoBB_0.50": 0.40}, 0: {"AP_IoBB_0.50": 0.30}, 1: {"AP_IoBB_0.50": 0.35}}
    out = seed_differences(runs_a, runs_b, ["AP_IoBB_0.50"])
    assert out["seeds"] == [0, 1, 2]
    assert out["diffs"]["AP_IoBB_0.50"] == pytest.approx([0.10, 0.05, 0.15])
    assert out["mean"]["AP_IoBB_0.50"] == pytest.approx(0.10)
    assert out["sd"]["AP_IoBB_0.50"] == pytest.approx(0.05)  # sqrt((0 + 0.0025 + 0.0025) / 2)
    one = seed_differences({0: {"AP_IoBB_0.50": None}}, {0: {"AP_IoBB_0.50": 0.4}}, ["AP_IoBB_0.50"])
    assert math.isnan(one["diffs"]["AP_IoBB_0.50"][0]) and math.isnan(one["sd"]["AP_IoBB_0.50"])


def test_seed_differences_name_the_missing_seed_or_key():
    with pytest.raises(InputError, match=r"^seed 2: side B has a run, side A has none; a paired comparison needs "
                                         r"the same seeds on both sides \(A: \[0, 1\], B: \[0, 1, 2\]\)$"):
        seed_differences({0: {}, 1: {}}, {0: {}, 1: {}, 2: {}}, ["AP_IoBB_0.50"])
    with pytest.raises(InputError, match=r"^seed 0: side A's metrics have no 'AP_IoBB_0.50'$"):
        seed_differences({0: {}}, {0: {"AP_IoBB_0.50": 0.1}}, ["AP_IoBB_0.50"])


def test_same_cohort_in_any_annotation_order_passes():
    gt = make_gt({1: [(1, TARGET), (2, [1, 2, 3, 4])], 2: [(1, [5, 5, 5, 5])]})
    shuffled = {**gt, "annotations": [{**a, "id": 10 + i} for i, a in enumerate(reversed(gt["annotations"]))]}
    check_same_cohort(gt, shuffled)


@pytest.mark.parametrize(("change", "message"), [
    (lambda gt: gt["images"].pop(), r"image 2 is in run A's ground truth, not in run B's$"),
    (lambda gt: gt["images"][0].update(width=50), r"image 1 is \{'id': 1, 'width': 100, 'height': 100\} in run A, "
                                                  r"\{'id': 1, 'width': 50, 'height': 100\} in run B$"),
    (lambda gt: gt["categories"].pop(), r"categories \[\(1, 'Lesion a'\), \(2, 'Lesion b'\)\] in run A, "
                                        r"\[\(1, 'Lesion a'\)\] in run B$"),
    (lambda gt: gt["annotations"][2].update(bbox=[5, 5, 5, 6]),
     r"image 2 has boxes \(category, \[x, y, w, h\], crowd\) \[\(1, \[5.0, 5.0, 5.0, 5.0\], 0\)\] in run A, "
     r"\[\(1, \[5.0, 5.0, 5.0, 6.0\], 0\)\] in run B$"),
])
def test_different_cohorts_or_splits_name_the_first_difference(change, message):
    gt = make_gt({1: [(1, TARGET), (2, [1, 2, 3, 4])], 2: [(1, [5, 5, 5, 5])]})
    other = copy.deepcopy(gt)
    change(other)
    with pytest.raises(InputError, match="^run A and run B are not on the same cohort and split: " + message):
        check_same_cohort(gt, other, names=("run A", "run B"))


def test_paired_bad_input_is_one_clear_line():
    gt, dets, _ = two_detectors(5)
    with pytest.raises(InputError, match=r"^n_resamples: expected an integer >= 1, got 0$"):
        paired_bootstrap(gt, dets, dets, n_resamples=0)
    with pytest.raises(InputError, match=r"image_id 99 is not an image of the ground truth"):
        paired_bootstrap(gt, dets, [det(99, 1, TARGET, 0.5)], n_resamples=5)


def test_several_runs_per_side_are_averaged_in_every_resample():
    from mdfnet.metrics.bootstrap import resample_metrics
    from mdfnet.metrics.paired import paired_difference

    gt, dets_a, dets_b = two_detectors(3)
    groups = patients(gt, 3)

    def resampled(dets):
        return resample_metrics(gt, dets, groups, overlap="iobb", thresholds=(0.5,), n_resamples=40, seed=2,
                                max_dets=10, max_dets_per="image_class", score_threshold=0.05)

    a, b = resampled(dets_a), resampled(dets_b)
    out = paired_difference([a, b], [b, b])  # side A: the mean of A and B, side B: B
    mean_a = (a.resamples["AP_IoBB_0.50"] + b.resamples["AP_IoBB_0.50"]) / 2
    d = b.resamples["AP_IoBB_0.50"] - mean_a
    assert out["a"]["AP_IoBB_0.50"] == pytest.approx((a.point["AP_IoBB_0.50"] + b.point["AP_IoBB_0.50"]) / 2)
    assert out["AP_IoBB_0.50_diff"] == pytest.approx((b.point["AP_IoBB_0.50"] - a.point["AP_IoBB_0.50"]) / 2)
    assert out["AP_IoBB_0.50_diff_ci95"] == pytest.approx(np.percentile(d, [2.5, 97.5]).tolist())
    assert out["AP_IoBB_0.50_p"] == bootstrap_p_value(d)
    # one run per side is paired_bootstrap's comparison
    single = paired_difference([a], [b])
    reference = paired_bootstrap(gt, dets_a, dets_b, groups, n_resamples=40, seed=2)
    assert single["AP_IoBB_0.50_diff_ci95"] == reference["AP_IoBB_0.50_diff_ci95"]
    other = resample_metrics(gt, dets_a, None, overlap="iobb", thresholds=(0.5,), n_resamples=40, seed=2,
                             max_dets=10, max_dets_per="image_class", score_threshold=0.05)
    with pytest.raises(InputError, match=r"^runs resampled differently \(groups, resamples\): \[\(12, 40\), "
                                         r"\(20, 40\)\]; resample every run with the same groups"):
        paired_difference([a], [other])
