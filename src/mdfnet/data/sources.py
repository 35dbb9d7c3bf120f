"""Locate the raw PhysioNet tables and read only the columns we need, with checks.

Two layouts are understood:

* **raw** (each dataset as PhysioNet ships it): ``mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv[.gz]`` and
  ``files/p{XX}/p{subject}/s{study}/{dicom}.jpg``; ``mimiciv/{hosp,core}/patients.csv[.gz]``;
  ``mimic-iv-ed/ed/{edstays,triage}.csv[.gz]``; ``reflacx/main_data/metadata_phase_{1,2,3}.csv`` and
  ``reflacx/main_data/{id}/anomaly_location_ellipses.csv``.
* **MIMIC-Eye** 1.0.0, as its builder's notebooks write it (ChihchengHsieh/MIMIC-Eye): a ``mimic-eye/``
  folder (given itself, or the download's root holding it) with ``spreadsheets/`` and one
  ``patient_{subject}/`` folder per patient, every CSV written by pandas with its index column first. Each
  table is read from the first of these that exists:

  | table    | full table, read once                 | else every patient's slice, joined                         |
  |----------|---------------------------------------|------------------------------------------------------------|
  | metadata | ``spreadsheets/cxr_meta.csv``         | ``patient_*/CXR-JPG/cxr_meta.csv``                         |
  | patients | ``spreadsheets/Hosp/patients.csv``    | ``patient_*/Hosp/patients.csv`` or ``Core/patients.csv``   |
  | edstays  | ``spreadsheets/ED/edstays.csv``       | ``patient_*/ED/edstays.csv`` (the release has only these)  |
  | triage   | ``spreadsheets/ED/triage.csv``        | ``patient_*/ED/triage.csv``                                |
  | reflacx  | ``spreadsheets/REFLACX/metadata.csv`` | ``patient_*/REFLACX/metadata.csv``                         |

  Images are ``patient_{subject}/CXR-JPG/s{study}/{dicom}.jpg``, ellipses
  ``patient_{subject}/REFLACX/main_data/{id}/anomaly_location_ellipses.csv`` (``REFLACX/{id}/`` in the
  builder's older XAMI-MIMIC copies, which also keep ``patients`` per patient under ``Core/``).
  ``cxr_meta.csv`` carries the builder's own ``stay_id`` and ``StudyDateTime``, made with the unpadded
  StudyTime: we link stays ourselves and keep its ``stay_id`` only to count where it differs
  (:data:`BUILDER_STAY_ID`).

Every table is checked on read: a missing file or column raises :class:`InputError` naming both, and a
value of the wrong type names the file, the line and the value.
"""

from __future__ import annotations

import gzip
import io
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
BUILDER_STAY_ID = "builder_stay_id"  # MIMIC-Eye's cxr_meta `stay_id`, renamed so it never passes for ours

# MIMIC-Eye: table -> (its full copy under spreadsheets/, its per-patient copies under patient_*/)
MIMIC_EYE_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "metadata": ("cxr_meta.csv", ("CXR-JPG/cxr_meta.csv",)),
    "patients": ("Hosp/patients.csv", ("Hosp/patients.csv", "Core/patients.csv")),
    "edstays": ("ED/edstays.csv", ("ED/edstays.csv",)),
    "triage": ("ED/triage.csv", ("ED/triage.csv",)),
    "reflacx": ("REFLACX/metadata.csv", ("REFLACX/metadata.csv",)),
}
PATIENT_PREFIX = "patient_"

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
            return self.image_dir / f"{PATIENT_PREFIX}{subject_id}" / "CXR-JPG" / f"s{study_id}" / f"{dicom_id}.jpg"
        sid = str(subject_id)
        return self.image_dir / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{study_id}" / f"{dicom_id}.jpg"

    def ellipse_path(self, subject_id: int, reading_id: str) -> Path | None:
        """The ellipse table of one REFLACX reading, or None when no candidate folder holds it."""
        if self.layout == "mimic-eye":
            base = self.image_dir / f"{PATIENT_PREFIX}{subject_id}" / "REFLACX"
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


def _locate_mimic_eye(folder: Path) -> Sources:
    base = _mimic_eye_root(folder)
    with os.scandir(base) as entries:
        patients = sorted(Path(e.path) for e in entries if e.name.startswith(PATIENT_PREFIX) and e.is_dir())
    files = {table: _mimic_eye_table(base, patients, table) for table in MIMIC_EYE_TABLES}
    return Sources("mimic-eye", files, base, [])


