"""Each figure is a real PNG of the promised pixel size, and draws what it is given."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from mdfnet.metrics import evaluate_detections
from mdfnet.report import plots

GT = {
    "images": [{"id": 1, "width": 100, "height": 100}],
    "categories": [{"id": 1, "name": "Atelectasis"}, {"id": 2, "name": "Pulmonary edema"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 20, 40, 40], "area": 1600, "iscrowd": 0}],
}


@pytest.fixture(scope="module")
def metrics():
    dets = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 60, 60], "score": 0.9}]  # IoBB 0.444
    return evaluate_detections(GT, dets)


def png_size(path) -> tuple[int, int]:
    assert path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_threshold_curves(metrics, tmp_path):
    other = {**metrics, "AP_IoBB_0.50": None}  # JSON null leaves a gap, not a crash
    path = plots.plot_threshold_curves({"baseline": metrics, "MDF-Net": other}, tmp_path / "curves.png")
    assert png_size(path) == plots.CURVES_SIZE


def test_threshold_keys_are_sorted_numerically(metrics):
    label, thresholds = plots.threshold_keys(metrics)
    assert label == "IoBB" and thresholds[0] == "0.05" and thresholds[-1] == "0.95" and len(thresholds) == 19
    with pytest.raises(ValueError, match="no AP_IoBB_<t> or AP_IoU_<t> keys"):
        plots.threshold_keys({"AP": 1.0})


def test_pr_curves(metrics, tmp_path):
    assert math.isnan(metrics["AP_IoBB_0.50_Pulmonary_edema"])  # no ground truth: not drawn
    assert png_size(plots.plot_pr_curves(metrics, tmp_path / "pr.png")) == plots.PR_SIZE


def test_overlay_keeps_the_image_size_and_draws_the_boxes(tmp_path):
    image = np.full((120, 160), 0.5)
    path = plots.draw_overlay(image, [("Atelectasis", (20, 30, 60, 90))],
                              [("Atelectasis", 0.87, (100, 10, 150, 40))], tmp_path / "overlay.png")
    assert png_size(path) == (160, 120)
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert np.all(np.abs(rgb[5, 5] - 128) <= 1)  # untouched grey away from the boxes
    green = (rgb[:, :, 1] > 150) & (rgb[:, :, 0] < 100)
    assert green[60, 19:22].any() and not green[:, 90:].any()  # GT edge at x = 20 only
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 3\)"):
        plots.draw_overlay(np.zeros((2, 2, 3)), [], [], tmp_path / "bad.png")


def test_grouped_bars_and_lines(tmp_path):
    bars = plots.plot_grouped_bars({"AP": {"baseline": 0.2, "MDF": 0.3}, "AR": {"baseline": 0.5, "MDF": 0.55}},
                                   tmp_path / "bars.png", ylabel="IoBB 0.5",
                                   errors={"AP": {"baseline": 0.03, "MDF": 0.04}})
    assert png_size(bars) == plots.BARS_SIZE
    lines = plots.plot_lines({"seed 0": ([1, 2, 3], [0.1, 0.2, None])}, tmp_path / "lines.png", "epoch", "AP")
    assert png_size(lines) == plots.PR_SIZE


def test_froc_curves(tmp_path):
    from mdfnet.metrics.froc import froc

    dets = [{"image_id": 1, "category_id": 1, "bbox": [25, 25, 10, 10], "score": 0.9},
            {"image_id": 1, "category_id": 2, "bbox": [70, 70, 10, 10], "score": 0.8}]
    m = froc(GT, dets)
    assert set(m["froc_curves"]) == {"all classes", "Atelectasis"}  # no edema lesion: no curve
    assert png_size(plots.plot_froc_curves(m, tmp_path / "froc.png")) == plots.PR_SIZE


def test_subgroups(tmp_path):
    subgroups = {"gender": {"F": {"n_readings": 12, "AP_IoBB_0.50": 0.5, "AP_IoBB_0.50_ci95": [0.3, 0.7],
                                  "AR_IoBB_0.50": 0.6, "AR_IoBB_0.50_ci95": [0.4, 0.8]},
                            "M": {"n_readings": 3, "AP_IoBB_0.50": None, "AP_IoBB_0.50_ci95": [None, None],
                                  "AR_IoBB_0.50": None, "AR_IoBB_0.50_ci95": [None, None]}}}
    path = plots.plot_subgroups(subgroups, tmp_path / "subgroups.png")
    assert png_size(path) == (plots.CURVES_SIZE[0], plots.PR_SIZE[1])  # 2 levels: the minimum height
    many = {"age": {str(i): subgroups["gender"]["F"] for i in range(30)}}
    assert png_size(plots.plot_subgroups(many, tmp_path / "many.png")) == (plots.CURVES_SIZE[0], 22 * 30 + 120)
