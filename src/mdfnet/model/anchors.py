"""Anchor boxes that fit the image and the data.

The paper's anchors (32-512 px, ratios 0.5/1/2, all on one stride-32 map) were made for 512 px images.
At 128 px two of those sizes exceed the image and a 17 x 10 px opacity overlaps its best anchor with an
IoU below 0.2, so the RPN never sees a positive for it. ``model.anchor_sizes`` therefore takes:

- ``"scaled"`` (default): the paper's sizes times ``image_size / 512`` (8-128 px at 128 px; the paper's
  exactly at 512 px), ratios as given;
- ``"auto"``: sizes and aspect ratios fitted to the training boxes (k-means on log box size and log
  aspect ratio, :func:`fit_anchors`), resolved once by ``train`` and stored in the run's config, so a
  checkpoint rebuilds the same network;
- explicit sizes, e.g. ``[32, 64, 128, 256, 512]`` (the ``paper`` preset).

:func:`anchor_recall` measures any choice: the share of boxes whose best anchor *on the feature grid*
(the positions the RPN really has) reaches IoU 0.5. ``train`` prints it and saves it in ``anchors.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

from mdfnet.errors import InputError

PAPER_SIZES = (32, 64, 128, 256, 512)
PAPER_IMAGE_SIZE = 512
ANCHOR_MODES = ("scaled", "auto")


@dataclass(frozen=True)
class Anchors:
    """Resolved anchors: ``sizes`` in model-input pixels, ``ratios`` as height / width (torchvision's)."""

    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    mode: str = "explicit"          # scaled | auto | explicit
    recall: float | None = None     # share of training boxes with a grid anchor at IoU >= 0.5
    boxes: int = 0                  # how many boxes the recall was measured on

    def to_dict(self) -> dict:
        return asdict(self)


def scaled_sizes(image_size: int, reference: tuple[int, ...] = PAPER_SIZES) -> tuple[float, ...]:
    """The paper's sizes scaled from 512 px to ``image_size``: ``128 -> (8, 16, 32, 64, 128)``."""
    return tuple(_round(s * image_size / PAPER_IMAGE_SIZE) for s in reference)


def fit_anchors(boxes: np.ndarray, n_sizes: int = 5, n_ratios: int = 3, seed: int = 0) -> tuple[tuple, tuple]:
    """Anchor sizes and ratios fitted to ``boxes`` ``[K, 4]`` xyxy (model-input pixels).

    Sizes: 1-D k-means on ``log sqrt(w h)`` (the anchor's side at ratio 1); ratios: 1-D k-means on
    ``log(h / w)``. Clusters in log space treat a 10 px and a 20 px box alike, as IoU does. Returns
    ``(sizes, ratios)``, each sorted; fewer than asked when the boxes have fewer distinct values.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if len(boxes) == 0 or (w <= 0).any() or (h <= 0).any():
        raise InputError(f"auto anchors need training boxes of positive width and height; got {len(boxes)} "
                         f"boxes, {int(((w <= 0) | (h <= 0)).sum())} of them empty")
    sizes = np.exp(_kmeans_1d(0.5 * np.log(w * h), n_sizes, seed))
    ratios = np.exp(_kmeans_1d(np.log(h / w), n_ratios, seed))
    return (tuple(sorted({_round(s) for s in sizes})), tuple(sorted({round(float(r), 3) for r in ratios})))


def _kmeans_1d(x: np.ndarray, k: int, seed: int, iters: int = 100) -> np.ndarray:
    """Sorted cluster centres of 1-D data, started at quantiles (deterministic; ``seed`` breaks ties)."""
    values = np.unique(np.round(x, 4))  # float noise (19.9999 vs 20 px) is not a second cluster
    k = min(k, len(values))
    centres = np.quantile(x, (np.arange(k) + 0.5) / k)
    for _ in range(iters):
        nearest = np.abs(x[:, None] - centres[None, :]).argmin(axis=1)
        moved = np.array([x[nearest == j].mean() if (nearest == j).any() else centres[j] for j in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    centres = np.unique(np.round(centres, 6))
    if len(centres) < k:  # two centres met: refill from the data's spread (rare, tiny data)
        rng = np.random.default_rng(seed)
        centres = np.unique(np.concatenate([centres, rng.choice(values, k - len(centres), replace=False)]))
    return np.sort(centres)


def grid_anchors(sizes: tuple[float, ...], ratios: tuple[float, ...], image_size: int, stride: int) -> torch.Tensor:
    """Every anchor the RPN has on one ``stride`` map of an ``image_size`` square, ``[A, 4]`` xyxy.

    Placed as torchvision's ``AnchorGenerator`` places them: centred on ``(i * stride, j * stride)``.
    """
    scales, r = torch.as_tensor(sizes, dtype=torch.float32), torch.as_tensor(ratios, dtype=torch.float32)
    h_ratio = torch.sqrt(r)
    ws = (scales[None, :] / h_ratio[:, None]).reshape(-1)
    hs = (scales[None, :] * h_ratio[:, None]).reshape(-1)
    base = (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()
    shifts = torch.arange(0, image_size // stride, dtype=torch.float32) * stride
    y, x = torch.meshgrid(shifts, shifts, indexing="ij")
    shifts = torch.stack([x.reshape(-1), y.reshape(-1)] * 2, dim=1)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)


def anchor_recall(boxes: np.ndarray, sizes: tuple[float, ...], ratios: tuple[float, ...], image_size: int,
                  strides: tuple[int, ...], iou: float = 0.5) -> float:
    """Share of ``boxes`` (model-input pixels) whose best anchor on the grid(s) reaches ``iou``.

    ``strides``: one map (every size on it) or one per size (FPN: size ``i`` on map ``i``).
    """
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    if len(boxes) == 0:
        return float("nan")
    if len(strides) == 1:
        anchors = grid_anchors(sizes, ratios, image_size, strides[0])
    else:
        anchors = torch.cat([grid_anchors((s,), ratios, image_size, st) for s, st in zip(sizes, strides)])
    best = torch.zeros(len(boxes))
    for chunk in torch.split(anchors, 20_000):
        best = torch.maximum(best, box_iou(boxes, chunk).max(dim=1).values)
    return float((best >= iou).float().mean())


def resolve_anchors(anchor_sizes, aspect_ratios, image_size: int, n_sizes: int = 5,
                    boxes: np.ndarray | None = None, one_per_level: bool = False) -> Anchors:
    """Turn ``model.anchor_sizes`` / ``model.aspect_ratios`` into numbers (see the module docstring).

    ``boxes`` (training boxes, model-input pixels) are needed for ``"auto"`` only; ``one_per_level``
    (FPN: one size per pyramid level) makes ``"auto"`` return exactly ``n_sizes`` sizes.
    """
    if anchor_sizes == "scaled":
        return Anchors(scaled_sizes(image_size), tuple(aspect_ratios), "scaled")
    if anchor_sizes == "auto":
        if boxes is None:
            raise InputError("model.anchor_sizes=auto is fitted to the training boxes by `mdfnet train`; "
                             "to build a model directly give sizes (e.g. [8, 16, 32, 64, 128]) or 'scaled'")
        sizes, ratios = fit_anchors(boxes, n_sizes)
        if one_per_level:  # a pyramid needs exactly n_sizes: boxes of few distinct sizes get the next octaves
            sizes = tuple(sorted(sizes)) + tuple(_round(max(sizes) * 2 ** i) for i in range(1, n_sizes - len(sizes) + 1))
        return Anchors(sizes, ratios, "auto")
    if isinstance(anchor_sizes, str):
        raise InputError(f"model.anchor_sizes={anchor_sizes!r}: expected 'scaled', 'auto' or a list of sizes in px")
    return Anchors(tuple(anchor_sizes), tuple(aspect_ratios), "explicit")


def _round(x: float) -> float:
    """Whole pixels where that is exact enough (8.0 -> 8), else 0.1 px."""
    r = round(float(x), 1)
    return int(r) if r == int(r) else r
