"""The torch Dataset over one split of a cohort folder: image + clinical values + detection target.

Each item is ``(image, clinical, target)``:

* ``image``: float32 ``[3, S, S]`` in 0..1 (grey replicated, resized straight to S x S).
* ``clinical``: float32 ``[F]``, one column per feature of the cohort's schema, raw-clean, NaN = missing
  (:mod:`mdfnet.feature_schema`; MIMIC: ``[10]`` in :data:`mdfnet.schema.CLINICAL_FEATURES` order, gender
  0 = F / 1 = M). Scaling happens inside the model, fitted on train only.
* ``target``: ``boxes`` float32 ``[K, 4]`` xyxy in resized pixels, ``labels`` int64 ``[K]`` in 1..C (the
  schema's classes),
  ``image_id`` int64 scalar, and ``masks`` uint8 ``[K, S, S]`` when ``masks`` is "box" or "ellipse".

Augmentation (``train=True`` only): horizontal flip with probability ``hflip_p``, applied to the image and
its boxes together, then the optional image jitter (zoom, shift, intensity) and clinical jitter (noise,
dropout) of :mod:`mdfnet.data.augment`; all drawn from torch's generator so ``torch.manual_seed`` and worker
seeding apply.
Ground truth for evaluation is read from ``boxes.csv`` (:func:`mdfnet.data.cohort.load_cohort`), never
from an augmented item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from mdfnet.data.augment import ClinicalJitter, Jitter
from mdfnet.data.cohort import load_cohort, load_schema
from mdfnet.data.images import load_resized
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.schema import SPLITS

MASK_KINDS = (None, "box", "ellipse")


def clinical_tensor(frame: pd.DataFrame, schema: CohortSchema | None = None) -> torch.Tensor:
    """float32 [N, F] from a cohort frame, coded by ``schema`` (default MIMIC: the nine numbers, then gender
    coded 0 = F, 1 = M; NaN = missing)."""
    return torch.from_numpy((schema or MIMIC_SCHEMA).encode_frame(frame))


class CohortDataset(Dataset):
    """One split of a cohort (see the module docstring for the items).

    Args:
        cohort: a cohort folder, or ``(cohort_df, boxes_df)`` as returned by ``load_cohort``.
        split: "train", "val", "test", or None for every reading.
        image_size: S, the side of the square image.
        train: apply augmentation (horizontal flip, and the jitters below).
        hflip_p: flip probability when ``train``.
        jitter: image jitter when ``train`` (:class:`~mdfnet.data.augment.Jitter`; default off).
        clinical_jitter: clinical jitter when ``train`` (:class:`~mdfnet.data.augment.ClinicalJitter`, built
            from the train split's statistics; default off).
        masks: None, "box" (filled rectangles, the authors' choice) or "ellipse" (the inscribed ellipse).
        schema: how to code the clinical columns and the classes (a trained model's ``schema``); default:
            the folder's own, or MIMIC's for frames.
    """

    def __init__(self, cohort: str | Path | tuple[pd.DataFrame, pd.DataFrame], split: str | None,
                 image_size: int = 512, train: bool = False, hflip_p: float = 0.5, masks: str | None = None,
                 schema: CohortSchema | None = None, jitter: Jitter | None = None,
                 clinical_jitter: ClinicalJitter | None = None):
        if masks not in MASK_KINDS:
            raise InputError(f"masks must be one of None, 'box', 'ellipse', got {masks!r}")
        if split is not None and split not in SPLITS:
            raise InputError(f"split must be one of {', '.join(SPLITS)} (or None), got {split!r}")
        frame, boxes = load_cohort(cohort) if isinstance(cohort, (str, Path)) else cohort
        if schema is None:
            schema = load_schema(cohort) if isinstance(cohort, (str, Path)) else MIMIC_SCHEMA
        self.schema = schema
        if "image_id" not in frame:
            frame = frame.assign(image_id=np.arange(1, len(frame) + 1))
        self.frame = (frame if split is None else frame[frame["split"] == split]).reset_index(drop=True)
        self.image_size, self.train, self.hflip_p, self.masks = int(image_size), bool(train), float(hflip_p), masks
        self.jitter, self.clinical_jitter = jitter, clinical_jitter
        self.clinical = clinical_tensor(self.frame, schema) if len(self.frame) else torch.zeros(0, schema.width)
        self._boxes = _boxes_by_reading(boxes, schema.class_to_id)

    def __len__(self) -> int:
        return len(self.frame)

    def resized_boxes(self) -> np.ndarray:
        """Every ground-truth box of the split in model-input pixels (S x S, no augmentation), ``[K, 4]`` xyxy."""
        sizes = self.frame.set_index("reading_id")[["image_width", "image_height"]]
        out = [np.zeros((0, 4), np.float32)]
        for reading_id, (xyxy, _labels) in self._boxes.items():
            if reading_id in sizes.index:
                width, height = sizes.loc[reading_id]
                scale = np.array([self.image_size / width, self.image_size / height] * 2, dtype=np.float32)
                out.append(np.clip(xyxy * scale, 0, self.image_size))
        return np.concatenate(out)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        row = self.frame.iloc[index]
        size = self.image_size
        grey = torch.from_numpy(load_resized(row["image_path"], size))
        xyxy, labels = self._boxes.get(row["reading_id"], (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)))
        scale = np.array([size / row["image_width"], size / row["image_height"]] * 2, dtype=np.float32)
        boxes = torch.from_numpy((xyxy * scale).astype(np.float32)).clamp_(0, size)
        if self.train and torch.rand(()) < self.hflip_p:
            grey = grey.flip(-1)
            boxes = torch.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], dim=1)
        labels = torch.from_numpy(labels.copy())
        clinical = self.clinical[index].clone()
        if self.train and self.jitter is not None and self.jitter.active:
            grey, boxes, labels = self.jitter(grey, boxes, labels)
        if self.train and self.clinical_jitter is not None and self.clinical_jitter.active:
            clinical = self.clinical_jitter(clinical)
        target = {"boxes": boxes, "labels": labels, "image_id": torch.tensor(int(row["image_id"]), dtype=torch.int64)}
        if self.masks is not None:
            target["masks"] = box_masks(boxes, size, ellipse=self.masks == "ellipse")
        return grey.unsqueeze(0).expand(3, size, size).contiguous(), clinical, target


def box_masks(boxes: torch.Tensor, size: int, ellipse: bool = False) -> torch.Tensor:
    """uint8 [K, size, size]: each box filled (or its inscribed ellipse); at least the centre pixel is set."""
    masks = torch.zeros((len(boxes), size, size), dtype=torch.uint8)
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    for k, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        inside_x = (centres >= x0) & (centres <= x1)
        inside_y = (centres >= y0) & (centres <= y1)
        if ellipse:
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 1e-6), max((y1 - y0) / 2, 1e-6)
            dx, dy = ((centres - cx) / rx) ** 2, ((centres - cy) / ry) ** 2
            masks[k] = (dy[:, None] + dx[None, :] <= 1.0).to(torch.uint8)
        else:
            masks[k] = (inside_y[:, None] & inside_x[None, :]).to(torch.uint8)
        row, col = min(int((y0 + y1) / 2), size - 1), min(int((x0 + x1) / 2), size - 1)
        masks[k, row, col] = 1
    return masks


def collate(batch: list) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Stack a list of items into (images [N, 3, S, S], clinical [N, F], targets list of N dicts)."""
    images, clinical, targets = zip(*batch)
    return torch.stack(images), torch.stack(clinical), list(targets)


def _boxes_by_reading(boxes: pd.DataFrame, class_to_id: dict[str, int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """reading_id -> (xyxy float32 [K, 4] in original pixels, labels int64 [K])."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if boxes.empty:
        return out
    coords = boxes[["xmin", "ymin", "xmax", "ymax"]].to_numpy(dtype=np.float32)
    ids = boxes["label"].map(class_to_id).to_numpy(dtype=np.int64)
    for reading_id, rows in boxes.groupby("reading_id", sort=False).indices.items():
        out[str(reading_id)] = (coords[rows], ids[rows])
    return out
