"""``mdfnet demo``: the whole pipeline on synthetic data, with a report of what clinical data adds."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synth -> prepare -> train baseline and MDF-Net -> evaluate -> report",
                       description="Runs the whole pipeline on generated data in the PhysioNet layout (about "
                                   "15 minutes on a 2-core CPU) and writes OUT/report.md. Rerunning reuses "
                                   "every finished stage.")
    p.add_argument("--out", default="mdfnet-demo", help="output folder (default mdfnet-demo)")
    p.add_argument("--patients", type=int, default=900, help="synthetic patients (default 900)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--jobs", type=int, default=2, help="runs trained at once (default 2, one per core)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.experiments.demo import run_demo

    run_demo(args.out, patients=args.patients, seeds=args.seeds, jobs=args.jobs, overrides=args.overrides)
    return 0
