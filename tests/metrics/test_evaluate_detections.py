"""AP / AR / counts: hand-computed IoBB cases, and IoU against pycocotools' COCOeval."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

from mdfnet.errors import InputError
from mdfnet.metrics import evaluate_detections


def make_gt(boxes_by_image: dict[int, list[tuple[int, list[float]]]], n_images: int | None = None,
            categories=("Lesion a", "Lesion b")) -> dict:
    """COCO ground truth from ``{image_id: [(category_id, [x, y, w, h]), ...]}`` on 100x100 images."""
    n_images = n_images or max(boxes_by_image, default=0)
    anns = [
        {"id": i, "image_id": image_id, "category_id": cat, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
        for i, (image_id, cat, box) in enumerate(
            ((image_id, cat, box) for image_id, items in boxes_by_image.items() for cat, box in items), start=1)
    ]
    return {"images": [{"id": i, "width": 100, "height": 100} for i in range(1, n_images + 1)],
            "annotations": anns,
            "categories": [{"id": i, "name": name} for i, name in enumerate(categories, start=1)]}


def det(image_id: int, cat: int, box: list[float], score: float) -> dict:
    return {"image_id": image_id, "category_id": cat, "bbox": box, "score": score}


TARGET = [20.0, 20.0, 40.0, 40.0]


def test_prediction_inside_target_is_a_hit_the_target_inside_a_prediction_is_not():
    gt = make_gt({1: [(1, TARGET)], 2: [(1, TARGET)]})
    inner = det(1, 1, [30, 30, 10, 10], 0.9)  # IoBB 1, IoU 100/1600
    outer = det(2, 1, [10, 10, 60, 60], 0.8)  # contains the target: IoBB 1600/3600 = 0.444
    m = evaluate_detections(gt, [inner, outer])
    assert m["AR_IoBB_0.50"] == 0.5
    assert m["AP_IoBB_0.50"] == pytest.approx(51 / 101)  # precision 1 up to recall 0.5, then 0
    assert m["AP_IoBB_0.40"] == 1.0 and m["AR_IoBB_0.40"] == 1.0
    assert m["counts"]["Lesion a"] == {"TP": 1, "FP": 1, "FN": 1}
    iou = evaluate_detections(gt, [inner, outer], overlap="iou", thresholds=[0.05, 0.5])
    assert iou["AR_IoU_0.05"] == 1.0 and iou["AR_IoU_0.50"] == 0.0
    assert "AP_IoU_0.50" in iou and "AP_IoBB_0.50" not in iou


def test_huge_box_covering_the_target_is_a_false_positive():
    gt = make_gt({1: [(1, TARGET)]})
    m = evaluate_detections(gt, [det(1, 1, [0, 0, 100, 100], 0.9)])  # IoBB 1600 / 10000 = 0.16
    assert m["AP_IoBB_0.15"] == 1.0
    assert m["AP_IoBB_0.20"] == 0.0 and m["AP_IoBB_0.50"] == 0.0
    assert m["counts"]["Lesion a"] == {"TP": 0, "FP": 1, "FN": 1}


def test_several_small_boxes_inside_one_target_match_it_once():
    gt = make_gt({1: [(1, TARGET)]})
    dets = [det(1, 1, [22, 22, 5, 5], 0.9), det(1, 1, [40, 40, 5, 5], 0.8), det(1, 1, [50, 30, 5, 5], 0.7)]
    m = evaluate_detections(gt, dets)
    assert m["AP_IoBB_0.50"] == 1.0  # the first one reaches recall 1 at precision 1
    assert m["counts"]["Lesion a"] == {"TP": 1, "FP": 2, "FN": 0}
    curve = m["pr_curves"]["Lesion a"]
    assert len(curve["recall"]) == 101 and curve["precision"] == [1.0] * 101


def test_zero_area_predictions_overlap_nothing():
    gt = make_gt({1: [(1, TARGET)]})
    dets = [det(1, 1, [40, 40, 0, 0], 0.9), det(1, 1, [40, 40, 0, 10], 0.8)]
    m = evaluate_detections(gt, dets)
    assert all(m[f"AP_IoBB_{t:.2f}"] == 0.0 for t in (0.05, 0.5, 0.95))
    assert m["counts"]["Lesion a"] == {"TP": 0, "FP": 2, "FN": 1}


def test_detection_on_an_image_without_ground_truth_is_a_false_positive():
    gt = make_gt({1: [(1, TARGET)]}, n_images=2)
    dets = [det(2, 1, TARGET, 0.9), det(1, 1, TARGET, 0.6)]
    m = evaluate_detections(gt, dets)
    # Ranked FP then TP: precision 0.5 at recall 1 for every recall point.
    assert m["AP_IoBB_0.50"] == 0.5 and m["AR_IoBB_0.50"] == 1.0
    assert m["counts"]["Lesion a"] == {"TP": 1, "FP": 1, "FN": 0}


def test_class_without_ground_truth_is_left_out_of_the_mean():
    gt = make_gt({1: [(1, TARGET)]})
    dets = [det(1, 1, TARGET, 0.9), det(1, 2, TARGET, 0.95)]
    m = evaluate_detections(gt, dets)
    assert m["AP_IoBB_0.50"] == 1.0 and m["AP_IoBB_mean"] == 1.0
    assert m["AP_IoBB_0.50_Lesion_a"] == 1.0
    assert math.isnan(m["AP_IoBB_0.50_Lesion_b"])
    assert m["counts"]["Lesion b"] == {"TP": 0, "FP": 1, "FN": 0}
    assert set(m["pr_curves"]) == {"Lesion a"}


def test_two_classes_are_averaged():
    gt = make_gt({1: [(1, TARGET), (2, [60, 60, 20, 20])]})
    m = evaluate_detections(gt, [det(1, 1, [25, 25, 10, 10], 0.9)])
    assert m["AP_IoBB_0.50_Lesion_a"] == 1.0 and m["AP_IoBB_0.50_Lesion_b"] == 0.0
    assert m["AP_IoBB_0.50"] == 0.5 and m["AR_IoBB_0.50"] == 0.5


def test_empty_detections_give_zero_not_a_crash():
    gt = make_gt({1: [(1, TARGET)], 2: []})
    m = evaluate_detections(gt, [])
    assert m["AP_IoBB_0.50"] == 0.0 and m["AR_IoBB_0.50"] == 0.0 and m["AP_IoBB_mean"] == 0.0
    assert m["counts"]["Lesion a"] == {"TP": 0, "FP": 0, "FN": 1}
    assert m["n_detections"] == 0 and m["pr_curves"]["Lesion a"]["precision"] == [0.0] * 101


def test_no_ground_truth_at_all_gives_nan():
    m = evaluate_detections(make_gt({}, n_images=1), [det(1, 1, TARGET, 0.9)])
    assert math.isnan(m["AP_IoBB_0.50"]) and math.isnan(m["AR_IoBB_mean"])
    assert m["counts"]["Lesion a"] == {"TP": 0, "FP": 1, "FN": 0}


def test_score_cut_comes_before_the_per_image_cut():
    gt = make_gt({1: [(1, TARGET)]})
    misses = [det(1, 1, [90, 90, 5, 5], 0.9 - i * 0.01) for i in range(10)]
    hit = det(1, 1, TARGET, 0.5)
    assert evaluate_detections(gt, misses + [hit])["AR_IoBB_0.50"] == 0.0  # hit is 11th of 11
    assert evaluate_detections(gt, misses + [hit], max_dets=11)["AR_IoBB_0.50"] == 1.0
    low = [dict(d, score=0.01) for d in misses]
    m = evaluate_detections(gt, low + [hit])  # the low ones go first, the hit is then the only one
    assert m["AP_IoBB_0.50"] == 1.0 and m["n_detections"] == 1


def test_counts_use_their_own_score_cut():
    gt = make_gt({1: [(1, TARGET)]})
    m = evaluate_detections(gt, [det(1, 1, TARGET, 0.08), det(1, 1, [0, 0, 5, 5], 0.07)])
    assert m["AP_IoBB_0.50"] == 1.0
    assert m["counts"]["Lesion a"] == {"TP": 0, "FP": 0, "FN": 1}  # both below 0.1


def test_custom_thresholds_always_include_the_headline():
    gt = make_gt({1: [(1, TARGET)]})
    m = evaluate_detections(gt, [det(1, 1, [10, 10, 60, 60], 0.9)], thresholds=[0.25, 0.75])
    assert m["thresholds"] == [0.25, 0.75]
    assert m["AP_IoBB_0.25"] == 1.0 and m["AP_IoBB_0.75"] == 0.0 and m["AP_IoBB_0.50"] == 0.0
    assert m["AP_IoBB_mean"] == 0.5  # over the requested 0.25 and 0.75 only


def test_inputs_are_not_modified():
    gt = make_gt({1: [(1, TARGET)]})
    dets = [det(1, 1, TARGET, 0.9)]
    before = (repr(gt), repr(dets))
    evaluate_detections(gt, dets)
    assert (repr(gt), repr(dets)) == before


def test_bad_inputs_name_the_record():
    gt = make_gt({1: [(1, TARGET)]})
    with pytest.raises(InputError, match=r"\[0\]: missing key 'score'"):
        evaluate_detections(gt, [{"image_id": 1, "category_id": 1, "bbox": TARGET}])
    with pytest.raises(InputError, match="image_id 7 is not an image"):
        evaluate_detections(gt, [det(7, 1, TARGET, 0.5)])
    with pytest.raises(ValueError, match="overlap must be one of"):
        evaluate_detections(gt, [], overlap="giou")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("image_id", 1.0, r"\[1\]: image_id 1.0 is not an image of the ground truth"),
    ("category_id", "1", r"\[1\]: category_id '1' is not a ground-truth category"),
    ("score", "0.5", r"\[1\]: 'score' must be a finite number, got '0.5'"),
    ("score", float("nan"), r"\[1\]: 'score' must be a finite number, got nan"),
    ("bbox", [0, 0, 1, None], r"\[1\]: 'bbox' must be \[x, y, width, height\] \(four finite numbers\)"),
    ("bbox", [0, 0, 1, float("inf")], r"\[1\]: 'bbox' must be"),
])
def test_mistyped_detection_fields_name_the_record(field, value, message):
    """The column-wise check must not coerce: 1.0 is no image id, '0.5' is no score."""
    gt = make_gt({1: [(1, TARGET)]})
    dets = [det(1, 1, TARGET, 0.9), {**det(1, 1, TARGET, 0.8), field: value}]
    with pytest.raises(InputError, match=message):
        evaluate_detections(gt, dets)


def test_ground_truth_ids_must_be_integers():
    gt = make_gt({1: [(1, TARGET)]})
    with pytest.raises(InputError, match=r"images\[0\]: id must be an integer in \[0, 2\*\*31\), got '1'"):
        evaluate_detections({**gt, "images": [{"id": "1"}]}, [])
    with pytest.raises(InputError, match=r"annotations\[0\]: 'bbox' must be"):
        evaluate_detections({**gt, "annotations": [{**gt["annotations"][0], "bbox": [1, 2, 3]}]}, [])
    with pytest.raises(InputError, match=r"annotations\[0\]: 'area' must be a finite number, got None"):
        evaluate_detections({**gt, "annotations": [{**gt["annotations"][0], "area": None}]}, [])


def test_counts_can_be_skipped():
    gt = make_gt({1: [(1, TARGET)]})
    m = evaluate_detections(gt, [det(1, 1, TARGET, 0.9)], count_threshold=None)
    assert "counts" not in m and m["count_threshold"] is None and m["AP_IoBB_0.50"] == 1.0


# --- IoU against pycocotools ------------------------------------------------------------------------

def random_case(seed: int, n_images: int = 30, n_classes: int = 3, crowd: float = 0.0,
                max_dets: int = 10) -> tuple[dict, list[dict]]:
    """Random boxes, some shifted copies of ground truth so every threshold sees hits and misses;
    a ``crowd`` fraction of the ground truth is flagged ``iscrowd``; up to ``max_dets`` detections per image."""
    rng = np.random.default_rng(seed)
    names = [f"class {k}" for k in range(1, n_classes + 1)]
    items: dict[int, list] = {}
    dets = []
    for image_id in range(1, n_images + 1):
        items[image_id] = []
        for _ in range(rng.integers(0, 4)):
            xy, wh = rng.uniform(0, 70, 2), rng.uniform(2, 30, 2)
            items[image_id].append((int(rng.integers(1, n_classes + 1)), [*xy.tolist(), *wh.tolist()]))
        for _ in range(rng.integers(0, max_dets + 1)):
            if items[image_id] and rng.random() < 0.6:
                cat, box = items[image_id][rng.integers(len(items[image_id]))]
                box = (np.array(box) + rng.normal(0, 3, 4) * [1, 1, 0.5, 0.5]).clip(0.5).tolist()
                cat = cat if rng.random() < 0.85 else int(rng.integers(1, n_classes + 1))
            else:
                cat, box = int(rng.integers(1, n_classes + 1)), [*rng.uniform(0, 70, 2), *rng.uniform(2, 30, 2)]
            dets.append(det(image_id, cat, [float(v) for v in box], float(rng.uniform(0.0, 1.0))))
    gt = make_gt(items, n_images, categories=names)
    for ann in gt["annotations"]:
        ann["iscrowd"] = int(rng.random() < crowd)
    return gt, dets


def pycocotools_eval(gt: dict, dets: list[dict], thresholds: np.ndarray, max_dets: tuple[int, ...]):
    coco_api = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_api.COCO()
        coco_gt.dataset = {k: [dict(v) for v in vs] for k, vs in gt.items()}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([dict(d) for d in dets])
        ev = cocoeval.COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.iouThrs = thresholds
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        if list(max_dets) == [1, 10, 100]:
            ev.summarize()
    return ev


@pytest.mark.parametrize("seed", range(6))
def test_iou_matches_pycocotools_stock_summary(seed):
    gt, dets = random_case(seed)
    coco_grid = np.linspace(0.5, 0.95, 10)
    ours = evaluate_detections(gt, dets, overlap="iou", thresholds=coco_grid, score_threshold=0.0)
    ref = pycocotools_eval(gt, dets, coco_grid, (1, 10, 100))
    assert ours["AP_IoU_mean"] == pytest.approx(ref.stats[0], abs=1e-9)
    assert ours["AP_IoU_0.50"] == pytest.approx(ref.stats[1], abs=1e-9)
    assert ours["AP_IoU_0.75"] == pytest.approx(ref.stats[2], abs=1e-9)
    assert ours["AR_IoU_mean"] == pytest.approx(ref.stats[7], abs=1e-9)  # AR maxDets 10


def assert_equal_per_threshold(ours: dict, precision: np.ndarray, recall: np.ndarray, grid, label: str) -> None:
    """Our class-mean AP and AR at every threshold equal COCO's ``precision`` [T, R, K] / ``recall`` [T, K]."""
    for i, t in enumerate(grid):
        valid = recall[i] > -1
        assert ours[f"AP_{label}_{t:.2f}"] == pytest.approx(precision[i][:, valid].mean(), abs=1e-9)
        assert ours[f"AR_{label}_{t:.2f}"] == pytest.approx(recall[i][valid].mean(), abs=1e-9)


