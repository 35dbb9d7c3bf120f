"""Inference over a split and its metrics; ``evaluate_run`` is what ``mdfnet evaluate`` calls.

Ground truth always comes from ``boxes.csv`` in original pixels, never from an augmented sample;
predictions are scaled back from the S x S model input to original pixels before matching.

An evaluation folder (:meth:`mdfnet.layout.RunLayout.eval_dir`) holds the metrics, the predictions (COCO
results), the ground truth (COCO, each image with its ``patient_id``: all that a paired comparison of two
runs needs, see :func:`read_evaluation`), the per-case table and figures; :mod:`mdfnet.layout` names them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from mdfnet.config import Config
from mdfnet.data.cohort import load_cohort
from mdfnet.data.dataset import CohortDataset, collate
from mdfnet.engine.card import write_model_card
from mdfnet.engine.checkpoint import clinical_medians, load_checkpoint, model_from_state
from mdfnet.engine.runtime import pick_device
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.layout import (CASES_FILE, FALSE_POSITIVES_FILE, GROUND_TRUTH_FILE, METRICS_FILE, PREDICTIONS_FILE,
                           RunLayout)
from mdfnet.metrics import coco_ground_truth, detections_to_coco, evaluate_detections
from mdfnet.metrics.bootstrap import check_bootstrap_settings
from mdfnet.metrics.cases import case_table, false_positive_sources
from mdfnet.metrics.coco import check_detections, check_ground_truth, patient_groups, read_json
from mdfnet.metrics.evaluate import metrics_json
from mdfnet.metrics.keys import KINDS, OVERLAP_LABELS, SELECTABLE, gap_key, metric_key
from mdfnet.metrics.statistics import evaluate_with_statistics
from mdfnet.metrics.subgroups import levels_by_image, subgroup_gap, subgroup_metrics

N_RESAMPLES = 1000  # patient-bootstrap resamples behind every interval


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


def validation_metrics(model: torch.nn.Module, dataset: CohortDataset, boxes: pd.DataFrame,
                       device: torch.device) -> dict[str, float]:
    """The keys of :data:`~mdfnet.metrics.keys.SELECTABLE` (AP/AR at IoBB and IoU, 0.5, 0.75 and their mean over
    thresholds) on ``dataset``: what training records every epoch and may select a checkpoint on."""
    gt, detections = ground_truth(dataset, boxes), predict_detections(model, dataset, device)
    metrics: dict = {}
    for overlap in OVERLAP_LABELS:  # one inference, one matching per overlap; no counts needed
        metrics.update(evaluate_detections(gt, detections, overlap=overlap, count_threshold=None))
    return {key: metrics[key] for key in SELECTABLE}


def split_metrics(gt: dict, detections: list[dict], frame: pd.DataFrame, *, n_resamples: int = N_RESAMPLES,
                  seed: int = 0, schema: CohortSchema | None = None) -> dict:
    """Everything ``evaluate`` reports on one split, at IoBB.

    Returns:
        :func:`~mdfnet.metrics.statistics.evaluate_with_statistics`'s metrics (AP/AR, each with its
        patient-bootstrap interval, FROC), plus ``subgroups`` (:func:`~mdfnet.metrics.subgroups.subgroup_metrics`
        at IoBB 0.5, levels of ``frame``'s rows, which carry ``image_id``; ``schema``: the cohort's, default
        MIMIC's), ``subgroup_gap`` ``{AP key: largest gap or None, AR key: ...}`` at IoBB 0.5 and the flat
        :func:`~mdfnet.metrics.keys.gap_key` of each (nan without two large enough levels).
    """
    groups = patient_groups(gt)
    metrics = evaluate_with_statistics(gt, detections, groups, n_resamples=n_resamples, seed=seed)
    levels = levels_by_image(frame, frame["image_id"].tolist(), schema)
    metrics["subgroups"] = subgroup_metrics(gt, detections, levels, groups, n_resamples=n_resamples, seed=seed)
    metrics["subgroup_gap"] = {}
    for kind in KINDS:
        key = metric_key(kind)
        gap = subgroup_gap(metrics["subgroups"], key)
        metrics["subgroup_gap"][key] = gap
        metrics[gap_key(key)] = math.nan if gap is None else gap["gap"]
    return metrics


def evaluate_split(model: torch.nn.Module, cfg: Config, frame: pd.DataFrame, boxes: pd.DataFrame, split: str,
                   out: Path, device: torch.device, *, checkpoint: str = "best", plots: bool = False,
                   n_overlays: int = 6, n_resamples: int = N_RESAMPLES, seed: int = 0, explain: bool = False,
                   medians: torch.Tensor | None = None) -> dict:
    """Evaluate ``model`` on one split of a loaded cohort and write ``out/`` (see :func:`evaluate_run`).

    ``metrics.json`` is written last and atomically, so its presence means the split is done.
    """
    # coded as the model was trained (its checkpoint's schema), whatever cohort it is evaluated on
    dataset = CohortDataset((frame, boxes), split, image_size=cfg.model.image_size,
                            schema=getattr(model, "schema", None))
    if len(dataset) == 0:
        raise InputError(f"{cfg.data.cohort}: split {split!r} has no readings")
    if explain and dataset.schema != MIMIC_SCHEMA:
        raise InputError("--explain reads MIMIC's clinical features; this model's cohort has its own "
                         f"({', '.join(dataset.schema.names)}): leave it out")
    gt = ground_truth(dataset, boxes)
    detections = predict_detections(model, dataset, device)
    metrics = split_metrics(gt, detections, dataset.frame, n_resamples=n_resamples, seed=seed, schema=dataset.schema)
    metrics.update(split=split, checkpoint=checkpoint, variant=cfg.model.variant, detector=cfg.model.detector,
                   cohort=cfg.data.cohort)
    out.mkdir(parents=True, exist_ok=True)
    (out / PREDICTIONS_FILE).write_text(json.dumps(detections))
    (out / GROUND_TRUTH_FILE).write_text(json.dumps(gt))
    cases = case_table(gt, detections)
    cases.to_csv(out / CASES_FILE, index=False)
    classes = [c["name"] for c in sorted(gt["categories"], key=lambda c: c["id"])]
    false_positive_sources(cases, classes, metrics["count_threshold"]).to_csv(out / FALSE_POSITIVES_FILE, index=False)
    if plots:
        from mdfnet.report.figures import evaluation_figures

        evaluation_figures(metrics, dataset, boxes, detections, out, n_overlays=n_overlays)
    if explain:
        explain_split(model, dataset, medians, device, out, count_threshold=metrics["count_threshold"])
    tmp = out / f"{METRICS_FILE}.tmp"
    tmp.write_text(metrics_json(metrics))
    os.replace(tmp, out / METRICS_FILE)
    return metrics


def explain_split(model: torch.nn.Module, dataset: CohortDataset, medians: torch.Tensor | None,
                  device: torch.device, out: Path, count_threshold: float = 0.1) -> dict:
    """Which values the model relies on for which finding: write ``explanations.json`` (every true
    positive's effects and, per view, the mean absolute effect per class and feature) and
    ``effects_<view>.png`` (:mod:`mdfnet.engine.explain`; true positives at IoBB 0.5, score >= the
    counts' cut)."""
    from mdfnet.engine.explain import explain_true_positives, mean_abs_effects, reference_values
    from mdfnet.report.plots import plot_effect_matrix

    records = explain_true_positives(model, dataset, medians, device, score_threshold=count_threshold)
    positives = {(r["reading_id"], r["detection"]): r["class"] for r in records}
    counts = {c: list(positives.values()).count(c) for c in sorted(set(positives.values()))}
    summary = {"references": reference_values(medians), "n_true_positives": counts,
               "score_threshold": count_threshold,
               "mean_abs_effect": {v: mean_abs_effects(records, v) for v in ("missing", "median")}}
    for view, matrix in summary["mean_abs_effect"].items():
        if matrix:
            what = "left out" if view == "missing" else "set to the train median"
            plot_effect_matrix(matrix, counts, out / f"effects_{view}.png",
                               title=f"mean |score change| of true positives when each value is {what}")
    (out / "explanations.json").write_text(json.dumps({**summary, "records": records}, indent=1))
    return summary


def evaluate_run(run_dir: str | Path, split: str = "test", checkpoint: str = "best", *,
                 cohort: str | Path | None = None, out: str | Path | None = None, device: str = "auto",
                 plots: bool = True, n_overlays: int = 6, n_resamples: int = N_RESAMPLES, seed: int = 0,
                 explain: bool = False) -> dict:
    """Evaluate a trained run on a split; writes the run's evaluation folder of the split and checkpoint
    (:meth:`mdfnet.layout.RunLayout.eval_dir`), or ``out``.

    ``cohort``: evaluate on another cohort than the run's own (an external or freshly drawn test set); then
    ``out`` is required, so that the run's own evaluation, which studies and ``compare`` read, is never
    overwritten by another cohort's. The model card is rewritten only for the run's own evaluations.

    Outputs: ``metrics.json`` (AP/AR at IoBB per threshold and class, each with a 95 % interval from
    ``n_resamples`` patient-bootstrap resamples drawn with ``seed``; counts; PR and FROC curves; FROC
    sensitivities and mFROC; AP/AR per subgroup and their largest gap: see :func:`split_metrics`),
    ``predictions.json`` (COCO results), ``ground_truth.json`` (with patient ids), ``cases.csv`` (one row
    per detection and per missed lesion, :func:`~mdfnet.metrics.cases.case_table`), ``false_positives.csv``
    (per class, where its false positives at the counts' score cut lie: on which class's lesions, or on
    none; :func:`~mdfnet.metrics.cases.false_positive_sources`) and, with ``plots``,
    PNG figures (AP/AR against the threshold, PR, FROC, subgroups, overlays); with ``explain`` (one more
    read of the clinical branch and RoI heads per value and film), ``explanations.json`` and
    ``effects_missing.png`` / ``effects_median.png`` (:func:`explain_split`). Then the run's model card
    is rewritten with the split's metrics (:func:`mdfnet.engine.card.write_model_card`).
    """
    run = RunLayout(run_dir)
    path = run.checkpoint(checkpoint)
    check_bootstrap_settings(n_resamples, 0.95, [0.5])  # before any inference
    dev = pick_device(device)
    state = load_checkpoint(path, dev)
    model, cfg = model_from_state(state, dev)
    own = Path(cfg.data.cohort or "")
    if cohort is not None and Path(cohort).resolve() != own.resolve():
        if out is None:
            raise InputError(f"--cohort {cohort} is not the cohort run {run.root} was trained on ({own}): give "
                             f"--out for this evaluation, so that the run's own {run.eval_dir(split, checkpoint)} "
                             "stays as it is")
        cfg.data.cohort = str(cohort)
    frame, boxes = load_cohort(Path(cfg.data.cohort or ""))
    folder = Path(out) if out is not None else run.eval_dir(split, checkpoint)
    metrics = evaluate_split(model, cfg, frame, boxes, split, folder, dev,
                             checkpoint=checkpoint, plots=plots, n_overlays=n_overlays, n_resamples=n_resamples,
                             seed=seed, explain=explain, medians=clinical_medians(state))
    if out is None:
        write_model_card(run)  # the card now lists this split's metrics too
    return metrics


@dataclass(frozen=True)
class Evaluation:
    """One evaluation folder, read back: ``folder``, ``metrics`` (``metrics.json``), ``gt`` (COCO ground
    truth), ``detections`` (COCO results) and ``groups`` (``{image_id: patient}``, or ``None``)."""

    folder: Path
    metrics: dict
    gt: dict
    detections: list[dict]
    groups: dict | None


def read_evaluation(folder: str | Path) -> Evaluation:
    """Read an evaluation folder written by :func:`evaluate_split`; a missing or bad file is an
    :class:`InputError` naming it."""
    folder = Path(folder)
    metrics, gt = read_json(folder / METRICS_FILE), read_json(folder / GROUND_TRUTH_FILE)
    check_ground_truth(gt, str(folder / GROUND_TRUTH_FILE))
    detections = read_json(folder / PREDICTIONS_FILE)
    check_detections(detections, gt, str(folder / PREDICTIONS_FILE))
    return Evaluation(folder, metrics, gt, detections, patient_groups(gt))
