"""Assembling a detector from a :class:`~mdfnet.config.ModelConfig`: ``build_model(variant, preset, **overrides)``.

Every part is a stock torchvision piece configured as the authors ran it, except our own:
the clinical encoder, the spatialiser, the fusion operator, :class:`FusedRoIPool` and the loss weighting.
``model.detector`` picks the detector around them (:data:`DETECTORS`): Mask R-CNN (the paper's,
:class:`~mdfnet.model.detector.MDFNet`) or the one-stage RetinaNet and FCOS (:mod:`mdfnet.model.onestage`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign

from mdfnet.config import (CLINICAL_PATH_SETTINGS, FUSION_1D_SETTINGS, FUSION_3D_SETTINGS, Config, ModelConfig,
                           apply_overrides, check_detector_settings, validate_config)
from mdfnet.config import preset as config_preset  # build_model's `preset` argument is the preset's name
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.model.anchors import Anchors, resolve_anchors
from mdfnet.model.backbones import FPN_LEVELS, build_backbone
from mdfnet.model.clinical import ClinicalEncoder, own_random_stream
from mdfnet.model.detector import MDFNet
from mdfnet.model.fusion import FUSIONS
from mdfnet.model.heads import FUSIONS_1D, FusedRoIPool, PriorPredictor
from mdfnet.model.loss import FCOS_LOSS_TERMS, LOSS_TERMS, LOSS_WEIGHTINGS, RETINANET_LOSS_TERMS
from mdfnet.model.onestage import (HEAD_FUSIONS_1D, MDFFCOS, FusedBackbone, MDFRetinaNet, OneStageFusion,
                                   prior_classification_head)
from mdfnet.model.spatialise import SPATIALISERS
from mdfnet.model.weights import pretrained_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Variant:
    name: str
    label: str       # as in the paper's tables
    fuse_3d: bool    # clinical maps fused into the image maps before the RPN (one-stage: before the heads)
    fuse_1d: bool    # clinical vector into the box head (one-stage: into the classification head)


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("baseline", "Mask R-CNN (image only)", False, False),
    Variant("msf1d", "MSF-Net 1D", False, True),
    Variant("msf3d", "MSF-Net 3D", True, False),
    Variant("mdf", "MDF-Net", True, True),
)}


def unread_settings(variant: str) -> tuple[str, ...]:
    """The settings ``variant`` never reads: whatever their values, it builds and trains weight for weight the
    same (tested in tests/engine/test_train.py), so a study reuses its runs when only these change. For
    the image-only baseline every setting of the clinical path; for a variant without 1D or without 3D fusion,
    that fusion's settings (:data:`~mdfnet.config.FUSION_1D_SETTINGS`, :data:`~mdfnet.config.FUSION_3D_SETTINGS`)."""
    fuses = VARIANTS[variant]
    if not (fuses.fuse_1d or fuses.fuse_3d):
        return CLINICAL_PATH_SETTINGS
    return (() if fuses.fuse_1d else FUSION_1D_SETTINGS) + (() if fuses.fuse_3d else FUSION_3D_SETTINGS)


@dataclass(frozen=True)
class Detector:
    """A detector the clinical data can be fused into (``model.detector``; names from
    :data:`mdfnet.config.DETECTOR_NAMES`)."""

    name: str
    label: str                      # for tables
    model_class: type[nn.Module]    # MDFNet (two-stage) or a OneStageFusion subclass
    uses_anchors: bool              # reads mdfnet.model.anchors (FCOS places one point per location instead)
    loss_terms: tuple[str, ...]     # weighted by model.loss_weighting (Mask R-CNN's lose loss_mask without mask head)

    @property
    def one_stage(self) -> bool:
        """No proposals: the heads run densely on every map the backbone gives (one, or five with FPN)."""
        return issubclass(self.model_class, OneStageFusion)


DETECTORS: dict[str, Detector] = {d.name: d for d in (
    Detector("maskrcnn", "Mask R-CNN", MDFNet, True, LOSS_TERMS),
    Detector("retinanet", "RetinaNet", MDFRetinaNet, True, RETINANET_LOSS_TERMS),
    Detector("fcos", "FCOS", MDFFCOS, False, FCOS_LOSS_TERMS),
)}


def build_model(variant: str = "mdf", preset: str = "paper", schema: CohortSchema | None = None,
                **overrides) -> nn.Module:
    """Build a detector of the MDF-Net family.

    Args:
        variant: ``baseline``, ``msf1d``, ``msf3d`` or ``mdf`` (:data:`VARIANTS`).
        preset: ``paper`` (the authors' configuration) or ``fast``; see :mod:`mdfnet.config`.
        schema: the cohort's classes and clinical features (default: MIMIC's five classes and ten features).
        overrides: any :class:`~mdfnet.config.ModelConfig` field, e.g. ``fusion="film"``, ``fpn=True``,
            ``detector="fcos"``.
    """
    reference = config_preset(preset)
    cfg = apply_overrides(reference, {"model": {"variant": variant, **overrides}})
    check_detector_settings(cfg.model, reference.model)
    return build_from_config(cfg.model, schema=schema)


