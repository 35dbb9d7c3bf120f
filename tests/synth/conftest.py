"""Synthetic folders shared by the synth tests (generated once per session)."""

from __future__ import annotations

import pytest

from mdfnet.synth import generate


@pytest.fixture(scope="session")
def small(tmp_path_factory):
    """40 patients at 128 px, seed 0: ``(root, planted)``."""
    root = tmp_path_factory.mktemp("synth_small")
    return root, generate(root, patients=40, image_size=128, seed=0)


@pytest.fixture(scope="session")
def large(tmp_path_factory):
    """400 patients at 64 px: enough lesions to see the clinical correlations."""
    root = tmp_path_factory.mktemp("synth_large")
    return root, generate(root, patients=400, image_size=64, seed=1)
