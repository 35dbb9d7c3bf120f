"""Checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``.

A checkpoint holds everything prediction needs (the resolved config, the class names, the cohort's
schema of classes and clinical features, the model's state dict, which includes the clinical scaler
fitted on train) and, for ``last.pt``, what resuming
needs (optimizer, scheduler, epoch, best validation score, epoch history).
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
from mdfnet.model import MDFNet, build_from_config


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg: Config, **extra: Any) -> None:
    """Write ``path`` atomically: a crash mid-write never leaves a truncated checkpoint behind."""
    path = Path(path)
    schema = getattr(model, "schema", MIMIC_SCHEMA)
    payload = {"config": cfg.to_dict(), "classes": list(schema.classes), "schema": schema.to_dict(),
               "model": model.state_dict(), **extra}
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
        raise InputError(f"{path} is not a readable mdfnet checkpoint: {err}") from err


def model_from_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[MDFNet, Config]:
    """Rebuild the trained model (in eval mode) and its config from a checkpoint file."""
    state = load_checkpoint(path, map_location)
    cfg = config_from_dict(state["config"])
    cfg.model.pretrained_backbone = None  # the weights come from the checkpoint
    # checkpoints written before schemas existed are MIMIC's
    schema = CohortSchema.from_dict(state["schema"], f"{path}: schema") if "schema" in state else MIMIC_SCHEMA
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no pretrained weights")
        model = build_from_config(cfg.model, schema)
    model.load_state_dict(state["model"])
    return model.to(map_location).eval(), cfg
