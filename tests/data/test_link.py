"""link_stays: strict containment, exactly one stay, and the authors' unpadded-time bug."""

from __future__ import annotations

import pandas as pd

from mdfnet.data.link import link_stays, paper_study_number, study_datetime


def _stays(rows):
    frame = pd.DataFrame(rows, columns=["subject_id", "stay_id", "intime", "outtime"])
    frame["intime"], frame["outtime"] = pd.to_datetime(frame["intime"]), pd.to_datetime(frame["outtime"])
    return frame


STAYS = _stays([(1, 11, "2180-05-06 07:00:00", "2180-05-06 12:00:00"),
                (2, 21, "2180-05-06 12:00:00", "2180-05-06 18:00:00"),
                (2, 22, "2180-05-06 13:00:00", "2180-05-06 20:00:00"),
                (3, 31, "2180-05-06 09:00:00", "2180-05-06 11:00:00"),
                (4, 41, "2180-05-06 10:00:00", "2180-05-06 10:30:00")])
STUDIES = pd.DataFrame({"subject_id": [1, 2, 3, 4, 1],
                        "StudyDate": [21800506] * 5,
                        "StudyTime": [83000.0, 140000.0, 150000.0, 100000.0, 70000.0]})


def test_study_datetime_pads_the_time():
    when = study_datetime(pd.Series([21800506, 21800506]), pd.Series([80556.875, 213014.531]))
    assert when.iloc[0] == pd.Timestamp("2180-05-06 08:05:56.875")
    assert when.iloc[1].strftime("%H:%M:%S") == "21:30:14"
    assert study_datetime(pd.Series([21800506]), pd.Series([256000.0])).isna().all()  # hour 25


def test_paper_number_is_ten_times_too_small_before_ten():
    assert paper_study_number(pd.Series([21800506]), pd.Series([80556.875])).iloc[0] == 2180050680556.875
    assert paper_study_number(pd.Series([21800506]), pd.Series([213014.5])).iloc[0] == 21800506213014.5


def test_correct_mode():
    linked = link_stays(STUDIES, STAYS, "correct")
    # study 0 inside stay 11; 1 in two overlapping stays; 2 outside; 3 at 10:00 equals intime (strict); 4 equals intime
    assert linked["n_stays"].tolist() == [1, 2, 0, 0, 0]
    assert linked["stay_id"].iloc[0] == 11 and linked["stay_id"].iloc[1:].isna().all()


def test_paper_mode_drops_studies_before_ten():
    linked = link_stays(STUDIES, STAYS, "paper")
    assert linked["n_stays"].tolist() == [0, 2, 0, 0, 0]
    late = STUDIES.assign(StudyTime=[113000.0, 140000.0, 150000.0, 101500.0, 70000.0])
    assert link_stays(late, STAYS, "paper")["stay_id"].tolist()[3] == 41  # 10:15 links in both modes
    assert link_stays(late, STAYS, "correct")["stay_id"].tolist()[3] == 41
