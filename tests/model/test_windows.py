"""Windows: the lite branch, the fusion and RoIAlign on the parts of the map a few boxes read give the
whole map's numbers (to float rounding), at the border of the map and inside it."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

import mdfnet
from mdfnet.engine.explain import explain_image, read_with_every_box
from mdfnet.model.heads import EveryBox
from mdfnet.model.spatialise import LiteClinicalBranch
from mdfnet.model.windows import box_windows, merge_windows, pool_separable, pool_windows, windows_apply

NAN = float("nan")
ROW = torch.tensor([71.0, 101.3, 112, 24, 91, 142, 88, 6, 2, 1.0])


def randomise(module: torch.nn.Module, seed: int, std: float = 1.0) -> None:
    """Every weight and BatchNorm statistic random, so a window that read the wrong pixel shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * std)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def test_a_boxs_window_spans_the_pixels_its_roi_align_reads():
    # scale 1/8: box x 16..40 -> samples in [2, 5): columns 2..5 read, window [1, 7) with the rounding slack;
    # y 8..24 -> [1, 3): rows 1..3, window [0, 5). A box under one map pixel is read as one pixel:
    # x 250..256 -> [31.25, 32.25), clipped to the map's last column; y 100..101 -> [12.5, 13.5): [12, 15).
    boxes = torch.tensor([[16.0, 8, 40, 24], [250, 100, 256, 101], [0, 0, 256, 256]])
    assert box_windows(boxes, 1 / 8, (32, 32)).tolist() == [[0, 5, 1, 7], [12, 15, 31, 32], [0, 32, 0, 32]]
    assert box_windows(torch.tensor([[21.0, 13, 30, 20]]), 1 / 8, (32, 16)).tolist() == [[1, 4, 2, 5]]


def test_every_pixel_roi_align_weighs_lies_in_the_window():
    g = torch.Generator().manual_seed(0)
    height, width = 12, 16
    xy = torch.rand(200, 2, generator=g) * torch.tensor([width * 8.0, height * 8.0])
    wh = torch.rand(200, 2, generator=g) ** 3 * 60 + 0.01  # many boxes under a map pixel
    boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor([width * 8.0, height * 8.0]))], dim=1)
    basis = torch.eye(height * width).view(1, -1, height, width)
    rois = torch.cat([torch.zeros(len(boxes), 1), boxes], dim=1)
    weights = roi_align(basis, rois, 7, 1 / 8, 2).abs().sum((2, 3)).view(-1, height, width)  # [U, h, w]
    read = 0
    for (top, bottom, left, right), w in zip(box_windows(boxes, 1 / 8, (height, width)), weights):
        inside = torch.zeros(height, width, dtype=torch.bool)
        inside[top:bottom, left:right] = True
        assert w[~inside].sum() == 0
        read += int(w[inside].sum() > 0)  # a box at the far border may have every sample beyond the map
    assert read >= 190


def test_windows_merge_while_the_merged_one_costs_less():
    windows = np.array([[0, 4, 0, 4],      # cost (4+2)*(4+2) = 36
                        [1, 5, 1, 5],      # overlaps the first: together [0, 5) x [0, 5), 49 < 72
                        [20, 24, 20, 24],  # far away: merging with the pair would cost 26*26 > 49 + 36
                        [20, 24, 20, 24]])  # the same window again: merged at no cost
    assert merge_windows(windows) == [((0, 5, 0, 5), [0, 1]), ((20, 24, 20, 24), [2, 3])]
    assert merge_windows(windows[2:3]) == [((20, 24, 20, 24), [0])]


