"""Running studies on the tiny cohort: tables, figures, reuse of finished runs and resume of cut ones."""

import json

import pandas as pd
import pytest
import torch
from PIL import Image

from mdfnet.config import apply_overrides, preset
from mdfnet.engine.checkpoint import load_checkpoint
from mdfnet.errors import InputError
from mdfnet.experiments import run_study, study_specs
from mdfnet.experiments import runner
from mdfnet.experiments.tables import comparison_columns

TINY = ["model.image_size=64", "train.epochs=1", "train.batch_size=8", "train.warmup_iters=2"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_variants_study_writes_tables_and_figures_then_reuses_every_run(tiny_cohort, tmp_path, monkeypatch):
    out, lines = tmp_path / "study", []
    table = run_study("variants", tiny_cohort, out, seeds=(0, 1), overrides=TINY, log=lines.append)
    progress = [line for line in lines if line.startswith("[")]
    assert progress[0] == "[1/8] variants variant=baseline seed=0: training"
    assert progress[7] == "[8/8] variants variant=mdf seed=1: training"
    assert list(table.columns) == ["model", "variant", "AP_IoBB_0.50 mean", "AP_IoBB_0.50 sd", "AR_IoBB_0.50 mean",
                                   "AR_IoBB_0.50 sd", "n_seeds", "train_AP_IoBB_0.50 mean", "train_AP_IoBB_0.50 sd",
                                   "val_AP_IoBB_0.50 mean", "val_AP_IoBB_0.50 sd",
                                   *comparison_columns("AP_IoBB_0.50"), *comparison_columns("AR_IoBB_0.50")]
    assert table["AP_IoBB_0.50_diff"].isna().tolist() == [True, False, False, False]  # baseline: the reference
    assert list(table["variant"]) == ["baseline", "msf1d", "msf3d", "mdf"] and set(table["n_seeds"]) == {2}
    runs = pd.read_csv(out / "variants_runs.csv")
    assert len(runs) == 8 and list(runs["seed"]) == [0, 1] * 4
    assert set(runs["checkpoint"]) == {"best"}
    mdf = runs[runs["variant"] == "mdf"]
    assert table.iloc[3]["AR_IoBB_0.50 mean"] == pytest.approx(mdf["AR_IoBB_0.50"].mean())
    assert table.iloc[3]["val_AP_IoBB_0.50 sd"] == pytest.approx(mdf["val_AP_IoBB_0.50"].std(ddof=1), nan_ok=True)
    # the test metrics in the table are those of best.pt's own evaluation files
    saved = runner.read_metrics(out / "runs" / "variant-mdf" / "seed_1" / "eval_test_best" / "metrics.json")
    assert mdf.iloc[1]["AR_IoBB_0.50"] == pytest.approx(saved["AR_IoBB_0.50"])
    assert mdf.iloc[1]["FN_Consolidation"] == saved["counts"]["Consolidation"]["FN"]
    assert len(pd.read_csv(out / "variants.csv")) == 4
    markdown = (out / "variants.md").read_text()
    assert markdown.count("\n| ") == 5  # header + 4 rows
    assert "| AP_IoBB_0.50 vs Mask R-CNN (image only) baseline |" in markdown
    assert markdown.endswith("Largest subgroup gap in test AP_IoBB_0.50: none to show (mean over seeds; subgroups "
                             "of at least 10 test readings: no attribute has two).\n")  # 2 test readings
    sizes = {name: Image.open(out / f"{name}.png").size for name in
             ("variants", "variants_counts", "variants_thresholds", "variants_generalisation")}
    assert sizes == {"variants": (900, 450), "variants_counts": (1200, 420), "variants_thresholds": (1000, 400),
                     "variants_generalisation": (900, 450)}

    def forbidden(*args, **kwargs):
        raise AssertionError("a finished run was trained or evaluated again")

    monkeypatch.setattr(runner, "train", forbidden)
    monkeypatch.setattr(runner, "evaluate_splits", forbidden)
    lines.clear()
    again = run_study("variants", tiny_cohort, out, seeds=(0, 1), overrides=TINY, log=lines.append)
    assert [line.rsplit(": ", 1)[1] for line in lines if line.startswith("[")] == ["reused"] * 8
    pd.testing.assert_frame_equal(again, table)
    # an evaluation written before intervals and subgroups existed is redone from the same checkpoint
    spec = study_specs("variants")[3]
    metrics_path = out / "runs" / spec.slug / "seed_1" / "eval_test_best" / "metrics.json"
    older = {k: v for k, v in runner.read_metrics(metrics_path).items() if k != "subgroups"}
    metrics_path.write_text(json.dumps(older))
    cfg = runner.run_config(runner.base_config(tiny_cohort, "fast", TINY, [spec]), spec, 1)
    assert runner.run_status(cfg, out / "runs" / spec.slug / "seed_1", ("train", "val", "test")) == "evaluating"


def test_an_interrupted_run_is_resumed_and_a_changed_setting_is_refused(tiny_cohort, tmp_path, monkeypatch,
                                                                        cut_after_first_epoch):
    spec = study_specs("variants")[0]  # baseline: the quickest
    base = runner.base_config(tiny_cohort, "fast", [*TINY, "train.epochs=2"], [spec])
    cfg, run_dir = runner.run_config(base, spec, 0), tmp_path / "runs" / spec.slug / "seed_0"
    cut_after_first_epoch(runner.train, cfg, run_dir)
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 1
    assert runner.run_status(cfg, run_dir, ("val", "test")) == "resuming"

    calls, real_train = [], runner.train
    monkeypatch.setattr(runner, "train", lambda *a, **kw: calls.append(kw["resume"]) or real_train(*a, **kw))
    checkpoint, metrics = runner.ensure_run(cfg, run_dir, ("val", "test"), "resuming", log=lambda *_: None)
    assert calls == [True] and checkpoint == "best" and set(metrics) == {"val", "test"}
    assert list(pd.read_csv(run_dir / "metrics.csv")["epoch"]) == [1, 2]
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 2
    assert runner.run_status(cfg, run_dir, ("val", "test")) == "reused"
    assert runner.run_status(cfg, run_dir, ("train", "val", "test")) == "evaluating"  # no train-split metrics yet
    # a baseline has no clinical path: its settings change nothing in it (tests/engine/test_train.py)
    clinical = [*TINY, "train.epochs=2", "train.clinical_weight_decay=0.5", "model.fusion_1d=concat"]
    assert runner.run_status(runner.run_config(runner.base_config(tiny_cohort, "fast", clinical, [spec]), spec, 0),
                             run_dir, ("val", "test")) == "reused"

    other = runner.run_config(runner.base_config(tiny_cohort, "fast", [*TINY, "train.lr=0.5"], [spec]), spec, 0)
    fast_lr = preset("fast").train.lr
    with pytest.raises(InputError, match=rf"was trained with other settings \(train.epochs: run has 2, study wants 1; "
                                         rf"train.lr: run has {fast_lr}, study wants 0.5\)"):
        runner.run_status(other, run_dir, ("val", "test"))


def test_a_run_folder_without_last_pt_is_deleted_and_trained_again(tiny_cohort, tmp_path):
    spec = study_specs("variants")[0]
    cfg = runner.run_config(runner.base_config(tiny_cohort, "fast", TINY, [spec]), spec, 0)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("stale: true\n")  # killed before its first epoch ended
    assert runner.run_status(cfg, run_dir, ("val", "test")) == "restarting"
    runner.ensure_run(cfg, run_dir, ("val", "test"), "restarting", log=lambda *_: None)
    assert "stale" not in (run_dir / "config.yaml").read_text()
    assert runner.run_status(cfg, run_dir, ("val", "test")) == "reused"


def test_a_run_may_differ_only_in_settings_its_variant_never_reads(tiny_cohort, tmp_path):
    # MSF-Net 3D has no 1D fusion: a study that turns on model.clinical_prior reuses it, not one that changes
    # its 3D fusion (the weights are checked equal in tests/engine/test_train.py)
    def config(variant, *overrides):
        return apply_overrides(preset("fast"), [f"model.variant={variant}", f"data.cohort={tiny_cohort}", *overrides])

    saved = config("msf3d").to_dict()
    runner._check_same_config(config("msf3d", "model.clinical_prior=true", "model.fusion_1d=concat"), saved, tmp_path)
    with pytest.raises(InputError, match=r"model.fusion: run has 'sum', study wants 'hadamard'"):
        runner._check_same_config(config("msf3d", "model.fusion=hadamard"), saved, tmp_path)
    saved = config("mdf").to_dict()
    with pytest.raises(InputError, match=r"model.clinical_prior: run has False, study wants True"):
        runner._check_same_config(config("mdf", "model.clinical_prior=true"), saved, tmp_path)
