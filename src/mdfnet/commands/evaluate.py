"""``mdfnet evaluate``: metrics, predictions and plots of a trained run on a split."""

from __future__ import annotations

import argparse
import json

from mdfnet.layout import CHECKPOINTS
from mdfnet.schema import SPLITS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run (AP/AR at IoBB, plots)")
    p.add_argument("--run", required=True, help="run folder written by `mdfnet train`")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    p.add_argument("--cohort", default=None, help="cohort folder (default: the one the run was trained on)")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.engine.evaluate import evaluate_run
    from mdfnet.layout import RunLayout
    from mdfnet.metrics.keys import HEADLINE, metric_key

    metrics = evaluate_run(args.run, args.split, args.checkpoint, cohort=args.cohort, plots=not args.no_plots)
    headline = {k: metrics[k] for k in (*HEADLINE, metric_key("AP", None), "n_images")}
    print(json.dumps(headline, indent=2))
    print(f"written to {RunLayout(args.run).eval_dir(args.split, args.checkpoint)}/")
    return 0
