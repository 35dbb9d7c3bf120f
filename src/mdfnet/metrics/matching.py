"""COCO greedy matching with IoBB or IoU overlap, on faster-coco-eval's C++ evaluator.

IoBB (intersection over the *detected* box's area, from the ChestX-ray8 work) is exactly COCO's overlap
for a ground truth flagged ``iscrowd``: ``mask.iou(dt, gt, [1] * len(gt))`` returns ``inter / area(dt)``.
:class:`OverlapEval` asks for that matrix in ``computeIoU`` while the real annotations keep
``iscrowd = 0``, so nothing is ignored and every ground truth can be matched once, as usual.
Zero-area detections overlap nothing (the C code returns 0 rather than 0/0).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from faster_coco_eval import COCO
from faster_coco_eval import COCOeval_faster
from faster_coco_eval.core import mask as mask_utils

OVERLAPS = ("iobb", "iou")
ALL_AREAS = [0.0, 1e5**2]  # COCO's "all" range; the small/medium/large split means nothing for lesions


class OverlapEval(COCOeval_faster):
    """``COCOeval_faster`` for boxes whose overlap is ``"iobb"`` or ``"iou"``.

    Results land in ``self.eval`` as in COCO: ``precision`` [T, R, K, 1, 1] (T thresholds, R = 101 recall
    points, K categories; -1 for a category without ground truth) and ``recall`` [T, K, 1, 1].
    """

    def __init__(self, coco_gt: COCO, coco_dt: COCO, overlap: str = "iobb") -> None:
        if overlap not in OVERLAPS:
            raise ValueError(f"overlap must be one of {OVERLAPS}, got {overlap!r}")
        super().__init__(coco_gt, coco_dt, iouType="bbox", print_function=_silent)
        self.overlap = overlap

    def computeIoU(self, imgId: int, catId: int):  # noqa: N802, N803 (COCO's names)
        if self.overlap == "iou":
            return super().computeIoU(imgId, catId)
        gt = self.gt_dataset.get_instances([imgId], [catId], True)[0][0]
        dt = self.dt_dataset.get_instances([imgId], [catId], True)[0][0]
        if len(gt) == 0 or len(dt) == 0:
            return []
        # Same detection order and cut as the C++ matcher expects (stable sort by descending score).
        dt = sorted(dt, key=lambda d: -d["score"])[: self.params.maxDets[-1]]
        dt_boxes = [d["bbox"] for d in dt]
        gt_boxes = [g["bbox"] for g in gt]
        return mask_utils.iou(dt_boxes, gt_boxes, [1] * len(gt_boxes))


def _silent(*_args, **_kwargs) -> None:
    """faster-coco-eval logs every step; evaluation here is quiet."""


def select_detections(dets: list[dict], score_threshold: float, max_dets: int) -> list[dict]:
    """Keep detections with ``score >= score_threshold``, then the ``max_dets`` best per image.

    The cut is per image over all classes, as a detector's ``detections_per_img`` does (COCO's own
    ``maxDets`` cut is per image *and class*; after this one it changes nothing). Ties keep input order.
    Returns fresh dicts (``image_id, category_id, bbox, score``) so COCO's in-place edits never reach
    the caller's list.
    """
    by_image: dict[int, list[dict]] = defaultdict(list)
    for det in dets:
        if det["score"] >= score_threshold:
            by_image[det["image_id"]].append(det)
    kept = []
    for image_dets in by_image.values():
        image_dets = sorted(image_dets, key=lambda d: -d["score"])[:max_dets]
        kept.extend({"image_id": d["image_id"], "category_id": d["category_id"],
                     "bbox": [float(v) for v in d["bbox"]], "score": float(d["score"])} for d in image_dets)
    return kept


def coco_from_ground_truth(gt: dict) -> COCO:
    """A COCO index over a *copy* of ``gt``'s records (the evaluator writes into annotations)."""
    dataset = {
        "images": [dict(image) for image in gt["images"]],
        "categories": [dict(category) for category in gt["categories"]],
        "annotations": [_gt_record(ann, i) for i, ann in enumerate(gt["annotations"], start=1)],
    }
    return COCO(dataset)


def _gt_record(ann: dict, fallback_id: int) -> dict:
    x, y, w, h = (float(v) for v in ann["bbox"])
    return {"id": ann.get("id", fallback_id), "image_id": ann["image_id"], "category_id": ann["category_id"],
            "bbox": [x, y, w, h], "area": float(ann.get("area", w * h)), "iscrowd": int(ann.get("iscrowd", 0))}


def run_matching(coco_gt: COCO, dets: list[dict], *, overlap: str, thresholds: np.ndarray, max_dets: int) -> dict:
    """Match ``dets`` (already selected) against ``coco_gt`` at each threshold; returns COCO's ``eval``.

    Every ground-truth image and category is evaluated, with one area range ("all") and one ``maxDets``.
    """
    coco_dt = coco_gt.loadRes(dets)
    evaluator = OverlapEval(coco_gt, coco_dt, overlap)
    params = evaluator.params
    params.imgIds = sorted(coco_gt.getImgIds())
    params.catIds = sorted(coco_gt.getCatIds())
    params.iouThrs = np.asarray(thresholds, dtype=np.float64)
    params.maxDets = [int(max_dets)]
    params.areaRng = [ALL_AREAS]
    params.areaRngLbl = ["all"]
    evaluator.evaluate()
    evaluator.accumulate()
    return evaluator.eval
