"""``mdfnet evaluate``: metrics with bootstrap intervals, FROC, subgroups, per-case table and plots of a run."""

from __future__ import annotations

import argparse
import json

from mdfnet.layout import CHECKPOINTS, RunLayout
from mdfnet.schema import SPLITS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run (AP/AR at IoBB with intervals, FROC, subgroups, plots)")
    p.add_argument("--run", required=True, help="run folder written by `mdfnet train`")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--checkpoint", default="best", choices=CHECKPOINTS)
    p.add_argument("--cohort", default=None, help="cohort folder (default: the one the run was trained on); "
                   "another cohort needs --out")
    p.add_argument("--out", default=None, help="evaluation folder (default: the run's eval_<split>_<checkpoint>)")
    p.add_argument("--resamples", type=int, default=1000,
                   help="patient-bootstrap resamples behind each 95%% interval (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws (default: 0)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--explain", action="store_true",
                   help="also the mean absolute effect of each clinical value on each class's true positives "
                        "(explanations.json, effects_*.png; slower: one pass per value and image)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.engine.evaluate import evaluate_run
    from mdfnet.metrics.keys import AP_50, AR_50, ci_key, metric_key

    metrics = evaluate_run(args.run, args.split, args.checkpoint, cohort=args.cohort, out=args.out,
                           plots=not args.no_plots, n_resamples=args.resamples, seed=args.seed, explain=args.explain)
    keys = [AP_50, AR_50, metric_key("AP", None), metric_key("mFROC")]
    headline = {k: metrics[k] for k in keys}
    headline.update({ci_key(k): metrics[ci_key(k)] for k in keys[:3]})
    headline["n_images"] = metrics["n_images"]
    print(json.dumps(headline, indent=2))
    print(f"written to {args.out or RunLayout(args.run).eval_dir(args.split, args.checkpoint)}/")
    return 0
