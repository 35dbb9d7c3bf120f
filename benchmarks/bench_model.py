"""Time a training step and an inference pass for each detector, variant and spatialiser, in one run.

    .venv/bin/python benchmarks/bench_model.py                 # 512 px, batch 4, CPU (and CUDA if present)
    .venv/bin/python benchmarks/bench_model.py --size 256 --repeats 2
    .venv/bin/python benchmarks/bench_model.py --detectors retinanet fcos   # only the one-stage detectors
    python3 benchmarks/bench_model.py --devices cuda --repeats 5   # on a GPU machine (gpu_checks.sh)

Prints seconds per batch (median of ``--repeats`` after one warm-up), training images per second,
inference milliseconds per image, and the ratio to the image-only baseline *of the same detector* measured
in the same run; only ratios are comparable across machines. Mask R-CNN runs as the paper preset builds it
(one stride-32 map); RetinaNet and FCOS on the same backbone and map, so only the heads differ.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

import mdfnet

CONFIGS = [  # (label, variant, spatialiser); the first is each detector's baseline
    ("baseline", "baseline", "lite"),
    ("msf1d", "msf1d", "lite"),
    ("msf3d paper", "msf3d", "paper"),
    ("msf3d lite", "msf3d", "lite"),
    ("mdf paper", "mdf", "paper"),
    ("mdf lite", "mdf", "lite"),
]
DETECTOR_NAMES = ("maskrcnn", "retinanet", "fcos")


def _batch(n: int, size: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(n, 3, size, size, generator=g).to(device)
    clinical = torch.randn(n, 10, generator=g).to(device)
    clinical[:, 9] = (clinical[:, 9] > 0).float()
    targets = [{"boxes": torch.tensor([[0.2, 0.3, 0.5, 0.7]], device=device) * size,
                "labels": torch.tensor([2], device=device)} for _ in range(n)]
    return images, clinical, targets


def _timed(fn, repeats: int, device: torch.device) -> float:
    times = []
    for i in range(repeats + 1):  # the first call warms up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(device: torch.device, size: int, batch: int, repeats: int,
          detector: str = "maskrcnn") -> list[tuple[str, float, float]]:
    images, clinical, targets = _batch(batch, size, device)
    rows = []
    one_stage = {} if detector == "maskrcnn" else {"detector": detector}  # on the map Mask R-CNN's RPN reads
    for label, variant, spatialiser in CONFIGS:
        torch.manual_seed(0)
        model = mdfnet.build_model(variant, preset="paper", image_size=size, spatialiser=spatialiser,
                                   pretrained_backbone=None, **one_stage).to(device)  # speed only: no weights file
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def train_step():
            model.train()
            opt.zero_grad()
            model(images, clinical, targets)["loss"].backward()
            opt.step()

        @torch.no_grad()
        def infer():
            model.eval()
            model(images, clinical)

        rows.append((label, _timed(train_step, repeats, device), _timed(infer, repeats, device)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"],
                        help="default: cpu, and cuda when present")
    parser.add_argument("--detectors", nargs="+", choices=DETECTOR_NAMES, default=list(DETECTOR_NAMES))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*no pretrained weights")
    names = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in map(torch.device, names):
        print(f"\n{device.type}, {args.size} px, batch {args.batch}, threads {torch.get_num_threads()}")
        print("| detector | model | train step (s) | train img/s | x baseline | inference (s) | ms/image | x baseline |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for detector in args.detectors:
            rows = bench(device, args.size, args.batch, args.repeats, detector)
            base_train, base_infer = rows[0][1], rows[0][2]  # this detector's image-only baseline
            n = args.batch
            for label, train, infer in rows:
                print(f"| {detector} | {label} | {train:.3f} | {n / train:.1f} | {train / base_train:.2f} | "
                      f"{infer:.3f} | {1000 * infer / n:.0f} | {infer / base_infer:.2f} |", flush=True)


if __name__ == "__main__":
    main()
