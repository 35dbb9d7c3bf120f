"""CohortDataset items: shapes, scaled boxes, flips applied to image and boxes together, masks."""

from __future__ import annotations

import math

import pytest
import torch

from mdfnet.data import CohortDataset, clinical_tensor, collate, load_cohort
from mdfnet.errors import InputError


def _item(dataset, reading_id):
    index = dataset.frame.index[dataset.frame["reading_id"] == reading_id][0]
    return dataset[index]


def test_item_contract(cohort_dir):
    dataset = CohortDataset(cohort_dir, "train", image_size=20)
    assert len(dataset) == 4
    image, clinical, target = _item(dataset, "R1")
    assert image.shape == (3, 20, 20) and image.dtype == torch.float32
    assert image[0, 0, 0] < 0.1 and image[0, 0, -1] > 0.9  # the test JPEG is dark on the left
    assert torch.equal(image[0], image[2])
    assert clinical.shape == (10,) and clinical[0] == 53 and clinical[9] == 0  # age 53, female
    # R1's box (5, 5, 15, 15) in a 40 x 30 image, scaled to 20 x 20
    torch.testing.assert_close(target["boxes"], torch.tensor([[2.5, 10 / 3, 7.5, 10.0]]))
    assert target["labels"].tolist() == [2] and target["image_id"].item() == 1
    assert target["image_id"].dtype == torch.int64 and "masks" not in target
    _, _, empty = _item(dataset, "R9")
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,)


def test_flip_moves_image_and_boxes_together(cohort_dir):
    flipped = CohortDataset(cohort_dir, "train", image_size=20, train=True, hflip_p=1.0)
    image, _, target = _item(flipped, "R1")
    assert image[0, 0, 0] > 0.9 and image[0, 0, -1] < 0.1
    torch.testing.assert_close(target["boxes"], torch.tensor([[12.5, 10 / 3, 17.5, 10.0]]))
    not_training = CohortDataset(cohort_dir, "train", image_size=20, train=False, hflip_p=1.0)
    assert _item(not_training, "R1")[2]["boxes"][0, 0] == 2.5


def test_masks(cohort_dir):
    box = _item(CohortDataset(cohort_dir, "train", image_size=20, masks="box"), "R1")[2]["masks"]
    assert box.shape == (1, 20, 20) and box.dtype == torch.uint8
    assert int(box.sum()) == 6 * 7  # pixel centres 2.5..7.5 by 3.5..9.5
    ellipse = _item(CohortDataset(cohort_dir, "train", image_size=20, masks="ellipse"), "R1")[2]["masks"]
    assert 0 < int(ellipse.sum()) < int(box.sum()) and ellipse[0, 6, 5] == 1


def test_collate_and_clinical_tensor(cohort_dir):
    dataset = CohortDataset(cohort_dir, "train", image_size=16)
    images, clinical, targets = collate([dataset[0], dataset[1]])
    assert images.shape == (2, 3, 16, 16) and clinical.shape == (2, 10) and len(targets) == 2
    frame, _ = load_cohort(cohort_dir)
    values = clinical_tensor(frame)
    assert values.shape == (4, 10) and values.dtype == torch.float32
    assert math.isnan(values[1, 7].item())  # R4's pain "0-10" is missing
    assert values[:, 9].tolist() == [0.0, 1.0, 1.0, 1.0]


def test_bad_arguments(cohort_dir):
    with pytest.raises(InputError, match="split must be one of"):
        CohortDataset(cohort_dir, "dev")
    with pytest.raises(InputError, match="masks must be one of"):
        CohortDataset(cohort_dir, "train", masks="polygon")