@pytest.mark.parametrize(("seed", "crowd"), [*((s, 0.0) for s in range(6, 12)), *((s, 0.3) for s in range(16, 20))])
def test_iou_matches_pycocotools_per_threshold_and_class(seed, crowd):
    """Also with crowd regions: ignored in the counts of ground truth, matched by overlap over the detection."""
    gt, dets = random_case(seed, crowd=crowd)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    ours = evaluate_detections(gt, dets, overlap="iou", score_threshold=0.0)
    ref = pycocotools_eval(gt, dets, grid, (10,))
    precision, recall = ref.eval["precision"][:, :, :, 0, 0], ref.eval["recall"][:, :, 0, 0]
    assert_equal_per_threshold(ours, precision, recall, grid, "IoU")
    for k, name in enumerate(c["name"] for c in gt["categories"]):
        expected = precision[9, :, k].mean() if recall[9, k] > -1 else float("nan")
        assert ours[f"AP_IoU_0.50_{name.replace(' ', '_')}"] == pytest.approx(expected, abs=1e-9, nan_ok=True)


@pytest.mark.parametrize("seed", range(30, 34))
def test_iou_matches_pycocotools_with_more_detections_per_image_and_class_than_max_dets(seed):
    """Up to 60 detections per image on 2 classes: COCO's maxDets cut is per image and class."""
    gt, dets = random_case(seed, n_classes=2, max_dets=60)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    per_pair = np.unique([(d["image_id"], d["category_id"]) for d in dets], axis=0, return_counts=True)[1]
    assert per_pair.max() > 20  # well over max_dets
    ours = evaluate_detections(gt, dets, overlap="iou", score_threshold=0.0)
    ref = pycocotools_eval(gt, dets, grid, (10,))
    assert_equal_per_threshold(ours, ref.eval["precision"][:, :, :, 0, 0], ref.eval["recall"][:, :, 0, 0], grid, "IoU")
    stock = pycocotools_eval(gt, dets, np.linspace(0.5, 0.95, 10), (1, 10, 100))
    ours = evaluate_detections(gt, dets, overlap="iou", thresholds=np.linspace(0.5, 0.95, 10), score_threshold=0.0,
                               max_dets=100)
    assert ours["AP_IoU_mean"] == pytest.approx(stock.stats[0], abs=1e-9)
    assert ours["AR_IoU_mean"] == pytest.approx(stock.stats[8], abs=1e-9)  # AR maxDets 100


