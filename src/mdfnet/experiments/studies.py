"""The paper's studies as lists of self-labelled run specs.

A :class:`RunSpec` is one configuration of a study: ``labels`` (the table's label columns, e.g.
``{"variant": "mdf", "model": "MDF-Net"}``), the config ``overrides`` that make it, and a ``slug`` naming
its run folders (:meth:`mdfnet.layout.RunLayout.in_study`). Every spec of a study is trained with the same
preset and user overrides; only the keys in ``overrides`` vary.

Studies (the paper's figure numbers):

- ``variants``: baseline, MSF-Net 1D, MSF-Net 3D, MDF-Net (Figs. 2b, 2c, 6a, 6b);
- ``fusion``: MDF-Net with each 3D fusion operator of :data:`mdfnet.model.FUSIONS` (Fig. 4);
- ``backbones``: each backbone with baseline, MSF-Net 3D and MDF-Net (Fig. 3);
- ``features``: MDF-Net with each clinical feature subset of :data:`FEATURE_SUBSETS` (Fig. 5c); for a
  cohort with another schema (``prepare --coco``): all features, each alone, and all but each;
- ``detectors`` (ours, not in the paper): the four variants on each detector of :data:`mdfnet.model.DETECTORS`
  (Mask R-CNN, RetinaNet, FCOS), all three on the same backbone and maps (the preset's: ``fast``'s one
  stride-8 map; add ``model.fpn=true`` for the five FPN levels);
- ``correlation``: no training, see :mod:`mdfnet.experiments.correlation` (Fig. 5b).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.model import BACKBONES, DETECTORS, FUSIONS, VARIANTS
from mdfnet.schema import CLINICAL_FEATURES, VITALS

# The paper's ten rows of Fig. 5c (name -> features); the encoder keeps its own canonical order.
FEATURE_SUBSETS: dict[str, tuple[str, ...]] = {
    "all": CLINICAL_FEATURES,
    "gender": ("gender",),
    "gender+age": ("gender", "age"),
    "gender+temperature": ("gender", "temperature"),
    "gender+heartrate": ("gender", "heartrate"),
    "gender+resprate": ("gender", "resprate"),
    "gender+age+temperature": ("gender", "age", "temperature"),
    "gender+age+heartrate": ("gender", "age", "heartrate"),
    "gender+age+resprate": ("gender", "age", "resprate"),
    "vitals": VITALS,
}


@dataclass(frozen=True)
class RunSpec:
    """One configuration of a study.

    Attributes:
        labels: label columns of its table row, in display order (strings).
        overrides: nested config overrides ``{"model": {...}}`` that define it.
        slug: folder name under ``OUT/runs/`` (letters, digits and ``._+-``).
    """

    labels: dict[str, str]
    overrides: dict[str, dict[str, Any]]
    slug: str


@dataclass(frozen=True)
class Study:
    """A study: how to build its specs, which splits to evaluate, the figure it stands for, and the
    reference configuration every row is compared with (paired, in the table)."""

    name: str
    title: str
    figure: str                                   # the paper's figure number(s); "" for a study of ours
    splits: tuple[str, ...]                       # evaluated from best.pt; "test" is the headline
    build: Callable[..., list[RunSpec]]
    reference: str = ""                           # slug of the reference spec; the first spec when absent


def reference_spec(study: Study, specs: Sequence[RunSpec]) -> RunSpec:
    """The spec each row of ``study`` is compared with: ``study.reference`` when it is among ``specs``
    (``--only`` or ``--backbones`` may leave it out), else the first."""
    return next((spec for spec in specs if spec.slug == study.reference), specs[0])


def slugify(text: str) -> str:
    """A folder-safe name: every run of characters outside ``[A-Za-z0-9._+-]`` becomes ``-``."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-")


def variant_specs() -> list[RunSpec]:
    return [RunSpec({"model": v.label, "variant": v.name}, {"model": {"variant": v.name}}, f"variant-{v.name}")
            for v in VARIANTS.values()]


