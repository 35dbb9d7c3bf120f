"""Patients, radiograph studies and ED stays in time, with the planted linkage quirks.

Every patient has one REFLACX-read study. Each patient falls in exactly one *category*, so that prepare's
exclusions land on disjoint readings and every planted count is exact:

``discarded`` (eye tracking discarded), ``not_in_metadata`` (dicom_id absent from the CXR metadata),
``file_missing`` (no JPEG), ``no_stay`` (the only ED stay is days before the study), ``multiple_stays``
(the study lies inside two overlapping stays) or ``clean``. Clean studies may also be taken before 10:00
(03:00-09:59, so the authors' unpadded StudyTime never parses to a valid time), have extra non-overlapping
stays on other days, and be read by several radiologists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mdfnet.synth import clinical
from mdfnet.synth.spec import SynthSpec

# Category -> the spec field giving its share of patients, in prepare's exclusion order.
EXCLUSIONS = {"discarded": "eye_tracking_discarded_fraction", "not_in_metadata": "image_not_in_metadata_fraction",
              "file_missing": "image_file_missing_fraction", "no_stay": "no_stay_fraction",
              "multiple_stays": "multiple_stays_fraction"}
SECOND = np.timedelta64(1, "s")
DAY = np.timedelta64(86400, "s")
RACES = ("WHITE", "BLACK/AFRICAN AMERICAN", "HISPANIC/LATINO - PUERTO RICAN", "ASIAN", "OTHER", "UNKNOWN")
TRANSPORT = ("WALK IN", "AMBULANCE", "UNKNOWN", "OTHER")
COMPLAINTS = ("Dyspnea", "Chest pain", "Cough", "Fever", "Weakness", "Abd pain", "s/p Fall", "SOB", "Hypoxia")


def unique_ids(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """``n`` distinct sorted integers in ``[lo, hi)``."""
    ids = np.unique(rng.integers(lo, hi, n + n // 10 + 16))
    while len(ids) < n:
        ids = np.unique(np.concatenate([ids, rng.integers(lo, hi, n)]))
    return np.sort(rng.choice(ids, n, replace=False))


def dicom_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Ids shaped like MIMIC-CXR's: five groups of 8 hex digits joined by '-'."""
    words = rng.integers(0, 2**32, (n, 5), dtype=np.uint64)
    return ["-".join(f"{int(w):08x}" for w in row) for row in words]


