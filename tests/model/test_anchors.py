"""Anchors scaled to the image, fitted to the boxes, and their recall on the RPN's grid."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

import mdfnet
from mdfnet.engine.checkpoint import model_from_checkpoint
from mdfnet.engine.train import train
from mdfnet.errors import InputError
from mdfnet.model.anchors import anchor_recall, fit_anchors, grid_anchors, resolve_anchors, scaled_sizes


def test_scaled_sizes_follow_the_image():
    assert scaled_sizes(512) == (32, 64, 128, 256, 512)  # the paper's, at the paper's size
    assert scaled_sizes(128) == (8, 16, 32, 64, 128)
    assert scaled_sizes(96) == (6, 12, 24, 48, 96)
    assert scaled_sizes(160) == (10, 20, 40, 80, 160)


def test_fast_preset_scales_its_anchors_and_paper_keeps_the_authors():
    fast = mdfnet.build_model("baseline", preset="fast", image_size=128)
    assert fast.rpn.anchor_generator.sizes == ((8, 16, 32, 64, 128),)
    assert fast.rpn.anchor_generator.aspect_ratios == ((0.5, 1.0, 2.0),)
    paper = mdfnet.build_model("baseline", preset="paper", image_size=128, pretrained_backbone=None)
    assert paper.rpn.anchor_generator.sizes == ((32, 64, 128, 256, 512),)
    fpn = mdfnet.build_model("baseline", preset="fast", image_size=128, fpn=True)
    assert fpn.rpn.anchor_generator.sizes == ((8,), (16,), (32,), (64,), (128,))


def test_grid_anchors_are_torchvisions():
    sizes, ratios, size, stride = (8, 16, 32), (0.5, 1.0, 2.0), 64, 8
    generator = AnchorGenerator((sizes,), (ratios,))
    images = ImageList(torch.zeros(1, 3, size, size), [(size, size)])
    expected = generator(images, [torch.zeros(1, 4, size // stride, size // stride)])[0]
    torch.testing.assert_close(grid_anchors(sizes, ratios, size, stride), expected)


def test_fit_anchors_recovers_known_boxes():
    squares = np.concatenate([np.tile([[0, 0, s, s]], (20, 1)) for s in (8, 16, 32, 64, 128)])
    assert fit_anchors(squares) == ((8, 16, 32, 64, 128), (1.0,))
    # three shapes: 10 x 10, 20 x 40 and 40 x 20 -> two sizes (10 and sqrt(800)), ratios h/w 0.5, 1, 2
    shapes = np.concatenate([np.tile([[0, 0, 10, 10]], (30, 1)), np.tile([[0, 0, 20, 40]], (30, 1)),
                             np.tile([[5, 5, 45, 25]], (30, 1))])
    assert fit_anchors(shapes) == ((10, 28.3), (0.5, 1.0, 2.0))
    with pytest.raises(InputError, match="auto anchors need training boxes of positive width and height; "
                                         "got 1 boxes, 1 of them empty"):
        fit_anchors(np.array([[5, 5, 5, 9]]))


def test_recall_counts_boxes_with_a_grid_anchor_at_iou_half():
    on_grid, tiny = [16, 16, 48, 48], [0, 0, 8, 8]  # the first IS an anchor (centre (32, 32)); the second has none
    assert anchor_recall(np.array([on_grid, tiny]), (32,), (1.0,), 128, (32,)) == 0.5
    # the case: a 17 x 10 px opacity at 128 px has no paper anchor on the stride-32 map, a scaled
    # anchor on the stride-8 map (IoU 0.66)
    opacity = np.array([[55.5, 59, 72.5, 69]])
    assert anchor_recall(opacity, (32, 64, 128, 256, 512), (0.5, 1.0, 2.0), 128, (32,)) == 0.0
    assert anchor_recall(opacity, scaled_sizes(128), (0.5, 1.0, 2.0), 128, (8,)) == 1.0


def test_resolve_anchors_modes_and_errors():
    assert resolve_anchors("scaled", (1.0,), 256).sizes == (16, 32, 64, 128, 256)
    assert resolve_anchors((4, 8), (1.0,), 256).mode == "explicit"
    # a pyramid needs one size per level: boxes of one size get the next octaves
    boxes = np.tile([[0, 0, 10, 10]], (5, 1))
    assert resolve_anchors("auto", (1.0,), 64, boxes=boxes).sizes == (10,)
    assert resolve_anchors("auto", (1.0,), 64, boxes=boxes, one_per_level=True).sizes == (10, 20, 40, 80, 160)
    with pytest.raises(InputError, match="model.anchor_sizes=auto is fitted to the training boxes by `mdfnet train`"):
        mdfnet.build_model("baseline", preset="fast", image_size=64, anchor_sizes="auto")
    with pytest.raises(InputError, match="model.anchor_sizes='big': expected 'scaled', 'auto' or a list"):
        resolve_anchors("big", (1.0,), 64)


def test_train_fits_auto_anchors_saves_them_and_their_recall(tiny_cohort, tmp_path, make_config):
    cfg = make_config(tiny_cohort, epochs=1)
    cfg.model.anchor_sizes = "auto"
    lines = []
    train(cfg, tmp_path / "run", log=lines.append)
    # every train box is 30 x 25 px on a 96 x 80 image -> 20 x 20 px at 64 px
    saved = json.loads((tmp_path / "run" / "anchors.json").read_text())
    assert saved == {"sizes": [20], "ratios": [1.0], "mode": "auto", "recall": 1.0, "boxes": 8}
    assert "anchors (auto): sizes [20] px, ratios [1.0]; 100 % of the 8 training boxes have an anchor" in lines[0]
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["model"]["anchor_sizes"] == "auto"
    last = model_from_checkpoint(tmp_path / "run" / "last.pt")[0]  # the checkpoint rebuilds the fitted anchors
    assert last.rpn.anchor_generator.sizes == ((20,),) and last.rpn.anchor_generator.aspect_ratios == ((1.0,),)
