"""One config object for a run: model, data and training settings as dataclasses.

Loadable from YAML, overridable with ``section.key=value`` strings (``model.fusion=film``,
``train.epochs=3``), and written next to every run's outputs. Presets:

- ``paper``: the authors' configuration as they really ran it (reference-facts sections 1-2): 512 px,
  MobileNetV3-Small without FPN from ImageNet weights, the 9-block spatialiser, their 64-d clinical
  vector, SGD lr 1e-3, batch 4, 100 epochs.
- ``fast``: ours, for a laptop CPU: 256 px, one stride-8 map (:class:`~mdfnet.model.backbones.FinestLevel`)
  with anchors scaled to the image, 300 proposals and 128 sampled RoIs per image, FiLM as the 1D fusion, the
  ``lite`` spatialiser, explicit missing-value indicators, zoom +-15 %, shift +-8 % and intensity +-0.2
  jitter on the training images (:mod:`mdfnet.data.augment`), batch 8, SGD at lr 0.02 with warm-up and
  cosine decay, weight decay 1e-4 (0.03 on the clinical path), 20 epochs, from random init.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from mdfnet.errors import InputError
from mdfnet.metrics.keys import AP_50, SELECTABLE
from mdfnet.schema import CLINICAL_FEATURES


@dataclass
class ModelConfig:
    variant: str = "mdf"                  # baseline | msf1d | msf3d | mdf (mdfnet.model.VARIANTS)
    detector: str = "maskrcnn"            # maskrcnn (the paper) | retinanet | fcos (one-stage)
    backbone: str = "mobilenet_v3_small"  # mdfnet.model.BACKBONES
    fpn: bool = False                     # paper: one stride-32 map, no FPN
    feature_stride: int = 32              # without FPN: the one map's stride, 32 (paper) | 16 | 8
    out_channels: int = 64                # width of the detector's feature maps
    image_size: int = 512                 # images are resized straight to this square (aspect not kept)
    fusion: str = "sum"                   # 3D fusion operator (mdfnet.model.FUSIONS)
    fusion_1d: str = "concat"             # 1D fusion into the box head: concat (paper) | film (FUSIONS_1D)
    # ours, with 1D fusion: the clinical vector also shifts each class's logit (a per-image prior over the
    # findings, Bayes' rule's log-prior term; mdfnet.model.heads.ClinicalPrior), in every detector
    clinical_prior: bool = False
    spatialiser: str = "paper"            # paper (9 up-blocks -> 3xSxS + 2nd backbone) | lite
    clinical_features: tuple[str, ...] | None = None  # None = all of the cohort's; or a subset (feature ablation)
    clinical_dim: int = 64                # width of the clinical vector fed to both fusions
    missing_indicators: bool = False      # paper: no; ours: a 0/1 indicator per numeric feature
    mask_head: bool = False               # the paper's best MDF-Net had the mask head off
    box_head_dim: int = 64                # fc 3136(+64) -> 64 -> 64
    # "scaled" (the paper's 32-512 times image_size / 512), "auto" (fitted to the training boxes, sizes and
    # ratios) or sizes in px; with FPN one size per level (mdfnet.model.anchors)
    anchor_sizes: tuple[float, ...] | str = "scaled"
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)   # height / width
    rpn_proposals: tuple[int, int] = (2000, 1000)  # proposals kept per image (training, testing), before and after NMS
    box_samples: int = 512                # RoIs sampled per image to train the box head
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
    # ours, off by default (mdfnet.data.augment): zoom U(1 +- s), shift U(+-t) of the side, gamma and contrast
    scale_jitter: float = 0.0
    shift_jitter: float = 0.0
    intensity_jitter: float = 0.0
    clinical_noise: float = 0.0           # Gaussian noise on each numeric value, in train-split sd units
    clinical_dropout: float = 0.0         # probability that a value goes missing
    clinical_record_dropout: float = 0.0  # probability that the whole record goes missing (modality dropout)
    num_workers: int = 0                  # DataLoader workers (0 = in-process; 2 cores here)


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 4
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    # weight decay of the clinical path's parameters (mdfnet.model.clinical.is_clinical_parameter: the encoder's
    # embeddings, the 3D branch, FiLM), a ridge on how far the detector reads the vitals; None = weight_decay
    clinical_weight_decay: float | None = None
    optimizer: str = "sgd"                # sgd | adamw
    lr_schedule: str = "constant"         # constant | cosine
    warmup_iters: int = 0                 # the authors used none
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"                  # auto = cuda when present, else cpu
    amp: bool = False                     # mixed precision on CUDA only
    eval_every: int = 1                   # epochs between validation passes
    select_metric: str = AP_50            # model selection on validation only (a key of metrics.keys.SELECTABLE)
    # fine-tuning: start from this checkpoint's network weights (RUN/best.pt; same architecture), with a new
    # optimiser and schedule; the clinical standardisation is refitted on this run's train split (engine.finetune)
    init_from: str | None = None


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DETECTOR_NAMES: tuple[str, ...] = ("maskrcnn", "retinanet", "fcos")  # model.detector (mdfnet.model.DETECTORS)

# Model settings that only some detectors read: setting -> those detectors. Every other detector refuses a
# value that differs from the preset's (check_detector_settings), so a setting is never silently ignored.
DETECTOR_SETTINGS: dict[str, tuple[str, ...]] = {
    "mask_head": ("maskrcnn",),
    "rpn_proposals": ("maskrcnn",),
    "rpn_nms_thresh": ("maskrcnn",),
    "box_samples": ("maskrcnn",),
    "box_head_dim": ("maskrcnn",),
    "anchor_sizes": ("maskrcnn", "retinanet"),   # FCOS is anchor-free
    "aspect_ratios": ("maskrcnn", "retinanet"),
}

# Settings that shape only the clinical path (its modules and their optimiser group): an image-only baseline
# builds and trains weight for weight the same with any value of them, so a study reuses its baselines when
# only these change (mdfnet.experiments.runner). The data-side clinical jitter is not here: it draws random
# numbers in the training loader even for a baseline.
CLINICAL_PATH_SETTINGS: tuple[str, ...] = (
    "train.clinical_weight_decay", "model.fusion", "model.fusion_1d", "model.clinical_prior", "model.spatialiser",
    "model.clinical_features", "model.clinical_dim", "model.missing_indicators")
# Of those, the ones that only the 1D fusion (into the box or classification head) reads, and the ones only the
# 3D fusion (of the maps) reads: a variant without that fusion trains the same with any value of them
# (mdfnet.model.unread_settings).
FUSION_1D_SETTINGS: tuple[str, ...] = ("model.fusion_1d", "model.clinical_prior")
FUSION_3D_SETTINGS: tuple[str, ...] = ("model.fusion", "model.spatialiser")

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # both backbones from ImageNet, as the authors started; their anchors exactly (made for 512 px)
    "paper": {"model": {"pretrained_backbone": "imagenet", "anchor_sizes": (32, 64, 128, 256, 512)}},
    "fast": {
        # a stride-8 map with scaled anchors localises 10-20 px opacities at 128 px (README: "Small findings");
        # 300 proposals and 128 RoIs keep its step ~1.7x the stride-32 map's
        "model": {"image_size": 256, "spatialiser": "lite", "missing_indicators": True, "feature_stride": 8,
                  "rpn_proposals": (300, 300), "box_samples": 128, "fusion_1d": "film"},
        # zoom, shift and contrast jitter: without them a 20-epoch detector memorises its training films
        "data": {"scale_jitter": 0.15, "shift_jitter": 0.08, "intensity_jitter": 0.2},
        # from random init, SGD at lr 0.02 with a 100-step warm-up learnt fastest of what we tried; a 300x
        # stronger decay on the clinical path keeps fusion from reading noise when the vitals say nothing
        # (README: "Weight decay of the clinical path")
        "train": {"epochs": 20, "batch_size": 8, "lr": 0.02, "weight_decay": 1e-4, "clinical_weight_decay": 0.03,
                  "lr_schedule": "cosine", "warmup_iters": 100, "grad_clip": 10.0},
    },
}


def preset(name: str) -> Config:
    """Return a fresh :class:`Config` for a named preset."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return apply_overrides(Config(), PRESETS[name])


