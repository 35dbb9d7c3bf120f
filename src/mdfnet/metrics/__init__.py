"""Detection metrics: COCO-format conversion, AP/AR at IoBB or IoU, TP/FP/FN counts.

>>> gt = coco_ground_truth(cohort[cohort.split == "test"], boxes)
>>> metrics = evaluate_detections(gt, detections_to_coco(outputs, image_ids, scale_xy))
>>> metrics["AP_IoBB_0.50"], metrics["AR_IoBB_0.50"], metrics["counts"]
"""

from mdfnet.metrics.coco import coco_ground_truth, detections_to_coco, read_detections, read_ground_truth
from mdfnet.metrics.evaluate import DEFAULT_THRESHOLDS, evaluate_detections, metrics_json

__all__ = [
    "DEFAULT_THRESHOLDS", "coco_ground_truth", "detections_to_coco", "evaluate_detections", "metrics_json",
    "read_detections", "read_ground_truth",
]
