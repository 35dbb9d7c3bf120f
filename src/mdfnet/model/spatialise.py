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
from collections.abc import Callable, Sequence

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
        self.start_as(0.0)

    def start_as(self, value: float) -> None:
        """Make the branch output the constant ``value`` at init (the 3D fusion's identity element: 0 for a
        sum, 1 for a product), so MDF-Net starts as the image-only detector and the clinical map grows only
        where the loss asks for it; with vitals that say nothing it otherwise disturbs the image path from
        the first step (README: "Small findings")."""
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.constant_(self.refine[-1].bias, value)

    def forward(self, vector: torch.Tensor, image_maps: Maps, input_size: tuple[int, int]) -> Maps:
        seed = self.project(vector).view(-1, self.channels, self.seed_size, self.seed_size)
        return OrderedDict((k, self.refine(_match(seed, m))) for k, m in image_maps.items())

    def windows(self, vector: torch.Tensor, size: tuple[int, int],
                windows: Sequence[tuple[int, int, int, int]]) -> list[torch.Tensor]:
        """The branch's map of size ``size`` (h, w) on each window ``(top, bottom, left, right)`` only (rows
        ``[top, bottom)``, columns ``[left, right)``): ``[N, C, bottom - top, right - left]`` each, equal to
        ``forward``'s map there to float rounding, at the cost of the windows. Eval mode only (BatchNorm's
        running statistics are folded into the first convolution).

        The first convolution of the resized seed is linear in the seed, as the bilinear resize is (one
        matrix per axis), so it is computed from the seed itself on each window plus the 1-pixel margin the
        second convolution reads; the resize is zero outside the map, as ``padding=1`` makes it. That margin
        is then set to zero where it lies outside the map (the second convolution's ``padding=1``).
        """
        if self.training:
            raise RuntimeError("LiteClinicalBranch.windows folds BatchNorm's running statistics: call eval() first")
        conv1, norm, relu, conv2 = self.refine
        seed = self.project(vector).view(-1, self.channels, self.seed_size, self.seed_size)
        height, width = size
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # BatchNorm (eval) folded into conv1
        shift = ((conv1.bias - norm.running_mean) * scale + norm.bias)[:, None, None]
        n, c, s = len(seed), self.channels, self.seed_size
        weight = (conv1.weight * scale[:, None, None, None]).permute(0, 2, 3, 1).reshape(-1, c)  # [C*3*3, C]
        kernel = (weight @ seed.transpose(0, 1).reshape(c, -1)).view(c, 3, 3, n, s, s)  # one product for all rows
        kernel = kernel.permute(3, 0, 1, 4, 2, 5).reshape(n * c, 3 * s, 3 * s)  # [N * C, (dy, a), (dx, b)]
        resize_down = _resize_matrix(self.seed_size, height, seed)
        resize_across = _resize_matrix(self.seed_size, width, seed)
        maps = []
        for top, bottom, left, right in windows:
            down = _shifted(resize_down, top - 1, bottom + 1)         # [h + 2, 3 * seed]
            across = _shifted(resize_across, left - 1, right + 1)     # [w + 2, 3 * seed]
            x = (down @ (kernel @ across.T)).view(n, c, len(down), len(across))
            x = relu(x + shift)
            if top == 0:
                x[:, :, 0] = 0
            if bottom == height:
                x[:, :, -1] = 0
            if left == 0:
                x[:, :, :, 0] = 0
            if right == width:
                x[:, :, :, -1] = 0
            maps.append(F.conv2d(x, conv2.weight, conv2.bias))
        return maps


def _shifted(resize: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """``[stop - start, 3 * s]``: for each pixel ``start..stop - 1`` (which may lie 1 beyond the axis) of a
    3-wide, ``padding=1`` convolution over the resized axis, the resize's rows it reads (offsets -1, 0, +1),
    zero beyond the axis."""
    padded = F.pad(resize, (0, 0, 2, 2))
    return torch.cat([padded[start + 1 + k:stop + 1 + k] for k in range(3)], dim=1)


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
