"""Vitals rules: each value's fate and each count, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mdfnet.data.clean import age_at_study, clean_triage, parse_pain


def test_pain_strings():
    values, not_a_number, out_of_range = parse_pain(pd.Series(["8", " 3 ", "0-10", "unable", "13", "88", "7.5",
                                                               None, "", "critical", "0", "10", "-1"]))
    expected = [8, 3, np.nan, np.nan, np.nan, np.nan, 7.5, np.nan, np.nan, np.nan, 0, 10, np.nan]
    np.testing.assert_array_equal(values.to_numpy(), np.array(expected, dtype=float))
    assert (not_a_number, out_of_range) == (3, 3)


def test_triage_rules_and_counts():
    triage = pd.DataFrame({
        "stay_id": [1, 2, 3, 4],
        "temperature": [37.0, 98.6, 200.0, None],
        "heartrate": [80, 400, 10, 90],
        "resprate": [16, 16, 16, 0],
        "o2sat": [98, 1000, 97, 45],
        "sbp": [120, 120, 120, 500],
        "dbp": [80, 80, 80, 80],
        "pain": ["2", "unable", "13", None],
        "acuity": [1, 2.5, 6, 3],
    })
    clean, counts = clean_triage(triage)
    assert clean["temperature"].round(1).tolist()[:2] == [98.6, 98.6]
    assert clean["temperature"].isna().tolist() == [False, False, True, True]
    assert clean["heartrate"].isna().tolist() == [False, True, True, False]
    assert clean["acuity"].tolist()[0] == 1 and clean["acuity"].isna().sum() == 2
    assert counts["temperature_celsius_converted"] == 1 and counts["temperature_implausible"] == 1
    assert (counts["heartrate_implausible"], counts["resprate_implausible"], counts["o2sat_implausible"]) == (2, 1, 2)
    assert (counts["sbp_implausible"], counts["dbp_implausible"], counts["acuity_implausible"]) == (1, 0, 2)
    assert (counts["pain_not_a_number"], counts["pain_out_of_range"]) == (1, 1)


def test_text_in_a_vital_is_counted():
    triage = pd.DataFrame({"stay_id": [1, 2], "temperature": ["98.1", "warm"], "heartrate": [70, 71],
                           "resprate": [16, 16], "o2sat": [99, 99], "sbp": [120, 121], "dbp": [70, 71],
                           "pain": ["1", "2"], "acuity": [2, 3]})
    clean, counts = clean_triage(triage)
    assert counts["temperature_not_a_number"] == 1 and np.isnan(clean["temperature"].iloc[1])


def test_age_at_study():
    age, bad = age_at_study(pd.Series([60.0, 91.0, 30.0]), pd.Series([2150.0, 2150.0, 2150.0]),
                            pd.Series([2153, 2180, 2100]))
    assert age.tolist()[:1] == [63.0] and age.isna().tolist() == [False, True, True] and bad == 2


def test_check_value_converts_celsius_and_refuses_what_prepare_would_drop():
    import pytest

    from mdfnet.data.clean import UNITS, check_value
    from mdfnet.errors import InputError
    from mdfnet.schema import NUMERIC_FEATURES

    assert set(UNITS) == set(NUMERIC_FEATURES)
    assert check_value("temperature", 101.3) == (101.3, None)
    value, note = check_value("temperature", 38.5)
    assert value == pytest.approx(101.3) and note == "temperature 38.5 read as deg C: 101.3 deg F"
    assert check_value("pain", 10.0) == (10.0, None) and check_value("acuity", 1.0) == (1.0, None)
    with pytest.raises(InputError,
                       match=r"^form: o2sat=120 is outside the physiological range; expected 50 to 100 \(%\)$"):
        check_value("o2sat", 120.0, "form")
    with pytest.raises(InputError,
                       match=r"temperature=130 is outside .* expected 75 to 115 \(deg F\), or 30 to 45 deg C$"):
        check_value("temperature", 130.0)
    with pytest.raises(InputError, match=r"pain=13 is outside .* expected 0 to 10 \(0-10 scale\)$"):
        check_value("pain", 13.0)
    with pytest.raises(InputError, match=r"acuity=2.5 is outside .* expected a whole number 1 to 5 \(ESI level\)$"):
        check_value("acuity", 2.5)


def test_one_persons_values_go_through_the_same_rules_and_each_change_is_said():
    from mdfnet.data.clean import clean_values

    cleaned, changes = clean_values({"temperature": 37.0, "heartrate": 400.0, "acuity": 2.5, "sbp": 120.0})
    assert cleaned["temperature"] == 37.0 * 9 / 5 + 32 and cleaned["sbp"] == 120.0
    assert all(np.isnan(cleaned[f]) for f in ("heartrate", "acuity", "age", "o2sat"))
    assert [(c["feature"], c["rule"], c["reason"]) for c in changes] == [
        ("temperature", "temperature_celsius_converted", "37 is in the Celsius range [30, 45]: converted to 98.6 F"),
        ("heartrate", "heartrate_implausible", "400 is outside the plausible range [20, 300]: made missing"),
        ("acuity", "acuity_implausible", "2.5 is not an ESI level (1, 2, 3, 4 or 5): made missing"),
    ]
    values, changes = clean_values({"o2sat": 97.0})
    assert values["o2sat"] == 97.0 and changes == []