@pytest.mark.parametrize("seed", range(34, 36))
def test_per_image_cut_equals_pycocotools_on_detections_cut_per_image_first(seed):
    """``max_dets_per="image"``: the 10 best per image over all classes, then COCO (the earlier default)."""
    gt, dets = random_case(seed, n_classes=2, max_dets=40)
    by_image: dict[int, list[dict]] = {}
    for d in dets:
        by_image.setdefault(d["image_id"], []).append(d)
    cut = [d for image_dets in by_image.values() for d in sorted(image_dets, key=lambda d: -d["score"])[:10]]
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    ours = evaluate_detections(gt, dets, overlap="iou", score_threshold=0.0, max_dets_per="image")
    ref = pycocotools_eval(gt, cut, grid, (10,))
    assert_equal_per_threshold(ours, ref.eval["precision"][:, :, :, 0, 0], ref.eval["recall"][:, :, 0, 0], grid, "IoU")
    assert ours["max_dets_per"] == "image"
    coco = evaluate_detections(gt, dets, overlap="iou", score_threshold=0.0)
    assert coco["n_detections"] > ours["n_detections"] and coco["AR_IoU_0.50"] > ours["AR_IoU_0.50"]


def pycocotools_counts(ev, gt: dict, score_threshold: float, threshold: float = 0.5) -> dict:
    """TP / FP / FN per class from pycocotools' per-image matches (``evalImgs``) at one threshold."""
    t = int(np.flatnonzero(np.isclose(ev.params.iouThrs, threshold))[0])
    counts = {c["name"]: {"TP": 0, "FP": 0, "FN": 0} for c in gt["categories"]}
    names = {c["id"]: c["name"] for c in gt["categories"]}
    for e in ev.evalImgs:
        if e is None or e["aRng"] != ev.params.areaRng[0]:  # area "all" only
            continue
        name = names[e["category_id"]]
        above = np.asarray(e["dtScores"]) >= score_threshold
        matched = np.asarray(e["dtMatches"][t] > 0)[above]
        ignored = np.asarray(e["dtIgnore"][t], bool)[above]
        counts[name]["TP"] += int((matched & ~ignored).sum())
        counts[name]["FP"] += int((~matched & ~ignored).sum())
        n_gt = int((~np.asarray(e["gtIgnore"], bool)).sum())
        counts[name]["FN"] += n_gt - int((matched & ~ignored).sum())
    return counts


