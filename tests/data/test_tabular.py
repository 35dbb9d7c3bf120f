"""The per-image CSV of prepare --coco: kinds, repeats, and one clear line per bad input."""

import math

import pytest

from mdfnet.data.tabular import read_tabular
from mdfnet.errors import InputError


def _csv(tmp_path, text):
    path = tmp_path / "features.csv"
    path.write_text(text)
    return path


def test_kinds_are_inferred_and_exact_repeats_dropped(tmp_path):
    path = _csv(tmp_path, "image_id,patient,age,site,grade\n"
                          "1,p1,71,arm,2\n"
                          "2,p1, ,leg,3\n"
                          "2,p1,,leg,3\n"     # the row above again (blank = missing both times)
                          "3,p2,NA,,1\n")
    table = read_tabular(path, group_column="patient", categorical=("grade",))
    assert table.numeric == ("age",) and table.categorical == ("site", "grade")
    assert table.duplicate_rows == 1 and list(table.rows.index) == ["1", "2", "3"]
    assert table.rows.loc["1", "age"] == 71.0 and math.isnan(table.rows.loc["3", "age"])
    assert table.rows.loc["2", "grade"] == "3" and table.rows["line"].tolist() == [2, 3, 5]


@pytest.mark.parametrize(("text", "kwargs", "message"), [
    ("id,age\n1,3\n", {}, "features.csv: no column 'image_id' (named by --id-column); the columns are id, age"),
    ("image_id,age\n1,3\n2,4\n1,5\n", {},
     "features.csv: line 4, column 'image_id': id '1' appears twice (first on line 2) with other values; "
     "keep one row per image"),
    ("image_id,age\n1,3\n2,old\n", {"numeric": ("age",)},
     "features.csv: line 3, column 'age': 'old' is not a number (named by --numeric)"),
    ("image_id,age\n" + "".join(f"{i},{i}\n" for i in range(1, 11)) + "11,7O\n", {},
     "features.csv: line 12, column 'age': '7O' is not a number (the column holds numbers in 91% of its rows; "
     "fix the value, or pass --categorical age)"),
    ("image_id,patient,age\n1,,3\n", {"group_column": "patient"},
     "features.csv: line 2, column 'patient': empty group; every row needs one"),
    ("image_id,age\n,3\n", {}, "features.csv: line 2, column 'image_id': empty image id; every row needs one"),
    ("image_id\n1\n", {}, "features.csv: no feature column besides the id (and group) column"),
])
def test_bad_tables_are_one_clear_line(tmp_path, text, kwargs, message):
    with pytest.raises(InputError) as err:
        read_tabular(_csv(tmp_path, text), **kwargs)
    assert str(err.value) == f"{tmp_path / message}"
