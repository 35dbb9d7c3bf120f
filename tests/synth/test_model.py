"""The generative model, checked from the written raw tables: clinical values follow the lesions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REFLACX = Path("reflacx/main_data")


def linked_readings(root: Path) -> pd.DataFrame:
    """Readings (phases 2-3 label columns) joined to the triage row of the one ED stay containing the study."""
    readings = pd.concat(pd.read_csv(root / REFLACX / f"metadata_phase_{p}.csv") for p in (2, 3))
    readings = readings[~readings["eye_tracking_data_discarded"]]
    meta = pd.read_csv(root / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz")
    time = meta["StudyTime"].map(lambda t: f"{t:010.3f}")  # zero-padded HHMMSS.fff
    meta["when"] = pd.to_datetime(meta["StudyDate"].astype(str) + time, format="%Y%m%d%H%M%S.%f")
    stays = pd.read_csv(root / "mimic-iv-ed/ed/edstays.csv.gz", parse_dates=["intime", "outtime"])
    triage = pd.read_csv(root / "mimic-iv-ed/ed/triage.csv.gz", dtype={"pain": str})
    patients = pd.read_csv(root / "mimiciv/hosp/patients.csv.gz")
    df = readings.merge(meta[["dicom_id", "when"]], on="dicom_id").merge(stays, on="subject_id")
    df = df[(df["intime"] < df["when"]) & (df["when"] < df["outtime"])]
    df = df[~df.duplicated("id", keep=False)].merge(triage, on=["subject_id", "stay_id"])
    df = df.merge(patients, on="subject_id")
    df["age"] = df["anchor_age"] + df["when"].dt.year - df["anchor_year"]
    df.loc[df["temperature"].between(30, 45), "temperature"] = df["temperature"] * 9 / 5 + 32
    for vital, high in (("temperature", 115), ("o2sat", 100), ("resprate", 80), ("heartrate", 300), ("sbp", 300)):
        df.loc[df[vital] > high, vital] = np.nan
    return df


def test_vitals_follow_the_lesions(large):
    df = linked_readings(large[0])
    assert len(df) > 250
    cons = (df["Consolidation"] > 0) & (df["Atelectasis"] == 0)
    atel = (df["Atelectasis"] > 0) & (df["Consolidation"] == 0)
    assert cons.sum() > 15 and atel.sum() > 15
    # Look-alike opacities: fever and fast breathing say consolidation.
    assert df.loc[cons, "temperature"].mean() > df.loc[atel, "temperature"].mean() + 1.0
    assert df.loc[cons, "temperature"].mean() > 100.0
    assert df.loc[cons, "heartrate"].mean() > df.loc[atel, "heartrate"].mean()
    edema = df["Pulmonary edema"] > 0
    assert df.loc[edema, "o2sat"].mean() < df.loc[~edema, "o2sat"].mean() - 2.0
    assert df.loc[edema, "resprate"].mean() > df.loc[~edema, "resprate"].mean() + 2.0
    assert df.loc[edema, "sbp"].mean() > df.loc[~edema, "sbp"].mean() + 10.0
    heart = df["Enlarged cardiac silhouette"] > 0
    assert df.loc[heart, "age"].mean() > df.loc[~heart, "age"].mean() + 5.0


def test_marginals_are_realistic(large):
    df = linked_readings(large[0])
    assert 50 < df["age"].mean() < 70 and df["age"].between(18, 95).all()
    assert 97.5 < df["temperature"].mean() < 99.5
    assert 80 < df["heartrate"].mean() < 95 and 95 < df["o2sat"].mean() < 98.5
    acuity = df["acuity"].value_counts(normalize=True)
    assert acuity[2.0] + acuity[3.0] > 0.75
    assert (df["pain"] == "0").mean() > 0.3
    no_finding = (df[["Enlarged cardiac silhouette", "Atelectasis", "Pleural abnormality", "Consolidation",
                      "Pulmonary edema"]] == 0).all(axis=1)
    assert 0.3 < no_finding.mean() < 0.55


def test_clinical_data_alone_does_not_give_the_answer(large):
    """Among readings with one basal/mid opacity, temperature alone separates the classes only partly."""
    df = linked_readings(large[0]).dropna(subset=["temperature"])
    cons = (df["Consolidation"] > 0) & (df["Atelectasis"] == 0)
    atel = (df["Atelectasis"] > 0) & (df["Consolidation"] == 0)
    opacity = df[cons | atel]
    best = max(((opacity["temperature"] > t) == cons[cons | atel]).mean() for t in np.arange(98, 102, 0.1))
    assert 0.7 < best < 0.97