def check_detector_settings(model: ModelConfig, reference: ModelConfig) -> None:
    """Refuse an unknown ``model.detector``, or a setting the detector does not have (:data:`DETECTOR_SETTINGS`)
    set to anything but ``reference``'s value (the preset's: presets are written for Mask R-CNN)."""
    if model.detector not in DETECTOR_NAMES:
        raise InputError(f"unknown model.detector {model.detector!r}; expected one of {sorted(DETECTOR_NAMES)}")
    for key, readers in DETECTOR_SETTINGS.items():
        value = getattr(model, key)
        if model.detector not in readers and value != getattr(reference, key):
            raise InputError(f"model.{key}={_show(value)}: model.detector={model.detector} has no such setting "
                             f"({' and '.join(readers)} only); leave it out")


def _show(value: Any) -> str:
    """A setting's value as a user writes it: ``true``, ``64``, ``[8, 16]``."""
    return yaml.safe_dump(list(value) if isinstance(value, tuple) else value, default_flow_style=True).strip().removesuffix("\n...")


def apply_overrides(cfg: Config, overrides: dict[str, dict[str, Any]] | list[str], *,
                    check_paths: bool = True) -> Config:
    """Return a copy of ``cfg`` with nested dict or ``section.key=value`` overrides applied, validated.

    Every setting is checked against :data:`RULES`; the paths among the settings given here must exist
    too, unless ``check_paths`` is off (a config read back from a checkpoint made on another machine).
    """
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    unknown = set(overrides) - set(SECTIONS)
    if unknown:
        raise InputError(f"unknown config section(s) {sorted(unknown)}; expected {', '.join(SECTIONS)}")
    sections = {}
    for name, section in _sections(cfg).items():
        updates = dict(overrides.get(name) or {})
        known = {f.name: f for f in fields(section)}
        for key in updates:
            if key not in known:
                raise InputError(f"unknown setting {name}.{key}; known: {', '.join(sorted(known))}")
        sections[name] = dataclasses.replace(section, **{k: _coerce(v, name, known[k]) for k, v in updates.items()})
    given = {f"{name}.{key}" for name, values in overrides.items() for key in (values or {})}
    out = Config(**sections)
    validate_config(out, paths=given if check_paths else ())
    return out


