"""Detection metrics: COCO-format conversion, AP/AR at IoBB or IoU, TP/FP/FN counts.

>>> gt = coco_ground_truth(cohort[cohort.split == "test"], boxes)
>>> metrics = evaluate_detections(gt, detections_to_coco(outputs, image_ids, scale_xy))
>>> metrics[keys.AP_50], metrics[keys.AR_50], metrics["counts"]

The names below load on first use, so that :mod:`mdfnet.metrics.keys` (which the config and the command
line read) comes without pandas and the C++ matcher.
"""

from __future__ import annotations

import importlib

_SOURCES = {
    "coco_ground_truth": "coco", "detections_to_coco": "coco", "read_detections": "coco", "read_ground_truth": "coco",
    "DEFAULT_THRESHOLDS": "evaluate", "evaluate_detections": "evaluate", "metrics_json": "evaluate",
}
__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_SOURCES[name]}"), name)
