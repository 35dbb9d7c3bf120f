"""Fine-tuning (``train.init_from``): the source run's weights, this run's clinical statistics, one line for a
checkpoint of another network, and ``--resume`` that no longer needs the source."""

import hashlib
import importlib
import json
import shutil
import warnings

import pytest
import torch
import yaml

from mdfnet.config import apply_overrides
from mdfnet.data.cohort import load_cohort
from mdfnet.data.dataset import CohortDataset
from mdfnet.engine.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from mdfnet.engine.evaluate import predict_detections
from mdfnet.engine.finetune import check_architecture
from mdfnet.engine.train import train
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA
from mdfnet.model import build_from_config, fit_medians, fit_statistics

NEEDS = " (train.init_from needs the same network)"
SCALER = ("clinical_encoder.mean", "clinical_encoder.std")


@pytest.fixture
def no_steps(monkeypatch):
    """Epochs without a single optimiser step: a run's checkpoints hold the weights it started from."""
    engine = importlib.import_module("mdfnet.engine.train")
    monkeypatch.setattr(engine, "_train_epoch", lambda *args, **kwargs: {"loss": 0.0})


def tuned_config(make_config, cohort, source, **model):
    """The tiny config on ``cohort``, started from ``source``, every detection kept, another seed (so equal
    weights can only come from the checkpoint)."""
    cfg = make_config(cohort, epochs=1, seed=1, init_from=str(source))
    return apply_overrides(cfg, {"model": {"box_score_thresh": 0.0, **model}})