def parse_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """Parse ``["model.fusion=film", "train.lr=0.01"]`` into nested dicts (values via YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise InputError(f"override {item!r} is not of the form section.key=value")
        try:
            out.setdefault(section, {})[name] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InputError(f"override {item!r}: {value!r} is not a YAML value") from None
    return out


def load_config(path: str | Path | None = None, preset_name: str = "paper",
                overrides: list[str] | None = None) -> Config:
    """Preset, then the YAML file (same nesting as :meth:`Config.to_dict`), then overrides; validated, and checked
    against the detector (:func:`check_detector_settings`)."""
    cfg = preset(preset_name)
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"cannot read config {path}: {err}") from err
        if not isinstance(data, dict) or not all(isinstance(v, dict) or v is None for v in data.values()):
            raise InputError(f"config {path} must be a mapping of sections ({', '.join(SECTIONS)}) to settings")
        cfg = apply_overrides(cfg, data)
    cfg = apply_overrides(cfg, overrides or [])
    check_detector_settings(cfg.model, preset(preset_name).model)
    return cfg


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a :class:`Config` from :meth:`Config.to_dict` output (e.g. from a checkpoint), validated
    (its paths may belong to another machine: they are not looked up)."""
    return apply_overrides(Config(), data, check_paths=False)


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


SECTIONS: tuple[str, ...] = ("model", "data", "train")


def _sections(cfg: Config) -> dict[str, Any]:
    return {name: getattr(cfg, name) for name in SECTIONS}


def _coerce(value: Any, section: str, spec: dataclasses.Field) -> Any:
    """Turn YAML/CLI values into the field's type: lists into tuples, '1e-3' strings into floats."""
    kind = str(spec.type)
    if isinstance(value, list) and kind.startswith("tuple"):
        return tuple(value)
    if isinstance(value, str) and kind.startswith(("float", "int")):
        try:  # PyYAML reads "1e-3" as a string
            return int(value) if kind.startswith("int") else float(value)
        except ValueError:
            raise InputError(f"{section}.{spec.name}={value!r}: expected a number") from None
    return value


# --- validation -----------------------------------------------------------------------------------------
# One rule per field (a test fails when a field has none): what the value may be, and the words that say
# so in the error. Names come from the registries that define them. To add a setting: a field above, a
# rule in RULES, and a bad value in tests/test_config.py's table.


