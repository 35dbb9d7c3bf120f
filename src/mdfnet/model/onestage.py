"""One-stage detectors of the MDF-Net family: torchvision's RetinaNet and FCOS with the clinical path fused in.

Data flow (``S`` = image size, ``C`` = map channels, ``D`` = clinical vector width)::

    images [N, 3, H, W] --transform--> [N, 3, S, S] --backbone-------> {level: [N, C, h, w]} --+
    clinical [N, 10] --encoder--> vector [N, D] --spatialiser--> {level: [N, C, h, w]} ---------+-- 3D fusion
                                        |                                                        |
                                        |        classification head + box head <--- fused maps -+
                                        +--- 1D fusion: into the classification head, before its last conv

- **3D fusion** (``msf3d``, ``mdf``): every level (the preset's one map, or five with FPN) is fused with its
  clinical map before the heads, by the same operators and spatialisers as Mask R-CNN (:class:`FusedBackbone`).
- **1D fusion** (``msf1d``, ``mdf``): the one-stage counterpart of the RoI box head's input is the
  classification head's last feature map, at every location of every level. ``model.fusion_1d=film``:
  :class:`FiLM2d` scales and shifts that map's channels by the vector; ``concat``: :class:`TiledVector` appends
  the vector to every location, so the last conv (``C + D -> classes``) reads image features and clinical
  vector alike, as the paper's box head does. Both start as torchvision's head (zero-initialised clinical
  weights): at init the head predicts from the maps alone, whatever the vector. ``model.clinical_prior``
  adds :class:`PriorLogits`: per-class offsets from the vector on every location's class logits, as on
  Mask R-CNN's box classifier.

torchvision's detectors hand only the image batch to the backbone and only the maps to the head, so the
parts that need the clinical vector read it from their ``vector`` attribute, which the detector's
``forward`` sets for the duration of one call (:class:`ReadsClinical`). Nothing of torchvision's forward,
loss or post-processing is copied; the subclasses only encode the vector and hand it to those parts, shift
labels (torchvision's one-stage heads score classes ``0..K-1`` with sigmoids and no background; mdfnet's
labels are ``1..5``; boxes under 0.01 px a side are dropped, as Mask R-CNN drops them), and combine the
loss terms under ``"loss"``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops import boxes as box_ops

from mdfnet.model.detector import check_inputs, fuse_levels
from mdfnet.model.fusion import FiLMFusion
from mdfnet.model.heads import ClinicalPrior


class ReadsClinical(nn.Module):
    """A part that needs the batch's clinical vector ``[N, D]`` where torchvision passes it none: the
    detector sets ``vector`` around each forward (:meth:`OneStageFusion.clinical_vector`)."""

    vector: torch.Tensor | None = None

    def clinical(self) -> torch.Tensor:
        if self.vector is None:
            raise RuntimeError(f"{type(self).__name__} reads the clinical vector: call it through the detector")
        return self.vector


class FusedBackbone(ReadsClinical):
    """An image backbone with 3D fusion on every level: ``[N, 3, S, S] -> {level: [N, C, h, w]}``, each map
    fused with the batch's clinical map of the same shape (or, for ``film``, with the vector alone)."""

    def __init__(self, image_backbone: nn.Module, fusion: nn.Module, clinical_branch: nn.Module | None) -> None:
        super().__init__()
        self.image_backbone = image_backbone
        self.fusion = fusion
        self.clinical_branch = clinical_branch
        self.out_channels = image_backbone.out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        features = self.image_backbone(x)
        return fuse_levels(features, self.clinical(), tuple(x.shape[-2:]), self.fusion, self.clinical_branch)


