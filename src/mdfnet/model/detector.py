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

Inference in two steps, for callers that vary the clinical values of one image (explanations):
``encode_images(images)`` runs the transform and the image backbone once; ``detect(encoded, clinical,
image_index)`` runs everything that depends on the clinical values (encoder, spatialiser, fusion, RPN,
RoI heads) for ``R`` clinical rows at once, row ``r`` read against image ``image_index[r]``; given
``proposals`` it skips the RPN and has the RoI heads score those boxes. ``score_proposals(encoded, clinical,
image, proposals)`` scores the same few boxes under many rows (explanations), on the windows of the map
they read where it can (:mod:`mdfnet.model.windows`).
``model(images, clinical)`` in eval mode is exactly ``detect(encode_images(images), clinical)``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.image_list import ImageList

from mdfnet.errors import InputError
from mdfnet.model.heads import CLINICAL_KEY, EveryBox, with_clinical
from mdfnet.model.windows import pool_windows, windows_apply
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
        images, clinical = check_inputs(self, images, clinical, targets)
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        batch, targets = self.transform(images, targets)
        features = self.backbone(batch.tensors)
        return self._heads(batch, features, clinical, original_sizes, targets)[0]

    @torch.no_grad()
    def encode_images(self, images) -> EncodedImages:
        """Eval mode: the transform and the image backbone, once per image (``[N, 3, H, W]`` or a list)."""
        if self.training:
            raise ValueError("encode_images is for inference: call model.eval() first")
        images = _three_channels(images)
        batch, _ = self.transform(images)
        return EncodedImages(batch, self.backbone(batch.tensors), [tuple(img.shape[-2:]) for img in images])

    @torch.no_grad()
    def detect(self, encoded: EncodedImages, clinical: torch.Tensor | None = None,
               image_index: torch.Tensor | None = None, *, proposals: list[torch.Tensor] | None = None,
               roi_heads: nn.Module | None = None, with_proposals: bool = False):
        """Eval mode: detections for ``R`` clinical rows ``[R, 10]`` read against already encoded images.

        Args:
            encoded: :meth:`encode_images` output.
            clinical: ``[R, 10]`` (None for the image-only baseline, which then reads each image once).
            image_index: ``[R]``, the encoded image each row belongs to (default: row ``r`` is image ``r``,
                or every row image 0 when one image was encoded); the image features are indexed, not
                recomputed.
            proposals: per row, boxes ``[P_r, 4]`` (xyxy, in the transformed image's pixels) for the RoI
                heads to score instead of the RPN's; the RPN does not run.
            roi_heads: replaces the model's own RoI heads for this call (the same weights with other
                limits, or :class:`~mdfnet.model.heads.EveryBox`).
            with_proposals: also return the proposals the RoI heads scored, per row.

        Returns:
            ``R`` detection dicts, as ``forward`` returns; with ``with_proposals``, ``(detections, proposals)``.
        """
        n = len(encoded.original_sizes)
        if image_index is None:  # row r reads image r; with one image, every row reads it
            rows = n if clinical is None else len(clinical)
            index = torch.zeros(rows, dtype=torch.long) if n == 1 else torch.arange(n)
        else:
            index = torch.as_tensor(image_index, dtype=torch.long)
        if index.numel() and (index.min() < 0 or index.max() >= n):
            raise ValueError(f"image_index must lie in [0, {n}), got {index.tolist()}")
        if proposals is not None and len(proposals) != len(index):
            raise ValueError(f"give one proposal tensor per row: {len(index)} rows, {len(proposals)} tensors")
        device = encoded.batch.tensors.device
        clinical = _check_clinical(self, len(index), clinical, device)
        index = index.to(device)
        batch = ImageList(_take(encoded.batch.tensors, index), [encoded.batch.image_sizes[i] for i in index.tolist()])
        features = OrderedDict((k, _take(f, index)) for k, f in encoded.features.items())
        sizes = [encoded.original_sizes[i] for i in index.tolist()]
        detections, used = self._heads(batch, features, clinical, sizes, None, roi_heads, proposals)
        return (detections, used) if with_proposals else detections

    @torch.no_grad()
    def score_proposals(self, encoded: EncodedImages, clinical: torch.Tensor | None, image: int,
                        proposals: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Eval mode: every class's box and score for the same ``proposals`` ``[P, 4]`` (xyxy, transformed
        image's pixels) of encoded image ``image``, under each of ``R`` clinical rows ``[R, 10]``.

        Returns what ``detect(encoded, clinical, [image] * R, proposals=[proposals] * R,
        roi_heads=EveryBox(self.roi_heads))`` returns (:func:`~mdfnet.model.heads.every_box` layout, the
        input image's pixels), to float rounding. With one map, a pointwise 3D fusion and the ``lite`` branch
        (or none), the branch, the fusion and RoIAlign run only on the windows of the map that the proposals
        read (:mod:`mdfnet.model.windows`): explanations re-read a film this way, 19 rows at a time.
        """
        rows = 1 if clinical is None else len(clinical)
        scorer = EveryBox(self.roi_heads)
        if not windows_apply(self, encoded.features):
            return self.detect(encoded, clinical, torch.full((rows,), image), proposals=[proposals] * rows,
                               roi_heads=scorer)
        clinical = _check_clinical(self, rows, clinical, encoded.batch.tensors.device)
        vector = self.clinical_encoder(clinical) if self.uses_clinical else None
        (image_map,) = encoded.features.values()
        pool = self.roi_heads.box_roi_pool
        pooled = pool_windows(image_map[image:image + 1], vector, self.fusion, self.clinical_branch, pool, proposals)
        if self.fuse_1d:
            pooled = with_clinical(pool, pooled, vector, len(proposals))
        size = [encoded.batch.image_sizes[image]]  # every row reads the same film: decode and rescale them as one
        found = scorer.score(pooled, [proposals.repeat(rows, 1)], size)
        found = self.transform.postprocess(found, size, [encoded.original_sizes[image]])[0]
        return [dict(zip(found, parts)) for parts in zip(*(v.chunk(rows) for v in found.values()))]

    def _heads(self, batch: ImageList, features: OrderedDict, clinical: torch.Tensor | None,
               original_sizes: list, targets=None, roi_heads: nn.Module | None = None,
               proposals: list[torch.Tensor] | None = None):
        """Everything after the image backbone: clinical encoder and branch, 3D fusion, RPN (unless
        ``proposals`` are given), RoI heads. Returns (losses or detections, the proposals scored)."""
        vector = self.clinical_encoder(clinical) if self.uses_clinical else None
        if self.fusion is not None:
            features = fuse_levels(features, vector, tuple(batch.tensors.shape[-2:]), self.fusion, self.clinical_branch)
        proposal_losses = {}
        if proposals is None:
            proposals, proposal_losses = self.rpn(batch, features, targets)
        roi_features = OrderedDict(features, **{CLINICAL_KEY: vector}) if self.fuse_1d else features
        heads = self.roi_heads if roi_heads is None else roi_heads
        detections, detector_losses = heads(roi_features, proposals, batch.image_sizes, targets)
        if self.training:
            losses = {**proposal_losses, **detector_losses}
            losses["loss"] = self.loss_weighting(losses)
            return losses, proposals
        return self.transform.postprocess(detections, batch.image_sizes, original_sizes), proposals


def check_inputs(model: nn.Module, images, clinical: torch.Tensor | None,
                 targets) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """What every detector of the family checks first: train mode needs targets and inference refuses them;
    grey images become 3-channel; the clinical batch must have one row per image (None for the image-only
    baseline, which ignores it). Returns ``(images, clinical)``."""
    if model.training and targets is None:
        raise InputError("targets are required in train mode")
    if not model.training and targets is not None:
        raise InputError("inference never takes targets: call model.eval() and pass images and clinical only")
    images = _three_channels(images)
    clinical = _check_clinical(model, len(images), clinical, images[0].device if images else None)
    if targets is not None:
        _check_targets(targets)
    return images, clinical


def fuse_levels(features: OrderedDict[str, torch.Tensor], vector: torch.Tensor, input_size: tuple[int, int],
                fusion: nn.Module, clinical_branch: nn.Module | None) -> OrderedDict[str, torch.Tensor]:
    """3D fusion on every level: ``{level: [N, C, h, w]}`` -> the same shapes, each map fused with its clinical
    map from ``clinical_branch`` (or, for a vector-only operator such as FiLM, with the vector alone)."""
    clinical_maps = clinical_branch(vector, features, input_size) if clinical_branch is not None else {}
    return OrderedDict((k, fusion(f, clinical_maps.get(k), vector)) for k, f in features.items())


def _check_clinical(model: nn.Module, n_images: int, clinical: torch.Tensor | None,
                    device: torch.device) -> torch.Tensor | None:
    if not model.uses_clinical:
        return None
    schema = getattr(model, "schema", MIMIC_SCHEMA)  # the cohort's columns (MIMIC's by default)
    width = schema.width
    if clinical is None:
        raise InputError(f"variant {model.variant!r} fuses clinical data: pass clinical=[N, {width}]")
    if clinical.dim() != 2 or clinical.shape[0] != n_images or clinical.shape[1] != width:
        raise InputError(f"clinical batch has shape {list(clinical.shape)}; expected [{n_images}, {width}] "
                         f"(one row per image, columns {schema.names}, NaN = missing)")
    return clinical.to(device, torch.float32)


@dataclass
class EncodedImages:
    """What :meth:`MDFNet.encode_images` computed once: the transformed batch, the image backbone's maps
    ``{level: [N, C, h, w]}`` and each input image's ``(H, W)``."""

    batch: ImageList
    features: OrderedDict
    original_sizes: list


def _take(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``index`` of ``tensor``; a single image is broadcast (a view), not copied ``R`` times."""
    if tensor.shape[0] == 1:
        return tensor.expand(len(index), *tensor.shape[1:])
    return tensor.index_select(0, index)


def _three_channels(images) -> list[torch.Tensor]:
    return [img.expand(3, -1, -1) if img.shape[0] == 1 else img for img in images]


def _check_targets(targets: list[dict[str, torch.Tensor]]) -> None:
    for i, t in enumerate(targets):
        boxes = t["boxes"]
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise InputError(f"target {i}: boxes must be [K, 4] xyxy, got shape {list(boxes.shape)}")
        bad = (boxes[:, 2:] <= boxes[:, :2]).any(dim=1)
        if bad.any():
            raise InputError(f"target {i}: box {boxes[bad][0].tolist()} has zero or negative width/height")
