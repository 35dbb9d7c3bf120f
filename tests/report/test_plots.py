"""Each figure is a real PNG of the promised pixel size, and draws what it is given: the lines, bars and
labels of every plot are read back from the figure before it is closed."""

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
THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)]


@pytest.fixture(scope="module")
def metrics():
    dets = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 60, 60], "score": 0.9}]  # IoBB 1600/3600 = 0.444
    return evaluate_detections(GT, dets)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots closed, in order, kept open so that the test can read what they show."""
    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)
    return figures


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_threshold_curves_draw_each_value_and_leave_a_gap_for_null(metrics, tmp_path, drawn):
    other = {**metrics, "AP_IoBB_0.50": None}  # JSON null leaves a gap, not a crash
    path = plots.plot_threshold_curves({"baseline": metrics, "MDF-Net": other}, tmp_path / "curves.png")
    assert png_size(path) == plots.CURVES_SIZE
    ax_ap, ax_ar = drawn[0].axes
    baseline, mdf = ax_ap.lines
    assert baseline.get_label() == "baseline" and mdf.get_label() == "MDF-Net"
    assert list(baseline.get_xdata()) == THRESHOLDS
    # the one detection covers the lesion at IoBB 0.444: found (AP 1) up to 0.40, missed from 0.45 on
    expected = [1.0 if t <= 0.44 else 0.0 for t in THRESHOLDS]
    assert list(baseline.get_ydata()) == expected and list(ax_ar.lines[0].get_ydata()) == expected
    gap = THRESHOLDS.index(0.5)
    mdf_y = list(mdf.get_ydata())
    assert math.isnan(mdf_y[gap])
    assert mdf_y[:gap] + mdf_y[gap + 1:] == expected[:gap] + expected[gap + 1:]
    assert ax_ap.get_xlabel() == "IoBB threshold" and ax_ar.get_title() == "AR vs IoBB threshold"


def test_threshold_keys_are_sorted_numerically(metrics):
    overlap, thresholds = plots.threshold_keys(metrics)
    assert overlap == "iobb" and thresholds == THRESHOLDS
    with pytest.raises(ValueError, match="no AP_IoBB_<t> or AP_IoU_<t> keys"):
        plots.threshold_keys({"AP": 1.0})


def test_pr_curves_draw_only_classes_with_ground_truth(metrics, tmp_path, drawn):
    assert math.isnan(metrics["AP_IoBB_0.50_Pulmonary_edema"])  # no ground truth: not drawn
    assert png_size(plots.plot_pr_curves(metrics, tmp_path / "pr.png")) == plots.PR_SIZE
    (ax,) = drawn[0].axes
    (line,) = ax.lines
    assert line.get_label() == "Atelectasis (AP 0.000)"  # missed at IoBB 0.5
    assert list(line.get_xdata()) == pytest.approx(np.linspace(0, 1, 101))
    assert not any(line.get_ydata())  # precision 0 at every recall
    assert ax.get_title() == "PR curves at IoBB 0.5"


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


def test_grouped_bars_and_lines(tmp_path, drawn):
    bars = plots.plot_grouped_bars({"AP": {"baseline": 0.2, "MDF": 0.3}, "AR": {"baseline": 0.5, "MDF": 0.55}},
                                   tmp_path / "bars.png", ylabel="IoBB 0.5",
                                   errors={"AP": {"baseline": 0.03, "MDF": 0.04}})
    assert png_size(bars) == plots.BARS_SIZE
    (ax,) = drawn[0].axes
    baseline, mdf = ax.containers[1], ax.containers[3]  # each series: its error bars, then its bars
    assert [b.get_height() for b in baseline] == [0.2, 0.5] and [b.get_height() for b in mdf] == [0.3, 0.55]
    assert [round(b.get_x() + b.get_width() / 2, 6) for b in baseline] == [-0.2, 0.8]  # left of each group
    assert [t.get_text() for t in ax.get_xticklabels()] == ["AP", "AR"]
    lines = plots.plot_lines({"seed 0": ([1, 2, 3], [0.1, 0.2, None])}, tmp_path / "lines.png", "epoch", "AP")
    assert png_size(lines) == plots.PR_SIZE
    (line,) = drawn[1].axes[0].lines
    y = list(line.get_ydata())
    assert list(line.get_xdata()) == [1, 2, 3] and y[:2] == [0.1, 0.2] and math.isnan(y[2])


def test_froc_curves(tmp_path, drawn):
    from mdfnet.metrics.froc import froc

    dets = [{"image_id": 1, "category_id": 1, "bbox": [25, 25, 10, 10], "score": 0.9},
            {"image_id": 1, "category_id": 2, "bbox": [70, 70, 10, 10], "score": 0.8}]
    m = froc(GT, dets)
    assert set(m["froc_curves"]) == {"all classes", "Atelectasis"}  # no edema lesion: no curve
    assert png_size(plots.plot_froc_curves(m, tmp_path / "froc.png")) == plots.PR_SIZE
    (ax,) = drawn[0].axes
    labels = {line.get_label(): line for line in ax.lines}
    # Atelectasis: its lesion found by its only detection, no FP -> sensitivity 1 at every rate
    assert set(labels) == {"all classes (mFROC 1.000)", "Atelectasis (mFROC 1.000)"}
    assert labels["all classes (mFROC 1.000)"].get_linewidth() == 2.5


def test_subgroups(tmp_path, drawn):
    subgroups = {"gender": {"F": {"n_readings": 12, "AP_IoBB_0.50": 0.5, "AP_IoBB_0.50_ci95": [0.3, 0.7],
                                  "AR_IoBB_0.50": 0.6, "AR_IoBB_0.50_ci95": [0.4, 0.8]},
                            "M": {"n_readings": 3, "AP_IoBB_0.50": None, "AP_IoBB_0.50_ci95": [None, None],
                                  "AR_IoBB_0.50": None, "AR_IoBB_0.50_ci95": [None, None]}}}
    path = plots.plot_subgroups(subgroups, tmp_path / "subgroups.png")
    assert png_size(path) == (plots.CURVES_SIZE[0], plots.PR_SIZE[1])  # 2 levels: the minimum height
    ax_ap, ax_ar = drawn[0].axes
    assert [t.get_text() for t in ax_ap.get_yticklabels()] == ["gender: F (12)", "gender: M (3)"]
    assert [bar.get_width() for bar in ax_ap.patches] == [0.5, 0.0]  # undefined: an empty row
    assert [bar.get_width() for bar in ax_ar.patches] == [0.6, 0.0]
    assert ax_ap.get_xlabel() == "AP_IoBB_0.50 (95 % interval)"
    many = {"age": {str(i): subgroups["gender"]["F"] for i in range(30)}}
    assert png_size(plots.plot_subgroups(many, tmp_path / "many.png")) == (plots.CURVES_SIZE[0], 22 * 30 + 120)