class FiLM2d(ReadsClinical):
    """``[N, C, h, w] -> [N, C, h, w]``: ``x * (1 + gamma) + beta``, ``(gamma, beta)`` from the vector by a
    zero-initialised linear map (:class:`~mdfnet.model.fusion.FiLMFusion`), so it starts as the identity."""

    def __init__(self, channels: int, clinical_dim: int) -> None:
        super().__init__()
        self.film = FiLMFusion(channels, clinical_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.film(x, None, self.clinical().to(x.dtype))


class TiledVector(ReadsClinical):
    """``[N, C, h, w] -> [N, C + D, h, w]``: the clinical vector copied to every location."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vector = self.clinical().to(x.dtype)
        return torch.cat([x, vector[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)


def film_classification_head(head: nn.Module, clinical_dim: int) -> None:
    """FiLM of the classification tower's output (``head.conv``), before its last conv ``cls_logits``."""
    head.conv.append(FiLM2d(head.cls_logits.in_channels, clinical_dim))


def concat_classification_head(head: nn.Module, clinical_dim: int) -> None:
    """The vector appended to the tower's output; ``cls_logits`` rebuilt for ``C + D`` inputs: torchvision's
    weights and prior-probability bias for the image channels, zeros for the clinical ones. (Random clinical
    weights would shift every logit away from the prior that keeps focal-loss training stable at the start;
    zeros keep the head torchvision's at init, and they get a gradient from the first step.)"""
    head.conv.append(TiledVector())
    old = head.cls_logits
    head.cls_logits = nn.Conv2d(old.in_channels + clinical_dim, old.out_channels, kernel_size=3, padding=1)
    with torch.no_grad():
        head.cls_logits.weight.zero_()
        head.cls_logits.weight[:, : old.in_channels] = old.weight
        head.cls_logits.bias.copy_(old.bias)


class PriorLogits(ReadsClinical):
    """A classification head's last conv with :class:`~mdfnet.model.heads.ClinicalPrior`: ``[N, C', h, w] ->
    [N, A * K, h, w]``, the logit of class ``k`` at each of the ``A`` anchors (FCOS: one point) of every location
    shifted by the image's offset ``k`` (torchvision orders the channels anchor by anchor, ``a * K + k``)."""

    def __init__(self, conv: nn.Conv2d, classes: int, clinical_dim: int) -> None:
        super().__init__()
        self.conv = conv
        self.anchors = conv.out_channels // classes
        self.clinical_prior = ClinicalPrior(clinical_dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        offsets = self.clinical_prior(self.clinical().to(x.dtype))  # [N, K]
        return self.conv(x) + offsets.repeat(1, self.anchors)[:, :, None, None]


def prior_classification_head(head: nn.Module, clinical_dim: int) -> None:
    """``model.clinical_prior``: :class:`PriorLogits` around the head's last conv (after any 1D fusion)."""
    head.cls_logits = PriorLogits(head.cls_logits, head.num_classes, clinical_dim)


# 1D fusion into a one-stage classification head: model.fusion_1d -> in-place edit (head, clinical_dim);
# the same names as mdfnet.model.heads.FUSIONS_1D, the two-stage box heads
HEAD_FUSIONS_1D = {"concat": concat_classification_head, "film": film_classification_head}


class OneStageFusion(nn.Module):
    """Mixed in before torchvision's ``RetinaNet`` / ``FCOS``; see the module docstring.

    ``forward(images, clinical=None, targets=None)``: ``images`` a list or batch of ``[3, H, W]`` in 0..1,
    ``clinical`` ``[N, 10]`` (NaN = missing; ignored by the ``baseline``), ``targets`` (train mode only)
    ``[{"boxes": [K, 4] xyxy, "labels": [K] in 1..5}]``. Train mode returns the detector's loss terms
    (:attr:`loss_weighting`'s ``terms``) and their combination under ``"loss"``; eval mode returns, per image,
    ``{"boxes": [K, 4] xyxy in the input image's pixels, "labels": [K] in 1..5, "scores": [K]}``.
    """

    def __init__(self, *args, loss_weighting: nn.Module, clinical_encoder: nn.Module | None = None,
                 fuse_1d: bool = False, variant: str = "mdf", **kwargs) -> None:
        super().__init__(*args, **kwargs)  # torchvision's detector
        self.loss_weighting = loss_weighting
        self.clinical_encoder = clinical_encoder
        self.fuse_1d = fuse_1d
        self.variant = variant

    @property
    def uses_clinical(self) -> bool:
        return self.clinical_encoder is not None

    @property
    def fusion(self) -> nn.Module | None:
        """The 3D fusion operator (None without 3D fusion), as on :class:`~mdfnet.model.detector.MDFNet`."""
        return self.backbone.fusion if isinstance(self.backbone, FusedBackbone) else None

    @property
    def clinical_branch(self) -> nn.Module | None:
        return self.backbone.clinical_branch if isinstance(self.backbone, FusedBackbone) else None

    def forward(self, images, clinical: torch.Tensor | None = None, targets=None):
        images, clinical = check_inputs(self, images, clinical, targets)
        vector = self.clinical_encoder(clinical) if self.uses_clinical else None
        with self.clinical_vector(vector):
            out = super().forward(images, targets)
        if self.training:
            out["loss"] = self.loss_weighting(out)
        return out

    @contextmanager
    def clinical_vector(self, vector: torch.Tensor | None) -> Iterator[None]:
        """Hand ``vector`` to every :class:`ReadsClinical` part for one forward; cleared afterwards."""
        readers = [m for m in self.modules() if isinstance(m, ReadsClinical)]
        for part in readers:
            part.vector = vector
        try:
            yield
        finally:
            for part in readers:
                part.vector = None

    def compute_loss(self, targets, *args):
        return super().compute_loss([{**t, "labels": t["labels"] - 1} for t in targets], *args)

    def postprocess_detections(self, *args):
        """torchvision's, with labels 1..5 and without boxes under 0.01 px a side (FCOS's ReLU'd distances can
        be 0), as Mask R-CNN's ``RoIHeads`` drops them."""
        detections = []
        for d in super().postprocess_detections(*args):
            keep = box_ops.remove_small_boxes(d["boxes"], min_size=1e-2)
            detections.append({"boxes": d["boxes"][keep], "scores": d["scores"][keep], "labels": d["labels"][keep] + 1})
        return detections


class MDFRetinaNet(OneStageFusion, RetinaNet):
    """torchvision's ``RetinaNet`` (focal classification loss, L1 box regression on anchors) with the clinical
    path; loss terms ``classification``, ``bbox_regression``."""


class MDFFCOS(OneStageFusion, FCOS):
    """torchvision's ``FCOS`` (anchor-free: one point per location; focal classification, GIoU box and
    centre-ness losses) with the clinical path; loss terms ``classification``, ``bbox_regression``,
    ``bbox_ctrness``."""
