"""Explanations: which re-reads are made, how a finding is matched in them, and that the batched numbers
equal full forward passes done one value at a time."""

import json
import math

import pytest
import torch

import mdfnet
from mdfnet.cli import main
from mdfnet.engine.checkpoint import CLINICAL_MEDIAN_KEY
from mdfnet.engine.explain import (
    MATCH_IOBB, Replacement, counterpart_score, every_box_heads, explain_image, mean_abs_effects, replacements,
    true_positives,
)
from mdfnet.engine.predict import Predictor
from mdfnet.engine.train import train
from mdfnet.schema import CLINICAL_FEATURES, NUMERIC_FEATURES

NAN = float("nan")
ROW = torch.tensor([71.0, 101.3, NAN, NAN, 91.0, NAN, NAN, NAN, NAN, 1.0])  # age, temperature, o2sat, gender M


def test_replacements_leave_out_each_entered_value_then_set_each_number_to_its_median():
    medians = torch.tensor([60.0, 98.6, 80, 18, 97, 130, 80, NAN, 3])
    assert replacements(ROW, CLINICAL_FEATURES, medians) == [
        Replacement("missing", "age", NAN), Replacement("missing", "temperature", NAN),
        Replacement("missing", "o2sat", NAN), Replacement("missing", "gender", NAN),
        Replacement("median", "age", 60.0), Replacement("median", "temperature", pytest.approx(98.6)),
        Replacement("median", "o2sat", 97.0),
    ] or True  # NaN != NaN: compare field by field below
    got = replacements(ROW, CLINICAL_FEATURES, medians)
    assert [(r.reference, r.feature) for r in got] == [
        ("missing", "age"), ("missing", "temperature"), ("missing", "o2sat"), ("missing", "gender"),
        ("median", "age"), ("median", "temperature"), ("median", "o2sat")]
    assert all(math.isnan(r.value) for r in got[:4])
    assert [r.value for r in got[4:]] == pytest.approx([60.0, 98.6, 97.0])
    # a feature the model does not read is not explained; without medians there is no median view
    got = replacements(ROW, ("age", "o2sat"), None)
    assert [(r.reference, r.feature) for r in got] == [("missing", "age"), ("missing", "o2sat")]


def test_counterpart_is_the_best_same_class_box_at_the_same_place():
    reread = {"boxes": torch.tensor([[10.0, 10, 30, 30],    # class 4, the same box: IoBB 1 both ways
                                     [0.0, 0, 40, 40],      # class 4, contains it: 400/1600 = 0.25 of it inside
                                     [12.0, 12, 28, 28],    # class 2, inside but another class
                                     [15.0, 15, 45, 25],    # class 4, 150/300 = 0.5 inside, covers 150/400 of it
                                     [11.0, 11, 21, 21],    # class 4, inside, but covers only 100/400 of it
                                     [14.0, 10, 32, 30]]),  # class 4, shifted: 320/360 inside, covers 320/400
              "labels": torch.tensor([4, 4, 2, 4, 4, 4]), "scores": torch.tensor([0.3, 0.9, 0.8, 0.95, 0.99, 0.4])}
    assert MATCH_IOBB == 0.5
    assert counterpart_score([10.0, 10, 30, 30], 4, reread) == pytest.approx(0.4)
    assert counterpart_score([10.0, 10, 30, 30], 2, reread) == pytest.approx(0.8)  # covers 256/400 of it
    assert counterpart_score([6.0, 6, 34, 34], 2, reread) == 0.0               # covers 256/784 of it
    assert counterpart_score([10.0, 10, 30, 30], 5, reread) == 0.0            # no box of that class
    assert counterpart_score([100.0, 100, 120, 120], 4, reread) == 0.0        # nothing of class 4 there


def test_every_box_heads_share_the_weights_and_leave_the_model_alone():
    model = mdfnet.build_model("mdf", preset="fast", image_size=64, pretrained_backbone=None)
    heads = every_box_heads(model.roi_heads)
    assert (heads.score_thresh, heads.nms_thresh) == (-1.0, 1.0) and heads.detections_per_img > 10**6
    assert (model.roi_heads.score_thresh, model.roi_heads.nms_thresh, model.roi_heads.detections_per_img) == (
        0.05, 0.2, 10)
    assert heads.box_predictor is model.roi_heads.box_predictor


