"""Fusion beyond MIMIC: image-only vs fused detector on the COCO + CSV generator, over 3 seeds.

    .venv/bin/python benchmarks/bench_coco.py --out runs/coco --jobs 2        # 360 frames, 64 px, 12 epochs
    .venv/bin/python benchmarks/bench_coco.py --out runs/coco --jobs 2 train.epochs=20   # overrides for every run

Writes ``OUT/raw`` (``mdfnet synth --layout coco``), ``OUT/cohort`` (``mdfnet prepare --coco``), the
``variants`` study restricted to the image-only baseline and MDF-Net (``OUT/study``: tables, ``variants.png``
with test AP / AR at IoBB 0.5, mean +- sd over seeds), and ``OUT/bench_coco.md``: the table plus the per-seed
paired difference (MDF-Net minus baseline, test AP). The frames' disc class (hot or cold spot) is invisible in
the image and decided by the CSV's temperature and camera model, so the image-only model can only guess it.
Every run is reused on a rerun, so an interrupted benchmark resumes.

The ``fast`` preset's stride-8 map with scaled anchors finds the 10-18 px objects of a 64 px frame; each of the
six runs is about 2 CPU minutes on the reference machine (one thread each, ``--jobs 2`` on its two cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import pandas as pd
import torch

from mdfnet.experiments.runner import run_study
from mdfnet.experiments.tables import to_markdown

DEFAULT_OVERRIDES = ["model.image_size=64", "train.epochs=12", "train.warmup_iters=30"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/coco")
    parser.add_argument("--images", type=int, default=360, help="clean frames generated (default 360)")
    parser.add_argument("--image-size", type=int, default=64, help="generated frame side in px (default 64)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["baseline", "mdf"])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process each")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (--jobs 1); 1 on a shared CPU")
    parser.add_argument("overrides", nargs="*", help=f"key=value for every run, after {' '.join(DEFAULT_OVERRIDES)}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from mdfnet.data.coco import prepare_coco
    from mdfnet.synth import generate_coco

    out = Path(args.out)
    raw, cohort = out / "raw", out / "cohort"
    if not (raw / "planted.json").is_file():
        generate_coco(raw, images=args.images, image_size=args.image_size, seed=0)
    if not (cohort / "schema.json").is_file():
        prepare_coco(cohort, raw / "annotations.json", raw / "images", raw / "features.csv", group_column="device_id")
    table = run_study("variants", cohort, out / "study", seeds=args.seeds, preset=args.preset,
                      overrides=[*DEFAULT_OVERRIDES, *args.overrides], jobs=args.jobs,
                      only=[f"variant-{v}" for v in args.variants])
    runs = pd.read_csv(out / "study" / "variants_runs.csv")
    lines = [to_markdown(table, f"COCO generator ({args.images} frames, {args.image_size} px): test AP / AR at IoBB "
                                f"0.5, mean +- sd over seeds {args.seeds}"), ""]
    if {"baseline", "mdf"} <= set(runs["variant"]):
        ap = runs.pivot(index="seed", columns="variant", values="AP_IoBB_0.50")
        gain = (ap["mdf"] - ap["baseline"]).tolist()
        lines += [f"MDF-Net minus baseline, test AP per seed: {', '.join(f'{g:+.3f}' for g in gain)}; "
                  f"mean {statistics.fmean(gain):+.3f}; MDF-Net ahead in {sum(g > 0 for g in gain)} of {len(gain)}."]
    text = "\n".join(lines) + "\n"
    (out / "bench_coco.md").write_text(text)
    (out / "bench_coco.json").write_text(json.dumps(runs.to_dict("records"), indent=2, default=str))
    print(text)
    print(f"figure: {out / 'study' / 'variants.png'}")


if __name__ == "__main__":
    main()
