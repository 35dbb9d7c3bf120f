"""Any detection dataset: synth --layout coco -> prepare --coco -> train -> evaluate -> predict, on the CLI,
with the cohort's classes and features all the way (64 px, 1 epoch)."""

import json

import pandas as pd
import pytest

from mdfnet.cli import main
from mdfnet.data.cohort import load_schema
from mdfnet.engine.card import OTHER_NOTICE
from mdfnet.engine.checkpoint import load_checkpoint
from mdfnet.engine.predict import Predictor
from mdfnet.errors import InputError
from mdfnet.experiments import run_study, study_specs
from mdfnet.feature_schema import CohortSchema

CLASSES = ["hot spot", "cold spot", "crack"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco_e2e")
    assert main(["synth", "--layout", "coco", "--out", str(root / "raw"), "--images", "40", "--image-size", "64"]) == 0
    assert main(["prepare", "--coco", str(root / "raw/annotations.json"), "--images", str(root / "raw/images"),
                 "--tabular", str(root / "raw/features.csv"), "--group-column", "device_id",
                 "--out", str(root / "cohort")]) == 0
    assert main(["train", "--cohort", str(root / "cohort"), "--preset", "fast", "--out", str(root / "run"),
                 "model.image_size=64", "train.epochs=1", "train.batch_size=8", "model.box_score_thresh=0.0"]) == 0
    return root


def test_checkpoint_carries_the_cohort_schema(trained):
    state = load_checkpoint(trained / "run/best.pt")
    schema = CohortSchema.from_dict(state["schema"])
    assert schema == load_schema(trained / "cohort") and state["classes"] == CLASSES
    assert state["config"]["model"]["clinical_features"] == ("temperature", "humidity", "camera_model")


def test_evaluate_reports_the_cohort_classes(trained, capsys):
    assert main(["evaluate", "--run", str(trained / "run"), "--no-plots"]) == 0
    metrics = json.loads((trained / "run/eval_test_best/metrics.json").read_text())
    assert list(metrics["counts"]) == CLASSES and set(metrics["subgroups"]) <= {"camera_model", "clinical"}
    gt = json.loads((trained / "run/eval_test_best/ground_truth.json").read_text())
    assert [c["name"] for c in gt["categories"]] == CLASSES


def test_predict_takes_the_schema_features(trained, tmp_path, capsys):
    image = trained / "raw/images/frame_00003.png"
    result = Predictor(trained / "run/best.pt").predict(image, {"temperature": 61, "camera_model": "B"})
    assert result["missing"] == ["humidity"] and result["detections"]
    assert {d["label"] for d in result["detections"]} <= set(CLASSES)
    assert main(["predict", "--checkpoint", str(trained / "run/best.pt"), "--image", str(image),
                 "--feature", "temperature=61", "--feature", "camera_model=Z", "--out", str(tmp_path / "p")]) == 0
    table = tmp_path / "rows.csv"
    table.write_text(f"image_path,temperature,camera\n{image},61,B\n")
    assert main(["predict", "--checkpoint", str(trained / "run/best.pt"), "--csv", str(table),
                 "--out", str(tmp_path / "p")]) == 2
    assert (f"{table}: column(s) ['camera'] are not features of the model's schema (and ['humidity', "
            "'camera_model'] are missing); expected image_path and temperature, humidity, camera_model"
            in capsys.readouterr().err)
    assert main(["predict", "--checkpoint", str(trained / "run/best.pt"), "--image", str(image),
                 "--feature", "temperature=warm"]) == 2
    assert "temperature='warm' is not a number" in capsys.readouterr().err


def test_features_study_and_correlation_follow_the_schema(trained, tmp_path):
    schema = load_schema(trained / "cohort")
    specs = study_specs("features", schema=schema)
    assert [s.labels["features"] for s in specs] == [
        "all", "temperature", "humidity", "camera_model", "all-temperature", "all-humidity", "all-camera_model"]
    assert specs[6].overrides == {"model": {"variant": "mdf", "clinical_features": ["temperature", "humidity"]}}
    matrix = run_study("correlation", trained / "cohort", tmp_path / "corr", log=lambda *_: None)
    assert list(matrix.columns) == CLASSES
    # camera B has no frame in this train split: two categories, one 0/1 row (B's frames count as missing)
    assert schema.feature("camera_model").categories == ("A", "C")
    assert list(matrix.index) == ["temperature", "humidity", "camera_model"]
    # hot spots come with high readings, cold spots with low ones
    assert matrix.loc["temperature", "hot spot"] > 0.3 and matrix.loc["temperature", "cold spot"] < -0.3


def test_variants_study_runs_on_the_coco_cohort_and_reuses_its_runs(trained, tmp_path):
    out, lines = tmp_path / "study", []
    tiny = ["model.image_size=64", "train.epochs=1", "train.batch_size=8", "train.warmup_iters=2"]
    only = ["variant-baseline", "variant-mdf"]
    table = run_study("variants", trained / "cohort", out, overrides=tiny, only=only, log=lines.append)
    assert list(table["variant"]) == ["baseline", "mdf"]
    runs = pd.read_csv(out / "variants_runs.csv")
    assert {f"{k}_{c.replace(' ', '_')}" for k in ("TP", "FP", "FN") for c in CLASSES} <= set(runs.columns)
    assert (out / "variants_counts.png").is_file()
    lines.clear()  # the saved configs spell the features out as the study does: every run is reused
    run_study("variants", trained / "cohort", out, overrides=tiny, only=only, log=lines.append)
    assert [line.rsplit(": ", 1)[1] for line in lines if line.startswith("[")] == ["reused"] * 2


def test_explanations_say_they_read_mimic_features_only(trained, capsys):
    assert main(["evaluate", "--run", str(trained / "run"), "--no-plots", "--explain"]) == 2
    assert ("--explain reads MIMIC's clinical features; this model's cohort has its own (temperature, humidity, "
            "camera_model): leave it out") in capsys.readouterr().err
    with pytest.raises(InputError, match="explanations read MIMIC's clinical features"):
        Predictor(trained / "run/best.pt").predict(trained / "raw/images/frame_00003.png", {}, explain=True)


def test_a_coco_run_fine_tunes_from_the_command_line_and_its_card_names_the_datasets_licence(trained, monkeypatch):
    monkeypatch.chdir(trained)  # a relative init_from is recorded as an absolute path
    assert main(["train", "--cohort", "cohort", "--preset", "fast", "--out", "tuned", "model.image_size=64",
                 "train.epochs=1", "train.batch_size=8", "train.init_from=run/best.pt"]) == 0
    card = json.loads((trained / "tuned/model_card.json").read_text())
    assert card["init_from"]["checkpoint"] == str((trained / "run/best.pt").resolve())
    assert card["data_use"] == {"mimic": False, "notice": OTHER_NOTICE}
    assert card["cohort"]["format"] == "COCO" and [c["name"] for c in card["classes"]] == CLASSES
    temperature, _, camera = card["input"]["clinical"]["features"]
    assert (temperature["unit"], temperature["range"]) == (None, None)  # MIMIC's cleaning rules do not apply
    assert camera["categories"] == ["A", "C"] and camera["missing"] == "one learned row shared with unseen values"
    assert OTHER_NOTICE in (trained / "tuned/MODEL_CARD.md").read_text()
