"""Cohort frames and model outputs to COCO, and the checks on COCO files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mdfnet.errors import InputError
from mdfnet.metrics import coco_ground_truth, detections_to_coco
from mdfnet.metrics.coco import check_detections, check_ground_truth
from mdfnet.schema import CLASSES


def cohort_and_boxes():
    cohort = pd.DataFrame({
        "reading_id": ["R1", "R2", "R3"], "split": ["test", "test", "train"], "image_id": [1, 2, 3],
        "image_width": [2000, 1800, 1000], "image_height": [2500, 2200, 1000],
    })
    boxes = pd.DataFrame({
        "reading_id": ["R2", "R1", "R2", "R3"],
        "label": ["Atelectasis", "Pulmonary edema", "Pleural abnormality", "Consolidation"],
        "xmin": [10.0, 100.0, 0.0, 5.0], "ymin": [20.0, 200.0, 0.0, 5.0],
        "xmax": [30.0, 400.0, 50.5, 6.0], "ymax": [60.0, 300.0, 10.0, 6.0], "certainty": [3, 5, 4, 2],
    })
    return cohort, boxes


def test_ground_truth_from_cohort():
    cohort, boxes = cohort_and_boxes()
    gt = coco_ground_truth(cohort[cohort.split == "test"], boxes)
    assert gt["images"] == [{"id": 1, "width": 2000, "height": 2500, "file_name": "R1"},
                            {"id": 2, "width": 1800, "height": 2200, "file_name": "R2"}]
    assert [c["name"] for c in gt["categories"]] == list(CLASSES)
    assert [c["id"] for c in gt["categories"]] == [1, 2, 3, 4, 5]
    assert gt["annotations"] == [  # R3 (train) dropped; image order, then file order
        {"id": 1, "image_id": 1, "category_id": 5, "bbox": [100.0, 200.0, 300.0, 100.0], "area": 30000.0, "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10.0, 20.0, 20.0, 40.0], "area": 800.0, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 3, "bbox": [0.0, 0.0, 50.5, 10.0], "area": 505.0, "iscrowd": 0},
    ]
    check_ground_truth(gt)


def test_ground_truth_rejects_unknown_label_and_missing_image_id():
    cohort, boxes = cohort_and_boxes()
    boxes.loc[1, "label"] = "Fracture"
    with pytest.raises(InputError, match=r"boxes: row 1: label 'Fracture' is not one of"):
        coco_ground_truth(cohort, boxes)
    with pytest.raises(InputError, match=r"cohort: missing column\(s\) \['image_id'\]"):
        coco_ground_truth(cohort.drop(columns="image_id"), boxes)


def test_detections_are_scaled_to_original_pixels():
    outputs = [
        {"boxes": torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 512.0, 512.0]]),
         "labels": torch.tensor([2, 5]), "scores": torch.tensor([0.75, 0.5])},
        {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64), "scores": torch.zeros(0)},
    ]
    dets = detections_to_coco(outputs, [7, 8], [(2.0, 4.0), (1.0, 1.0)])
    assert dets == [
        {"image_id": 7, "category_id": 2, "bbox": [20.0, 80.0, 40.0, 160.0], "score": 0.75},
        {"image_id": 7, "category_id": 5, "bbox": [0.0, 0.0, 1024.0, 2048.0], "score": 0.5},
    ]
    as_numpy = [{k: v.numpy() for k, v in outputs[0].items()}]
    assert detections_to_coco(as_numpy, [7], np.array([[2.0, 4.0]])) == dets


def test_detections_need_one_id_and_scale_per_output():
    with pytest.raises(ValueError, match="got 1 outputs, 2 image ids and 1 scales"):
        detections_to_coco([{"boxes": [], "labels": [], "scores": []}], [1, 2], [(1.0, 1.0)])


def test_checks_name_the_offending_record():
    cohort, boxes = cohort_and_boxes()
    gt = coco_ground_truth(cohort, boxes)
    with pytest.raises(InputError, match=r"gt.json: annotations\[0\]: missing key 'bbox'"):
        check_ground_truth({**gt, "annotations": [{"image_id": 1, "category_id": 1}]}, source="gt.json")
    with pytest.raises(InputError, match=r"\[1\]: category_id 9 is not a ground-truth category"):
        check_detections([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0},
                          {"image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1], "score": 1.0}], gt)
    with pytest.raises(InputError, match=r"\[0\]: 'bbox' must be \[x, y, width, height\]"):
        check_detections([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 1.0}], gt)
    with pytest.raises(InputError, match="expected a list of COCO detections, got dict"):
        check_detections({"image_id": 1}, gt)


def test_patients_come_from_subject_id_and_are_read_back():
    from mdfnet.metrics.coco import patient_groups

    cohort, boxes = cohort_and_boxes()
    assert patient_groups(coco_ground_truth(cohort, boxes)) is None  # no subject_id: images are resampled
    gt = coco_ground_truth(cohort.assign(subject_id=[101, 101, 102]), boxes)
    assert [image["patient_id"] for image in gt["images"]] == [101, 101, 102]
    assert patient_groups(gt) == {1: 101, 2: 101, 3: 102}
    gt["images"][1]["patient_id"] = [101]
    with pytest.raises(InputError, match=r"^ground truth: image 2: patient_id must be an integer or a string, "
                                         r"got \[101\]$"):
        patient_groups(gt)
