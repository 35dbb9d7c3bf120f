"""``mdfnet compare RUN_A RUN_B``: B - A with a paired patient-bootstrap interval and a two-sided p-value.

    mdfnet compare runs/variants/runs/variant-baseline runs/variants/runs/variant-mdf [--split test]
                   [--resamples 1000] [--seed 0] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mdfnet.schema import SPLITS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="paired comparison of two evaluated runs (B - A, interval, p-value)",
        description="Compare two runs evaluated on the same cohort and split: B - A for AP/AR with a 95%% "
                    "interval over the same resampled patients and a two-sided bootstrap p-value. A run is a "
                    "folder with eval_<split>_best/ (or _last/), or a folder of seed_<s>/ runs (a study's "
                    "runs/<configuration>/): each side is then its mean over seeds, and where both sides have "
                    "several seeds the per-seed paired differences (mean +- sd) are shown too.")
    p.add_argument("run_a", metavar="RUN_A", help="run folder, or folder of seed_<s> runs (the reference)")
    p.add_argument("run_b", metavar="RUN_B", help="run folder, or folder of seed_<s> runs")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--resamples", type=int, default=1000, help="patient-bootstrap resamples (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws (default: 0)")
    p.add_argument("--out", type=Path, help="also write every key as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.experiments.compare import compare_runs
    from mdfnet.metrics.evaluate import metrics_json

    result = compare_runs(args.run_a, args.run_b, args.split, n_resamples=args.resamples, seed=args.seed)
    print(summary_text(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(metrics_json(result) + "\n")
    return 0


def summary_text(result: dict) -> str:
    """A Markdown table of the class-mean AP/AR at 0.5 and over thresholds, and per-class AP at 0.5 (every
    other key is in ``--out``)."""
    from mdfnet.metrics.keys import KINDS, ci_key, diff_key, metric_key, p_key

    settings, per_seed, overlap = result["bootstrap"], result["seeds"], result["overlap"]
    keys = [metric_key(kind, t, overlap) for t in (0.5, None) for kind in KINDS]
    keys += [metric_key("AP", 0.5, overlap, name) for name in result["classes"]]
    lines = [f"A: {', '.join(result['runs']['a'])}", f"B: {', '.join(result['runs']['b'])}",
             f"{settings['n_resamples']} resamples of {settings['n_groups']} {settings['resampled']} (seed "
             f"{settings['seed']}); [95 % interval]; p: two-sided paired bootstrap", "",
             "| metric | A | B | B - A | p |" + (" B - A per seed |" if per_seed else ""),
             "|---|---|---|---|---|" + ("---|" if per_seed else "")]
    for key in keys:
        cells = [key, _with_interval(result["a"][key], result["a"][ci_key(key)]),
                 _with_interval(result["b"][key], result["b"][ci_key(key)]),
                 _with_interval(result[diff_key(key)], result[ci_key(diff_key(key))], signed=True),
                 _number(result[p_key(key)])]
        if per_seed:
            mean, sd = per_seed["mean"][key], per_seed["sd"][key]
            cells.append("n/a" if mean != mean else f"{mean:+.3f} +- {sd:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    if per_seed:
        lines.append(f"\nper seed: seeds {', '.join(map(str, per_seed['seeds']))} on both sides")
    return "\n".join(lines)


def _with_interval(value: float, bounds: list[float], signed: bool = False) -> str:
    fmt = "{:+.3f}" if signed else "{:.3f}"
    if value != value:  # nan: undefined (a class without ground truth)
        return "n/a"
    return f"{fmt.format(value)} [{fmt.format(bounds[0])}, {fmt.format(bounds[1])}]"


def _number(value: float) -> str:
    return "n/a" if value != value else f"{value:.3g}"
