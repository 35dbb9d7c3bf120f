"""Prediction on new images: clinical parsing, original-pixel boxes, the CLI and its errors."""

import json
import math

import pytest
from PIL import Image

from mdfnet.cli import main
from mdfnet.engine.predict import Predictor, clinical_row
from mdfnet.engine.train import train
from mdfnet.errors import InputError


def test_clinical_row_parses_values_and_reports_missing():
    row, missing, cleaned = clinical_row({"age": "71", "temperature": 101.5, "gender": "m", "pain": ""})
    assert row[0].item() == 71 and row[1].item() == 101.5 and row[9].item() == 1.0
    assert math.isnan(row[7].item())
    assert missing == ["heartrate", "resprate", "o2sat", "sbp", "dbp", "pain", "acuity"] and cleaned == []


def test_clinical_row_cleans_as_prepare_does_and_says_why():
    row, missing, cleaned = clinical_row({"o2sat": "150", "temperature": "38.2", "pain": 13, "acuity": 2,
                                          "age": 130, "heartrate": 80})
    assert row[1].item() == pytest.approx(38.2 * 9 / 5 + 32) and row[2].item() == 80 and row[8].item() == 2
    assert missing == ["age", "resprate", "o2sat", "sbp", "dbp", "pain", "gender"]
    assert cleaned == [
        {"feature": "pain", "given": 13.0, "value": None, "rule": "pain_out_of_range",
         "reason": "13 is outside the pain scale [0, 10]: made missing"},
        {"feature": "temperature", "given": 38.2, "value": pytest.approx(100.76), "rule": "temperature_celsius_converted",
         "reason": "38.2 is in the Celsius range [30, 45]: converted to 100.8 F"},
        {"feature": "o2sat", "given": 150.0, "value": None, "rule": "o2sat_implausible",
         "reason": "150 is outside the plausible range [50, 100]: made missing"},
        {"feature": "age", "given": 130.0, "value": None, "rule": "age_implausible",
         "reason": "130 is outside the plausible range [0, 120]: made missing"},
    ]


@pytest.mark.parametrize(("values", "message"), [
    ({"bmi": 30}, r"unknown feature\(s\) \['bmi'\]"),
    ({"temperature": "hot"}, "temperature='hot' is not a number"),
    ({"gender": "X"}, "gender='X'; expected F or M"),
])
def test_bad_clinical_values_are_clear_errors(values, message):
    with pytest.raises(InputError, match=message):
        clinical_row(values)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, cohort_writer, make_config):
    root = tmp_path_factory.mktemp("predict")
    cohort = cohort_writer(root / "cohort")
    cfg = make_config(cohort, epochs=1)
    cfg.model.box_score_thresh = 0.0  # an untrained model: keep every detection so boxes are checked
    train(cfg, root / "run", log=lambda *_: None)
    return root / "run" / "best.pt", cohort


def test_predictor_returns_boxes_in_original_pixels(checkpoint):
    ckpt, cohort = checkpoint
    result = Predictor(ckpt).predict(cohort / "img_0.png", {"age": 60, "gender": "F"})
    assert (result["width"], result["height"]) == (96, 80)
    assert result["detections"] and len(result["detections"]) <= 10
    for det in result["detections"]:
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 < x2 <= 96 and 0 <= y1 < y2 <= 80
        assert det["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.11)
        assert det["label"] in ("Enlarged cardiac silhouette", "Atelectasis", "Pleural abnormality",
                                "Consolidation", "Pulmonary edema")
    assert "temperature" in result["missing"] and "age" not in result["missing"]


def test_predict_command_single_image_and_csv(checkpoint, tmp_path, capsys):
    ckpt, cohort = checkpoint
    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(ckpt), "--image", str(cohort / "img_1.png"),
                 "--age", "70", "--temperature", "102.1", "--out", str(out)]) == 0
    saved = json.loads((out / "predictions.json").read_text())
    assert len(saved) == 1 and saved[0]["image"].endswith("img_1.png")
    with Image.open(out / "overlay_0001_img_1.png") as overlay:
        assert overlay.size == (96, 80)  # drawn on the original image, at its size
    assert saved[0]["overlay"] == str(out / "overlay_0001_img_1.png")
    table = tmp_path / "batch.csv"
    table.write_text(f"image_path,age,gender\n{cohort / 'img_0.png'},55,F\n{cohort / 'img_2.png'},,M\n")
    assert main(["predict", "--checkpoint", str(ckpt), "--csv", str(table), "--out", str(out)]) == 0
    saved = json.loads((out / "predictions.json").read_text())
    assert [len(r["missing"]) for r in saved] == [8, 9]  # the second row lacks age too


def test_predict_command_reports_the_values_it_cleaned(checkpoint, tmp_path, capsys):
    ckpt, cohort = checkpoint
    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(ckpt), "--image", str(cohort / "img_1.png"),
                 "--o2sat", "150", "--temperature", "38.2", "--out", str(out)]) == 0
    (result,) = json.loads((out / "predictions.json").read_text())
    assert [(c["feature"], c["value"]) for c in result["cleaned"]] == [("temperature", pytest.approx(100.76)),
                                                                        ("o2sat", None)]
    assert "o2sat" in result["missing"] and "temperature" not in result["missing"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[1:3] == ["  cleaned temperature: 38.2 is in the Celsius range [30, 45]: converted to 100.8 F",
                            "  cleaned o2sat: 150 is outside the plausible range [50, 100]: made missing"]
    assert "o2sat" in printed[0].split("(missing: ")[1]


def test_predict_command_errors_name_the_problem(checkpoint, tmp_path, capsys):
    ckpt, cohort = checkpoint
    code = main(["predict", "--checkpoint", str(ckpt), "--image", str(cohort / "img_1.png"), "--sbp", "high"])
    assert code == 2 and "sbp='high' is not a number" in capsys.readouterr().err
    code = main(["predict", "--checkpoint", str(ckpt), "--image", str(tmp_path / "none.jpg")])
    assert code == 2 and "none.jpg not found" in capsys.readouterr().err
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"not a jpeg")
    code = main(["predict", "--checkpoint", str(ckpt), "--image", str(bad), "--out", str(tmp_path / "o")])
    assert code == 2 and "corrupt.jpg" in capsys.readouterr().err
    code = main(["predict", "--checkpoint", str(tmp_path / "missing.pt"), "--image", str(bad)])
    assert code == 2 and "missing.pt does not exist" in capsys.readouterr().err


def test_predictor_reads_a_real_dicom_radiograph(checkpoint):
    pydicom_data = pytest.importorskip("pydicom.data")
    path = pydicom_data.get_testdata_file("RG1_UNCR.dcm")  # CR chest, MONOCHROME1, 1841 x 1955
    ckpt, _ = checkpoint
    result = Predictor(ckpt).predict(path, {"age": 64})
    assert (result["width"], result["height"]) == (1841, 1955)
    for det in result["detections"]:
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 < x2 <= 1841 and 0 <= y1 < y2 <= 1955
