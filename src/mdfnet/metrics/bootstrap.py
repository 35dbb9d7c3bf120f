"""Patient-level bootstrap intervals of AP / AR, from one matching pass per threshold.

A test split of about 100 readings makes one AP a noisy number. The bootstrap here resamples *groups*
(patients: all readings of a patient are drawn together, since they are not independent) with
replacement, and reports percentile intervals.

Nothing is matched again per resample. Matching an image's detections depends only on that image, so
drawing an image ``w`` times is the same as giving its matched detections and its ground truth the
weight ``w``: a resample is a vector of image weights, and AP/AR are rebuilt from weighted cumulative
sums in COCO's exact way (precision ``tp / (tp + fp)`` after each detection in score order, recall
``tp / n_gt``, the monotone precision envelope read at the 101 recall points ``0, 0.01, ..., 1``; AR is
the recall with all kept detections; classes without ground truth in a resample are left out of that
resample's mean). A resample's AP therefore equals :func:`~mdfnet.metrics.evaluate_detections` on the
dataset with each image physically copied ``w`` times (tests/metrics/test_bootstrap.py), as long as no
two detections of one image and class share a score (COCO would interleave such ties across copies).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mdfnet.errors import InputError
from mdfnet.metrics.keys import KINDS, ci_key, metric_key
from mdfnet.metrics.outcomes import Matching, Outcomes
from mdfnet.metrics.weighted import weighted_ap_ar

CHUNK_ELEMENTS = 2**24  # detections x resamples per block: its largest array, int16 running sums, is 32 MB


def bootstrap_metrics(gt: dict, dets: list[dict], groups: Mapping[int, Hashable] | None = None, *,
                      overlap: str = "iobb", thresholds: Sequence[float] = (0.5,), n_resamples: int = 1000,
                      seed: int = 0, confidence: float = 0.95, max_dets: int = 10,
                      max_dets_per: str = "image_class", score_threshold: float = 0.05,
                      return_resamples: bool = False) -> dict:
    """AP / AR with percentile bootstrap intervals over resampled patients (or images).

    Args:
        gt, dets: COCO ground truth and results, as for :func:`~mdfnet.metrics.evaluate_detections`
            (``overlap``, ``max_dets``, ``max_dets_per`` and ``score_threshold`` mean the same).
        groups: ``{image_id: patient}`` for every image of ``gt``; ``None`` makes each image its own group.
        thresholds: overlap thresholds, each matched once.
        n_resamples: ``B``. Resample ``b`` draws as many groups as there are, uniformly with replacement:
            ``rng.integers(0, G, size=G)`` for ``b = 0, 1, ...`` in turn, ``rng = np.random.default_rng(seed)``,
            groups numbered in order of first appearance over the sorted image ids. An image's weight is
            the number of times its group was drawn.
        confidence: the interval is ``[q((1 - c) / 2), q((1 + c) / 2)]``, ``q`` the percentile of the
            resampled values (numpy's default linear interpolation), over the resamples where the value
            is defined (a class drawn without ground truth has no AP in that resample).
        return_resamples: also return the raw values per resample (for paired comparisons).

    Returns:
        For each threshold ``t`` and ``<O>`` = ``IoBB`` / ``IoU``: ``AP_<O>_t``, ``AR_<O>_t`` (class
        means) and ``AP_<O>_t_<Class>``, ``AR_<O>_t_<Class>``, plus ``AP_<O>_mean`` / ``AR_<O>_mean`` over
        the thresholds: each the point value (equal to ``evaluate_detections``; ``nan`` when undefined)
        and ``<key>_ci95`` -> ``[low, high]`` (``ci90`` etc. for another confidence; ``nan`` bounds when
        no resample defines the value). ``"bootstrap"``: the settings (``n_resamples, seed, confidence,
        n_groups, interval="percentile"``). With ``return_resamples``, ``"resamples"``: ``{key: [B]}``.
    """
    check_bootstrap_settings(n_resamples, confidence, thresholds)
    values = resample_metrics(gt, dets, groups, overlap=overlap, thresholds=thresholds, n_resamples=n_resamples,
                              seed=seed, max_dets=max_dets, max_dets_per=max_dets_per, score_threshold=score_threshold)
    result = with_intervals(values.point, values.resamples, confidence)
    result["bootstrap"] = bootstrap_settings(n_resamples, seed, confidence, values.n_groups)
    if return_resamples:
        result["resamples"] = values.resamples
    return result


@dataclass(frozen=True)
class Resampled:
    """Point values ``{key: float}``, values per resample ``{key: [B]}`` (nan where undefined), and ``G``."""

    point: dict[str, float]
    resamples: dict[str, np.ndarray]
    n_groups: int


def resample_metrics(gt: dict, dets: list[dict], groups: Mapping[int, Hashable] | None, *, overlap: str,
                     thresholds: Sequence[float], n_resamples: int, seed: int, max_dets: int, max_dets_per: str,
                     score_threshold: float) -> Resampled:
    """Every AP/AR key, at the data and per resample (arguments and draws as in :func:`bootstrap_metrics`):
    the same ``seed`` and ``groups`` give the same draws for any detections, which pairs two detectors."""
    matching = Matching(gt, dets, overlap=overlap, max_dets=max_dets, max_dets_per=max_dets_per,
                        score_threshold=score_threshold)
    outcomes = [matching.outcomes(t) for t in thresholds]
    group_of_image, n_groups = group_index(outcomes[0].image_ids, groups)
    point = {key: float(v[0]) for key, v in point_values(outcomes).items()}
    return Resampled(point, resampled_values(outcomes, group_of_image, n_groups, n_resamples, seed), n_groups)


def with_intervals(point: Mapping[str, float], resamples: Mapping[str, np.ndarray], confidence: float) -> dict:
    """``{key: point, ci_key(key): [low, high]}`` for every key."""
    result: dict = {}
    for key, value in point.items():
        result[key] = value
        result[ci_key(key, confidence)] = percentile_interval(resamples[key], confidence)
    return result


def bootstrap_settings(n_resamples: int, seed: int, confidence: float, n_groups: int) -> dict:
    return {"n_resamples": int(n_resamples), "seed": int(seed), "confidence": float(confidence),
            "n_groups": int(n_groups), "interval": "percentile"}


def check_bootstrap_settings(n_resamples: int, confidence: float, thresholds: Sequence[float]) -> None:
    """Raise :class:`InputError` unless ``n_resamples >= 1`` (an integer), ``0 < confidence < 1`` and
    there is at least one threshold."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise InputError(f"n_resamples: expected an integer >= 1, got {n_resamples!r}")
    if not 0 < confidence < 1:
        raise InputError(f"confidence: expected a number between 0 and 1 (e.g. 0.95), got {confidence!r}")
    if not len(thresholds):
        raise InputError("thresholds: expected at least one overlap threshold, got none")


def group_index(image_ids: np.ndarray, groups: Mapping[int, Hashable] | None) -> tuple[np.ndarray, int]:
    """Group number [I] of each of the sorted ``image_ids`` (in order of first appearance), and ``G``."""
    if not len(image_ids):
        raise InputError("ground truth: no images to resample")
    if groups is None:
        return np.arange(len(image_ids)), len(image_ids)
    known = set(image_ids.tolist())
    for image_id in groups:
        if image_id not in known:
            raise InputError(f"groups: image {image_id!r} is not an image of the ground truth")
    number: dict[Hashable, int] = {}
    index = np.empty(len(image_ids), np.int64)
    for i, image_id in enumerate(image_ids.tolist()):
        if image_id not in groups:
            raise InputError(f"groups: image {image_id} of the ground truth has no group (patient)")
        index[i] = number.setdefault(groups[image_id], len(number))
    return index, len(number)


def resample_weights(group_of_image: np.ndarray, n_groups: int, n_resamples: int, seed: int,
                     chunk: int) -> Iterator[np.ndarray]:
    """Image weights [I, C] for ``C <= chunk`` resamples at a time (see :func:`bootstrap_metrics` for the draws)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        counts = np.stack([np.bincount(rng.integers(0, n_groups, size=n_groups), minlength=n_groups)
                           for _ in range(size)])  # [C, G]
        small = counts.astype(np.min_scalar_type(int(counts.max(initial=0))))  # uint8: cheap to gather
        yield np.ascontiguousarray(small.T)[group_of_image]


def point_values(outcomes: Sequence[Outcomes]) -> dict[str, np.ndarray]:
    """Every AP/AR key at weight 1 per image: ``{key: [1]}``."""
    ones = np.ones((len(outcomes[0].image_ids), 1), np.uint8)
    return summarise_weighted([weighted_ap_ar(o, ones) for o in outcomes], outcomes)


def resampled_values(outcomes: Sequence[Outcomes], group_of_image: np.ndarray, n_groups: int, n_resamples: int,
                     seed: int, chunk_elements: int = CHUNK_ELEMENTS) -> dict[str, np.ndarray]:
    """Every AP/AR key for each resample: ``{key: [B]}``, computed ``chunk`` resamples at a time."""
    longest = max((int(np.diff(o.class_start).max(initial=0)) for o in outcomes), default=0)
    chunk = int(np.clip(chunk_elements // max(longest, 1), 1, n_resamples))
    blocks = [summarise_weighted([weighted_ap_ar(o, weights) for o in outcomes], outcomes)
              for weights in resample_weights(group_of_image, n_groups, n_resamples, seed, chunk)]
    return {key: np.concatenate([block[key] for block in blocks]) for key in blocks[0]}


def summarise_weighted(per_threshold: Sequence[tuple[np.ndarray, np.ndarray]],
                       outcomes: Sequence[Outcomes]) -> dict[str, np.ndarray]:
    """Keyed values [C] from (AP, AR) [C, K] per threshold: class means, per class, and the threshold mean."""
    out: dict[str, np.ndarray] = {}
    means = {"AP": [], "AR": []}
    overlap, names = outcomes[0].overlap, outcomes[0].names
    for o, (ap, ar) in zip(outcomes, per_threshold):
        for kind, values in (("AP", ap), ("AR", ar)):
            means[kind].append(nan_mean(values, axis=1))
            out[metric_key(kind, o.threshold, overlap)] = means[kind][-1]
            for k, name in enumerate(names):
                out[metric_key(kind, o.threshold, overlap, name)] = values[:, k]
    for kind in KINDS:
        out[metric_key(kind, None, overlap)] = nan_mean(np.stack(means[kind], axis=1), axis=1)
    return out


def nan_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` ignoring nan; nan where every value is nan (no warning)."""
    defined = ~np.isnan(values)
    count = defined.sum(axis=axis)
    total = np.where(defined, values, 0.0).sum(axis=axis)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def percentile_interval(values: np.ndarray, confidence: float) -> list[float]:
    """``[low, high]`` percentiles of the defined (non-nan) ``values``; nan bounds when none is defined."""
    values = values[~np.isnan(values)]
    if not values.size:
        return [float("nan"), float("nan")]
    tail = 50 * (1 - confidence)
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]
