"""The cohort schema: MIMIC as the default, coding of numeric and categorical values, checks, JSON round trip."""

import numpy as np
import pandas as pd
import pytest

from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema, Feature, count_column, read_schema, write_schema
from mdfnet.schema import BOX_COUNT_COLUMNS, CLASSES, CLINICAL_FEATURES, COHORT_COLUMNS

NAN = float("nan")
SCHEMA = CohortSchema(("hot spot", "crack"), (Feature("temperature", "numeric"),
                                               Feature("camera", "categorical", ("A", "B")),
                                               Feature("site", "categorical", ("x",), unseen_slot=False)))


def test_mimic_schema_is_the_fixed_layout():
    assert MIMIC_SCHEMA.names == CLINICAL_FEATURES and MIMIC_SCHEMA.classes == CLASSES
    assert MIMIC_SCHEMA.cohort_columns == COHORT_COLUMNS and MIMIC_SCHEMA.count_columns == BOX_COUNT_COLUMNS
    assert MIMIC_SCHEMA.feature("gender") == Feature("gender", "categorical", ("F", "M"), unseen_slot=False)
    assert (MIMIC_SCHEMA.width, MIMIC_SCHEMA.num_classes) == (10, 6)


def test_encode_frame_codes_categories_unseen_and_missing():
    frame = pd.DataFrame({"temperature": ["21.5", None, "x"], "camera": ["B", "C", None], "site": ["x", "y", None]})
    coded = SCHEMA.encode_frame(frame)
    # camera: B = 1, C unseen = slot 2, missing = NaN; site has no slot: unseen and missing are NaN
    np.testing.assert_array_equal(coded, np.array([[21.5, 1, 0], [NAN, 2, NAN], [NAN, NAN, NAN]], np.float32))
    with pytest.raises(InputError, match=r"cohort: missing feature column\(s\) \['site'\]"):
        SCHEMA.encode_frame(frame[["temperature", "camera"]])


def test_encode_values_for_prediction():
    row, missing = SCHEMA.encode_values({"temperature": " 40 ", "camera": "Z"}, "row 1")
    assert row[:2].tolist() == [40.0, 2.0] and missing == ["site"]
    with pytest.raises(InputError, match=r"^row 1: unknown feature\(s\) \['age'\]; expected some of "
                                         r"\['temperature', 'camera', 'site'\]$"):
        SCHEMA.encode_values({"age": 3}, "row 1")
    with pytest.raises(InputError, match="^row 2: temperature='hot' is not a number$"):
        SCHEMA.encode_values({"temperature": "hot"}, "row 2")


def test_json_round_trip_and_bad_files(tmp_path):
    write_schema(SCHEMA, tmp_path / "schema.json")
    assert read_schema(tmp_path / "schema.json") == SCHEMA
    (tmp_path / "bad.json").write_text('{"classes": ["a"]}')
    with pytest.raises(InputError, match="bad.json: expected an object with lists 'classes' and 'features'"):
        read_schema(tmp_path / "bad.json")


@pytest.mark.parametrize(("classes", "features", "message"), [
    (("a b", "a-b"), (), "class count column 'n_a_b' appears twice"),
    (("a",), (Feature("c", "categorical", ("u",)), Feature("t", "numeric")), "numeric features must come before"),
    (("a",), (Feature("split", "numeric"),), "feature 'split' has the name of a cohort column"),
    (("a",), (Feature("t", "text"),), "feature 't' has kind 'text'"),
])
def test_bad_schemas_are_clear_errors(classes, features, message):
    with pytest.raises(InputError, match=message):
        CohortSchema(classes, features)


def test_select_and_count_columns():
    assert SCHEMA.select(None) == ("temperature", "camera", "site")
    assert SCHEMA.select(["site"]) == ("site",)
    with pytest.raises(InputError, match=r"model.clinical_features: unknown feature\(s\) \['age'\]"):
        SCHEMA.select(["age"])
    assert count_column("Hot spot (>50°)") == "n_hot_spot_50"
