"""Spatialisers: turn the clinical vector ``[N, D]`` into feature maps that match the image's.

Both clinical branches map ``(vector [N, D], image_maps {level: [N, C, h, w]})`` to maps of exactly
the image maps' shapes, ready for 3D fusion.

- ``paper`` (the authors'): ``D x 1 x 1`` -> ``log2(S)`` blocks of [ConvTranspose2d k2 s2, BN, ReLU,
  Conv3x3, BN, ReLU] (no ReLU after the last, whose conv gives 3 channels) -> a ``3 x S x S``
  "clinical image" -> a second, separately weighted copy of the image backbone. At 512 px this branch
  costs about 25x the image backbone, since it runs a full backbone on a generated image.
- ``lite`` (ours): Linear ``D -> C x 4 x 4``, resized to each level's size, then Conv3x3-BN-ReLU-Conv3x3
  shared across levels: the same information reaches the fused map at a small fraction of the cost.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

Maps = OrderedDict[str, torch.Tensor]


def _up_block(in_ch: int, out_ch: int, last: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(in_ch, in_ch, kernel_size=2, stride=2), nn.BatchNorm2d(in_ch), nn.ReLU(inplace=True),
        nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1), nn.BatchNorm2d(out_ch),
    ]
    if not last:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class PaperSpatialiser(nn.Module):
    """``[N, D]`` -> ``[N, 3, S, S]`` "clinical image" with ``ceil(log2(S))`` doubling blocks."""

    def __init__(self, dim: int, image_size: int, width: int = 64) -> None:
        super().__init__()
        n_blocks = math.ceil(math.log2(image_size))
        chans = [dim] + [width] * (n_blocks - 1) + [3]
        self.blocks = nn.Sequential(*(_up_block(chans[i], chans[i + 1], last=i == n_blocks - 1)
                                      for i in range(n_blocks)))

    def forward(self, vector: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        image = self.blocks(vector[:, :, None, None])
        if tuple(image.shape[-2:]) != tuple(size):
            image = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
        return image


class PaperClinicalBranch(nn.Module):
    """The authors' clinical branch: :class:`PaperSpatialiser` then a second image backbone."""

    def __init__(self, dim: int, image_size: int, backbone: nn.Module) -> None:
        super().__init__()
        self.spatialiser = PaperSpatialiser(dim, image_size)
        self.backbone = backbone

    def forward(self, vector: torch.Tensor, image_maps: Maps, input_size: tuple[int, int]) -> Maps:
        maps = self.backbone(self.spatialiser(vector, input_size))
        return OrderedDict((k, _match(maps[k], image_maps[k])) for k in image_maps)


class LiteClinicalBranch(nn.Module):
    """Ours: the clinical vector straight to each level's map shape, ``[N, D] -> {level: [N, C, h, w]}``."""

    def __init__(self, dim: int, channels: int, seed_size: int = 4) -> None:
        super().__init__()
        self.channels, self.seed_size = channels, seed_size
        self.project = nn.Linear(dim, channels * seed_size * seed_size)
        self.refine = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, vector: torch.Tensor, image_maps: Maps, input_size: tuple[int, int]) -> Maps:
        seed = self.project(vector).view(-1, self.channels, self.seed_size, self.seed_size)
        return OrderedDict((k, self.refine(_match(seed, m))) for k, m in image_maps.items())

    def window(self, vector: torch.Tensor, size: tuple[int, int], rows: tuple[int, int],
               cols: tuple[int, int]) -> torch.Tensor:
        """The branch's map of size ``size`` on ``rows`` x ``cols`` only (``[start, stop)`` each): ``[N, C, h, w]``,
        equal to ``forward``'s map ``[..., rows, cols]`` to float rounding, at the cost of that window.

        Each 3x3 convolution needs one more pixel each side: the resized seed is computed on the window plus
        two pixels (a product with the rows and columns of the bilinear resize, never the whole map), and each
        convolution pads with zeros only where its input meets the border of the map, as ``padding=1`` does.
        BatchNorm must be in eval mode (its statistics do not depend on the window)."""
        conv1, norm, relu, conv2 = self.refine
        seed = self.project(vector).view(-1, self.channels, self.seed_size, self.seed_size)
        height, width = size
        (top, bottom), (left, right) = rows, cols
        x = (_resize_matrix(self.seed_size, height, seed)[max(top - 2, 0):bottom + 2] @ seed
             @ _resize_matrix(self.seed_size, width, seed)[max(left - 2, 0):right + 2].T)
        for margin, conv in ((1, conv1), (0, conv2)):  # the margin this conv's output keeps around the window
            pad = (int(left - margin <= 0), int(right + margin >= width),
                   int(top - margin <= 0), int(bottom + margin >= height))
            x = F.conv2d(F.pad(x, pad), conv.weight, conv.bias)
            if conv is conv1:
                x = relu(norm(x))
        return x


def _resize_matrix(size_in: int, size_out: int, like: torch.Tensor) -> torch.Tensor:
    """``[size_out, size_in]``: the 1D linear resize that :func:`_match` applies along each axis (bilinear is
    separable): ``resized = A_rows @ x @ A_cols.T``."""
    eye = torch.eye(size_in, dtype=like.dtype, device=like.device)[None]
    if size_in == size_out:
        return eye[0]
    return F.interpolate(eye, size=size_out, mode="linear", align_corners=False)[0].T


def _match(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


# name -> builder(dim, channels, image_size, make_backbone)
SPATIALISERS: dict[str, Callable[..., nn.Module]] = {
    "paper": lambda dim, channels, image_size, make_backbone: PaperClinicalBranch(dim, image_size, make_backbone()),
    "lite": lambda dim, channels, image_size, make_backbone: LiteClinicalBranch(dim, channels),
}
