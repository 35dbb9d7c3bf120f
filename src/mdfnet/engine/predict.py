"""Prediction on new radiographs with their clinical values, from a trained checkpoint.

    >>> predictor = Predictor("runs/mdf/best.pt")
    >>> result = predictor.predict("cxr.jpg", {"age": 71, "temperature": 101.3, "gender": "M"})
    >>> result["detections"][0]
    {'category_id': 4, 'label': 'Consolidation', 'score': 0.81, 'bbox': [412.0, 880.5, 491.2, 422.2],
     'box': [412.0, 880.5, 903.2, 1302.7]}

Boxes are in the original image's pixels: COCO ``bbox`` (xywh) and ``box`` (xyxy). The clinical values go
through ``prepare``'s cleaning rules (:func:`mdfnet.data.clean.clean_values`: Celsius temperatures converted,
impossible values made missing), and every value a rule changed is listed in ``result["cleaned"]`` with the
reason (and in ``result["notes"]``). Features left out or made missing are NaN and reported in
``result["missing"]``; the model's encoder handles them as in training (train mean, plus an explicit
indicator in the presets that have one). ``result["ignored"]`` lists entered values this model does not
read. The page (``mdfnet serve``) is stricter: a person at a form is told, so a value ``prepare`` would
drop is an ``InputError`` there (``strict=True``). With ``predict(..., explain=True)`` each detection
carries ``effects`` (:mod:`mdfnet.engine.explain`). Feature names and classes are the checkpoint's schema
(:mod:`mdfnet.feature_schema`): MIMIC's above, or those of a cohort prepared with ``--coco`` (whose values are
coded as-is, without MIMIC's cleaning rules, and which has no explanations yet).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch

from mdfnet.data.clean import check_value, clean_values
from mdfnet.data.images import is_dicom, load_resized
from mdfnet.engine.checkpoint import clinical_medians, load_checkpoint, model_from_state
from mdfnet.engine.explain import explain_image, reference_values
from mdfnet.engine.runtime import pick_device
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.schema import CLINICAL_FEATURES, GENDER_CODES, NUMERIC_FEATURES


@dataclass
class ClinicalInput:
    """Parsed clinical values: ``row`` float32 ``[10]`` (NaN = missing), the names left ``missing``, the
    values a cleaning rule changed (``cleaned``, :func:`mdfnet.data.clean.clean_values`) and ``notes`` in words."""

    row: torch.Tensor
    missing: list[str]
    notes: list[str]
    cleaned: list[dict]


class ClinicalRow(NamedTuple):
    """One person's clinical values ready for the model."""

    values: torch.Tensor   # float32 [10] in CLINICAL_FEATURES order, NaN = missing, gender 0 = F / 1 = M
    missing: list[str]     # the features that are NaN
    cleaned: list[dict]    # the values a cleaning rule changed, and why (mdfnet.data.clean.clean_values)


def parse_clinical(values: Mapping[str, object], source: str = "clinical values",
                   strict: bool = False, schema: CohortSchema | None = None) -> ClinicalInput:
    """``{"age": 71, "gender": "M", ...}`` -> :class:`ClinicalInput`, cleaned as ``prepare`` cleans.

    A value that is not a number is an ``InputError`` (a person typed it). A number ``prepare`` would change
    is changed the same way and listed in ``cleaned``; with ``strict`` (the page), a number ``prepare`` would
    make missing is an ``InputError`` naming the feature, the value and the range instead. With another
    ``schema`` than MIMIC's (a ``--coco`` cohort), its features, uncleaned: :meth:`CohortSchema.encode_values`.
    """
    if schema is not None and schema != MIMIC_SCHEMA:
        row, missing = schema.encode_values(values, source)
        return ClinicalInput(row, missing, [], [])
    unknown = sorted(set(values) - set(CLINICAL_FEATURES))
    if unknown:
        raise InputError(f"{source}: unknown feature(s) {unknown}; expected some of {list(CLINICAL_FEATURES)}")
    numbers, checked = {}, []
    for name in NUMERIC_FEATURES:
        value = values.get(name)
        if _blank(value):
            continue
        try:
            number = float(value)  # text with spaces around a number reads as that number
        except (TypeError, ValueError):
            raise InputError(f"{source}: {name}={value!r} is not a number") from None
        if not math.isfinite(number):
            raise InputError(f"{source}: {name}={value!r} is not a number")
        if strict:  # raises for what prepare would drop; notes a unit conversion
            checked.append(check_value(name, number, source)[1])
        numbers[name] = number
    clean, cleaned = clean_values(numbers)
    row = torch.tensor([clean[name] for name in NUMERIC_FEATURES] + [float("nan")], dtype=torch.float32)
    notes = [n for n in checked if n] if strict else [f"{c['feature']}: {c['reason']}" for c in cleaned]
    gender = values.get("gender")
    if not _blank(gender):
        code = str(gender).strip().upper()[:1]
        if code not in GENDER_CODES:
            raise InputError(f"{source}: gender={gender!r}; expected F or M")
        row[-1] = GENDER_CODES[code]
    missing = [name for name, v in zip(CLINICAL_FEATURES, row.tolist()) if math.isnan(v)]
    return ClinicalInput(row, missing, notes, cleaned)


