"""``mdfnet ablate STUDY``: one of the paper's studies as one command (tables, figures, resumable)."""

from __future__ import annotations

import argparse

from mdfnet.errors import InputError

STUDIES_HELP = ("variants (Figs. 2b, 2c, 6a, 6b), fusion (Fig. 4), backbones (Fig. 3), features (Fig. 5c), "
                "detectors (ours: the four variants on Mask R-CNN, RetinaNet and FCOS), "
                "correlation (Fig. 5b, no training)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ablate", help="run one of the paper's studies: train, evaluate, tabulate and plot",
        description="Run a study of the paper over several seeds; writes OUT/<study>.csv, .md, "
                    "_runs.csv and .png figures. Finished runs under OUT/runs/ are reused and "
                    "interrupted ones resumed, so rerun the same command after an interruption.",
        epilog="key=value overrides (e.g. train.epochs=3 model.image_size=128) apply to every run: "
               "mdfnet ablate variants --cohort C --out O --seeds 0 1 2 train.epochs=3")
    p.add_argument("study", metavar="STUDY", help=STUDIES_HELP)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every run")
    p.add_argument("--cohort", required=True, help="cohort folder written by `mdfnet prepare`")
    p.add_argument("--out", required=True, help="study folder (reused on a rerun)")
    # strings, so that key=value overrides given after the seeds are not mistaken for seeds
    p.add_argument("--seeds", nargs="+", default=["0"], metavar="SEED", help="seeds per configuration (default 0)")
    p.add_argument("--preset", default="fast", help="fast (default, CPU-friendly) or paper (the authors' settings)")
    p.add_argument("--backbones", nargs="+", default=None, help="backbones study: a subset of the backbones")
    p.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process each (default 1)")
    p.add_argument("--dry-run", action="store_true", help="print the runs that would be trained, train nothing")
    p.set_defaults(func=run)


def split_seeds(items: list[str]) -> tuple[list[int], list[str]]:
    """Seeds and the ``key=value`` overrides that argparse collected after ``--seeds``."""
    seeds, overrides = [], []
    for item in items:
        if "=" in item:
            overrides.append(item)
            continue
        try:
            seeds.append(int(item))
        except ValueError:
            raise InputError(f"--seeds: {item!r} is not an integer") from None
    return seeds, overrides


def run(args: argparse.Namespace) -> int:
    from mdfnet.experiments import run_study

    seeds, extra = split_seeds(args.seeds)
    run_study(args.study, args.cohort, args.out, seeds=seeds, preset=args.preset,
              overrides=[*args.overrides, *extra], backbones=args.backbones, dry_run=args.dry_run, jobs=args.jobs)
    return 0