@pytest.mark.parametrize("size", [(32, 32), (13, 20), (4, 4), (2, 3)])  # 4 x 4: no resize; 2 x 3: shrunk
def test_lite_branch_on_windows_equals_its_whole_map(size):
    branch = LiteClinicalBranch(6, 5)
    randomise(branch, 0)
    branch.eval()
    vector = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    height, width = size
    whole = branch(vector, OrderedDict(a=torch.zeros(1, 5, height, width)), (0, 0))["a"]
    def spans(n):  # whole axis, each end, the middle, one pixel in from each end
        return sorted({(0, n), (0, 1), (n - 1, n), (n // 3, n // 3 + 2), (0, n // 2 + 1), (1, n), (1, max(2, n - 1))})
    windows = [(t, b, l, r) for t, b in spans(height) for l, r in spans(width) if b <= height and r <= width]
    for window, got in zip(windows, branch.windows(vector, size, windows)):
        top, bottom, left, right = window
        assert got.shape == (3, 5, bottom - top, right - left)
        scale = whole.abs().max().item()  # values of order 100 with unit weights: float noise scales with them
        torch.testing.assert_close(got, whole[..., top:bottom, left:right], rtol=1e-5, atol=1e-6 * scale)
    with pytest.raises(RuntimeError, match="call eval"):
        branch.train().windows(vector, size, windows)


@pytest.mark.parametrize("sampling_ratio, output_size", [(2, 7), (0, (7, 5))])  # fixed; adaptive, not square
def test_separable_roi_align_equals_roi_align(sampling_ratio, output_size):
    g = torch.Generator().manual_seed(0)
    pool = MultiScaleRoIAlign(["0"], output_size, sampling_ratio)
    pool.scales = [1 / 8]
    maps = torch.randn(3, 4, 9, 14, generator=g)
    boxes = torch.tensor([[0.0, 0, 112, 72], [100, 60, 112, 72], [111, 71, 112, 72], [3, 5, 50, 20], [30, 40, 31, 41]])
    rois = torch.cat([torch.arange(3.0).repeat_interleave(len(boxes))[:, None], boxes.repeat(3, 1)], dim=1)
    expected = roi_align(maps, rois, output_size, 1 / 8, sampling_ratio).view(3, len(boxes), 4, *pool.output_size)
    torch.testing.assert_close(pool_separable(pool, maps, boxes), expected, rtol=0, atol=1e-5)


def _model(size: int, fusion: str, seed: int = 0):
    torch.manual_seed(seed)
    model = mdfnet.build_model("mdf", preset="fast", image_size=size, fusion=fusion, pretrained_backbone=None).eval()
    std = 0.25 if fusion == "hadamard" else 0.1  # large enough that the values move the scores, not saturate them
    randomise(model.clinical_branch, seed + 1, std)  # whatever the branch's init (its last conv may start at 0)
    return model


def _rows():
    rows = ROW.repeat(6, 1)
    rows[1, 0], rows[2, 3], rows[3, 9], rows[4, 1], rows[5, 4] = NAN, 10, NAN, 95, NAN
    return rows


@pytest.mark.parametrize("size, fusion", [(128, "sum"), (256, "hadamard"), (128, "concat_linear")])
def test_scores_of_proposals_on_windows_equal_the_whole_maps(size, fusion):
    model = _model(size, fusion)
    image = torch.rand(3, size, size, generator=torch.Generator().manual_seed(2))
    rows = _rows()
    with torch.no_grad():
        encoded = model.encode_images([image])
        _, _, proposals = read_with_every_box(model, encoded, ROW)
        edge = float(size)
        boxes = torch.cat([proposals[:12], torch.tensor([  # at the corners and borders, inside, the whole film
            [0.0, 0, 5, 7], [edge - 9, edge - 3, edge, edge], [edge - 2, 30, edge, 31], [0, edge - 1, 3, edge],
            [edge / 2, edge / 2, edge / 2 + 3, edge / 2 + 2], [40, 33, 90, 70], [0, 0, edge, edge]])])
        assert windows_apply(model, encoded.features)
        got = model.score_proposals(encoded, rows, 0, boxes)
        expected = model.detect(encoded, rows, torch.zeros(len(rows), dtype=torch.long),
                                proposals=[boxes] * len(rows), roi_heads=EveryBox(model.roi_heads))
    spread = torch.stack([e["scores"] for e in expected]).std(0).max()
    assert spread > 1e-3  # the rows' values move the scores: the comparison means something
    for g, e in zip(got, expected):
        assert g["scores"].shape == e["scores"].shape == (len(boxes) * 5,)
        torch.testing.assert_close(g["scores"], e["scores"], rtol=0, atol=1e-5)
        torch.testing.assert_close(g["boxes"], e["boxes"], rtol=0, atol=1e-3)  # pixels of a 128-256 px film
        assert torch.equal(g["labels"], e["labels"])


def test_pool_windows_of_no_box_is_empty():
    pool = MultiScaleRoIAlign(["0"], 7, 2)
    pool.scales = [1 / 8]
    assert pool_windows(torch.rand(1, 4, 8, 8), None, None, None, pool, torch.zeros(0, 4)).shape == (0, 4, 7, 7)


@pytest.mark.parametrize("size, fusion", [(128, "sum"), (256, "hadamard")])
def test_explanations_on_windows_equal_the_whole_maps(size, fusion, monkeypatch):
    model = _model(size, fusion, seed=3)
    image = torch.rand(3, size, size, generator=torch.Generator().manual_seed(4))
    medians = torch.tensor([60.0, 98.6, 80, 18, 97, 130, 80, 2, 3])
    detections, effects = explain_image(model, image, ROW, medians)
    monkeypatch.setattr("mdfnet.model.detector.windows_apply", lambda *args: False)
    whole_detections, whole_effects = explain_image(model, image, ROW, medians)
    torch.testing.assert_close(detections["scores"], whole_detections["scores"], rtol=0, atol=0)
    assert len(effects) == len(detections["scores"]) > 0
    def flat(explanations):
        return [(k, ref, f, v["score"], v["effect"])
                for k, e in enumerate(explanations) for ref, by in e.items() for f, v in by.items()]
    got, expected = flat(effects), flat(whole_effects)
    assert [g[:3] for g in got] == [e[:3] for e in expected] and len(got) == len(detections["scores"]) * 19
    assert any(abs(e[4]) >= 1e-3 for e in expected)  # some value moves some finding
    # reported to 4 decimals: a score within float noise of a rounding boundary may round the other way
    assert max(abs(g[3] - e[3]) + abs(g[4] - e[4]) for g, e in zip(got, expected)) <= 2e-4
    assert sum(g != e for g, e in zip(got, expected)) <= len(got) // 50