def fusion_specs() -> list[RunSpec]:
    return [RunSpec({"fusion": name, "kind": op.kind}, {"model": {"variant": "mdf", "fusion": name}},
                    f"fusion-{slugify(name)}")
            for name, op in FUSIONS.items()]


BACKBONE_VARIANTS: tuple[str, ...] = ("baseline", "msf3d", "mdf")


def backbone_specs(backbones: Sequence[str] | None = None) -> list[RunSpec]:
    """Each backbone (default: all of :data:`BACKBONES`) with baseline, MSF-Net 3D and MDF-Net."""
    chosen = list(backbones) if backbones else list(BACKBONES)
    unknown = [b for b in chosen if b not in BACKBONES]
    if unknown:
        raise InputError(f"unknown backbone(s) {unknown}; expected some of {sorted(BACKBONES)}")
    return [RunSpec({"backbone": b, "model": VARIANTS[v].label, "variant": v},
                    {"model": {"variant": v, "backbone": b}}, f"backbone-{slugify(b)}_variant-{v}")
            for b in chosen for v in BACKBONE_VARIANTS]


def feature_subsets(schema: CohortSchema | None = None) -> dict[str, tuple[str, ...]]:
    """The paper's subsets for MIMIC; for another schema: all, each feature alone, and all but each."""
    if schema is None or schema == MIMIC_SCHEMA:
        return FEATURE_SUBSETS
    names = schema.names
    subsets = {"all": names, **{name: (name,) for name in names}}
    if len(names) > 2:
        subsets.update({f"all-{name}": tuple(n for n in names if n != name) for name in names})
    return subsets


def feature_specs(schema: CohortSchema | None = None) -> list[RunSpec]:
    return [RunSpec({"features": name, "clinical_features": " ".join(features)},
                    {"model": {"variant": "mdf", "clinical_features": list(features)}}, f"features-{slugify(name)}")
            for name, features in feature_subsets(schema).items()]


def detector_specs() -> list[RunSpec]:
    """Each detector with each variant, all on the same backbone and maps, so the detectors differ by their
    heads alone (the Mask R-CNN rows are the ``variants`` study's configurations)."""
    return [RunSpec({"detector": d.name, "variant": v}, {"model": {"detector": d.name, "variant": v}},
                    f"detector-{d.name}_variant-{v}")
            for d in DETECTORS.values() for v in VARIANTS]


STUDIES: dict[str, Study] = {s.name: s for s in (
    Study("variants", "Detector variants", "2b, 2c, 6a, 6b", ("train", "val", "test"), variant_specs,
          "variant-baseline"),
    Study("fusion", "3D fusion operators (MDF-Net)", "4", ("val", "test"), fusion_specs, "fusion-sum"),
    Study("backbones", "Backbones x variants", "3", ("val", "test"), backbone_specs,
          "backbone-mobilenet_v3_small_variant-baseline"),
    Study("features", "Clinical feature subsets (MDF-Net)", "5c", ("val", "test"), feature_specs, "features-all"),
    Study("detectors", "Detectors x variants", "", ("val", "test"), detector_specs,
          "detector-maskrcnn_variant-baseline"),
)}
CORRELATION = "correlation"  # the one study without training
STUDY_NAMES: tuple[str, ...] = (*STUDIES, CORRELATION)


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise InputError(f"unknown study {name!r}; expected one of {', '.join(STUDY_NAMES)}")
    return STUDIES[name]


def study_specs(name: str, backbones: Sequence[str] | None = None,
                schema: CohortSchema | None = None) -> list[RunSpec]:
    """The run specs of study ``name``; ``backbones`` picks a subset for the ``backbones`` study only;
    ``schema`` (the cohort's) gives the ``features`` study its columns."""
    study = get_study(name)
    if backbones and name != "backbones":
        raise InputError(f"--backbones applies to the backbones study only, not {name!r}")
    if name == "features":
        return study.build(schema)
    return study.build(backbones) if name == "backbones" else study.build()
