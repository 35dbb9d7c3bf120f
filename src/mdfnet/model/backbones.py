"""Image backbones by name, with or without FPN, built from torchvision classifiers.

A backbone maps a batch ``[N, 3, H, W]`` to an ``OrderedDict`` of feature maps and has an
``out_channels`` attribute, the contract of torchvision's detection models:

- without FPN (the paper): the classifier's last feature map (stride 32) and a 3x3 conv to
  ``out_channels`` (no BN, no activation) -> ``{"0": [N, C, H/32, W/32]}``;
- without FPN at ``stride`` 16 or 8 (ours, for small images): the FPN's top-down path from stride 32 down
  to that stride only, and only its finest map -> ``{"0": [N, C, H/stride, W/stride]}`` (:class:`FinestLevel`);
- with FPN: the last layer of each stage at strides 4, 8, 16, 32 feeds torchvision's
  ``FeaturePyramidNetwork`` plus a max-pool level -> five maps ``"0".."pool"`` of ``C`` channels.

Stage boundaries are found by probing the network once with a small input, so adding a backbone is
one registry line. Pretrained weights come from a local torchvision state-dict file (``pretrained``);
:mod:`mdfnet.model.weights` finds or fetches the ImageNet file each entry names.
"""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models
from torchvision.models import WeightsEnum
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


