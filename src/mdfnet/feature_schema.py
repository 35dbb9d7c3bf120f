"""A cohort's schema: its classes and its per-image tabular features (names, kinds, categories).

``mdfnet prepare --coco`` infers the schema from the data and writes it as ``schema.json`` in the cohort
folder; a cohort folder without one is a MIMIC cohort (:data:`MIMIC_SCHEMA`: the five lesion classes, the
nine numeric triage values and gender). The schema travels in every checkpoint, so a trained model encodes
new inputs exactly as it encoded its training data.

The clinical tensor of a batch is float32 ``[N, F]``, one column per feature in schema order (numeric
features first, then categorical ones):

* numeric: the raw value, NaN when missing (the model standardises, fitted on the train split);
* categorical: the value's index in ``categories`` (0..K-1), NaN when missing; a value outside
  ``categories`` is K, the feature's "unseen" slot, when it has one, and NaN (missing) when it does not.

Example::

    >>> schema = CohortSchema(classes=("crack",), features=(Feature("temperature", "numeric"),
    ...                       Feature("camera", "categorical", categories=("A", "B"))))
    >>> schema.encode_values({"temperature": "21.5", "camera": "C"}, "row 1")
    (tensor([21.5000,  2.0000]), [])
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mdfnet.errors import InputError
from mdfnet.schema import CLASSES, COHORT_ID_COLUMNS, GENDER_CODES, NUMERIC_FEATURES

SCHEMA_FILE = "schema.json"
FORMAT_VERSION = 1
KINDS: tuple[str, ...] = ("numeric", "categorical")


@dataclass(frozen=True)
class Feature:
    """One tabular column.

    Attributes:
        name: the column's name in ``cohort.csv`` (and in the user's CSV).
        kind: ``numeric`` or ``categorical``.
        categories: categorical only: the known values (those of the train split), in code order.
        unseen_slot: categorical only: one more embedding row, taken by values outside ``categories`` and by
            missing values. Without it (MIMIC's gender, the authors' ``Embedding(2, 55)``), a missing value
            gets the mean of the rows.
    """

    name: str
    kind: str
    categories: tuple[str, ...] = ()
    unseen_slot: bool = True

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "numeric":
            return {"name": self.name, "kind": self.kind}
        return {"name": self.name, "kind": self.kind, "categories": list(self.categories),
                "unseen_slot": self.unseen_slot}


@dataclass(frozen=True)
class CohortSchema:
    """The classes (label ids 1..K in this order; 0 is background) and the features of a cohort."""

    classes: tuple[str, ...]
    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        _check(self)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.kind == "numeric")

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.kind == "categorical")

    @property
    def width(self) -> int:
        """Columns of the clinical tensor."""
        return len(self.features)

    @property
    def num_classes(self) -> int:
        """Classes + background, as torchvision counts them."""
        return len(self.classes) + 1

    @property
    def class_to_id(self) -> dict[str, int]:
        return {name: i + 1 for i, name in enumerate(self.classes)}

    @property
    def count_columns(self) -> tuple[str, ...]:
        """``n_<class>`` box-count columns of ``cohort.csv``, one per class."""
        return tuple(count_column(c) for c in self.classes)

    @property
    def cohort_columns(self) -> tuple[str, ...]:
        """The columns ``cohort.csv`` starts with, in order."""
        return COHORT_ID_COLUMNS + self.names + self.count_columns

    def feature(self, name: str) -> Feature:
        return self.features[self.names.index(name)]

    def select(self, names: Sequence[str] | None, setting: str = "model.clinical_features") -> tuple[str, ...]:
        """``names`` checked against the schema (None = every feature), for a feature subset setting."""
        if names is None:
            return self.names
        unknown = [n for n in names if n not in self.names]
        if unknown or not names:
            raise InputError(f"{setting}: " + (f"unknown feature(s) {unknown}" if unknown else "empty")
                             + f"; the cohort's features are {', '.join(self.names)}")
        return tuple(names)

    def encode_frame(self, frame: pd.DataFrame, source: str = "cohort") -> np.ndarray:
        """float32 ``[N, F]`` clinical tensor (see the module docstring) of a cohort-like frame."""
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise InputError(f"{source}: missing feature column(s) {missing} of the schema")
        out = np.empty((len(frame), self.width), dtype=np.float32)
        for i, feature in enumerate(self.features):
            values = frame[feature.name]
            if feature.kind == "numeric":
                out[:, i] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float32)
                continue
            codes = values.map({c: float(k) for k, c in enumerate(feature.categories)})
            unseen = codes.isna() & values.notna()
            codes = codes.mask(unseen, float(len(feature.categories)) if feature.unseen_slot else np.nan)
            out[:, i] = codes.to_numpy(dtype=np.float32)
        return out

    def encode_values(self, values: Mapping[str, object],
                      source: str = "clinical values") -> tuple[torch.Tensor, list[str]]:
        """``{"temperature": 21.5, "camera": "A"}`` -> (float32 ``[F]``, names of the missing features).

        Raises InputError naming ``source`` for an unknown feature or a numeric value that is not a number.
        """
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise InputError(f"{source}: unknown feature(s) {unknown}; expected some of {list(self.names)}")
        row = torch.full((self.width,), float("nan"))
        for i, feature in enumerate(self.features):
            value = values.get(feature.name)
            if is_blank(value):
                continue
            if feature.kind == "numeric":
                row[i] = parse_number(value, f"{source}: {feature.name}={value!r}")
            elif str(value).strip() in feature.categories:
                row[i] = float(feature.categories.index(str(value).strip()))
            elif feature.unseen_slot:
                row[i] = float(len(feature.categories))
        missing = [n for n, v in zip(self.names, row.tolist()) if math.isnan(v)]
        return row, missing

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, "classes": list(self.classes),
                "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: Any, source: str = "schema") -> CohortSchema:
        """Rebuild a schema from :meth:`to_dict` output; InputError names ``source`` and the bad field."""
        if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("classes", "features")):
            raise InputError(f"{source}: expected an object with lists 'classes' and 'features'")
        if data.get("format", FORMAT_VERSION) != FORMAT_VERSION:
            raise InputError(f"{source}: schema format {data.get('format')!r}; "
                             f"this mdfnet reads format {FORMAT_VERSION}")
        features = []
        for i, item in enumerate(data["features"]):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InputError(f"{source}: features[{i}]: expected an object with a 'name'")
            features.append(Feature(item["name"], item.get("kind"), tuple(str(c) for c in item.get("categories", ())),
                                    bool(item.get("unseen_slot", True))))
        return cls(tuple(str(c) for c in data["classes"]), tuple(features))


def count_column(class_name: str) -> str:
    """``Enlarged cardiac silhouette`` -> ``n_enlarged_cardiac_silhouette``: the class's box-count column."""
    return "n_" + re.sub(r"[^0-9a-z]+", "_", class_name.lower()).strip("_")


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def parse_number(value: object, what: str) -> float:
    """``float(value)``, or InputError ``"<what> is not a number"`` (also for inf and nan)."""
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InputError(f"{what} is not a number")
    return number


