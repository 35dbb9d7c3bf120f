"""One-stage detectors (RetinaNet, FCOS) of the family on tiny images: every variant x fusion, the 1D fusion
into the classification head, labels 1..5, the loss terms, hand-counted head sizes and one-line errors."""

import math

import pytest
import torch

import mdfnet
from mdfnet.config import DETECTOR_NAMES
from mdfnet.errors import InputError
from mdfnet.model import DETECTORS, FUSIONS, VARIANTS, fit_statistics
from mdfnet.model.heads import FUSIONS_1D
from mdfnet.model.onestage import HEAD_FUSIONS_1D, FiLM2d, FusedBackbone, ReadsClinical, TiledVector
from tiny_batch import tiny_batch

S = 64
ONE_STAGE = ("retinanet", "fcos")
TERMS = {"retinanet": {"classification", "bbox_regression"},
         "fcos": {"classification", "bbox_regression", "bbox_ctrness"}}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _batch(n=2, size=S):
    return tiny_batch(n, size, label=5)


def _build(detector, variant="mdf", **overrides):
    return mdfnet.build_model(variant, preset="fast", image_size=S, detector=detector, fpn=True, **overrides)


def test_registries_agree():
    assert tuple(DETECTORS) == DETECTOR_NAMES == ("maskrcnn", "retinanet", "fcos")
    assert set(HEAD_FUSIONS_1D) == set(FUSIONS_1D) == {"concat", "film"}


@pytest.mark.parametrize("detector", ONE_STAGE)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_every_detector_variant_and_fusion_trains_and_predicts(detector, variant, fusion):
    torch.manual_seed(0)
    model = _build(detector, variant, fusion=fusion, box_score_thresh=0.0,
                   spatialiser="paper" if fusion == "concat_conv" else "lite")
    images, clinical, targets = _batch()
    losses = model.train()(images, clinical, targets)
    assert set(losses) == TERMS[detector] | {"loss"}
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    spec = VARIANTS[variant]
    assert isinstance(model.backbone, FusedBackbone) == spec.fuse_3d
    assert (model.fusion is not None) == spec.fuse_3d and model.uses_clinical == (spec.fuse_1d or spec.fuse_3d)
    tower = model.head.classification_head.conv
    assert isinstance(tower[-1], FiLM2d) == spec.fuse_1d  # the fast preset's 1D fusion is FiLM
    if spec.fuse_1d:
        assert tower[-1].film.project.weight.grad.abs().sum() > 0
    if spec.fuse_3d and fusion == "concat_conv":  # the authors' branch: the encoder learns from step one
        assert any(p.grad.abs().sum() > 0 for p in model.clinical_encoder.parameters())
    elif spec.fuse_3d and fusion != "film":  # the lite branch starts as the identity: its last layer learns first
        assert model.clinical_branch.refine[-1].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(images, clinical)
    assert len(out) == 2
    for det in out:
        k = det["boxes"].shape[0]
        # every anchor box has a size; an untrained FCOS may regress 0 px sides, which are dropped
        assert (k == 10 if detector == "retinanet" else k <= 10)
        assert det["labels"].shape == (k,) and det["scores"].shape == (k,)
        assert ((det["labels"] >= 1) & (det["labels"] <= 5)).all()
        assert (det["boxes"] >= 0).all() and (det["boxes"] <= S).all()
        assert (det["boxes"][:, 2:] - det["boxes"][:, :2] >= 1e-2).all()  # no zero-width box
        assert (det["scores"][:-1] >= det["scores"][1:]).all()
    assert all(m.vector is None for m in model.modules() if isinstance(m, ReadsClinical))  # nothing kept between calls


@pytest.mark.parametrize("detector", ONE_STAGE)
@pytest.mark.parametrize("fusion_1d", ["film", "concat"])
def test_1d_fusion_starts_as_the_plain_head_then_learns_from_the_vector(detector, fusion_1d):
    torch.manual_seed(0)
    model = _build(detector, "msf1d", fusion_1d=fusion_1d, box_score_thresh=0.0)
    head = model.head.classification_head
    assert isinstance(head.conv[-1], FiLM2d if fusion_1d == "film" else TiledVector)
    assert head.cls_logits.in_channels == (64 if fusion_1d == "film" else 64 + 64)
    images, clinical, targets = _batch()
    other = clinical.flip(0)
    model.clinical_encoder.set_statistics(*fit_statistics(clinical))  # standardised, as in training

    def scores(c):
        with torch.no_grad():
            return model.eval()(images, c)[0]["scores"]

    torch.testing.assert_close(scores(clinical), scores(other), rtol=0, atol=0)  # clinical weights start at zero
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()(images, clinical, targets)["loss"].backward()
    optimizer.step()
    assert not torch.equal(scores(clinical), scores(other))


