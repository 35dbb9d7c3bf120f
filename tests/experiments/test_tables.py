"""Mean +- sd over seeds, checked by hand, and the Markdown rendering."""

import math

import pandas as pd
import pytest

from mdfnet.experiments.tables import aggregate, format_mean_sd, to_markdown, write_tables

RUNS = pd.DataFrame({
    "variant": ["a", "a", "b", "a"],
    "seed": [0, 1, 0, 2],
    "AP_IoBB_0.50": [0.2, 0.4, 0.1, float("nan")],  # seed 2 of a: AP undefined
    "AR_IoBB_0.50": [0.5, 0.7, 0.3, 0.6],
    "val_AP_IoBB_0.50": [0.1, 0.3, 0.2, 0.2],
})


def test_aggregate_means_and_sample_sds_by_hand():
    table = aggregate(RUNS, ["variant"], ["AP_IoBB_0.50", "AR_IoBB_0.50", "val_AP_IoBB_0.50"])
    assert list(table.columns) == ["variant", "AP_IoBB_0.50 mean", "AP_IoBB_0.50 sd", "AR_IoBB_0.50 mean",
                                   "AR_IoBB_0.50 sd", "n_seeds", "val_AP_IoBB_0.50 mean", "val_AP_IoBB_0.50 sd"]
    a, b = table.iloc[0], table.iloc[1]
    assert (a["variant"], a["n_seeds"], b["variant"], b["n_seeds"]) == ("a", 3, "b", 1)
    assert a["AP_IoBB_0.50 mean"] == pytest.approx(0.3)        # the NaN seed is left out
    assert a["AP_IoBB_0.50 sd"] == pytest.approx(math.sqrt(0.02))  # ((0.1^2 + 0.1^2) / (2 - 1)) ** 0.5
    assert a["AR_IoBB_0.50 mean"] == pytest.approx(0.6)
    assert a["AR_IoBB_0.50 sd"] == pytest.approx(0.1)           # 0.5, 0.7, 0.6
    assert a["val_AP_IoBB_0.50 sd"] == pytest.approx(0.1)       # 0.1, 0.3, 0.2
    assert b["AP_IoBB_0.50 mean"] == pytest.approx(0.1) and math.isnan(b["AP_IoBB_0.50 sd"])


def test_markdown_shows_mean_plus_minus_sd_and_a_lone_mean_for_one_seed(tmp_path):
    table = aggregate(RUNS, ["variant"], ["AP_IoBB_0.50", "AR_IoBB_0.50", "val_AP_IoBB_0.50"])
    text = to_markdown(table, "T")
    assert text.splitlines() == [
        "## T", "",
        "| variant | AP_IoBB_0.50 | AR_IoBB_0.50 | n_seeds | val_AP_IoBB_0.50 |",
        "|---|---|---|---|---|",
        "| a | 0.300 +- 0.141 | 0.600 +- 0.100 | 3 | 0.200 +- 0.100 |",
        "| b | 0.100 | 0.300 | 1 | 0.200 |",
    ]
    assert format_mean_sd(float("nan"), float("nan")) == "n/a"
    paths = write_tables(RUNS, table, tmp_path, "variants", "T")
    assert [p.name for p in paths.values()] == ["variants_runs.csv", "variants.csv", "variants.md"]
    assert len(pd.read_csv(paths["runs"])) == 4 and len(pd.read_csv(paths["csv"])) == 2


def test_subgroup_gap_line_needs_two_subgroups_of_one_attribute():
    from mdfnet.experiments.tables import subgroup_gap_line

    runs = RUNS.assign(**{"AP_IoBB_0.50@age=<45": [0.5, 0.7, 0.2, 0.6], "AP_IoBB_0.50@gender=F": [0.1] * 4})
    assert subgroup_gap_line(runs, ["variant"]) == (
        "Largest subgroup gap in test AP_IoBB_0.50: none to show (mean over seeds; subgroups of at least 10 test "
        "readings: no attribute has two).")
    runs["AP_IoBB_0.50@age=80+"] = [0.3, 0.3, 0.4, 0.3]  # a: <45 0.6 vs 80+ 0.3; b: 0.2 vs 0.4
    assert subgroup_gap_line(runs, ["variant"]) == (
        "Largest subgroup gap in test AP_IoBB_0.50 (mean over seeds; subgroups of at least 10 test readings): "
        "variant=a, age <45 0.600 vs 80+ 0.300, a gap of 0.300.")
