"""COCO greedy matching with IoBB or IoU overlap, on faster-coco-eval's C++ matcher.

IoBB (intersection over the *detected* box's area, from the ChestX-ray8 work) is COCO's overlap for a
ground truth flagged ``iscrowd``, so the matching itself needs nothing new: faster-coco-eval's C++
``evaluateImg`` + ``accumulate`` (pycocotools' algorithm: greedy by score, 101-point interpolated
precision) take one overlap matrix per (image, class) pair and do the rest.

What this module does instead of ``COCOeval_faster.evaluate()``: that method indexes every record twice
(a COCO index, then its own) and computes the overlaps in one Python call per (image, class) pair; on
100k detections that Python work took longer than the matching itself. Here the records become numpy
columns once, every overlap comes from one vectorised expression (the formula of COCO's C ``bbIou``, so
values are bit-equal), and the C++ matcher runs on lightweight records built straight from the columns.
The results equal pycocotools' ``COCOeval`` to 1e-9 (tests/metrics/test_evaluate_detections.py).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter

import faster_coco_eval
import numpy as np
from faster_coco_eval import faster_eval_api_cpp as _cpp
from faster_coco_eval.core.cocoeval import Params

OVERLAPS = ("iobb", "iou")
MAX_DETS_PER = ("image_class", "image")  # COCO's maxDets cut, and a detector's detections_per_img
ALL_AREAS = [0.0, 1e5**2]  # COCO's "all" range; the small/medium/large split means nothing for lesions


@dataclass(frozen=True)
class Boxes:
    """Columns of COCO records, one row per box: ``image`` and ``category`` ids, ``xywh`` [N, 4],
    ``area``, ``score`` (detections; 1 for ground truth) and ``crowd`` (ground truth; False for detections)."""

    image: np.ndarray
    category: np.ndarray
    xywh: np.ndarray
    area: np.ndarray
    score: np.ndarray
    crowd: np.ndarray

    def __len__(self) -> int:
        return len(self.image)

    def take(self, rows: np.ndarray) -> Boxes:
        return Boxes(self.image[rows], self.category[rows], self.xywh[rows], self.area[rows], self.score[rows],
                     self.crowd[rows])


def ground_truth_boxes(annotations: Sequence[dict]) -> Boxes:
    """Columns of COCO ground-truth annotations; ``area`` defaults to ``w * h``, ``iscrowd`` to 0."""
    n = len(annotations)
    xywh = _numbers(list(map(itemgetter("bbox"), annotations)), (n, 4))
    area = np.array([a.get("area", w * h) for a, (w, h) in zip(annotations, xywh[:, 2:].tolist())], np.float64)
    crowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in annotations), bool, n)
    return Boxes(_integers(annotations, "image_id"), _integers(annotations, "category_id"), xywh,
                 area.reshape(n), np.ones(n), crowd)


def detection_boxes(dets: Sequence[dict]) -> Boxes:
    """Columns of COCO results; ``area = w * h`` as COCO's ``loadRes`` sets it.

    Raises ``KeyError`` for a missing key and ``ValueError`` unless ids are integers and boxes and scores
    numbers (:func:`mdfnet.metrics.coco.detection_table` turns either into an error naming the record).
    """
    n = len(dets)
    xywh = _numbers(list(map(itemgetter("bbox"), dets)), (n, 4))
    score = _numbers(list(map(itemgetter("score"), dets)), (n,))
    return Boxes(_integers(dets, "image_id"), _integers(dets, "category_id"), xywh, xywh[:, 2] * xywh[:, 3],
                 score, np.zeros(n, bool))


def _integers(records: Sequence[dict], key: str) -> np.ndarray:
    values = np.array(list(map(itemgetter(key), records)))
    if len(records) and values.dtype.kind not in "iu":
        raise ValueError(f"{key}: expected integers, got {values.dtype}")
    return values.astype(np.int64).reshape(len(records))


def _numbers(values: list, shape: tuple[int, ...]) -> np.ndarray:
    array = np.array(values)
    if values and (array.dtype.kind not in "iuf" or array.shape != shape):
        raise ValueError(f"expected numbers of shape {shape}, got {array.dtype} {array.shape}")
    return array.astype(np.float64).reshape(shape)


def select_detections(dets: Boxes, score_threshold: float, max_dets: int, per: str = "image_class") -> np.ndarray:
    """Rows of ``dets`` with ``score >= score_threshold``, then the ``max_dets`` best of each image and class.

    ``per="image_class"`` is COCO's ``maxDets`` cut (pycocotools keeps the ``maxDets`` best of each
    image *and class*); ``per="image"`` keeps the ``max_dets`` best of each image over all classes, as a
    detector's ``detections_per_img`` does (the matcher's own per-class cut then changes nothing). Ties
    keep input order. Returns row indices sorted by image, class, descending score (stable): the order
    the matcher expects within each (image, class) pair.
    """
    if per not in MAX_DETS_PER:
        raise ValueError(f"max_dets_per must be one of {MAX_DETS_PER}, got {per!r}")
    rows = np.flatnonzero(dets.score >= score_threshold)
    rows = rows[np.argsort(-dets.score[rows], kind="stable")]
    if per == "image":
        rows = rows[np.argsort(dets.image[rows], kind="stable")]  # by image, then descending score
        rows = rows[_rank_within(dets.image[rows]) < max_dets]
    rows = rows[np.argsort(_pack(dets.image[rows], dets.category[rows]), kind="stable")]
    return rows[_rank_within(_pack(dets.image[rows], dets.category[rows])) < max_dets]


def _rank_within(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... restarting wherever ``sorted_keys`` changes."""
    starts, sizes = _runs(sorted_keys)
    return np.arange(len(sorted_keys)) - np.repeat(starts, sizes)


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal consecutive values in ``keys``."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.array([], np.int64)
    return starts, np.diff(np.r_[starts, len(keys)]).astype(np.int64)


