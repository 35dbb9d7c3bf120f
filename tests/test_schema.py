"""Names shared by every stage."""

import pytest

from mdfnet.errors import InputError
from mdfnet.schema import CLASSES, NUMERIC_FEATURES, TRIAGE_FEATURES, VITALS, class_name


def test_class_names_by_label_id():
    assert [class_name(i) for i in range(1, 6)] == list(CLASSES)
    assert class_name(4) == "Consolidation"
    with pytest.raises(InputError, match=r"^label id 0 is not a lesion class; expected 1\.\.5$"):
        class_name(0)  # background
    with pytest.raises(InputError, match="label id 6 is not a lesion class"):
        class_name(6)


def test_one_list_of_vitals_inside_the_triage_and_numeric_features():
    assert VITALS == ("temperature", "heartrate", "resprate", "o2sat", "sbp", "dbp")
    assert TRIAGE_FEATURES == (*VITALS, "pain", "acuity")
    assert NUMERIC_FEATURES == ("age", *TRIAGE_FEATURES)  # the paper's order
