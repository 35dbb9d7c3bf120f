"""Link each radiograph to the emergency-department stay it was taken in.

A study links to a stay when the subject is the same and ``intime < study datetime < outtime`` (strict),
and only when exactly one stay matches. The study datetime comes from MIMIC-CXR's ``StudyDate``
(YYYYMMDD) and ``StudyTime`` (HHMMSS.fff stored as a float, so 08:05:56 reads ``80556.0``).

Two modes:

* ``"correct"`` (default) reads ``StudyTime`` as a number of hours/minutes/seconds, so any time of day works.
* ``"paper"`` reproduces the authors' bug: they glued ``str(StudyDate) + str(StudyTime)`` into one number
  and compared it with ``intime``/``outtime`` written as the number YYYYMMDDHHMMSS. A time before 10:00
  has only five digits before the point, so the glued number is ten times too small and never falls in
  any stay: every study before 10:00 fails to link.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LINK_MODES = ("correct", "paper")


def study_datetime(study_date: pd.Series, study_time: pd.Series) -> pd.Series:
    """datetime64 [N] from StudyDate (int YYYYMMDD) and StudyTime (float HHMMSS.fff); NaT when invalid."""
    day = pd.to_datetime(study_date.astype("Int64").astype(str), format="%Y%m%d", errors="coerce")
    hhmmss = study_time.astype(float)
    hours, minutes, seconds = hhmmss // 10000, (hhmmss // 100) % 100, hhmmss % 100
    valid = (hhmmss >= 0) & (hours <= 23) & (minutes <= 59) & (seconds < 60)
    offset = pd.to_timedelta((hours * 3600 + minutes * 60 + seconds).where(valid), unit="s")
    return day + offset


def study_hour(study_time: pd.Series) -> pd.Series:
    """Hour of day [N] (float, NaN when missing) read from StudyTime."""
    return study_time.astype(float) // 10000


def paper_study_number(study_date: pd.Series, study_time: pd.Series) -> pd.Series:
    """The authors' float: the text of StudyDate glued to the text of StudyTime (no zero padding)."""
    glued = study_date.astype("Int64").astype(str) + study_time.astype(str)
    return pd.to_numeric(glued, errors="coerce")


def datetime_number(times: pd.Series) -> pd.Series:
    """A datetime as the float YYYYMMDDHHMMSS (exact in float64), the authors' representation of stay times."""
    return (times.dt.year * 1e10 + times.dt.month * 1e8 + times.dt.day * 1e6
            + times.dt.hour * 1e4 + times.dt.minute * 1e2 + times.dt.second).astype(float)


def link_stays(studies: pd.DataFrame, edstays: pd.DataFrame, mode: str = "correct") -> pd.DataFrame:
    """Match studies to ED stays.

    Args:
        studies: one row per radiograph with ``subject_id``, ``StudyDate``, ``StudyTime`` (any index).
        edstays: ``subject_id``, ``stay_id``, ``intime``, ``outtime`` (datetime64).
        mode: ``"correct"`` or ``"paper"`` (see the module docstring).

    Returns:
        A frame indexed like ``studies`` with ``n_stays`` (int, how many stays contain the study) and
        ``stay_id`` (Int64, set only when ``n_stays == 1``).
    """
    if mode not in LINK_MODES:
        raise ValueError(f"link mode must be one of {LINK_MODES}, got {mode!r}")
    if mode == "correct":
        when = study_datetime(studies["StudyDate"], studies["StudyTime"])
        start, end = edstays["intime"], edstays["outtime"]
    else:
        when = paper_study_number(studies["StudyDate"], studies["StudyTime"])
        start, end = datetime_number(edstays["intime"]), datetime_number(edstays["outtime"])
    left = pd.DataFrame({"row": np.arange(len(studies)), "subject_id": studies["subject_id"].to_numpy(),
                         "when": when.to_numpy()})
    right = pd.DataFrame({"subject_id": edstays["subject_id"].to_numpy(), "stay_id": edstays["stay_id"].to_numpy(),
                          "start": start.to_numpy(), "end": end.to_numpy()})
    right = right[right["subject_id"].isin(left["subject_id"])]  # keep the join small on full MIMIC
    pairs = left.merge(right, on="subject_id", how="inner")
    inside = pairs[(pairs["start"] < pairs["when"]) & (pairs["when"] < pairs["end"])]
    n_stays = np.bincount(inside["row"].to_numpy(), minlength=len(studies))
    stay = pd.Series(pd.NA, index=np.arange(len(studies)), dtype="Int64")
    single = inside[n_stays[inside["row"].to_numpy()] == 1]
    stay.iloc[single["row"].to_numpy()] = single["stay_id"].to_numpy()
    return pd.DataFrame({"n_stays": n_stays, "stay_id": stay.to_numpy()}, index=studies.index)


def count_differing(theirs: pd.Series, ours: pd.Series) -> int:
    """How many rows two links [N] disagree on: different stays, or a stay on one side only (NaN/NA = none)."""
    a = pd.to_numeric(theirs).to_numpy(dtype=float, na_value=np.nan)
    b = pd.to_numeric(ours).to_numpy(dtype=float, na_value=np.nan)
    return int((~((a == b) | (np.isnan(a) & np.isnan(b)))).sum())