def build_from_config(cfg: ModelConfig, anchors: Anchors | None = None,
                      schema: CohortSchema | None = None) -> nn.Module:
    """Build the detector that ``cfg`` describes, its backbone(s) from ``cfg.pretrained_backbone``
    (see :mod:`mdfnet.model.weights`; the paper's clinical branch starts from the same file), the rest random.

    ``anchors``: resolved anchors (``train`` fits ``"auto"`` ones; checkpoints keep them); by default
    the config's (:func:`model_anchors`). ``schema``: the cohort's classes and clinical features (default:
    MIMIC's). Returns an :class:`~mdfnet.model.detector.MDFNet` (Mask R-CNN) or
    an :class:`~mdfnet.model.onestage.OneStageFusion` (RetinaNet, FCOS): the same ``forward`` contract."""
    check_model_config(cfg)
    schema = schema or MIMIC_SCHEMA
    variant = VARIANTS[cfg.variant]
    C, D = cfg.out_channels, cfg.clinical_dim
    weights = pretrained_file(cfg.pretrained_backbone, cfg.backbone)

    def make_backbone() -> nn.Module:
        return build_backbone(cfg.backbone, C, cfg.fpn, weights, cfg.feature_stride)

    if DETECTORS[cfg.detector].one_stage:
        return _build_one_stage(cfg, variant, make_backbone, anchors, schema)
    backbone = make_backbone()
    levels = list(FPN_LEVELS) if cfg.fpn else ["0"]
    anchors = anchors or model_anchors(cfg)
    generator = anchor_generator(anchors, cfg.fpn)
    proposals = dict(zip(("training", "testing"), cfg.rpn_proposals))
    rpn = RegionProposalNetwork(
        generator, RPNHead(C, generator.num_anchors_per_location()[0]),
        fg_iou_thresh=0.7, bg_iou_thresh=0.3, batch_size_per_image=256, positive_fraction=0.5,
        pre_nms_top_n=proposals, post_nms_top_n=proposals, nms_thresh=cfg.rpn_nms_thresh,
    )
    pooled = C * 7 * 7
    prior = variant.fuse_1d and cfg.clinical_prior
    if variant.fuse_1d:
        box_pool = FusedRoIPool(levels, output_size=7, sampling_ratio=2)
        box_head = FUSIONS_1D[cfg.fusion_1d](pooled, D, cfg.box_head_dim, pass_vector=prior)
    else:
        box_pool = MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2)
        box_head = TwoMLPHead(pooled, cfg.box_head_dim)
    mask_parts = {}
    if cfg.mask_head:
        mask_parts = dict(mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2),
                          mask_head=MaskRCNNHeads(C, (256, 256, 256, 256), 1),
                          mask_predictor=MaskRCNNPredictor(256, 256, schema.num_classes))
    predictor = FastRCNNPredictor(cfg.box_head_dim, schema.num_classes)
    if prior:  # the box head hands each RoI's vector on to the class logits' offsets
        predictor = PriorPredictor(predictor, D)
    roi_heads = RoIHeads(
        box_pool, box_head, predictor,
        fg_iou_thresh=0.5, bg_iou_thresh=0.5, batch_size_per_image=cfg.box_samples, positive_fraction=0.25,
        bbox_reg_weights=None, score_thresh=cfg.box_score_thresh, nms_thresh=cfg.box_nms_thresh,
        detections_per_img=cfg.detections_per_img, **mask_parts,
    )
    transform = GeneralizedRCNNTransform(cfg.image_size, cfg.image_size, IMAGENET_MEAN, IMAGENET_STD,
                                         fixed_size=(cfg.image_size, cfg.image_size))
    terms = LOSS_TERMS if cfg.mask_head else LOSS_TERMS[:-1]
    encoder, fusion, branch = _clinical_parts(cfg, variant, make_backbone, schema)
    model = MDFNet(backbone, rpn, roi_heads, transform, LOSS_WEIGHTINGS[cfg.loss_weighting](terms),
                   clinical_encoder=encoder, clinical_branch=branch, fusion=fusion,
                   fuse_1d=variant.fuse_1d, variant=cfg.variant, schema=schema)
    model.anchors = anchors
    return model


