"""Explanations: which re-reads are made, how a finding is matched in them, and that the batched numbers
equal full forward passes done one value at a time."""

import json
import math

import numpy as np
import pytest
import torch

import mdfnet
from mdfnet.cli import main
from mdfnet.engine.checkpoint import CLINICAL_MEDIAN_KEY
from mdfnet.engine.explain import (
    CANDIDATES, MATCH_IOBB, Replacement, candidates, counterpart_scores, explain_image, mean_abs_effects,
    read_with_every_box, replacements, same_place, true_positives,
)
from mdfnet.model.heads import EveryBox
from mdfnet.engine.predict import Predictor
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


def test_same_place_means_each_box_at_least_half_inside_the_other():
    finding = [10.0, 10, 30, 30]
    boxes = [[10.0, 10, 30, 30],    # the same box
             [0.0, 0, 40, 40],      # contains it, but only 400/1600 of it lies in the finding
             [12.0, 12, 28, 28],    # inside, covering 256/400 of it
             [15.0, 15, 45, 25],    # 150/300 inside, covering 150/400 of it
             [11.0, 11, 21, 21],    # inside, covering 100/400 of it
             [14.0, 10, 32, 30]]    # shifted: 320/360 inside, covering 320/400
    assert MATCH_IOBB == 0.5
    assert same_place(np.array(boxes), np.array(finding)).tolist() == [True, False, True, False, False, True]


def _every(boxes, scores):
    """EveryBox layout from [P][K] boxes and scores."""
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32).reshape(-1)}


def test_candidates_are_the_best_proposals_whose_box_for_the_class_is_at_the_same_place():
    far = [90.0, 90, 99, 99]
    every = _every([[[10.0, 10, 30, 30], far],                 # proposal 0: class 1 at finding 0 (its own)
                    [[12.0, 12, 28, 28], [10.0, 10, 30, 30]],  # proposal 1: class 1 there too, class 2 as well
                    [[0.0, 0, 40, 40], far],                   # proposal 2: class 1 too large
                    [[14.0, 10, 32, 30], far],                 # proposal 3: class 1 there
                    [[11.0, 10, 31, 30], far]],                # proposal 4: class 1 there
                   [[0.6, 0.1], [0.3, 0.9], [0.95, 0.0], [0.5, 0.0], [0.2, 0.0]])
    findings = torch.tensor([[10.0, 10, 30, 30], [10.0, 10, 30, 30], [60.0, 60, 70, 70]])
    index, valid = candidates(every, findings, torch.tensor([1, 2, 1]), 2)
    assert CANDIDATES == 3
    assert index[0].tolist() == [0, 3, 1] and valid[0].tolist() == [True, True, True]  # by score; 4 left out
    assert index[1][:1].tolist() == [1] and valid[1].tolist() == [True, False, False]
    assert valid[2].tolist() == [False, False, False]                                   # nothing there


def test_counterpart_is_the_best_candidate_still_at_the_same_place_in_each_reread():
    far = [90.0, 90, 99, 99]
    findings, labels = torch.tensor([[10.0, 10, 30, 30], [10.0, 10, 30, 30]]), torch.tensor([1, 2])
    # two re-reads (R=2) of three proposals (U=3), two classes (K=2)
    boxes = torch.tensor([[[[10.0, 10, 30, 30], far], [[12.0, 12, 28, 28], far], [[10.0, 10, 30, 30], far]],
                          [[[40.0, 40, 60, 60], far], [[11.0, 10, 31, 30], far], [[10.0, 10, 30, 30], far]]])
    scores = torch.tensor([[[0.5, 0.1], [0.7, 0.2], [0.9, 0.3]],
                           [[0.8, 0.1], [0.25, 0.2], [0.9, 0.3]]])
    # finding 0 follows proposals 0 and 1 (not 2); in re-read 2 proposal 0's box moved away.
    # finding 1 (class 2) follows proposal 0, whose class-2 box is far away: gone (0)
    index, valid = np.array([[0, 1, 0], [0, 0, 0]]), np.array([[True, True, False], [True, False, False]])
    found = counterpart_scores(findings, labels, boxes, scores, index, valid)
    np.testing.assert_allclose(found, [[0.7, 0.0], [0.25, 0.0]], rtol=1e-6)
    none = counterpart_scores(findings, labels, boxes, scores, index, np.zeros_like(valid))
    np.testing.assert_allclose(none, [[0.0, 0.0], [0.0, 0.0]])


