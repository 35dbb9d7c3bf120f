"""Training augmentation: the image jitter moves boxes exactly as it moves pixels, drops boxes that leave
the frame, and the clinical jitter has the noise and missing rate it is set to; off outside training."""

from __future__ import annotations

import math

import pytest
import torch

from mdfnet.data import CohortDataset
from mdfnet.data.augment import ClinicalJitter, Jitter, move_boxes, zoom_and_shift
from mdfnet.engine.train import datasets
from mdfnet.model import fit_statistics


def _square(size=32, box=(8, 8, 16, 16)) -> torch.Tensor:
    grey = torch.zeros(size, size)
    x0, y0, x1, y1 = box
    grey[y0:y1, x0:x1] = 1.0
    return grey


def _bright_box(grey: torch.Tensor) -> list[int]:
    """xyxy of the pixels brighter than 0.5, in pixel-edge coordinates."""
    rows, cols = torch.nonzero(grey > 0.5, as_tuple=True)
    return [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]


@pytest.mark.parametrize("zoom, dx, dy, expected", [
    (1.0, 4.0, -2.0, [12, 6, 20, 14]),   # a pure shift by whole pixels
    (2.0, 0.0, 0.0, [0, 0, 16, 16]),     # (8 - 16) * 2 + 16 = 0, (16 - 16) * 2 + 16 = 16
    (0.5, 3.0, 1.0, [15, 13, 19, 17]),   # (8 - 16) / 2 + 16 + 3 = 15, ...
])
def test_pixels_and_boxes_move_together(zoom, dx, dy, expected):
    moved = zoom_and_shift(_square(), zoom, dx, dy)
    boxes, labels = move_boxes(torch.tensor([[8.0, 8.0, 16.0, 16.0]]), torch.tensor([3]), zoom, dx, dy, 32)
    assert _bright_box(moved) == expected
    assert boxes.tolist() == [expected] and labels.tolist() == [3]


def test_boxes_are_clipped_and_dropped_when_less_than_a_quarter_stays_in_view():
    # shifted 20 px right in a 32 px frame: visible fractions 12/16, 0, 4/8, 2/8 and 1/8
    boxes = torch.tensor([[0.0, 0, 16, 16], [20, 0, 30, 10], [8, 0, 16, 8], [10, 0, 18, 8], [11, 0, 19, 8]])
    moved, labels = move_boxes(boxes, torch.tensor([1, 2, 3, 4, 5]), 1.0, 20.0, 0.0, 32)
    assert labels.tolist() == [1, 3, 4]
    assert moved.tolist() == [[20, 0, 32, 16], [28, 0, 32, 8], [30, 0, 32, 8]]


def test_intensity_changes_values_only_and_stays_in_range():
    grey = torch.linspace(0, 1, 32 * 32).reshape(32, 32)
    boxes, labels = torch.tensor([[2.0, 3, 10, 12]]), torch.tensor([1])
    torch.manual_seed(0)
    out, out_boxes, out_labels = Jitter(intensity=0.5)(grey, boxes, labels)
    assert not torch.allclose(out, grey) and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out_boxes, boxes) and torch.equal(out_labels, labels)
    # brighter stays brighter: gamma and contrast are monotone
    assert torch.all(out.flatten().diff() >= 0)
    torch.manual_seed(0)
    assert torch.equal(Jitter(intensity=0.5)(grey, boxes, labels)[0], out)  # torch's generator: reproducible


def test_zero_amounts_are_the_identity():
    grey, boxes, labels = torch.rand(32, 32), torch.tensor([[1.0, 2, 3, 4]]), torch.tensor([2])
    assert not Jitter().active
    out = Jitter()(grey, boxes, labels)
    assert out[0] is grey and out[1] is boxes and out[2] is labels


