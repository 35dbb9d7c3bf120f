"""Paired comparison of two runs (``mdfnet compare``), and of every row of a study against its reference.

A *side* is a run folder (with an evaluation of best.pt or last.pt, written by ``mdfnet evaluate`` or a
study) or a folder of seed run folders (as ``mdfnet train --seeds`` and a study write them; both layouts:
:mod:`mdfnet.layout`). Every evaluation is resampled with the same patients (same seed, same
groups), so each side's value in a resample is the mean over its seeds, and B - A is paired
(:func:`mdfnet.metrics.paired.paired_difference`). Where both sides have several seeds, the per-seed
paired differences (mean +- sd over the seeds both have) come too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mdfnet.engine.evaluate import N_RESAMPLES, Evaluation, read_evaluation
from mdfnet.errors import InputError
from mdfnet.layout import RunLayout, seed_runs
from mdfnet.metrics.bootstrap import Resampled, bootstrap_settings, check_bootstrap_settings, resample_metrics
from mdfnet.metrics.keys import KINDS, bound_keys, ci_key, diff_key, metric_key, p_key, seed_diff_columns
from mdfnet.metrics.paired import P_VALUE_RULE, check_same_cohort, paired_difference, seed_differences

SETTINGS = ("overlap", "max_dets", "max_dets_per", "score_threshold")  # must agree for a comparison to mean anything


def find_evaluations(folder: str | Path, split: str = "test") -> dict[int | None, Path]:
    """``{seed: evaluation folder}`` of a folder of seed runs, or ``{None: folder}`` of one run."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such run folder")
    seeds = seed_runs(folder)
    if seeds:
        return {seed: _evaluation_of(run, split) for seed, run in seeds.items()}
    return {None: _evaluation_of(RunLayout(folder), split)}


def _evaluation_of(run: RunLayout, split: str) -> Path:
    found = run.evaluation(split)
    if found is None:
        raise InputError(f"{run.root}: no evaluation of the {split} split ({run.eval_metrics(split, 'best')} "
                         f"not found); run `mdfnet evaluate --run {run.root} --split {split}` first")
    return found


def compare_runs(run_a: str | Path, run_b: str | Path, split: str = "test", *, n_resamples: int = N_RESAMPLES,
                 seed: int = 0, confidence: float = 0.95, thresholds: Sequence[float] | None = None) -> dict:
    """B - A for every AP/AR key of two runs (or folders of seeds) evaluated on the same cohort and split.

    Args:
        run_a, run_b: see the module docstring.
        thresholds: overlap thresholds compared (default: those the evaluations used).

    Returns:
        :func:`~mdfnet.metrics.paired.paired_difference`'s keys (``"a"``, ``"b"``, ``<key>_diff``,
        ``<key>_diff_ci95``, ``<key>_p``); ``"seeds"``: :func:`~mdfnet.metrics.paired.seed_differences`
        over the seeds both sides have, when both have several (else ``None``); ``"runs"``: ``{"a", "b"}``
        the evaluation folders; ``"overlap"``, ``"classes"`` (names by id); ``"bootstrap"``: the settings,
        ``resampled`` ``"patients"`` or ``"images"`` and the p-value rule.
    """
    check_bootstrap_settings(n_resamples, confidence, [0.5])
    sides = {name: {s: read_evaluation(d) for s, d in find_evaluations(run, split).items()}
             for name, run in (("a", run_a), ("b", run_b))}
    first = next(iter(sides["a"].values()))
    for evaluation in [*sides["a"].values(), *sides["b"].values()][1:]:
        check_same_evaluation(first, evaluation)
    thresholds = list(first.metrics["thresholds"] if thresholds is None else thresholds)
    resampled = {name: {s: resample_evaluation(e, first.groups, thresholds, n_resamples, seed)
                        for s, e in evaluations.items()} for name, evaluations in sides.items()}
    result = paired_difference(list(resampled["a"].values()), list(resampled["b"].values()), confidence)
    result["seeds"] = _seed_differences(resampled["a"], resampled["b"])
    result["runs"] = {name: [str(e.folder) for e in evaluations.values()] for name, evaluations in sides.items()}
    result["overlap"] = first.metrics["overlap"]
    result["classes"] = [c["name"] for c in sorted(first.gt["categories"], key=lambda c: c["id"])]
    n_groups = next(iter(resampled["a"].values())).n_groups
    result["bootstrap"] = {**bootstrap_settings(n_resamples, seed, confidence, n_groups),
                           "resampled": "images" if first.groups is None else "patients", "p_value": P_VALUE_RULE}
    return result


