"""Windows of a feature map: the few rectangles that RoIAlign reads for a few boxes.

Explanations re-read one film under many clinical rows, always scoring the same few proposals
(:meth:`~mdfnet.model.MDFNet.score_proposals`). With the ``lite`` branch (two 3x3 convolutions on the
whole map) and a pointwise 3D fusion, only the pixels that those proposals' RoIAlign reads matter: the
branch, the fusion and the pooling run on those windows of the map and give the same pooled features,
to float rounding, at a fraction of the cost (on a 64 x 64 map the branch is most of a re-read).

A box's window holds every pixel its RoIAlign reads (torchvision's RoIAlign, ``aligned=False``: samples
lie in ``[x1 * scale, x1 * scale + max((x2 - x1) * scale, 1)]`` and each reads the pixels at ``floor(x)``
and ``floor(x) + 1``), so RoIAlign of the window, the box shifted into it, reads the same pixels with the
same weights: a window that stops inside the map ends at its last sample's ``floor(x) + 1``, which
RoIAlign clamps only at the map's own last pixel, and one that reaches the map's border has the map's.
Windows are merged while the merged one costs less than the two.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchvision.ops import roi_align

Window = tuple[int, int, int, int]  # top, bottom, left, right: rows [top, bottom) x columns [left, right)
ROUNDING = 1e-3  # map pixels: float32 sample positions differ from exact ones by far less


def box_windows(boxes: torch.Tensor, scale: float, size: tuple[int, int]) -> np.ndarray:
    """``[U, 4]`` windows (:data:`Window` layout) of the map pixels that RoIAlign at ``scale`` reads for each
    box ``[U, 4]`` (xyxy, input pixels), clipped to a map of ``size`` (h, w)."""
    b = boxes.detach().cpu().double().numpy() * scale
    start = b[:, :2]
    end = start + np.maximum(b[:, 2:] - start, 1.0)   # RoIAlign reads boxes under 1 pixel as 1 pixel
    low = np.maximum(np.floor(start - ROUNDING), 0)
    high = np.minimum(np.floor(end + ROUNDING) + 2, np.array(size[::-1], dtype=float))
    return np.stack([low[:, 1], high[:, 1], low[:, 0], high[:, 0]], axis=1).astype(np.int64)


def merge_windows(windows: np.ndarray) -> list[tuple[Window, list[int]]]:
    """Groups ``[U, 4]`` windows into fewer: ``[(window covering the group, member indices)]``, by first member.

    Greedy: the two windows whose bounding window saves the most cost are merged, while one saves any;
    a window's cost is its area with the convolutions' 1-pixel margin, ``(h + 2) * (w + 2)``.
    """
    groups = [(tuple(int(v) for v in w), [i]) for i, w in enumerate(windows)]
    while len(groups) > 1:
        w = np.array([g[0] for g in groups], dtype=np.int64)
        cost = (w[:, 1] - w[:, 0] + 2) * (w[:, 3] - w[:, 2] + 2)
        top, left = np.minimum(w[:, None, 0], w[None, :, 0]), np.minimum(w[:, None, 2], w[None, :, 2])
        bottom, right = np.maximum(w[:, None, 1], w[None, :, 1]), np.maximum(w[:, None, 3], w[None, :, 3])
        saving = cost[:, None] + cost[None, :] - (bottom - top + 2) * (right - left + 2)
        np.fill_diagonal(saving, -1)
        i, j = np.unravel_index(np.argmax(saving), saving.shape)
        if saving[i, j] < 0:
            break
        merged = (int(top[i, j]), int(bottom[i, j]), int(left[i, j]), int(right[i, j]))
        groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [(merged, sorted(groups[i][1] + groups[j][1]))]
    return sorted(groups, key=lambda g: g[1][0])


def pool_windows(image_map: torch.Tensor, vector: torch.Tensor | None, fusion: nn.Module | None,
                 branch: nn.Module | None, pool: nn.Module, boxes: torch.Tensor) -> torch.Tensor:
    """RoIAlign of the same ``U`` boxes on ``R`` fused maps of one image, computed on windows only.

    Args:
        image_map: the image's map ``[1, C, h, w]`` (one level).
        vector: the clinical vectors ``[R, D]`` (None without clinical data: then ``R`` = 1).
        fusion: a pointwise 3D fusion (``op(image, clinical, vector)``), or None for the image map alone.
        branch: a clinical branch with ``windows`` (:meth:`~mdfnet.model.spatialise.LiteClinicalBranch.windows`),
            or None for a fusion that reads the vector only.
        pool: the RoI heads' single-level pool, already run once (its ``scales`` set).
        boxes: ``[U, 4]`` xyxy in the transformed image's pixels.

    Returns:
        ``[R * U, C, *pool.output_size]``, row-major (row ``r``'s ``U`` boxes in order): what ``pool`` gives on
        the fused maps of the whole image for ``[boxes] * R``, to float rounding (without the clinical
        vector that :class:`~mdfnet.model.heads.FusedRoIPool` appends).
    """
    rows = 1 if vector is None else len(vector)
    if len(boxes) == 0:
        return image_map.new_zeros(0, image_map.shape[1], *pool.output_size)
    size = tuple(image_map.shape[-2:])
    scale = pool.scales[0]
    groups = merge_windows(box_windows(boxes, scale, size))
    clinical = [None] * len(groups)
    if fusion is not None and branch is not None:
        clinical = branch.windows(vector, size, [window for window, _ in groups])
    parts, order = [], []
    for ((top, bottom, left, right), members), clinical_map in zip(groups, clinical):
        crop = image_map[:, :, top:bottom, left:right].expand(rows, -1, -1, -1)
        if fusion is not None:
            crop = fusion(crop, clinical_map, vector)
        shift = torch.tensor([left, top, left, top], dtype=boxes.dtype, device=boxes.device) / scale
        parts.append(pool_separable(pool, crop, boxes[members] - shift))
        order += members
    pooled = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]    # [R, U, C, oh, ow], boxes by window
    if order != sorted(order):
        pooled = pooled.index_select(1, torch.tensor(np.argsort(order), device=pooled.device))
    return pooled.flatten(0, 1)


def pool_separable(pool: nn.Module, maps: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``pool``'s RoIAlign of the same ``boxes`` ``[U, 4]`` on each of ``maps`` ``[R, C, h, w]``:
    ``[R, U, C, oh, ow]``, to float rounding.

    RoIAlign is separable: a sample's bilinear weights are a row weight times a column weight, and a sample
    outside the map is skipped along either axis alone. So each box's bins are ``rows @ map @ cols.T``, with
    ``rows`` ``[oh, h]`` and ``cols`` ``[ow, w]`` read off torchvision's own RoIAlign of a one-hot basis of a
    single column (:func:`_axis_weights`), at a fraction of the cost of sampling every channel.
    """
    rows, channels, height, width = maps.shape
    oh, ow = pool.output_size
    down = _axis_weights(pool, boxes[:, [1, 3]], height, oh)     # [U, oh, h]
    across = _axis_weights(pool, boxes[:, [0, 2]], width, ow)    # [U, ow, w]
    x = across.reshape(-1, width) @ maps.reshape(-1, width).T         # [U * ow, R * C * h]
    x = down @ x.view(len(boxes), -1, height).transpose(1, 2)         # [U, oh, ow * R * C]
    return x.view(len(boxes), oh, ow, rows, channels).permute(3, 0, 4, 1, 2)


def _axis_weights(pool: nn.Module, spans: torch.Tensor, length: int, bins: int) -> torch.Tensor:
    """``[U, bins, length]``: the weight of each pixel of an axis of ``length`` in each bin, for RoIAlign of
    ``spans`` ``[U, 2]`` (start, end in input pixels) along it: RoIAlign of ``eye(length)`` laid out as
    ``length`` channels of a ``length x 1`` map, each span as a box 0 wide (read as 1, one pixel)."""
    basis = torch.eye(length, dtype=spans.dtype, device=spans.device).view(1, length, length, 1)
    zeros = spans.new_zeros(len(spans), 1)
    rois = torch.cat([zeros, zeros, spans[:, :1], zeros, spans[:, 1:]], dim=1)
    return roi_align(basis, rois, (bins, 1), pool.scales[0], pool.sampling_ratio)[..., 0].transpose(1, 2)


def windows_apply(model: nn.Module, features: dict) -> bool:
    """Whether :func:`pool_windows` can stand in for ``model``'s fusion and pooling of ``features``: one
    map, a pointwise 3D fusion (or none), a clinical branch with ``windows`` (or none), a single-level pool
    already run, BatchNorm in eval mode."""
    pool = model.roi_heads.box_roi_pool
    return (not model.training and len(features) == 1 and list(getattr(pool, "featmap_names", ())) == list(features)
            and getattr(pool, "scales", None) is not None
            and (model.fusion is None or getattr(model.fusion, "pointwise", False))
            and (model.clinical_branch is None or hasattr(model.clinical_branch, "windows")))