def test_random_zoom_and_shift_stay_within_their_ranges():
    torch.manual_seed(1)
    jitter = Jitter(scale=0.2, shift=0.1)
    for _ in range(20):
        (x0, y0, x1, y1), = jitter(_square(64, (24, 24, 40, 40)), torch.tensor([[24.0, 24, 40, 40]]),
                                   torch.tensor([1]))[1].tolist()
        assert 16 * 0.8 - 1e-4 <= x1 - x0 <= 16 * 1.2 + 1e-4 and 16 * 0.8 - 1e-4 <= y1 - y0 <= 16 * 1.2 + 1e-4
        centre = ((x0 + x1) / 2 - 32, (y0 + y1) / 2 - 32)  # the box's centre was the image's: only the shift moves it
        assert all(abs(c) <= 6.4 + 1e-4 for c in centre)


def test_clinical_jitter_has_its_noise_and_missing_rate():
    std = torch.tensor([2.0, 10.0])
    values = torch.tensor([1.0, 100.0, 1.0])  # two numeric columns, then a categorical code
    torch.manual_seed(0)
    draws = torch.stack([ClinicalJitter(0.5, 0.2, std)(values) for _ in range(20000)])
    missing = torch.isnan(draws).float().mean(0)
    torch.testing.assert_close(missing, torch.full((3,), 0.2), atol=0.01, rtol=0)
    present = [draws[:, j][~torch.isnan(draws[:, j])] for j in range(3)]
    assert present[0].std().item() == pytest.approx(1.0, rel=0.03)   # 0.5 sd of 2.0
    assert present[1].std().item() == pytest.approx(5.0, rel=0.03)   # 0.5 sd of 10.0
    assert present[1].mean().item() == pytest.approx(100.0, abs=0.1)
    assert torch.all(present[2] == 1.0)                               # a category is dropped, never noised
    assert math.isnan(ClinicalJitter(0.5, 0.0, std)(torch.tensor([float("nan"), 1.0, 0.0]))[0])
    assert not ClinicalJitter(0.0, 0.0, std).active


def test_record_dropout_blanks_whole_records_at_its_rate():
    values = torch.tensor([1.0, 100.0, 1.0])
    torch.manual_seed(0)
    draws = torch.stack([ClinicalJitter(0.0, 0.0, torch.ones(2), record_dropout=0.3)(values) for _ in range(20000)])
    blank = torch.isnan(draws)
    assert torch.equal(blank.all(1), blank.any(1))  # all of a record or none of it
    assert blank.all(1).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(draws[~blank.all(1)], values.expand(int((~blank.all(1)).sum()), 3))  # the rest as they were
    assert ClinicalJitter(0.0, 0.0, torch.ones(2), record_dropout=0.3).active


def test_the_dataset_jitters_training_items_only(cohort_dir):
    jitter, clinical = Jitter(shift=0.3), ClinicalJitter(0.0, 0.99, torch.ones(9))
    plain = CohortDataset(cohort_dir, "train", image_size=20)
    evaluated = CohortDataset(cohort_dir, "train", image_size=20, jitter=jitter, clinical_jitter=clinical)
    trained = CohortDataset(cohort_dir, "train", image_size=20, train=True, hflip_p=0.0, jitter=jitter,
                            clinical_jitter=clinical)
    (image_a, values_a, target_a), (image_b, values_b, target_b) = plain[0], evaluated[0]
    assert torch.equal(image_a, image_b) and torch.equal(target_a["boxes"], target_b["boxes"])
    assert torch.equal(values_a.nan_to_num(-1), values_b.nan_to_num(-1))
    torch.manual_seed(3)
    image, values, target = trained[0]
    assert not torch.equal(image, plain[0][0]) and torch.isnan(values).sum() >= 8
    torch.manual_seed(3)
    again = trained[0]
    assert torch.equal(again[0], image) and torch.equal(again[2]["boxes"], target["boxes"])


def test_training_builds_the_jitters_from_the_config_and_the_train_split(tiny_cohort, make_config):
    cfg = make_config(tiny_cohort)
    cfg.data.scale_jitter, cfg.data.clinical_noise, cfg.data.clinical_dropout = 0.1, 0.3, 0.2
    _, train_set, val_set = datasets(cfg)
    assert train_set.jitter.scale == 0.1 and train_set.train and not val_set.train
    assert (train_set.clinical_jitter.noise, train_set.clinical_jitter.dropout) == (0.3, 0.2)
    torch.testing.assert_close(train_set.clinical_jitter.std, fit_statistics(train_set.clinical, 9)[1])