def overlap_matrices(dets: Boxes, gts: Boxes, overlap: str) -> dict[tuple[int, int], list[list[float]]]:
    """``{(image_id, category_id): [[overlap of det d with gt g]]}`` for every pair with both.

    ``dets`` must be grouped by (image, category), highest score first; ``gts`` rows keep their order
    within a pair. The formula is COCO's ``bbIou``: no overlap unless width and height of the
    intersection are > 0; IoBB (and IoU against a crowd region) divides by the detection's area, IoU by
    the union. A zero-area detection therefore overlaps nothing.
    """
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {OVERLAPS}, got {overlap!r}")
    d_start, d_count, d_key = _groups(dets)
    g_start, g_count, g_key = _groups(gts)
    at = np.minimum(np.searchsorted(g_key, d_key), max(len(g_key) - 1, 0))
    shared = np.flatnonzero(g_key[at] == d_key) if len(g_key) else np.array([], np.int64)
    d_start, d_count = d_start[shared], d_count[shared]
    g_start, g_count = g_start[at[shared]], g_count[at[shared]]
    pairs = zip(dets.image[d_start].tolist(), dets.category[d_start].tolist())

    # Every (det, gt) pair of every shared group, as two flat index arrays.
    sizes = d_count * g_count
    block = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    d = d_start[block] + offset // g_count[block]
    g = g_start[block] + offset % g_count[block]

    (dx, dy, dw, dh), (gx, gy, gw, gh) = dets.xywh[d].T, gts.xywh[g].T
    w = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    h = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    hit = (w > 0) & (h > 0)
    inter = np.where(hit, w * h, 0.0)
    d_area = dw * dh
    union = d_area if overlap == "iobb" else np.where(gts.crowd[g], d_area, d_area + gw * gh - inter)
    values = np.divide(inter, union, out=np.zeros_like(inter), where=hit)

    # Nested lists straight from one flat list: the C++ side takes lists, and numpy views per pair cost 3x.
    flat = values.tolist()
    starts = (np.cumsum(sizes) - sizes).tolist()
    return {
        pair: [flat[row:row + n_gt] for row in range(start, start + n_det * n_gt, n_gt)]
        for pair, start, n_det, n_gt in zip(pairs, starts, d_count.tolist(), g_count.tolist())
    }


