"""The figures an evaluation writes: AP/AR against the IoBB threshold, PR and FROC curves, subgroups, overlays."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mdfnet.report.plots import draw_overlay, plot_froc_curves, plot_pr_curves, plot_subgroups, plot_threshold_curves
from mdfnet.schema import CLASSES, class_name

OVERLAY_MAX_SIDE = 768  # overlays are for looking at, not measuring: keep the PNGs small


def evaluation_figures(metrics: dict, dataset, boxes: pd.DataFrame, detections: list[dict], out: Path,
                       n_overlays: int = 6, score_threshold: float = 0.3) -> list[Path]:
    """Write ``ap_ar_vs_iobb.png``, ``pr_curves.png``, ``froc_curves.png`` (when ``metrics`` has FROC),
    ``subgroups.png`` (when it has subgroups) and ``overlay_<reading>.png`` for the first ``n_overlays``
    readings that have ground truth (predictions shown above ``score_threshold``)."""
    out = Path(out)
    label = str(metrics.get("variant", "model"))
    if metrics.get("detector", "maskrcnn") != "maskrcnn":
        label += f" ({metrics['detector']})"
    paths = [plot_threshold_curves({label: metrics}, out / "ap_ar_vs_iobb.png"),
             plot_pr_curves(metrics, out / "pr_curves.png", title=label)]
    if "froc_curves" in metrics:
        paths.append(plot_froc_curves(metrics, out / "froc_curves.png", title=f"{label}: FROC at IoBB 0.50"))
    if metrics.get("subgroups"):
        paths.append(plot_subgroups(metrics["subgroups"], out / "subgroups.png",
                                    title=f"{label}: AP / AR at IoBB 0.5 per subgroup"))
    frame = dataset.frame
    with_gt = frame[frame["reading_id"].isin(boxes["reading_id"])].head(n_overlays)
    for row in with_gt.itertuples(index=False):
        gt_rows = boxes[boxes["reading_id"] == row.reading_id]
        gt = [(r.label, (r.xmin, r.ymin, r.xmax, r.ymax)) for r in gt_rows.itertuples(index=False)]
        pred = [detection_overlay(d, dataset.schema.classes) for d in detections
                if d["image_id"] == row.image_id and d["score"] >= score_threshold]
        paths.append(overlay_png(row.image_path, gt, pred, out / f"overlay_{row.reading_id}.png"))
    return paths


def overlay_png(image_path: str, gt: list, pred: list, path: Path) -> Path:
    """Draw boxes given in original pixels on a copy of the image shrunk to at most OVERLAY_MAX_SIDE."""
    from mdfnet.data.images import read_image

    image = read_image(image_path)
    scale = min(1.0, OVERLAY_MAX_SIDE / max(image.shape))
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = np.asarray(Image.fromarray(image, mode="F").resize(size, Image.BILINEAR)).clip(0, 1)
    gt = [(name, [v * scale for v in box]) for name, box in gt]
    pred = [(name, score, [v * scale for v in box]) for name, score, box in pred]
    return draw_overlay(image, gt, pred, path)


def detection_overlay(detection: dict, classes: Sequence[str] = CLASSES) -> tuple[str, float, list[float]]:
    """A COCO detection as :func:`overlay_png` draws it: ``(class name, score, xyxy)``; ``classes``: the
    cohort's (default MIMIC's five)."""
    x, y, w, h = detection["bbox"]
    name = class_name(detection["category_id"]) if tuple(classes) == CLASSES else classes[detection["category_id"] - 1]
    return name, detection["score"], [x, y, x + w, y + h]
