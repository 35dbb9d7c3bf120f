"""The demo end to end at a toy budget, and its summary arithmetic by hand."""

import json

import pandas as pd
import pytest
from PIL import Image

from mdfnet.cli import main
from mdfnet.experiments.demo import first_seed_test_predictions, summarise, verdict
from mdfnet.report.plots import CURVES_SIZE


def test_summary_pairs_seeds_and_checks_the_claim():
    runs = pd.DataFrame({
        "variant": ["baseline"] * 3 + ["mdf"] * 3, "seed": [0, 1, 2] * 2,
        "AP_IoBB_0.50": [0.30, 0.32, 0.28, 0.45, 0.44, 0.46], "AR_IoBB_0.50": [0.5] * 6,
    })
    s = summarise(runs)
    assert s["gap_AP_IoBB_0.50"] == pytest.approx([0.15, 0.12, 0.18])
    assert s["gap_mean"] == pytest.approx(0.15) and s["gap_sd"] == pytest.approx(0.03)
    assert s["gap_at_least_10_points"] and s["gap_over_2sd"]
    assert s["baseline_AP_IoBB_0.50_mean"] == pytest.approx(0.30)
    assert "+15.0 +- 3.0 AP points" in verdict(s) and "shown" in verdict(s)
    runs.loc[runs["variant"] == "mdf", "AP_IoBB_0.50"] = [0.35, 0.30, 0.40]  # gaps 5, -2, 12
    s = summarise(runs)
    assert not s["gap_at_least_10_points"] and not s["gap_over_2sd"]
    assert "NOT shown" in verdict(s)


def test_overlays_read_the_checkpoint_each_run_was_evaluated_from(tmp_path):
    runs = pd.DataFrame({"variant": ["baseline", "baseline", "mdf"], "seed": [1, 0, 0],
                         "run": ["runs/variant-baseline/seed_1", "runs/variant-baseline/seed_0", "runs/variant-mdf/seed_0"],
                         "checkpoint": ["best", "last", "best"]})  # validation never defined: evaluated from last.pt
    assert first_seed_test_predictions(tmp_path, runs, "baseline") == \
        tmp_path / "runs" / "variant-baseline" / "seed_0" / "eval_test_last" / "predictions.json"
    assert first_seed_test_predictions(tmp_path, runs, "mdf") == \
        tmp_path / "runs" / "variant-mdf" / "seed_0" / "eval_test_best" / "predictions.json"


def test_demo_runs_end_to_end_at_a_toy_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--patients", "30", "--seeds", "0", "1", "--jobs", "1",
            "model.image_size=64", "train.epochs=1"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and len(summary["gap_AP_IoBB_0.50"]) == 2
    report = (out / "report.md").read_text()
    assert "| baseline (image only) |" in report and "| MDF-Net (image + clinical) |" in report
    assert "Paired bootstrap over the same resampled test patients" in report
    assert len(summary["paired_AP_IoBB_0.50_diff_ci95"]) == 2 and 0 < summary["paired_AP_IoBB_0.50_p"] <= 1
    with Image.open(out / "study" / "variants_thresholds.png") as curves:
        assert curves.size == CURVES_SIZE
    runs = pd.read_csv(out / "study" / "variants_runs.csv")
    assert sorted(runs["variant"]) == ["baseline", "baseline", "mdf", "mdf"]
    printed = capsys.readouterr().out
    assert "== 1/4" in printed and "== 4/4 report" in printed
    # a rerun reuses every stage and trains nothing
    assert main(args) == 0
    assert capsys.readouterr().out.count(": reused") == 4


def test_paired_summary_reads_the_study_table():
    from mdfnet.experiments.demo import paired_summary, paired_text

    table = pd.DataFrame({
        "variant": ["baseline", "mdf"],
        "AP_IoBB_0.50_ci95_low": [0.30, 0.45], "AP_IoBB_0.50_ci95_high": [0.40, 0.55],
        "AR_IoBB_0.50_ci95_low": [0.60, 0.65], "AR_IoBB_0.50_ci95_high": [0.70, 0.75],
        "AP_IoBB_0.50_diff": [float("nan"), 0.136], "AP_IoBB_0.50_diff_ci95_low": [float("nan"), 0.102],
        "AP_IoBB_0.50_diff_ci95_high": [float("nan"), 0.170], "AP_IoBB_0.50_p": [float("nan"), 0.002],
        "AR_IoBB_0.50_diff": [float("nan"), 0.063], "AR_IoBB_0.50_diff_ci95_low": [float("nan"), -0.01],
        "AR_IoBB_0.50_diff_ci95_high": [float("nan"), 0.12], "AR_IoBB_0.50_p": [float("nan"), 0.09],
    })
    s = paired_summary(table)
    assert s["baseline_AP_IoBB_0.50_ci95"] == [0.30, 0.40] and s["mdf_AR_IoBB_0.50_ci95"] == [0.65, 0.75]
    assert s["paired_AP_IoBB_0.50_diff"] == 0.136 and s["paired_AP_IoBB_0.50_diff_ci95"] == [0.102, 0.170]
    assert s["paired_AR_IoBB_0.50_p"] == 0.09
    assert paired_text(s) == ("Paired bootstrap over the same resampled test patients (each model the mean over "
                              "seeds): MDF-Net - baseline AP +13.6 [+10.2, +17.0] points, p 0.002; "
                              "AR +6.3 [-1.0, +12.0] points, p 0.09")
