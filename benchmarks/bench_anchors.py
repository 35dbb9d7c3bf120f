"""Which feature map and anchors for small findings, and at what cost: recall of the training boxes and the
time of a training step, for each candidate, in one run.

    .venv/bin/python benchmarks/bench_anchors.py --cohort runs/gain/hard-signal-1/cohort   # ~5 min
    .venv/bin/python benchmarks/bench_anchors.py --synth-patients 300                        # synthesises a hard cohort

For each candidate (map stride, anchors): the share of the train split's boxes whose best anchor on the RPN's
grid reaches IoU 0.5 (:func:`mdfnet.model.anchors.anchor_recall`), and the median seconds of an MDF-Net
training step (``fast`` preset, 128 px, batch 8, real batches of the cohort, torch on one thread), with the
ratio to the paper's stride-32 map measured in the same run; the steps take turns, so a busy machine slows
them alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import mdfnet
from mdfnet.data.dataset import CohortDataset, collate
from mdfnet.model.anchors import anchor_recall, resolve_anchors
from mdfnet.model import fit_statistics
from mdfnet.model.build import feature_strides

CANDIDATES = [  # (label, model overrides on the fast preset)
    ("stride 32, paper anchors 32-512 (the authors')", {"feature_stride": 32, "anchor_sizes": (32, 64, 128, 256, 512),
                                                          "rpn_proposals": (2000, 1000), "box_samples": 512}),
    ("stride 32, scaled anchors", {"feature_stride": 32, "rpn_proposals": (2000, 1000), "box_samples": 512}),
    ("stride 16, scaled anchors", {"feature_stride": 16}),
    ("stride 8, scaled anchors (fast)", {}),
    ("stride 8, auto anchors", {"anchor_sizes": "auto"}),
    ("FPN (strides 4-64), scaled anchors", {"fpn": True}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", help="a prepared cohort (default: synthesise a hard one)")
    parser.add_argument("--synth-patients", type=int, default=300)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per candidate (after one warm-up)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*no pretrained weights")
    cohort = args.cohort or synth_cohort(args.synth_patients)
    train_set = CohortDataset(cohort, "train", args.size, train=False)
    boxes = train_set.resized_boxes()
    batches = list(zip(range(args.steps + 1), DataLoader(train_set, batch_size=args.batch, collate_fn=collate)))

    models, recalls = {}, {}
    for label, overrides in CANDIDATES:
        cfg = mdfnet.config.apply_overrides(mdfnet.config.preset("fast"), {"model": {"image_size": args.size,
                                                                                     **overrides}})
        anchors = resolve_anchors(cfg.model.anchor_sizes, cfg.model.aspect_ratios, args.size, boxes=boxes)
        recalls[label] = (anchors, anchor_recall(boxes, anchors.sizes, anchors.ratios, args.size,
                                                 feature_strides(cfg.model)))
        torch.manual_seed(0)
        model = mdfnet.model.build_from_config(cfg.model, anchors).train()
        model.clinical_encoder.set_statistics(*fit_statistics(train_set.clinical))
        models[label] = (model, torch.optim.SGD(model.parameters(), lr=1e-3))
    times: dict[str, list[float]] = {label: [] for label in models}
    for i, (images, clinical, targets) in batches:
        for label, (model, optimizer) in models.items():  # turns: every candidate sees the same load
            tic = time.perf_counter()
            optimizer.zero_grad()
            model(images, clinical, targets)["loss"].backward()
            optimizer.step()
            if i:  # the first step warms up
                times[label].append(time.perf_counter() - tic)
    reference = statistics.median(times[CANDIDATES[0][0]])
    print(f"{len(boxes)} train boxes at {args.size} px ({cohort}); MDF-Net training step, batch {args.batch}, "
          f"median of {args.steps}")
    print("| map and anchors | anchor sizes (px) | ratios | recall @ IoU 0.5 | step (s) | x stride 32 |")
    print("|---|---|---|---:|---:|---:|")
    for label, _ in CANDIDATES:
        anchors, recall = recalls[label]
        step = statistics.median(times[label])
        print(f"| {label} | {', '.join(f'{s:g}' for s in anchors.sizes)} | {', '.join(f'{r:g}' for r in anchors.ratios)}"
              f" | {100 * recall:.0f} % | {step:.2f} | {step / reference:.2f} |")


def synth_cohort(patients: int) -> Path:
    from mdfnet.data.prepare import prepare
    from mdfnet.synth import generate, setting

    root = Path(tempfile.mkdtemp(prefix="bench_anchors_"))
    generate(root / "raw", patients=patients, image_size=256, seed=0, spec=setting("hard"))
    prepare(root / "cohort", root=root / "raw")
    return root / "cohort"


if __name__ == "__main__":
    main()