def test_one_read_gives_the_models_detections_and_every_box_it_scored():
    torch.manual_seed(0)
    model = mdfnet.build_model("mdf", preset="fast", image_size=64, pretrained_backbone=None).eval()
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    predictor = model.roi_heads.box_predictor
    with torch.no_grad():
        direct = model([image], ROW[None])[0]
        encoded = model.encode_images([image])
        detections, every, proposals = read_with_every_box(model, encoded, ROW)
        again = model.detect(encoded, ROW[None], proposals=[proposals], roi_heads=EveryBox(model.roi_heads))[0]
    assert model.roi_heads.box_predictor is predictor  # the recording copy left the model alone
    for key in ("boxes", "labels", "scores"):
        torch.testing.assert_close(detections[key], direct[key], rtol=0, atol=0)
        torch.testing.assert_close(every[key], again[key], rtol=0, atol=0)
    assert every["scores"].shape == (5 * len(proposals),)
    assert every["labels"][:6].tolist() == [1, 2, 3, 4, 5, 1]  # proposal-major, then class
    for box, label, score in zip(direct["boxes"], direct["labels"], direct["scores"]):  # each detection is one of them
        same = (every["boxes"] == box).all(1) & (every["labels"] == label)
        assert same.any() and every["scores"][same].max() == score


def _inside(a, b):  # share of box a lying in box b
    w, h = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    return w * h / ((a[2] - a[0]) * (a[3] - a[1])) if w > 0 and h > 0 else 0.0


def _at_place(a, b):
    return min(_inside(a, b), _inside(b, a)) >= 0.5


@pytest.mark.parametrize("spatialiser", ["lite", "paper"])
def test_batched_effects_equal_one_read_of_every_proposal_per_replaced_value(spatialiser):
    torch.manual_seed(0)
    model = mdfnet.build_model("mdf", preset="fast", image_size=64, spatialiser=spatialiser,
                               pretrained_backbone=None).eval()
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    medians = torch.tensor([71.0, 98.6, 80, 18, 97, 130, 80, 2, 3])  # the age entered is the median
    detections, effects = explain_image(model, image, ROW, medians, chunk=3)  # 7 re-reads in 3 batches
    with torch.no_grad():
        direct = model([image], ROW[None])[0]
        encoded = model.encode_images([image])
        (_,), (proposals,) = model.detect(encoded, ROW[None], with_proposals=True)
        scorer = EveryBox(model.roi_heads)
        base = model.detect(encoded, ROW[None], proposals=[proposals], roi_heads=scorer)[0]
    torch.testing.assert_close(detections["scores"], direct["scores"], rtol=0, atol=0)
    assert len(direct["scores"]) > 0

    def boxes_of(read, label):  # per proposal: (box, score) of one class
        return list(zip(read["boxes"].view(-1, 5, 4)[:, label - 1].tolist(),
                        read["scores"].view(-1, 5)[:, label - 1].tolist()))

    for r in replacements(ROW, CLINICAL_FEATURES, medians):
        row = ROW.clone()
        row[CLINICAL_FEATURES.index(r.feature)] = r.value
        with torch.no_grad():  # one value at a time, every proposal scored
            reread = model.detect(encoded, row[None], proposals=[proposals], roi_heads=scorer)[0]
        for k, (box, label, score) in enumerate(zip(direct["boxes"].tolist(), direct["labels"].tolist(),
                                                    direct["scores"].tolist())):
            followed = sorted((j for j, (b, _) in enumerate(boxes_of(base, label)) if _at_place(b, box)),
                              key=lambda j: -boxes_of(base, label)[j][1])[:3]
            expected = max([s for j, (b, s) in enumerate(boxes_of(reread, label))
                            if j in followed and _at_place(b, box)], default=0.0)
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
    gt_boxes = torch.tensor([[0.0, 0, 10, 10], [50.0, 50, 60, 60], [30.0, 30, 42, 42]])
    gt_labels = torch.tensor([1, 2, 2])
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
def checkpoint(untrained_run):
    return untrained_run


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
    assert new["notes"] == ["temperature: 38.5 is in the Celsius range [30, 45]: converted to 101.3 F"]
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
    # the command line cleans as prepare does: an impossible o2sat is made missing and said (the page refuses it)
    assert main(["predict", "--checkpoint", str(run / "best.pt"), "--image", str(cohort / "img_1.png"),
                 "--o2sat", "120", "--out", str(out)]) == 0
    saved = json.loads((out / "predictions.json").read_text())[0]
    assert "o2sat" in saved["missing"] and [c["feature"] for c in saved["cleaned"]] == ["o2sat"]


def test_evaluate_explain_writes_the_effects_per_class_and_feature(checkpoint, monkeypatch, capsys):
    run, _ = checkpoint
    fast = ["--no-plots", "--resamples", "10"]  # the intervals are not what this test is about
    assert main(["evaluate", "--run", str(run), *fast]) == 0
    assert not (run / "eval_test_best" / "explanations.json").exists()  # the default stays fast
    # an untrained model has no true positive: count every detection as one to exercise the summary
    monkeypatch.setattr("mdfnet.engine.explain.true_positives", lambda det, *a, **k: list(range(len(det["scores"]))))
    assert main(["evaluate", "--run", str(run), *fast, "--explain"]) == 0
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
