"""Inference over a split and its metrics; ``evaluate_run`` is what ``mdfnet evaluate`` calls.

Ground truth always comes from ``boxes.csv`` in original pixels, never from an augmented sample;
predictions are scaled back from the S x S model input to original pixels before matching.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from mdfnet.config import Config
from mdfnet.data.cohort import load_cohort
from mdfnet.data.dataset import CohortDataset, collate
from mdfnet.engine.checkpoint import model_from_checkpoint
from mdfnet.engine.runtime import pick_device
from mdfnet.errors import InputError
from mdfnet.metrics import coco_ground_truth, detections_to_coco, evaluate_detections
from mdfnet.metrics.evaluate import metrics_json


@torch.no_grad()
def predict_detections(model: torch.nn.Module, dataset: CohortDataset, device: torch.device,
                       batch_size: int = 8) -> list[dict]:
    """COCO results ``[{"image_id", "category_id", "bbox" xywh, "score"}]`` in original pixels."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    frame, size = dataset.frame, dataset.image_size
    results, start = [], 0
    for images, clinical, _targets in loader:  # targets stay here: inference never sees them
        outputs = model(images.to(device), clinical.to(device))
        rows = frame.iloc[start:start + len(outputs)]
        start += len(outputs)
        scales = list(zip(rows["image_width"] / size, rows["image_height"] / size))
        results += detections_to_coco([{k: v.cpu() for k, v in o.items()} for o in outputs],
                                      rows["image_id"].tolist(), scales)
    return results


def ground_truth(dataset: CohortDataset, boxes: pd.DataFrame) -> dict:
    """COCO ground truth of the dataset's readings, from ``boxes.csv`` (original pixels)."""
    return coco_ground_truth(dataset.frame, boxes[boxes["reading_id"].isin(dataset.frame["reading_id"])],
                             dataset.schema.classes)


def evaluate_model(model: torch.nn.Module, dataset: CohortDataset, boxes: pd.DataFrame,
                   device: torch.device, **metric_args) -> tuple[dict, list[dict]]:
    """(metrics, detections) of ``model`` on ``dataset``; ``metric_args`` go to ``evaluate_detections``."""
    detections = predict_detections(model, dataset, device)
    return evaluate_detections(ground_truth(dataset, boxes), detections, **metric_args), detections


def evaluate_split(model: torch.nn.Module, cfg: Config, frame: pd.DataFrame, boxes: pd.DataFrame, split: str,
                   out: Path, device: torch.device, *, checkpoint: str = "best", plots: bool = False,
                   n_overlays: int = 6) -> dict:
    """Evaluate ``model`` on one split of a loaded cohort and write ``out/`` (see :func:`evaluate_run`).

    ``metrics.json`` is written last and atomically, so its presence means the split is done.
    """
    # coded as the model was trained (its checkpoint's schema), whatever cohort it is evaluated on
    dataset = CohortDataset((frame, boxes), split, image_size=cfg.model.image_size, schema=model.schema)
    if len(dataset) == 0:
        raise InputError(f"{cfg.data.cohort}: split {split!r} has no readings")
    gt = ground_truth(dataset, boxes)
    detections = predict_detections(model, dataset, device)
    metrics = evaluate_detections(gt, detections)
    metrics.update(split=split, checkpoint=checkpoint, variant=cfg.model.variant)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predictions.json").write_text(json.dumps(detections))
    (out / "ground_truth.json").write_text(json.dumps(gt))
    if plots:
        from mdfnet.report.figures import evaluation_figures

        evaluation_figures(metrics, dataset, boxes, detections, out, n_overlays=n_overlays)
    tmp = out / "metrics.json.tmp"
    tmp.write_text(metrics_json(metrics))
    os.replace(tmp, out / "metrics.json")
    return metrics


def evaluate_run(run_dir: str | Path, split: str = "test", checkpoint: str = "best", *,
                 cohort: str | Path | None = None, device: str = "auto", plots: bool = True,
                 n_overlays: int = 6) -> dict:
    """Evaluate a trained run on a split; writes ``eval_<split>_<checkpoint>/`` inside the run folder.

    Outputs: ``metrics.json`` (AP/AR at IoBB per threshold and class, counts, PR curves),
    ``predictions.json`` (COCO results), ``ground_truth.json`` and, with ``plots``, PNG figures.
    """
    run_dir = Path(run_dir)
    if checkpoint not in ("best", "last"):
        raise InputError(f"--checkpoint must be best or last, got {checkpoint!r}")
    dev = pick_device(device)
    model, cfg = model_from_checkpoint(run_dir / f"{checkpoint}.pt", dev)
    if cohort is not None:
        cfg.data.cohort = str(cohort)
    frame, boxes = load_cohort(Path(cfg.data.cohort or ""))
    return evaluate_split(model, cfg, frame, boxes, split, run_dir / f"eval_{split}_{checkpoint}", dev,
                          checkpoint=checkpoint, plots=plots, n_overlays=n_overlays)
