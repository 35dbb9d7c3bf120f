"""Every study row against the reference row: intervals, paired differences, per-seed differences and the
largest subgroup gap, on evaluations of planned detectors (tests/evaluation_case.py), no training."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evaluation_case import evaluate_planned, write_case_cohort

from mdfnet.experiments import runner
from mdfnet.experiments.compare import study_comparisons
from mdfnet.experiments.studies import get_study, study_specs
from mdfnet.layout import RunLayout

AP_A = (1 + 41 * 0.4 / 101) / 2  # detector A's AP at IoBB 0.5; B's is 1 (tests/engine/test_evaluate_statistics.py)
YOUNG_A = (1 + 81 * 0.8 / 101) / 2  # A on readings of age < 45; 0.5 on 65-79; B: 1 on both


@pytest.fixture(scope="module")
def study(tmp_path_factory, cohort_writer, make_config):
    """A fusion study folder: ``sum`` (the reference) is detector A on seeds 0 and 1, ``hadamard`` is B on
    seed 0 and A on seed 1; each run evaluated on val and test."""
    root = tmp_path_factory.mktemp("study")
    cohort = write_case_cohort(root / "cohort", cohort_writer)
    for detector in "AB":
        run = RunLayout(root / detector)
        evaluate_planned(detector, cohort, make_config, run.eval_dir("test", "best"), n_resamples=20)
        shutil.copytree(run.eval_dir("test", "best"), run.eval_dir("val", "best"))
    out, rows = root / "out", []
    specs = {spec.labels["fusion"]: spec for spec in study_specs("fusion")}
    for fusion, detectors in (("sum", "AA"), ("hadamard", "BA")):
        for seed, detector in enumerate(detectors):
            run = Path("runs") / specs[fusion].slug / f"seed_{seed}"
            shutil.copytree(root / detector, out / run)
            metrics = {s: runner.read_metrics(RunLayout(out / run).eval_metrics(s, "best")) for s in ("val", "test")}
            rows.append(runner.run_row(specs[fusion], seed, run, "best", metrics))
    return out, pd.DataFrame(rows), specs


def test_rows_against_the_reference(study):
    out, runs, specs = study
    table = study_comparisons(out, runs, ["fusion", "kind"], specs["sum"].labels, n_resamples=100)
    reference, hadamard = table.iloc[0], table.iloc[1]
    assert list(table["fusion"]) == ["sum", "hadamard"]
    assert np.isnan(reference["AP_IoBB_0.50_diff"]) and np.isnan(reference["AP_IoBB_0.50_p"])
    assert hadamard["AP_IoBB_0.50_diff"] == pytest.approx((1 - AP_A) / 2)  # seed means: (1 + A) / 2 - A
    assert hadamard["AP_IoBB_0.50_diff_ci95_low"] > 0 and hadamard["AP_IoBB_0.50_p"] == pytest.approx(2 / 101)
    assert hadamard["AP_IoBB_0.50_diff_seeds_mean"] == pytest.approx((1 - AP_A) / 2)
    assert hadamard["AP_IoBB_0.50_diff_seeds_sd"] == pytest.approx((1 - AP_A) / np.sqrt(2))
    assert reference["AP_IoBB_0.50_ci95_low"] < AP_A < reference["AP_IoBB_0.50_ci95_high"]
    assert hadamard["AR_IoBB_0.50_diff"] == pytest.approx(0.15)


def test_finish_study_writes_the_comparison_and_the_subgroup_gap(study, monkeypatch):
    out, runs, specs = study
    monkeypatch.setattr(runner, "N_RESAMPLES", 100)  # the table and its note
    table = runner.finish_study(get_study("fusion"), runs, ["fusion", "kind"], out, log=lambda *_: None,
                                reference=specs["sum"].labels)
    assert table.iloc[1]["AP_IoBB_0.50_diff"] == pytest.approx((1 - AP_A) / 2)
    lines = (out / "fusion.md").read_text().splitlines()
    assert lines[2] == ("| fusion | kind | AP_IoBB_0.50 | AR_IoBB_0.50 | AP_IoBB_0.50 vs sum paper | "
                        "AR_IoBB_0.50 vs sum paper | n_seeds | val_AP_IoBB_0.50 |")
    sum_row, hadamard_row = lines[4].split(" | "), lines[5].split(" | ")
    assert sum_row[2].startswith(f"{AP_A:.3f} +- 0.000 [") and sum_row[4] == "reference"
    diff = (1 - AP_A) / 2
    assert hadamard_row[4].startswith(f"+{diff:.3f} [+") and hadamard_row[4].endswith(
        f", p 0.02; per seed +{diff:.3f} +- {2 * diff / np.sqrt(2):.3f}")
    # sum (A on both seeds) splits most by age: 0.821 on <45 against 0.500 on 65-79
    assert lines[-1] == ("Largest subgroup gap in test AP_IoBB_0.50 (mean over seeds; subgroups of at least 10 test "
                         f"readings): fusion=sum, kind=paper, age <45 {YOUNG_A:.3f} vs 65-79 0.500, a gap of "
                         f"{YOUNG_A - 0.5:.3f}.")
    assert lines[-2].startswith("vs sum paper: paired difference over the same resampled test patients (100 resamples)")
    saved = pd.read_csv(out / "fusion_runs.csv")
    assert saved["AP_IoBB_0.50@age=<45"].tolist() == pytest.approx([YOUNG_A, YOUNG_A, 1.0, YOUNG_A])
    assert "AP_IoBB_0.50@gender=M" not in saved.columns  # 7 readings: too few
    assert saved["mFROC_IoBB_0.50"].tolist() == pytest.approx([0.5, 0.5, 1.0, 0.5])
