"""``mdfnet evaluate``: metrics, predictions and plots of a trained run on a split."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run (AP/AR at IoBB, plots)")
    p.add_argument("--run", required=True, help="run folder written by `mdfnet train`")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--cohort", default=None, help="cohort folder (default: the one the run was trained on)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--explain", action="store_true",
                   help="also the mean absolute effect of each clinical value on each class's true positives "
                        "(explanations.json, effects_*.png; slower: one pass per value and image)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.engine.evaluate import evaluate_run

    metrics = evaluate_run(args.run, args.split, args.checkpoint, cohort=args.cohort, plots=not args.no_plots,
                           explain=args.explain)
    headline = {k: metrics[k] for k in ("AP_IoBB_0.50", "AR_IoBB_0.50", "AP_IoBB_mean", "n_images")}
    print(json.dumps(headline, indent=2))
    print(f"written to {args.run}/eval_{args.split}_{args.checkpoint}/")
    return 0
