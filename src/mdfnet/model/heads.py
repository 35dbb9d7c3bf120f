"""1D fusion: the clinical vector joins each RoI's pooled features on the way into the box head.

Two operators (``model.fusion_1d``, :data:`FUSIONS_1D`): ``concat`` (the paper) and ``film`` (ours).

torchvision's ``RoIHeads`` calls ``box_roi_pool(features, proposals, image_shapes)`` and feeds the
result to ``box_head``. :class:`FusedRoIPool` is the one piece that changes: it pools as usual,
flattens ``[R, C, 7, 7] -> [R, C*49]`` and appends the clinical vector of each RoI's image,
``[R, C*49 + D]``, taken from ``features["clinical"]`` (``[N, D]``). The standard ``TwoMLPHead``
then reads 3136 + 64 = 3200 inputs in the paper configuration. :class:`FiLMBoxHead` instead splits the
vector off again and uses it to scale and shift the head's hidden features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

CLINICAL_KEY = "clinical"  # where the detector puts the clinical vector in the features dict


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

    ``[R, P + D] -> [R, hidden]``: ``h = relu(fc6(pooled))``, ``(gamma, beta) = film(vector)``,
    ``out = relu(fc7(h * (1 + gamma) + beta))``. Concatenation leaves the vector's 64 inputs among 3,136
    pooled ones, and SGD from random init barely moved their weights in our probes; FiLM lets the vector
    gate every hidden unit (it can turn "an opacity" into "a consolidation"), and starts as the plain head
    (zero-initialised ``film``), so the image path is undisturbed at init.
    """

    def __init__(self, pooled: int, clinical_dim: int, hidden: int) -> None:
        super().__init__()
        self.clinical_dim = clinical_dim
        self.fc6 = nn.Linear(pooled, hidden)
        self.fc7 = nn.Linear(hidden, hidden)
        self.film = nn.Linear(clinical_dim, 2 * hidden)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled, vector = x[:, :-self.clinical_dim], x[:, -self.clinical_dim:]
        gamma, beta = self.film(vector).chunk(2, dim=1)
        return F.relu(self.fc7(F.relu(self.fc6(pooled)) * (1 + gamma) + beta))


def concat_box_head(pooled: int, clinical_dim: int, hidden: int) -> nn.Module:
    """The paper's 1D fusion: the box head reads pooled features and vector alike (``fc6: P + D -> hidden``)."""
    return TwoMLPHead(pooled + clinical_dim, hidden)


# 1D fusion operators: name -> box-head builder (pooled, clinical_dim, hidden)
FUSIONS_1D = {"concat": concat_box_head, "film": FiLMBoxHead}