def _mimic_eye_root(folder: Path) -> Path:
    """The folder holding the ``patient_*`` folders: ``folder`` itself or its one subfolder that does."""
    if _has_patient_folders(folder):
        return folder
    inner = sorted(sub for sub in folder.iterdir() if sub.is_dir() and _has_patient_folders(sub))
    if len(inner) == 1:
        return inner[0]
    if inner:
        raise InputError(f"{folder}: several MIMIC-Eye folders ({', '.join(s.name for s in inner)}): give one")
    raise InputError(f"{folder}: no patient_<subject_id> folders, here or one level down: "
                     "is this a MIMIC-Eye folder?")


def _has_patient_folders(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(e.name.startswith(PATIENT_PREFIX) and e.is_dir() for e in entries)


def _mimic_eye_table(base: Path, patients: list[Path], table: str) -> list[Path]:
    """The full table in spreadsheets/ when present, else each patient's copy (first name found per folder)."""
    full, per_patient = MIMIC_EYE_TABLES[table]
    if (base / "spreadsheets" / full).is_file():
        return [base / "spreadsheets" / full]
    found = []
    for folder in patients:
        for relative in per_patient:
            if os.path.isfile(folder / relative):
                found.append(folder / relative)
                break
    if not found:
        tried = " or ".join(f"patient_*/{relative}" for relative in per_patient)
        raise InputError(f"{base}: no spreadsheets/{full} and no {tried} (the MIMIC-Eye {table} table)")
    return found


def read_sources(sources: Sources) -> RawTables:
    """Read the five tables with column and type checks (REFLACX phases and MIMIC-Eye slices stacked).

    From MIMIC-Eye, ``metadata`` also carries the builder's ``stay_id`` as :data:`BUILDER_STAY_ID`.
    """
    builder = {"stay_id": "float"} if sources.layout == "mimic-eye" else {}
    metadata = read_table(sources.files["metadata"], METADATA_COLUMNS, {**METADATA_OPTIONAL, **builder})
    return RawTables(
        metadata=metadata.rename(columns={"stay_id": BUILDER_STAY_ID}),
        patients=read_table(sources.files["patients"], PATIENTS_COLUMNS),
        edstays=read_table(sources.files["edstays"], EDSTAYS_COLUMNS),
        triage=read_table(sources.files["triage"], TRIAGE_COLUMNS),
        reflacx=read_table(sources.files["reflacx"], REFLACX_COLUMNS),
    )


def read_table(paths: list[Path], columns: dict[str, str], optional: dict[str, str] | None = None) -> pd.DataFrame:
    """Read and stack CSVs (plain or compressed), keeping only ``columns`` (+ ``optional`` when present).

    Many files (MIMIC-Eye's per-patient slices) are joined, in order, into one text per run of files with
    the same header line and parsed once; when that fails, the files are read one by one so that the error
    names the file and line.
    """
    optional = optional or {}
    if len(paths) == 1:
        return _read_one(paths[0], columns, optional)
    try:
        return _read_joined(paths, columns, optional)
    except InputError:
        for path in paths:
            _read_one(path, columns, optional)
        raise


def _read_joined(paths: list[Path], columns: dict[str, str], optional: dict[str, str]) -> pd.DataFrame:
    runs: list[tuple[bytes, list[bytes]]] = []  # consecutive files sharing a header line: one text each
    for path in paths:
        header, _, body = _read_bytes(path).partition(b"\n")
        if body and not body.endswith(b"\n"):
            body += b"\n"
        if not runs or runs[-1][0] != header:
            runs.append((header, []))
        runs[-1][1].append(body)
    label = Path(f"{paths[0]} (and {len(paths) - 1} more files like it)")
    frames = [_read_one(label, columns, optional, io.BytesIO(header + b"\n" + b"".join(bodies)))
              for header, bodies in runs]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True, sort=False)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as handle:
                return handle.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable file ({type(err).__name__}: {str(err)[:120]})") from None


def _read_one(path: Path, columns: dict[str, str], optional: dict[str, str],
              text: io.BytesIO | None = None) -> pd.DataFrame:
    """One CSV (``text`` when given, else the file ``path``), read once; messages name ``path``."""
    wanted = {**columns, **optional}
    strings = {c: str for c, k in wanted.items() if k in ("str", "raw", "bool", "datetime")}
    frame = _read_csv(path, text, usecols=lambda c: str(c).strip() in wanted, dtype=strings)
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in columns:
        if column not in frame.columns:
            if text is not None:
                text.seek(0)
            header = [str(c).strip() for c in _read_csv(path, text, nrows=0).columns]
            raise InputError(f"{path}: missing column '{column}' (found: {', '.join(header[:12])})")
    for column, kind in wanted.items():
        if column in frame.columns:
            frame[column] = _convert(frame[column], kind, path, column)
    return frame[[c for c in wanted if c in frame.columns]]


def _read_csv(path: Path, text: io.BytesIO | None = None, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path if text is None else text, low_memory=False, **kwargs)
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

