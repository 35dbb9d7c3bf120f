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
from mdfnet.layout import RunLayout
from mdfnet.metrics import coco_ground_truth, detections_to_coco, evaluate_detections
from mdfnet.metrics.evaluate import metrics_json
from mdfnet.metrics.keys import OVERLAP_LABELS, SELECTABLE


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
    return coco_ground_truth(dataset.frame, boxes[boxes["reading_id"].isin(dataset.frame["reading_id"])])


def evaluate_model(model: torch.nn.Module, dataset: CohortDataset, boxes: pd.DataFrame,
                   device: torch.device, **metric_args) -> tuple[dict, list[dict]]:
    """(metrics, detections) of ``model`` on ``dataset``; ``metric_args`` go to ``evaluate_detections``."""
    detections = predict_detections(model, dataset, device)
    return evaluate_detections(ground_truth(dataset, boxes), detections, **metric_args), detections


def validation_metrics(model: torch.nn.Module, dataset: CohortDataset, boxes: pd.DataFrame,
                       device: torch.device) -> dict[str, float]:
    """The keys of :data:`~mdfnet.metrics.keys.SELECTABLE` (AP/AR at IoBB and IoU, 0.5, 0.75 and their mean over
    thresholds) on ``dataset``: what training records every epoch and may select a checkpoint on."""
    gt, detections = ground_truth(dataset, boxes), predict_detections(model, dataset, device)
    metrics: dict = {}
    for overlap in OVERLAP_LABELS:  # one inference, one matching per overlap; no counts needed
        metrics.update(evaluate_detections(gt, detections, overlap=overlap, count_threshold=None))
    return {key: metrics[key] for key in SELECTABLE}


def evaluate_split(model: torch.nn.Module, cfg: Config, frame: pd.DataFrame, boxes: pd.DataFrame, split: str,
                   run: RunLayout, device: torch.device, *, checkpoint: str = "best", plots: bool = False,
                   n_overlays: int = 6) -> dict:
    """Evaluate ``model`` (``run``'s ``checkpoint``) on one split of a loaded cohort and write
    ``run.eval_dir(split, checkpoint)`` (see :func:`evaluate_run`).

    The metrics file is written last and atomically, so its presence means the split is done.
    """
    dataset = CohortDataset((frame, boxes), split, image_size=cfg.model.image_size)
    if len(dataset) == 0:
        raise InputError(f"{cfg.data.cohort}: split {split!r} has no readings")
    gt = ground_truth(dataset, boxes)
    detections = predict_detections(model, dataset, device)
    metrics = evaluate_detections(gt, detections)
    metrics.update(split=split, checkpoint=checkpoint, variant=cfg.model.variant)
    out = run.eval_dir(split, checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    run.eval_predictions(split, checkpoint).write_text(json.dumps(detections))
    run.eval_ground_truth(split, checkpoint).write_text(json.dumps(gt))
    if plots:
        from mdfnet.report.figures import evaluation_figures

        evaluation_figures(metrics, dataset, boxes, detections, out, n_overlays=n_overlays)
    final = run.eval_metrics(split, checkpoint)
    tmp = final.with_suffix(".json.tmp")
    tmp.write_text(metrics_json(metrics))
    os.replace(tmp, final)
    return metrics


def evaluate_run(run_dir: str | Path, split: str = "test", checkpoint: str = "best", *,
                 cohort: str | Path | None = None, device: str = "auto", plots: bool = True,
                 n_overlays: int = 6) -> dict:
    """Evaluate a trained run on a split; writes the run's evaluation folder for the split and checkpoint
    (:class:`~mdfnet.layout.RunLayout`).

    Outputs: the metrics (AP/AR at IoBB per threshold and class, counts, PR curves), the predictions (COCO
    results), the ground truth and, with ``plots``, PNG figures.
    """
    run = RunLayout(run_dir)
    dev = pick_device(device)
    model, cfg = model_from_checkpoint(run.checkpoint(checkpoint), dev)
    if cohort is not None:
        cfg.data.cohort = str(cohort)
    frame, boxes = load_cohort(Path(cfg.data.cohort or ""))
    return evaluate_split(model, cfg, frame, boxes, split, run, dev,
                          checkpoint=checkpoint, plots=plots, n_overlays=n_overlays)
