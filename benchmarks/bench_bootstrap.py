"""Time the patient-level bootstrap and FROC against the point evaluation itself, in one run.

Data: bench_evaluate.py's synthetic case (10,000 images, 1-3 lesions and 10 detections each), the images
assigned to patients of 1-3 consecutive images. The goals (issue 13): 1,000 patient-level resamples with
intervals for AP and AR at one threshold in at most 3x the time of the point evaluation; FROC under 0.5 s.
The point evaluation is ``evaluate_detections`` at the same single threshold without the TP/FP/FN counts
(what the bootstrap computes); the default call with counts is timed too, and so is
``evaluate_with_statistics`` (what ``mdfnet evaluate`` and ``mdfnet score`` run: point values, counts,
intervals and FROC from one matching), whose FROC is ``froc_metrics`` on outcomes it has already
matched. Each line is the best of ``--repeats`` rounds, the lines taking turns within a round.

    .venv/bin/python benchmarks/bench_bootstrap.py
    .venv/bin/python benchmarks/bench_bootstrap.py --images 1000 --resamples 200 --repeats 1
    .venv/bin/python benchmarks/bench_bootstrap.py --images 155 --all-thresholds   # evaluate on a test split
"""

from __future__ import annotations

import argparse

import numpy as np
from bench_evaluate import best_of, synthetic_case

from mdfnet.metrics import evaluate_detections
from mdfnet.metrics.bootstrap import bootstrap_metrics
from mdfnet.metrics.froc import froc, froc_metrics
from mdfnet.metrics.keys import HEADLINE, ci_key
from mdfnet.metrics.outcomes import Matching
from mdfnet.metrics.statistics import evaluate_with_statistics


def patients(n_images: int, seed: int = 0) -> dict[int, int]:
    """``{image_id: patient}``: runs of 1-3 consecutive images (ids 1..n) per patient."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4, size=n_images)
    patient_of = np.repeat(np.arange(n_images), sizes)[:n_images]
    return {image_id: int(p) for image_id, p in enumerate(patient_of.tolist(), start=1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--dets", type=int, default=10, help="detections per image")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each line reports its best")
    parser.add_argument("--all-thresholds", action="store_true",
                        help="evaluate_with_statistics at its 19 default thresholds (what evaluate runs), not 0.5")
    args = parser.parse_args()

    gt, dets = synthetic_case(args.images, args.dets)
    groups = patients(args.images)
    print(f"{args.images} images of {len(set(groups.values()))} patients, {len(gt['annotations'])} ground-truth "
          f"boxes, {len(dets)} detections; IoBB 0.5, {args.resamples} patient-level resamples")

    outcomes = Matching(gt, dets).outcomes(0.5)
    timed = interleaved_best_of(args.repeats, {
        "point": lambda: evaluate_detections(gt, dets, thresholds=[0.5], count_threshold=None),
        "counts": lambda: evaluate_detections(gt, dets, thresholds=[0.5]),
        "bootstrap": lambda: bootstrap_metrics(gt, dets, groups, n_resamples=args.resamples),
        "froc": lambda: froc(gt, dets),
        "froc matched": lambda: froc_metrics(outcomes),
        "statistics": lambda: evaluate_with_statistics(gt, dets, groups, n_resamples=args.resamples,
                                                       thresholds=None if args.all_thresholds else [0.5]),
    })
    (point_s, point), (counts_s, _), (boot_s, boot), (froc_s, curves), (froc_matched_s, _), (stats_s, stats) = \
        timed.values()
    if stats["AP_IoBB_0.50_ci95"] != boot["AP_IoBB_0.50_ci95"] or stats["mFROC_IoBB_0.50"] != curves["mFROC_IoBB_0.50"]:
        raise SystemExit("evaluate_with_statistics differs from bootstrap_metrics / froc: no timing")

    for key in HEADLINE:
        if abs(boot[key] - point[key]) > 1e-12:
            raise SystemExit(f"{key}: bootstrap point {boot[key]} != evaluate_detections {point[key]}: no timing")
        low, high = boot[ci_key(key)]
        print(f"{key} {point[key]:.4f}, 95 % interval [{low:.4f}, {high:.4f}]")
    print(f"mFROC_IoBB_0.50 {curves['mFROC_IoBB_0.50']:.4f}, mFROC4_IoBB_0.50 {curves['mFROC4_IoBB_0.50']:.4f}")
    print(f"{'':66s} {'seconds':>8s} {'x point':>8s}")
    for name, seconds in (
        ("point evaluation: evaluate_detections at IoBB 0.5, AP/AR", point_s),
        ("evaluate_detections at IoBB 0.5 with TP/FP/FN counts (default)", counts_s),
        (f"bootstrap_metrics: {args.resamples} patient resamples, AP/AR intervals", boot_s),
        ("froc: matching + FROC (7 rates, per class and pooled, curves)", froc_s),
        ("froc_metrics on outcomes already matched", froc_matched_s),
        (f"evaluate_with_statistics{' (19 thresholds)' if args.all_thresholds else ''}: counts, intervals, FROC",
         stats_s),
    ):
        print(f"{name:66s} {seconds:8.3f} {seconds / point_s:7.2f}x")


def interleaved_best_of(repeats: int, tasks: dict) -> dict:
    """``{name: (best seconds, result)}``, the tasks run in turn each round, so that a busy machine slows
    them alike and the ratios hold."""
    best = {name: (float("inf"), None) for name in tasks}
    for _ in range(repeats):
        for name, fn in tasks.items():
            seconds, result = best_of(1, fn)
            best[name] = (min(best[name][0], seconds), result)
    return best


if __name__ == "__main__":
    main()
