"""Box overlaps for boxes in corner format (``xyxy``), outside COCO matching.

:func:`iobb` is the overlap that the metrics use (``area(pred ∩ ref) / area(pred)``, from the ChestX-ray8
work), pairwise; :func:`iobb_pairs` element by element. Both follow COCO's convention: no overlap unless
the intersection has positive width and height, so a zero-area prediction overlaps nothing.
:mod:`mdfnet.metrics.matching` computes the same values from COCO ``xywh`` records for evaluation; this
module serves callers that hold detector outputs (explanations).
"""

from __future__ import annotations

import numpy as np


def iobb(pred, ref) -> np.ndarray:
    """``[N, M]``: the share of prediction ``n``'s area that lies inside reference box ``m``.

    Args:
        pred: ``[N, 4]`` xyxy (array-like: numpy, torch on CPU or nested lists).
        ref: ``[M, 4]`` xyxy.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1, 4)
    w = np.minimum(pred[:, None, 2], ref[None, :, 2]) - np.maximum(pred[:, None, 0], ref[None, :, 0])
    h = np.minimum(pred[:, None, 3], ref[None, :, 3]) - np.maximum(pred[:, None, 1], ref[None, :, 1])
    hit = (w > 0) & (h > 0)
    area = ((pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1]))[:, None]
    return np.divide(np.where(hit, w * h, 0.0), np.broadcast_to(area, hit.shape), out=np.zeros(hit.shape),
                     where=hit)


def iobb_pairs(pred, ref) -> np.ndarray:
    """Element by element: the share of each ``pred`` box's area inside the ``ref`` box at the same index.

    ``pred`` and ``ref`` are ``[..., 4]`` xyxy arrays whose leading shapes broadcast; returns their
    broadcast leading shape.
    """
    pred, ref = np.asarray(pred, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    w = np.minimum(pred[..., 2], ref[..., 2]) - np.maximum(pred[..., 0], ref[..., 0])
    h = np.minimum(pred[..., 3], ref[..., 3]) - np.maximum(pred[..., 1], ref[..., 1])
    hit = (w > 0) & (h > 0)
    area = np.broadcast_to((pred[..., 2] - pred[..., 0]) * (pred[..., 3] - pred[..., 1]), hit.shape)
    return np.divide(np.where(hit, w * h, 0.0), area, out=np.zeros(hit.shape), where=hit)
