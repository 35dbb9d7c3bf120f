"""The model card: written by training, refreshed by evaluation, its numbers those of the run's own files."""

import csv
import json

import pytest

from mdfnet.engine.card import CARD_METRICS, MIMIC_NOTICE
from mdfnet.engine.evaluate import evaluate_run
from mdfnet.engine.train import train
from mdfnet.metrics.keys import ci_key


@pytest.fixture
def run(tiny_cohort, tmp_path, make_config, one_thread):
    train(make_config(tiny_cohort, epochs=1), tmp_path / "run", log=lambda *_: None)
    return tmp_path / "run"


def read_card(run):
    return json.loads((run / "model_card.json").read_text())


def test_training_writes_the_settings_it_changed_from_the_preset(run, tiny_cohort):
    card = read_card(run)
    assert card["settings"] == {"preset": "fast", "changed": [  # tests/conftest.py's tiny_config
        {"setting": "model.image_size", "value": 64, "preset": 256},
        {"setting": "data.cohort", "value": str(tiny_cohort), "preset": None},
        {"setting": "train.epochs", "value": 1, "preset": 20},
        {"setting": "train.batch_size", "value": 4, "preset": 8},
        {"setting": "train.warmup_iters", "value": 2, "preset": 100},
    ]}
    assert (card["checkpoint"], card["epoch"], card["init_from"]) == ("best.pt", 1, None)
    assert (card["model"]["variant_label"], card["model"]["detector_label"]) == ("MDF-Net", "Mask R-CNN")
    assert card["model"]["anchors"] == {"sizes": [4, 8, 16, 32, 64], "ratios": [0.5, 1.0, 2.0], "mode": "scaled"}


def test_the_card_holds_the_cohorts_split_sizes_and_the_input_contract(run, tiny_cohort):
    card = read_card(run)
    # conftest's SPLITS: 8 train, 2 val, 2 test readings, one patient each
    assert card["cohort"] == {"path": str(tiny_cohort), "format": "MIMIC", "splits": {
        "train": {"readings": 8, "patients": 8}, "val": {"readings": 2, "patients": 2},
        "test": {"readings": 2, "patients": 2}}}
    assert card["input"]["image"]["size"] == [64, 64] and card["input"]["image"]["formats"] == ["DICOM", "JPEG", "PNG"]
    features = card["input"]["clinical"]["features"]
    assert [f["name"] for f in features] == ["age", "temperature", "heartrate", "resprate", "o2sat", "sbp", "dbp",
                                             "pain", "acuity", "gender"]
    assert features[1] == {"name": "temperature", "kind": "numeric", "used": True, "unit": "deg F",
                           "range": [75.0, 115.0],
                           "missing": "the train split's mean, flagged by a 0/1 indicator column"}
    assert features[9] == {"name": "gender", "kind": "categorical", "used": True, "categories": ["F", "M"],
                           "missing": "the mean of the embedding's rows"}
    assert card["classes"][3] == {"id": 4, "name": "Consolidation"} and len(card["classes"]) == 5


def test_the_card_copies_validation_and_provenance_and_carries_the_data_use_notice(run):
    card = read_card(run)
    with (run / "metrics.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert card["metrics"]["validation"] == {"epoch": 1, "AP_IoBB_0.50": float(row["val_AP_IoBB_0.50"]),
                                             "AR_IoBB_0.50": float(row["val_AR_IoBB_0.50"])}
    assert card["metrics"]["evaluations"] == {}
    provenance = json.loads((run / "provenance.json").read_text())
    assert card["training"] == {"epochs": 1, "seconds": float(row["seconds"]),
                                **{k: v for k, v in provenance.items() if k != "init_from"}}
    assert card["training"]["device"].startswith("cpu (") and card["training"]["threads"] == "1"
    assert card["data_use"] == {"mimic": True, "notice": MIMIC_NOTICE}
    page = (run / "MODEL_CARD.md").read_text()
    assert page.startswith("# Model card: run\n\nMDF-Net (`mdf`) on Mask R-CNN, backbone `mobilenet_v3_small`; "
                           "checkpoint `best.pt` (epoch 1).\n\n> **Data use.** " + MIMIC_NOTICE)
    assert "| `train.epochs` | 1 | 20 |" in page and "| train | 8 | 8 |" in page
    assert "PhysioNet Credentialed Health Data Use Agreement" in page


def test_evaluation_refreshes_the_card_with_the_numbers_of_its_metrics_json(run, tiny_cohort):
    for split in ("val", "test"):
        evaluate_run(run, split, plots=False, n_resamples=20)
    card = read_card(run)
    assert list(card["metrics"]["evaluations"]) == ["val", "test"]
    for split, values in card["metrics"]["evaluations"].items():
        metrics = json.loads((run / f"eval_{split}_best/metrics.json").read_text())
        expected = {k: metrics[k] for k in ("checkpoint", "cohort", "n_images")}
        for key in CARD_METRICS:
            expected[key] = metrics[key]
            if ci_key(key) in metrics:
                expected[ci_key(key)] = metrics[ci_key(key)]
        assert values == expected  # exactly the file's numbers
        assert (values["checkpoint"], values["cohort"], values["n_images"]) == ("best", str(tiny_cohort), 2)
        assert len(values[ci_key("AP_IoBB_0.50")]) == 2
    page = (run / "MODEL_CARD.md").read_text()
    test = card["metrics"]["evaluations"]["test"]
    low, high = test[ci_key("AR_IoBB_0.50")]
    assert f"| test | best | AR_IoBB_0.50 | {test['AR_IoBB_0.50']:.4f} | {low:.4f} to {high:.4f} |" in page
    assert sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) == []  # written atomically
