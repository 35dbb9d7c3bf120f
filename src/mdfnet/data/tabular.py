"""Per-image tabular data for ``prepare --coco``: read the CSV, decide each column's kind, check values.

Rules:

* One row per image, keyed by the id column (default ``image_id``). Blank cells, and pandas' usual
  missing markers (``NA``, ``NaN``, ``null``, ...), are missing values.
* A row that repeats an earlier row exactly is dropped and counted (``duplicate_rows``); an id that
  appears again with other values is an error (which row is right cannot be told).
* Every other column, but the group column and the ``drop`` ones, is a feature. ``numeric`` and
  ``categorical`` decide for the columns they name; any other column is numeric when all its non-blank
  values are numbers, and categorical when fewer than :data:`NUMERIC_SHARE` of them are. A column between
  the two (numbers with a stray word: most likely a typo) is an error naming the first cell that is not
  a number, as is any such cell in a column declared numeric.
* The group column (patients, sites, devices) must be filled on every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mdfnet.errors import InputError

NUMERIC_SHARE = 0.9  # a column with at least this share of numbers, but not all, is a typo, not categories


@dataclass(frozen=True)
class Tabular:
    """The checked table.

    Attributes:
        rows: one row per id (index: the id as text), feature columns (numbers as float, categories as
            text, NaN = missing), the group column when there is one, and ``line`` (the row's CSV line).
        numeric, categorical: the feature columns by kind, in the CSV's order.
        duplicate_rows: rows dropped as exact repeats of an earlier row.
    """

    path: Path
    rows: pd.DataFrame
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    duplicate_rows: int


def read_tabular(path: str | Path, id_column: str = "image_id", group_column: str | None = None,
                 numeric: tuple[str, ...] = (), categorical: tuple[str, ...] = (),
                 drop: tuple[str, ...] = ()) -> Tabular:
    """Read and check the CSV (see the module docstring); InputError names the file, line and column."""
    path = Path(path)
    table = _read_csv(path)
    columns = list(table.columns)
    for flag, names in (("--id-column", (id_column,)), ("--group-column", (group_column,) if group_column else ()),
                        ("--numeric", numeric), ("--categorical", categorical), ("--drop", drop)):
        for name in names:
            if name not in columns:
                raise InputError(f"{path}: no column '{name}' (named by {flag}); the columns are {', '.join(columns)}")
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise InputError(f"{path}: column '{both[0]}' is named by both --numeric and --categorical")
    keys = {id_column, group_column}
    if keys & (set(numeric) | set(categorical)):
        raise InputError(f"{path}: the id and group columns cannot be features")
    table["line"] = np.arange(2, len(table) + 2)  # line 1 is the header
    table, duplicates = _drop_repeats(path, table, id_column)
    if group_column:
        _require_filled(path, table, group_column, "group")
    features = [c for c in columns if c not in keys and c not in drop]
    if not features:
        raise InputError(f"{path}: no feature column besides the id (and group) column")
    kinds = {c: _kind(path, table, c, numeric, categorical) for c in features}
    for name in features:
        if kinds[name] == "numeric":
            table[name] = _numbers(path, table, name, hint=" (named by --numeric)" if name in numeric else "")
    rows = table.set_index(id_column)
    rows.index = rows.index.astype(str)
    return Tabular(path, rows, tuple(c for c in features if kinds[c] == "numeric"),
                   tuple(c for c in features if kinds[c] == "categorical"), duplicates)


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: not found")
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable CSV ({str(err).splitlines()[0][:120]})") from None
    unnamed = [c for c in table.columns if str(c).startswith("Unnamed: ")]
    if unnamed:
        raise InputError(f"{path}: column {table.columns.get_loc(unnamed[0]) + 1} has no name in the header")
    return table.apply(lambda column: column.str.strip().replace("", np.nan))


def _drop_repeats(path: Path, table: pd.DataFrame, id_column: str) -> tuple[pd.DataFrame, int]:
    """Drop rows that repeat an earlier row exactly; an id repeated with other values is an error."""
    _require_filled(path, table, id_column, "image id")
    values = table.drop(columns="line")
    repeated = values.duplicated(keep="first")
    kept = table[~repeated]
    clash = kept[id_column].duplicated(keep=False)
    if clash.any():
        first_id = kept.loc[clash, id_column].iloc[0]
        lines = kept.loc[kept[id_column] == first_id, "line"].tolist()
        raise InputError(f"{path}: line {lines[1]}, column '{id_column}': id {first_id!r} appears twice (first on "
                         f"line {lines[0]}) with other values; keep one row per image")
    return kept, int(repeated.sum())


def _require_filled(path: Path, table: pd.DataFrame, column: str, what: str) -> None:
    blank = table[column].isna()
    if blank.any():
        raise InputError(f"{path}: line {int(table.loc[blank, 'line'].iloc[0])}, column '{column}': empty {what}; "
                         "every row needs one")


def _kind(path: Path, table: pd.DataFrame, column: str, numeric: tuple[str, ...],
          categorical: tuple[str, ...]) -> str:
    if column in numeric:
        return "numeric"
    if column in categorical:
        return "categorical"
    present = table[column].dropna()
    is_number = np.isfinite(pd.to_numeric(present, errors="coerce").to_numpy(dtype=float))
    if is_number.all():
        return "numeric"
    if is_number.mean() >= NUMERIC_SHARE:  # numbers with a stray word: a typo, most likely
        _numbers(path, table, column, hint=f" (the column holds numbers in {is_number.mean():.0%} of its "
                                          f"rows; fix the value, or pass --categorical {column})")
    return "categorical"


def _numbers(path: Path, table: pd.DataFrame, column: str, hint: str = "") -> pd.Series:
    """The column as float (NaN = missing); InputError at the first cell that is not a finite number."""
    numbers = pd.to_numeric(table[column], errors="coerce")
    bad = table[column].notna() & ~np.isfinite(numbers.to_numpy(dtype=float))
    if bad.any():
        line, value = int(table.loc[bad, "line"].iloc[0]), table.loc[bad, column].iloc[0]
        raise InputError(f"{path}: line {line}, column '{column}': {value!r} is not a number{hint}")
    return numbers.astype(float)
