"""Fixtures of the data tests; the hand-built tables themselves live in raw_layout.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from raw_layout import write_raw_layout
from mdfnet.data import prepare
from mdfnet.synth.mimic_eye import to_mimic_eye


@pytest.fixture()
def raw_root(tmp_path: Path) -> Path:
    return write_raw_layout(tmp_path / "physionet")


@pytest.fixture()
def mimic_eye_download(raw_root: Path, tmp_path: Path) -> Path:
    """The same tables repackaged as MIMIC-Eye 1.0.0: the download's root, holding ``mimic-eye/``."""
    to_mimic_eye(raw_root, tmp_path / "download", "1.0.0")
    return tmp_path / "download"


@pytest.fixture()
def cohort_dir(raw_root: Path, tmp_path: Path) -> Path:
    """The tables prepared into a cohort folder with the official split: every kept reading is in train."""
    prepare(tmp_path / "cohort", root=raw_root, split="official")
    return tmp_path / "cohort"
