"""evaluate's intervals, FROC, subgroups and per-case table on a split whose every box is planned
(tests/evaluation_case.py), against values worked out by hand."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from evaluation_case import FAR, evaluate_planned, write_case_cohort
from PIL import Image

from mdfnet.engine.evaluate import read_evaluation
from mdfnet.errors import InputError
from mdfnet.layout import RunLayout
from mdfnet.metrics.bootstrap import bootstrap_metrics

# Consolidation under detector A: 6 far boxes at 0.95 before 4 hits at 0.8 (recall 0.2 .. 0.8 of 10 lesions
# is 0.1 .. 0.4): precision 1/7, 2/8, 3/9, 4/10, so the envelope is 0.4 up to recall 0.4, 41 of the 101
# recall points: AP 41 * 0.4 / 101, AR 0.4. The heart: 10 hits of 10, AP = AR = 1.
CONSOLIDATION_AP = 41 * 0.4 / 101


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, cohort_writer, make_config):
    """Detector A evaluated with plots, 200 resamples, seed 3."""
    root = tmp_path_factory.mktemp("evaluated")
    cohort = write_case_cohort(root / "cohort", cohort_writer)
    out = RunLayout(root / "run_a").eval_dir("test", "best")
    metrics = evaluate_planned("A", cohort, make_config, out, plots=True, n_overlays=1, n_resamples=200, seed=3)
    return metrics, out


def test_point_values_by_hand(evaluated):
    metrics, _ = evaluated
    assert metrics["AP_IoBB_0.50_Enlarged_cardiac_silhouette"] == pytest.approx(1.0)
    assert metrics["AP_IoBB_0.50_Consolidation"] == pytest.approx(CONSOLIDATION_AP)
    assert metrics["AP_IoBB_0.50"] == pytest.approx((1 + CONSOLIDATION_AP) / 2)
    assert metrics["AR_IoBB_0.50"] == pytest.approx(0.7)
    assert math.isnan(metrics["AP_IoBB_0.50_Atelectasis"])  # no ground truth


def test_intervals_are_the_patient_bootstrap_of_the_saved_files(evaluated):
    metrics, out = evaluated
    saved = read_evaluation(out)
    assert saved.groups == {i + 1: 10_000_000 + i // 2 for i in range(20)}  # image ids 1..20, two per patient
    expected = bootstrap_metrics(saved.gt, saved.detections, saved.groups, thresholds=metrics["thresholds"],
                                 n_resamples=200, seed=3)
    for key in ("AP_IoBB_0.50", "AR_IoBB_0.50", "AP_IoBB_mean", "AR_IoBB_0.75", "AP_IoBB_0.50_Consolidation"):
        assert metrics[f"{key}_ci95"] == expected[f"{key}_ci95"]
        assert saved.metrics[f"{key}_ci95"] == pytest.approx(expected[f"{key}_ci95"], abs=0)
    # the heart is found in every resample: a degenerate interval
    assert metrics["AP_IoBB_0.50_Enlarged_cardiac_silhouette_ci95"] == [1.0, 1.0]
    low, high = metrics["AP_IoBB_0.50_ci95"]
    assert low < metrics["AP_IoBB_0.50"] < high
    assert metrics["bootstrap"] == {"n_resamples": 200, "seed": 3, "confidence": 0.95, "n_groups": 10,
                                    "interval": "percentile", "resampled": "patients"}


def test_froc_by_hand(evaluated):
    # Pooled, 20 images, 20 lesions: the cut at 0.95 gives 6 FP (0.3 per image) and no hit, at 0.9 ten hits,
    # at 0.8 fourteen: sensitivity 0 at 1/8 and 1/4 FP per image, 0.7 from 1/2 on.
    metrics, _ = evaluated
    assert [metrics[f"Sens@{r:g}FP_IoBB_0.50"] for r in (0.125, 0.25, 0.5, 1, 2, 4, 8)] == pytest.approx(
        [0, 0, 0.7, 0.7, 0.7, 0.7, 0.7])
    assert metrics["mFROC_IoBB_0.50"] == pytest.approx(0.5) and metrics["mFROC4_IoBB_0.50"] == pytest.approx(0.7)
    assert metrics["mFROC_IoBB_0.50_Consolidation"] == pytest.approx(5 * 0.4 / 7)  # 0 at 1/8, 1/4 (0.3 FP/image)
    assert metrics["froc_curves"]["all classes"] == {"fp_per_image": [0.0, 0.3, 0.3, 0.3],
                                                      "sensitivity": [0.0, 0.0, 0.5, 0.7]}


def test_subgroups_and_their_largest_gap(evaluated):
    # age <45 (readings 0-9, patients 0-4): heart 5/5; consolidation 4 hits after 1 far box: precision 1/2 .. 4/5,
    # envelope 0.8 up to recall 0.8: AP 81 * 0.8 / 101. Age 65-79: heart 5/5, consolidation 0 of 5.
    metrics, _ = evaluated
    young, old = metrics["subgroups"]["age"]["<45"], metrics["subgroups"]["age"]["65-79"]
    assert list(metrics["subgroups"]) == ["gender", "age", "acuity", "clinical"]
    assert list(metrics["subgroups"]["age"]) == ["<45", "65-79"]
    assert (young["n_readings"], young["n_patients"], young["n_boxes"]) == (10, 5, 10)
    assert young["AP_IoBB_0.50"] == pytest.approx((1 + 81 * 0.8 / 101) / 2) and young["AR_IoBB_0.50"] == 0.9
    assert old["AP_IoBB_0.50"] == pytest.approx(0.5) and old["AR_IoBB_0.50"] == pytest.approx(0.5)
    assert list(metrics["subgroups"]["gender"]) == ["F", "M"]
    assert metrics["subgroups"]["gender"]["M"]["n_readings"] == 7  # readings 0, 3, 6, ..., 18
    assert {lv: e["n_readings"] for lv, e in metrics["subgroups"]["clinical"].items()} == {"complete": 19,
                                                                                           "incomplete": 1}
    assert list(metrics["subgroups"]["acuity"]) == ["3"]
    # only age has two levels of >= 10 readings
    gap = metrics["subgroup_gap"]["AP_IoBB_0.50"]
    assert (gap["attribute"], gap["high"], gap["low"]) == ("age", "<45", "65-79")
    assert gap["gap"] == pytest.approx((1 + 81 * 0.8 / 101) / 2 - 0.5) == metrics["AP_IoBB_0.50_subgroup_gap"]
    assert metrics["AR_IoBB_0.50_subgroup_gap"] == pytest.approx(0.4)


def test_cases_csv_has_a_row_per_detection_and_per_missed_lesion_and_false_positives_csv_their_sources(evaluated):
    _, out = evaluated
    cases = pd.read_csv(out / "cases.csv", dtype={"reading_id": str})
    assert list(cases.columns) == ["reading_id", "image_id", "patient", "class", "outcome", "score", "xmin", "ymin",
                                   "xmax", "ymax", "matched_xmin", "matched_ymin", "matched_xmax", "matched_ymax",
                                   "IoBB", "lies_on"]
    assert cases["outcome"].value_counts().to_dict() == {"TP": 14, "FP": 6, "FN": 6}
    reading_9 = cases[cases["reading_id"] == "P2R000009"]
    assert list(reading_9["outcome"]) == ["FP", "FN"] and set(reading_9["patient"]) == {10_000_004}
    fp, fn = reading_9.iloc[0], reading_9.iloc[1]
    assert fp["score"] == pytest.approx(0.95) and [fp.xmin, fp.ymin, fp.xmax, fp.ymax] == pytest.approx(FAR, abs=1e-4)
    assert fp["IoBB"] == 0 and pd.isna(fp["matched_xmin"])
    assert pd.isna(fn["score"]) and [fn.xmin, fn.ymin, fn.xmax, fn.ymax] == [50, 40, 80, 65] and fn["IoBB"] == 0
    tp = cases[cases["reading_id"] == "P2R000001"].iloc[0]
    assert tp["outcome"] == "TP" and tp["IoBB"] == pytest.approx(1.0)
    # the six far boxes lie on no lesion; the other classes have no detections
    sources = pd.read_csv(out / "false_positives.csv").set_index("class")
    assert sources.loc["Consolidation", ["detections", "TP", "FP on no lesion"]].tolist() == [10, 4, 6]
    assert sources.loc["Enlarged cardiac silhouette", ["detections", "TP", "FP on no lesion"]].tolist() == [10, 10, 0]
    assert sources.drop(columns=["detections", "TP", "FP on no lesion"]).to_numpy().sum() == 0
    assert sources.loc["Atelectasis", "detections"] == 0
    assert [tp.matched_xmin, tp.matched_ymin, tp.matched_xmax, tp.matched_ymax] == [50, 40, 80, 65]


def test_figures_include_froc_and_subgroups_and_metrics_json_is_strict(evaluated):
    _, out = evaluated
    assert Image.open(out / "froc_curves.png").size == (600, 500)
    assert Image.open(out / "subgroups.png").size == (1000, 500)
    text = (out / "metrics.json").read_text()
    assert "NaN" not in text and json.loads(text)["AP_IoBB_0.50_Atelectasis_ci95"] == [None, None]


def test_zero_resamples_is_refused_before_any_inference(tmp_path):
    from mdfnet.engine.evaluate import evaluate_run

    with pytest.raises(InputError, match=r"^n_resamples: expected an integer >= 1, got 0$"):
        evaluate_run(tmp_path / "no-run", n_resamples=0)
