"""3D fusion operators: combine an image map and a clinical map of the same shape ``[N, C, h, w]``.

Each operator is built as ``FUSIONS[name](channels, clinical_dim)`` and called as
``op(image_map, clinical_map, clinical_vector)``; none changes the map's size (the authors'
concatenation variant used stride-2 convolutions and shrank it: a bug we do not repeat).
``uses_clinical_map = False`` marks an operator that needs only the vector, so no spatialiser is built;
``identity`` is the clinical map that leaves the image map as it is (our lite branch starts there);
``pointwise = True`` one whose output at a pixel reads only that pixel of its inputs (so it may run on a
window of the maps: :mod:`mdfnet.model.windows`).
"""

from __future__ import annotations

import torch
from torch import nn


class SumFusion(nn.Module):
    """Element-wise sum (the paper's default and best)."""

    kind = "paper"
    uses_clinical_map = True
    identity = 0.0
    pointwise = True

    def __init__(self, channels: int, clinical_dim: int) -> None:
        super().__init__()

    def forward(self, image: torch.Tensor, clinical: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        return image + clinical


class HadamardFusion(SumFusion):
    """Element-wise (Hadamard) product."""

    identity = 1.0

    def forward(self, image: torch.Tensor, clinical: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        return image * clinical


class ConcatConvFusion(nn.Module):
    """Concatenate along channels, then a size-preserving 3x3 conv ``2C -> C``."""

    kind = "paper"
    uses_clinical_map = True
    identity = 0.0  # a zero half of the input: the mix reads the image map alone
    pointwise = False

    def __init__(self, channels: int, clinical_dim: int) -> None:
        super().__init__()
        self.mix = nn.Conv2d(2 * channels, channels, kernel_size=3, padding=1)

    def forward(self, image: torch.Tensor, clinical: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat([image, clinical], dim=1))


class ConcatLinearFusion(ConcatConvFusion):
    """Concatenate along channels, then a linear map ``2C -> C`` at every location (a 1x1 conv)."""

    pointwise = True

    def __init__(self, channels: int, clinical_dim: int) -> None:
        nn.Module.__init__(self)
        self.mix = nn.Conv2d(2 * channels, channels, kernel_size=1)


class FiLMFusion(nn.Module):
    """Ours: feature-wise affine modulation ``image * (1 + gamma) + beta`` with (gamma, beta) from the vector.

    Starts as the identity (zero-initialised projection), so the image path is undisturbed at init.
    """

    kind = "ours"
    uses_clinical_map = False
    pointwise = True

    def __init__(self, channels: int, clinical_dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(clinical_dim, 2 * channels)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, image: torch.Tensor, clinical: torch.Tensor | None, vector: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.project(vector)[:, :, None, None].chunk(2, dim=1)
        return image * (1 + gamma) + beta


FUSIONS: dict[str, type[nn.Module]] = {
    "sum": SumFusion,
    "hadamard": HadamardFusion,
    "concat_conv": ConcatConvFusion,
    "concat_linear": ConcatLinearFusion,
    "film": FiLMFusion,
}
