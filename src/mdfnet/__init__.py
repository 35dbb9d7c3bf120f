"""mdfnet: multimodal dual-fusion detection of chest X-ray abnormalities (MDF-Net)."""

from mdfnet.schema import CLASSES, CLINICAL_FEATURES, NUMERIC_FEATURES

__version__ = "0.1.0"
__all__ = ["CLASSES", "CLINICAL_FEATURES", "NUMERIC_FEATURES", "build_model", "__version__"]


def build_model(variant: str = "mdf", preset: str = "paper", **overrides):
    """Build an MDF-Net family detector; see :func:`mdfnet.model.build.build_model`."""
    from mdfnet.model.build import build_model as _build

    return _build(variant, preset=preset, **overrides)
