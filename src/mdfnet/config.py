"""One config object for a run: model, data and training settings as dataclasses.

Loadable from YAML, overridable with ``section.key=value`` strings (``model.fusion=film``,
``train.epochs=3``), and written next to every run's outputs. Presets:

- ``paper``: the authors' configuration as they really ran it (reference-facts sections 1-2): 512 px,
  MobileNetV3-Small without FPN from ImageNet weights, the 9-block spatialiser, their 64-d clinical
  vector, SGD lr 1e-3, batch 4, 100 epochs.
- ``fast``: ours, for a laptop CPU: 256 px, the ``lite`` spatialiser, explicit missing-value
  indicators, batch 8, SGD at lr 0.02 with warm-up and cosine decay, 20 epochs, from random init.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from mdfnet.errors import InputError


@dataclass
class ModelConfig:
    variant: str = "mdf"                  # baseline | msf1d | msf3d | mdf (mdfnet.model.VARIANTS)
    backbone: str = "mobilenet_v3_small"  # mdfnet.model.BACKBONES
    fpn: bool = False                     # paper: one stride-32 map, no FPN
    out_channels: int = 64                # width of the detector's feature maps
    image_size: int = 512                 # images are resized straight to this square (aspect not kept)
    fusion: str = "sum"                   # 3D fusion operator (mdfnet.model.FUSIONS)
    spatialiser: str = "paper"            # paper (9 up-blocks -> 3xSxS + 2nd backbone) | lite
    clinical_features: tuple[str, ...] | None = None  # None = all of the cohort's; or a subset (feature ablation)
    clinical_dim: int = 64                # width of the clinical vector fed to both fusions
    missing_indicators: bool = False      # paper: no; ours: a 0/1 indicator per numeric feature
    mask_head: bool = False               # the paper's best MDF-Net had the mask head off
    box_head_dim: int = 64                # fc 3136(+64) -> 64 -> 64
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_nms_thresh: float = 0.3
    box_nms_thresh: float = 0.2
    box_score_thresh: float = 0.05
    detections_per_img: int = 10
    loss_weighting: str = "uncertainty"   # uncertainty (learned homoscedastic) | sum
    # backbone start: "imagenet" (torchvision's file, via torch's hub cache: mdfnet.model.weights), a local
    # torchvision state-dict file, or None / "none" = random init
    pretrained_backbone: str | None = None


@dataclass
class DataConfig:
    cohort: str | None = None             # folder written by `mdfnet prepare`
    masks: str | None = None              # None | box | ellipse (needs model.mask_head)
    hflip_p: float = 0.5                  # the authors' only augmentation
    num_workers: int = 0                  # DataLoader workers (0 = in-process; 2 cores here)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 4
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    optimizer: str = "sgd"                # sgd | adamw
    lr_schedule: str = "constant"         # constant | cosine
    warmup_iters: int = 0                 # the authors used none
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"                  # auto = cuda when present, else cpu
    amp: bool = False                     # mixed precision on CUDA only
    eval_every: int = 1                   # epochs between validation passes
    select_metric: str = "AP_IoBB_0.50"   # model selection on validation only


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"model": {"pretrained_backbone": "imagenet"}},  # both backbones, as the authors started
    "fast": {
        "model": {"image_size": 256, "spatialiser": "lite", "missing_indicators": True},
        # from random init, SGD at lr 0.02 with a 100-step warm-up learnt fastest of what we tried
        "train": {"epochs": 20, "batch_size": 8, "lr": 0.02, "weight_decay": 1e-4,
                  "lr_schedule": "cosine", "warmup_iters": 100, "grad_clip": 10.0},
    },
}


def preset(name: str) -> Config:
    """Return a fresh :class:`Config` for a named preset."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return apply_overrides(Config(), PRESETS[name])


def apply_overrides(cfg: Config, overrides: dict[str, dict[str, Any]] | list[str]) -> Config:
    """Return a copy of ``cfg`` with nested dict or ``section.key=value`` overrides applied."""
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    sections = {}
    for name, section in _sections(cfg).items():
        updates = dict(overrides.get(name, {}))
        known = {f.name: f for f in fields(section)}
        for key in updates:
            if key not in known:
                raise InputError(f"unknown setting {name}.{key}; known: {', '.join(sorted(known))}")
        sections[name] = dataclasses.replace(section, **{k: _coerce(v, known[k]) for k, v in updates.items()})
    unknown = set(overrides) - set(sections)
    if unknown:
        raise InputError(f"unknown config section(s) {sorted(unknown)}; expected model, data, train")
    return Config(**sections)


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """Parse ``["model.fusion=film", "train.lr=0.01"]`` into nested dicts (values via YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise InputError(f"override {item!r} is not of the form section.key=value")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def load_config(path: str | Path | None = None, preset_name: str = "paper",
                overrides: list[str] | None = None) -> Config:
    """Preset, then the YAML file (same nesting as :meth:`Config.to_dict`), then overrides."""
    cfg = preset(preset_name)
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"cannot read config {path}: {err}") from err
        if not isinstance(data, dict):
            raise InputError(f"config {path} must be a mapping of sections, got {type(data).__name__}")
        cfg = apply_overrides(cfg, data)
    return apply_overrides(cfg, overrides or [])


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a :class:`Config` from :meth:`Config.to_dict` output (e.g. from a checkpoint)."""
    return apply_overrides(Config(), data)


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _sections(cfg: Config) -> dict[str, Any]:
    return {"model": cfg.model, "data": cfg.data, "train": cfg.train}


def _coerce(value: Any, spec: dataclasses.Field) -> Any:
    """Turn YAML/CLI values into the field's type: lists into tuples, '1e-3' strings into floats."""
    kind = str(spec.type)
    if isinstance(value, list) and kind.startswith("tuple"):
        return tuple(value)
    if isinstance(value, str) and kind.startswith(("float", "int")):
        try:  # PyYAML reads "1e-3" as a string
            return int(value) if kind.startswith("int") else float(value)
        except ValueError as err:
            raise InputError(f"setting {spec.name}={value!r} is not a number") from err
    return value