def _counterpart_by_hand(box, label, out):
    def inside(a, b):  # share of a lying in b
        w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
        return w * h / ((a[2] - a[0]) * (a[3] - a[1])) if w > 0 and h > 0 else 0.0

    return max([s for b, lab, s in zip(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist())
                if lab == label and min(inside(b, box), inside(box, b)) >= 0.5], default=0.0)


@pytest.mark.parametrize("spatialiser", ["lite", "paper"])
def test_batched_effects_equal_one_full_forward_per_replaced_value(spatialiser):
    torch.manual_seed(0)
    model = mdfnet.build_model("mdf", preset="fast", image_size=64, spatialiser=spatialiser,
                               pretrained_backbone=None).eval()
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    medians = torch.tensor([71.0, 98.6, 80, 18, 97, 130, 80, 2, 3])  # the age entered is the median
    detections, effects = explain_image(model, image, ROW, medians, chunk=3)  # 7 re-reads in 3 batches
    with torch.no_grad():
        direct = model([image], ROW[None])[0]
    torch.testing.assert_close(detections["scores"], direct["scores"], rtol=0, atol=0)
    assert len(direct["scores"]) > 0
    model.roi_heads = every_box_heads(model.roi_heads)  # one re-read at a time, each a full forward pass
    for r in replacements(ROW, CLINICAL_FEATURES, medians):
        row = ROW.clone()
        row[CLINICAL_FEATURES.index(r.feature)] = r.value
        with torch.no_grad():
            reread = model([image], row[None])[0]
        for k, (box, label, score) in enumerate(zip(direct["boxes"].tolist(), direct["labels"].tolist(),
                                                    direct["scores"].tolist())):
            expected = round(_counterpart_by_hand(box, label, reread), 4)
            got = effects[k][r.reference][r.feature]
            assert got["score"] == pytest.approx(expected, abs=1e-4)  # batched vs one row: float noise only
            assert got["effect"] == round(round(score, 4) - got["score"], 4)
    assert set(effects[0]) == {"missing", "median"}
    assert set(effects[0]["missing"]) == {"age", "temperature", "o2sat", "gender"}
    assert set(effects[0]["median"]) == {"age", "temperature", "o2sat"}
    # setting the age to the median it already has changes nothing, for every finding
    assert all(abs(e["median"]["age"]["effect"]) <= 1e-4 for e in effects)


def test_an_image_only_model_has_nothing_to_explain():
    model = mdfnet.build_model("baseline", preset="fast", image_size=64, pretrained_backbone=None).eval()
    detections, effects = explain_image(model, torch.rand(3, 64, 64), ROW, None)
    assert effects == [{} for _ in range(len(detections["scores"]))]


def test_true_positives_follow_cocos_greedy_rule_at_iobb():
    detections = {"boxes": torch.tensor([[0.0, 0, 10, 10], [1.0, 1, 9, 9], [50.0, 50, 60, 60], [20.0, 20, 40, 40],
                                         [30.0, 30, 40, 40]]),
                  "labels": torch.tensor([1, 1, 2, 2, 2]), "scores": torch.tensor([0.9, 0.8, 0.05, 0.5, 0.4])}
    gt_boxes, gt_labels = torch.tensor([[0.0, 0, 10, 10], [50.0, 50, 60, 60], [30.0, 30, 42, 42]]), torch.tensor([1, 2, 2])
    # 0 takes gt 0; 1 finds it taken; 2 is under the score cut; 3 overlaps gt 2 by 100/400 = 0.25; 4 lies in gt 2
    assert true_positives(detections, gt_boxes, gt_labels, score_threshold=0.1) == [0, 4]
    assert true_positives(detections, gt_boxes, gt_labels, score_threshold=0.0) == [0, 2, 4]


def test_mean_abs_effects_by_class_and_feature():
    records = [{"class": "Consolidation", "reference": "missing", "feature": "temperature", "effect": 0.2},
               {"class": "Consolidation", "reference": "missing", "feature": "temperature", "effect": -0.1},
               {"class": "Consolidation", "reference": "median", "feature": "temperature", "effect": 0.4},
               {"class": "Atelectasis", "reference": "missing", "feature": "age", "effect": -0.03}]
    assert mean_abs_effects(records) == {"Consolidation": {"temperature": 0.15}, "Atelectasis": {"age": 0.03}}
    assert mean_abs_effects(records, "median") == {"Consolidation": {"temperature": 0.4}}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, cohort_writer, make_config):
    root = tmp_path_factory.mktemp("explain")
    cohort = cohort_writer(root / "cohort")
    cfg = make_config(cohort, epochs=1)
    cfg.model.box_score_thresh = 0.0  # an untrained model: keep every detection so there is something to explain
    train(cfg, root / "run", log=lambda *_: None)
    return root / "run", cohort


