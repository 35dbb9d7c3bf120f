"""The run-folder layout, spelled once."""

from pathlib import Path

import pytest

from mdfnet.errors import InputError
from mdfnet.layout import RunLayout


def test_paths_of_a_run():
    run = RunLayout.in_study("out", "variant-mdf", 2)
    assert run.root == Path("out/runs/variant-mdf/seed_2")
    assert RunLayout.of_seed("runs/mdf", 0).root == Path("runs/mdf/seed_0")
    assert (run.config.name, run.provenance.name, run.history.name) == ("config.yaml", "provenance.json", "metrics.csv")
    assert (run.best.name, run.last.name) == ("best.pt", "last.pt")
    assert run.eval_metrics("val", "last") == run.root / "eval_val_last" / "metrics.json"
    assert run.eval_predictions("test", "best") == run.root / "eval_test_best" / "predictions.json"
    assert run.eval_ground_truth("test", "best") == run.root / "eval_test_best" / "ground_truth.json"
    with pytest.raises(InputError, match="^checkpoint must be one of best, last, got 'final'$"):
        run.checkpoint("final")


def test_the_selected_checkpoint_falls_back_to_last(tmp_path):
    run = RunLayout(tmp_path)
    assert run.selected_checkpoint() == "last"  # validation never defined: no best.pt
    run.best.write_bytes(b"")
    assert run.selected_checkpoint() == "best"