@pytest.mark.parametrize("seed", range(20, 24))
def test_counts_match_pycocotools_per_detection(seed):
    """TP / FP / FN at score >= 0.3 from one matching of all detections equal pycocotools' matches."""
    gt, dets = random_case(seed, crowd=0.2)
    ours = evaluate_detections(gt, dets, overlap="iou", score_threshold=0.0, count_threshold=0.3)
    ref = pycocotools_eval(gt, dets, np.array([0.5]), (10,))
    assert ours["counts"] == pycocotools_counts(ref, gt, 0.3)
    assert sum(c["TP"] for c in ours["counts"].values()) > 0


# --- IoBB against two independent matchers ----------------------------------------------------------

def pycocotools_iobb_precision(gt: dict, dets: list[dict], thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' pure-Python matching, its overlap swapped for IoBB through the crowd flag."""
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    mask = pytest.importorskip("pycocotools.mask")

    class IoBBEval(cocoeval.COCOeval):
        def computeIoU(self, imgId, catId):  # noqa: N802, N803
            gts, dts = self._gts[imgId, catId], self._dts[imgId, catId]
            if not gts or not dts:
                return []
            dts = sorted(dts, key=lambda d: -d["score"])[: self.params.maxDets[-1]]
            return mask.iou([d["bbox"] for d in dts], [g["bbox"] for g in gts], [1] * len(gts))

    coco_api = pytest.importorskip("pycocotools.coco")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_api.COCO()
        coco_gt.dataset = {k: [dict(v) for v in vs] for k, vs in gt.items()}
        coco_gt.createIndex()
        ev = IoBBEval(coco_gt, coco_gt.loadRes([dict(d) for d in dets]), "bbox")
        ev.params.iouThrs, ev.params.maxDets = thresholds, [10]
        ev.evaluate()
        ev.accumulate()
    return ev.eval["precision"][:, :, :, 0, 0], ev.eval["recall"][:, :, 0, 0]


@pytest.mark.parametrize("seed", range(12, 16))
def test_iobb_matches_pycocotools_with_crowd_overlap(seed):
    gt, dets = random_case(seed)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    ours = evaluate_detections(gt, dets, score_threshold=0.0)
    precision, recall = pycocotools_iobb_precision(gt, dets, grid)
    assert_equal_per_threshold(ours, precision, recall, grid, "IoBB")
    assert ours["AP_IoBB_0.50"] != ours["AP_IoBB_0.95"]  # the case has misses that depend on the threshold


def test_iobb_matches_the_benchmarks_pure_python_matcher():
    from benchmark_script import load_benchmark

    bench = load_benchmark("bench_evaluate")
    gt, dets = bench.synthetic_case(200, 10, seed=3)
    grid = np.round(np.arange(0.05, 0.951, 0.05), 2)
    ours = evaluate_detections(gt, dets)
    ref_ap, ref_ar = bench.reference_ap_ar(gt, dets, grid)
    assert [ours[f"AP_IoBB_{t:.2f}"] for t in grid] == pytest.approx(ref_ap, abs=1e-9)
    assert [ours[f"AR_IoBB_{t:.2f}"] for t in grid] == pytest.approx(ref_ar, abs=1e-9)


def test_a_changed_faster_coco_eval_api_says_which_versions_work(monkeypatch):
    from mdfnet.metrics import matching

    def changed(*_args):
        raise TypeError("COCOevalEvaluateAccumulate(): incompatible function arguments")

    monkeypatch.setattr(matching._cpp, "COCOevalEvaluateAccumulate", changed)
    with pytest.raises(RuntimeError, match=r"changed the C\+\+ API that mdfnet calls; install a version >=1.8,<2"):
        evaluate_detections(make_gt({1: [(1, TARGET)]}), [det(1, 1, TARGET, 0.9)])