def test_before_any_step_a_tuned_run_predicts_exactly_what_its_source_predicts(untrained_run, tmp_path, make_config,
                                                                                no_steps, one_thread):
    source_run, cohort = untrained_run
    train(tuned_config(make_config, cohort, source_run / "last.pt"), tmp_path / "tuned", log=lambda *_: None)
    source, _ = model_from_checkpoint(source_run / "last.pt")
    tuned, _ = model_from_checkpoint(tmp_path / "tuned/last.pt")
    dataset = CohortDataset(load_cohort(cohort), "test", image_size=64)
    expected = predict_detections(source, dataset, torch.device("cpu"))
    assert len(expected) == 20  # 10 boxes for each of the 2 test images: a real comparison
    assert predict_detections(tuned, dataset, torch.device("cpu")) == expected  # boxes, labels, scores exactly
    a, b = load_checkpoint(source_run / "last.pt"), load_checkpoint(tmp_path / "tuned/last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # same cohort: same statistics too


def test_the_clinical_statistics_are_refitted_on_the_new_train_split(untrained_run, tmp_path, make_config, cohort_writer,
                                                                      no_steps, one_thread):
    source_run, _ = untrained_run
    # readings 2..7 train here (ages 52..57: mean 54.5, median 54.5); the source trained on 0..7 (mean 53.5)
    cohort = cohort_writer(tmp_path / "other", ["val"] * 2 + ["train"] * 6 + ["test"] * 2)
    train(tuned_config(make_config, cohort, source_run / "last.pt"), tmp_path / "tuned", log=lambda *_: None)
    state, before = load_checkpoint(tmp_path / "tuned/last.pt"), load_checkpoint(source_run / "last.pt")
    train_set = CohortDataset(load_cohort(cohort), "train", image_size=64)
    mean, std = fit_statistics(train_set.clinical, 9)
    assert torch.equal(state["model"]["clinical_encoder.mean"], mean)
    assert torch.equal(state["model"]["clinical_encoder.std"], std.clamp_min(1e-6))
    assert state["model"]["clinical_encoder.mean"][0].item() == 54.5
    assert before["model"]["clinical_encoder.mean"][0].item() == 53.5
    assert state["clinical_median"][0] == 54.5 and state["clinical_median"] == fit_medians(train_set.clinical, 9).tolist()
    assert all(torch.equal(before["model"][k], state["model"][k]) for k in before["model"] if k not in SCALER)


def test_the_run_records_where_its_weights_came_from(untrained_run, tmp_path, make_config, no_steps, one_thread):
    source_run, cohort = untrained_run
    source = source_run / "last.pt"
    train(tuned_config(make_config, cohort, source), tmp_path / "tuned", log=lambda *_: None)
    origin = {"checkpoint": str(source.resolve()), "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
              "epoch": 1, "cohort": str(cohort)}
    assert json.loads((tmp_path / "tuned/provenance.json").read_text())["init_from"] == origin
    assert load_checkpoint(tmp_path / "tuned/last.pt")["init_from"] == origin
    assert yaml.safe_load((tmp_path / "tuned/config.yaml").read_text())["train"]["init_from"] == str(source)
    assert json.loads((tmp_path / "tuned/model_card.json").read_text())["init_from"] == origin


def test_resume_continues_a_tuned_run_without_its_source(untrained_run, tmp_path, make_config, cut_after_first_epoch,
                                                          one_thread):
    source_run, cohort = untrained_run
    source = shutil.copy(source_run / "last.pt", tmp_path / "source.pt")
    cfg = apply_overrides(tuned_config(make_config, cohort, source), {"train": {"epochs": 2}})
    cut_after_first_epoch(train, cfg, tmp_path / "tuned")
    origin = load_checkpoint(tmp_path / "tuned/last.pt")["init_from"]
    (tmp_path / "source.pt").unlink()  # resume wins: the weights come from the run's own last.pt
    assert train(cfg, tmp_path / "tuned", resume=True, log=lambda *_: None)["epochs"] == 2
    assert load_checkpoint(tmp_path / "tuned/last.pt")["init_from"] == origin
    assert origin["checkpoint"] == str(tmp_path / "source.pt")


@pytest.mark.parametrize(("model", "message"), [
    ({"variant": "baseline"}, "model.variant: checkpoint has 'mdf', this run has 'baseline'"),
    ({"backbone": "resnet18"}, "model.backbone: checkpoint has 'mobilenet_v3_small', this run has 'resnet18'"),
    ({"fusion_1d": "concat"}, "model.fusion_1d: checkpoint has 'film', this run has 'concat'"),
    ({"clinical_features": ["age", "gender"]},
     "model.clinical_features: checkpoint has ('age', 'temperature', 'heartrate', 'resprate', 'o2sat', 'sbp', "
     "'dbp', 'pain', 'acuity', 'gender'), this run has ('age', 'gender')"),
])
def test_a_checkpoint_of_another_network_is_refused_naming_the_first_setting(untrained_run, tmp_path, make_config,
                                                                             model, message):
    source_run, cohort = untrained_run
    with pytest.raises(InputError) as caught:
        train(tuned_config(make_config, cohort, source_run / "last.pt", **model), tmp_path / "tuned")
    assert str(caught.value) == f"{source_run / 'last.pt'}: {message}{NEEDS}"
    assert not (tmp_path / "tuned").exists()  # refused before anything is written


def test_settings_the_network_does_not_read_may_differ(untrained_run, make_config):
    source_run, cohort = untrained_run
    state = load_checkpoint(source_run / "last.pt")
    baseline = state | {"config": {**state["config"], "model": {**state["config"]["model"], "variant": "baseline"}}}
    cfg = apply_overrides(make_config(cohort, variant="baseline"), {"model": {"fusion_1d": "concat", "fusion": "film",
                                                                              "clinical_dim": 80, "rpn_nms_thresh": 0.5}})
    cfg.model.clinical_features = MIMIC_SCHEMA.names
    check_architecture(baseline, cfg, MIMIC_SCHEMA)  # a baseline reads no fusion and no clinical value


def test_other_classes_or_feature_codes_are_refused(untrained_run, make_config):
    source_run, cohort = untrained_run
    state = load_checkpoint(source_run / "last.pt")
    cfg = make_config(cohort)
    cfg.model.clinical_features = MIMIC_SCHEMA.names
    renamed = state | {"schema": {**state["schema"], "classes": ["nodule", *MIMIC_SCHEMA.classes[1:]]}}
    with pytest.raises(InputError, match=r"^ck: classes: checkpoint has \['nodule', 'Atelectasis', .*\], this run's "
                                         r"cohort has \['Enlarged cardiac silhouette', 'Atelectasis', .*\] \(train"):
        check_architecture(renamed, cfg, MIMIC_SCHEMA, "ck")
    features = [dict(f) for f in state["schema"]["features"]]
    features[-1]["categories"] = ["M", "F"]
    recoded = state | {"schema": {**state["schema"], "features": features}}
    with pytest.raises(InputError) as caught:
        check_architecture(recoded, cfg, MIMIC_SCHEMA, "ck")
    assert str(caught.value) == (
        "ck: clinical feature 'gender': checkpoint has {'name': 'gender', 'kind': 'categorical', 'categories': "
        "['M', 'F'], 'unseen_slot': False}, this run's cohort has {'name': 'gender', 'kind': 'categorical', "
        f"'categories': ['F', 'M'], 'unseen_slot': False}}{NEEDS}")


def test_another_image_size_is_fine_while_the_weights_fit(untrained_run, tmp_path, make_config, no_steps, one_thread):
    source_run, cohort = untrained_run
    train(tuned_config(make_config, cohort, source_run / "last.pt", image_size=96), tmp_path / "tuned",
          log=lambda *_: None)  # the lite spatialiser and the convolutions do not depend on the size
    a, b = load_checkpoint(source_run / "last.pt"), load_checkpoint(tmp_path / "tuned/last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert b["anchors"]["sizes"] == a["anchors"]["sizes"] == [4, 8, 16, 32, 64]  # the source's, in pixels


def test_another_image_size_is_refused_where_the_weights_depend_on_it(tiny_cohort, tmp_path, make_config, one_thread):
    cfg = apply_overrides(make_config(tiny_cohort), {"model": {"spatialiser": "paper"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_checkpoint(tmp_path / "paper.pt", build_from_config(cfg.model), cfg, epoch=3)
    tuned = apply_overrides(cfg, {"model": {"image_size": 128}, "train": {"init_from": str(tmp_path / "paper.pt")}})
    with pytest.raises(InputError) as caught:
        train(tuned, tmp_path / "tuned")
    assert str(caught.value) == (
        f"{tmp_path / 'paper.pt'}: model.image_size: checkpoint has 64, this run has 128, and the weights do not fit "
        "at that size (clinical_branch.spatialiser.blocks.5.3.weight: checkpoint [3, 64, 3, 3], this run "
        "[64, 64, 3, 3])" + NEEDS)
    assert not (tmp_path / "tuned").exists()


def test_a_file_that_is_no_checkpoint_is_one_line(tiny_cohort, tmp_path, make_config):
    text, weights = tmp_path / "notes.pt", tmp_path / "weights.pt"
    text.write_text("not a checkpoint\n")
    torch.save({"conv.weight": torch.zeros(1)}, weights)
    with pytest.raises(InputError) as caught:
        train(tuned_config(make_config, tiny_cohort, text), tmp_path / "a")
    assert str(caught.value).startswith(f"{text} is not a readable mdfnet checkpoint: ")
    assert "\n" not in str(caught.value)
    with pytest.raises(InputError) as caught:
        train(tuned_config(make_config, tiny_cohort, weights), tmp_path / "b")
    assert str(caught.value) == (f"{weights}: not a checkpoint written by `mdfnet train` (it has no 'config' and "
                                 "'model'); train.init_from needs one, e.g. RUN/best.pt")
