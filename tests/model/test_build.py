"""The model family end to end on tiny images: every variant x fusion, backbones, counts, errors."""

import math

import pytest
import torch

import mdfnet
from mdfnet.errors import InputError
from mdfnet.model import FUSIONS, VARIANTS
from tiny_batch import tiny_batch

S = 64  # tiny images keep each forward well under a second


def _batch(n=2, size=S):
    return tiny_batch(n, size, label=4)


def assert_initial_loss(losses):
    """Every term is a non-negative number and, with each learned s_k still at its initial 1, the combined
    loss is sum_k 0.5 / 1 * L_k + log(1 + 1): the uncertainty weighting by hand."""
    terms = {k: float(v.detach()) for k, v in losses.items() if k != "loss"}
    assert all(math.isfinite(v) and v >= 0 for v in terms.values())
    assert float(losses["loss"].detach()) == pytest.approx(sum(0.5 * v + math.log(2) for v in terms.values()), rel=1e-5)


def assert_detections(out, n=2, size=S):
    """``n`` per-image dicts of at most 10 boxes inside the image, labels 1..5, scores >= 0.05."""
    assert len(out) == n
    for det in out:
        k = det["boxes"].shape[0]
        assert det["boxes"].shape == (k, 4) and det["labels"].shape == (k,) and det["scores"].shape == (k,)
        assert k <= 10 and (det["scores"] >= 0.05).all()
        assert ((det["labels"] >= 1) & (det["labels"] <= 5)).all()
        assert (det["boxes"] >= 0).all() and (det["boxes"] <= size).all()
        assert (det["boxes"][:, 2:] >= det["boxes"][:, :2]).all()


def _net_params(model):
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("loss_weighting."))


