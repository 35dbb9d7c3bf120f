"""Fixtures of the data tests; the hand-built tables themselves live in raw_layout.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from raw_layout import write_raw_layout


@pytest.fixture()
def raw_root(tmp_path: Path) -> Path:
    return write_raw_layout(tmp_path / "physionet")
