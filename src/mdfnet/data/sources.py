"""Locate the raw PhysioNet tables and read only the columns we need, with checks.

Two layouts are understood:

* **raw** (each dataset as PhysioNet ships it): ``mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv[.gz]`` and
  ``files/p{XX}/p{subject}/s{study}/{dicom}.jpg``; ``mimiciv/{hosp,core}/patients.csv[.gz]``;
  ``mimic-iv-ed/ed/{edstays,triage}.csv[.gz]``; ``reflacx/main_data/metadata_phase_{1,2,3}.csv`` and
  ``reflacx/main_data/{id}/anomaly_location_ellipses.csv``.
* **MIMIC-Eye** (one folder per patient, each with its own slice of every table, written by pandas):
  ``patient_{subject}/{Hosp|Core}/patients.csv``, ``ED/edstays.csv``, ``ED/triage.csv``,
  ``CXR-JPG/cxr_meta.csv``, ``CXR-JPG/s{study}/{dicom}.jpg``, ``REFLACX/metadata.csv`` (or
  ``metadata_phase_*.csv``) and ``REFLACX/[main_data/]{id}/anomaly_location_ellipses.csv``. These names
  follow the MIMIC-Eye builder's code; a table missing from one patient folder is simply absent there.

Every table is checked on read: a missing file or column raises :class:`InputError` naming both, and a
value of the wrong type names the file, the line and the value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mdfnet.errors import InputError

# Column kinds: "int" (non-null integer ids), "float" (numbers, NaN allowed), "datetime", "bool", "raw"
# (kept as read: free text such as triage `pain`, or vitals that clean.py converts and counts).
METADATA_COLUMNS = {"dicom_id": "str", "subject_id": "int", "study_id": "int", "StudyDate": "int",
                    "StudyTime": "float"}
METADATA_OPTIONAL = {"ViewPosition": "str"}
PATIENTS_COLUMNS = {"subject_id": "int", "gender": "str", "anchor_age": "float", "anchor_year": "float"}
EDSTAYS_COLUMNS = {"subject_id": "int", "stay_id": "int", "intime": "datetime", "outtime": "datetime"}
TRIAGE_COLUMNS = {"stay_id": "int", "temperature": "raw", "heartrate": "raw", "resprate": "raw",
                  "o2sat": "raw", "sbp": "raw", "dbp": "raw", "pain": "raw", "acuity": "raw"}
REFLACX_COLUMNS = {"id": "str", "split": "str", "eye_tracking_data_discarded": "bool", "dicom_id": "str",
                   "subject_id": "int", "image_size_x": "int", "image_size_y": "int"}

_TRUE = {"true", "1", "1.0", "yes", "t"}
_FALSE = {"false", "0", "0.0", "no", "f"}
_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass
class RawTables:
    """The five tables ``prepare`` needs, each restricted to the checked columns."""

    metadata: pd.DataFrame
    patients: pd.DataFrame
    edstays: pd.DataFrame
    triage: pd.DataFrame
    reflacx: pd.DataFrame


@dataclass
class Sources:
    """Where the tables and the per-reading files are. ``image_path``/``ellipse_path`` map ids to paths."""

    layout: str  # "raw" or "mimic-eye"
    files: dict[str, list[Path]]
    image_dir: Path
    reflacx_dirs: list[Path]

    def image_path(self, subject_id: int, study_id: int, dicom_id: str) -> Path:
        """The JPG path of one radiograph (it may not exist; prepare checks)."""
        if self.layout == "mimic-eye":
            return self.image_dir / f"patient_{subject_id}" / "CXR-JPG" / f"s{study_id}" / f"{dicom_id}.jpg"
        sid = str(subject_id)
        return self.image_dir / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{study_id}" / f"{dicom_id}.jpg"

    def ellipse_path(self, subject_id: int, reading_id: str) -> Path | None:
        """The ellipse table of one REFLACX reading, or None when no candidate folder holds it."""
        if self.layout == "mimic-eye":
            base = self.image_dir / f"patient_{subject_id}" / "REFLACX"
            candidates = [base / "main_data" / reading_id, base / reading_id]
        else:
            candidates = [d / reading_id for d in self.reflacx_dirs]
        for folder in candidates:
            path = folder / "anomaly_location_ellipses.csv"
            if path.is_file():
                return path
        return None


def locate(*, root: str | Path | None = None, mimic_cxr_jpg: str | Path | None = None,
           mimic_iv: str | Path | None = None, mimic_iv_ed: str | Path | None = None,
           reflacx: str | Path | None = None, mimic_eye: str | Path | None = None) -> Sources:
    """Find every input file; raise InputError naming the folder or file that is missing."""
    if mimic_eye is not None:
        if any(p is not None for p in (root, mimic_cxr_jpg, mimic_iv, mimic_iv_ed, reflacx)):
            raise InputError("--mimic-eye replaces the other source folders: give it alone")
        return _locate_mimic_eye(_existing_dir(mimic_eye, "--mimic-eye"))
    if root is not None:
        base = _existing_dir(root, "--root")
        mimic_cxr_jpg = mimic_cxr_jpg or base / "mimic-cxr-jpg"
        mimic_iv = mimic_iv or base / "mimiciv"
        mimic_iv_ed = mimic_iv_ed or base / "mimic-iv-ed"
        reflacx = reflacx or base / "reflacx"
    named = {"--mimic-cxr-jpg": mimic_cxr_jpg, "--mimic-iv": mimic_iv, "--mimic-iv-ed": mimic_iv_ed,
             "--reflacx": reflacx}
    absent = [flag for flag, value in named.items() if value is None]
    if absent:
        raise InputError(f"no folder given for {', '.join(absent)} (or give --root / --mimic-eye)")
    cxr = _existing_dir(mimic_cxr_jpg, "--mimic-cxr-jpg")
    iv = _existing_dir(mimic_iv, "--mimic-iv")
    ed = _existing_dir(mimic_iv_ed, "--mimic-iv-ed")
    rfx = _existing_dir(reflacx, "--reflacx")
    main_data = rfx / "main_data" if (rfx / "main_data").is_dir() else rfx
    phases = sorted(main_data.glob("metadata_phase_*.csv"))
    if not phases:
        raise InputError(f"{main_data}: no REFLACX metadata_phase_*.csv found (expected main_data/metadata_phase_1.csv ...)")
    files = {
        "metadata": [_find_one(cxr, ["mimic-cxr-2.0.0-metadata.csv", "mimic-cxr-2.1.0-metadata.csv"])],
        "patients": [_find_one(iv, ["hosp/patients.csv", "core/patients.csv", "patients.csv"])],
        "edstays": [_find_one(ed, ["ed/edstays.csv", "edstays.csv"])],
        "triage": [_find_one(ed, ["ed/triage.csv", "triage.csv"])],
        "reflacx": phases,
    }
    return Sources("raw", files, cxr, [main_data])


def _locate_mimic_eye(base: Path) -> Sources:
    patients = sorted(p for p in base.iterdir() if p.is_dir() and p.name.startswith("patient_"))
    if not patients:
        raise InputError(f"{base}: no patient_<subject_id> folders: is this a MIMIC-Eye folder?")
    wanted = {"patients": [("Hosp", "patients.csv"), ("Core", "patients.csv")],
              "edstays": [("ED", "edstays.csv")], "triage": [("ED", "triage.csv")],
              "metadata": [("CXR-JPG", "cxr_meta.csv")], "reflacx": [("REFLACX", "metadata.csv")]}
    files: dict[str, list[Path]] = {name: [] for name in wanted}
    for folder in patients:
        for name, options in wanted.items():
            for sub, filename in options:
                path = folder / sub / filename
                if path.is_file():
                    files[name].append(path)
                    break
            else:
                if name == "reflacx":  # older copies keep REFLACX's per-phase files
                    files[name].extend(sorted((folder / "REFLACX").glob("metadata_phase_*.csv")))
    for name, options in wanted.items():
        if not files[name]:
            sub, filename = options[0]
            raise InputError(f"{base}: no patient_*/{sub}/{filename} in any patient folder (MIMIC-Eye {name} table)")
    return Sources("mimic-eye", files, base, [])


def read_sources(sources: Sources) -> RawTables:
    """Read the five tables with column and type checks (REFLACX phases and MIMIC-Eye slices stacked)."""
    return RawTables(
        metadata=read_table(sources.files["metadata"], METADATA_COLUMNS, METADATA_OPTIONAL),
        patients=read_table(sources.files["patients"], PATIENTS_COLUMNS),
        edstays=read_table(sources.files["edstays"], EDSTAYS_COLUMNS),
        triage=read_table(sources.files["triage"], TRIAGE_COLUMNS),
        reflacx=read_table(sources.files["reflacx"], REFLACX_COLUMNS),
    )


def read_table(paths: list[Path], columns: dict[str, str], optional: dict[str, str] | None = None) -> pd.DataFrame:
    """Read and stack CSVs (plain or compressed), keeping only ``columns`` (+ ``optional`` when present)."""
    frames = [_read_one(p, columns, optional or {}) for p in paths]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True, sort=False)
    return frame


def _read_one(path: Path, columns: dict[str, str], optional: dict[str, str]) -> pd.DataFrame:
    header = _read_csv(path, nrows=0).columns
    header = [str(c).strip() for c in header]
    for column in columns:
        if column not in header:
            raise InputError(f"{path}: missing column '{column}' (found: {', '.join(header[:12])})")
    kinds = dict(columns)
    kinds.update({c: k for c, k in optional.items() if c in header})
    keep = list(kinds)
    text = {c: str for c, k in kinds.items() if k in ("str", "raw", "bool", "datetime")}
    frame = _read_csv(path, usecols=lambda c: str(c).strip() in keep, dtype=text)
    frame.columns = [str(c).strip() for c in frame.columns]
    for column, kind in kinds.items():
        frame[column] = _convert(frame[column], kind, path, column)
    return frame


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, low_memory=False, **kwargs)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError) as err:
        raise InputError(f"{path}: not a readable CSV ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None


def _convert(values: pd.Series, kind: str, path: Path, column: str) -> pd.Series:
    if kind in ("raw", "str"):
        return values
    if kind == "bool":
        return _to_bool(values, path, column)
    if kind == "datetime":
        parsed = pd.to_datetime(values, format=_DATETIME_FORMAT, errors="coerce")
        if parsed.isna().sum() > values.isna().sum():  # another ISO spelling, e.g. with fractions of a second
            parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
        _fail_on_bad(values, parsed, path, column, "a date-time like 2180-05-06 19:17:00")
        return parsed
    numbers = values if pd.api.types.is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
    _fail_on_bad(values, numbers, path, column, "a number")
    if kind == "int":
        if numbers.isna().any():
            row = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            raise InputError(f"{path}: line {row + 2}, column '{column}': empty, expected an integer id")
        if not pd.api.types.is_integer_dtype(numbers):
            fractional = numbers != np.floor(numbers)
            if fractional.any():
                row = int(np.flatnonzero(fractional.to_numpy())[0])
                raise InputError(f"{path}: line {row + 2}, column '{column}': expected an integer, got {numbers.iloc[row]!r}")
            numbers = numbers.astype("int64")
    return numbers


def _fail_on_bad(raw: pd.Series, parsed: pd.Series, path: Path, column: str, expected: str) -> None:
    bad = parsed.isna().to_numpy() & raw.notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: line {row + 2}, column '{column}': expected {expected}, got {raw.iloc[row]!r} "
                         f"({int(bad.sum())} such values)")


def _to_bool(values: pd.Series, path: Path, column: str) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(np.nan, index=values.index, dtype="object")
    out[text.isin(_TRUE).fillna(False).to_numpy()] = True
    out[text.isin(_FALSE).fillna(False).to_numpy()] = False
    bad = out.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: line {row + 2}, column '{column}': expected True/False, got {values.iloc[row]!r}")
    return out.astype(bool)


def _existing_dir(path: str | Path, flag: str) -> Path:
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InputError(f"{flag} {path}: folder not found")
    return folder


def _find_one(base: Path, relatives: list[str]) -> Path:
    """The first of ``relatives`` (each tried as .csv.gz, then .csv) that exists under ``base``."""
    for relative in relatives:
        for suffix in (".gz", ""):
            path = base / (relative + suffix)
            if path.is_file():
                return path
    tried = ", ".join(r + "[.gz]" for r in relatives)
    raise InputError(f"{base}: none of {tried} found")


def file_exists(paths: list[Path]) -> np.ndarray:
    """bool [N]: which paths are existing files (one stat each; fast enough for a few thousand)."""
    return np.fromiter((os.path.isfile(p) for p in paths), dtype=bool, count=len(paths))

