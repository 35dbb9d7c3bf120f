"""``mdfnet train``: train one variant on a cohort (one seed, or several with ``--seeds``)."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from mdfnet.config import apply_overrides, load_config
from mdfnet.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a detector on a cohort folder",
                       description="Train a detector; key=value arguments override the config "
                                   "(e.g. model.fusion=film train.epochs=3; train.init_from=RUN/best.pt fine-tunes "
                                   "another run's network). Writes MODEL_CARD.md next to the checkpoints.")
    p.add_argument("--cohort", required=False, help="cohort folder written by `mdfnet prepare`")
    p.add_argument("--variant", default=None, help="baseline | msf1d | msf3d | mdf (default: the config's, mdf)")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--config", default=None, help="YAML file with model/data/train sections")
    p.add_argument("--preset", default="paper", help="paper (the authors' settings) or fast (CPU-friendly)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="several seeds: a run folder each, in OUT")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.engine.train import TrainingDiverged, train
    from mdfnet.layout import RunLayout
    from mdfnet.model.weights import check_weights_available

    cfg = load_config(args.config, args.preset, args.overrides)
    if not args.resume and cfg.train.init_from is None:
        # (a resumed run keeps its own config; a fine-tuned one starts from a checkpoint's weights) an offline
        # machine without the weights stops here
        check_weights_available(cfg.model)
    updates: dict = {"data": {}, "model": {}, "train": {}}
    if args.cohort:
        updates["data"]["cohort"] = str(Path(args.cohort).resolve())
    if cfg.train.init_from:  # provenance and the model card name the source wherever the run is read
        updates["train"]["init_from"] = str(Path(cfg.train.init_from).expanduser().resolve())
    if args.variant:
        updates["model"]["variant"] = args.variant
    if args.seed is not None:
        updates["train"]["seed"] = args.seed
    cfg = apply_overrides(cfg, updates)
    seeds = args.seeds or [cfg.train.seed]
    results = {}
    try:
        for seed in seeds:
            out = RunLayout.of_seed(args.out, seed).root if args.seeds else Path(args.out)
            results[seed] = train(apply_overrides(cfg, {"train": {"seed": seed}}), out, resume=args.resume)
            print(f"seed {seed}: {json.dumps(results[seed])}")
    except TrainingDiverged as err:
        raise InputError(str(err)) from None
    if args.seeds:
        key = f"best_{cfg.train.select_metric}"
        values = [r[key] for r in results.values() if r[key] is not None]
        summary = {"seeds": seeds, "runs": results, f"val_{cfg.train.select_metric}_mean": statistics.fmean(values),
                   f"val_{cfg.train.select_metric}_sd": statistics.stdev(values) if len(values) > 1 else 0.0}
        (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
        print(f"val {cfg.train.select_metric}: {summary[f'val_{cfg.train.select_metric}_mean']:.4f} "
              f"+- {summary[f'val_{cfg.train.select_metric}_sd']:.4f} over seeds {seeds}")
    return 0
