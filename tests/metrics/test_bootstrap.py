"""Bootstrap intervals: each resample equals evaluate_detections on the physically copied dataset, and the
interval equals a slow pure-Python bootstrap with the same draws."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_script import load_benchmark
from test_evaluate_detections import TARGET, det, make_gt, random_case

from mdfnet.errors import InputError
from mdfnet.metrics import evaluate_detections
from mdfnet.metrics.bootstrap import bootstrap_metrics, group_index, percentile_interval, resampled_values
from mdfnet.metrics.outcomes import Matching


def patients(gt: dict, seed: int) -> dict[int, str]:
    """1-3 consecutive images per patient."""
    rng = np.random.default_rng(seed)
    ids, groups, i = sorted(image["id"] for image in gt["images"]), {}, 0
    while i < len(ids):
        size = int(rng.integers(1, 4))
        groups.update({image_id: f"patient {i}" for image_id in ids[i:i + size]})
        i += size
    return groups


def reference_weights(gt: dict, groups: dict | None, n_resamples: int, seed: int) -> list[dict[int, int]]:
    """Image weights per resample, as the docstring of bootstrap_metrics specifies the draws."""
    ids = sorted(image["id"] for image in gt["images"])
    labels = ids if groups is None else [groups[i] for i in ids]
    order = list(dict.fromkeys(labels))  # groups numbered by first appearance
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(order), size=len(order)).tolist()
        out.append({i: drawn.count(order.index(label)) for i, label in zip(ids, labels)})
    return out


def copied_dataset(gt: dict, dets: list[dict], weights: dict[int, int]) -> tuple[dict, list[dict]]:
    """Each image copied ``weights[id]`` times; copies get ids that keep image order and sit together."""
    span = max(weights.values()) + 1
    new_ids = {image_id: [rank * span + c + 1 for c in range(weights[image_id])]
               for rank, image_id in enumerate(sorted(weights))}
    images = [{**image, "id": new} for image in gt["images"] for new in new_ids[image["id"]]]
    anns = [{**a, "image_id": new} for a in gt["annotations"] for new in new_ids[a["image_id"]]]
    anns = [{**a, "id": n} for n, a in enumerate(sorted(anns, key=lambda a: a["image_id"]), start=1)]
    copies = [{**d, "image_id": new} for d in dets for new in new_ids[d["image_id"]]]
    return {**gt, "images": images, "annotations": anns}, copies


def evaluate_per_class(gt: dict, dets: list[dict], **kwargs) -> dict:
    """evaluate_detections, plus per-class keys at every threshold (it reports them at 0.5 only): from the
    class-mean keys of the one-class dataset."""
    out = evaluate_detections(gt, dets, **kwargs)
    for category in gt["categories"]:
        k = category["id"]
        one = evaluate_detections({**gt, "categories": [category],
                                   "annotations": [a for a in gt["annotations"] if a["category_id"] == k]},
                                  [d for d in dets if d["category_id"] == k], **kwargs)
        name = category["name"].replace(" ", "_")
        out.update({f"{kind}_{label}_{t:.2f}_{name}": one[f"{kind}_{label}_{t:.2f}"]
                    for kind in ("AP", "AR") for label in ("IoBB", "IoU") for t in kwargs["thresholds"]
                    if f"{kind}_{label}_{t:.2f}" in one})
    return out


def distinct_scores(dets: list[dict]) -> list[dict]:
    """Scores made distinct within each image and class (COCO interleaves such ties across copies)."""
    return [{**d, "score": round(d["score"], 6) + 1e-9 * i} for i, d in enumerate(dets)]


@pytest.mark.parametrize(("overlap", "seed"), [("iobb", 0), ("iou", 1), ("iobb", 2)])
def test_each_resample_equals_evaluate_detections_on_the_copied_dataset(overlap, seed):
    gt, dets = random_case(seed, n_images=12, n_classes=4, crowd=0.15, max_dets=12)
    dets = distinct_scores(dets)
    dets[1]["score"] = dets[-1]["score"]  # a tie across two images: copies keep COCO's order
    groups = patients(gt, seed)
    thresholds = [0.3, 0.5]
    boot = bootstrap_metrics(gt, dets, groups, overlap=overlap, thresholds=thresholds, n_resamples=12, seed=seed,
                             max_dets=8, return_resamples=True)
    values = boot["resamples"]
    assert len(values) == 2 * 2 * (1 + 4) + 2  # AP/AR x thresholds x (mean + 4 classes) + the two means
    some_class_absent = False
    for b, weights in enumerate(reference_weights(gt, groups, 12, seed)):
        expected = evaluate_per_class(*copied_dataset(gt, dets, weights), overlap=overlap, thresholds=thresholds,
                                      max_dets=8)
        for key, resampled in values.items():
            assert resampled[b] == pytest.approx(expected[key], abs=1e-12, nan_ok=True), (b, key)
            some_class_absent |= bool(np.isnan(resampled[b]))
    assert some_class_absent  # the case exercises a class drawn without ground truth


@pytest.mark.parametrize("by_patient", [True, False])
def test_interval_equals_a_pure_python_bootstrap_with_the_same_draws(by_patient):
    """The slow way: copy the images of each resample and match them with the benchmark's pure-Python IoBB
    matcher; percentiles of its APs and ARs give the same interval."""
    bench = load_benchmark("bench_evaluate")
    gt, dets = random_case(5, n_images=16, max_dets=10)
    dets = distinct_scores(dets)
    groups = patients(gt, 5) if by_patient else None
    boot = bootstrap_metrics(gt, dets, groups, n_resamples=60, seed=7, confidence=0.9)
    aps, ars = [], []
    for weights in reference_weights(gt, groups, 60, seed=7):
        (ap,), (ar,) = bench.reference_ap_ar(*copied_dataset(gt, dets, weights), [0.5])
        aps.append(ap)
        ars.append(ar)
    assert boot["AP_IoBB_0.50_ci90"] == pytest.approx(np.percentile(aps, [5, 95]).tolist(), abs=1e-12)
    assert boot["AR_IoBB_0.50_ci90"] == pytest.approx(np.percentile(ars, [5, 95]).tolist(), abs=1e-12)
    low, high = boot["AP_IoBB_0.50_ci90"]
    assert low < boot["AP_IoBB_0.50"] < high
    assert boot["bootstrap"] == {"n_resamples": 60, "seed": 7, "confidence": 0.9,
                                 "n_groups": len(set(groups.values())) if by_patient else 16, "interval": "percentile"}


def test_one_patient_with_every_image_gives_a_zero_width_interval():
    gt = make_gt({1: [(1, TARGET)], 2: [(1, TARGET)]})
    dets = [det(1, 1, TARGET, 0.9), det(2, 1, [0, 0, 5, 5], 0.8)]
    boot = bootstrap_metrics(gt, dets, {1: "p", 2: "p"}, n_resamples=5)
    # Ranked TP (recall 1/2, precision 1) then FP: AP = 51/101 at every one of the 101 recall points up to 0.5.
    assert boot["AP_IoBB_0.50"] == pytest.approx(51 / 101)
    assert boot["AP_IoBB_0.50_ci95"] == [boot["AP_IoBB_0.50"]] * 2
    assert boot["AR_IoBB_0.50_ci95"] == [0.5, 0.5]


def test_a_class_without_ground_truth_has_nan_point_and_interval():
    gt = make_gt({1: [(1, TARGET)], 2: []})
    boot = bootstrap_metrics(gt, [det(1, 1, TARGET, 0.9), det(2, 2, TARGET, 0.9)], n_resamples=20)
    assert np.isnan(boot["AP_IoBB_0.50_Lesion_b"]) and np.isnan(boot["AP_IoBB_0.50_Lesion_b_ci95"]).all()
    # Image 1 (the only lesion) drawn 0 times leaves the resample undefined, not 0.
    assert boot["AP_IoBB_0.50_ci95"] == [1.0, 1.0] and boot["AP_IoBB_mean"] == 1.0


def test_blocks_of_resamples_do_not_change_the_values():
    """Memory-bounded blocks (here one resample at a time) give the same values as one block of 70, which
    takes the row-by-row running sums (ROW_LOOP_WIDTH) where single resamples take numpy's."""
    gt, dets = random_case(8, n_images=12)
    outcomes = [Matching(gt, dets).outcomes(t) for t in (0.25, 0.5)]
    groups, n_groups = group_index(outcomes[0].image_ids, patients(gt, 8))
    whole = resampled_values(outcomes, groups, n_groups, 70, seed=3)
    one_by_one = resampled_values(outcomes, groups, n_groups, 70, seed=3, chunk_elements=1)
    assert whole.keys() == one_by_one.keys()
    for key in whole:
        np.testing.assert_array_equal(whole[key], one_by_one[key])