def clinical_row(values: Mapping[str, object], source: str = "clinical values",
                 schema: CohortSchema | None = None) -> ClinicalRow:
    """``{"age": 71, "gender": "M", ...}`` -> the model's ``[10]`` row (``[F]`` for another ``schema``), its
    missing names and what was cleaned."""
    parsed = parse_clinical(values, source, schema=schema)
    return ClinicalRow(parsed.row, parsed.missing, parsed.cleaned)


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


@dataclass
class Radiograph:
    """An image read for the model: ``pixels`` float32 ``[S, S]`` in 0..1 and the file's own size."""

    path: str
    pixels: torch.Tensor
    width: int
    height: int


class Predictor:
    """A trained model ready for new images; ``predict`` takes one image and its clinical values.

    The model is loaded once; ``predict`` may be called from several threads (the model runs one image at
    a time, since torch already spreads one image over the cores; reading files runs in parallel).
    """

    def __init__(self, checkpoint: str | Path, device: str = "auto") -> None:
        self.device = pick_device(device)
        state = load_checkpoint(checkpoint, self.device)
        self.model, self.config = model_from_state(state, self.device)
        self.medians = clinical_medians(state)  # None for checkpoints written before they were stored
        self.size = self.config.model.image_size
        self.features = self.model.clinical_encoder.features if self.model.uses_clinical else ()
        self._lock = threading.Lock()

    def read(self, image_path: str | Path) -> Radiograph:
        """Read and resize a JPG/PNG/DICOM; ``InputError`` names the file when it is not a readable image."""
        pixels = torch.from_numpy(load_resized(image_path, self.size))
        width, height = original_size(image_path)
        return Radiograph(str(image_path), pixels, width, height)

    def predict(self, image_path: str | Path, clinical: Mapping[str, object] | None = None, *,
                explain: bool = False) -> dict:
        """Detections on one image (see the module docstring); with ``explain``, each detection also carries
        ``effects``: the change of its score when each entered value is left out or set to the train
        median (:mod:`mdfnet.engine.explain`)."""
        return self.predict_radiograph(self.read(image_path), clinical, explain=explain)

    def predict_radiograph(self, radiograph: Radiograph, clinical: Mapping[str, object] | None = None, *,
                           explain: bool = False, source: str | None = None, strict: bool = False) -> dict:
        """:meth:`predict` on an image already read with :meth:`read`; ``source`` names it in errors,
        ``strict`` refuses values ``prepare`` would drop (:func:`parse_clinical`)."""
        schema = self.model.schema
        if explain and schema != MIMIC_SCHEMA:
            raise InputError("explanations read MIMIC's clinical features; this model's cohort has its own "
                             f"({', '.join(schema.names)}): leave out explain")
        parsed = parse_clinical(clinical or {}, source=source or radiograph.path, strict=strict, schema=schema)
        tensor = radiograph.pixels[None].expand(3, -1, -1).to(self.device)
        with self._lock, torch.no_grad():
            if explain:
                output, effects = explain_image(self.model, tensor, parsed.row.to(self.device), self.medians)
            else:
                output = self.model([tensor], parsed.row[None].to(self.device))[0]
        width, height = radiograph.width, radiograph.height
        scale = torch.tensor([width, height, width, height]) / self.size
        detections = []
        for box, label, score in zip(output["boxes"].cpu() * scale, output["labels"], output["scores"]):
            x1, y1, x2, y2 = (round(v, 1) for v in box.tolist())
            detections.append({"category_id": int(label), "label": self.model.schema.classes[int(label) - 1],
                               "score": round(float(score), 4), "bbox": [x1, y1, round(x2 - x1, 1),
                               round(y2 - y1, 1)], "box": [x1, y1, x2, y2]})
        result = {"image": radiograph.path, "width": width, "height": height, "detections": detections,
                  "missing": [m for m in parsed.missing if m in self.features],
                  "ignored": [f for f in schema.names if f not in parsed.missing and f not in self.features],
                  "notes": parsed.notes, "cleaned": [c for c in parsed.cleaned if c["feature"] in self.features],
                  "variant": self.config.model.variant,
                  "detector": self.config.model.detector}
        if explain:
            for detection, effect in zip(detections, effects):
                detection["effects"] = effect
            result["explanation"] = {
                "values": {f: _entered(f, v) for f, v in zip(CLINICAL_FEATURES, parsed.row.tolist())
                           if f in self.features and not math.isnan(v)},
                "references": reference_values(self.medians),
                "effect": "score as entered minus score with the value replaced (0 if the finding is gone); "
                          "> 0: the value raised the score",
            }
        return result


def _entered(feature: str, value: float) -> float | str:
    if feature == "gender":
        return next(code for code, v in GENDER_CODES.items() if v == value)
    return round(value, 2)


def overlay(result: dict, path: str | Path) -> Path:
    """Draw the predicted boxes, class names and scores on the image."""
    from mdfnet.report.figures import overlay_png

    preds = [(d["label"], d["score"], d["box"]) for d in result["detections"]]
    return overlay_png(result["image"], [], preds, Path(path))
