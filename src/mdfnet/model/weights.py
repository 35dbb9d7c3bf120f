"""Pretrained backbone weights by name: torchvision's ImageNet files in torch's hub cache.

``model.pretrained_backbone`` is one of

- ``"imagenet"``: the file of the backbone's registry entry (``BACKBONES[name].imagenet``), read from
  ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``) under torchvision's own file name,
  and downloaded there first when it is missing and the machine may go online;
- a path to a torchvision classifier state-dict file;
- ``None`` or ``"none"``: random init.

``MDFNET_OFFLINE=1`` (like ``HF_HUB_OFFLINE``) forbids every download: a missing file is then an
:class:`InputError` at once, naming the file, its URL and the folder to put it in. For clusters whose
compute nodes are offline: ``mdfnet weights fetch all`` on the login node (:func:`fetch`), then train anywhere
that sees the same ``TORCH_HOME``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from mdfnet.config import ModelConfig
from mdfnet.errors import InputError
from mdfnet.model.backbones import BACKBONES

IMAGENET = "imagenet"              # the model.pretrained_backbone value that names torchvision's file
NO_WEIGHTS = "none"                # ... and the one that opts out (random init), as YAML/CLI text
OFFLINE_ENV = "MDFNET_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}  # HF_HUB_OFFLINE's spellings


@dataclass(frozen=True)
class WeightsFile:
    """One backbone's ImageNet file: where it comes from and whether this machine has it."""

    backbone: str
    weights: str             # the torchvision enum entry, e.g. "MobileNet_V3_Small_Weights.IMAGENET1K_V1"
    url: str
    path: Path               # where torch.hub keeps it (it may not be there yet)
    size_mb: float | None    # in 2**20 bytes, as torchvision's meta counts: its stated size, else the file's
    size_from: str           # "meta" (torchvision's enum), "file" (the cached file) or "unknown"

    @property
    def file_name(self) -> str:
        return self.path.name

    @property
    def cached(self) -> bool:
        return self.path.is_file()


def offline() -> bool:
    """True when ``MDFNET_OFFLINE`` forbids downloads."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in _TRUE


def cache_dir() -> Path:
    """The folder torch.hub stores downloaded state dicts in: ``torch.hub.get_dir()/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_file(backbone: str) -> WeightsFile:
    """The ImageNet file of registered backbone ``backbone`` (a key of :data:`BACKBONES`)."""
    if backbone not in BACKBONES:
        raise InputError(f"unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}")
    enum = BACKBONES[backbone].imagenet
    path = cache_dir() / os.path.basename(urlparse(enum.url).path)  # torch.hub's own naming
    size, source = enum.meta.get("_file_size"), "meta"
    if size is None:
        size, source = (path.stat().st_size / 2**20, "file") if path.is_file() else (None, "unknown")
    return WeightsFile(backbone, f"{type(enum).__name__}.{enum.name}", enum.url, path, size, source)


def list_weights() -> list[WeightsFile]:
    """The ImageNet file of every registered backbone, in registry order."""
    return [imagenet_file(name) for name in BACKBONES]


def fetch(backbone: str, progress: bool = True) -> Path:
    """The local path of ``backbone``'s ImageNet file, downloaded into :func:`cache_dir` if missing.

    A cached file is returned without touching the network. Offline (``MDFNET_OFFLINE``) or when the
    download fails, an :class:`InputError` says which file to put where.
    """
    entry = imagenet_file(backbone)
    if entry.cached:
        return entry.path
    if offline():
        raise _missing(entry, f"{OFFLINE_ENV}=1 forbids downloading it")
    try:  # torch.hub's download: to a temporary file, hash-checked, then moved under entry.path
        BACKBONES[backbone].imagenet.get_state_dict(progress=progress, check_hash=True, map_location="cpu",
                                                    weights_only=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash is a RuntimeError
        raise _missing(entry, f"downloading it failed ({err})") from err
    return entry.path


def pretrained_file(spec: str | Path | None, backbone: str) -> Path | None:
    """The state-dict file that ``model.pretrained_backbone=spec`` means for ``backbone``; None = random init."""
    if spec is None or str(spec).strip().lower() == NO_WEIGHTS:
        return None
    if str(spec).strip().lower() == IMAGENET:
        return fetch(backbone)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(f"model.pretrained_backbone: weights file {path} does not exist (give a torchvision "
                         f"state-dict file, {IMAGENET!r} or {NO_WEIGHTS!r})")
    return path


def check_weights_available(cfg: ModelConfig) -> Path | None:
    """Make sure the weights ``cfg`` starts from are on this machine (fetching them if allowed), before any work.

    Training entry points call this first, so an offline machine without the file stops with one line
    instead of after reading the cohort. Returns the file (None for random init).
    """
    return pretrained_file(cfg.pretrained_backbone, cfg.backbone)


def _missing(entry: WeightsFile, why: str) -> InputError:
    return InputError(f"{entry.backbone} ImageNet weights {entry.file_name} are not in the cache and {why}; "
                      f"download {entry.url} (e.g. `mdfnet weights fetch {entry.backbone}` on a machine with "
                      f"network access) into {entry.path.parent}")
