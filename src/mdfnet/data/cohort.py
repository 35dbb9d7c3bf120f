"""Load a cohort folder written by ``mdfnet prepare`` and check it against the contract."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mdfnet.data.report import BOXES_FILE, COHORT_FILE
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, SCHEMA_FILE, CohortSchema, read_schema
from mdfnet.schema import BOX_COLUMNS, SPLITS


def load_schema(cohort_dir: str | Path) -> CohortSchema:
    """The cohort's ``schema.json`` (classes and features), or :data:`MIMIC_SCHEMA` for a folder without one."""
    path = Path(cohort_dir) / SCHEMA_FILE
    return read_schema(path) if path.is_file() else MIMIC_SCHEMA


def load_cohort(cohort_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``cohort.csv`` and ``boxes.csv``; add ``image_id`` (1 + row position in cohort.csv) to both.

    Raises InputError naming the file and the problem: missing file or column, columns out of order, an
    unknown split or label, a box whose reading is not in the cohort, or a box with no area.
    """
    folder = Path(cohort_dir)
    cohort_path, boxes_path = folder / COHORT_FILE, folder / BOXES_FILE
    for path in (cohort_path, boxes_path):
        if not path.is_file():
            raise InputError(f"{path}: not found (is {folder} a folder written by `mdfnet prepare`?)")
    schema = load_schema(folder)
    cohort = _read(cohort_path, {"reading_id": str, "dicom_id": str, "split": str, "image_path": str,
                                 **{name: str for name in schema.categorical}})
    boxes = _read(boxes_path, {"reading_id": str, "label": str})
    _check_columns(cohort_path, list(cohort.columns), schema.cohort_columns)
    _check_columns(boxes_path, list(boxes.columns), BOX_COLUMNS)
    _check_values(cohort_path, cohort, "split", SPLITS)
    _check_values(boxes_path, boxes, "label", schema.classes)
    if cohort["reading_id"].duplicated().any():
        raise InputError(f"{cohort_path}: reading_id {cohort['reading_id'][cohort['reading_id'].duplicated()].iloc[0]} appears twice")
    cohort["image_id"] = range(1, len(cohort) + 1)
    image_id = pd.Series(cohort["image_id"].to_numpy(), index=cohort["reading_id"])
    boxes["image_id"] = boxes["reading_id"].map(image_id)
    orphans = boxes["image_id"].isna()
    if orphans.any():
        raise InputError(f"{boxes_path}: reading_id {boxes.loc[orphans, 'reading_id'].iloc[0]} is not in {COHORT_FILE}")
    boxes["image_id"] = boxes["image_id"].astype("int64")
    flat = (boxes["xmax"] <= boxes["xmin"]) | (boxes["ymax"] <= boxes["ymin"])
    if flat.any():
        raise InputError(f"{boxes_path}: line {int(flat.to_numpy().argmax()) + 2}: box with no area (xmax <= xmin or ymax <= ymin)")
    return cohort, boxes


def _read(path: Path, dtypes: dict) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=dtypes, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not a readable cohort table ({str(err).splitlines()[0][:120]})") from None


def _check_columns(path: Path, found: list[str], expected: tuple[str, ...]) -> None:
    missing = [c for c in expected if c not in found]
    if missing:
        raise InputError(f"{path}: missing column '{missing[0]}'")
    if tuple(found[: len(expected)]) != tuple(expected):
        raise InputError(f"{path}: columns must start with {', '.join(expected)} in that order")


def _check_values(path: Path, frame: pd.DataFrame, column: str, allowed: tuple[str, ...]) -> None:
    bad = ~frame[column].isin(allowed)
    if bad.any():
        raise InputError(f"{path}: line {int(bad.to_numpy().argmax()) + 2}, column '{column}': "
                         f"{frame.loc[bad, column].iloc[0]!r} is not one of {', '.join(allowed)}")
