"""Combining the detector's loss terms (Mask R-CNN's, RetinaNet's or FCOS's).

:class:`UncertaintyWeightedLoss` learns one homoscedastic-uncertainty weight per term (Kendall et al.,
as the authors ran it): ``sum_k 0.5 / s_k^2 * L_k + log(1 + s_k^2)`` with each ``s_k`` initialised to 1
and trained by the same optimiser. The weights are parameters of the model, so they are saved and
resumed with it. :class:`SumLoss` is the plain sum.
"""

from __future__ import annotations

import torch
from torch import nn

LOSS_TERMS = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask")  # Mask R-CNN's
# the one-stage detectors' own terms, under torchvision's names
RETINANET_LOSS_TERMS = ("classification", "bbox_regression")
FCOS_LOSS_TERMS = ("classification", "bbox_regression", "bbox_ctrness")


class SumLoss(nn.Module):
    def __init__(self, terms: tuple[str, ...] = LOSS_TERMS) -> None:
        super().__init__()
        self.terms = terms

    def forward(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(losses[t] for t in self.terms)


class UncertaintyWeightedLoss(SumLoss):
    def __init__(self, terms: tuple[str, ...] = LOSS_TERMS) -> None:
        super().__init__(terms)
        self.scale = nn.ParameterDict({t: nn.Parameter(torch.ones(())) for t in terms})

    def forward(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        total = 0.0
        for t in self.terms:
            s2 = self.scale[t] ** 2
            total = total + 0.5 / s2 * losses[t] + torch.log1p(s2)
        return total


LOSS_WEIGHTINGS: dict[str, type[SumLoss]] = {"uncertainty": UncertaintyWeightedLoss, "sum": SumLoss}
