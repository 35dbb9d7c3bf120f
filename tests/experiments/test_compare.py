"""``mdfnet compare`` on evaluations of planned detectors (tests/evaluation_case.py): the paired difference,
its p-value, the seed means and per-seed differences, and one clear line for each bad input."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from evaluation_case import evaluate_planned, write_case_cohort

from mdfnet.cli import main
from mdfnet.errors import InputError
from mdfnet.experiments.compare import compare_runs
from mdfnet.layout import RunLayout

# Detector A: heart AP 1, consolidation AP 41 * 0.4 / 101 (tests/engine/test_evaluate_statistics.py); B: all 1.
AP_A = (1 + 41 * 0.4 / 101) / 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cohort_writer, make_config):
    """Run folders ``a`` and ``b`` (one evaluation each), seed folders ``ab`` (seed 0: A, 1: B) and ``bb``."""
    root = tmp_path_factory.mktemp("compare")
    cohort = write_case_cohort(root / "cohort", cohort_writer)
    for detector in "ab":
        evaluate_planned(detector.upper(), cohort, make_config, RunLayout(root / detector).eval_dir("test", "best"),
                         n_resamples=10)
    for name, seeds in (("ab", "ab"), ("bb", "bb")):
        for seed, detector in enumerate(seeds):
            shutil.copytree(root / detector, root / name / f"seed_{seed}")
    return root


def test_b_minus_a_over_the_same_resampled_patients(runs):
    result = compare_runs(runs / "a", runs / "b", n_resamples=200, seed=1)
    assert result["a"]["AP_IoBB_0.50"] == pytest.approx(AP_A) and result["b"]["AP_IoBB_0.50"] == pytest.approx(1.0)
    assert result["AP_IoBB_0.50_diff"] == pytest.approx(1 - AP_A)
    assert result["AR_IoBB_0.50_diff"] == pytest.approx(0.3)
    assert result["b"]["AP_IoBB_0.50_ci95"] == [1.0, 1.0]  # B is perfect on every resample
    # A misses a lesion of patients 4 to 9: only a resample of patients 0-3 alone ties (chance 0.4^10), so B is
    # better in all 200 resamples and p takes its smallest value, 2 / (B + 1)
    assert result["AP_IoBB_0.50_p"] == pytest.approx(2 / 201) and result["AP_IoBB_0.50_diff_ci95"][0] > 0
    # a class without ground truth: nothing to compare
    assert math.isnan(result["AP_IoBB_0.50_Atelectasis_diff"]) and math.isnan(result["AP_IoBB_0.50_Atelectasis_p"])
    assert result["seeds"] is None and result["bootstrap"]["resampled"] == "patients"
    assert result["bootstrap"]["n_groups"] == 10 and result["runs"]["a"] == [str(runs / "a" / "eval_test_best")]


def test_seed_folders_are_averaged_and_paired_by_seed(runs):
    result = compare_runs(runs / "ab", runs / "bb", n_resamples=50)
    assert result["a"]["AP_IoBB_0.50"] == pytest.approx((AP_A + 1) / 2)  # the mean of seeds 0 (A) and 1 (B)
    assert result["AP_IoBB_0.50_diff"] == pytest.approx((1 - AP_A) / 2)
    seeds = result["seeds"]
    assert seeds["seeds"] == [0, 1] and seeds["diffs"]["AP_IoBB_0.50"] == pytest.approx([1 - AP_A, 0.0])
    assert seeds["mean"]["AP_IoBB_0.50"] == pytest.approx((1 - AP_A) / 2)
    assert seeds["sd"]["AP_IoBB_0.50"] == pytest.approx((1 - AP_A) / np.sqrt(2))  # sample sd of two values


def test_the_command_prints_a_table_and_writes_json(runs, tmp_path, capsys):
    out = tmp_path / "compare.json"
    assert main(["compare", str(runs / "ab"), str(runs / "bb"), "--resamples", "50", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[2] == "50 resamples of 10 patients (seed 0); [95 % interval]; p: two-sided paired bootstrap"
    assert printed[4] == "| metric | A | B | B - A | p | B - A per seed |"
    row = next(line for line in printed if line.startswith("| AP_IoBB_0.50 |"))
    diff = (1 - AP_A) / 2
    assert f"| +{diff:.3f} [" in row and row.endswith(f"| +{diff:.3f} +- {(1 - AP_A) / np.sqrt(2):.3f} |")
    assert "| AP_IoBB_0.50_Atelectasis | n/a | n/a | n/a | n/a | n/a |" in printed
    assert printed[-1] == "per seed: seeds 0, 1 on both sides"
    assert '"AP_IoBB_0.50_diff": ' in out.read_text()


def test_a_run_without_a_test_evaluation(runs, tmp_path, capsys):
    (tmp_path / "untested").mkdir()
    assert main(["compare", str(runs / "a"), str(tmp_path / "untested")]) == 2
    assert capsys.readouterr().err == (
        f"mdfnet compare: error: {tmp_path / 'untested'}: no evaluation of the test split "
        f"({tmp_path / 'untested' / 'eval_test_best'}/metrics.json not found); run `mdfnet evaluate --run "
        f"{tmp_path / 'untested'} --split test` first\n")
    assert main(["compare", str(runs / "a"), str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"mdfnet compare: error: {tmp_path / 'nowhere'}: no such run folder\n"


def test_runs_on_different_cohorts_or_splits(runs, tmp_path, cohort_writer, make_config):
    cohort = write_case_cohort(tmp_path / "smaller", cohort_writer, n_test=18)
    other = RunLayout(tmp_path / "other").eval_dir("test", "best")
    evaluate_planned("B", cohort, make_config, other, n_resamples=10)
    a, other = runs / "a" / "eval_test_best", tmp_path / "other" / "eval_test_best"
    with pytest.raises(InputError) as err:
        compare_runs(runs / "a", tmp_path / "other", n_resamples=10)
    assert str(err.value) == (f"{a} and {other} are not on the same cohort and split: image 19 is in {a}'s ground "
                              f"truth, not in {other}'s")


def test_zero_resamples(runs, capsys):
    assert main(["compare", str(runs / "a"), str(runs / "b"), "--resamples", "0"]) == 2
    assert capsys.readouterr().err == "mdfnet compare: error: n_resamples: expected an integer >= 1, got 0\n"
