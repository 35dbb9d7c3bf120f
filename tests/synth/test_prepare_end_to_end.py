"""The synthetic folder through ``mdfnet prepare``: the report shows exactly the planted numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from mdfnet.cli import main

prepare_module = pytest.importorskip("mdfnet.data.prepare")
SECTIONS = ("readings", "excluded", "link", "cleaning", "labels", "cohort_missing")


def same_keys(planted: dict, report: dict, path: str = "") -> list[str]:
    """Paths where a planted count differs from the report (keys only prepare has are ignored)."""
    diffs = []
    for key, value in planted.items():
        if key == "boxes_by_certainty":
            continue
        if isinstance(value, dict):
            diffs += same_keys(value, report[key], f"{path}{key}.")
        elif report[key] != value:
            diffs.append(f"{path}{key}: planted {value}, reported {report[key]}")
    return diffs


def test_report_matches_planted_counts(small, tmp_path):
    root, planted = small
    report = prepare_module.prepare(tmp_path / "cohort", root=root)
    assert same_keys({k: planted[k] for k in SECTIONS}, report) == []
    for key in ("eye_tracking_discarded", "image_not_in_metadata", "image_file_missing", "no_stay", "multiple_stays"):
        assert planted["excluded"][key] >= 1, key
    cohort = pd.read_csv(tmp_path / "cohort" / "cohort.csv")
    assert len(cohort) == planted["readings"]["kept"]
    assert cohort["temperature"].dropna().between(75, 115).all()  # Celsius converted, 986 F dropped
    text = pd.read_csv(tmp_path / "cohort" / "cohort.csv", dtype=str)
    for column in ("subject_id", "study_id", "stay_id", "image_width", "image_height"):
        assert text[column].str.fullmatch(r"\d+").all(), column  # never 5.84643e+07 or 264.0


def test_paper_mode_loses_every_study_before_10am(small, tmp_path):
    root, planted = small
    report = prepare_module.prepare(tmp_path / "paper", root=root, link_mode="paper")
    before = planted["link"]["studies_before_10am"]
    assert report["readings"]["kept"] == planted["readings"]["kept"] - before
    assert report["excluded"]["no_stay"] == planted["excluded"]["no_stay"] + before
    assert report["link"]["cohort_size_by_mode"] == planted["link"]["cohort_size_by_mode"]


def test_min_certainty_drops_the_planted_low_certainty_boxes(small, tmp_path):
    root, planted = small
    report = prepare_module.prepare(tmp_path / "c3", root=root, min_certainty=3)
    by_certainty = planted["labels"]["boxes_by_certainty"]
    assert report["labels"]["boxes_below_min_certainty"] == by_certainty["1"] + by_certainty["2"]


def test_cli_synth_then_prepare(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "raw"), "--patients", "12", "--image-size", "64", "--seed", "4"]) == 0
    assert "readings" in capsys.readouterr().out
    assert main(["prepare", "--root", str(tmp_path / "raw"), "--out", str(tmp_path / "cohort")]) == 0
    assert (tmp_path / "cohort" / "cohort.csv").exists()
    assert main(["synth", "--out", str(tmp_path / "bad"), "--patients", "2"]) == 2
    assert "--patients must be at least 10" in capsys.readouterr().err
