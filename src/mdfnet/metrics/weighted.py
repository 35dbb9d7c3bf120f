"""COCO AP / AR with integer image weights, for many weightings at once (the bootstrap's inner loop).

Weight ``w`` on an image stands for ``w`` copies of it: its matched detections and its ground truth count
``w`` times. Per class, the detections stay in COCO's accumulation order (matching does not change when
images are copied), so a weighting only changes the cumulative true- and false-positive counts.
"""

from __future__ import annotations

import numpy as np

from mdfnet.metrics.outcomes import Outcomes

RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's recThrs
PREFIX_BLOCK = 32  # rows summed per block in _prefix_at


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
    padded = np.concatenate([weights, np.zeros((1, weights.shape[1]), weights.dtype)])  # row I: weight 0
    ap, ar = np.zeros(n_gt.shape), np.zeros(n_gt.shape)
    for k in range(len(outcomes.names)):
        rows = outcomes.of_class(k)
        ap[:, k], ar[:, k] = _class_ap_ar(outcomes.image[rows], outcomes.hit[rows], padded, n_gt[:, k])
    missing = n_gt == 0
    ap[missing], ar[missing] = np.nan, np.nan
    return ap, ar


def _class_ap_ar(image: np.ndarray, hit: np.ndarray, padded: np.ndarray, n_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AP and AR [C] of one class from its detections in accumulation order (``image`` [N], ``hit`` [N]).

    Only the true positives' rows are needed: precision rises only at a true positive, so the envelope at
    any detection is a maximum over later true positives, and recall first reaches a recall point at one.
    """
    n_weightings = padded.shape[1]
    hits = np.flatnonzero(hit)
    if not hits.size:
        return np.zeros(n_weightings), np.zeros(n_weightings)
    # Weight of all detections up to each hit, and of the hits alone: [H, C].
    seen = _prefix_at(padded, image[: hits[-1] + 1], hits)
    tp = _prefix_at(padded, image[hits], np.arange(len(hits)))
    precision = np.divide(tp, seen, out=np.zeros(tp.shape), where=seen > 0)
    envelope = _running_max_from_the_end(precision)

    total = n_gt.astype(np.float64)
    needed = _hits_needed(total)  # [C, R]: recall point r is reached once tp >= needed
    by_weighting = np.ascontiguousarray(tp.T)  # [C, H]: each weighting's tp, contiguous for searchsorted
    found = np.stack([np.searchsorted(row, want) for row, want in zip(by_weighting, needed)])  # [C, R]
    reached = found < len(hits)
    q = np.where(reached, envelope[np.minimum(found, len(hits) - 1), np.arange(n_weightings)[:, None]], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return q.mean(axis=1), by_weighting[:, -1] / total


def _running_max_from_the_end(values: np.ndarray) -> np.ndarray:
    """``out[i] = max(values[i:])`` along axis 0 of [H, C], row by row (numpy's accumulate along axis 0
    walks column by column, several times slower)."""
    out = values.copy()
    for row in range(len(out) - 2, -1, -1):
        np.maximum(out[row], out[row + 1], out=out[row])
    return out


def _prefix_at(padded: np.ndarray, rows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Inclusive prefix sums over rows of ``padded[rows]`` [N, C], read at the sorted positions ``at``: [len(at), C].

    numpy's cumsum along axis 0 walks column by column (about 20x slower here), so whole rows are added
    instead: running sums inside blocks of ``PREFIX_BLOCK`` rows, then a running sum of the block totals.
    """
    n_blocks = -(-len(rows) // PREFIX_BLOCK)
    index = np.full(n_blocks * PREFIX_BLOCK, len(padded) - 1)  # the padding row weighs 0
    index[: len(rows)] = rows
    blocks = padded[index].reshape(n_blocks, PREFIX_BLOCK, -1)
    top = PREFIX_BLOCK * int(padded.max(initial=0))
    inner = np.empty(blocks.shape, np.int16 if top < 2**15 else np.int64)
    inner[:, 0] = blocks[:, 0]
    for r in range(1, PREFIX_BLOCK):
        np.add(inner[:, r - 1], blocks[:, r], out=inner[:, r])
    before = np.zeros((n_blocks, blocks.shape[2]), np.int64 if len(rows) * top >= 2**31 else np.int32)
    for b in range(1, n_blocks):
        np.add(before[b - 1], inner[b - 1, -1], out=before[b])
    block, offset = np.divmod(at, PREFIX_BLOCK)
    return before[block] + inner[block, offset]


def _hits_needed(n_gt: np.ndarray) -> np.ndarray:
    """[C, R] smallest integer ``m`` with ``m / n_gt >= r`` in float64 (COCO compares ``tp / n_gt`` to ``r``)."""
    n = np.maximum(n_gt, 1.0)[:, None]
    m = np.ceil(RECALL_POINTS * n)
    for _ in range(2):  # the product can be off by one ulp either way; the division decides
        m = np.where((m > 0) & ((m - 1) / n >= RECALL_POINTS), m - 1, m)
        m = np.where(m / n < RECALL_POINTS, m + 1, m)
    return m.astype(np.int64)
