"""Fine-tuning: start a run from another run's network weights (``train.init_from=RUN/best.pt``)::

    mdfnet train --cohort NEW_COHORT --out runs/tuned train.init_from=runs/mdf/best.pt train.lr=1e-4

Only the network's weights travel. The new run has its own optimiser, learning-rate schedule and epochs
(from 1); its clinical standardisation (mean and std) and the medians explanations compare with are refitted
on its own train split; its anchors are the checkpoint's, in pixels (they are part of the network). ``--resume``
of such a run continues from its own ``last.pt``: ``init_from`` only starts it.

The checkpoint must describe the network this run builds. :func:`check_architecture` compares the settings of
:data:`ARCHITECTURE` that the checkpoint's network reads, then the classes, then the clinical features, and
names the first that differs::

    runs/base/best.pt: model.variant: checkpoint has 'baseline', this run has 'mdf' (train.init_from needs
    the same network)

``model.image_size`` may differ (convolutions run at any size) as long as the weights still fit; the
``paper`` spatialiser's depth is log2 of the image size, so with it the size must stay.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from mdfnet.config import DETECTOR_SETTINGS, Config, ModelConfig, config_from_dict
from mdfnet.engine.checkpoint import load_checkpoint
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.model import FUSIONS, VARIANTS

# The model settings that shape the network or the meaning of its weights, in the order they are compared.
# The rest (proposal counts, NMS and score thresholds, detections per image, pretrained_backbone) may differ.
ARCHITECTURE: tuple[str, ...] = (
    "variant", "detector", "backbone", "fpn", "feature_stride", "out_channels", "fusion", "spatialiser",
    "fusion_1d", "clinical_features", "clinical_dim", "missing_indicators", "mask_head", "box_head_dim",
    "anchor_sizes", "aspect_ratios", "loss_weighting",
)
_NEEDS = " (train.init_from needs the same network)"


def source_checkpoint(cfg: Config, schema: CohortSchema) -> dict[str, Any] | None:
    """The loaded ``train.init_from`` checkpoint, checked against this run's network (``cfg`` with its
    clinical features spelled out, ``schema`` the cohort's); None without ``init_from``."""
    if cfg.train.init_from is None:
        return None
    path = Path(cfg.train.init_from).expanduser()
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not {"config", "model"} <= set(state):
        raise InputError(f"{path}: not a checkpoint written by `mdfnet train` (it has no 'config' and 'model'); "
                         "train.init_from needs one, e.g. RUN/best.pt")
    check_architecture(state, cfg, schema, str(path))
    return state


def check_architecture(state: dict[str, Any], cfg: Config, schema: CohortSchema, where: str = "checkpoint") -> None:
    """Raise :class:`InputError` naming the first setting, the classes or the clinical features where the
    checkpoint ``state``'s network differs from the one ``cfg`` builds on ``schema``."""
    saved = CohortSchema.from_dict(state["schema"], f"{where}: schema") if "schema" in state else MIMIC_SCHEMA
    theirs, mine = config_from_dict(state["config"]).model, cfg.model
    theirs.clinical_features = saved.select(theirs.clinical_features)  # None = all of the checkpoint's
    for key in ARCHITECTURE:
        if _reads(theirs, key) and getattr(theirs, key) != getattr(mine, key):
            raise InputError(f"{where}: model.{key}: checkpoint has {getattr(theirs, key)!r}, "
                             f"this run has {getattr(mine, key)!r}{_NEEDS}")
    if saved.classes != schema.classes:
        raise InputError(f"{where}: classes: checkpoint has {list(saved.classes)}, this run's cohort has "
                         f"{list(schema.classes)}{_NEEDS}")
    if mine.variant != "baseline":  # the image-only network reads no clinical value
        _check_features(saved, schema, where)


def _reads(model: ModelConfig, key: str) -> bool:
    """Whether the network ``model`` describes reads setting ``key`` (a baseline has no fusion, FCOS no anchors)."""
    variant = VARIANTS[model.variant]
    if key in DETECTOR_SETTINGS:
        return model.detector in DETECTOR_SETTINGS[key]
    if key == "feature_stride":
        return not model.fpn
    if key == "fusion":
        return variant.fuse_3d
    if key == "spatialiser":
        return variant.fuse_3d and FUSIONS[model.fusion].uses_clinical_map
    if key == "fusion_1d":
        return variant.fuse_1d
    if key in ("clinical_features", "clinical_dim", "missing_indicators"):
        return variant.fuse_1d or variant.fuse_3d
    return True


def _check_features(saved: CohortSchema, schema: CohortSchema, where: str) -> None:
    """The clinical columns must be the same, each of the same kind and with the same categories (codes)."""
    if saved.names != schema.names:
        raise InputError(f"{where}: clinical features: checkpoint has {list(saved.names)}, this run's cohort has "
                         f"{list(schema.names)}{_NEEDS}")
    for old, new in zip(saved.features, schema.features):
        if old != new:
            raise InputError(f"{where}: clinical feature {old.name!r}: checkpoint has {old.to_dict()}, this run's "
                             f"cohort has {new.to_dict()}{_NEEDS}")


def load_weights(model: torch.nn.Module, state: dict[str, Any], cfg: Config, where: str = "checkpoint") -> None:
    """Load the checkpoint's weights into ``model`` (built from ``cfg``); a misfit is one line naming the
    first tensor, and ``model.image_size`` when that differs."""
    try:
        model.load_state_dict(state["model"])
        return
    except RuntimeError:
        misfit = _first_misfit(state["model"], model.state_dict())
    theirs = config_from_dict(state["config"]).model.image_size
    if theirs != cfg.model.image_size:
        raise InputError(f"{where}: model.image_size: checkpoint has {theirs}, this run has {cfg.model.image_size}, "
                         f"and the weights do not fit at that size ({misfit}){_NEEDS}") from None
    raise InputError(f"{where}: the weights do not fit this run's network ({misfit}){_NEEDS}") from None


def _first_misfit(theirs: dict[str, torch.Tensor], mine: dict[str, torch.Tensor]) -> str:
    for key, tensor in mine.items():
        if key not in theirs:
            return f"{key} is not in the checkpoint"
        if tuple(theirs[key].shape) != tuple(tensor.shape):
            return f"{key}: checkpoint {list(theirs[key].shape)}, this run {list(tensor.shape)}"
    extra = [key for key in theirs if key not in mine]
    return f"the checkpoint has {extra[0]}, this network has not" if extra else "unknown"


def lineage(state: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Where a fine-tuned run's weights came from, for its provenance, checkpoints and model card:
    ``{"checkpoint": absolute path, "sha256", "epoch", "cohort"}`` (the source run's epoch and cohort)."""
    path = Path(path).expanduser().resolve()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"checkpoint": str(path), "sha256": digest.hexdigest(), "epoch": state.get("epoch"),
            "cohort": state["config"].get("data", {}).get("cohort")}
