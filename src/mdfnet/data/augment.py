"""Training-time augmentation beyond the authors' flip: image jitter that moves boxes with the pixels, and
clinical jitter that stops a model from recognising a patient by their exact vitals.

Why: at the ``fast`` budget a detector memorises the few hundred training radiographs (train AP far above
test AP), and a fused model can also memorise the patients through their exact vitals. Each epoch should show
a slightly different view of every image and of every clinical record.

* :class:`Jitter` (``data.scale_jitter``, ``data.shift_jitter``, ``data.intensity_jitter``): zoom about the
  centre by a factor drawn from U(1 - s, 1 + s), shift by U(-t, t) of the side in x and y (pixels leaving the
  frame are lost, those entering are black), then gamma exp(U(-i, i)) and contrast U(1 - i, 1 + i) about the
  image mean. Boxes take the same zoom and shift and are clipped to the frame; a box with less than
  :data:`MIN_VISIBLE` of its area left inside is dropped together with its label (the finding left the image).
* :class:`ClinicalJitter` (``data.clinical_noise``, ``data.clinical_dropout``): each value, numeric or
  categorical, goes missing (NaN, as the cohort codes a missing value) with probability ``dropout``; each
  numeric value that is present gets Gaussian noise of ``noise`` times its train-split standard deviation.
  ``data.clinical_record_dropout``: the whole record goes missing with that probability (modality dropout),
  so that the image path also learns to stand alone instead of leaning on the record, which in a few hundred
  training patients can single each of them out.

Every draw comes from torch's global generator, like the flip, so ``torch.manual_seed`` and the DataLoader's
worker seeding make an epoch reproducible. Nothing here runs outside training: evaluation and prediction
read the images and values as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

MIN_VISIBLE = 0.25  # fraction of a moved box's area that must stay in the frame for the box to be kept


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(()).uniform_(low, high)) if high > low else low


@dataclass(frozen=True)
class Jitter:
    """Image jitter; every amount 0 = off. ``scale`` and ``shift`` in [0, 0.5), ``intensity`` in [0, 1)."""

    scale: float = 0.0
    shift: float = 0.0
    intensity: float = 0.0

    @property
    def active(self) -> bool:
        return self.scale > 0 or self.shift > 0 or self.intensity > 0

    def __call__(self, grey: torch.Tensor, boxes: torch.Tensor,
                 labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``grey`` float [S, S] in 0..1, ``boxes`` float [K, 4] xyxy in pixels, ``labels`` [K] ->
        the jittered image, the boxes that stay in view and their labels."""
        if self.scale > 0 or self.shift > 0:
            size = grey.shape[-1]
            zoom = _uniform(1 - self.scale, 1 + self.scale)
            dx, dy = (_uniform(-self.shift, self.shift) * size for _ in range(2))
            grey = zoom_and_shift(grey, zoom, dx, dy)
            boxes, labels = move_boxes(boxes, labels, zoom, dx, dy, size)
        if self.intensity > 0:
            gamma = torch.exp(torch.empty(()).uniform_(-self.intensity, self.intensity))
            contrast = _uniform(1 - self.intensity, 1 + self.intensity)
            grey = grey.clamp(0, 1) ** gamma
            mean = grey.mean()
            grey = ((grey - mean) * contrast + mean).clamp(0, 1)
        return grey, boxes, labels


def zoom_and_shift(grey: torch.Tensor, zoom: float, dx: float, dy: float) -> torch.Tensor:
    """The image [S, S] zoomed by ``zoom`` about its centre, then moved by (dx, dy) pixels; black outside.

    A point at pixel coordinate x (0..S, pixel edges) lands at ``(x - S/2) * zoom + S/2 + dx``.
    """
    size = grey.shape[-1]
    # affine_grid maps each output position to where it samples the input, in [-1, 1] units
    theta = torch.tensor([[1 / zoom, 0.0, -2 * dx / size / zoom],
                          [0.0, 1 / zoom, -2 * dy / size / zoom]], dtype=grey.dtype)
    grid = F.affine_grid(theta[None], [1, 1, size, size], align_corners=False)
    return F.grid_sample(grey[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0]


def move_boxes(boxes: torch.Tensor, labels: torch.Tensor, zoom: float, dx: float, dy: float,
               size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes [K, 4] under :func:`zoom_and_shift`'s map, clipped to the frame; boxes with less than
    :data:`MIN_VISIBLE` of their area inside are dropped with their labels."""
    centre = size / 2
    moved = (boxes - centre) * zoom + centre + torch.tensor([dx, dy, dx, dy], dtype=boxes.dtype)
    clipped = moved.clamp(0, size)
    area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (inside > 0) & (inside >= MIN_VISIBLE * area)
    return clipped[keep], labels[keep]


@dataclass(frozen=True)
class ClinicalJitter:
    """Clinical jitter for one cohort: ``std`` [N_numeric] is the train split's standard deviation of the
    leading numeric columns (:func:`mdfnet.model.fit_statistics`); ``noise`` in sd units, ``dropout`` (each
    value) and ``record_dropout`` (the whole record) probabilities in [0, 1)."""

    noise: float
    dropout: float
    std: torch.Tensor
    record_dropout: float = 0.0

    @property
    def active(self) -> bool:
        return self.noise > 0 or self.dropout > 0 or self.record_dropout > 0

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """One reading's clinical vector [F] (NaN = missing) -> a jittered copy."""
        if self.record_dropout > 0 and torch.rand(()) < self.record_dropout:
            return torch.full_like(values, float("nan"))
        values = values.clone()
        numeric = len(self.std)
        if self.noise > 0:
            values[:numeric] += torch.randn(numeric) * self.noise * self.std
        if self.dropout > 0:
            values[torch.rand(len(values)) < self.dropout] = float("nan")
        return values
