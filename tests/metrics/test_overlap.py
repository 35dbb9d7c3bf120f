"""Pairwise IoBB on xyxy boxes: hand values and agreement with the COCO-format matcher's overlaps."""

import numpy as np
import pytest

from mdfnet.metrics.matching import detection_boxes, ground_truth_boxes, overlap_matrices
from mdfnet.metrics.overlap import iobb, iobb_pairs


def test_iobb_hand_values():
    pred = [[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30], [2, 2, 2, 8]]  # the last has zero area
    ref = [[0, 0, 10, 10], [0, 0, 20, 20]]
    expected = [[1.0, 1.0],        # identical; and wholly inside the larger box
                [0.25, 1.0],       # a quarter of it lies in the first box
                [0.0, 0.0],        # disjoint
                [0.0, 0.0]]        # zero area overlaps nothing (COCO's rule)
    np.testing.assert_allclose(iobb(pred, ref), expected)
    assert iobb([[0, 0, 10, 10]], [[10, 0, 20, 10]])[0, 0] == 0.0  # touching edges do not overlap
    assert iobb([[0, 0, 4, 4]], [[0, 0, 10, 10]]).shape == (1, 1)
    assert iobb(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_iobb_equals_the_coco_matchers_overlaps():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (7, 2))
    pred = np.c_[xy, xy + rng.uniform(1, 30, (7, 2))]
    xy = rng.uniform(0, 50, (4, 2))
    ref = np.c_[xy, xy + rng.uniform(1, 30, (4, 2))]
    dets = [{"image_id": 1, "category_id": 1, "bbox": [a, b, c - a, d - b], "score": 1.0 - i / 10}
            for i, (a, b, c, d) in enumerate(pred.tolist())]
    gts = [{"image_id": 1, "category_id": 1, "bbox": [a, b, c - a, d - b]} for a, b, c, d in ref.tolist()]
    coco = overlap_matrices(detection_boxes(dets), ground_truth_boxes(gts), "iobb")[(1, 1)]
    assert iobb(pred, ref) == pytest.approx(np.array(coco), abs=1e-12)


def test_iobb_pairs_is_the_diagonal_and_broadcasts():
    pred = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30]], dtype=float)
    ref = np.array([[0, 0, 20, 20], [0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    np.testing.assert_allclose(iobb_pairs(pred, ref), [1.0, 0.25, 0.0])
    np.testing.assert_allclose(iobb_pairs(pred, ref), np.diag(iobb(pred, ref)))
    assert iobb_pairs(pred[None, :, None], ref[:, None, None]).shape == (3, 3, 1)  # [3, 1, 1] with [1, 3, 1]
    np.testing.assert_allclose(iobb_pairs(pred[None], ref[:, None]), iobb(pred, ref).T)
