"""Image backbones by name, with or without FPN, built from torchvision classifiers.

A backbone maps a batch ``[N, 3, H, W]`` to an ``OrderedDict`` of feature maps and has an
``out_channels`` attribute, the contract of torchvision's detection models:

- without FPN (the paper): the classifier's last feature map (stride 32) and a 3x3 conv to
  ``out_channels`` (no BN, no activation) -> ``{"0": [N, C, H/32, W/32]}``;
- with FPN: the last layer of each stage at strides 4, 8, 16, 32 feeds torchvision's
  ``FeaturePyramidNetwork`` plus a max-pool level -> five maps ``"0".."pool"`` of ``C`` channels.

Stage boundaries are found by probing the network once with a small input, so adding a backbone is
one registry line. Weights come only from a local file (``pretrained``); nothing is downloaded.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from mdfnet.errors import InputError


def _features(model: nn.Module) -> nn.Sequential:
    return model.features


def _resnet_body(model: nn.Module) -> nn.Sequential:
    m = model
    return nn.Sequential(OrderedDict(
        conv1=m.conv1, bn1=m.bn1, relu=m.relu, maxpool=m.maxpool,
        layer1=m.layer1, layer2=m.layer2, layer3=m.layer3, layer4=m.layer4,
    ))


def _densenet_body(model: nn.Module) -> nn.Sequential:
    # torchvision applies the final ReLU in DenseNet.forward, outside `features`
    return nn.Sequential(*model.features, nn.ReLU(inplace=False))


# name -> (torchvision classifier builder, function extracting its convolutional body)
BACKBONES: dict[str, tuple[Callable[..., nn.Module], Callable[[nn.Module], nn.Sequential]]] = {
    "mobilenet_v3_small": (models.mobilenet_v3_small, _features),
    "mobilenet_v3_large": (models.mobilenet_v3_large, _features),
    "resnet18": (models.resnet18, _resnet_body),
    "resnet50": (models.resnet50, _resnet_body),
    "efficientnet_b0": (models.efficientnet_b0, _features),
    "densenet121": (models.densenet121, _densenet_body),
    "convnext_tiny": (models.convnext_tiny, _features),
}


class SingleMapBackbone(nn.Module):
    """Classifier body + 3x3 conv to ``out_channels``: ``[N, 3, H, W] -> {"0": [N, C, H/32, W/32]}``."""

    def __init__(self, body: nn.Sequential, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return OrderedDict([("0", self.conv(self.body(x)))])


def build_backbone(name: str, out_channels: int = 64, fpn: bool = False,
                   pretrained: str | Path | None = None) -> nn.Module:
    """Build the image backbone ``name`` (a key of :data:`BACKBONES`)."""
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    builder, extract = BACKBONES[name]
    classifier = builder(weights=None)
    load_pretrained(classifier, pretrained, name)
    body = extract(classifier)
    strides, channels = _probe(body)
    if not fpn:
        return SingleMapBackbone(body, channels[-1], out_channels)
    # the last layer reaching each of strides 4, 8, 16, 32 is that stage's output
    ends = {s: i for i, s in enumerate(strides) if s in (4, 8, 16, 32)}
    names = list(dict(body.named_children()))
    return_layers = {names[i]: str(level) for level, i in enumerate(sorted(ends.values()))}
    in_channels = [channels[i] for i in sorted(ends.values())]
    return BackboneWithFPN(body, return_layers, in_channels, out_channels, extra_blocks=LastLevelMaxPool())


def load_pretrained(model: nn.Module, path: str | Path | None, name: str) -> None:
    """Load a torchvision classifier state dict from a local file, or warn that init is random."""
    if path is None:
        warnings.warn(f"{name}: no pretrained weights given (model.pretrained_backbone); "
                      "starting from random init", stacklevel=3)
        return
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pretrained weights file {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise InputError(f"{path} does not fit {name}: {str(err).splitlines()[1].strip()}") from err
    if missing:
        raise InputError(f"{path} does not fit {name}: {len(missing)} missing keys, e.g. {missing[:3]}")
    del unexpected  # e.g. a different classifier head: harmless, the head is dropped


@torch.no_grad()
def _probe(body: nn.Sequential, size: int = 64) -> tuple[list[int], list[int]]:
    """Stride and channel count after each child of ``body``, from one forward of a dummy image."""
    was_training = body.training
    body.eval()
    x = torch.zeros(1, 3, size, size)
    strides, channels = [], []
    for layer in body:
        x = layer(x)
        strides.append(size // x.shape[-1])
        channels.append(x.shape[1])
    body.train(was_training)
    return strides, channels
