"""Clean the triage vitals and the age: documented rules, each one counted.

Values stay raw-but-clean (units fixed, impossible values made missing); imputation and scaling are
fitted later, on the train split only, inside the model. Rules, applied in this order:

| feature     | unit          | rule                                                                   | count key                        |
|-------------|---------------|------------------------------------------------------------------------|----------------------------------|
| any vital   |               | text that is not a number -> missing                                   | ``<feature>_not_a_number``       |
| pain        | 0-10 scale    | text that is not a plain number ("0-10", "unable", "critical") -> missing | ``pain_not_a_number``         |
| pain        | 0-10 scale    | a number outside [0, 10] (13, 88) -> missing                            | ``pain_out_of_range``            |
| temperature | deg F         | a value in [30, 45] is Celsius -> converted, F = C * 9/5 + 32           | ``temperature_celsius_converted``|
| temperature | deg F         | then outside [75, 115] -> missing                                      | ``temperature_implausible``      |
| heartrate   | beats/min     | outside [20, 300] -> missing                                           | ``heartrate_implausible``        |
| resprate    | breaths/min   | outside [4, 80] -> missing                                             | ``resprate_implausible``         |
| o2sat       | %             | outside [50, 100] -> missing                                           | ``o2sat_implausible``            |
| sbp         | mmHg          | outside [40, 300] -> missing                                           | ``sbp_implausible``              |
| dbp         | mmHg          | outside [10, 200] -> missing                                           | ``dbp_implausible``              |
| acuity      | ESI level     | not one of 1, 2, 3, 4, 5 -> missing                                    | ``acuity_implausible``           |
| age         | years         | anchor_age + (study year - anchor_year); outside [0, 120] -> missing   | ``age_implausible``              |

Triage counts are taken over every triage row read (not only the cohort's); the age count over the
cohort's readings. Bounds are inclusive. :func:`clean_values` applies the same rules to one person's
values (``mdfnet predict``) and says which it changed and why.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mdfnet.schema import TRIAGE_FEATURES

# Inclusive plausible ranges after unit fixes (see the table above).
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "temperature": (75.0, 115.0), "heartrate": (20.0, 300.0), "resprate": (4.0, 80.0), "o2sat": (50.0, 100.0),
    "sbp": (40.0, 300.0), "dbp": (10.0, 200.0), "acuity": (1.0, 5.0), "age": (0.0, 120.0),
}
CELSIUS_RANGE = (30.0, 45.0)
PAIN_RANGE = (0.0, 10.0)
# The unit each numeric feature is kept in (the cohort's, the model's, the one a user types).
UNITS: dict[str, str] = {
    "age": "years", "temperature": "deg F", "heartrate": "beats/min", "resprate": "breaths/min", "o2sat": "%",
    "sbp": "mmHg", "dbp": "mmHg", "pain": "0-10 scale", "acuity": "ESI level",
}


def plausible_range(feature: str) -> tuple[float, float]:
    """The inclusive range a value of ``feature`` must lie in after the unit fixes (the table above)."""
    return PAIN_RANGE if feature == "pain" else PLAUSIBLE[feature]


def check_value(feature: str, value: float, source: str = "clinical values") -> tuple[float, str | None]:
    """One typed-in value under the rules above: ``(value in the cohort's unit, note or None)``.

    A temperature in the Celsius range is converted (the note says so); a value that ``prepare`` would
    make missing is an ``InputError`` naming the feature, the value and the range.
    """
    from mdfnet.errors import InputError

    note = None
    if feature == "temperature" and CELSIUS_RANGE[0] <= value <= CELSIUS_RANGE[1]:
        converted = value * 9.0 / 5.0 + 32.0
        note = f"temperature {value:g} read as deg C: {converted:.1f} deg F"
        value = converted
    low, high = plausible_range(feature)
    whole = feature != "acuity" or value == round(value)
    if not (low <= value <= high) or not whole:
        kind = "a whole number " if feature == "acuity" else ""
        celsius = ", or 30 to 45 deg C" if feature == "temperature" else ""
        raise InputError(f"{source}: {feature}={value:g} is outside the physiological range; expected {kind}"
                         f"{low:g} to {high:g} ({UNITS[feature]}){celsius}")
    return value, note


def clean_triage(triage: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the vitals rules to a triage table (``stay_id`` + the eight raw columns of ``TRIAGE_FEATURES``).

    Returns the cleaned frame (float64 columns, NaN = missing) and the count of each rule.
    """
    counts: dict[str, int] = {}
    out = pd.DataFrame({"stay_id": triage["stay_id"].to_numpy()}, index=triage.index)
    out["pain"], counts["pain_not_a_number"], counts["pain_out_of_range"] = parse_pain(triage["pain"])
    for feature in (f for f in TRIAGE_FEATURES if f != "pain"):  # pain is free text, parsed above
        values, counts[f"{feature}_not_a_number"] = to_number(triage[feature])
        if feature == "temperature":
            values, counts["temperature_celsius_converted"] = celsius_to_fahrenheit(values)
        values, counts[f"{feature}_implausible"] = drop_implausible(values, feature)
        out[feature] = values
    return out, counts


def parse_pain(pain: pd.Series) -> tuple[pd.Series, int, int]:
    """Pain text -> float in [0, 10] or NaN; also the counts (not a number, out of range)."""
    text = pain.astype("string").str.strip()
    present = text.notna() & (text != "")
    numbers = pd.to_numeric(text.where(present), errors="coerce").astype(float)
    not_a_number = int((present & numbers.isna()).sum())
    out_of_range = numbers.notna() & ~numbers.between(*PAIN_RANGE)
    return numbers.where(~out_of_range), not_a_number, int(out_of_range.sum())


def to_number(values: pd.Series) -> tuple[pd.Series, int]:
    """Numbers as float64 (NaN where missing) and how many non-empty values were not numbers."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float), 0
    text = values.astype("string").str.strip()
    present = text.notna() & (text != "")
    numbers = pd.to_numeric(text.where(present), errors="coerce").astype(float)
    return numbers, int((present & numbers.isna()).sum())


def celsius_to_fahrenheit(temperature: pd.Series) -> tuple[pd.Series, int]:
    """Convert values in the Celsius range to deg F; return them and how many were converted."""
    celsius = temperature.between(*CELSIUS_RANGE)
    return temperature.where(~celsius, temperature * 9.0 / 5.0 + 32.0), int(celsius.sum())


def drop_implausible(values: pd.Series, feature: str) -> tuple[pd.Series, int]:
    """Make values outside the feature's plausible range missing; return them and the count."""
    low, high = PLAUSIBLE[feature]
    bad = values.notna() & ~values.between(low, high)
    if feature == "acuity":
        bad |= values.notna() & (values != np.round(values))  # a fractional level is not a level
    return values.where(~bad), int(bad.sum())


def age_at_study(anchor_age: pd.Series, anchor_year: pd.Series, study_year: pd.Series) -> tuple[pd.Series, int]:
    """Age in years at the study (MIMIC-IV's anchor rule), implausible ages made missing and counted."""
    age = anchor_age.astype(float) + (study_year.astype(float) - anchor_year.astype(float))
    return drop_implausible(age, "age")


def clean_values(values: Mapping[str, float]) -> tuple[dict[str, float], list[dict]]:
    """The rules above applied to one person's numbers (``age`` and any of ``TRIAGE_FEATURES``; NaN or
    absent = missing), through the very functions ``prepare`` uses.

    Returns the cleaned values (NaN = missing) and one record per value a rule changed:
    ``{"feature", "given", "value" (None = made missing), "rule" (the report's count key), "reason"}``.
    """
    given = {name: float(values.get(name, np.nan)) for name in ("age", *TRIAGE_FEATURES)}
    triage = pd.DataFrame({"stay_id": [0], **{name: [given[name]] for name in TRIAGE_FEATURES}})
    cleaned, counts = clean_triage(triage)
    out = {name: float(cleaned[name].iat[0]) for name in TRIAGE_FEATURES}
    age, counts["age_implausible"] = drop_implausible(pd.Series([given["age"]]), "age")
    out = {"age": float(age.iat[0]), **out}
    changes = []
    for rule, n in counts.items():
        if n:
            feature = next(name for name in out if rule.startswith(f"{name}_"))
            value = out[feature]
            changes.append({"feature": feature, "given": given[feature], "value": None if np.isnan(value) else value,
                            "rule": rule, "reason": _reason(rule[len(feature) + 1:], feature, given[feature], value)})
    return out, changes


def _reason(rule: str, feature: str, given: float, value: float) -> str:
    """``38.2 is in the Celsius range [30, 45]: converted to 100.8 F`` and the like, for one changed value."""
    if rule == "celsius_converted":
        low, high = CELSIUS_RANGE
        return f"{given:g} is in the Celsius range [{low:g}, {high:g}]: converted to {value:.1f} F"
    if rule == "out_of_range":
        return f"{given:g} is outside the pain scale [{PAIN_RANGE[0]:g}, {PAIN_RANGE[1]:g}]: made missing"
    low, high = PLAUSIBLE[feature]
    if feature == "acuity" and low <= given <= high:
        return f"{given:g} is not an ESI level (1, 2, 3, 4 or 5): made missing"
    return f"{given:g} is outside the plausible range [{low:g}, {high:g}]: made missing"
