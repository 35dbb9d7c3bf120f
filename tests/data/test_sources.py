"""read_table: many small CSVs (MIMIC-Eye's per-patient slices) stacked in order, errors naming the file."""

from __future__ import annotations

import gzip

import pytest

from mdfnet.data.sources import EDSTAYS_COLUMNS, read_table
from mdfnet.errors import InputError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_slices_stack_in_path_order_across_headers(tmp_path):
    paths = [
        write(tmp_path / "a.csv", ",subject_id,stay_id,intime,outtime\n4,1,11,2180-01-01 10:00:00,2180-01-01 12:00:00\n"),
        write(tmp_path / "b.csv", ",subject_id,stay_id,intime,outtime\n"),  # a subject with no rows
        write(tmp_path / "c.csv", "stay_id,outtime,intime,subject_id,race\n12,2180-01-02 09:00:00,"
                                  "2180-01-02 08:00:00,2,WHITE\n13,2180-01-03 09:00:00,2180-01-03 08:00:00,2,WHITE"),
        write(tmp_path / "d.csv", ",subject_id,stay_id,intime,outtime\n9,3,14,2180-01-04 10:00:00,2180-01-04 11:00:00\n"),
    ]
    gz = tmp_path / "e.csv.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write(",subject_id,stay_id,intime,outtime\n1,5,15,2180-01-05 10:00:00,2180-01-05 11:00:00\n")
    table = read_table(paths + [gz], EDSTAYS_COLUMNS)
    assert list(table.columns) == ["subject_id", "stay_id", "intime", "outtime"]
    assert table["stay_id"].tolist() == [11, 12, 13, 14, 15]
    assert table["subject_id"].dtype == "int64" and str(table["intime"].dtype).startswith("datetime64")
    assert str(table["outtime"].iloc[2]) == "2180-01-03 09:00:00"


def test_an_error_in_one_slice_names_that_file(tmp_path):
    good = ",subject_id,stay_id,intime,outtime\n0,1,11,2180-01-01 10:00:00,2180-01-01 12:00:00\n"
    paths = [write(tmp_path / f"p{i}.csv", good) for i in range(3)]
    write(paths[1], good + "1,1,12,yesterday,2180-01-01 12:00:00\n")
    with pytest.raises(InputError, match=r"p1\.csv: line 3, column 'intime': expected a date-time like .*'yesterday'"):
        read_table(paths, EDSTAYS_COLUMNS)
    write(paths[2], ",subject_id,intime,outtime\n")
    with pytest.raises(InputError, match=r"p2\.csv: missing column 'stay_id' \(found: Unnamed: 0, subject_id, intime, outtime\)"):
        read_table([paths[0], paths[2]], EDSTAYS_COLUMNS)
