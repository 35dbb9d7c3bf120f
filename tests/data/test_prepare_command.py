"""The `mdfnet prepare` sub-command and load_cohort's checks."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from mdfnet.commands import prepare as command
from mdfnet.data import load_cohort
from mdfnet.errors import InputError


def _parse(argv):
    parser = argparse.ArgumentParser(prog="mdfnet")
    command.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_command_writes_the_folder(raw_root, tmp_path, capsys):
    args = _parse(["prepare", "--root", str(raw_root), "--out", str(tmp_path / "c"), "--link-mode", "paper",
                   "--split-fractions", "0.5", "0.25", "0.25", "--seed", "4", "--min-certainty", "3"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "kept 3 of 10 REFLACX readings (link paper; correct 4, paper 3)" in out
    assert "no_stay 2" in out
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["boxes.csv", "cohort.csv", "prepare_report.json",
                                                                  "prepare_report.md"]


def test_load_cohort_checks(raw_root, tmp_path):
    args = _parse(["prepare", "--root", str(raw_root), "--out", str(tmp_path / "c")])
    args.func(args)
    with pytest.raises(InputError, match="cohort.csv: not found"):
        load_cohort(tmp_path / "elsewhere")
    boxes_path = tmp_path / "c" / "boxes.csv"
    boxes = pd.read_csv(boxes_path)
    boxes.loc[0, "label"] = "Pneumothorax"
    boxes.to_csv(boxes_path, index=False)
    with pytest.raises(InputError, match=r"boxes.csv: line 2, column 'label': 'Pneumothorax' is not one of"):
        load_cohort(tmp_path / "c")
    cohort_path = tmp_path / "c" / "cohort.csv"
    pd.read_csv(cohort_path).drop(columns=["pain"]).to_csv(cohort_path, index=False)
    with pytest.raises(InputError, match="cohort.csv: missing column 'pain'"):
        load_cohort(tmp_path / "c")