@dataclass(frozen=True)
class Rule:
    """What one setting may be: ``ok(value)`` tells, ``allowed()`` says it for the error message, and
    ``on_disk(value)`` (paths only) is the file-system check, or None."""

    ok: Callable[[Any], bool]
    allowed: Callable[[], str]
    on_disk: Callable[[Any], str | None] | None = None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def whole(low: int = 1, multiple_of: int = 1, why: str = "") -> Rule:
    """A whole number ``>= low`` (and a multiple of ``multiple_of``)."""
    text = f"a whole number >= {low}" if multiple_of == 1 else f"a multiple of {multiple_of} >= {low}"
    return Rule(lambda v: _is_int(v) and v >= low and v % multiple_of == 0, lambda: text + why)


def number(low: float | None = None, high: float | None = None, *, above: bool = False, below: bool = False) -> Rule:
    """A finite number in the range; ``above`` / ``below`` leave ``low`` / ``high`` out of it."""
    def ok(v: Any) -> bool:
        return (_is_number(v) and (low is None or (v > low if above else v >= low))
                and (high is None or (v < high if below else v <= high)))

    if high is None:
        text = f"a number {'>' if above else '>='} {low:g}"
    else:
        text = f"a number in {'(' if above else '['}{low:g}, {high:g}{')' if below else ']'}"
    return Rule(ok, lambda: text)


def one_of(names: Callable[[], Iterable[str]]) -> Rule:
    """One of the names ``names()`` gives (a registry's keys, read when first needed)."""
    return Rule(lambda v: isinstance(v, str) and v in set(names()), lambda: "one of " + ", ".join(names()))


def choice(*values: Any) -> Rule:
    """One of ``values`` exactly (``choice(8, 16, 32)``; ``True`` is not ``1``): for a short fixed list that no
    registry defines."""
    return Rule(lambda v: any(type(v) is type(c) and v == c for c in values),
                lambda: "one of " + ", ".join(map(str, values)))


def optional(rule: Rule) -> Rule:
    """None (left out) or what ``rule`` allows."""
    return Rule(lambda v: v is None or rule.ok(v), lambda: f"null or {rule.allowed()}",
                None if rule.on_disk is None else (lambda v: None if v is None else rule.on_disk(v)))


def items(rule: Rule, names: str = "values", length: int | None = None) -> Rule:
    """A non-empty list of values each allowed by ``rule`` (exactly ``length`` of them, when given)."""
    size = "a non-empty list of" if length is None else f"a list of {length}"
    return Rule(lambda v: (isinstance(v, tuple) and len(v) > 0 and (length is None or len(v) == length)
                           and all(rule.ok(x) for x in v)),
                lambda: f"{size} {names}, each {rule.allowed()}")


def either(first: Rule, second: Rule) -> Rule:
    """What ``first`` or ``second`` allows (``"scaled"``, ``"auto"`` or a list of sizes)."""
    return Rule(lambda v: first.ok(v) or second.ok(v), lambda: f"{first.allowed()} or {second.allowed()}")


def subset(names: Callable[[], Iterable[str]]) -> Rule:
    """A non-empty list of distinct names from ``names()``."""
    return Rule(lambda v: (isinstance(v, tuple) and len(v) > 0 and len(set(v)) == len(v)
                           and all(isinstance(x, str) and x in set(names()) for x in v)),
                lambda: "a non-empty list of distinct names from " + ", ".join(names()))


BOOLEAN = Rule(lambda v: isinstance(v, bool), lambda: "true or false")
DEVICE = Rule(lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) is not None,
              lambda: "auto, cpu, cuda, cuda:<index> or mps")


def _cohort_on_disk(folder: str) -> str | None:
    from mdfnet.data.report import COHORT_FILE

    path = Path(folder) / COHORT_FILE
    return None if path.is_file() else f"{path}: not found; expected a folder written by `mdfnet prepare`"


COHORT = Rule(lambda v: isinstance(v, str) and v.strip() != "",
              lambda: "a folder written by `mdfnet prepare`", _cohort_on_disk)


def _weights_names() -> tuple[str, ...]:
    from mdfnet.model.weights import IMAGENET, NO_WEIGHTS

    return IMAGENET, NO_WEIGHTS


