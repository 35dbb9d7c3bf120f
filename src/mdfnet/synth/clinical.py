"""Patients, latent causes, lesions and triage vitals: the clinical half of the generative model.

Everything here is vectorised over studies (one row each) and driven by one ``numpy.random.Generator``,
so a seed fixes every value. See :mod:`mdfnet.synth.spec` for the model in words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mdfnet.schema import TRIAGE_FEATURES
from mdfnet.synth.spec import CAUSES, SynthSpec

TARGETS = ("Enlarged cardiac silhouette", "Atelectasis", "Pleural abnormality", "Consolidation", "Pulmonary edema")
# Which cause shows as which lesion (pleural abnormality is a noisy-or over several causes).
LESION_OF_CAUSE = {
    "cardiomegaly": "Enlarged cardiac silhouette", "collapse": "Atelectasis",
    "infection": "Consolidation", "heart_failure": "Pulmonary edema",
}
PAIN_TEXTS = ("unable", "0-10", "critical", "UTA", "sleeping", "pt unable to rate", "moderate")
PAIN_OUT_OF_RANGE = ("13", "88", "20", "11", "100")
# Values no triage nurse meant: a dropped decimal point, a keyed-in 999.
IMPLAUSIBLE = {
    "temperature": (986.0, 981.0, 1004.0), "heartrate": (999.0, 1150.0, 450.0),
    "resprate": (160.0, 999.0, 220.0), "o2sat": (980.0, 1000.0, 870.0),
    "sbp": (1200.0, 999.0, 1450.0), "dbp": (800.0, 999.0, 1100.0), "acuity": (0.0, 9.0, 6.0),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def draw_ages(spec: SynthSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    """Ages in whole years, normal(age_mean, age_sd) truncated to ``age_range`` by redrawing. ``[n]`` int."""
    lo, hi = spec.age_range
    ages = rng.normal(spec.age_mean, spec.age_sd, n)
    bad = (ages < lo) | (ages > hi + 0.99)
    while bad.any():
        ages[bad] = rng.normal(spec.age_mean, spec.age_sd, int(bad.sum()))
        bad = (ages < lo) | (ages > hi + 0.99)
    return np.floor(ages).astype(int)


def draw_causes(spec: SynthSpec, age: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Latent causes per study: one bool column per name in ``CAUSES``."""
    decades = (age - 60.0) / 10.0
    causes = {}
    for name in CAUSES:
        logit = _logit(spec.cause_base[name]) + spec.clinical_signal * spec.cause_age_slope[name] * decades
        if name == "cardiomegaly":
            logit = logit + spec.cardiomegaly_logit_if_heart_failure * causes["heart_failure"]
        causes[name] = rng.random(len(age)) < _sigmoid(logit)
    return pd.DataFrame(causes)


