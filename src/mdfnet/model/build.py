"""Assembling a detector from a :class:`~mdfnet.config.ModelConfig`: ``build_model(variant, preset, **overrides)``.

Every part is a stock torchvision piece configured as the authors ran it, except our own:
the clinical encoder, the spatialiser, the fusion operator, :class:`FusedRoIPool` and the loss weighting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign

from mdfnet.config import ModelConfig, preset as config_preset
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.model.backbones import build_backbone
from mdfnet.model.clinical import ClinicalEncoder
from mdfnet.model.detector import MDFNet
from mdfnet.model.fusion import FUSIONS
from mdfnet.model.heads import FusedRoIPool
from mdfnet.model.loss import LOSS_TERMS, LOSS_WEIGHTINGS
from mdfnet.model.spatialise import SPATIALISERS
from mdfnet.model.weights import pretrained_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Variant:
    name: str
    label: str       # as in the paper's tables
    fuse_3d: bool    # clinical maps fused into the image maps before the RPN
    fuse_1d: bool    # clinical vector appended to the box head's input


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("baseline", "Mask R-CNN (image only)", False, False),
    Variant("msf1d", "MSF-Net 1D", False, True),
    Variant("msf3d", "MSF-Net 3D", True, False),
    Variant("mdf", "MDF-Net", True, True),
)}


def build_model(variant: str = "mdf", preset: str = "paper", schema: CohortSchema | None = None,
                **overrides) -> MDFNet:
    """Build a detector of the MDF-Net family.

    Args:
        variant: ``baseline``, ``msf1d``, ``msf3d`` or ``mdf`` (:data:`VARIANTS`).
        preset: ``paper`` (the authors' configuration) or ``fast``; see :mod:`mdfnet.config`.
        schema: the cohort's classes and clinical features (default: MIMIC's five classes and ten features).
        overrides: any :class:`~mdfnet.config.ModelConfig` field, e.g. ``fusion="film"``, ``fpn=True``.
    """
    cfg = config_preset(preset).model
    unknown = set(overrides) - {f.name for f in dataclasses.fields(ModelConfig)}
    if unknown:
        raise InputError(f"unknown model setting(s) {sorted(unknown)}")
    return build_from_config(dataclasses.replace(cfg, variant=variant, **overrides), schema)


def build_from_config(cfg: ModelConfig, schema: CohortSchema | None = None) -> MDFNet:
    """Build the detector that ``cfg`` describes for ``schema``'s classes and features (default: MIMIC's),
    its backbone(s) from ``cfg.pretrained_backbone`` (see :mod:`mdfnet.model.weights`; the paper's clinical
    branch starts from the same file), the rest random."""
    _check(cfg)
    schema = schema or MIMIC_SCHEMA
    num_classes = schema.num_classes
    variant = VARIANTS[cfg.variant]
    C, D = cfg.out_channels, cfg.clinical_dim
    weights = pretrained_file(cfg.pretrained_backbone, cfg.backbone)

    def make_backbone() -> nn.Module:
        return build_backbone(cfg.backbone, C, cfg.fpn, weights)

    backbone = make_backbone()
    levels = ["0", "1", "2", "3", "pool"] if cfg.fpn else ["0"]
    if cfg.fpn:  # one anchor size per pyramid level, all ratios everywhere
        sizes = tuple((s,) for s in cfg.anchor_sizes)
        if len(sizes) != len(levels):
            raise InputError(f"with FPN give {len(levels)} anchor sizes (one per level), got {cfg.anchor_sizes}")
    else:  # the paper: every size on the one stride-32 map (15 anchors per location)
        sizes = (tuple(cfg.anchor_sizes),)
    anchors = AnchorGenerator(sizes, (tuple(cfg.aspect_ratios),) * len(sizes))
    rpn = RegionProposalNetwork(
        anchors, RPNHead(C, anchors.num_anchors_per_location()[0]),
        fg_iou_thresh=0.7, bg_iou_thresh=0.3, batch_size_per_image=256, positive_fraction=0.5,
        pre_nms_top_n={"training": 2000, "testing": 1000}, post_nms_top_n={"training": 2000, "testing": 1000},
        nms_thresh=cfg.rpn_nms_thresh,
    )
    pooled = C * 7 * 7
    if variant.fuse_1d:
        box_pool = FusedRoIPool(levels, output_size=7, sampling_ratio=2)
        box_head = TwoMLPHead(pooled + D, cfg.box_head_dim)
    else:
        box_pool = MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2)
        box_head = TwoMLPHead(pooled, cfg.box_head_dim)
    mask_parts = {}
    if cfg.mask_head:
        mask_parts = dict(mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2),
                          mask_head=MaskRCNNHeads(C, (256, 256, 256, 256), 1),
                          mask_predictor=MaskRCNNPredictor(256, 256, num_classes))
    roi_heads = RoIHeads(
        box_pool, box_head, FastRCNNPredictor(cfg.box_head_dim, num_classes),
        fg_iou_thresh=0.5, bg_iou_thresh=0.5, batch_size_per_image=512, positive_fraction=0.25,
        bbox_reg_weights=None, score_thresh=cfg.box_score_thresh, nms_thresh=cfg.box_nms_thresh,
        detections_per_img=cfg.detections_per_img, **mask_parts,
    )
    transform = GeneralizedRCNNTransform(cfg.image_size, cfg.image_size, IMAGENET_MEAN, IMAGENET_STD,
                                         fixed_size=(cfg.image_size, cfg.image_size))
    terms = LOSS_TERMS if cfg.mask_head else LOSS_TERMS[:-1]
    encoder = branch = fusion = None
    if variant.fuse_1d or variant.fuse_3d:
        encoder = ClinicalEncoder(schema.select(cfg.clinical_features), D, cfg.missing_indicators, schema)
    if variant.fuse_3d:
        fusion = FUSIONS[cfg.fusion](C, D)
        if fusion.uses_clinical_map:
            branch = SPATIALISERS[cfg.spatialiser](D, C, cfg.image_size, make_backbone)
    return MDFNet(backbone, rpn, roi_heads, transform, LOSS_WEIGHTINGS[cfg.loss_weighting](terms),
                  clinical_encoder=encoder, clinical_branch=branch, fusion=fusion,
                  fuse_1d=variant.fuse_1d, variant=cfg.variant, schema=schema)


def _check(cfg: ModelConfig) -> None:
    choices = {"variant": VARIANTS, "fusion": FUSIONS, "spatialiser": SPATIALISERS,
               "loss_weighting": LOSS_WEIGHTINGS}
    for key, registry in choices.items():
        if getattr(cfg, key) not in registry:
            raise InputError(f"unknown model.{key} {getattr(cfg, key)!r}; expected one of {sorted(registry)}")
    if cfg.image_size % 32:
        raise InputError(f"model.image_size must be a multiple of 32 (the backbone's stride), got {cfg.image_size}")
