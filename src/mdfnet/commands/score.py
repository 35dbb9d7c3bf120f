"""``mdfnet score``: AP / AR of any detector's COCO-format output, with the keys ``mdfnet evaluate`` writes.

Every AP/AR comes with a 95 % bootstrap interval (``<key>_ci95``): resampling patients when every image
of the ground truth has a ``patient_id`` (as ``mdfnet evaluate``'s ``ground_truth.json`` does), images
otherwise. FROC at overlap 0.5 comes too. Undefined values (AP of a class without ground truth) are
written as ``null``.

    mdfnet score --gt GT.json --pred PRED.json [--overlap iobb|iou] [--max-dets-per image_class|image]
                 [--resamples 1000] [--seed 0] [--out FILE.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mdfnet.metrics.coco import patient_groups, read_detections, read_ground_truth
from mdfnet.metrics.evaluate import metrics_json
from mdfnet.metrics.matching import MAX_DETS_PER
from mdfnet.metrics.statistics import evaluate_with_statistics


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="score COCO-format detections against COCO ground truth (IoBB or IoU)",
        description="Score COCO detections (a list of {image_id, category_id, bbox [x, y, w, h], score}) "
                    "against a COCO ground-truth file. Prints the metrics as JSON.")
    parser.add_argument("--gt", required=True, type=Path, help="COCO ground-truth JSON (images, annotations, categories)")
    parser.add_argument("--pred", required=True, type=Path, help="COCO results JSON (a list of detections)")
    parser.add_argument("--overlap", choices=("iobb", "iou"), default="iobb",
                        help="iobb = area(pred ∩ gt) / area(pred) (the paper's), iou = COCO's (default: iobb)")
    parser.add_argument("--max-dets", type=int, default=10,
                        help="detections kept per image and class, or per image (--max-dets-per) (default: 10)")
    parser.add_argument("--max-dets-per", choices=MAX_DETS_PER, default="image_class",
                        help="image_class = COCO's maxDets cut (equals pycocotools); image = the best of each "
                             "image over all classes, like a detector's detections_per_img (default: image_class)")
    parser.add_argument("--score-threshold", type=float, default=0.05,
                        help="drop detections scoring below this first (default: 0.05)")
    parser.add_argument("--count-threshold", type=float, default=0.1,
                        help="score cut for the TP/FP/FN counts (default: 0.1)")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="bootstrap resamples behind each 95%% interval, of patients when every image has a "
                             "patient_id, else of images (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws (default: 0)")
    parser.add_argument("--out", type=Path, help="also write the metrics JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    gt = read_ground_truth(args.gt)
    dets = read_detections(args.pred, gt)
    metrics = evaluate_with_statistics(gt, dets, patient_groups(gt), overlap=args.overlap, max_dets=args.max_dets,
                                       max_dets_per=args.max_dets_per, score_threshold=args.score_threshold,
                                       count_threshold=args.count_threshold, n_resamples=args.resamples,
                                       seed=args.seed)
    text = metrics_json(metrics)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0
