"""Fusion operators, 1D fusion pooling, loss weighting and pretrained-weight loading."""

import math
import warnings
from collections import OrderedDict

import pytest
import torch
from torchvision.models import mobilenet_v3_small
from torchvision.ops import MultiScaleRoIAlign

from mdfnet.errors import InputError
from mdfnet.model.backbones import build_backbone
from mdfnet.model.fusion import FUSIONS
from mdfnet.model.heads import CLINICAL_KEY, FusedRoIPool
from mdfnet.model.loss import SumLoss, UncertaintyWeightedLoss


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_fusion_keeps_the_map_size(name):
    op = FUSIONS[name](16, 8)
    image, clinical, vector = torch.randn(2, 16, 5, 7), torch.randn(2, 16, 5, 7), torch.randn(2, 8)
    assert op(image, clinical, vector).shape == (2, 16, 5, 7)


def test_sum_and_hadamard_values():
    a, b = torch.tensor([[[[2.0]]]]), torch.tensor([[[[3.0]]]])
    assert FUSIONS["sum"](1, 1)(a, b, None).item() == 5.0
    assert FUSIONS["hadamard"](1, 1)(a, b, None).item() == 6.0


def test_film_starts_as_identity():
    image = torch.randn(2, 16, 4, 4)
    torch.testing.assert_close(FUSIONS["film"](16, 8)(image, None, torch.randn(2, 8)), image)


def test_fused_roi_pool_appends_each_rois_own_clinical_vector():
    pool = FusedRoIPool(["0"], output_size=2, sampling_ratio=1)
    features = OrderedDict([("0", torch.ones(2, 3, 8, 8)), (CLINICAL_KEY, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))])
    boxes = [torch.tensor([[0.0, 0, 4, 4], [1, 1, 5, 5]]), torch.tensor([[2.0, 2, 6, 6]])]
    out = pool(features, boxes, [(8, 8), (8, 8)])
    assert out.shape == (3, 3 * 2 * 2 + 2)
    torch.testing.assert_close(out[:, -2:], torch.tensor([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0]]))


def test_uncertainty_weighting_at_init_is_half_the_sum_plus_log2_per_term():
    losses = {"a": torch.tensor(2.0), "b": torch.tensor(4.0)}
    total = UncertaintyWeightedLoss(("a", "b"))(losses)
    assert total.item() == pytest.approx(0.5 * 6.0 + 2 * math.log(2.0))
    assert SumLoss(("a", "b"))(losses).item() == 6.0


