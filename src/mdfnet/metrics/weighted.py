"""COCO AP / AR with integer image weights, for many weightings at once (the bootstrap's inner loop).

Weight ``w`` on an image stands for ``w`` copies of it: its matched detections and its ground truth count
``w`` times. Per class, the detections stay in COCO's accumulation order (matching does not change when
images are copied), so a weighting only changes the cumulative true- and false-positive counts.
"""

from __future__ import annotations

import numpy as np

from mdfnet.metrics.outcomes import Outcomes

RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's recThrs
ROW_LOOP_WIDTH = 64  # from this many weightings on, running sums add whole rows in a Python loop


def weighted_ap_ar(outcomes: Outcomes, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO AP and AR per class [C, K] under ``C`` image weightings ``weights`` [I, C] (small unsigned
    integers); nan for a class whose ground truth weighs 0 (COCO's -1: left out of class means).

    Equal to COCO on the copied dataset: precision ``tp / (tp + fp)`` after each detection (0 before any),
    recall ``tp / n_gt``, the precision envelope (running maximum from the right) read at the first
    detection whose recall reaches each of the 101 recall points (0 if none does), AP their mean; AR the
    final recall.
    """
    exact_in_float32 = int(outcomes.gt_count.sum()) * int(weights.max(initial=0)) < 2**24
    real = np.float32 if exact_in_float32 else np.float64  # integer sums, exact either way; float32 is BLAS-fast
    n_gt = (weights.T.astype(real) @ outcomes.gt_count.astype(real)).astype(np.int64)  # [C, K]
    ap, ar = np.zeros(n_gt.shape), np.zeros(n_gt.shape)
    for k in range(len(outcomes.names)):
        rows = outcomes.of_class(k)
        ap[:, k], ar[:, k] = _class_ap_ar(outcomes.image[rows], outcomes.hit[rows], weights, n_gt[:, k])
    missing = n_gt == 0
    ap[missing], ar[missing] = np.nan, np.nan
    return ap, ar


def _class_ap_ar(image: np.ndarray, hit: np.ndarray, weights: np.ndarray,
                 n_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AP and AR [C] of one class from its detections in accumulation order (``image`` [N], ``hit`` [N]).

    Only the true positives' rows are needed: precision rises only at a true positive, so the envelope at
    any detection is a maximum over later true positives, and recall first reaches a recall point at one.
    """
    n_weightings = weights.shape[1]
    hits = np.flatnonzero(hit)
    if not hits.size:
        return np.zeros(n_weightings), np.zeros(n_weightings)
    seen, tp = _weights_up_to_hits(weights, image[: hits[-1] + 1], hits)
    envelope = _running_max_from_the_end(np.divide(tp, seen, out=np.zeros(tp.shape), where=seen > 0))

    total = n_gt.astype(np.float64)
    needed = _hits_needed(total)  # [C, R]: recall point r is reached once tp >= needed
    by_weighting = np.ascontiguousarray(tp.T)  # [C, H]: each weighting's tp, non-decreasing along a row
    found = _search_rows(by_weighting, needed)  # [C, R]
    reached = found < len(hits)
    q = np.where(reached, envelope[np.minimum(found, len(hits) - 1), np.arange(n_weightings)[:, None]], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return q.mean(axis=1), by_weighting[:, -1] / total


def _running_max_from_the_end(values: np.ndarray) -> np.ndarray:
    """``values[i] = max(values[i:])`` along axis 0 of [H, C], in place, row by row (numpy's accumulate
    along axis 0 walks column by column, several times slower for many columns)."""
    if values.shape[1] < ROW_LOOP_WIDTH:
        return np.maximum.accumulate(values[::-1], axis=0)[::-1]
    for row in range(len(values) - 2, -1, -1):
        np.maximum(values[row], values[row + 1], out=values[row])
    return values


def _weights_up_to_hits(weights: np.ndarray, image: np.ndarray, hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weight of all detections up to each hit, and of the hits alone: ([H, C], [H, C]).

    Segment ``j`` is the detections after hit ``j - 1`` up to hit ``j``. Segments of one length are summed
    together (one gather, one sum over a middle axis); the running sums then add whole rows (numpy's
    reduceat and cumsum along axis 0 walk column by column, several times slower).
    """
    lengths = np.diff(np.r_[-1, hits])
    starts = hits - lengths + 1
    top = int(weights.max(initial=0))
    segment = np.empty((len(hits), weights.shape[1]), np.int16 if int(lengths.max()) * top < 2**15 else np.int64)
    for length in np.unique(lengths).tolist():
        which = np.flatnonzero(lengths == length)
        segment[which] = weights[image[starts[which, None] + np.arange(length)]].sum(axis=1, dtype=segment.dtype)
    total = np.int32 if len(image) * top < 2**31 else np.int64
    return _running_sum(segment, total), _running_sum(weights[image[hits]], total)


def _running_sum(rows: np.ndarray, dtype: type) -> np.ndarray:
    """``out[i] = rows[:i + 1].sum(axis=0)`` for [H, C], adding whole rows."""
    if rows.shape[1] < ROW_LOOP_WIDTH:
        return np.cumsum(rows, axis=0, dtype=dtype)
    out = np.empty(rows.shape, dtype)
    out[0] = rows[0]
    for i in range(1, len(rows)):
        np.add(out[i - 1], rows[i], out=out[i])
    return out


def _search_rows(rows: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``np.searchsorted(rows[c], wanted[c])`` for every row ``c`` of non-decreasing non-negative integers
    [C, H], in one call: row ``c`` is shifted by ``c * step`` (``step`` above every value), so the rows
    laid end to end stay sorted and a search never leaves its own row."""
    n_rows, width = rows.shape
    step = int(max(rows.max(initial=0), wanted.max(initial=0))) + 1
    offset = np.arange(n_rows, dtype=np.int64)[:, None] * step
    found = np.searchsorted((rows + offset).ravel(), (wanted + offset).ravel())
    return found.reshape(wanted.shape) - np.arange(n_rows)[:, None] * width


def _hits_needed(n_gt: np.ndarray) -> np.ndarray:
    """[C, R] smallest integer ``m`` with ``m / n_gt >= r`` in float64 (COCO compares ``tp / n_gt`` to ``r``);
    worked out once per distinct ``n_gt`` (resamples share a few values)."""
    distinct, which = np.unique(n_gt, return_inverse=True)
    return _hits_needed_each(distinct)[which.reshape(-1)]


def _hits_needed_each(n_gt: np.ndarray) -> np.ndarray:
    n = np.maximum(n_gt, 1.0)[:, None]
    m = np.ceil(RECALL_POINTS * n)
    for _ in range(2):  # the product can be off by one ulp either way; the division decides
        m = np.where((m > 0) & ((m - 1) / n >= RECALL_POINTS), m - 1, m)
        m = np.where(m / n < RECALL_POINTS, m + 1, m)
    return m.astype(np.int64)
