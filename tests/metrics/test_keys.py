"""Metric keys are spelled in one place."""

from __future__ import annotations

import pytest

from mdfnet.metrics.keys import ci_key, diff_key, metric_key, p_key


def test_metric_keys():
    assert metric_key("AP") == "AP_IoBB_0.50"
    assert metric_key("AR", 0.05, "iou") == "AR_IoU_0.05"
    assert metric_key("AP", None) == "AP_IoBB_mean"
    assert metric_key("mFROC4", 0.5, "iobb", "Pleural abnormality") == "mFROC4_IoBB_0.50_Pleural_abnormality"
    with pytest.raises(ValueError, match=r"overlap must be one of \('iobb', 'iou'\), got 'giou'"):
        metric_key("AP", 0.5, "giou")


def test_derived_keys():
    assert ci_key("AP_IoBB_0.50") == "AP_IoBB_0.50_ci95"
    assert ci_key("AP_IoBB_0.50", 0.9) == "AP_IoBB_0.50_ci90" and ci_key("AR_IoU_0.50", 0.999) == "AR_IoU_0.50_ci99.9"
    assert ci_key(diff_key("AP_IoBB_0.50")) == "AP_IoBB_0.50_diff_ci95"
    assert p_key("AR_IoBB_mean") == "AR_IoBB_mean_p"


def test_statistics_keys():
    from mdfnet.metrics.keys import bound_keys, gap_key, parse_subgroup_key, seed_diff_key, subgroup_key

    assert subgroup_key("AP_IoBB_0.50", "age", "80+") == "AP_IoBB_0.50@age=80+"
    assert parse_subgroup_key("AP_IoBB_0.50@age=80+") == ("AP_IoBB_0.50", "age", "80+")
    assert parse_subgroup_key("AR_IoBB_0.50@clinical=incomplete") == ("AR_IoBB_0.50", "clinical", "incomplete")
    assert parse_subgroup_key("AP_IoBB_0.50") is None and parse_subgroup_key("AP@age") is None
    assert gap_key("AP_IoBB_0.50") == "AP_IoBB_0.50_subgroup_gap"
    assert bound_keys(ci_key("AP_IoBB_0.50")) == ("AP_IoBB_0.50_ci95_low", "AP_IoBB_0.50_ci95_high")
    assert seed_diff_key("AR_IoBB_0.50") == "AR_IoBB_0.50_diff_seeds"
