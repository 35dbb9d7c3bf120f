"""Evaluation scales predictions back to original pixels and writes the run's metrics and figures."""

import json

import pytest
import torch
from PIL import Image

from mdfnet.data.cohort import load_cohort
from mdfnet.data.dataset import CohortDataset
from mdfnet.engine.evaluate import evaluate_model, evaluate_run
from mdfnet.engine.train import train
from mdfnet.report.plots import CURVES_SIZE, PR_SIZE


class OracleModel(torch.nn.Module):
    """Returns each image's ground truth (in resized pixels) as detections: the perfect detector."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset, self.calls = dataset, 0

    def forward(self, images, clinical=None, targets=None):
        assert targets is None  # inference never sees targets
        out = []
        for _ in images:
            _, _, target = self.dataset[self.calls]
            self.calls += 1
            out.append({"boxes": target["boxes"], "labels": target["labels"],
                        "scores": torch.ones(len(target["labels"]))})
        return out


def test_a_perfect_detector_scores_ap_1_after_scaling_back_to_original_pixels(tiny_cohort):
    frame, boxes = load_cohort(tiny_cohort)
    dataset = CohortDataset((frame, boxes), "train", image_size=64)  # 96 x 80 images squashed to 64 x 64
    metrics, detections = evaluate_model(OracleModel(dataset), dataset, boxes, torch.device("cpu"))
    assert metrics["AP_IoBB_0.50"] == pytest.approx(1.0)
    assert metrics["AR_IoBB_0.50"] == pytest.approx(1.0)
    assert metrics["AP_IoBB_0.95"] == pytest.approx(1.0)
    first = boxes[boxes["reading_id"] == dataset.frame["reading_id"][0]].iloc[0]
    x, y, w, h = detections[0]["bbox"]
    assert [x, y, x + w, y + h] == pytest.approx([first.xmin, first.ymin, first.xmax, first.ymax], abs=1e-3)


def test_evaluate_run_writes_metrics_predictions_and_figures(tiny_cohort, tmp_path, make_config):
    run = tmp_path / "run"
    train(make_config(tiny_cohort, epochs=1), run, log=lambda *_: None)
    metrics = evaluate_run(run, "test", "best", n_overlays=2)
    out = run / "eval_test_best"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["n_images"] == 2 and saved["split"] == "test" and saved["checkpoint"] == "best"
    assert saved["n_ground_truth"] == 2 and saved["variant"] == "mdf"
    assert saved["AP_IoBB_0.50"] == metrics["AP_IoBB_0.50"] and 0.0 <= saved["AP_IoBB_0.50"] <= 1.0
    gt = json.loads((out / "ground_truth.json").read_text())
    assert [(a["image_id"], a["bbox"]) for a in gt["annotations"]] == [(11, [10.0, 10.0, 30.0, 25.0]),
                                                                      (12, [50.0, 40.0, 30.0, 25.0])]
    predictions = json.loads((out / "predictions.json").read_text())
    assert saved["n_detections"] == len(predictions)
    for det in predictions:
        x, y, w, h = det["bbox"]
        assert det["image_id"] in (11, 12)  # the test split only
        assert 0 <= x and x + w <= 96 + 1e-3 and 0 <= y and y + h <= 80 + 1e-3  # original pixels
    with Image.open(out / "ap_ar_vs_iobb.png") as curves, Image.open(out / "pr_curves.png") as pr:
        assert (curves.size, pr.size) == (CURVES_SIZE, PR_SIZE)
    assert sorted(p.name for p in out.glob("overlay_*.png")) == ["overlay_P2R000010.png", "overlay_P2R000011.png"]
    with Image.open(out / "overlay_P2R000010.png") as overlay:
        assert overlay.size == (96, 80)


def test_another_cohort_is_evaluated_into_its_own_folder_and_never_over_the_runs(tiny_cohort, tmp_path, make_config,
                                                                               cohort_writer, capsys):
    from mdfnet.cli import main
    from mdfnet.errors import InputError

    run = tmp_path / "run"
    train(make_config(tiny_cohort, epochs=1), run, log=lambda *_: None)
    own = evaluate_run(run, "test", "best", plots=False, n_resamples=10)
    card = (run / "MODEL_CARD.md").read_text()
    fresh = cohort_writer(tmp_path / "fresh", n_per_split=("test",) * 5, seed=1)  # five new test readings
    with pytest.raises(InputError, match=r"--cohort .*fresh is not the cohort run .*run was trained on .*: give --out"):
        evaluate_run(run, "test", "best", cohort=fresh, plots=False)
    assert main(["evaluate", "--run", str(run), "--cohort", str(fresh), "--out", str(tmp_path / "on_fresh"),
                 "--no-plots", "--resamples", "10"]) == 0
    assert capsys.readouterr().out.endswith(f"written to {tmp_path / 'on_fresh'}/\n")
    other = json.loads((tmp_path / "on_fresh" / "metrics.json").read_text())
    assert other["n_images"] == 5 and other["cohort"] == str(fresh)
    saved = json.loads((run / "eval_test_best" / "metrics.json").read_text())
    assert saved["n_images"] == 2 and saved["AP_IoBB_0.50"] == own["AP_IoBB_0.50"]  # the run's own, untouched
    assert (run / "MODEL_CARD.md").read_text() == card
    # the run's own cohort named explicitly is not "another cohort"
    assert evaluate_run(run, "test", "best", cohort=tiny_cohort, plots=False, n_resamples=10)["n_images"] == 2
