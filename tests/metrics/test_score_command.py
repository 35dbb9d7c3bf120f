"""``mdfnet score`` end to end: JSON in, the same metrics JSON out, one-line errors for bad files."""

from __future__ import annotations

import json

import pytest

from mdfnet.cli import main
from mdfnet.metrics import evaluate_detections
from mdfnet.metrics.bootstrap import bootstrap_metrics
from mdfnet.metrics.keys import ci_key

GT = {
    "images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}],
    "categories": [{"id": 1, "name": "Atelectasis"}, {"id": 2, "name": "Pulmonary edema"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 20, 40, 40], "area": 1600, "iscrowd": 0}],
}
PRED = [
    {"image_id": 1, "category_id": 1, "bbox": [30, 30, 10, 10], "score": 0.6},  # inside: IoBB 1, IoU 1/16
    {"image_id": 2, "category_id": 1, "bbox": [30, 30, 10, 10], "score": 0.9},  # image without a lesion
]


@pytest.fixture
def files(tmp_path):
    gt, pred = tmp_path / "gt.json", tmp_path / "pred.json"
    gt.write_text(json.dumps(GT))
    pred.write_text(json.dumps(PRED))
    return gt, pred


def test_score_prints_and_writes_the_evaluate_keys(files, tmp_path, capsys):
    gt, pred = files
    out = tmp_path / "sub" / "metrics.json"
    assert main(["score", "--gt", str(gt), "--pred", str(pred), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert printed == written
    assert printed["AP_IoBB_0.50_Pulmonary_edema"] is None  # no ground truth: undefined, strict JSON
    assert printed["AP_IoBB_0.50"] == 0.5 and printed["AR_IoBB_0.50"] == 1.0
    assert printed["counts"]["Atelectasis"] == {"TP": 1, "FP": 1, "FN": 0}
    expected = evaluate_detections(GT, PRED)
    intervals = {ci_key(k) for k in expected if k.startswith(("AP_", "AR_"))}
    froc = {k for k in printed if k.startswith(("Sens@", "mFROC"))}
    assert set(printed) == set(expected) | intervals | froc | {"froc_curves", "bootstrap"}
    # the FP (0.9) comes first: 0.5 FP per image before the lesion is found, so sensitivity 0 at 1/8 and 1/4
    assert len(froc) == 3 * 9 and printed["mFROC_IoBB_0.50_Atelectasis"] == pytest.approx(5 / 7)


def test_score_resamples_images_without_patients_and_patients_with_them(files, tmp_path, capsys):
    # Images drawn (1, 1), (1, 2), (2, 2) with chances 1/4, 1/2, 1/4: AP 1, 0.5 (the FP on image 2 ranks
    # first) and undefined (no lesion): 0.5 in two thirds of the defined resamples, so the interval is [0.5, 1].
    gt, pred = files
    assert main(["score", "--gt", str(gt), "--pred", str(pred), "--resamples", "400", "--seed", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["AP_IoBB_0.50_ci95"] == [0.5, 1.0]
    assert printed["AP_IoBB_0.50_ci95"] == bootstrap_metrics(GT, PRED, None, n_resamples=400, seed=1)[
        "AP_IoBB_0.50_ci95"]
    assert printed["bootstrap"]["resampled"] == "images" and printed["bootstrap"]["n_groups"] == 2
    # one patient with both images: every resample draws both, AP 0.5 each time
    same_patient = {**GT, "images": [{**image, "patient_id": "p7"} for image in GT["images"]]}
    gt.write_text(json.dumps(same_patient))
    assert main(["score", "--gt", str(gt), "--pred", str(pred), "--resamples", "50"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["AP_IoBB_0.50_ci95"] == [0.5, 0.5] and printed["bootstrap"]["resampled"] == "patients"


def test_score_refuses_zero_resamples_and_a_patient_on_some_images_only(files, capsys):
    gt, pred = files
    assert main(["score", "--gt", str(gt), "--pred", str(pred), "--resamples", "0"]) == 2
    assert capsys.readouterr().err == "mdfnet score: error: n_resamples: expected an integer >= 1, got 0\n"
    gt.write_text(json.dumps({**GT, "images": [{**GT["images"][0], "patient_id": 3}, GT["images"][1]]}))
    assert main(["score", "--gt", str(gt), "--pred", str(pred)]) == 2
    assert capsys.readouterr().err == ("mdfnet score: error: ground truth: image 2 has no 'patient_id' while 1 of 2 "
                                       "images have one; give every image its patient, or none\n")


def test_score_with_iou(files, capsys):
    gt, pred = files
    assert main(["score", "--gt", str(gt), "--pred", str(pred), "--overlap", "iou"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["AP_IoU_0.50"] == 0.0 and printed["AR_IoU_0.05"] == 1.0


def test_max_dets_per_image_or_per_image_and_class(files, capsys):
    gt, pred = files
    # Image 1: a miss of class 2 scoring above the hit of class 1; one detection kept per image or per class.
    extra = {"image_id": 1, "category_id": 2, "bbox": [70, 70, 10, 10], "score": 0.95}
    pred.write_text(json.dumps([*PRED, extra]))
    assert main(["score", "--gt", str(gt), "--pred", str(pred), "--max-dets", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["AR_IoBB_0.50"] == 1.0
    assert main(["score", "--gt", str(gt), "--pred", str(pred), "--max-dets", "1", "--max-dets-per", "image"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["AR_IoBB_0.50"] == 0.0 and printed["max_dets_per"] == "image"


def test_bad_json_names_the_file(files, capsys):
    gt, pred = files
    pred.write_text("[{]")
    assert main(["score", "--gt", str(gt), "--pred", str(pred)]) == 2
    assert f"{pred}: not valid JSON" in capsys.readouterr().err


def test_missing_ground_truth_key_names_file_and_key(files, capsys):
    gt, pred = files
    gt.write_text(json.dumps({"images": [], "annotations": []}))
    assert main(["score", "--gt", str(gt), "--pred", str(pred)]) == 2
    assert f"{gt}: missing key 'categories'" in capsys.readouterr().err


def test_missing_detection_key_names_file_record_and_key(files, capsys):
    gt, pred = files
    pred.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]))
    assert main(["score", "--gt", str(gt), "--pred", str(pred)]) == 2
    assert f"{pred}: [0]: missing key 'score'" in capsys.readouterr().err


def test_missing_file(tmp_path, files, capsys):
    _, pred = files
    assert main(["score", "--gt", str(tmp_path / "nope.json"), "--pred", str(pred)]) == 2
    assert "nope.json: file not found" in capsys.readouterr().err