def draw_lesions(spec: SynthSpec, causes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Which of the five target lesions each study shows, plus the unlabelled decoys and a nodule.

    Returns bool columns ``TARGETS + ("decoy_haze", "decoy_blunting", "nodule", "decoy_opacity")``.
    """
    n = len(causes)
    lesions = {name: np.zeros(n, bool) for name in TARGETS}
    for cause, lesion in LESION_OF_CAUSE.items():
        lesions[lesion] = causes[cause].to_numpy() & (rng.random(n) < spec.lesion_visible[lesion])
    p_clear = np.full(n, 1.0 - spec.pleural_given["base"])
    for cause in ("heart_failure", "infection"):
        p_clear *= np.where(causes[cause], 1.0 - spec.pleural_given[cause], 1.0)
    lesions["Pleural abnormality"] = rng.random(n) >= p_clear
    lesions["decoy_haze"] = ~lesions["Pulmonary edema"] & (rng.random(n) < spec.decoy_haze_p)
    lesions["decoy_blunting"] = ~lesions["Pleural abnormality"] & (rng.random(n) < spec.decoy_blunting_p)
    lesions["nodule"] = rng.random(n) < spec.nodule_p
    # drawn only when asked for, so the default setting's random stream (and every byte) stays as it was
    lesions["decoy_opacity"] = rng.random(n) < spec.decoy_opacity_p if spec.decoy_opacity_p > 0 else np.zeros(n, bool)
    return pd.DataFrame(lesions)


def draw_vitals(spec: SynthSpec, age: np.ndarray, causes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Clean triage values per row: baseline + age term + effects of the active causes.

    Units: temperature deg F, heartrate /min, resprate /min, o2sat %, sbp/dbp mmHg, pain 0-10, acuity 1-5.
    Every cause's effect is scaled by ``spec.clinical_signal``.
    """
    k = spec.clinical_signal
    n = len(age)
    decades = (age - 60.0) / 10.0
    out = {}
    for vital in TRIAGE_FEATURES:
        mean, sd = spec.vital_baseline[vital]
        value = rng.normal(mean, sd, n) + spec.vital_age_slope.get(vital, 0.0) * decades
        for cause in CAUSES:
            effect = spec.vital_effect[cause].get(vital)
            if effect is not None:
                value += causes[cause].to_numpy() * rng.normal(k * effect[0], k * effect[1], n)
        out[vital] = value
    out["temperature"] = np.round(np.clip(out["temperature"], 95.0, 106.5), 1)
    for vital, lo, hi in (("heartrate", 38, 190), ("resprate", 8, 48), ("o2sat", 70, 100),
                          ("sbp", 70, 240), ("dbp", 35, 140)):
        out[vital] = np.round(np.clip(out[vital], lo, hi))
    pain = np.clip(np.round(out["pain"]), 0, 10)
    zero_p = np.where(causes["collapse"], spec.pain_zero_p * 0.3 ** k, spec.pain_zero_p)
    out["pain"] = np.where(rng.random(n) < zero_p, 0.0, pain)
    out["acuity"] = np.clip(np.round(out["acuity"]), 1, 5)
    return pd.DataFrame(out)


def healthy(n: int) -> pd.DataFrame:
    """A causes table with nothing active (vitals of an unrelated ED visit)."""
    return pd.DataFrame({name: np.zeros(n, bool) for name in CAUSES})


def _pick(pool: np.ndarray, fraction: float, n_total: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``max(1, round(fraction * n_total))`` rows from ``pool`` (fewer if the pool is short)."""
    k = 0 if fraction <= 0 else max(1, int(round(fraction * n_total)))
    return rng.choice(pool, size=min(k, len(pool)), replace=False)


def mess_triage(spec: SynthSpec, vitals: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Turn clean vitals into triage.csv values with the real mess, on disjoint rows.

    Returns ``(table, counts)``: numeric vitals as float (NaN missing), ``pain`` as text ("" missing), and
    the exact number of rows given each quirk, keyed like prepare's report ``cleaning`` section.
    """
    n = len(vitals)
    out = vitals.copy()
    pain_text = np.array([str(int(p)) for p in vitals["pain"]], dtype=object)
    free = rng.permutation(n)  # rows not yet given a quirk, consumed from the front
    counts: dict[str, int] = {}

    def take(fraction: float) -> np.ndarray:
        nonlocal free
        rows = _pick(free, fraction, n, rng)
        free = np.setdiff1d(free, rows, assume_unique=True)
        return np.sort(rows)

    rows = take(spec.celsius_fraction)
    out.loc[rows, "temperature"] = np.round((vitals.loc[rows, "temperature"] - 32.0) * 5.0 / 9.0, 1)
    counts["temperature_celsius_converted"] = len(rows)
    rows = take(spec.pain_text_fraction)
    pain_text[rows] = rng.choice(PAIN_TEXTS, len(rows))
    counts["pain_not_a_number"] = len(rows)
    rows = take(spec.pain_out_of_range_fraction)
    pain_text[rows] = rng.choice(PAIN_OUT_OF_RANGE, len(rows))
    counts["pain_out_of_range"] = len(rows)
    for vital, values in IMPLAUSIBLE.items():
        rows = take(spec.implausible_fraction)
        out.loc[rows, vital] = rng.choice(values, len(rows))
        counts[f"{vital}_implausible"] = len(rows)

    # Missing values only on rows without a quirk, so every planted count stays exact.
    quirk_free = np.zeros(n, bool)
    quirk_free[free] = True
    all_missing = quirk_free & (rng.random(n) < spec.row_missing_fraction)
    for vital in TRIAGE_FEATURES:
        missing = quirk_free & (all_missing | (rng.random(n) < spec.value_missing_fraction))
        if vital == "pain":
            pain_text[missing] = ""
        else:
            out.loc[missing, vital] = np.nan
    out["pain"] = pain_text
    return out, counts