def _groups(boxes: Boxes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, length and packed (image, category) key of each run of rows sharing image and category.

    ``boxes`` must already be grouped (consecutive rows); keys come out sorted when the groups are.
    """
    key = _pack(boxes.image, boxes.category)
    starts, sizes = _runs(key)
    return starts, sizes, key[starts]


def _pack(image: np.ndarray, category: np.ndarray) -> np.ndarray:
    """One sortable int64 per (image, category): ids are checked to lie in [0, 2**31)."""
    return (image << 32) | category


def group_ground_truth(gts: Boxes) -> Boxes:
    """Ground truth grouped by (image, category), annotation order kept within a group."""
    return gts.take(np.lexsort((gts.category, gts.image)))


class Matcher:
    """COCO evaluation of selected detections against ground truth, at any overlap thresholds.

    Overlaps and the C++ records are built once, so a second pass (the counts at one threshold) costs
    only the matching itself.

    Args:
        gts: ground truth grouped by (image, category) (:func:`group_ground_truth`); a crowd region is
            ignored (COCO's rule).
        dets: detections already selected and ordered by :func:`select_detections`.
        image_ids, category_ids: every image and class of the ground truth, sorted.
    """

    def __init__(self, gts: Boxes, dets: Boxes, image_ids: Sequence[int], category_ids: Sequence[int], *,
                 overlap: str, max_dets: int) -> None:
        overlaps = overlap_matrices(dets, gts, overlap)
        self._ious = [[overlaps.get((image, category), []) for category in category_ids] for image in image_ids]
        self._gt_records, self._det_records = _records(gts), _records(dets)
        self._image_ids, self._category_ids = list(image_ids), list(category_ids)
        self._max_dets = int(max_dets)

    def run(self, thresholds: Sequence[float]) -> dict:
        """faster-coco-eval's ``eval``: ``precision`` [T, R, K, 1, 1] (R = 101 recall points, -1 for a
        class without ground truth), ``recall`` [T, K, 1, 1], and ``matched``:
        ``{"<det row + 1>_<gt row + 1>": overlap}`` over all thresholds (rows of ``dets`` and ``gts``)."""
        params = Params(iouType="bbox")
        params.imgIds, params.catIds = self._image_ids, self._category_ids
        params.iouThrs = np.asarray(thresholds, dtype=np.float64)
        params.maxDets = [self._max_dets]
        params.areaRng, params.areaRngLbl = [ALL_AREAS], ["all"]
        try:
            return _cpp.COCOevalEvaluateAccumulate(params, self._ious, self._gt_records, self._det_records,
                                                   self._image_ids, self._category_ids, True)
        except TypeError as err:  # pybind11's answer to a changed signature
            raise RuntimeError(f"faster-coco-eval {faster_coco_eval.__version__} changed the C++ API that "
                               "mdfnet calls; install a version >=1.8,<2 (pyproject.toml)") from err


def _records(boxes: Boxes) -> _cpp.Dataset:
    """The C++ matcher's input, from rows grouped by (image, category): per group, dicts with ``id``
    (row + 1), ``score`` and ``area``; a crowd region also gets ``iscrowd`` and ``ignore`` (both 1, as
    pycocotools' ``_prepare`` sets them; the C++ side reads a missing flag as 0, and small dicts are
    faster to build and read). Loaded group by group, a third faster than a call per record."""
    records = [{"id": row, "score": score, "area": area}
               for row, score, area in zip(range(1, len(boxes) + 1), boxes.score.tolist(), boxes.area.tolist())]
    for row in np.flatnonzero(boxes.crowd).tolist():
        records[row].update(iscrowd=1, ignore=1)
    starts, sizes, _ = _groups(boxes)
    groups = [(image, category, records[start:start + size]) for image, category, start, size
              in zip(boxes.image[starts].tolist(), boxes.category[starts].tolist(), starts.tolist(), sizes.tolist())]
    dataset = _cpp.Dataset()
    dataset.load_tuple((len(groups), groups))
    return dataset


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: evaluation builds ~10 small acyclic objects per box, and collector passes over
    them would cost a third of the time on 100k detections (bench_evaluate.py)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