def check_same_evaluation(first: Evaluation, other: Evaluation) -> None:
    """Raise :class:`InputError` unless ``other`` scored the same cohort, split and settings as ``first``."""
    check_same_cohort(first.gt, other.gt, (str(first.folder), str(other.folder)))
    for setting in SETTINGS:
        if first.metrics.get(setting) != other.metrics.get(setting):
            raise InputError(f"{first.folder} and {other.folder} were evaluated with other settings: {setting} "
                             f"{first.metrics.get(setting)!r} against {other.metrics.get(setting)!r}")


def resample_evaluation(evaluation: Evaluation, groups: Mapping | None, thresholds: Sequence[float],
                        n_resamples: int, seed: int) -> Resampled:
    """Every AP/AR key of a saved evaluation, at the data and per resample (its own settings)."""
    m = evaluation.metrics
    return resample_metrics(evaluation.gt, evaluation.detections, groups, overlap=m["overlap"], thresholds=thresholds,
                            n_resamples=n_resamples, seed=seed, max_dets=m["max_dets"], max_dets_per=m["max_dets_per"],
                            score_threshold=m["score_threshold"])


def _seed_differences(a: Mapping[int | None, Resampled], b: Mapping[int | None, Resampled]) -> dict | None:
    common = sorted(set(a) & set(b) - {None})
    if len(a) < 2 or len(b) < 2 or len(common) < 2:
        return None
    keys = list(next(iter(a.values())).point)
    return seed_differences({s: a[s].point for s in common}, {s: b[s].point for s in common}, keys)


# ---- every row of a study against its reference row ----

def study_comparisons(out: Path, runs: pd.DataFrame, labels: Sequence[str], reference: Mapping[str, str], *,
                      kinds: Sequence[str] = KINDS, n_resamples: int = N_RESAMPLES, seed: int = 0,
                      confidence: float = 0.95) -> pd.DataFrame:
    """Intervals of each configuration's mean over seeds, and its paired difference from ``reference``.

    Args:
        out: the study folder; runs: its per-seed table (``labels``, ``seed``, ``run`` relative to ``out``,
            ``checkpoint``); reference: the reference configuration's labels.
        kinds: metrics compared at IoBB 0.5.

    Returns:
        One row per configuration (``labels`` columns, first-seen order) with, for each key ``k``
        (:data:`~mdfnet.metrics.keys.AP_50` ...): the bounds of ``k_ci95`` (the seed mean's interval; :func:`bound_keys`
        columns), ``k_diff`` (this row - reference), the bounds of ``k_diff_ci95``, ``k_p``, and
        ``k_diff_seeds_mean`` / ``_sd`` (per-seed paired differences over the seeds both have, when both
        have several); nan in the comparison columns of the reference row itself.
    """
    check_bootstrap_settings(n_resamples, confidence, [0.5])
    keys = [metric_key(kind) for kind in kinds]
    labels = list(labels)
    evaluations = {(tuple(row[c] for c in labels), int(row["seed"])):
                   read_evaluation(RunLayout(out / row["run"]).eval_dir("test", row["checkpoint"]))
                   for _, row in runs.iterrows()}
    first = next(iter(evaluations.values()))
    for evaluation in evaluations.values():
        check_same_evaluation(first, evaluation)
    resampled = {k: resample_evaluation(e, first.groups, [0.5], n_resamples, seed) for k, e in evaluations.items()}
    configurations = list(dict.fromkeys(config for config, _ in resampled))
    by_config = {c: {s: r for (config, s), r in resampled.items() if config == c} for c in configurations}
    ref = tuple(reference[c] for c in labels)
    if ref not in by_config:
        raise InputError(f"reference configuration {dict(reference)} is not among the study's runs")
    rows = []
    for config, seeds in by_config.items():
        paired = paired_difference(list(by_config[ref].values()), list(seeds.values()), confidence)
        per_seed = _seed_differences(by_config[ref], seeds) if config != ref else None
        row = dict(zip(labels, config))
        for key in keys:
            row.update(zip(bound_keys(ci_key(key, confidence)), paired["b"][ci_key(key, confidence)]))
            same = config == ref
            row[diff_key(key)] = math.nan if same else paired[diff_key(key)]
            diff_bounds = [math.nan, math.nan] if same else paired[ci_key(diff_key(key), confidence)]
            row.update(zip(bound_keys(ci_key(diff_key(key), confidence)), diff_bounds))
            row[p_key(key)] = math.nan if same else paired[p_key(key)]
            mean_column, sd_column = seed_diff_columns(key)
            row[mean_column] = math.nan if per_seed is None else per_seed["mean"][key]
            row[sd_column] = math.nan if per_seed is None else per_seed["sd"][key]
        rows.append(row)
    return pd.DataFrame(rows)
