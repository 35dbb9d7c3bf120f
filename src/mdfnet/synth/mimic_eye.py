"""Repackage a raw PhysioNet tree the way the MIMIC-Eye builder does, so ``prepare --mimic-eye`` can be tried.

The builder (ChihchengHsieh/MIMIC-Eye, notebooks "[Patient-Level] (1)-(4)") reads the PhysioNet tables with
``pd.read_csv`` defaults and writes every table with ``DataFrame.to_csv`` (pandas' index column first). This
module does the same steps on the tables the synthetic data has (no chexpert/negbio/split tables, report
texts or EyeGaze files; metadata images can be named EyeGaze's, so that their patients get folders too):

1. ``cxr_meta``: the MIMIC-CXR metadata rows of the REFLACX and EyeGaze images, plus ``in_eye_gaze``,
   ``in_reflacx``, ``StudyDateTime = float(str(StudyDate) + str(StudyTime))`` and the builder's ``stay_id``:
   the one ED stay with ``intime < StudyDateTime < outtime``, times compared as the numbers YYYYMMDDHHMMSS.
   StudyTime is not zero-padded there, so no study taken before 10:00 gets a ``stay_id``.
2. ``spreadsheets/``: ``cxr_meta.csv``, ``REFLACX/metadata.csv`` (phases joined) and, in the 1.0.0 release
   only, the full ``Hosp/patients.csv`` and ``ED/triage.csv``.
3. ``patient_{subject_id}/``: ``ED/{edstays,triage}.csv`` (subjects of ``cxr_meta`` with ED rows),
   ``CXR-JPG/cxr_meta.csv`` (a slice of the re-read spreadsheet, so its ``stay_id`` reads ``33258284.0``)
   with the study folders' JPEGs in ``CXR-JPG/s{study_id}/``, ``REFLACX/metadata.csv`` (every REFLACX
   subject) with each reading's folder in ``REFLACX/main_data/{id}/``.

Layouts: ``"1.0.0"`` (the release, written to ``OUT/mimic-eye/``) and ``"xami-mimic"`` (the builder's
late-2021 per-patient version, written to ``OUT/XAMI-MIMIC/``: per-patient ``Core/patients.csv``, REFLACX
folders without ``main_data/``, no clinical spreadsheets). Where the builder would crash on a folder the
source lacks (a missing JPEG study or ellipse folder), this skips it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from mdfnet.errors import InputError
from mdfnet.synth.generate import generate
from mdfnet.synth.writer import CXR_DIR, ED_DIR, HOSP_DIR, REFLACX_DIR

LAYOUTS = {"1.0.0": "mimic-eye", "xami-mimic": "XAMI-MIMIC"}  # layout -> the folder the builder writes
DESCRIPTION_FILES = ("SYNTH_README.md", "synth_spec.json", "planted.json")


def generate_mimic_eye(out_dir: str | Path, layout: str = "1.0.0", **synth) -> dict:
    """:func:`generate` the raw tree in a scratch folder, then :func:`to_mimic_eye` it into ``out_dir``.

    ``out_dir`` gets ``mimic-eye/`` (like the download's root) and the description files; ``synth`` are
    :func:`generate`'s arguments. Returns the planted counts: the same data, so the same report.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".physionet-") as scratch:
        planted = generate(scratch, **synth)
        base = to_mimic_eye(scratch, out, layout)
        for name in DESCRIPTION_FILES:
            shutil.move(Path(scratch) / name, out / name)
    with open(out / "SYNTH_README.md", "a") as readme:
        readme.write(f"\n## Layout\n\nRepackaged from the raw layout the way the MIMIC-Eye builder does "
                     f"(layout {layout}, `mdfnet.synth.mimic_eye`) into `{base.name}/`: run "
                     f"`mdfnet prepare --mimic-eye {out}`.\n")
    return planted


def to_mimic_eye(raw_root: str | Path, out_dir: str | Path, layout: str = "1.0.0",
                 eye_gaze_dicoms: frozenset[str] = frozenset()) -> Path:
    """Write the MIMIC-Eye tree of the raw PhysioNet tree ``raw_root`` under ``out_dir``.

    Args:
        raw_root: a folder in the raw layout (``mimic-cxr-jpg/``, ``mimiciv/hosp/``, ``mimic-iv-ed/ed/``,
            ``reflacx/main_data/``), as :func:`mdfnet.synth.generate` writes it.
        out_dir: the download's root; the tree goes into ``out_dir/mimic-eye/`` (or ``XAMI-MIMIC/``).
        layout: ``"1.0.0"`` or ``"xami-mimic"`` (see the module docstring).
        eye_gaze_dicoms: metadata images to count as EyeGaze's (the builder's other source of images).

    Returns:
        The inner folder holding ``patient_*/`` and ``spreadsheets/``.
    """
    if layout not in LAYOUTS:
        raise InputError(f"MIMIC-Eye layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    raw, base = Path(raw_root), Path(out_dir) / LAYOUTS[layout]
    sheets = base / "spreadsheets"
    reflacx = pd.concat([pd.read_csv(p) for p in sorted((raw / REFLACX_DIR).glob("metadata_phase_*.csv"))])
    edstays = pd.read_csv(_raw_table(raw / ED_DIR / "edstays.csv"))
    cxr_meta = builder_cxr_meta(pd.read_csv(_raw_table(raw / CXR_DIR / "mimic-cxr-2.0.0-metadata.csv")),
                                reflacx, edstays, eye_gaze_dicoms)
    _write(cxr_meta, sheets / "cxr_meta.csv")
    cxr_meta = pd.read_csv(sheets / "cxr_meta.csv", index_col=0)  # the later notebooks start from this file
    _write(reflacx, sheets / "REFLACX" / "metadata.csv")
    subjects = set(cxr_meta["subject_id"])

    patients = pd.read_csv(_raw_table(raw / HOSP_DIR / "patients.csv"))
    triage = pd.read_csv(_raw_table(raw / ED_DIR / "triage.csv"))
    if layout == "1.0.0":  # the per-patient import of patients is commented out: only the full table
        _write(patients, sheets / "Hosp" / "patients.csv")
        _write(triage, sheets / "ED" / "triage.csv")
    else:
        _write_per_patient(patients[patients["subject_id"].isin(subjects)], base, "Core/patients.csv")
    _write_per_patient(edstays[edstays["subject_id"].isin(subjects)], base, "ED/edstays.csv")
    _write_per_patient(triage[triage["subject_id"].isin(subjects)], base, "ED/triage.csv")

    _write_per_patient(cxr_meta, base, "CXR-JPG/cxr_meta.csv")
    studies = cxr_meta[["subject_id", "study_id"]].drop_duplicates()
    for subject, study in studies.itertuples(index=False):
        sid = str(subject)
        _copy_folder(raw / CXR_DIR / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{study}",
                     base / f"patient_{subject}" / "CXR-JPG" / f"s{study}")
    _write_per_patient(reflacx, base, "REFLACX/metadata.csv")
    reading_dir = "main_data" if layout == "1.0.0" else ""
    for reading_id, subject in reflacx[["id", "subject_id"]].itertuples(index=False):
        _copy_folder(raw / REFLACX_DIR / reading_id, base / f"patient_{subject}" / "REFLACX" / reading_dir / reading_id)
    return base


def builder_cxr_meta(metadata: pd.DataFrame, reflacx: pd.DataFrame, edstays: pd.DataFrame,
                     eye_gaze_dicoms: frozenset[str] = frozenset()) -> pd.DataFrame:
    """The builder's ``cxr_meta``: metadata rows of the REFLACX/EyeGaze images (original index) + its 4 columns."""
    in_reflacx = metadata["dicom_id"].isin(set(reflacx["dicom_id"]))
    in_eye_gaze = metadata["dicom_id"].isin(eye_gaze_dicoms)
    cxr_meta = metadata[in_reflacx | in_eye_gaze].copy()
    cxr_meta["in_eye_gaze"] = in_eye_gaze[cxr_meta.index]
    cxr_meta["in_reflacx"] = in_reflacx[cxr_meta.index]
    cxr_meta["StudyDateTime"] = [float(str(d) + str(t)) for d, t in zip(cxr_meta["StudyDate"], cxr_meta["StudyTime"])]
    cxr_meta["stay_id"] = builder_stay_ids(cxr_meta, edstays)
    return cxr_meta


def builder_stay_ids(cxr_meta: pd.DataFrame, edstays: pd.DataFrame) -> np.ndarray:
    """object [N]: the stay_id of the one stay with intime < StudyDateTime < outtime (as numbers), else None."""
    stays = pd.DataFrame({"subject_id": edstays["subject_id"], "stay_id": edstays["stay_id"],
                          "start": _time_number(edstays["intime"]), "end": _time_number(edstays["outtime"])})
    images = pd.DataFrame({"row": np.arange(len(cxr_meta)), "subject_id": cxr_meta["subject_id"].to_numpy(),
                           "when": cxr_meta["StudyDateTime"].to_numpy()})
    pairs = images.merge(stays, on="subject_id")
    inside = pairs[(pairs["start"] < pairs["when"]) & (pairs["end"] > pairs["when"])]
    single = inside[~inside["row"].duplicated(keep=False)]
    out = np.full(len(cxr_meta), None, dtype=object)
    out[single["row"].to_numpy()] = [int(s) for s in single["stay_id"]]
    return out


def _time_number(times: pd.Series) -> pd.Series:
    """Times as the builder's numbers: 2180-05-06 19:17:00 -> 21800506191700.0 (a missing time -> inf)."""
    digits = times.astype("string").str.replace(r"[-/ :]", "", regex=True)
    return pd.to_numeric(digits).astype(float).fillna(np.inf)


def _raw_table(path: Path) -> Path:
    for candidate in (path.with_name(path.name + ".gz"), path):
        if candidate.is_file():
            return candidate
    raise InputError(f"{path}[.gz]: file not found (expected the raw PhysioNet layout that mdfnet synth writes)")


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path)  # index kept, as the builder's to_csv calls do


def _write_per_patient(frame: pd.DataFrame, base: Path, relative: str) -> None:
    """``patient_{subject_id}/relative`` per subject: that subject's rows, original index kept."""
    for subject, rows in frame.groupby("subject_id", sort=True):
        _write(rows, base / f"patient_{subject}" / relative)


def _copy_folder(source: Path, destination: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)