def _weights_on_disk(value: str) -> str | None:
    if value.strip().lower() in _weights_names() or Path(value).expanduser().is_file():
        return None
    return f"no such file {Path(value).expanduser()}; expected {WEIGHTS.allowed()[len('null or '):]}"


WEIGHTS = optional(Rule(lambda v: isinstance(v, str) and v.strip() != "",
                        lambda: f"{', '.join(map(repr, _weights_names()))} or a torchvision state-dict file",
                        _weights_on_disk))


def _checkpoint_on_disk(value: str) -> str | None:
    path = Path(value).expanduser()
    if path.is_dir():
        return f"{path} is a folder; name a checkpoint in it, e.g. {path / 'best.pt'}"
    return None if path.is_file() else f"no such file {path}; expected {CHECKPOINT.allowed()}"


CHECKPOINT = Rule(lambda v: isinstance(v, str) and v.strip() != "",
                  lambda: "a checkpoint written by `mdfnet train` (RUN/best.pt)", _checkpoint_on_disk)


def _registry(module: str, name: str) -> Callable[[], list[str]]:
    """The names of registry ``module.name``, read when first needed (the model and the engine import this
    module, so their registries cannot be imported here at load)."""
    return lambda: [key for key in getattr(importlib.import_module(module), name) if key is not None]


THRESHOLD = number(0.0, 1.0, above=True)  # an overlap for NMS: (0, 1]

RULES: dict[str, dict[str, Rule]] = {
    "model": {
        "variant": one_of(_registry("mdfnet.model", "VARIANTS")),
        "detector": one_of(lambda: DETECTOR_NAMES),
        "backbone": one_of(_registry("mdfnet.model", "BACKBONES")),
        "fpn": BOOLEAN,
        "feature_stride": choice(8, 16, 32),
        "out_channels": whole(1),
        "image_size": whole(32, multiple_of=32, why=" (the backbones' stride)"),
        "fusion": one_of(_registry("mdfnet.model", "FUSIONS")),
        "fusion_1d": one_of(_registry("mdfnet.model.heads", "FUSIONS_1D")),
        "clinical_prior": BOOLEAN,
        "spatialiser": one_of(_registry("mdfnet.model", "SPATIALISERS")),
        # checked against the cohort's schema when training starts (a --coco cohort names its own features)
        "clinical_features": optional(Rule(lambda v: (isinstance(v, tuple) and len(v) > 0 and len(set(v)) == len(v)
                                                      and all(isinstance(x, str) and x.strip() for x in v)),
                                           lambda: "a non-empty list of distinct feature names (MIMIC's: "
                                                   + ", ".join(CLINICAL_FEATURES) + "; a --coco cohort's schema.json "
                                                   "names its own)")),
        "clinical_dim": whole(1),
        "missing_indicators": BOOLEAN,
        "mask_head": BOOLEAN,
        "box_head_dim": whole(1),
        # the modes of mdfnet.model.anchors.ANCHOR_MODES (tests/test_config.py checks they agree)
        "anchor_sizes": either(choice("scaled", "auto"), items(number(0.0, above=True), "sizes in pixels")),
        "aspect_ratios": items(number(0.0, above=True), "height/width ratios"),
        "rpn_proposals": items(whole(1), "proposal counts (training, testing)", length=2),
        "box_samples": whole(1),
        "rpn_nms_thresh": THRESHOLD,
        "box_nms_thresh": THRESHOLD,
        "box_score_thresh": number(0.0, 1.0, below=True),
        "detections_per_img": whole(1),
        "loss_weighting": one_of(_registry("mdfnet.model.loss", "LOSS_WEIGHTINGS")),
        "pretrained_backbone": WEIGHTS,
    },
    "data": {
        "cohort": optional(COHORT),
        "masks": optional(one_of(_registry("mdfnet.data.dataset", "MASK_KINDS"))),
        "hflip_p": number(0.0, 1.0),
        "scale_jitter": number(0.0, 0.5, below=True),
        "shift_jitter": number(0.0, 0.5, below=True),
        "intensity_jitter": number(0.0, 1.0, below=True),
        "clinical_noise": number(0.0),
        "clinical_dropout": number(0.0, 1.0, below=True),
        "clinical_record_dropout": number(0.0, 1.0, below=True),
        "num_workers": whole(0),
    },
    "train": {
        "epochs": whole(1),
        "batch_size": whole(1),
        "lr": number(0.0, above=True),
        "momentum": number(0.0, 1.0, below=True),
        "weight_decay": number(0.0),
        "clinical_weight_decay": optional(number(0.0)),
        "optimizer": one_of(_registry("mdfnet.engine.train", "OPTIMIZERS")),
        "lr_schedule": one_of(_registry("mdfnet.engine.train", "LR_SCHEDULES")),
        "warmup_iters": whole(0),
        "grad_clip": optional(number(0.0, above=True)),
        "seed": whole(0),
        "device": DEVICE,
        "amp": BOOLEAN,
        "eval_every": whole(1),
        "select_metric": Rule(lambda v: v in SELECTABLE,
                              lambda: "one of " + ", ".join(SELECTABLE) + " (what validation records)"),
        "init_from": optional(CHECKPOINT),
    },
}