def _clinical_parts(cfg: ModelConfig, variant: Variant, make_backbone,
                    schema: CohortSchema) -> tuple[nn.Module | None, ...]:
    """(clinical encoder, 3D fusion operator, clinical branch), each None where the variant has none; drawn
    from :func:`own_random_stream`, so the image path's init is the baseline's."""
    C, D = cfg.out_channels, cfg.clinical_dim
    encoder = branch = fusion = None
    with own_random_stream():
        if variant.fuse_1d or variant.fuse_3d:
            encoder = ClinicalEncoder(schema.select(cfg.clinical_features), D, cfg.missing_indicators, schema)
        if variant.fuse_3d:
            fusion = FUSIONS[cfg.fusion](C, D)
            if fusion.uses_clinical_map:
                branch = SPATIALISERS[cfg.spatialiser](D, C, cfg.image_size, make_backbone)
                if hasattr(branch, "start_as"):  # ours (lite); the authors' branch keeps their init
                    branch.start_as(fusion.identity)
    return encoder, fusion, branch


def _build_one_stage(cfg: ModelConfig, variant: Variant, make_backbone, anchors: Anchors | None,
                     schema: CohortSchema) -> nn.Module:
    """torchvision's RetinaNet or FCOS on the maps Mask R-CNN's RPN would read (the preset's one map, e.g.
    ``fast``'s stride 8, or with ``model.fpn=true`` the five FPN levels, strides 4-64), 3D fusion on every
    map, 1D fusion into the classification head (:mod:`mdfnet.model.onestage`). On one map RetinaNet places
    every anchor size there, as the RPN does, and FCOS assigns every box to it (torchvision's scale ranges
    are open-ended at the first and last level)."""
    detector = DETECTORS[cfg.detector]
    backbone = make_backbone()
    encoder, fusion, branch = _clinical_parts(cfg, variant, make_backbone, schema)
    if fusion is not None:
        backbone = FusedBackbone(backbone, fusion, branch)
    S = cfg.image_size
    if detector.uses_anchors:
        anchors = anchors or model_anchors(cfg)
        generator = anchor_generator(anchors, cfg.fpn)
    else:  # FCOS: one point per location, its "size" the level's stride (torchvision's scale ranges use it)
        anchors, strides = None, feature_strides(cfg)
        generator = AnchorGenerator(tuple((s,) for s in strides), ((1.0,),) * len(strides))
    model = detector.model_class(
        backbone, len(schema.classes), min_size=S, max_size=S, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
        fixed_size=(S, S), anchor_generator=generator, score_thresh=cfg.box_score_thresh,
        nms_thresh=cfg.box_nms_thresh, detections_per_img=cfg.detections_per_img,
        loss_weighting=LOSS_WEIGHTINGS[cfg.loss_weighting](detector.loss_terms), clinical_encoder=encoder,
        fuse_1d=variant.fuse_1d, variant=cfg.variant,
    )
    if variant.fuse_1d:
        HEAD_FUSIONS_1D[cfg.fusion_1d](model.head.classification_head, cfg.clinical_dim)
        if cfg.clinical_prior:
            prior_classification_head(model.head.classification_head, cfg.clinical_dim)
    model.schema = schema  # classes and clinical columns; saved in every checkpoint
    model.anchors = anchors
    return model


def model_anchors(cfg: ModelConfig) -> Anchors:
    """The anchors ``cfg`` builds (``"auto"`` must have been resolved by ``train`` already)."""
    return resolve_anchors(cfg.anchor_sizes, cfg.aspect_ratios, cfg.image_size)


def feature_strides(cfg: ModelConfig) -> tuple[int, ...]:
    """Stride of each map the RPN reads: one, or the five FPN levels (4, 8, 16, 32, 64)."""
    return (4, 8, 16, 32, 64) if cfg.fpn else (cfg.feature_stride,)


def anchor_generator(anchors: Anchors, fpn: bool) -> AnchorGenerator:
    """torchvision's generator: every size on the one map, or (FPN) one size per level, all ratios everywhere."""
    if fpn:
        if len(anchors.sizes) != len(FPN_LEVELS):
            raise InputError(f"with FPN give 5 anchor sizes (one per level), got {list(anchors.sizes)}")
        sizes = tuple((s,) for s in anchors.sizes)
    else:  # the paper: every size on the one map (15 anchors per location)
        sizes = (tuple(anchors.sizes),)
    return AnchorGenerator(sizes, (tuple(anchors.ratios),) * len(sizes))


def check_model_config(cfg: ModelConfig) -> None:
    """Refuse a setting outside its rule (:data:`mdfnet.config.RULES`; a ModelConfig made in Python has not been
    validated yet) and settings the detector cannot build, before any work."""
    validate_config(Config(model=cfg), paths=())
    if DETECTORS[cfg.detector].one_stage:
        if cfg.mask_head:  # presets never turn it on, so check_detector_settings cannot tell it from the default
            raise InputError(f"model.mask_head=true: model.detector={cfg.detector} has no such setting "
                             "(maskrcnn only); leave it out")
        if cfg.detector == "fcos" and cfg.out_channels % 32:
            raise InputError(f"model.out_channels={cfg.out_channels}: FCOS's heads use GroupNorm with 32 groups; "
                             "give a multiple of 32")
