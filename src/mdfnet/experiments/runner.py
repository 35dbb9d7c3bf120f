"""Run a study: train (or reuse, or resume) every (spec, seed), evaluate from best.pt, tabulate, plot.

Layout of ``OUT``::

    runs/...                   one run folder per (spec, seed), evaluated there (mdfnet.layout.RunLayout.in_study)
    <study>_runs.csv           one row per (spec, seed)
    <study>.csv, <study>.md    one row per spec: mean +- sd over seeds, the seed mean's 95 % patient-bootstrap
                               interval, the paired difference from the study's reference row (interval, p,
                               per-seed differences), and a line for the largest subgroup gap
    <study>*.png               figures

A run is *finished* when ``last.pt`` holds the configured number of epochs, ``best.pt`` exists and every
split's metrics exist with the statistics this version writes (intervals, subgroups): it is reused as is
(an older evaluation is redone from the same checkpoint). A run with fewer epochs in ``last.pt`` is resumed;
a folder without ``last.pt`` (killed before its first epoch ended) is deleted and trained again. A run
whose saved config differs from the study's is an error, never silently reused; the one exception is a run
differing only in settings its variant never reads (:func:`mdfnet.model.unread_settings`: a baseline's whole
clinical path, MSF-Net 3D's 1D fusion, MSF-Net 1D's 3D fusion), which leave it weight for weight the same,
so changing e.g. ``train.clinical_weight_decay`` retrains only the fused runs, and ``model.clinical_prior``
only those with 1D fusion.

Test metrics come from ``best.pt``, which training selected on validation; the test split is never used
to choose anything. (Were validation AP undefined in every epoch, there is no ``best.pt``, and the run is
evaluated from ``last.pt``; the ``checkpoint`` column says so.)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mdfnet.config import Config, apply_overrides, check_detector_settings, config_from_dict, parse_overrides
from mdfnet.config import preset as config_preset  # run_study's `preset` argument is the preset's name
from mdfnet.data.cohort import load_cohort, load_schema
from mdfnet.engine.card import write_model_card
from mdfnet.engine.checkpoint import load_checkpoint, model_from_checkpoint
from mdfnet.engine.evaluate import N_RESAMPLES, evaluate_split
from mdfnet.engine.runtime import pick_device
from mdfnet.engine.train import TrainingDiverged, train, with_features
from mdfnet.errors import InputError
from mdfnet.experiments.compare import study_comparisons
from mdfnet.experiments.correlation import run_correlation
from mdfnet.experiments.figures import study_figures
from mdfnet.experiments.studies import CORRELATION, RunSpec, Study, get_study, reference_spec, study_specs
from mdfnet.experiments.tables import aggregate, subgroup_gap_line, to_markdown, write_tables
from mdfnet.layout import RunLayout
from mdfnet.metrics.keys import AP_50, HEADLINE, KINDS, count_key, metric_key, parse_metric_key, split_key
from mdfnet.metrics.subgroups import subgroup_values
from mdfnet.model import unread_settings
from mdfnet.model.weights import check_weights_available

QUIET_LABELS = ("model", "kind", "clinical_features")         # descriptive labels left out of progress lines
Log = Callable[[str], Any]


def run_study(name: str, cohort: str | Path, out: str | Path, seeds: Sequence[int] = (0,), preset: str = "fast",
              overrides: Sequence[str] | dict = (), log: Log = print, *, backbones: Sequence[str] | None = None,
              dry_run: bool = False, jobs: int = 1, only: Sequence[str] | None = None) -> pd.DataFrame:
    """Run study ``name`` and return its aggregated table (one row per configuration).

    Args:
        name: ``variants``, ``fusion``, ``backbones``, ``features``, ``detectors`` or ``correlation``.
        cohort: folder written by ``mdfnet prepare``.
        out: study folder (see the module docstring); rerunning with the same ``out`` reuses finished runs.
        seeds: one run per seed of every configuration (``train.seed``).
        preset: config preset for every run (``fast`` or ``paper``).
        overrides: ``["train.epochs=3", ...]`` or nested dicts, applied to every run; they may not set what
            the study varies (nor ``train.seed`` / ``data.cohort``).
        backbones: a subset of :data:`mdfnet.model.BACKBONES` for the ``backbones`` study.
        dry_run: only log (and return) the plan: which runs would be trained, resumed or reused.
        jobs: runs trained at once, each in its own process with ``cores // jobs`` torch threads (on a
            2-core CPU two 1-thread runs finish sooner than two 2-thread runs one after the other).
        only: keep only the configurations whose slug is listed (e.g. ``["variant-baseline", "variant-mdf"]``).

    For ``correlation`` the returned frame is the feature x class Pearson matrix.
    """
    if name == CORRELATION:
        if dry_run:
            log(f"{CORRELATION}: no training; would write {Path(out) / 'correlation.csv'}")
            return pd.DataFrame()
        matrix = run_correlation(cohort, out)
        log(f"wrote {Path(out) / 'correlation.csv'}, .md and .png")
        return matrix
    study = get_study(name)
    specs = study_specs(name, backbones, load_schema(cohort))
    if only:
        unknown = sorted(set(only) - {spec.slug for spec in specs})
        if unknown:
            raise InputError(f"unknown configuration(s) {unknown} for study {name}; expected some of "
                             f"{[spec.slug for spec in specs]}")
        specs = [spec for spec in specs if spec.slug in only]
    seeds = _check_seeds(seeds)
    base = base_config(cohort, preset, overrides, specs)
    out = Path(out)
    plan = []
    reference = config_preset(preset).model
    for spec in specs:
        for seed in seeds:
            cfg = run_config(base, spec, seed)
            check_detector_settings(cfg.model, reference)  # e.g. model.box_samples=64 for an FCOS run
            run_dir = RunLayout.in_study(out, spec.slug, seed).root
            plan.append((spec, seed, cfg, run_dir, run_status(cfg, run_dir, study.splits)))
    for i, (spec, seed, _, _, status) in enumerate(plan, start=1):
        log(f"[{i}/{len(plan)}] {name} {describe(spec)} seed={seed}: {'would be ' if dry_run else ''}{status}")
    if dry_run:
        return pd.DataFrame([{**spec.labels, "seed": seed, "run": str(run_dir), "status": status}
                             for spec, seed, _, run_dir, status in plan])
    for _, _, cfg, _, status in plan:  # an offline machine without the weights stops before any training
        if status in ("training", "restarting", "resuming"):
            check_weights_available(cfg.model)
    results = run_all([(cfg, run_dir, study.splits, status, f"{describe(spec)} seed={seed}")
                       for spec, seed, cfg, run_dir, status in plan], jobs, log)
    rows = [run_row(spec, seed, run_dir.relative_to(out), *result)
            for (spec, seed, _, run_dir, _), result in zip(plan, results)]
    reference = reference_spec(study, specs).labels
    return finish_study(study, pd.DataFrame(rows), list(specs[0].labels), out, log, reference=reference)


def finish_study(study: Study, runs: pd.DataFrame, labels: list[str], out: Path, log: Log = print, *,
                 reference: dict[str, str] | None = None) -> pd.DataFrame:
    """Aggregate the per-seed rows, compare every row with ``reference`` (labels; default the first row),
    write the CSV/Markdown tables and the figures; return the table."""
    metrics = [*HEADLINE, *(split_key(AP_50, s) for s in study.splits if s != "test")]
    table = aggregate(runs, labels, metrics)
    reference = reference or {label: runs.iloc[0][label] for label in labels}
    comparisons = study_comparisons(out, runs, labels, reference, n_resamples=N_RESAMPLES)
    table = table.merge(comparisons, on=labels, how="left", validate="one_to_one")
    paper = f" (paper Fig. {study.figure})" if study.figure else ""
    title = (f"{study.title}{paper}: test AP / AR at IoBB 0.5, mean +- sd over seeds "
             "[95 % patient-bootstrap interval of the mean]")
    name = " ".join(str(v) for v in reference.values())
    notes = [f"vs {name}: paired difference over the same resampled test patients ({N_RESAMPLES:,} resamples), "
             "its 95 % interval and two-sided p; per seed: mean +- sd of the seed-by-seed differences.",
             subgroup_gap_line(runs, labels)]
    paths = write_tables(runs, table, out, study.name, title, name, notes)
    figures = study_figures(study.name, runs, table, out)
    log(to_markdown(table, title, name, notes))
    log(f"wrote {', '.join(str(p) for p in [*paths.values(), *figures])}")
    return table


def base_config(cohort: str | Path, preset_name: str, overrides: Sequence[str] | dict,
                specs: Sequence[RunSpec]) -> Config:
    """The preset with the cohort and the user's overrides, refusing overrides of what the study varies."""
    user = parse_overrides(list(overrides)) if not isinstance(overrides, dict) else overrides
    varied = {(section, key) for spec in specs for section, values in spec.overrides.items() for key in values}
    varied |= {("train", "seed"), ("data", "cohort")}
    clash = sorted(f"{s}.{k}" for s, values in user.items() for k in values if (s, k) in varied)
    if clash:
        raise InputError(f"override(s) {', '.join(clash)} set what this study varies (or --seeds / --cohort); "
                         "leave them out")
    cfg = apply_overrides(config_preset(preset_name), {"data": {"cohort": str(Path(cohort).resolve())}})
    return with_features(apply_overrides(cfg, user), load_schema(cohort))  # as train() spells them out