@pytest.mark.parametrize("detector", ONE_STAGE)
def test_3d_fusion_starts_as_the_image_path_then_learns_and_baseline_ignores_clinical_data(detector):
    torch.manual_seed(1)
    images, clinical, targets = _batch()
    fused = _build(detector, "msf3d", fusion="sum", box_score_thresh=0.0)
    baseline = _build(detector, "baseline", box_score_thresh=0.0).eval()
    fused.clinical_encoder.set_statistics(*fit_statistics(clinical))

    def read(c):  # an untrained RetinaNet's scores sit at its prior: read the boxes too
        with torch.no_grad():
            out = fused.eval()(images, c)[0]
        return torch.cat([out["scores"], out["boxes"].flatten()])

    torch.testing.assert_close(read(clinical), read(clinical.flip(0)), rtol=0, atol=0)  # the branch adds 0
    optimizer = torch.optim.SGD(fused.parameters(), lr=0.01)
    fused.train()(images, clinical, targets)["loss"].backward()
    optimizer.step()

    def fused_maps(c):  # an untrained detector's top scores may sit at its prior: read the fused maps
        with torch.no_grad():
            fused.eval().backbone.vector = fused.clinical_encoder(c)
            maps = fused.backbone(images)
            fused.backbone.vector = None
        return torch.cat([m.flatten() for m in maps.values()])

    assert not torch.equal(fused_maps(clinical), fused_maps(clinical.flip(0)))
    with torch.no_grad():
        torch.testing.assert_close(baseline(images, clinical)[0]["scores"], baseline(images, None)[0]["scores"])


@pytest.mark.parametrize("detector", ONE_STAGE)
def test_a_fused_one_stage_detector_starts_as_its_image_only_baseline(detector):
    torch.manual_seed(3)
    baseline = _build(detector, "baseline", box_score_thresh=0.0).eval()
    torch.manual_seed(3)
    fused = _build(detector, "mdf", box_score_thresh=0.0).eval()
    fused_state = {key.replace("backbone.image_backbone.", "backbone."): tensor  # FusedBackbone's wrapper
                   for key, tensor in fused.state_dict().items()}
    assert all(torch.equal(tensor, fused_state[key]) for key, tensor in baseline.state_dict().items())
    images, clinical, _ = _batch()
    with torch.no_grad():
        a, b = baseline(images, None)[0], fused(images, clinical)[0]
    torch.testing.assert_close(torch.cat([a["scores"], a["boxes"].flatten()]),
                               torch.cat([b["scores"], b["boxes"].flatten()]), rtol=0, atol=0)


# parameters of torchvision's heads at C = 64 channels, counted by hand: a 3x3 conv C -> k has 9 C k + k
TOWER = 4 * (9 * 64 * 64 + 64)                                   # 147,712: four 3x3 convs C -> C
HEADS = {
    # 3 anchors (ratios) per location: cls_logits C -> 3 x 5 classes, bbox_reg C -> 3 x 4
    "retinanet": 2 * TOWER + (9 * 64 * 15 + 15) + (9 * 64 * 12 + 12),                       # 311,003
    # plus a GroupNorm (2C) after each tower conv; one point per location: C -> 5, C -> 4, C -> 1
    "fcos": 2 * (TOWER + 4 * 128) + (9 * 64 * 5 + 5) + (9 * 64 * 4 + 4) + (9 * 64 + 1),   # 302,218
}


@pytest.mark.parametrize("detector", ONE_STAGE)
def test_head_sizes_match_a_hand_count(detector):
    def head_params(**kw):
        return sum(p.numel() for p in _build(detector, **kw).head.parameters())

    assert head_params(variant="baseline") == HEADS[detector] == {"retinanet": 311_003, "fcos": 302_218}[detector]
    classes_out = {"retinanet": 15, "fcos": 5}[detector]
    assert head_params(variant="msf1d", fusion_1d="film") == HEADS[detector] + 64 * 128 + 128  # Linear D -> 2C
    assert head_params(variant="msf1d", fusion_1d="concat") == HEADS[detector] + 9 * 64 * classes_out  # D inputs more


