"""1D fusion: the clinical vector joins each RoI's pooled features on the way into the box head.

Two operators (``model.fusion_1d``, :data:`FUSIONS_1D`): ``concat`` (the paper) and ``film`` (ours).

torchvision's ``RoIHeads`` calls ``box_roi_pool(features, proposals, image_shapes)`` and feeds the
result to ``box_head``. :class:`FusedRoIPool` is the one piece that changes: it pools as usual,
flattens ``[R, C, 7, 7] -> [R, C*49]`` and appends the clinical vector of each RoI's image,
``[R, C*49 + D]``, taken from ``features["clinical"]`` (``[N, D]``). The standard ``TwoMLPHead``
then reads 3136 + 64 = 3200 inputs in the paper configuration. :class:`FiLMBoxHead` instead splits the
vector off again and uses it to scale and shift the head's hidden features.

With ``model.clinical_prior`` (ours) the box head also hands each RoI's vector on (``[R, hidden + D]``) to
:class:`PriorPredictor`, which adds :class:`ClinicalPrior`'s per-class offsets to the class logits.

:class:`EveryBox` wraps a model's RoI heads to return every class's box and score for every proposal
(for explanations, which follow a finding's own box through re-reads).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign, boxes as box_ops, roi_align

from mdfnet.model.clinical import own_random_stream

CLINICAL_KEY = "clinical"  # where the detector puts the clinical vector in the features dict
SHARED_POOL_MAX_PIXELS = 32 * 32  # pool_shared pays off on small maps (stride 32 up to 1024 px); RoIAlign beyond


class FusedRoIPool(MultiScaleRoIAlign):
    """RoIAlign + concatenation of the clinical vector: ``-> [R, C * out_h * out_w + D]``."""

    def forward(self, x: dict[str, torch.Tensor], boxes: list[torch.Tensor],
                image_shapes: list[tuple[int, int]]) -> torch.Tensor:
        pooled = super().forward(x, boxes, image_shapes).flatten(start_dim=1)
        vector = x[CLINICAL_KEY]
        per_roi = torch.repeat_interleave(vector, torch.tensor([len(b) for b in boxes], device=vector.device), dim=0)
        return torch.cat([pooled, per_roi.to(pooled.dtype)], dim=1)


class FiLMBoxHead(nn.Module):
    """Ours: torchvision's two-layer box head with FiLM of its hidden layer by the clinical vector.

    ``[R, P + D] -> [R, hidden]`` (``[R, hidden + D]`` with ``pass_vector``): ``h = relu(fc6(pooled))``,
    ``(gamma, beta) = film(vector)``, ``out = relu(fc7(h * (1 + gamma) + beta))``. Concatenation leaves the
    vector's 64 inputs among 3,136 pooled ones, and SGD from random init barely moved their weights in our
    probes; FiLM lets the vector gate every hidden unit (it can turn "an opacity" into "a consolidation"),
    and starts as the plain head (zero-initialised ``film``), so the image path is undisturbed at init.
    """

    def __init__(self, pooled: int, clinical_dim: int, hidden: int, pass_vector: bool = False) -> None:
        super().__init__()
        self.clinical_dim, self.pass_vector = clinical_dim, pass_vector
        self.fc6 = nn.Linear(pooled, hidden)
        self.fc7 = nn.Linear(hidden, hidden)
        with own_random_stream():  # fc6, fc7 and what follows are drawn as for the image-only head
            self.film = nn.Linear(clinical_dim, 2 * hidden)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled, vector = x[:, :-self.clinical_dim], x[:, -self.clinical_dim:]
        gamma, beta = self.film(vector).chunk(2, dim=1)
        return _passing_vector(self, F.relu(self.fc7(F.relu(self.fc6(pooled)) * (1 + gamma) + beta)), x)


class ConcatBoxHead(TwoMLPHead):
    """The paper's 1D fusion: torchvision's two-layer box head reading pooled features and vector alike
    (``fc6: P + D -> hidden``), ``[R, P + D] -> [R, hidden]`` (``[R, hidden + D]`` with ``pass_vector``)."""

    def __init__(self, pooled: int, clinical_dim: int, hidden: int, pass_vector: bool = False) -> None:
        super().__init__(pooled + clinical_dim, hidden)
        self.clinical_dim, self.pass_vector = clinical_dim, pass_vector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _passing_vector(self, super().forward(x), x)


def _passing_vector(head: nn.Module, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A box head's output, with each RoI's clinical vector (the last ``clinical_dim`` inputs) appended when
    the head's ``pass_vector`` is set (for :class:`PriorPredictor`): ``[R, hidden (+ D)]``."""
    return torch.cat([out, x[:, -head.clinical_dim:]], dim=1) if head.pass_vector else out