def run_config(base: Config, spec: RunSpec, seed: int) -> Config:
    return apply_overrides(apply_overrides(base, spec.overrides), {"train": {"seed": seed}})


def run_status(cfg: Config, run_dir: Path, splits: Sequence[str]) -> str:
    """``training`` (no folder), ``restarting`` (no last.pt), ``resuming``, ``evaluating`` or ``reused``."""
    run = RunLayout(run_dir)
    if not run.root.exists():
        return "training"
    if not run.last.is_file():
        return "restarting"
    state = load_checkpoint(run.last)
    _check_same_config(cfg, state["config"], run_dir)
    if int(state["epoch"]) < cfg.train.epochs:
        return "resuming"
    checkpoint = run.selected_checkpoint()
    done = all(_has_statistics(run.eval_metrics(split, checkpoint)) for split in splits)
    return "reused" if done else "evaluating"


def _has_statistics(path: Path) -> bool:
    """An evaluation this version wrote: with intervals and subgroups (an older one is redone)."""
    return path.is_file() and "subgroups" in read_metrics(path)


def ensure_run(cfg: Config, run_dir: Path, splits: Sequence[str], status: str,
               log: Log = print, progress: bool = True) -> tuple[str, dict[str, dict]]:
    """Bring one run to *finished* from ``status``; returns ``(checkpoint, {split: metrics})``."""
    try:
        if status == "restarting":
            shutil.rmtree(run_dir)
        if status in ("training", "restarting"):
            train(cfg, run_dir, log=log, progress=progress)
        elif status == "resuming":
            train(cfg, run_dir, resume=True, log=log, progress=progress)
    except TrainingDiverged as err:
        raise InputError(f"{run_dir}: {err}; change the settings (e.g. a smaller train.lr) and rerun") from None
    run = RunLayout(run_dir)
    checkpoint = run.selected_checkpoint()
    if status == "reused":
        return checkpoint, {s: read_metrics(run.eval_metrics(s, checkpoint)) for s in splits}
    return checkpoint, evaluate_splits(run_dir, splits, checkpoint, cfg.data.cohort)


