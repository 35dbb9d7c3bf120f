"""The vectorised overlaps against COCO's own C ``bbIou``, and the selection order the matcher relies on."""

from __future__ import annotations

import numpy as np
import pytest
from faster_coco_eval.core import mask as mask_utils

from mdfnet.metrics.matching import detection_boxes, ground_truth_boxes, group_ground_truth, overlap_matrices
from mdfnet.metrics.matching import select_detections


def random_boxes(rng: np.random.Generator, n: int) -> list[list[float]]:
    """xywh boxes crowded on a 30 px field, some of zero width, some on whole pixels (so edges can touch)."""
    boxes = np.column_stack([rng.uniform(0, 25, (n, 2)), rng.uniform(2, 20, (n, 2))])
    boxes[rng.random(n) < 0.1, 2] = 0.0
    on_grid = rng.random(n) < 0.3
    boxes[on_grid] = np.round(boxes[on_grid] / 5) * 5
    return boxes.tolist()


@pytest.mark.parametrize("overlap", ["iobb", "iou"])
@pytest.mark.parametrize("seed", range(4))
def test_overlaps_are_bit_equal_to_cocos_bbiou(overlap, seed):
    rng = np.random.default_rng(seed)
    anns, dets = [], []
    for image in range(1, 6):
        for _ in range(int(rng.integers(1, 5))):
            for box in random_boxes(rng, 1):
                anns.append({"image_id": image, "category_id": int(rng.integers(1, 3)), "bbox": box,
                             "iscrowd": int(rng.random() < 0.3)})
        for box in random_boxes(rng, int(rng.integers(0, 8))):
            dets.append({"image_id": image, "category_id": int(rng.integers(1, 3)), "bbox": box,
                         "score": float(rng.random())})
    gts, table = group_ground_truth(ground_truth_boxes(anns)), detection_boxes(dets)
    kept = table.take(select_detections(table, 0.0, 100))
    ours = overlap_matrices(kept, gts, overlap)
    assert any(0 < v < 1 for matrix in ours.values() for row in matrix for v in row)  # partial overlaps occur
    for (image, category), matrix in ours.items():
        d = kept.xywh[(kept.image == image) & (kept.category == category)].tolist()
        in_pair = (gts.image == image) & (gts.category == category)
        g, crowd = gts.xywh[in_pair].tolist(), gts.crowd[in_pair]
        flags = [1] * len(g) if overlap == "iobb" else crowd.astype(int).tolist()
        expected = np.asarray(mask_utils.iou(d, g, flags)).reshape(len(d), len(g))
        assert np.array_equal(np.array(matrix), expected)  # bit for bit, not approximately


def test_selection_orders_each_pair_by_descending_score_and_cuts_per_image_or_per_class():
    dets = detection_boxes([
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5},
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.3},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.8},
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.04},  # below the score cut
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.8},  # ties keep input order
    ])
    rows = select_detections(dets, score_threshold=0.05, max_dets=3, per="image")
    # Image 1 keeps its 3 best (0.9, 0.8, 0.8; 0.3 is 4th), grouped by class, best first; then image 2.
    assert rows.tolist() == [3, 5, 1, 0]
    # COCO's cut: up to 3 per image and class, so image 1 class 1 keeps 0.8, 0.8 and 0.3.
    assert select_detections(dets, score_threshold=0.05, max_dets=3).tolist() == [3, 5, 2, 1, 0]
    assert select_detections(dets, score_threshold=0.05, max_dets=1).tolist() == [3, 1, 0]
    with pytest.raises(ValueError, match=r"max_dets_per must be one of \('image_class', 'image'\), got 'class'"):
        select_detections(dets, 0.05, 3, per="class")