def test_checkpoints_store_the_train_medians_and_old_ones_fall_back_to_the_missing_view(checkpoint, tmp_path):
    run, cohort = checkpoint
    state = torch.load(run / "best.pt", weights_only=True)
    # train rows 0..7 of the tiny cohort: age 50..57, temperature 98/101, heartrate 80..87, resprate 16/17/18
    assert state[CLINICAL_MEDIAN_KEY] == pytest.approx([53.5, 99.5, 83.5, 17.0, 97.0, 130.0, 80.0, 2.0, 3.0])
    assert torch.load(run / "last.pt", weights_only=True)[CLINICAL_MEDIAN_KEY] == state[CLINICAL_MEDIAN_KEY]
    del state[CLINICAL_MEDIAN_KEY]
    torch.save(state, tmp_path / "old.pt")
    values = {"age": 71, "temperature": 38.5, "gender": "M"}
    old = Predictor(tmp_path / "old.pt").predict(cohort / "img_0.png", values, explain=True)
    new = Predictor(run / "best.pt").predict(cohort / "img_0.png", values, explain=True)
    assert old["explanation"]["references"]["median"] is None
    assert new["explanation"]["references"]["median"] == dict(zip(NUMERIC_FEATURES, [53.5, 99.5, 83.5, 17.0, 97.0,
                                                                                     130.0, 80.0, 2.0, 3.0]))
    assert new["explanation"]["values"] == {"age": 71.0, "temperature": 101.3, "gender": "M"}
    assert new["notes"] == ["temperature 38.5 read as deg C: 101.3 deg F"]
    assert len(new["detections"]) == 10
    for o, n in zip(old["detections"], new["detections"]):
        assert set(o["effects"]) == {"missing"} and set(n["effects"]) == {"missing", "median"}
        assert o["effects"]["missing"] == n["effects"]["missing"]
    plain = Predictor(run / "best.pt").predict(cohort / "img_0.png", values)
    assert [d["score"] for d in plain["detections"]] == [d["score"] for d in new["detections"]]
    assert "effects" not in plain["detections"][0] and "explanation" not in plain


def test_predict_command_writes_the_effects_with_explain(checkpoint, tmp_path):
    run, cohort = checkpoint
    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(run / "best.pt"), "--image", str(cohort / "img_1.png"),
                 "--age", "70", "--o2sat", "93", "--explain", "--out", str(out)]) == 0
    saved = json.loads((out / "predictions.json").read_text())[0]
    effects = saved["detections"][0]["effects"]
    assert set(effects["missing"]) == {"age", "o2sat"} and set(effects["median"]) == {"age", "o2sat"}
    code = main(["predict", "--checkpoint", str(run / "best.pt"), "--image", str(cohort / "img_1.png"),
                 "--o2sat", "120", "--out", str(out)])
    assert code == 2


def test_evaluate_explain_writes_the_effects_per_class_and_feature(checkpoint, monkeypatch, capsys):
    run, _ = checkpoint
    assert main(["evaluate", "--run", str(run), "--no-plots"]) == 0
    assert not (run / "eval_test_best" / "explanations.json").exists()  # the default stays fast
    # an untrained model has no true positive: count every detection as one to exercise the summary
    monkeypatch.setattr("mdfnet.engine.explain.true_positives", lambda det, *a, **k: list(range(len(det["scores"]))))
    assert main(["evaluate", "--run", str(run), "--no-plots", "--explain"]) == 0
    folder = run / "eval_test_best"
    saved = json.loads((folder / "explanations.json").read_text())
    records = saved["records"]
    assert sum(saved["n_true_positives"].values()) == 2 * 10  # 2 test images x 10 detections
    some = next(iter(saved["mean_abs_effect"]["missing"].items()))
    name, by_feature = some
    feature, value = next(iter(by_feature.items()))
    mine = [abs(r["effect"]) for r in records if r["class"] == name and r["feature"] == feature
            and r["reference"] == "missing"]
    assert value == pytest.approx(sum(mine) / len(mine), abs=1e-4)
    assert (folder / "effects_missing.png").stat().st_size > 0 and (folder / "effects_median.png").stat().st_size > 0
