"""Metric keys are spelled in one place."""

from __future__ import annotations

import pytest

from mdfnet.metrics.keys import (AP_50, HEADLINE, SELECTABLE, MetricKey, ci_key, count_key, diff_key, is_threshold_key,
                                 mean_column, metric_key, p_key, parse_metric_key, sd_column, split_key)


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


def test_parse_metric_key_reads_back_what_metric_key_builds():
    assert parse_metric_key("AP_IoBB_0.50") == MetricKey("AP", "iobb", 0.5, None)
    assert parse_metric_key(metric_key("AR", 0.75, "iou", "Pleural abnormality")) == \
        MetricKey("AR", "iou", 0.75, "Pleural_abnormality")
    assert parse_metric_key("AP_IoBB_mean") == MetricKey("AP", "iobb", None, None)
    assert parse_metric_key("Sens@0.125FP_IoBB_0.50") == MetricKey("Sens@0.125FP", "iobb", 0.5, None)
    assert parse_metric_key("n_images") is None and parse_metric_key("val_AP_IoBB_0.50") is None
    assert parse_metric_key("AP_GIoU_0.50") is None and parse_metric_key("AP_IoBB_0.5") is None


def test_threshold_keys_split_keys_counts_and_headline():
    assert [k for k in ("AP_IoBB_0.35", "AR_IoBB_0.95", "AP_IoBB_mean", "AP_IoBB_0.50_Atelectasis", "AP_IoU_0.50",
                        "mFROC_IoBB_0.50") if is_threshold_key(k)] == ["AP_IoBB_0.35", "AR_IoBB_0.95"]
    assert is_threshold_key("AP_IoU_0.50", "iou")
    assert (split_key(AP_50, "val"), split_key(AP_50, "train"), split_key(AP_50, "test")) == \
        ("val_AP_IoBB_0.50", "train_AP_IoBB_0.50", "AP_IoBB_0.50")
    assert count_key("FP", "Pulmonary edema") == "FP_Pulmonary_edema"
    assert HEADLINE == ("AP_IoBB_0.50", "AR_IoBB_0.50")
    assert SELECTABLE == ("AP_IoBB_0.50", "AR_IoBB_0.50", "AP_IoBB_0.75", "AR_IoBB_0.75", "AP_IoBB_mean",
                          "AR_IoBB_mean", "AP_IoU_0.50", "AR_IoU_0.50", "AP_IoU_0.75", "AR_IoU_0.75", "AP_IoU_mean",
                          "AR_IoU_mean")
    assert (mean_column(AP_50), sd_column(AP_50)) == ("AP_IoBB_0.50 mean", "AP_IoBB_0.50 sd")


def test_statistics_keys():
    from mdfnet.metrics.keys import (bound_keys, gap_key, parse_subgroup_key, seed_diff_columns, seed_diff_key,
                                     subgroup_key)

    assert subgroup_key("AP_IoBB_0.50", "age", "80+") == "AP_IoBB_0.50@age=80+"
    assert parse_subgroup_key("AP_IoBB_0.50@age=80+") == ("AP_IoBB_0.50", "age", "80+")
    assert parse_subgroup_key("AR_IoBB_0.50@clinical=incomplete") == ("AR_IoBB_0.50", "clinical", "incomplete")
    assert parse_subgroup_key("AP_IoBB_0.50") is None and parse_subgroup_key("AP@age") is None
    assert gap_key("AP_IoBB_0.50") == "AP_IoBB_0.50_subgroup_gap"
    assert bound_keys(ci_key("AP_IoBB_0.50")) == ("AP_IoBB_0.50_ci95_low", "AP_IoBB_0.50_ci95_high")
    assert seed_diff_key("AR_IoBB_0.50") == "AR_IoBB_0.50_diff_seeds"
    assert seed_diff_columns("AR_IoBB_0.50") == ("AR_IoBB_0.50_diff_seeds_mean", "AR_IoBB_0.50_diff_seeds_sd")
