"""Time :func:`mdfnet.metrics.evaluate_detections` against pure-Python IoBB matchers, in one run.

Ours is timed twice: AP/AR with PR curves (``count_threshold=None``, what the baselines compute) and the
default, which adds the TP/FP/FN counts (a second matching pass). Two baselines, both checked to agree
with ours on AP and AR before any time is printed:

- *authors' structure*: pycocotools' Python ``COCOeval`` (per image x class x area range loops, maxDets
  [1, 10]) with ``computeIoU`` replaced by a pair-by-pair Python IoBB, which is how the MDF-Net authors
  evaluated (their ``utils/coco_eval.py``, read for its structure; no code taken);
- *lean matcher*: a straightforward pure-Python greedy matcher that computes each overlap once per image
  and class and builds the 101-point interpolated precision itself (a stronger baseline).

    .venv/bin/python benchmarks/bench_evaluate.py                    # 10,000 images x 10 detections
    .venv/bin/python benchmarks/bench_evaluate.py --images 500 --repeats 1
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import copy
import io
import random
import time
from collections import defaultdict

import numpy as np

from mdfnet.metrics import DEFAULT_THRESHOLDS, evaluate_detections
from mdfnet.metrics.keys import AP_50, metric_key


def synthetic_case(n_images: int, dets_per_image: int, n_classes: int = 5, seed: int = 0) -> tuple[dict, list[dict]]:
    """Seeded 512x512 images with 1-3 ground-truth boxes and ``dets_per_image`` detections each.

    About half the detections are jittered, shrunk or grown copies of a ground truth, the rest random.
    """
    rng = random.Random(seed)
    images, anns, dets = [], [], []
    for image_id in range(1, n_images + 1):
        images.append({"id": image_id, "width": 512, "height": 512})
        boxes = []
        for _ in range(rng.randint(1, 3)):
            w, h = rng.uniform(20, 200), rng.uniform(20, 200)
            box = [rng.uniform(0, 512 - w), rng.uniform(0, 512 - h), w, h]
            cat = rng.randint(1, n_classes)
            boxes.append((cat, box))
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "bbox": box,
                         "area": w * h, "iscrowd": 0})
        for _ in range(dets_per_image):
            if rng.random() < 0.5:
                cat, (x, y, w, h) = rng.choice(boxes)
                s = rng.uniform(0.3, 1.5)
                box = [x + rng.gauss(0, 10), y + rng.gauss(0, 10), w * s, h * s]
                cat = cat if rng.random() < 0.8 else rng.randint(1, n_classes)
            else:
                w, h = rng.uniform(10, 250), rng.uniform(10, 250)
                box, cat = [rng.uniform(0, 512 - w), rng.uniform(0, 512 - h), w, h], rng.randint(1, n_classes)
            dets.append({"image_id": image_id, "category_id": cat, "bbox": box, "score": rng.random()})
    categories = [{"id": k, "name": f"class {k}"} for k in range(1, n_classes + 1)]
    return {"images": images, "annotations": anns, "categories": categories}, dets


# --- the pure-Python baseline -------------------------------------------------------------------------

def iobb(det_box: list[float], gt_box: list[float]) -> float:
    """area(det ∩ gt) / area(det), xywh boxes; 0 for an empty detection."""
    dx, dy, dw, dh = det_box
    gx, gy, gw, gh = gt_box
    iw = min(dx + dw, gx + gw) - max(dx, gx)
    ih = min(dy + dh, gy + gh) - max(dy, gy)
    if iw <= 0 or ih <= 0 or dw * dh <= 0:
        return 0.0
    return iw * ih / (dw * dh)


def reference_ap_ar(gt: dict, dets: list[dict], thresholds, max_dets: int = 10,
                    score_threshold: float = 0.05) -> tuple[list[float], list[float]]:
    """Per-threshold class-mean AP (101-point) and AR with greedy IoBB matching, pure Python."""
    gts = defaultdict(list)
    n_gt = defaultdict(int)
    for ann in gt["annotations"]:
        gts[ann["image_id"], ann["category_id"]].append(ann["bbox"])
        n_gt[ann["category_id"]] += 1
    per_pair = defaultdict(list)
    for d in cut_detections(dets, score_threshold, max_dets):
        per_pair[d["image_id"], d["category_id"]].append(d)
    cats = sorted(c["id"] for c in gt["categories"])
    aps, ars = [], []
    for t in thresholds:
        outcomes = defaultdict(list)  # cat -> [(score, is_tp)]
        for (image_id, cat), pair_dets in per_pair.items():
            pair_gts = gts.get((image_id, cat), [])
            taken = [False] * len(pair_gts)
            for d in pair_dets:
                best, best_overlap = -1, min(t, 1 - 1e-10)
                for g, gt_box in enumerate(pair_gts):
                    overlap = iobb(d["bbox"], gt_box)
                    if not taken[g] and overlap >= best_overlap:
                        best, best_overlap = g, overlap
                if best >= 0:
                    taken[best] = True
                outcomes[cat].append((d["score"], best >= 0))
        ap_t, ar_t = [], []
        for cat in cats:
            if n_gt[cat] == 0:
                continue
            ap, ar = _class_ap_ar(outcomes[cat], n_gt[cat])
            ap_t.append(ap)
            ar_t.append(ar)
        aps.append(sum(ap_t) / len(ap_t))
        ars.append(sum(ar_t) / len(ar_t))
    return aps, ars


def cut_detections(dets: list[dict], score_threshold: float, max_dets: int) -> list[dict]:
    """``score >= score_threshold``, then the ``max_dets`` best per image (stable), image by image."""
    by_image = defaultdict(list)
    for d in dets:
        if d["score"] >= score_threshold:
            by_image[d["image_id"]].append(d)
    return [d for image_dets in by_image.values() for d in sorted(image_dets, key=lambda d: -d["score"])[:max_dets]]


def authors_structure_ap_ar(gt: dict, dets: list[dict], thresholds) -> tuple[list[float], list[float]]:
    """pycocotools' Python COCOeval with a pair-by-pair Python IoBB: per-threshold class-mean AP and AR
    at area "all", maxDets 10 (``dets`` already cut to score >= 0.05 and 10 per image)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    class PythonIoBBEval(COCOeval):
        def computeIoU(self, imgId, catId):  # noqa: N802, N803 (pycocotools' names)
            gts = self._gts[imgId, catId]
            dts = sorted(self._dts[imgId, catId], key=lambda d: -d["score"])[: self.params.maxDets[-1]]
            if not gts or not dts:
                return []
            return np.array([[iobb(d["bbox"], g["bbox"]) for g in gts] for d in dts])

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        evaluator = PythonIoBBEval(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)), "bbox")
        evaluator.params.iouThrs = np.asarray(thresholds, dtype=float)
        evaluator.params.maxDets = [1, 10]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][:, :, :, 0, 1]  # [T, R, K] at area all, maxDets 10
    recall = evaluator.eval["recall"][:, :, 0, 1]           # [T, K]
    aps = [float(np.mean(p[:, (p > -1).all(axis=0)])) for p in precision]
    ars = [float(np.mean(r[r > -1])) for r in recall]
    return aps, ars


