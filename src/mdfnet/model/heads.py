"""1D fusion: the clinical vector joins each RoI's pooled features on the way into the box head.

torchvision's ``RoIHeads`` calls ``box_roi_pool(features, proposals, image_shapes)`` and feeds the
result to ``box_head``. :class:`FusedRoIPool` is the one piece that changes: it pools as usual,
flattens ``[R, C, 7, 7] -> [R, C*49]`` and appends the clinical vector of each RoI's image,
``[R, C*49 + D]``, taken from ``features["clinical"]`` (``[N, D]``). The standard ``TwoMLPHead``
then reads 3136 + 64 = 3200 inputs in the paper configuration.

:class:`EveryBox` wraps a model's RoI heads to return every class's box and score for every proposal
(for explanations, which follow a finding's own box through re-reads).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.ops import MultiScaleRoIAlign, boxes as box_ops

CLINICAL_KEY = "clinical"  # where the detector puts the clinical vector in the features dict


class FusedRoIPool(MultiScaleRoIAlign):
    """RoIAlign + concatenation of the clinical vector: ``-> [R, C * out_h * out_w + D]``."""

    def forward(self, x: dict[str, torch.Tensor], boxes: list[torch.Tensor],
                image_shapes: list[tuple[int, int]]) -> torch.Tensor:
        pooled = super().forward(x, boxes, image_shapes).flatten(start_dim=1)
        vector = x[CLINICAL_KEY]
        per_roi = torch.repeat_interleave(vector, torch.tensor([len(b) for b in boxes], device=vector.device), dim=0)
        return torch.cat([pooled, per_roi.to(pooled.dtype)], dim=1)


class EveryBox(nn.Module):
    """A model's RoI heads (shared, not copied) returning every class's box and score for every proposal.

    Called as torchvision's ``RoIHeads`` is, ``(features, proposals, image_shapes)`` -> ``(detections,
    {})``, it pools, runs the box head and predictor, decodes and clips the boxes and takes the softmax,
    and keeps everything: no score cut, no NMS, no count limit (:func:`every_box`). Explanations read it
    to follow a finding's own box through re-reads (mdfnet.engine.explain).
    """

    def __init__(self, roi_heads: nn.Module) -> None:
        super().__init__()
        self.heads = roi_heads

    def forward(self, features, proposals: list[torch.Tensor], image_shapes: list[tuple[int, int]], targets=None):
        heads = self.heads
        logits, deltas = heads.box_predictor(heads.box_head(heads.box_roi_pool(features, proposals, image_shapes)))
        return every_box(heads.box_coder, logits, deltas, proposals, image_shapes), {}


def every_box(box_coder, logits: torch.Tensor, deltas: torch.Tensor, proposals: list[torch.Tensor],
              image_shapes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
    """The box predictor's output for every proposal and class, per image: row ``i`` is proposal ``i // K``,
    class ``i % K + 1`` (``K`` classes without background): ``boxes`` ``[P * K, 4]`` (decoded, clipped to
    the image), ``scores`` (softmax) and ``labels`` ``[P * K]``."""
    boxes = box_coder.decode(deltas, proposals)  # [sum P, K + 1, 4]
    scores = torch.softmax(logits, -1)
    counts = [len(p) for p in proposals]
    out = []
    for b, s, shape in zip(boxes.split(counts), scores.split(counts), image_shapes):
        b = box_ops.clip_boxes_to_image(b, shape)[:, 1:]  # drop the background column
        labels = torch.arange(1, b.shape[1] + 1, device=b.device).repeat(len(b))
        out.append({"boxes": b.reshape(-1, 4), "scores": s[:, 1:].reshape(-1), "labels": labels})
    return out


class RecordPredictions(nn.Module):
    """A box predictor that also keeps its last output ``(class logits, box deltas)`` in ``record``."""

    def __init__(self, predictor: nn.Module, record: dict) -> None:
        super().__init__()
        self.predictor, self.record = predictor, record

    def forward(self, x: torch.Tensor):
        self.record["logits"], self.record["deltas"] = out = self.predictor(x)
        return out


def recording_heads(roi_heads: nn.Module) -> tuple[nn.Module, dict]:
    """A shallow copy of ``roi_heads`` (same weights, same behaviour) whose box predictor records its output
    in the returned dict; the model's own heads are not changed, so other threads may use them meanwhile."""
    record: dict = {}
    heads = copy.copy(roi_heads)
    heads._modules = dict(roi_heads._modules)  # a module set on the copy must not land in the original
    heads.box_predictor = RecordPredictions(roi_heads.box_predictor, record)
    return heads, record
