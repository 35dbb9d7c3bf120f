"""Train/val/test splits grouped by patient, stratified by the findings present, and the leakage check.

The authors split rows at random, so the same image and patient sat in train and test. Here a patient's
readings always share one split. Patients are grouped into strata by the set of classes found in any of
their readings (rare sets pooled into "some finding" / "no finding"), shuffled with the seed inside each
stratum, then dealt out in turn to whichever split is furthest below its share of readings. That keeps
each split's reading count close to its fraction and each stratum spread in proportion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mdfnet.errors import InputError
from mdfnet.schema import BOX_COUNT_COLUMNS, SPLITS

OFFICIAL_NAMES = {"train": "train", "validation": "val", "val": "val", "test": "test"}
MIN_STRATUM_PATIENTS = 10  # a finding pattern shared by fewer patients is pooled


def split_by_patient(cohort: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                     seed: int = 0, count_columns: tuple[str, ...] = BOX_COUNT_COLUMNS) -> pd.Series:
    """Assign each reading to train/val/test (Series aligned with ``cohort``).

    Needs ``subject_id`` (the group: a patient) and the ``n_<class>`` box-count columns (``count_columns``;
    default MIMIC's five).
    """
    shares = np.asarray(fractions, dtype=float)
    if shares.shape != (3,) or (shares < 0).any() or not np.isclose(shares.sum(), 1.0):
        raise InputError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    if cohort.empty:
        return pd.Series([], index=cohort.index, dtype=object)
    patients = patient_strata(cohort, count_columns)
    rng = np.random.default_rng(seed)
    patients["order"] = rng.permutation(len(patients))
    patients = patients.sort_values(["stratum", "order"], kind="stable")
    assigned = np.zeros(3)
    choice = np.empty(len(patients), dtype=np.int64)
    for i, weight in enumerate(patients["readings"].to_numpy()):
        deficit = shares * (assigned.sum() + weight) - assigned
        choice[i] = int(np.argmax(deficit))
        assigned[choice[i]] += weight
    split_of = pd.Series(np.asarray(SPLITS)[choice], index=patients.index)
    return cohort["subject_id"].map(split_of)


def patient_strata(cohort: pd.DataFrame, count_columns: tuple[str, ...] = BOX_COUNT_COLUMNS) -> pd.DataFrame:
    """One row per patient (index subject_id): ``readings`` count and a ``stratum`` label (str)."""
    present = (cohort[list(count_columns)].to_numpy() > 0).astype(int)
    per_patient = pd.DataFrame(present, columns=list(count_columns)).groupby(cohort["subject_id"].to_numpy()).max()
    pattern = per_patient.astype(str).agg("".join, axis=1)
    sizes = pattern.map(pattern.value_counts())
    pooled = np.where(per_patient.to_numpy().any(axis=1), "some", "none")
    stratum = pattern.where(sizes >= MIN_STRATUM_PATIENTS, pooled)
    readings = cohort.groupby("subject_id").size()
    return pd.DataFrame({"stratum": stratum, "readings": readings.reindex(per_patient.index)})


def official_split(values: pd.Series, source: str = "REFLACX metadata") -> pd.Series:
    """REFLACX's own ``split`` column (train/validation/test) as train/val/test."""
    mapped = values.astype("string").str.strip().str.lower().map(OFFICIAL_NAMES)
    if mapped.isna().any():
        bad = sorted(set(values[mapped.isna()].astype(str)))[:5]
        raise InputError(f"{source}: column 'split' has values {bad}, expected train, validation or test")
    return mapped.astype(object)


def check_no_leakage(cohort: pd.DataFrame) -> None:
    """Raise InputError when a patient (or an image) appears in more than one split."""
    for key, what in (("subject_id", "patients"), ("dicom_id", "images")):
        spread = cohort.groupby(key)["split"].nunique()
        leaked = spread[spread > 1].index.tolist()
        if leaked:
            shown = ", ".join(str(x) for x in leaked[:10])
            raise InputError(f"split leakage: {len(leaked)} {what} in more than one split ({shown}"
                             f"{', ...' if len(leaked) > 10 else ''}); a patient's readings must share one split")


def split_summary(cohort: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Readings and patients per split, for the report."""
    return {name: {"readings": int((cohort["split"] == name).sum()),
                   "patients": int(cohort.loc[cohort["split"] == name, "subject_id"].nunique())}
            for name in SPLITS}