def run_all(tasks: Sequence[tuple], jobs: int, log: Log = print) -> list[tuple[str, dict[str, dict]]]:
    """``ensure_run`` for each ``(cfg, run_dir, splits, status, label)``, ``jobs`` at a time; results in order."""
    if jobs <= 1 or len(tasks) <= 1:
        return [ensure_run(cfg, run_dir, splits, status, log) for cfg, run_dir, splits, status, _ in tasks]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        futures = [pool.submit(ensure_run, cfg, run_dir, splits, status, partial(_prefixed, label), False)
                   for cfg, run_dir, splits, status, label in tasks]
        return [f.result() for f in futures]


def _init_worker(threads: int, parent: int) -> None:
    from mdfnet.cli import one_line_warnings

    torch.set_num_threads(threads)
    one_line_warnings()
    exit_with_parent(parent)


def exit_with_parent(parent: int, every: float = 2.0) -> None:
    """End this worker once ``parent`` is gone. A study killed by its process id alone (``kill PID``) leaves
    its pool's workers running, still training into the run folders a rerun of the study then trains into
    too; Ctrl-C reaches the whole process group, ``kill`` does not."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _prefixed(prefix: str, message: str) -> None:
    print(f"[{prefix}] {message}", flush=True)


def evaluate_splits(run_dir: Path, splits: Sequence[str], checkpoint: str, cohort: str | Path) -> dict[str, dict]:
    """Evaluate one checkpoint on several splits, loading model and cohort once (no plots)."""
    run = RunLayout(run_dir)
    model, cfg = model_from_checkpoint(run.checkpoint(checkpoint))
    device = pick_device(cfg.train.device)
    model.to(device)
    frame, boxes = load_cohort(cohort)
    metrics = {split: evaluate_split(model, cfg, frame, boxes, split, run.eval_dir(split, checkpoint), device,
                                     checkpoint=checkpoint)
               for split in splits}
    write_model_card(run)  # with these splits' metrics
    return metrics


def read_metrics(path: Path) -> dict:
    return json.loads(path.read_text())


def run_row(spec: RunSpec, seed: int, run: Path, checkpoint: str, metrics: dict[str, dict]) -> dict:
    """One per-seed row: labels, seed, run folder, headline metrics per split, and for the test split the
    AP/AR at every IoBB threshold, per-class AP, mFROC, the largest subgroup gaps, AP/AR per subgroup of
    at least :data:`~mdfnet.metrics.subgroups.MIN_READINGS` readings (:func:`~mdfnet.metrics.keys.subgroup_key`) and
    per-class TP/FP/FN counts."""
    row: dict[str, Any] = {**spec.labels, "seed": seed, "run": str(run), "checkpoint": checkpoint}
    for split, values in metrics.items():
        for key in HEADLINE:
            row[split_key(key, split)] = _number(values.get(key))
    test = metrics.get("test", {})
    for key, value in test.items():
        if _is_iobb_metric(key) and key not in row and not isinstance(value, (list, dict)):
            row[key] = _number(value)  # intervals (lists) stay in metrics.json; the table has its own
    for key in (metric_key("mFROC"), metric_key("mFROC4")):
        row[key] = _number(test.get(key))
    for key in HEADLINE:
        row.update({k: _number(v) for k, v in subgroup_values(test.get("subgroups", {}), key).items()})
    for name, counts in test.get("counts", {}).items():  # the cohort's classes, in class order
        for kind, n in counts.items():
            row[count_key(kind, name)] = n
    return row


def describe(spec: RunSpec) -> str:
    """``variant=mdf`` / ``backbone=resnet18 variant=mdf``: the labels that identify a spec."""
    return " ".join(f"{k}={v}" for k, v in spec.labels.items() if k not in QUIET_LABELS)


def _is_iobb_metric(key: str) -> bool:
    """An AP or AR at IoBB: per threshold, their mean, or per class (the per-run table's test columns)."""
    parts = parse_metric_key(key)
    return parts is not None and parts.kind in KINDS and parts.overlap == "iobb"


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise InputError(f"seeds must be distinct non-negative integers, got {seeds}")
    return seeds


def _check_same_config(cfg: Config, saved: dict, run_dir: Path) -> None:
    """Refuse to reuse or resume a run trained with other settings (e.g. after changing an override); a run may
    differ in the settings its variant never reads (:func:`~mdfnet.model.unread_settings`)."""
    want, have = cfg.to_dict(), config_from_dict(saved).to_dict()
    unread = unread_settings(cfg.model.variant)
    diff = [f"{s}.{k}: run has {have[s][k]!r}, study wants {want[s][k]!r}"
            for s in want for k in want[s] if have[s].get(k) != want[s][k] and f"{s}.{k}" not in unread]
    if diff:
        raise InputError(f"{run_dir} was trained with other settings ({'; '.join(diff[:3])}); "
                         "delete it or choose another --out")
