"""Checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``.

A checkpoint holds everything prediction needs (the resolved config, the class names, the cohort's schema
of classes and clinical features, the anchors in pixels, the model's state dict, which includes the clinical
scaler fitted on train, and the train split's clinical medians that explanations compare with; checkpoints
written before the medians were stored lack them, and those written before schemas existed are MIMIC's),
for a fine-tuned run where its weights started (``init_from``), and,
for ``last.pt``, what resuming needs (optimizer, scheduler, epoch, best validation score, epoch history).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from mdfnet.config import Config, config_from_dict
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.model import build_from_config
from mdfnet.model.anchors import Anchors
from mdfnet.schema import NUMERIC_FEATURES

CLINICAL_MEDIAN_KEY = "clinical_median"  # [9] floats in NUMERIC_FEATURES order, NaN where train had none
INIT_FROM_KEY = "init_from"  # a fine-tuned run's source (mdfnet.engine.finetune.lineage); absent otherwise


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg: Config, *,
                    clinical_median: list[float] | None = None, **extra: Any) -> None:
    """Write ``path`` atomically: a crash mid-write never leaves a truncated checkpoint behind."""
    path = Path(path)
    schema = getattr(model, "schema", MIMIC_SCHEMA)
    payload = {"config": cfg.to_dict(), "classes": list(schema.classes), "schema": schema.to_dict(),
               "model": model.state_dict(), **extra}
    if getattr(model, "anchors", None) is not None:
        payload["anchors"] = {"sizes": list(model.anchors.sizes), "ratios": list(model.anchors.ratios),
                              "mode": model.anchors.mode}
    if clinical_median is not None:
        payload[CLINICAL_MEDIAN_KEY] = [float(v) for v in clinical_median]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle/zip errors of many kinds: all mean "not a checkpoint"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]  # one line: torch's can run to ten
        raise InputError(f"{path} is not a readable mdfnet checkpoint: {first}") from err


def model_from_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, Config]:
    """Rebuild the trained model (in eval mode) and its config from a checkpoint file: the detector
    (``model.detector``), variant and anchors it was trained with."""
    return model_from_state(load_checkpoint(path, map_location), map_location)


def clinical_medians(state: dict[str, Any]) -> torch.Tensor | None:
    """The train split's medians ``[9]`` stored in a loaded checkpoint, or None for an older checkpoint."""
    medians = state.get(CLINICAL_MEDIAN_KEY)
    if medians is None or len(medians) != len(NUMERIC_FEATURES):
        return None
    return torch.tensor([float(v) for v in medians], dtype=torch.float32)


def model_from_state(state: dict[str, Any], map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, Config]:
    """Rebuild the trained model (in eval mode) and its config from a loaded checkpoint."""
    cfg = config_from_dict(state["config"])
    cfg.model.pretrained_backbone = None  # the weights come from the checkpoint
    # checkpoints written before schemas existed are MIMIC's
    schema = CohortSchema.from_dict(state["schema"], "checkpoint schema") if "schema" in state else MIMIC_SCHEMA
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no pretrained weights")
        model = build_from_config(cfg.model, anchors_from_checkpoint(state), schema)
    model.load_state_dict(state["model"])
    return model.to(map_location).eval(), cfg


def anchors_from_checkpoint(state: dict[str, Any]) -> Anchors | None:
    """The anchors a checkpoint was trained with (None for checkpoints older than that field: the config's)."""
    saved = state.get("anchors")
    return None if saved is None else Anchors(tuple(saved["sizes"]), tuple(saved["ratios"]), saved.get("mode", ""))