def _fpn_levels(cfg: Config) -> str | None:
    from mdfnet.model.backbones import FPN_LEVELS

    sizes = cfg.model.anchor_sizes
    if cfg.model.fpn and not isinstance(sizes, str) and len(sizes) != len(FPN_LEVELS):
        return (f"model.anchor_sizes={cfg.model.anchor_sizes!r}: with model.fpn=true expected {len(FPN_LEVELS)} "
                "sizes, one per pyramid level")
    return None


def _clinical_width(cfg: Config) -> str | None:
    from mdfnet.feature_schema import MIMIC_SCHEMA, SCHEMA_FILE, read_schema

    m = cfg.model
    path = Path(cfg.data.cohort or "", SCHEMA_FILE)  # a --coco cohort's schema; MIMIC's without one
    schema = read_schema(path) if cfg.data.cohort and path.is_file() else MIMIC_SCHEMA
    chosen = schema.names if m.clinical_features is None else m.clinical_features
    numeric = sum(f in schema.numeric for f in chosen) * (2 if m.missing_indicators else 1)
    categorical = [f for f in chosen if f in schema.categorical]
    needed = numeric + len(categorical)
    if m.variant != "baseline" and m.clinical_dim < needed:
        embeddings = " and a gender embedding" if categorical == ["gender"] else \
            f" and {len(categorical)} categorical embeddings" if categorical else ""
        return (f"model.clinical_dim={m.clinical_dim}: expected at least {needed} for {numeric} numeric columns"
                + embeddings)
    return None


def _masks_need_head(cfg: Config) -> str | None:
    if cfg.data.masks is not None and not cfg.model.mask_head:
        return f"data.masks={cfg.data.masks!r}: needs model.mask_head=true"
    return None


# Settings that are fine alone but not together, checked once every field has passed its rule.
CROSS_CHECKS: tuple[Callable[[Config], str | None], ...] = (_fpn_levels, _clinical_width, _masks_need_head)


def check_section(name: str, section: Any, paths: Iterable[str] = ()) -> None:
    """Check every field of one section (``model``, ``data``, ``train``) against :data:`RULES`; the fields
    named in ``paths`` (``"data.cohort"``) are looked up on disk too. Raises :class:`InputError` naming
    the key, the value and what is allowed."""
    paths = set(paths)
    for spec in fields(section):
        key, value = f"{name}.{spec.name}", getattr(section, spec.name)
        rule = RULES[name][spec.name]
        if not rule.ok(value):
            raise InputError(f"{key}={value!r}: expected {rule.allowed()}")
        if rule.on_disk is not None and key in paths:
            problem = rule.on_disk(value)
            if problem:
                raise InputError(f"{key}={value!r}: {problem}")


# The settings that name a file or folder (looked up on disk where a person gives them).
PATH_SETTINGS: tuple[str, ...] = ("data.cohort", "model.pretrained_backbone", "train.init_from")


def validate_config(cfg: Config, paths: Iterable[str] = PATH_SETTINGS) -> None:
    """Check a whole config before any work: each field's rule (:data:`RULES`), then :data:`CROSS_CHECKS`.

    ``paths`` names the path settings to look up on disk (all of them by default).
    """
    paths = set(paths)
    for name, section in _sections(cfg).items():
        check_section(name, section, paths)
    for check in CROSS_CHECKS:
        problem = check(cfg)
        if problem:
            raise InputError(problem)