def _class_ap_ar(outcomes: list[tuple[float, bool]], n_gt: int) -> tuple[float, float]:
    """101-point interpolated AP and final recall from (score, is_tp) pairs."""
    outcomes = sorted(outcomes, key=lambda o: -o[0])
    tp = fp = 0
    recall, precision = [], []
    for _, hit in outcomes:
        tp, fp = tp + hit, fp + (not hit)
        recall.append(tp / n_gt)
        precision.append(tp / (tp + fp))
    for i in range(len(precision) - 2, -1, -1):  # precision envelope, right to left
        precision[i] = max(precision[i], precision[i + 1])
    total = 0.0
    # COCO's recall points are np.linspace(0, 1, 101) = i * 0.01: 7 * 0.01 > 7 / 100 in floating point.
    for r in [i * 0.01 for i in range(100)] + [1.0]:
        i = bisect.bisect_left(recall, r)
        total += precision[i] if i < len(precision) else 0.0
    return total / 101, (recall[-1] if recall else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--dets", type=int, default=10, help="detections per image")
    parser.add_argument("--repeats", type=int, default=3, help="best-of for each side")
    args = parser.parse_args()

    gt, dets = synthetic_case(args.images, args.dets)
    thresholds = DEFAULT_THRESHOLDS
    print(f"{args.images} images, {len(gt['annotations'])} ground-truth boxes, {len(dets)} detections, "
          f"{len(thresholds)} IoBB thresholds {thresholds[0]:.2f}..{thresholds[-1]:.2f}")

    ours_s, ours = best_of(args.repeats, lambda: evaluate_detections(gt, dets, thresholds=thresholds))
    ap_ar_s, _ = best_of(args.repeats, lambda: evaluate_detections(gt, dets, thresholds=thresholds,
                                                                     count_threshold=None))
    base_s, (ref_ap, ref_ar) = best_of(args.repeats, lambda: reference_ap_ar(gt, dets, thresholds))
    kept = cut_detections(dets, 0.05, 10)  # the same cut our evaluator makes first
    authors_s, (auth_ap, auth_ar) = best_of(args.repeats, lambda: authors_structure_ap_ar(gt, kept, thresholds))

    for name, aps, ars in (("lean matcher", ref_ap, ref_ar), ("authors' structure", auth_ap, auth_ar)):
        worst = max(max(abs(ours[metric_key("AP", t)] - a), abs(ours[metric_key("AR", t)] - r))
                    for t, a, r in zip(thresholds, aps, ars))
        print(f"{AP_50}: mdfnet {ours[AP_50]:.6f}, {name} {aps[9]:.6f}; "
              f"largest AP/AR difference over thresholds {worst:.2e}")
        if worst > 1e-6:
            raise SystemExit(f"mdfnet and the {name} disagree: timing not reported")
    print(f"{'':58s} {'seconds':>8s} {'mdfnet AP/AR':>13s} {'mdfnet full':>12s}")
    for name, seconds in (
        ("authors' structure: pycocotools COCOeval + Python IoBB", authors_s),
        ("lean pure-Python greedy matcher (AP/AR only)", base_s),
        ("mdfnet evaluate_detections, AP/AR + PR curves", ap_ar_s),
        ("mdfnet evaluate_detections, + TP/FP/FN counts (default)", ours_s),
    ):
        print(f"{name:58s} {seconds:8.2f} {seconds / ap_ar_s:12.1f}x {seconds / ours_s:11.1f}x")


def best_of(repeats: int, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


if __name__ == "__main__":
    main()
