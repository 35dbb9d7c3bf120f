"""The run-folder layout, spelled once."""

from pathlib import Path

import pytest

from mdfnet.errors import InputError
from mdfnet.layout import CASES_FILE, GROUND_TRUTH_FILE, METRICS_FILE, PREDICTIONS_FILE, RunLayout, seed_runs


def test_paths_of_a_run():
    run = RunLayout.in_study("out", "variant-mdf", 2)
    assert run.root == Path("out/runs/variant-mdf/seed_2")
    assert RunLayout.of_seed("runs/mdf", 0).root == Path("runs/mdf/seed_0")
    assert (run.config.name, run.provenance.name, run.history.name) == ("config.yaml", "provenance.json", "metrics.csv")
    assert (run.best.name, run.last.name) == ("best.pt", "last.pt")
    assert (run.model_card, run.model_card_json) == (run.root / "MODEL_CARD.md", run.root / "model_card.json")
    assert run.eval_metrics("val", "last") == run.root / "eval_val_last" / "metrics.json"
    assert run.eval_predictions("test", "best") == run.root / "eval_test_best" / "predictions.json"
    assert (METRICS_FILE, PREDICTIONS_FILE, GROUND_TRUTH_FILE, CASES_FILE) == \
        ("metrics.json", "predictions.json", "ground_truth.json", "cases.csv")
    with pytest.raises(InputError, match="^checkpoint must be one of best, last, got 'final'$"):
        run.checkpoint("final")


def test_the_selected_checkpoint_and_evaluation_fall_back_to_last(tmp_path):
    run = RunLayout(tmp_path)
    assert run.selected_checkpoint() == "last"  # validation never defined: no best.pt
    run.best.write_bytes(b"")
    assert run.selected_checkpoint() == "best"
    assert run.evaluation("test") is None
    run.eval_dir("test", "last").mkdir()
    run.eval_metrics("test", "last").write_text("{}")
    assert run.evaluation("test") == tmp_path / "eval_test_last"
    run.eval_dir("test", "best").mkdir()
    run.eval_metrics("test", "best").write_text("{}")
    assert run.evaluation("test") == tmp_path / "eval_test_best"


def test_seed_runs_in_a_folder(tmp_path):
    for name in ("seed_2", "seed_10", "seed_x", "other"):
        (tmp_path / name).mkdir()
    (tmp_path / "seed_3").write_text("a file, not a run")
    assert seed_runs(tmp_path) == {2: RunLayout(tmp_path / "seed_2"), 10: RunLayout(tmp_path / "seed_10")}
    assert list(seed_runs(tmp_path)) == [2, 10]