def assign_categories(spec: SynthSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """One category per patient (see module doc); each planted exclusion on at least one patient."""
    category = np.full(n, "clean", dtype=object)
    free = rng.permutation(n)
    for name, field_name in EXCLUSIONS.items():
        fraction = getattr(spec, field_name)
        k = 0 if fraction <= 0 else min(max(1, int(round(fraction * n))), max(0, len(free) - 1))
        category[free[:k]] = name
        free = free[k:]
    return category


def study_times(spec: SynthSpec, category: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Study datetimes (``datetime64[ms]``) and whether each is a planted before-10:00 clean study."""
    n = len(category)
    early = (category == "clean") & (rng.random(n) < spec.before_10am_fraction)
    seconds = np.where(early, rng.integers(3 * 3600, 10 * 3600, n), rng.integers(10 * 3600, 24 * 3600, n))
    millis = np.where(rng.random(n) < 0.2, 0, rng.integers(0, 1000, n))
    year = rng.integers(2112, 2205, n)
    start = np.array([np.datetime64(f"{y}-01-01", "ms") for y in year])
    day = rng.integers(0, 365, n) * DAY
    return start + day + seconds * SECOND + millis * np.timedelta64(1, "ms"), early


def _stay(subject: int, intime: np.datetime64, hours: float, role: int) -> dict:
    return {"subject_id": int(subject), "intime": intime.astype("datetime64[s]"),
            "outtime": (intime + int(hours * 3600) * SECOND).astype("datetime64[s]"), "role": role}


def build_stays(studies: pd.DataFrame, spec: SynthSpec, rng: np.random.Generator) -> pd.DataFrame:
    """ED stays around the studies. ``role`` = index of the study whose vitals the stay carries, or -1.

    Main stay: intime 0.5-5 h before the study (floored to the second), outtime 0.5-8 h after.
    """
    rows = []
    several = (studies["category"] == "clean").to_numpy() & (rng.random(len(studies)) < spec.several_stays_fraction)
    times = studies["study_dt"].to_numpy().astype("datetime64[ms]")
    for i, (subject, category, t) in enumerate(zip(studies["subject_id"], studies["category"], times)):
        before = int(rng.integers(1800, 5 * 3600)) * SECOND
        if category == "no_stay":  # a visit weeks earlier: same patient, wrong time
            rows.append(_stay(subject, t - int(rng.integers(2, 60)) * DAY, rng.uniform(2, 10), -1))
            continue
        intime = (t - before).astype("datetime64[s]")
        hours = (t - intime) / np.timedelta64(3600, "s") + rng.uniform(0.5, 8.0)
        rows.append(_stay(subject, intime, hours, i))
        if category == "multiple_stays":  # a second registration overlapping the first
            second_in = (t - int(rng.integers(600, 3600)) * SECOND).astype("datetime64[s]")
            rows.append(_stay(subject, second_in, rng.uniform(1.0, 4.0), i))
        if several[i]:
            for _ in range(int(rng.integers(1, 3))):
                shift = int(rng.integers(20, 400)) * DAY * (1 if rng.random() < 0.5 else -1)
                rows.append(_stay(subject, intime + shift, rng.uniform(2, 10), -1))
    stays = pd.DataFrame(rows)
    stays["stay_id"] = unique_ids(rng, len(stays), 30_000_000, 40_000_000)[rng.permutation(len(stays))]
    admitted = rng.random(len(stays)) < 0.45
    hadm = unique_ids(rng, len(stays), 20_000_000, 30_000_000)
    stays["hadm_id"] = pd.Series(hadm, dtype="Int64").where(admitted)  # empty when not admitted
    stays["disposition"] = np.where(admitted, "ADMITTED", rng.choice(["HOME", "HOME", "LEFT WITHOUT BEING SEEN", "TRANSFER"], len(stays)))
    stays["race"] = rng.choice(RACES, len(stays))
    stays["arrival_transport"] = rng.choice(TRANSPORT, len(stays))
    return stays


def build_triage(studies: pd.DataFrame, stays: pd.DataFrame, spec: SynthSpec,
                 rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """One triage row per stay: vitals from its study's causes (role >= 0) or from a healthy visit."""
    role = stays["role"].to_numpy()
    linked = role >= 0
    age = np.where(linked, studies["age"].to_numpy()[np.maximum(role, 0)], rng.integers(25, 85, len(stays)))
    causes = clinical.healthy(len(stays))
    study_causes = studies[list(causes.columns)].to_numpy()[np.maximum(role, 0)]
    causes.loc[:, :] = np.where(linked[:, None], study_causes, False)
    vitals = clinical.draw_vitals(spec, age, causes, rng)
    triage, counts = clinical.mess_triage(spec, vitals, rng)
    triage.insert(0, "stay_id", stays["stay_id"].to_numpy())
    triage.insert(0, "subject_id", stays["subject_id"].to_numpy())
    triage["chiefcomplaint"] = rng.choice(COMPLAINTS, len(stays))
    return triage, counts


def build_studies(spec: SynthSpec, n_patients: int, image_size: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per patient and study: ids, category, time, view, size, age, causes, lesions, heart ratio."""
    n = n_patients
    age = clinical.draw_ages(spec, n, rng)
    causes = clinical.draw_causes(spec, age, rng)
    lesions = clinical.draw_lesions(spec, causes, rng)
    studies = pd.DataFrame({
        "subject_id": unique_ids(rng, n, 10_000_000, 20_000_000)[rng.permutation(n)],
        "study_id": unique_ids(rng, n, 50_000_000, 60_000_000)[rng.permutation(n)],
        "dicom_id": dicom_ids(rng, n),
        "gender": np.where(rng.random(n) < spec.female_fraction, "F", "M"),
        "age": age,
        "category": assign_categories(spec, n, rng),
    })
    studies["study_dt"], studies["before_10am"] = study_times(spec, studies["category"].to_numpy(), rng)
    sick = causes.any(axis=1).to_numpy()
    studies["view"] = np.where(rng.random(n) < np.where(sick, spec.ap_p_if_sick, spec.ap_fraction), "AP", "PA")
    lo, hi = spec.size_jitter
    studies["width"] = np.round(image_size * rng.uniform(lo, hi, n)).astype(int)
    studies["height"] = np.round(image_size * rng.uniform(lo, hi, n)).astype(int)
    enlarged = lesions["Enlarged cardiac silhouette"].to_numpy()
    ctr = np.where(enlarged, rng.normal(*spec.ctr_enlarged, n), rng.normal(*spec.ctr_normal, n))
    studies["ctr"] = np.clip(ctr * np.where(studies["view"] == "AP", spec.ap_magnification, 1.0), 0.33, 0.72)
    studies["phase"] = rng.choice([1, 2, 3], n, p=list(spec.phase_fractions))
    several = (studies["category"] == "clean") & (rng.random(n) < spec.several_readers_fraction)
    studies["n_readers"] = np.where(several, rng.integers(2, 6, n), 1)
    studies["lateral_dicom_id"] = [d if x else "" for d, x in zip(dicom_ids(rng, n), rng.random(n) < spec.extra_lateral_fraction)]
    return pd.concat([studies, causes, lesions], axis=1)
