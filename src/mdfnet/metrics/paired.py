"""Paired comparison of two detectors on the same cohort and split: B - A with a bootstrap interval and a
p-value over the same resampled patients, per-seed paired differences, and the same-cohort check.

Pairing matters: both detectors see the same hard and easy patients, so the difference varies much
less across resamples than either AP does, and two overlapping intervals can still be a clear gap.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from mdfnet.errors import InputError
from mdfnet.metrics.bootstrap import (Resampled, bootstrap_settings, check_bootstrap_settings, percentile_interval,
                                      resample_metrics, with_intervals)
from mdfnet.metrics.keys import ci_key, diff_key, p_key

P_VALUE_RULE = "two-sided: min(1, 2 * (1 + min(#{d* <= 0}, #{d* >= 0})) / (B + 1)) over the B resamples defining d*"


def paired_bootstrap(gt: dict, dets_a: list[dict], dets_b: list[dict], groups: Mapping[int, Hashable] | None = None,
                     *, overlap: str = "iobb", thresholds: Sequence[float] = (0.5,), n_resamples: int = 1000,
                     seed: int = 0, confidence: float = 0.95, max_dets: int = 10, max_dets_per: str = "image_class",
                     score_threshold: float = 0.05) -> dict:
    """B - A for every AP/AR key, over the same resampled patients (arguments as for
    :func:`~mdfnet.metrics.bootstrap.bootstrap_metrics`; one ``gt`` for both: check two runs' ground truths
    with :func:`check_same_cohort` first).

    Returns:
        ``"a"``, ``"b"``: each side's :func:`~mdfnet.metrics.bootstrap.bootstrap_metrics` keys (points and
        intervals). For each key (:data:`~mdfnet.metrics.keys.AP_50` ...): ``<key>_diff`` = B - A at the data,
        ``<key>_diff_ci95`` = the percentile interval of the resampled differences ``d*``, and ``<key>_p``,
        the two-sided bootstrap p-value of "no difference": ``min(1, 2 (1 + min(#{d* <= 0}, #{d* >= 0}))
        / (B + 1))`` over the resamples where ``d*`` is defined (never 0; below 0.05 about when the 95 %
        interval excludes 0; nan when no resample defines ``d*``). ``"bootstrap"``: the settings and
        ``p_value``, that rule in words.
    """
    check_bootstrap_settings(n_resamples, confidence, thresholds)
    common = dict(overlap=overlap, thresholds=thresholds, n_resamples=n_resamples, seed=seed, max_dets=max_dets,
                  max_dets_per=max_dets_per, score_threshold=score_threshold)
    a = resample_metrics(gt, dets_a, groups, **common)
    b = resample_metrics(gt, dets_b, groups, **common)  # same seed and groups: the same patients drawn
    result = paired_difference([a], [b], confidence)
    result["bootstrap"] = {**bootstrap_settings(n_resamples, seed, confidence, a.n_groups), "p_value": P_VALUE_RULE}
    return result


def paired_difference(runs_a: Sequence[Resampled], runs_b: Sequence[Resampled], confidence: float = 0.95) -> dict:
    """B - A where each side is the mean over its runs (e.g. seeds), at the data and in every resample.

    Every run must come from :func:`~mdfnet.metrics.bootstrap.resample_metrics` on the same ground truth
    with the same ``groups``, ``seed`` and ``n_resamples``: resample ``b`` then draws the same patients for
    every run, and a side's value in it is the mean of its runs' values. With one run per side this is
    :func:`paired_bootstrap`'s comparison.

    Returns:
        ``"a"``, ``"b"``: each side's mean over runs and its interval (``<key>``, ``<key>_ci95``); per key
        ``<key>_diff``, ``<key>_diff_ci95`` and ``<key>_p``, as :func:`paired_bootstrap` defines them.
    """
    runs = [*runs_a, *runs_b]
    if not runs_a or not runs_b:
        raise InputError(f"a paired comparison needs runs on both sides, got {len(runs_a)} and {len(runs_b)}")
    shapes = {(r.n_groups, len(next(iter(r.resamples.values())))) for r in runs}
    if len(shapes) > 1:
        raise InputError(f"runs resampled differently (groups, resamples): {sorted(shapes)}; resample every run "
                         "with the same groups, seed and number of resamples")
    a, b = _mean_over_runs(runs_a), _mean_over_runs(runs_b)
    result: dict = {"a": with_intervals(a.point, a.resamples, confidence),
                    "b": with_intervals(b.point, b.resamples, confidence)}
    for key in a.point:
        differences = b.resamples[key] - a.resamples[key]
        result[diff_key(key)] = b.point[key] - a.point[key]
        result[ci_key(diff_key(key), confidence)] = percentile_interval(differences, confidence)
        result[p_key(key)] = bootstrap_p_value(differences)
    return result


def _mean_over_runs(runs: Sequence[Resampled]) -> Resampled:
    """Point values and resampled values averaged over runs (a class without ground truth in a resample
    is nan in every run, since the runs share the draws and the ground truth)."""
    if len(runs) == 1:
        return runs[0]
    keys = runs[0].point
    return Resampled({k: float(np.mean([r.point[k] for r in runs])) for k in keys},
                     {k: np.mean([r.resamples[k] for r in runs], axis=0) for k in keys}, runs[0].n_groups)


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of "no difference" from resampled differences [B] (nan = undefined, left out)."""
    defined = differences[~np.isnan(differences)]
    if not defined.size:
        return float("nan")
    tail = min(np.count_nonzero(defined <= 0), np.count_nonzero(defined >= 0))
    return min(1.0, 2 * (1 + tail) / (defined.size + 1))


def seed_differences(runs_a: Mapping[int, Mapping], runs_b: Mapping[int, Mapping], keys: Sequence[str]) -> dict:
    """Per-seed paired differences B - A, when both sides were trained with the same seeds.

    Args:
        runs_a, runs_b: ``{seed: metrics}`` of each side (``None`` values, JSON's null, count as nan).
        keys: the metric keys to compare (e.g. :data:`~mdfnet.metrics.keys.AP_50`).

    Returns:
        ``{"seeds": [sorted seeds], "diffs": {key: [B - A per seed]}, "mean": {key: mean},
        "sd": {key: sample sd (n - 1); nan for one seed}}``.
    """
    only = sorted(set(runs_a) ^ set(runs_b))
    if only:
        side, other = ("A", "B") if only[0] in runs_a else ("B", "A")
        raise InputError(f"seed {only[0]}: side {side} has a run, side {other} has none; a paired comparison "
                         f"needs the same seeds on both sides (A: {sorted(runs_a)}, B: {sorted(runs_b)})")
    seeds = sorted(runs_a)
    diffs = {key: [_metric(runs_b[s], key, s, "B") - _metric(runs_a[s], key, s, "A") for s in seeds] for key in keys}
    return {"seeds": seeds, "diffs": diffs,
            "mean": {key: float(np.mean(d)) if d else float("nan") for key, d in diffs.items()},
            "sd": {key: float(np.std(d, ddof=1)) if len(d) > 1 else float("nan") for key, d in diffs.items()}}


def _metric(metrics: Mapping, key: str, seed: int, side: str) -> float:
    if key not in metrics:
        raise InputError(f"seed {seed}: side {side}'s metrics have no {key!r}")
    value = metrics[key]
    return float("nan") if value is None else float(value)


def check_same_cohort(gt_a: dict, gt_b: dict, names: tuple[str, str] = ("A", "B")) -> None:
    """Raise :class:`InputError` naming the first difference unless two COCO ground truths describe the
    same images (ids and fields), categories and boxes (per image, in any order): two runs compared on
    different cohorts or splits would pair unrelated numbers."""
    a, b = names
    prefix = f"{a} and {b} are not on the same cohort and split"
    images_a, images_b = ({image["id"]: image for image in gt["images"]} for gt in (gt_a, gt_b))
    for image_id in sorted(images_a.keys() | images_b.keys()):
        if image_id not in images_b or image_id not in images_a:
            has, lacks = (a, b) if image_id in images_a else (b, a)
            raise InputError(f"{prefix}: image {image_id} is in {has}'s ground truth, not in {lacks}'s")
        if images_a[image_id] != images_b[image_id]:
            raise InputError(f"{prefix}: image {image_id} is {images_a[image_id]} in {a}, {images_b[image_id]} in {b}")
    categories_a, categories_b = (sorted((c["id"], c["name"]) for c in gt["categories"]) for gt in (gt_a, gt_b))
    if categories_a != categories_b:
        raise InputError(f"{prefix}: categories {categories_a} in {a}, {categories_b} in {b}")
    boxes_a, boxes_b = _boxes_by_image(gt_a), _boxes_by_image(gt_b)
    for image_id in sorted(images_a):
        if boxes_a.get(image_id, []) != boxes_b.get(image_id, []):
            raise InputError(f"{prefix}: image {image_id} has boxes (category, [x, y, w, h], crowd) "
                             f"{boxes_a.get(image_id, [])} in {a}, {boxes_b.get(image_id, [])} in {b}")


def _boxes_by_image(gt: dict) -> dict[int, list[tuple]]:
    boxes: dict[int, list[tuple]] = {}
    for ann in gt["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(
            (ann["category_id"], [float(v) for v in ann["bbox"]], int(ann.get("iscrowd", 0))))
    return {image_id: sorted(items) for image_id, items in boxes.items()}