def _densenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # torchvision's DenseNet files predate its module names: "denselayer1.norm.1" is now "denselayer1.norm1"
    return {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.", r"\1\2.", k): v for k, v in state.items()}


@dataclass(frozen=True)
class Backbone:
    """A registered image backbone: a torchvision classifier and the ImageNet file to start it from."""

    name: str
    classifier: Callable[..., nn.Module]            # torchvision builder, called with weights=None
    body: Callable[[nn.Module], nn.Sequential]      # the classifier's convolutional body
    imagenet: WeightsEnum                           # what `model.pretrained_backbone=imagenet` loads
    adapt_state: Callable[[dict], dict] = lambda state: state  # file keys -> the classifier's keys


# IMAGENET1K_V1 everywhere: what torchvision's `pretrained=True`, which the authors called, meant
BACKBONES: dict[str, Backbone] = {b.name: b for b in (
    Backbone("mobilenet_v3_small", models.mobilenet_v3_small, _features,
             models.MobileNet_V3_Small_Weights.IMAGENET1K_V1),
    Backbone("mobilenet_v3_large", models.mobilenet_v3_large, _features,
             models.MobileNet_V3_Large_Weights.IMAGENET1K_V1),
    Backbone("resnet18", models.resnet18, _resnet_body, models.ResNet18_Weights.IMAGENET1K_V1),
    Backbone("resnet50", models.resnet50, _resnet_body, models.ResNet50_Weights.IMAGENET1K_V1),
    Backbone("efficientnet_b0", models.efficientnet_b0, _features, models.EfficientNet_B0_Weights.IMAGENET1K_V1),
    Backbone("densenet121", models.densenet121, _densenet_body, models.DenseNet121_Weights.IMAGENET1K_V1,
             _densenet_keys),
    Backbone("convnext_tiny", models.convnext_tiny, _features, models.ConvNeXt_Tiny_Weights.IMAGENET1K_V1),
)}


FPN_LEVELS: tuple[str, ...] = ("0", "1", "2", "3", "pool")  # the maps a backbone with FPN returns


class SingleMapBackbone(nn.Module):
    """Classifier body + 3x3 conv to ``out_channels``: ``[N, 3, H, W] -> {"0": [N, C, H/32, W/32]}``."""

    def __init__(self, body: nn.Sequential, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return OrderedDict([("0", self.conv(self.body(x)))])


class FinestLevel(nn.Module):
    """A feature pyramid over strides ``stride..32`` that makes only its finest map, as ``"0"``.

    One map, as in the paper, but fine enough for small findings: the stride-32 semantics reach it
    through torchvision's top-down path (its ``FeaturePyramidNetwork``'s lateral 1x1 convs and nearest
    upsampling), and only the finest level gets its 3x3 output conv; the RPN and the box head run on one
    level, not five. ``[N, 3, H, W] -> {"0": [N, C, H/stride, W/stride]}``.
    """

    def __init__(self, pyramid: BackboneWithFPN) -> None:
        super().__init__()
        self.body = pyramid.body
        self.fpn = pyramid.fpn
        self.fpn.layer_blocks = self.fpn.layer_blocks[:1]  # the coarser levels' output convs would be unused
        self.out_channels = pyramid.out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        stages = list(self.body(x).values())  # finest first
        top = self.fpn.get_result_from_inner_blocks(stages[-1], -1)
        for i in range(len(stages) - 2, -1, -1):
            lateral = self.fpn.get_result_from_inner_blocks(stages[i], i)
            top = lateral + F.interpolate(top, size=lateral.shape[-2:], mode="nearest")
        return OrderedDict([("0", self.fpn.get_result_from_layer_blocks(top, 0))])


FEATURE_STRIDES = (8, 16, 32)


def build_backbone(name: str, out_channels: int = 64, fpn: bool = False,
                   pretrained: str | Path | None = None, stride: int = 32) -> nn.Module:
    """Build the image backbone ``name`` (a key of :data:`BACKBONES`), from the state-dict file ``pretrained``
    (e.g. :func:`mdfnet.model.weights.pretrained_file`) or from random init when it is None.

    ``stride`` (without FPN): the one map's stride, 32 (the paper), 16 or 8 (:class:`FinestLevel`)."""
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    entry = BACKBONES[name]
    classifier = entry.classifier(weights=None)
    if pretrained is None:
        warnings.warn(f"{name}: no pretrained weights given (model.pretrained_backbone); "
                      "starting from random init", stacklevel=2)
    else:
        classifier.load_state_dict(read_state(pretrained, classifier, entry))
    body = entry.body(classifier)
    if stride not in FEATURE_STRIDES:
        raise InputError(f"model.feature_stride must be one of {FEATURE_STRIDES}, got {stride}")
    strides, channels = _probe(body)
    if not fpn and stride == 32:
        return SingleMapBackbone(body, channels[-1], out_channels)
    # the last layer reaching each of strides 4, 8, 16, 32 is that stage's output
    levels = (4, 8, 16, 32) if fpn else tuple(s for s in (8, 16, 32) if s >= stride)
    ends = {s: i for i, s in enumerate(strides) if s in levels}
    names = list(dict(body.named_children()))
    return_layers = {names[i]: str(level) for level, i in enumerate(sorted(ends.values()))}
    in_channels = [channels[i] for i in sorted(ends.values())]
    if not fpn:
        return FinestLevel(BackboneWithFPN(body, return_layers, in_channels, out_channels, extra_blocks=None))
    return BackboneWithFPN(body, return_layers, in_channels, out_channels, extra_blocks=LastLevelMaxPool())


def read_state(path: str | Path, classifier: nn.Module, entry: Backbone) -> dict[str, torch.Tensor]:
    """The state dict in ``path``, checked to fit ``classifier`` key by key and shape by shape.

    Keys the classifier lacks are dropped (e.g. the extra head of another training setup: the head is
    not used); a missing key or a different shape is an :class:`InputError` naming the first one.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pretrained weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors of many kinds: all mean "not a state-dict file"
        raise InputError(f"{path} is not a readable torch state-dict file: {err}") from err
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict (a mapping of tensors), got {type(state).__name__}")
    state = entry.adapt_state(state)
    wanted = classifier.state_dict()
    for key, expected in wanted.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):  # a BN counter older files lack; load_state_dict fills it in
                continue
            raise InputError(f"{path} does not fit {entry.name}: it has no {key!r} (its first key is "
                             f"{next(iter(state), None)!r})")
        shape = list(getattr(state[key], "shape", []))
        if shape != list(expected.shape):
            raise InputError(f"{path} does not fit {entry.name}: {key!r} has shape {shape} in the file, "
                             f"{list(expected.shape)} in {entry.name}")
    return {key: state[key] for key in wanted if key in state}


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
