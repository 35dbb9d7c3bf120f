"""1D fusion: the clinical vector joins each RoI's pooled features on the way into the box head.

torchvision's ``RoIHeads`` calls ``box_roi_pool(features, proposals, image_shapes)`` and feeds the
result to ``box_head``. :class:`FusedRoIPool` is the one piece that changes: it pools as usual,
flattens ``[R, C, 7, 7] -> [R, C*49]`` and appends the clinical vector of each RoI's image,
``[R, C*49 + D]``, taken from ``features["clinical"]`` (``[N, D]``). The standard ``TwoMLPHead``
then reads 3136 + 64 = 3200 inputs in the paper configuration.
"""

from __future__ import annotations

import torch
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