class ClinicalPrior(nn.Module):
    """Ours (``model.clinical_prior``): one logit offset per class from the clinical vector, ``[N, D] -> [N, K]``,
    zero-initialised, so a detector starts as without it.

    Added to a classifier's logits it is the log-prior term of Bayes' rule: the film says what a finding
    looks like, the vitals how likely each finding is in this patient. FiLM and concatenation act inside the
    head, on the features that look-alike findings share (an atelectasis and a consolidation are drawn by
    one renderer); this term reaches each class's score directly, so fever can favour a consolidation over
    an atelectasis on the very same opacity (README: "Where the false positives lie").
    """

    def __init__(self, clinical_dim: int, classes: int) -> None:
        super().__init__()
        with own_random_stream():  # the image path draws as without it
            self.linear = nn.Linear(clinical_dim, classes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, vector: torch.Tensor) -> torch.Tensor:
        return self.linear(vector)


class PriorPredictor(nn.Module):
    """torchvision's ``FastRCNNPredictor`` (its ``cls_score`` and ``bbox_pred``) with :class:`ClinicalPrior` on
    the class logits: ``[R, hidden + D] -> (logits [R, K + 1], deltas [R, 4 (K + 1)])``, the vector being
    what the box head passes on (``pass_vector``)."""

    def __init__(self, predictor: nn.Module, clinical_dim: int) -> None:
        super().__init__()
        self.cls_score, self.bbox_pred = predictor.cls_score, predictor.bbox_pred
        self.clinical_dim = clinical_dim
        self.clinical_prior = ClinicalPrior(clinical_dim, predictor.cls_score.out_features)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, vector = x[:, :-self.clinical_dim], x[:, -self.clinical_dim:]
        return self.cls_score(hidden) + self.clinical_prior(vector), self.bbox_pred(hidden)


# 1D fusion operators: name -> box-head builder (pooled, clinical_dim, hidden, pass_vector=False)
FUSIONS_1D = {"concat": ConcatBoxHead, "film": FiLMBoxHead}


