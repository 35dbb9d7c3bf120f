"""Training, checkpoints, resume, divergence and the run folder's contents on a tiny cohort."""

import csv
import importlib
import json

import pytest
import torch
import yaml

from mdfnet.engine.checkpoint import load_checkpoint
from mdfnet.engine.train import TrainingDiverged, train
from mdfnet.errors import InputError
from mdfnet.metrics.keys import SELECTABLE


def test_run_folder_holds_config_history_and_loadable_checkpoints(tiny_cohort, tmp_path, make_config):
    out = tmp_path / "run"
    summary = train(make_config(tiny_cohort), out, log=lambda *_: None)
    assert summary["epochs"] == 2 and summary["best_epoch"] in (1, 2)
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["variant"] == "mdf"
    assert json.loads((out / "provenance.json").read_text())["torch"].startswith("2.14.1")
    with (out / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"loss", "loss_classifier", "loss_objectness", "val_AP_IoBB_0.50", "val_AR_IoBB_0.50"} <= set(rows[0])
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["classes"][3] == "Consolidation" and best["config"]["model"]["image_size"] == 64
    # the clinical scaler was fitted on the 8 train readings only: ages 50..57 -> mean 53.5
    assert best["model"]["clinical_encoder.mean"][0].item() == pytest.approx(53.5)
    assert {"optimizer", "scheduler", "grad_scaler", "history", "epoch"} <= set(load_checkpoint(out / "last.pt"))


def test_resume_ends_where_an_uninterrupted_run_ends(tiny_cohort, tmp_path, monkeypatch, make_config):
    full, cut = tmp_path / "full", tmp_path / "cut"
    train(make_config(tiny_cohort, epochs=3), full, log=lambda *_: None)
    # "kill" after epoch 2: train 2 epochs of a 3-epoch schedule, then resume
    cfg = make_config(tiny_cohort, epochs=3)
    _train_first_epochs(monkeypatch, cfg, cut, 2)
    train(cfg, cut, resume=True, log=lambda *_: None)
    a, b = load_checkpoint(full / "last.pt")["model"], load_checkpoint(cut / "last.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def _train_first_epochs(monkeypatch, cfg, out, n):
    """Run the first ``n`` epochs of ``cfg``'s schedule, as a run killed after epoch ``n`` would have."""
    engine = importlib.import_module("mdfnet.engine.train")
    real = engine._train_epoch
    calls = {"n": 0}

    def stop_after(*args, **kwargs):
        if calls["n"] == n:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_train_epoch", stop_after)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out, log=lambda *_: None)
    monkeypatch.undo()
    assert load_checkpoint(out / "last.pt")["epoch"] == n


def test_non_finite_loss_stops_naming_the_batch_and_keeps_last_good_checkpoint(tiny_cohort, tmp_path, monkeypatch, make_config):
    from mdfnet.model.detector import MDFNet

    real, calls = MDFNet.forward, {"n": 0}

    def nan_from_third_batch(self, images, clinical=None, targets=None):
        out = real(self, images, clinical, targets)
        if self.training:
            calls["n"] += 1
            if calls["n"] >= 3:  # 8 train readings / batch 4: epoch 2, batch 1
                out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(MDFNet, "forward", nan_from_third_batch)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"non-finite loss at epoch 2, batch 1 \(image_ids \[\d+, \d+, \d+, \d+\]\)"):
        train(make_config(tiny_cohort, epochs=3), out, log=lambda *_: None)
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


def test_existing_run_needs_resume_and_missing_cohort_is_clear(tiny_cohort, tmp_path, make_config):
    out = tmp_path / "run"
    train(make_config(tiny_cohort, epochs=1), out, log=lambda *_: None)
    with pytest.raises(InputError, match="already holds a run"):
        train(make_config(tiny_cohort, epochs=1), out, log=lambda *_: None)
    with pytest.raises(InputError, match="cannot resume"):
        train(make_config(tiny_cohort), tmp_path / "nothing", resume=True)
    with pytest.raises(InputError, match="not found"):
        train(make_config(tmp_path / "no_cohort"), tmp_path / "x", log=lambda *_: None)