def test_uncertainty_weights_learn_to_downweight_a_large_loss():
    weighting = UncertaintyWeightedLoss(("big", "small"))
    opt = torch.optim.SGD(weighting.parameters(), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        weighting({"big": torch.tensor(10.0), "small": torch.tensor(0.1)}).backward()
        opt.step()
    assert abs(weighting.scale["big"].item()) > abs(weighting.scale["small"].item())


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(3)
    classifier = mobilenet_v3_small(weights=None)
    path = tmp_path / "mnv3s.pth"
    torch.save(classifier.state_dict(), path)
    backbone = build_backbone("mobilenet_v3_small", 64, fpn=False, pretrained=path)
    torch.testing.assert_close(backbone.body[0][0].weight, classifier.features[0][0].weight)


def test_random_init_says_so_and_a_missing_file_is_a_clear_error(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_backbone("resnet18", 64)
    assert any("random init" in str(w.message) for w in caught)
    with pytest.raises(InputError, match="does not exist"):
        build_backbone("resnet18", 64, pretrained=tmp_path / "nope.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(1)}, wrong)
    with pytest.raises(InputError, match="does not fit resnet18"):
        build_backbone("resnet18", 64, pretrained=wrong)


def test_film_box_head_starts_as_the_plain_head_and_then_gates_it():
    from torchvision.models.detection.faster_rcnn import TwoMLPHead

    from mdfnet.model.heads import FiLMBoxHead

    torch.manual_seed(0)
    head, plain = FiLMBoxHead(pooled=12, clinical_dim=3, hidden=5), TwoMLPHead(12, 5)
    plain.fc6.load_state_dict(head.fc6.state_dict())
    plain.fc7.load_state_dict(head.fc7.state_dict())
    pooled, vector = torch.randn(4, 12), torch.randn(4, 3)
    x = torch.cat([pooled, vector], dim=1)
    assert head(x).shape == (4, 5)
    torch.testing.assert_close(head(x), plain(pooled))  # zero-initialised FiLM: the vector does nothing yet
    with torch.no_grad():
        head.film.bias[:5] = -1.0  # gamma = -1 zeroes every hidden unit: fc7 sees only beta = 0
    torch.testing.assert_close(head(x), torch.relu(head.fc7.bias).expand(4, 5))


def test_finest_level_is_the_pyramids_finest_map_and_uses_every_parameter():
    from torchvision.models.detection.backbone_utils import BackboneWithFPN

    from mdfnet.model.backbones import FinestLevel, build_backbone

    torch.manual_seed(0)
    backbone = build_backbone("mobilenet_v3_small", 16, stride=8)
    assert isinstance(backbone, FinestLevel)
    x = torch.randn(2, 3, 64, 64)
    out = backbone(x)
    assert list(out) == ["0"] and out["0"].shape == (2, 16, 8, 8)
    # the same as torchvision's full pyramid's finest level, with the same weights
    full = BackboneWithFPN(backbone.body, {}, [1, 1, 1], 16)
    full.body, full.fpn.inner_blocks = backbone.body, backbone.fpn.inner_blocks
    full.fpn.layer_blocks = torch.nn.ModuleList([backbone.fpn.layer_blocks[0]] * 3)
    torch.testing.assert_close(out["0"], next(iter(full(x).values())))
    out["0"].sum().backward()
    assert all(p.grad is not None for p in backbone.parameters())  # DDP needs no find_unused_parameters
    assert build_backbone("mobilenet_v3_small", 16, stride=16)(x)["0"].shape == (2, 16, 4, 4)


@pytest.mark.parametrize("fused", [False, True])
def test_pool_shared_equals_roi_align_row_by_row(fused):
    from mdfnet.model.heads import pool_shared

    pool = (FusedRoIPool if fused else MultiScaleRoIAlign)(["0"], output_size=7, sampling_ratio=2)
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 8, 8, 8, generator=g)  # 3 rows of one 256 px film, stride 32
    features = OrderedDict([("0", maps), (CLINICAL_KEY, torch.rand(3, 5, generator=g))])
    boxes = torch.tensor([[10.0, 20, 120, 200], [0, 0, 256, 256], [100, 100, 110, 104]])
    shapes = [(256, 256)] * 3
    assert pool_shared(pool, features, [boxes] * 3, shapes) is None  # the pool has not run yet: no scale
    expected = pool(features, [boxes] * 3, shapes)
    got = pool_shared(pool, features, [boxes] * 3, shapes)
    assert got.shape == expected.shape == ((9, 8 * 49 + 5) if fused else (9, 8, 7, 7))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert pool_shared(pool, features, [boxes, boxes.clone(), boxes], shapes) is None  # not the same proposals
    assert pool_shared(pool, features, [boxes] * 3, [(256, 256), (256, 256), (224, 256)]) is None


@pytest.mark.parametrize("fusion_1d", ["film", "concat"])
def test_prior_predictor_adds_the_vectors_class_offsets_to_the_box_heads_logits(fusion_1d):
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    from mdfnet.model.clinical import is_clinical_parameter
    from mdfnet.model.heads import FUSIONS_1D, PriorPredictor

    torch.manual_seed(0)
    head = FUSIONS_1D[fusion_1d](pooled=12, clinical_dim=3, hidden=5, pass_vector=True)
    plain = FUSIONS_1D[fusion_1d](pooled=12, clinical_dim=3, hidden=5)
    plain.load_state_dict(head.state_dict())
    predictor = PriorPredictor(FastRCNNPredictor(5, num_classes=4), clinical_dim=3)
    pooled, vector = torch.randn(6, 12), torch.randn(6, 3)
    x = torch.cat([pooled, vector], dim=1)
    # the head passes each RoI's vector on, after its own output
    torch.testing.assert_close(head(x), torch.cat([plain(x), vector], dim=1), rtol=0, atol=0)
    hidden = plain(x)
    logits, deltas = predictor(head(x))
    assert logits.shape == (6, 4) and deltas.shape == (6, 16)
    torch.testing.assert_close(logits, predictor.cls_score(hidden))  # zero offsets at init
    with torch.no_grad():
        predictor.clinical_prior.linear.weight[2] = torch.tensor([1.0, 0.0, -2.0])  # class 2: v0 - 2 v2
    logits, deltas2 = predictor(head(x))
    expected = predictor.cls_score(hidden)
    expected[:, 2] += vector[:, 0] - 2 * vector[:, 2]
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(deltas2, deltas, rtol=0, atol=0)  # the boxes do not read the vitals
    names = [n for n, _ in predictor.named_parameters()]
    assert [n for n in names if is_clinical_parameter(n)] == ["clinical_prior.linear.weight",
                                                              "clinical_prior.linear.bias"]