class EveryBox(nn.Module):
    """A model's RoI heads (shared, not copied) returning every class's box and score for every proposal.

    Called as torchvision's ``RoIHeads`` is, ``(features, proposals, image_shapes)`` -> ``(detections,
    {})``, it pools, runs the box head and predictor, decodes and clips the boxes and takes the softmax,
    and keeps everything: no score cut, no NMS, no count limit (:func:`every_box`). Explanations read it
    to follow a finding's own box through re-reads of one film (mdfnet.engine.explain); when every row
    scores the same proposals on a single feature map, it pools them all at once (:func:`pool_shared`).
    """

    def __init__(self, roi_heads: nn.Module) -> None:
        super().__init__()
        self.heads = roi_heads

    def forward(self, features, proposals: list[torch.Tensor], image_shapes: list[tuple[int, int]], targets=None):
        pooled = pool_shared(self.heads.box_roi_pool, features, proposals, image_shapes)
        if pooled is None:
            pooled = self.heads.box_roi_pool(features, proposals, image_shapes)
        return self.score(pooled, proposals, image_shapes), {}

    def score(self, pooled: torch.Tensor, proposals: list[torch.Tensor],
              image_shapes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
        """The box head and predictor on RoIs already pooled (as the heads' pool returns them) -> :func:`every_box`."""
        heads = self.heads
        logits, deltas = heads.box_predictor(heads.box_head(pooled))
        return every_box(heads.box_coder, logits, deltas, proposals, image_shapes)


def pool_shared(pool: nn.Module, features, proposals: list[torch.Tensor],
                image_shapes: list[tuple[int, int]]) -> torch.Tensor | None:
    """``pool(features, proposals, image_shapes)`` when every row has the very same proposals on one map.

    RoIAlign is linear in the map, so pooling ``U`` boxes on ``R`` maps is one sampling matrix, RoIAlign
    of a one-hot basis of the pixels the boxes touch, applied to all maps in one product: the same values
    (to float rounding) at a fraction of ``R x U`` RoIAligns. None when it does not apply (several
    levels, different proposals or image sizes, a pool not yet run, a map over ``SHARED_POOL_MAX_PIXELS``):
    then call ``pool`` itself.
    """
    names = getattr(pool, "featmap_names", ())
    if (len(names) != 1 or getattr(pool, "scales", None) is None or len(proposals) < 2
            or any(p is not proposals[0] for p in proposals) or len(set(image_shapes)) != 1):
        return None
    maps = features[names[0]]                          # [R, C, h, w]
    rows, channels, height, width = maps.shape
    if height * width > SHARED_POOL_MAX_PIXELS:  # the one-hot basis grows with the square of the map
        return None
    boxes = proposals[0]
    basis = torch.eye(height * width, dtype=maps.dtype, device=maps.device).view(1, -1, height, width)
    rois = torch.cat([boxes.new_zeros(len(boxes), 1), boxes], dim=1)
    weights = roi_align(basis, rois, pool.output_size, pool.scales[0], pool.sampling_ratio).flatten(2)
    touched = weights.abs().sum((0, 2)) > 0             # [U, pixels, bins]: keep the pixels any box reads
    weights, flat = weights[:, touched], maps.flatten(2)[:, :, touched]  # [U, p, bins], [R, C, p]
    bins = weights.shape[-1]
    pooled = flat @ weights.transpose(0, 1).reshape(-1, len(boxes) * bins)  # [R, C, U * bins]
    pooled = pooled.view(rows, channels, len(boxes), bins).transpose(1, 2)
    pooled = pooled.reshape(rows * len(boxes), channels, *pool.output_size)
    if CLINICAL_KEY in features:
        return with_clinical(pool, pooled, features[CLINICAL_KEY], len(boxes))
    return pooled


def with_clinical(pool: nn.Module, pooled: torch.Tensor, vector: torch.Tensor, per_row: int) -> torch.Tensor:
    """What ``pool`` returns for RoIs pooled as ``[R * per_row, C, h, w]`` (row-major): with a
    :class:`FusedRoIPool`, flattened and each row's clinical vector ``[R, D]`` appended; else as is."""
    if not isinstance(pool, FusedRoIPool):
        return pooled
    return torch.cat([pooled.flatten(start_dim=1), vector.repeat_interleave(per_row, dim=0).to(pooled.dtype)], dim=1)


def every_box(box_coder, logits: torch.Tensor, deltas: torch.Tensor, proposals: list[torch.Tensor],
              image_shapes: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
    """The box predictor's output for every proposal and class, per image: row ``i`` is proposal ``i // K``,
    class ``i % K + 1`` (``K`` classes without background): ``boxes`` ``[P * K, 4]`` (decoded, clipped to
    the image), ``scores`` (softmax) and ``labels`` ``[P * K]``."""
    boxes = box_coder.decode(deltas, proposals)[:, 1:]  # [sum P, K, 4], background column dropped
    scores = torch.softmax(logits, -1)[:, 1:]
    counts = [len(p) for p in proposals]
    if len(set(image_shapes)) == 1:  # one film read many times: clip all rows at once
        boxes = box_ops.clip_boxes_to_image(boxes, image_shapes[0]).split(counts)
    else:
        boxes = [box_ops.clip_boxes_to_image(b, shape) for b, shape in zip(boxes.split(counts), image_shapes)]
    labels = torch.arange(1, scores.shape[1] + 1, device=scores.device)
    return [{"boxes": b.reshape(-1, 4), "scores": s.reshape(-1), "labels": labels.repeat(len(s))}
            for b, s in zip(boxes, scores.split(counts))]


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