@pytest.mark.parametrize(("variant", "mask_head", "expected"), [
    ("mdf", False, 3_217_952), ("mdf", True, 5_399_846), ("baseline", True, 3_689_423),
])
def test_paper_preset_matches_the_authors_parameter_counts(variant, mask_head, expected):
    # random init: the count does not depend on the weights, and tests never read ImageNet files
    model = mdfnet.build_model(variant, preset="paper", mask_head=mask_head, pretrained_backbone=None)
    assert _net_params(model) == expected
    # the learned loss weights add one scalar per loss term on top
    n_terms = 5 if mask_head else 4
    assert sum(p.numel() for p in model.loss_weighting.parameters()) == n_terms


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("fusion", sorted(FUSIONS))
def test_every_variant_and_fusion_trains_and_predicts(variant, fusion):
    torch.manual_seed(0)
    model = mdfnet.build_model(variant, preset="fast", image_size=S, fusion=fusion,
                               spatialiser="paper" if fusion == "concat_conv" else "lite")
    images, clinical, targets = _batch()
    model.train()
    losses = model(images, clinical, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss"}
    assert_initial_loss(losses)
    losses["loss"].backward()
    if variant == "baseline":
        assert model.clinical_encoder is None and model.clinical_branch is None and model.fusion is None
    else:
        encoder_grads = [p.grad for p in model.clinical_encoder.parameters()]
        assert encoder_grads and all(g is not None and torch.isfinite(g).all() for g in encoder_grads)
        # FiLM and the lite branch start as the identity (zero last layer), so the first gradient stops at that
        # layer; the encoder learns at step one only through the authors' clinical branch
        film_3d = VARIANTS[variant].fuse_3d and fusion == "film"
        if VARIANTS[variant].fuse_1d:
            assert model.roi_heads.box_head.film.weight.grad.abs().sum() > 0
        if film_3d:
            assert model.fusion.project.weight.grad.abs().sum() > 0
        if VARIANTS[variant].fuse_3d and not film_3d:
            first_grad = encoder_grads if fusion == "concat_conv" else \
                [model.clinical_branch.refine[-1].weight.grad]
            assert any(g.abs().sum() > 0 for g in first_grad)
    model.eval()
    with torch.no_grad():
        out = model(images, clinical)
    assert_detections(out)


def test_baseline_ignores_clinical_data():
    model = mdfnet.build_model("baseline", preset="fast", image_size=S, box_score_thresh=0.0).eval()
    images, clinical, _ = _batch()
    with torch.no_grad():
        a = model(images, clinical)
        b = model(images, None)
    torch.testing.assert_close(a[0]["scores"], b[0]["scores"])


@pytest.mark.parametrize("fusion", ["sum", "hadamard"])
def test_fused_model_starts_as_the_image_only_one_then_learns_from_clinical_data(fusion):
    torch.manual_seed(1)
    model = mdfnet.build_model("msf3d", preset="fast", image_size=S, box_score_thresh=0.0, fusion=fusion)
    image_only = mdfnet.build_model("baseline", preset="fast", image_size=S, box_score_thresh=0.0)
    image_only.load_state_dict(model.state_dict(), strict=False)  # the shared image path
    images, clinical, targets = _batch()

    def scores(net, c):
        with torch.no_grad():
            return net.eval()(images, c)[0]["scores"]

    # the lite branch starts at the fusion's identity (0 for a sum, 1 for a product): the image path alone
    torch.testing.assert_close(scores(model, clinical), scores(image_only, None), rtol=0, atol=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.train()(images, clinical, targets)["loss"].backward()
    optimizer.step()
    assert not torch.equal(scores(model, clinical), scores(model, clinical.flip(0)))


@pytest.mark.parametrize(("backbone", "fpn"), [
    ("mobilenet_v3_small", True), ("mobilenet_v3_large", False), ("resnet18", True),
    ("efficientnet_b0", False), ("densenet121", False), ("convnext_tiny", True),
])
def test_backbones_with_and_without_fpn(backbone, fpn):
    torch.manual_seed(0)
    model = mdfnet.build_model("mdf", preset="fast", image_size=S, backbone=backbone, fpn=fpn)
    images, clinical, targets = _batch()
    losses = model.train()(images, clinical, targets)
    assert_initial_loss(losses)
    features = model.backbone(torch.zeros(1, 3, S, S))
    assert list(features) == (["0", "1", "2", "3", "pool"] if fpn else ["0"])
    # the fast preset's one stride-8 map without FPN; with it strides 4, 8, 16, 32 and the pooled 64
    sides = [16, 8, 4, 2, 1] if fpn else [8]
    assert [tuple(f.shape) for f in features.values()] == [(1, 64, s, s) for s in sides]
    with torch.no_grad():
        assert_detections(model.eval()(images, clinical))


def test_paper_spatialiser_builds_a_clinical_image_of_the_input_size():
    model = mdfnet.build_model("msf3d", preset="paper", image_size=128, pretrained_backbone=None)
    spatialiser = model.clinical_branch.spatialiser
    assert len(spatialiser.blocks) == int(math.log2(128))
    image = spatialiser(torch.randn(3, 64), (128, 128))
    assert image.shape == (3, 3, 128, 128)


def test_mask_head_trains_on_box_masks():
    model = mdfnet.build_model("mdf", preset="fast", image_size=S, mask_head=True)
    images, clinical, targets = _batch()
    masks = torch.zeros(1, S, S, dtype=torch.uint8)
    masks[0, 10:50, 8:40] = 1
    targets[0]["masks"], targets[1]["masks"] = masks, torch.zeros(0, S, S, dtype=torch.uint8)
    losses = model.train()(images, clinical, targets)
    assert "loss_mask" in losses
    assert_initial_loss(losses)
    with torch.no_grad():
        out = model.eval()(images, clinical)
    assert out[0]["masks"].shape[1:] == (1, S, S)


def test_a_feature_missing_in_the_whole_batch_still_runs():
    model = mdfnet.build_model("mdf", preset="fast", image_size=S)
    images, clinical, targets = _batch()
    clinical[:, 1] = float("nan")  # no temperature for anyone
    clinical[:, 9] = float("nan")  # nor gender
    losses = model.train()(images, clinical, targets)
    assert_initial_loss(losses)
    encoder = model.clinical_encoder
    vector = encoder(clinical)  # [9 standardised | 9 missing indicators | gender embedding]
    assert vector[:, 1].tolist() == [0.0, 0.0] and vector[:, 9 + 1].tolist() == [1.0, 1.0]  # train mean, flagged
    torch.testing.assert_close(vector[:, 18:], encoder.gender.weight.mean(0).expand(2, -1))  # between F and M


def test_clinical_batch_of_wrong_size_or_width_is_a_clear_error():
    model = mdfnet.build_model("mdf", preset="fast", image_size=S).eval()
    images, clinical, _ = _batch()
    with pytest.raises(InputError, match=r"shape \[1, 10\]; expected \[2, 10\]"):
        model(images, clinical[:1])
    with pytest.raises(InputError, match=r"shape \[2, 9\]; expected \[2, 10\]"):
        model(images, clinical[:, :9])
    with pytest.raises(InputError, match="fuses clinical data"):
        model(images, None)


def test_inference_never_takes_targets():
    model = mdfnet.build_model("mdf", preset="fast", image_size=S).eval()
    images, clinical, targets = _batch()
    with pytest.raises(InputError, match="inference never takes targets"):
        model(images, clinical, targets)


def test_degenerate_target_box_is_a_clear_error():
    model = mdfnet.build_model("baseline", preset="fast", image_size=S).train()
    images, clinical, targets = _batch()
    targets[0]["boxes"] = torch.tensor([[20.0, 20.0, 20.0, 40.0]])
    with pytest.raises(InputError, match="target 0: box .* zero or negative width"):
        model(images, clinical, targets)


def test_unknown_names_are_clear_errors():
    with pytest.raises(InputError, match=r"^model\.fusion='concat': expected one of sum, hadamard, concat_conv, "):
        mdfnet.build_model("mdf", fusion="concat")
    with pytest.raises(InputError, match=r"^model\.backbone='vgg16': expected one of mobilenet_v3_small, "):
        mdfnet.build_model("mdf", backbone="vgg16")
    with pytest.raises(InputError, match=r"^model\.variant='mdf3': expected one of baseline, msf1d, msf3d, mdf$"):
        mdfnet.build_model("mdf3")
    with pytest.raises(InputError, match=r"^model\.image_size=100: expected a multiple of 32 >= 32"):
        mdfnet.build_model("mdf", image_size=100)
    with pytest.raises(InputError, match=r"^unknown setting model\.fuson"):
        mdfnet.build_model("mdf", fuson="sum")


def test_a_model_config_made_in_python_is_checked_when_built():
    from mdfnet.config import preset

    cfg = preset("fast").model
    cfg.fpn, cfg.anchor_sizes = True, (32, 64)
    with pytest.raises(InputError, match=r"^model\.anchor_sizes=\(32, 64\): with model\.fpn=true expected 5 sizes"):
        mdfnet.model.build_from_config(cfg)


@pytest.mark.parametrize("spatialiser", ["lite", "paper"])
def test_encode_then_detect_equals_forward_and_reuses_one_image_for_many_rows(spatialiser):
    torch.manual_seed(0)
    model = mdfnet.build_model("mdf", preset="fast", image_size=S, spatialiser=spatialiser,
                               pretrained_backbone=None, box_score_thresh=0.0).eval()
    images, clinical, _ = _batch()
    with torch.no_grad():
        direct = model(images, clinical)
        encoded = model.encode_images(images)
        twice = model.detect(encoded, clinical)
        # rows 0 and 2 read image 1, row 1 reads image 0: the same numbers as each image's own forward
        swapped = model.detect(encoded, clinical[[1, 0, 1]], image_index=torch.tensor([1, 0, 1]))
    assert len(direct[0]["scores"]) == 10  # every kept box is compared, not an empty list
    for mine, theirs in [(twice[0], direct[0]), (twice[1], direct[1]), (swapped[0], direct[1]),
                         (swapped[1], direct[0]), (swapped[2], direct[1])]:
        for key in ("boxes", "labels", "scores"):
            torch.testing.assert_close(mine[key], theirs[key], rtol=0, atol=1e-6)
    assert [tuple(s) for s in encoded.original_sizes] == [(S, S), (S, S)]
    with pytest.raises(ValueError, match=r"image_index must lie in \[0, 2\), got \[2\]"):
        model.detect(encoded, clinical[:1], image_index=torch.tensor([2]))
    with pytest.raises(ValueError, match="encode_images is for inference"):
        model.train().encode_images(images)


@pytest.mark.parametrize("variant", ["msf1d", "msf3d", "mdf"])
def test_a_fused_model_starts_as_its_image_only_baseline_weight_for_weight(variant):
    # the clinical modules draw from a stream of their own, and the lite branch and FiLM start at the identity:
    # with one seed, baseline and fused model are the same detector at step 0 (a paired comparison's start)
    torch.manual_seed(3)
    baseline = mdfnet.build_model("baseline", preset="fast", image_size=S, box_score_thresh=0.0).eval()
    torch.manual_seed(3)
    fused = mdfnet.build_model(variant, preset="fast", image_size=S, box_score_thresh=0.0).eval()
    image_path, fused_state = baseline.state_dict(), fused.state_dict()
    assert all(torch.equal(tensor, fused_state[key]) for key, tensor in image_path.items())
    images, clinical, _ = _batch()
    with torch.no_grad():
        a, b = baseline(images, None)[0], fused(images, clinical)[0]
    torch.testing.assert_close(a["boxes"], b["boxes"], rtol=0, atol=0)
    torch.testing.assert_close(a["scores"], b["scores"], rtol=0, atol=0)

    def clinical_init(seed):
        torch.manual_seed(seed)
        model = mdfnet.build_model(variant, preset="fast", image_size=S)
        return torch.cat([p.flatten() for p in model.clinical_encoder.parameters()])

    assert torch.equal(clinical_init(3), clinical_init(3))  # the clinical init follows the seed too
    assert not torch.equal(clinical_init(3), clinical_init(4))