def test_percentile_interval_of_hand_values():
    values = np.r_[np.arange(101) / 100, np.nan]  # nan: a resample where the value is undefined
    assert percentile_interval(values, 0.9) == pytest.approx([0.05, 0.95])
    assert percentile_interval(np.array([0.2, 0.4]), 0.5) == pytest.approx([0.25, 0.35])  # linear between
    assert np.isnan(percentile_interval(np.array([np.nan]), 0.95)).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_resamples": 0}, r"^n_resamples: expected an integer >= 1, got 0$"),
    ({"n_resamples": 10.0}, r"^n_resamples: expected an integer >= 1, got 10.0$"),
    ({"confidence": 95}, r"^confidence: expected a number between 0 and 1 \(e.g. 0.95\), got 95$"),
    ({"groups": {1: "a"}}, r"^groups: image 2 of the ground truth has no group \(patient\)$"),
    ({"groups": {1: "a", 2: "a", 9: "b"}}, r"^groups: image 9 is not an image of the ground truth$"),
    ({"dets": [det(7, 1, TARGET, 0.5)]}, r"image_id 7 is not an image of the ground truth"),
    ({"thresholds": []}, r"^thresholds: expected at least one overlap threshold, got none$"),
])
def test_bad_input_is_one_clear_line(kwargs, message):
    gt = make_gt({1: [(1, TARGET)], 2: []})
    args = {"dets": [det(1, 1, TARGET, 0.9)], "groups": None, **kwargs}
    with pytest.raises(InputError, match=message):
        bootstrap_metrics(gt, args.pop("dets"), args.pop("groups"), **args)


def test_no_images_is_one_clear_line():
    with pytest.raises(InputError, match=r"^ground truth: no images to resample$"):
        bootstrap_metrics(make_gt({}), [], n_resamples=5)
