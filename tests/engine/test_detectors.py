"""The detector choice travels: config -> run folder -> checkpoint -> evaluate / predict / resume / ablate,
and a detector or setting that does not exist stops the CLI with one line (exit 2)."""

import csv
import json

import pandas as pd
import pytest
import torch
import yaml

from mdfnet.cli import main
from mdfnet.config import apply_overrides
from mdfnet.engine.checkpoint import load_checkpoint, model_from_checkpoint
from mdfnet.engine.evaluate import evaluate_run
from mdfnet.engine.predict import Predictor
from mdfnet.engine.train import train
from mdfnet.experiments import run_study
from mdfnet.model.onestage import MDFFCOS, MDFRetinaNet

CLASS = {"retinanet": MDFRetinaNet, "fcos": MDFFCOS}
TERMS = {"retinanet": ["classification", "bbox_regression"],
         "fcos": ["classification", "bbox_regression", "bbox_ctrness"]}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def one_stage(cfg, detector, **model):
    return apply_overrides(cfg, {"model": {"detector": detector, "fpn": True, "box_score_thresh": 0.0, **model}})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cohort_writer, make_config):
    """One tiny MDF-Net run of each one-stage detector (1 epoch, 64 px; every detection kept)."""
    root = tmp_path_factory.mktemp("detectors")
    cohort = cohort_writer(root / "cohort")
    torch.set_num_threads(1)
    for detector in CLASS:
        train(one_stage(make_config(cohort, epochs=1), detector), root / detector, log=lambda *_: None)
    return root, cohort


@pytest.mark.parametrize("detector", CLASS)
def test_run_folder_and_checkpoint_keep_the_detector(runs, detector):
    root, _ = runs
    run = root / detector
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["detector"] == detector
    with (run / "metrics.csv").open() as handle:
        columns = next(csv.reader(handle))
    assert columns[:3 + len(TERMS[detector])] == ["epoch", "lr", "loss", *TERMS[detector]]
    state = load_checkpoint(run / "best.pt")
    # RetinaNet's anchors travel in the checkpoint (and anchors.json); FCOS is anchor-free
    assert (run / "anchors.json").is_file() == (detector == "retinanet")
    assert state.get("anchors") == ({"sizes": [4, 8, 16, 32, 64], "ratios": [0.5, 1.0, 2.0], "mode": "scaled"}
                                    if detector == "retinanet" else None)
    model, cfg = model_from_checkpoint(run / "best.pt")
    assert type(model) is CLASS[detector] and cfg.model.detector == detector and not model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state["model"][key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("detector", CLASS)
def test_evaluate_and_predict_read_the_detector_from_the_checkpoint(runs, detector):
    root, cohort = runs
    metrics = evaluate_run(root / detector, "test", "best", plots=False)
    out = root / detector / "eval_test_best"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["detector"] == detector == metrics["detector"] and saved["n_images"] == 2
    predictions = json.loads((out / "predictions.json").read_text())
    assert 0 < len(predictions) <= 2 * 10  # up to 10 per image, in the format Mask R-CNN's runs write
    assert {d["image_id"] for d in predictions} == {r["id"] for r in json.loads((out / "ground_truth.json").read_text())["images"]}
    for det in predictions:
        x, y, w, h = det["bbox"]
        assert 1 <= det["category_id"] <= 5 and 0 <= x and x + w <= 96 + 1e-3 and 0 <= y and y + h <= 80 + 1e-3
        assert w > 0 and h > 0
    result = Predictor(root / detector / "best.pt").predict(cohort / "img_0.png", {"age": 60, "gender": "F"})
    assert result["detector"] == detector and result["variant"] == "mdf" and 0 < len(result["detections"]) <= 10
    for det in result["detections"]:
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 80


def test_a_resumed_retinanet_run_ends_where_an_uninterrupted_one_ends(runs, tmp_path, make_config,
                                                                      cut_after_first_epoch):
    _, cohort = runs
    cfg = one_stage(make_config(cohort, epochs=2), "retinanet", anchor_sizes=[6, 12, 24, 48, 96])
    train(cfg, tmp_path / "full", log=lambda *_: None)
    cut_after_first_epoch(train, cfg, tmp_path / "cut")
    train(cfg, tmp_path / "cut", resume=True, log=lambda *_: None)
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    assert a["anchors"] == b["anchors"] == {"sizes": [6, 12, 24, 48, 96], "ratios": [0.5, 1.0, 2.0],
                                            "mode": "explicit"}
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.detector=yolo"], "model.detector='yolo': expected one of maskrcnn, retinanet, fcos"),
    (["model.detector=fcos", "model.out_channels=48"],
     "model.out_channels=48: FCOS's heads use GroupNorm with 32 groups; give a multiple of 32"),
    (["model.detector=fcos", "model.fpn=true", "model.box_samples=64"],
     "model.box_samples=64: model.detector=fcos has no such setting (maskrcnn only); leave it out"),
    (["model.detector=retinanet", "model.fpn=true", "model.mask_head=true"],
     "model.mask_head=true: model.detector=retinanet has no such setting (maskrcnn only); leave it out"),
])
def test_train_command_refuses_a_detector_or_setting_that_does_not_exist(tiny_cohort, tmp_path, capsys,
                                                                        overrides, message):
    code = main(["train", "--cohort", str(tiny_cohort), "--out", str(tmp_path / "run"), "--preset", "fast",
                 *overrides])
    assert code == 2
    assert capsys.readouterr().err == f"mdfnet train: error: {message}\n"
    assert not (tmp_path / "run").exists()


def test_detectors_study_runs_each_detector_and_draws_its_figure(tiny_cohort, tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["ablate", "detectors", "--cohort", str(tiny_cohort), "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pairs = [(d, v) for d in ("maskrcnn", "retinanet", "fcos") for v in ("baseline", "msf1d", "msf3d", "mdf")]
    assert lines == [f"[{i + 1}/12] detectors detector={d} variant={v} seed=0: would be training"
                     for i, (d, v) in enumerate(pairs)]
    assert main(["ablate", "detectors", "model.detector=fcos", "--cohort", str(tiny_cohort), "--out", str(out)]) == 2
    assert "model.detector set what this study varies" in capsys.readouterr().err
    assert main(["ablate", "detectors", "model.box_samples=64", "--cohort", str(tiny_cohort), "--out", str(out),
                 "--dry-run"]) == 2
    assert capsys.readouterr().err == ("mdfnet ablate: error: model.box_samples=64: model.detector=retinanet has no "
                                       "such setting (maskrcnn only); leave it out\n")
    only = ["detector-retinanet_variant-baseline", "detector-fcos_variant-mdf"]
    table = run_study("detectors", tiny_cohort, out, overrides=["model.image_size=64", "train.epochs=1",
                      "train.batch_size=8", "train.warmup_iters=2"], only=only, log=lambda *_: None)
    assert list(table[["detector", "variant"]].itertuples(index=False, name=None)) == [
        ("retinanet", "baseline"), ("fcos", "mdf")]
    runs = pd.read_csv(out / "detectors_runs.csv")
    assert list(runs["run"]) == ["runs/detector-retinanet_variant-baseline/seed_0", "runs/detector-fcos_variant-mdf/seed_0"]
    saved = json.loads((out / "runs" / only[1] / "seed_0" / "eval_test_best" / "metrics.json").read_text())
    assert saved["detector"] == "fcos" and saved["variant"] == "mdf"
    assert (out / "detectors.md").read_text().startswith("## Detectors x variants: test AP / AR at IoBB 0.5")
    assert (out / "detectors.png").stat().st_size > 0