def test_anchors_come_from_the_anchor_module_and_fcos_places_one_point_per_stride():
    retinanet, fcos = _build("retinanet"), _build("fcos")
    # the paper's 32..512 scaled from 512 to 64 px, one size per FPN level (strides 4..64), ratios 0.5/1/2
    assert retinanet.anchors.sizes == (4, 8, 16, 32, 64) and retinanet.anchors.mode == "scaled"
    assert retinanet.anchor_generator.sizes == ((4,), (8,), (16,), (32,), (64,))
    assert retinanet.anchor_generator.aspect_ratios == ((0.5, 1.0, 2.0),) * 5
    assert fcos.anchors is None
    assert fcos.anchor_generator.sizes == ((4,), (8,), (16,), (32,), (64,))
    assert fcos.anchor_generator.aspect_ratios == ((1.0,),) * 5
    explicit = _build("retinanet", anchor_sizes=[6, 12, 24, 48, 96])
    assert explicit.anchor_generator.sizes == ((6,), (12,), (24,), (48,), (96,))


@pytest.mark.parametrize("detector", ONE_STAGE)
def test_without_fpn_the_heads_run_on_the_presets_one_map(detector):
    # fast's one stride-8 map: 8 x 8 locations at 64 px; RetinaNet puts all 5 sizes x 3 ratios on it (as the RPN
    # does), FCOS one point per location whose box may be any size (torchvision's ranges are open at both ends)
    torch.manual_seed(0)
    model = mdfnet.build_model("mdf", preset="fast", image_size=S, detector=detector, box_score_thresh=0.0)
    per_location = {"retinanet": 15, "fcos": 1}[detector]
    assert model.anchor_generator.num_anchors_per_location() == [per_location]
    if detector == "retinanet":
        assert model.anchor_generator.sizes == ((4, 8, 16, 32, 64),)
    else:
        assert model.anchor_generator.sizes == ((8,),)
    images, clinical, targets = _batch()
    with torch.no_grad():
        maps = model.backbone.image_backbone(model.transform(images)[0].tensors)
    assert list(maps) == ["0"] and maps["0"].shape == (2, 64, 8, 8)
    losses = model.train()(images, clinical, targets)
    assert set(losses) == TERMS[detector] | {"loss"} and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    with torch.no_grad():
        out = model.eval()(images, clinical)
    assert len(out) == 2 and all(((d["labels"] >= 1) & (d["labels"] <= 5)).all() for d in out)


def test_labels_are_shifted_to_torchvisions_classes_and_back():
    model = _build("retinanet", "baseline", box_score_thresh=0.5)
    anchors = [torch.tensor([[10.0, 10.0, 20.0, 20.0]])]
    logits = torch.full((1, 1, 5), -10.0)
    logits[0, 0, 4] = 10.0  # torchvision's class index 4 = mdfnet's label 5 (Pulmonary edema)
    head = {"cls_logits": logits, "bbox_regression": torch.zeros(1, 1, 4)}
    (det,) = model.postprocess_detections({k: [v] for k, v in head.items()}, [anchors], [(S, S)])
    assert det["labels"].tolist() == [5] and det["boxes"].tolist() == [[10.0, 10.0, 20.0, 20.0]]
    assert det["scores"].item() == pytest.approx(1 / (1 + math.exp(-10)))
    target = [{"boxes": anchors[0].clone(), "labels": torch.tensor([5])}]
    right = model.compute_loss(target, head, anchors)["classification"]
    wrong = model.compute_loss(target, {**head, "cls_logits": logits.roll(1, dims=2)}, anchors)["classification"]
    assert right.item() < 1e-6 < 1.0 < wrong.item()


@pytest.mark.parametrize(("detector", "n_terms"), [("retinanet", 2), ("fcos", 3)])
def test_loss_weighting_covers_the_detectors_own_terms(detector, n_terms):
    images, clinical, targets = _batch()
    torch.manual_seed(0)
    weighted = _build(detector).train()
    assert set(weighted.loss_weighting.terms) == TERMS[detector]
    assert sum(p.numel() for p in weighted.loss_weighting.parameters()) == n_terms
    losses = weighted(images, clinical, targets)
    terms = sum(losses[t] for t in TERMS[detector])
    # every s_k starts at 1: 0.5 L_k + log 2 each
    assert losses["loss"].item() == pytest.approx(0.5 * terms.item() + n_terms * math.log(2), rel=1e-6)
    plain = _build(detector, loss_weighting="sum").train()
    losses = plain(images, clinical, targets)
    assert losses["loss"].item() == pytest.approx(sum(losses[t] for t in TERMS[detector]).item(), rel=1e-6)


