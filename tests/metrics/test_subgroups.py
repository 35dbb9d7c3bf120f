"""Subgroup levels from cohort rows, metrics per level, and the largest gap, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_evaluate_detections import TARGET, det, make_gt

from mdfnet.metrics.bootstrap import bootstrap_metrics
from mdfnet.metrics.subgroups import largest_gap, subgroup_gap, subgroup_levels, subgroup_metrics, subgroup_values
from mdfnet.schema import CLINICAL_FEATURES


def test_levels_of_each_reading():
    frame = pd.DataFrame({feature: [1.0] * 8 for feature in CLINICAL_FEATURES})
    frame["age"] = [44.9, 45, 64.99, 65, 79, 80, 103, np.nan]
    frame["gender"] = ["F", "M", np.nan, "F", "M", "F", "M", "F"]
    frame["acuity"] = [1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 1.0, 2.0]
    frame.loc[4, "pain"] = np.nan
    levels = subgroup_levels(frame)
    assert levels["age"] == ["<45", "45-64", "45-64", "65-79", "65-79", "80+", "80+", "missing"]
    assert levels["gender"] == ["F", "M", "missing", "F", "M", "F", "M", "F"]
    assert levels["acuity"] == ["1", "2", "3", "4", "5", "missing", "1", "2"]
    # a missing pain, acuity, gender or age makes the reading's clinical data incomplete
    assert levels["clinical"] == ["complete", "complete", "incomplete", "complete", "incomplete", "incomplete",
                                  "complete", "incomplete"]


def test_each_level_is_evaluated_on_its_readings_alone():
    gt = make_gt({1: [(1, TARGET)], 2: [(1, TARGET)], 3: [(1, TARGET)]})
    dets = [det(1, 1, TARGET, 0.9), det(2, 1, [0, 0, 5, 5], 0.8), det(3, 1, TARGET, 0.7)]
    levels = {"gender": {1: "F", 2: "M", 3: "F"}, "clinical": {1: "complete", 2: "complete", 3: "complete"}}
    out = subgroup_metrics(gt, dets, levels, {1: "p1", 2: "p2", 3: "p1"}, n_resamples=30, seed=4)
    women, men = out["gender"]["F"], out["gender"]["M"]
    assert list(out["gender"]) == ["F", "M"]
    assert (women["n_readings"], women["n_patients"], women["n_boxes"]) == (2, 1, 2)
    assert women["AP_IoBB_0.50"] == 1.0 and women["AP_IoBB_0.50_ci95"] == [1.0, 1.0]  # one patient: no spread
    assert men["AP_IoBB_0.50"] == 0.0 and men["AR_IoBB_0.50"] == 0.0
    # all readings: the miss of image 2 ranks between the hits: precision 1, 1/2, 2/3 at recall 1/3, 1/3, 2/3
    everyone = out["clinical"]["complete"]
    expected = bootstrap_metrics(gt, dets, {1: "p1", 2: "p2", 3: "p1"}, n_resamples=30, seed=4)
    assert everyone["AP_IoBB_0.50"] == pytest.approx((34 * 1 + 33 * 2 / 3) / 101)
    assert everyone["AP_IoBB_0.50_ci95"] == expected["AP_IoBB_0.50_ci95"]
    assert subgroup_values(out, "AP_IoBB_0.50", min_readings=2) == {"AP_IoBB_0.50@gender=F": 1.0,
                                                                    "AP_IoBB_0.50@clinical=complete": everyone[
                                                                        "AP_IoBB_0.50"]}


def test_largest_gap_over_large_enough_levels():
    values = {"gender": {"F": 0.5, "M": 0.4}, "age": {"<45": 0.7, "45-64": float("nan"), "80+": 0.3},
              "acuity": {"3": 0.9}}
    assert largest_gap(values) == {"attribute": "age", "high": "<45", "low": "80+", "high_value": 0.7,
                                   "low_value": 0.3, "gap": pytest.approx(0.4)}
    assert largest_gap({"acuity": {"3": 0.9, "4": None}}) is None
    subgroups = {"age": {"<45": {"n_readings": 12, "AP": 0.7}, "80+": {"n_readings": 9, "AP": 0.3}},
                 "gender": {"F": {"n_readings": 11, "AP": 0.5}, "M": {"n_readings": 10, "AP": 0.45}}}
    gap = subgroup_gap(subgroups, "AP")  # 80+ has 9 readings: left out, so gender's 0.05 is the largest
    assert (gap["attribute"], gap["high"], gap["low"], gap["min_readings"]) == ("gender", "F", "M", 10)
    assert math.isclose(gap["gap"], 0.05)
    assert subgroup_gap(subgroups, "AP", min_readings=12) is None
