"""Selecting configurations with ``only`` and training them in parallel worker processes."""

import pytest

from mdfnet.errors import InputError
from mdfnet.experiments import run_study


def test_two_jobs_train_the_selected_configurations(tiny_cohort, tmp_path):
    lines = []
    table = run_study("variants", tiny_cohort, tmp_path / "study", seeds=(0,), overrides=[
        "model.image_size=64", "train.epochs=1"], log=lines.append, jobs=2,
        only=["variant-baseline", "variant-mdf"])
    assert sorted(table["variant"]) == ["baseline", "mdf"]
    for variant in ("baseline", "mdf"):
        assert (tmp_path / "study" / "runs" / f"variant-{variant}" / "seed_0" / "best.pt").is_file()
    assert sum(": training" in line for line in lines) == 2


def test_unknown_configuration_is_a_clear_error(tiny_cohort, tmp_path):
    with pytest.raises(InputError, match=r"unknown configuration\(s\) \['variant-mdf2'\]"):
        run_study("variants", tiny_cohort, tmp_path, only=["variant-mdf2"])
