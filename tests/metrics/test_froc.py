"""FROC against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_evaluate_detections import TARGET, det, make_gt

from mdfnet.metrics.froc import ALL_CLASSES, froc, froc_curve, sensitivity_at

L1, L2, L3 = TARGET, [10.0, 60.0, 20.0, 20.0], [60.0, 10.0, 30.0, 30.0]
MISS = [85.0, 85.0, 10.0, 10.0]


def hand_case() -> tuple[dict, list[dict]]:
    """4 images, 2 of them normal. Lesion a: L1 on image 1, L2 on image 2; lesion b: L3 on image 1."""
    gt = make_gt({1: [(1, L1), (2, L3)], 2: [(1, L2)]}, n_images=4)
    dets = [
        det(1, 1, L1, 0.9),    # hit (a)
        det(3, 1, MISS, 0.8),  # FP (a), a normal image
        det(1, 2, L3, 0.7),    # hit (b)
        det(4, 2, MISS, 0.6),  # FP (b)
        det(1, 1, L1, 0.5),    # FP (a): L1 is already found
        det(2, 1, L2, 0.4),    # hit (a)
        det(3, 1, MISS, 0.3),  # FP (a)
        det(4, 1, MISS, 0.2),  # FP (a)
    ]
    return gt, dets


def test_per_class_sensitivities_worked_out_by_hand():
    m = froc(*hand_case())
    # Lesion a, 2 lesions, 4 images. Points (FP/image, sensitivity) per distinct score:
    # (0, 0) (0, .5) (.25, .5) (.5, .5) (.5, 1) (.75, 1) (1, 1).
    # Highest sensitivity with FP/image <= rate: 1/8 -> .5, 1/4 -> .5, 1/2 -> 1, then 1.
    a = [m[f"Sens@{f}FP_IoBB_0.50_Lesion_a"] for f in ("0.125", "0.25", "0.5", "1", "2", "4", "8")]
    assert a == [0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert m["mFROC_IoBB_0.50_Lesion_a"] == pytest.approx(6 / 7)
    assert m["mFROC4_IoBB_0.50_Lesion_a"] == 1.0
    assert m["froc_curves"]["Lesion a"] == {"fp_per_image": [0.0, 0.0, 0.25, 0.5, 0.5, 0.75, 1.0],
                                            "sensitivity": [0.0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0]}
    # Lesion b: hit then FP: (0, 0) (0, 1) (.25, 1): 1 at every rate.
    assert m["mFROC_IoBB_0.50_Lesion_b"] == 1.0 and m["Sens@0.125FP_IoBB_0.50_Lesion_b"] == 1.0


def test_pooled_sensitivities_worked_out_by_hand():
    m = froc(*hand_case())
    # All 3 lesions, all FPs, one score cut: after each detection (score .9 ... .2):
    # (0, 1/3) (.25, 1/3) (.25, 2/3) (.5, 2/3) (.75, 2/3) (.75, 1) (1, 1) (1.25, 1).
    # 1/8 -> 1/3; 1/4 -> 2/3; 1/2 -> 2/3; 1, 2, 4, 8 -> 1.
    pooled = [m[f"Sens@{f}FP_IoBB_0.50"] for f in ("0.125", "0.25", "0.5", "1", "2", "4", "8")]
    assert pooled == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1])
    assert m["mFROC_IoBB_0.50"] == pytest.approx((1 / 3 + 2 / 3 + 2 / 3 + 4) / 7)  # 17/21
    assert m["mFROC4_IoBB_0.50"] == pytest.approx((2 / 3 + 3) / 4)  # 11/12
    assert m["froc_curves"][ALL_CLASSES]["sensitivity"][-1] == 1.0


def test_a_class_without_lesions_is_nan_and_has_no_curve():
    gt = make_gt({1: [(1, L1)]}, n_images=2)
    m = froc(gt, [det(1, 1, L1, 0.9), det(2, 2, MISS, 0.8)])
    assert math.isnan(m["mFROC_IoBB_0.50_Lesion_b"]) and math.isnan(m["Sens@1FP_IoBB_0.50_Lesion_b"])
    assert set(m["froc_curves"]) == {ALL_CLASSES, "Lesion a"}
    # Pooled: the hit (0, 1) comes first, so the class-b FP costs nothing.
    assert m["mFROC_IoBB_0.50"] == 1.0


def test_tied_scores_are_one_cut():
    """A hit and a FP with the same score: no cut keeps one without the other, so the curve jumps from
    (0, 0) to (1/2, 1) on 2 images; the step rule reads 0 below 1/2 (linear interpolation would give 1/4
    at 1/8 FP per image)."""
    gt = make_gt({1: [(1, L1)]}, n_images=2)
    m = froc(gt, [det(2, 1, MISS, 0.5), det(1, 1, L1, 0.5)])
    assert m["froc_curves"]["Lesion a"] == {"fp_per_image": [0.0, 0.5], "sensitivity": [0.0, 1.0]}
    assert [m[f"Sens@{f}FP_IoBB_0.50"] for f in ("0.125", "0.25", "0.5", "8")] == [0.0, 0.0, 1.0, 1.0]


def test_iou_is_the_hit_criterion_when_asked():
    gt = make_gt({1: [(1, L1)]})
    inner = det(1, 1, [30, 30, 10, 10], 0.9)  # IoBB 1, IoU 100 / 1600
    assert froc(gt, [inner])["mFROC_IoBB_0.50"] == 1.0
    iou = froc(gt, [inner], overlap="iou")
    assert iou["mFROC_IoU_0.50"] == 0.0 and "mFROC_IoBB_0.50" not in iou
    assert froc(gt, [inner], overlap="iou", threshold=0.05)["mFROC_IoU_0.05"] == 1.0


def test_no_detections_gives_zero_sensitivity():
    m = froc(make_gt({1: [(1, L1)]}, n_images=3), [])
    assert m["mFROC_IoBB_0.50"] == 0.0 and m["froc_curves"][ALL_CLASSES] == {"fp_per_image": [0.0],
                                                                                "sensitivity": [0.0]}


def test_curve_and_reading_rule_on_arrays():
    fp, sens = froc_curve(np.array([0.9, 0.8, 0.7]), np.array([False, True, True]), n_lesions=4, n_images=8)
    assert fp.tolist() == [0.0, 0.125, 0.125, 0.125] and sens.tolist() == [0.0, 0.0, 0.25, 0.5]
    # Exactly 1/8 FP per image is "at most 1/8"; below it only the origin.
    assert sensitivity_at(fp, sens, [0.1, 0.125, 8]).tolist() == [0.0, 0.5, 0.5]