def test_inference_never_takes_targets_and_clinical_batch_is_checked():
    model = _build("fcos").eval()
    images, clinical, targets = _batch()
    with pytest.raises(ValueError, match="inference never takes targets"):
        model(images, clinical, targets)
    with pytest.raises(ValueError, match=r"shape \[1, 10\]; expected \[2, 10\]"):
        model(images, clinical[:1])
    with pytest.raises(ValueError, match="targets are required in train mode"):
        model.train()(images, clinical)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"detector": "yolo", "fpn": True}, "model.detector='yolo': expected one of maskrcnn, retinanet, fcos"),
    ({"detector": "fcos", "fpn": True, "mask_head": True},
     "model.mask_head=true: model.detector=fcos has no such setting (maskrcnn only); leave it out"),
    ({"detector": "fcos", "fpn": True, "box_samples": 64},
     "model.box_samples=64: model.detector=fcos has no such setting (maskrcnn only); leave it out"),
    ({"detector": "retinanet", "fpn": True, "rpn_proposals": (100, 100)},
     "model.rpn_proposals=[100, 100]: model.detector=retinanet has no such setting (maskrcnn only); leave it out"),
    ({"detector": "fcos", "fpn": True, "anchor_sizes": "auto"},
     "model.anchor_sizes=auto: model.detector=fcos has no such setting (maskrcnn and retinanet only); leave it out"),
    ({"detector": "fcos", "fpn": True, "out_channels": 48},
     "model.out_channels=48: FCOS's heads use GroupNorm with 32 groups; give a multiple of 32"),
])
def test_a_detector_name_or_setting_that_does_not_exist_is_one_clear_error(overrides, message):
    with pytest.raises(InputError) as err:
        mdfnet.build_model("mdf", preset="fast", image_size=S, **overrides)
    assert str(err.value) == message


def test_preset_values_of_mask_rcnn_settings_are_not_refused():
    # the presets set rpn_proposals, box_samples (fast) and anchor sizes (paper) for Mask R-CNN: not user choices
    assert _build("fcos").head is not None
    paper = mdfnet.build_model("mdf", preset="paper", image_size=S, detector="fcos", fpn=True,
                               pretrained_backbone=None)
    assert paper.anchors is None and type(paper.clinical_branch).__name__ == "PaperClinicalBranch"


def test_prior_logits_shift_each_class_at_every_anchor_in_torchvisions_channel_order():
    from mdfnet.model.onestage import PriorLogits

    conv = torch.nn.Conv2d(4, 3 * 2, kernel_size=1)  # 3 anchors x 2 classes
    prior = PriorLogits(conv, classes=2, clinical_dim=5)
    x = torch.randn(2, 4, 3, 3)
    prior.vector = torch.randn(2, 5)
    torch.testing.assert_close(prior(x), conv(x), rtol=0, atol=0)  # zero offsets at init
    with torch.no_grad():
        prior.clinical_prior.linear.bias.copy_(torch.tensor([1.0, 10.0]))
    shift = torch.tensor([1.0, 10.0, 1.0, 10.0, 1.0, 10.0])  # channel a * K + k gets class k's offset
    torch.testing.assert_close(prior(x), conv(x) + shift[None, :, None, None])
    prior.vector = None
    with pytest.raises(RuntimeError, match="call it through the detector"):
        prior(x)


@pytest.mark.parametrize("detector", ONE_STAGE)
def test_clinical_prior_starts_as_without_it_then_learns_from_the_vector(detector):
    torch.manual_seed(0)
    plain = _build(detector, "msf1d", box_score_thresh=0.0).eval()
    torch.manual_seed(0)
    model = _build(detector, "msf1d", box_score_thresh=0.0, clinical_prior=True)
    assert type(model.head.classification_head.cls_logits).__name__ == "PriorLogits"
    images, clinical, targets = _batch()
    model.clinical_encoder.set_statistics(*fit_statistics(clinical))
    plain.clinical_encoder.set_statistics(*fit_statistics(clinical))

    def scores(m, c):
        with torch.no_grad():
            return m.eval()(images, c)[0]["scores"]

    torch.testing.assert_close(scores(model, clinical), scores(plain, clinical), rtol=0, atol=0)
    # FiLM's weights are zero: only the offsets get a gradient from the vector in the first step
    model.head.classification_head.conv[-1].film.requires_grad_(False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()(images, clinical, targets)["loss"].backward()
    optimizer.step()
    assert model.head.classification_head.cls_logits.clinical_prior.linear.weight.abs().sum() > 0
    assert not torch.equal(scores(model, clinical), scores(model, clinical.flip(0)))