def read_schema(path: str | Path) -> CohortSchema:
    """Read ``schema.json``; InputError names the file when it is not a valid schema."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a readable schema file ({err})") from None
    return CohortSchema.from_dict(data, str(path))


def write_schema(schema: CohortSchema, path: str | Path) -> None:
    Path(path).write_text(json.dumps(schema.to_dict(), indent=2) + "\n")


def _check(schema: CohortSchema) -> None:
    where = "schema"
    if not schema.classes or any(not isinstance(c, str) or not c.strip() for c in schema.classes):
        raise InputError(f"{where}: classes must be a non-empty list of names, got {list(schema.classes)}")
    for names, what in ((schema.classes, "class"), (schema.count_columns, "class count column")):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InputError(f"{where}: {what} {repeated[0]!r} appears twice (class names must differ in "
                             "letters or digits)")
    names = [f.name for f in schema.features]
    for feature in schema.features:
        if feature.kind not in KINDS:
            raise InputError(f"{where}: feature {feature.name!r} has kind {feature.kind!r}; expected one of {KINDS}")
        if not feature.name.strip():
            raise InputError(f"{where}: a feature has an empty name")
        if names.count(feature.name) > 1:
            raise InputError(f"{where}: feature {feature.name!r} appears twice")
        if feature.name in COHORT_ID_COLUMNS or feature.name in schema.count_columns or feature.name == "image_id":
            raise InputError(f"{where}: feature {feature.name!r} has the name of a cohort column; rename it")
        if feature.kind == "categorical" and not feature.categories and not feature.unseen_slot:
            raise InputError(f"{where}: categorical feature {feature.name!r} has no categories and no unseen slot")
    kinds = [f.kind for f in schema.features]
    if kinds != sorted(kinds, key=KINDS.index):
        raise InputError(f"{where}: numeric features must come before categorical ones, got {names}")


# The MIMIC cohort as the paper uses it: nine numbers, then gender (F = 0, M = 1, no unseen slot, so that the
# paper preset builds the authors' Embedding(2, 55) and parameter count).
MIMIC_SCHEMA = CohortSchema(
    classes=CLASSES,
    features=tuple(Feature(n, "numeric") for n in NUMERIC_FEATURES)
    + (Feature("gender", "categorical", tuple(sorted(GENDER_CODES, key=GENDER_CODES.get)), unseen_slot=False),),
)
