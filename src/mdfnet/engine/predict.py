"""Prediction on new radiographs with their clinical values, from a trained checkpoint.

    >>> predictor = Predictor("runs/mdf/best.pt")
    >>> result = predictor.predict("cxr.jpg", {"age": 71, "temperature": 101.3, "gender": "M"})
    >>> result["detections"][0]
    {'category_id': 4, 'label': 'Consolidation', 'score': 0.81, 'bbox': [412.0, 880.5, 491.2, 422.2],
     'box': [412.0, 880.5, 903.2, 1302.7]}

Boxes are in the original image's pixels: COCO ``bbox`` (xywh) and ``box`` (xyxy). Features left out are missing (NaN) and reported in
``result["missing"]``; the model's encoder handles them as in training (train mean, plus an explicit
indicator in the presets that have one). Feature names and classes are the checkpoint's schema
(:mod:`mdfnet.feature_schema`): MIMIC's above, or those of a cohort prepared with ``--coco``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch

from mdfnet.data.images import is_dicom, load_resized
from mdfnet.engine.checkpoint import model_from_checkpoint
from mdfnet.engine.runtime import pick_device
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.schema import CLINICAL_FEATURES, GENDER_CODES, NUMERIC_FEATURES


def clinical_row(values: Mapping[str, object], source: str = "clinical values",
                 schema: CohortSchema | None = None) -> tuple[torch.Tensor, list[str]]:
    """``{"age": 71, "gender": "M", ...}`` -> (float32 ``[10]`` with NaN for missing, missing names).

    With another ``schema`` than MIMIC's, its features: :meth:`CohortSchema.encode_values`.
    """
    if schema is not None and schema != MIMIC_SCHEMA:
        return schema.encode_values(values, source)
    unknown = sorted(set(values) - set(CLINICAL_FEATURES))
    if unknown:
        raise InputError(f"{source}: unknown feature(s) {unknown}; expected some of {list(CLINICAL_FEATURES)}")
    row = torch.full((len(CLINICAL_FEATURES),), float("nan"))
    for i, name in enumerate(NUMERIC_FEATURES):
        value = values.get(name)
        if _blank(value):
            continue
        try:
            row[i] = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{source}: {name}={value!r} is not a number") from None
    gender = values.get("gender")
    if not _blank(gender):
        code = str(gender).strip().upper()[:1]
        if code not in GENDER_CODES:
            raise InputError(f"{source}: gender={gender!r}; expected F or M")
        row[-1] = GENDER_CODES[code]
    missing = [name for name, v in zip(CLINICAL_FEATURES, row.tolist()) if math.isnan(v)]
    return row, missing


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def original_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding pixels."""
    if is_dicom(path):
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True)
        return int(ds.Columns), int(ds.Rows)
    from PIL import Image

    with Image.open(path) as image:
        return image.size


class Predictor:
    """A trained model ready for new images; ``predict`` takes one image and its clinical values."""

    def __init__(self, checkpoint: str | Path, device: str = "auto") -> None:
        self.device = pick_device(device)
        self.model, self.config = model_from_checkpoint(checkpoint, self.device)
        self.size = self.config.model.image_size

    @torch.no_grad()
    def predict(self, image_path: str | Path, clinical: Mapping[str, object] | None = None) -> dict:
        image = load_resized(image_path, self.size)
        row, missing = clinical_row(clinical or {}, source=str(image_path), schema=self.model.schema)
        width, height = original_size(image_path)
        tensor = torch.from_numpy(image)[None].expand(3, -1, -1).to(self.device)
        output = self.model([tensor], row[None].to(self.device))[0]
        scale = torch.tensor([width, height, width, height]) / self.size
        detections = []
        for box, label, score in zip(output["boxes"].cpu() * scale, output["labels"], output["scores"]):
            x1, y1, x2, y2 = (round(v, 1) for v in box.tolist())
            detections.append({"category_id": int(label), "label": self.model.schema.classes[int(label) - 1],
                               "score": round(float(score), 4), "bbox": [x1, y1, round(x2 - x1, 1),
                               round(y2 - y1, 1)], "box": [x1, y1, x2, y2]})
        uses_clinical = self.model.uses_clinical
        used = self.model.clinical_encoder.features if uses_clinical else ()
        return {"image": str(image_path), "width": width, "height": height, "detections": detections,
                "missing": [m for m in missing if m in used], "variant": self.config.model.variant}


def overlay(result: dict, path: str | Path) -> Path:
    """Draw the predicted boxes, class names and scores on the image."""
    from mdfnet.report.figures import overlay_png

    preds = [(d["label"], d["score"], d["box"]) for d in result["detections"]]
    return overlay_png(result["image"], [], preds, Path(path))