def test_any_selectable_metric_selects_best_pt_and_every_one_is_recorded(tiny_cohort, tmp_path, make_config):
    out = tmp_path / "run"
    cfg = make_config(tiny_cohort, epochs=1, select_metric="AP_IoBB_0.75")
    summary = train(cfg, out, log=lambda *_: None)
    with (out / "metrics.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert [c for c in row if c.startswith("val_")] == [f"val_{k}" for k in SELECTABLE]
    best = load_checkpoint(out / "best.pt")  # written: the metric is recorded, so it can improve
    assert best["epoch"] == 1 and best["best"] == pytest.approx(float(row["val_AP_IoBB_0.75"]))
    assert summary == {"best_epoch": 1, "best_AP_IoBB_0.75": best["best"], "epochs": 1}


def test_a_config_made_in_python_is_validated_before_training(tiny_cohort, tmp_path, make_config):
    cfg = make_config(tiny_cohort, epochs=1)
    cfg.train.batch_size = 0  # set on the object: load-time validation never saw it
    with pytest.raises(InputError, match=r"^train\.batch_size=0: expected a whole number >= 1$"):
        train(cfg, tmp_path / "run", log=lambda *_: None)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("fusion_1d", ["film", "concat"])
def test_clinical_parameters_are_exactly_what_fusion_adds_to_the_baseline(fusion_1d):
    from mdfnet.model import build_model, is_clinical_parameter

    fused = {n for n, _ in build_model("mdf", "fast", image_size=64, fusion_1d=fusion_1d).named_parameters()}
    image = {n for n, _ in build_model("baseline", "fast", image_size=64, fusion_1d=fusion_1d).named_parameters()}
    assert {n for n in fused if is_clinical_parameter(n)} == fused - image
    assert ("roi_heads.box_head.film.weight" in fused) == (fusion_1d == "film")


def test_clinical_weight_decay_puts_the_clinical_path_in_a_group_of_its_own(tiny_cohort, make_config):
    from mdfnet.engine.train import _optimizer
    from mdfnet.model import build_model, is_clinical_parameter

    model = build_model("mdf", "fast", image_size=64)
    named = dict(model.named_parameters())
    plain = _optimizer(make_config(tiny_cohort, clinical_weight_decay=None), model)
    assert [g["weight_decay"] for g in plain.param_groups] == [1e-4]
    split = _optimizer(make_config(tiny_cohort, clinical_weight_decay=0.5), model)
    image, clinical = split.param_groups
    assert (image["weight_decay"], clinical["weight_decay"]) == (1e-4, 0.5)
    by_id = {id(p): n for n, p in named.items()}
    assert sorted(by_id[id(p)] for p in clinical["params"]) == sorted(n for n in named if is_clinical_parameter(n))
    assert len(image["params"]) + len(clinical["params"]) == len(named)


UNREAD = {  # a value other than make_config's for every setting the variant never reads
    "baseline": ["train.clinical_weight_decay=0.5", "model.fusion=hadamard", "model.fusion_1d=concat",
                 "model.clinical_prior=true", "model.spatialiser=paper", "model.clinical_features=[age]",
                 "model.clinical_dim=8", "model.missing_indicators=false"],
    "msf3d": ["model.fusion_1d=concat", "model.clinical_prior=true"],
    "msf1d": ["model.fusion=hadamard", "model.spatialiser=paper"],
}


@pytest.mark.parametrize("variant", UNREAD)
def test_a_variant_trains_weight_for_weight_the_same_whatever_the_settings_it_does_not_read(
        variant, tiny_cohort, tmp_path, make_config, one_thread):
    # what lets a study reuse its runs when only these change (experiments/runner.py)
    from mdfnet.config import apply_overrides
    from mdfnet.model import unread_settings

    plain = make_config(tiny_cohort, variant=variant, epochs=1, clinical_weight_decay=None)
    other = apply_overrides(plain, UNREAD[variant])
    changed = {f"{s}.{k}" for s in ("model", "data", "train") for k, v in plain.to_dict()[s].items()
               if other.to_dict()[s][k] != v}
    assert changed == set(unread_settings(variant))
    train(plain, tmp_path / "a", log=lambda *_: None)
    train(other, tmp_path / "b", log=lambda *_: None)
    a, b = load_checkpoint(tmp_path / "a" / "last.pt")["model"], load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
