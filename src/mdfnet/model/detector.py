"""The MDF-Net detector: torchvision's two-stage detector with a clinical path fused in twice.

Data flow (``S`` = image size, ``C`` = map channels, ``D`` = clinical vector width)::

    images [N, 3, H, W] --transform--> [N, 3, S, S] --backbone--> {level: [N, C, h, w]} --+
    clinical [N, F] --encoder--> vector [N, D] --spatialiser--> {level: [N, C, h, w]} --+-- 3D fusion
                                        |                                                    |
                                        |                          RPN <---- fused maps -----+
                                        +--- 1D fusion: appended to every RoI's pooled features
                                                       before the box head

The variant decides which fusions exist: ``baseline`` none, ``msf3d`` 3D only, ``msf1d`` 1D only,
``mdf`` both. Train mode returns the loss terms plus their combination under ``"loss"``; eval mode
returns, per image, ``{"boxes": [K, 4] xyxy in the input image's pixels, "labels": [K] in 1..C,
"scores": [K]}`` (and ``"masks": [K, 1, H, W]`` with the mask head). Inference never takes targets.
``F`` and the ``C`` classes come from the cohort's schema (``model.schema``; MIMIC: F = 10, C = 5).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

from mdfnet.model.heads import CLINICAL_KEY
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema


class MDFNet(GeneralizedRCNN):
    """``forward(images, clinical=None, targets=None)``; see the module docstring for the contract."""

    def __init__(self, backbone: nn.Module, rpn: nn.Module, roi_heads: nn.Module, transform: nn.Module,
                 loss_weighting: nn.Module, clinical_encoder: nn.Module | None = None,
                 clinical_branch: nn.Module | None = None, fusion: nn.Module | None = None,
                 fuse_1d: bool = False, variant: str = "mdf", schema: CohortSchema | None = None) -> None:
        super().__init__(backbone, rpn, roi_heads, transform)
        self.schema = schema or MIMIC_SCHEMA  # classes and clinical columns; saved in every checkpoint
        self.clinical_encoder = clinical_encoder
        self.clinical_branch = clinical_branch
        self.fusion = fusion
        self.fuse_1d = fuse_1d
        self.loss_weighting = loss_weighting
        self.variant = variant

    @property
    def uses_clinical(self) -> bool:
        return self.clinical_encoder is not None

    def forward(self, images, clinical: torch.Tensor | None = None, targets=None):
        if self.training and targets is None:
            raise ValueError("targets are required in train mode")
        if not self.training and targets is not None:
            raise ValueError("inference never takes targets: call model.eval() and pass images and clinical only")
        images = [img.expand(3, -1, -1) if img.shape[0] == 1 else img for img in images]
        clinical = self._check_clinical(images, clinical)
        if targets is not None:
            _check_targets(targets)
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        batch, targets = self.transform(images, targets)
        features = self.backbone(batch.tensors)
        vector = self.clinical_encoder(clinical) if self.uses_clinical else None
        if self.fusion is not None:
            clinical_maps = (self.clinical_branch(vector, features, tuple(batch.tensors.shape[-2:]))
                             if self.clinical_branch is not None else {})
            features = OrderedDict((k, self.fusion(f, clinical_maps.get(k), vector)) for k, f in features.items())
        proposals, proposal_losses = self.rpn(batch, features, targets)
        roi_features = OrderedDict(features, **{CLINICAL_KEY: vector}) if self.fuse_1d else features
        detections, detector_losses = self.roi_heads(roi_features, proposals, batch.image_sizes, targets)
        if self.training:
            losses = {**proposal_losses, **detector_losses}
            losses["loss"] = self.loss_weighting(losses)
            return losses
        return self.transform.postprocess(detections, batch.image_sizes, original_sizes)

    def _check_clinical(self, images: list[torch.Tensor], clinical: torch.Tensor | None) -> torch.Tensor | None:
        if not self.uses_clinical:
            return None
        width = self.schema.width
        if clinical is None:
            raise ValueError(f"variant {self.variant!r} fuses clinical data: pass clinical=[N, {width}]")
        if clinical.dim() != 2 or clinical.shape[0] != len(images) or clinical.shape[1] != width:
            raise ValueError(f"clinical batch has shape {list(clinical.shape)}; expected [{len(images)}, {width}] "
                             f"(one row per image, columns {self.schema.names}, NaN = missing)")
        return clinical.to(images[0].device, torch.float32)


def _check_targets(targets: list[dict[str, torch.Tensor]]) -> None:
    for i, t in enumerate(targets):
        boxes = t["boxes"]
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise ValueError(f"target {i}: boxes must be [K, 4] xyxy, got shape {list(boxes.shape)}")
        bad = (boxes[:, 2:] <= boxes[:, :2]).any(dim=1)
        if bad.any():
            raise ValueError(f"target {i}: box {boxes[bad][0].tolist()} has zero or negative width/height")
