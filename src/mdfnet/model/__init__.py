"""The MDF-Net model family: registries of variants, detectors, backbones, fusions and spatialisers."""

from mdfnet.model.backbones import BACKBONES, build_backbone
from mdfnet.model.build import DETECTORS, VARIANTS, build_from_config, build_model, unread_settings
from mdfnet.model.clinical import ClinicalEncoder, fit_medians, fit_statistics, is_clinical_parameter
from mdfnet.model.detector import MDFNet
from mdfnet.model.fusion import FUSIONS
from mdfnet.model.spatialise import SPATIALISERS

__all__ = ["BACKBONES", "DETECTORS", "FUSIONS", "SPATIALISERS", "VARIANTS", "ClinicalEncoder", "MDFNet",
           "build_backbone", "build_from_config", "build_model", "fit_medians",
           "fit_statistics", "is_clinical_parameter", "unread_settings"]
