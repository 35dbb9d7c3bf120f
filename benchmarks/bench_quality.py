"""Quality: does fusion help, where the image alone is ambiguous and the findings are small?

Two benchmarks, each on synthetic cohorts in the PhysioNet layout, 3 seeds, every run reused on a rerun
(an interrupted benchmark resumes):

    .venv/bin/python benchmarks/bench_quality.py gain --out runs/gain        # ~1.5 h on 2 CPU cores
    .venv/bin/python benchmarks/bench_quality.py gain --out runs/gain --settings hard@1 hard@0
    .venv/bin/python benchmarks/bench_quality.py variants --out runs/quality # the four variants, both spatialisers

``gain``: baseline and MDF-Net at the demo's budget (900 patients, ``--preset fast model.image_size=128``)
on each setting of ``mdfnet synth``: ``demo`` (lobar-sized opacities), and ``hard`` (2-3x smaller, fainter
opacities, more unlabelled look-alikes) with the clinical signal at 1, 0.5 and 0 (0: the vitals say
nothing about the lesions, so fusion must not help, nor hurt). Prints test AP at IoBB 0.5 per model
(mean +- sd), the MDF-Net gain with the paired per-seed gaps, per-class AP, and the wall time per setting;
writes ``OUT/gain.csv`` and ``OUT/gain.md``.

``fresh``: the ``gain`` runs' best checkpoints evaluated on a fresh draw of each setting (synth seed 1,
1,500 new patients, all of them test patients), 10x the test readings of the setting's own split, so that
per-class AP is measured on 250-400 boxes of each class instead of 30-40:

    .venv/bin/python benchmarks/bench_quality.py fresh --out runs/gain --settings hard@1 hard@0

``probe``: MDF-Net alone with extra settings (a candidate change to the recipe), on ``gain``'s cohorts and
fresh draws, each seed paired with ``gain``'s baseline of the same seed (a setting only the clinical path
reads leaves the baselines as they are):

    .venv/bin/python benchmarks/bench_quality.py probe --out runs/probe-cwd0.1 train.clinical_weight_decay=0.1

``variants``: baseline, MSF-Net 1D, MSF-Net 3D and MDF-Net with the ``lite`` spatialiser and MSF-Net 3D /
MDF-Net with the authors' ``paper`` spatialiser, on a 1,200-patient demo-setting cohort.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pandas as pd

from mdfnet.config import CLINICAL_PATH_SETTINGS
from mdfnet.experiments.runner import run_study
from mdfnet.experiments.tables import to_markdown
from mdfnet.layout import METRICS_FILE
from mdfnet.metrics.keys import metric_key
from mdfnet.schema import CLASSES
from mdfnet.synth import SETTINGS

GAIN_SETTINGS = ("demo", "hard@1", "hard@0.5", "hard@0")
FRESH_SEED = 1  # gain draws its cohorts with synth seed 0


def cohort_for(out: Path, patients: int, setting: str = "demo", signal: float = 1.0, seed: int = 0,
               split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> Path:
    """Synthesise (256 px films, like the demo) and prepare a cohort under ``out``, reusing what exists."""
    from mdfnet.data.prepare import prepare
    from mdfnet.synth import generate
    from mdfnet.synth import setting as synth_setting

    if not (out / "raw" / "planted.json").is_file():
        generate(out / "raw", patients=patients, image_size=256, seed=seed, spec=synth_setting(setting, signal))
    if not (out / "cohort" / "cohort.csv").is_file():
        prepare(out / "cohort", root=out / "raw", split_fractions=split_fractions)
    return out / "cohort"


def parse_setting(text: str) -> tuple[str, float]:
    """``hard@0.5`` -> ``("hard", 0.5)``; ``demo`` -> ``("demo", 1.0)``."""
    name, _, signal = text.partition("@")
    return name, float(signal) if signal else 1.0


def setting_arg(text: str) -> str:
    """``--settings`` values, checked before anything runs: an override typed after ``--settings`` (which takes
    every word that follows) would otherwise be found out only after the settings before it had run."""
    try:
        name, signal = parse_setting(text)
    except ValueError:
        name, signal = "", -1.0
    if name not in SETTINGS or not 0 <= signal <= 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a synth setting: expected NAME[@clinical signal in 0..1], NAME one of "
            f"{', '.join(sorted(SETTINGS))}"
            + ("; put settings such as model.x=y before --settings" if "=" in text else ""))
    return text


def class_column(name: str) -> str:
    return metric_key("AP", 0.5, "iobb", name)


def gain_rows(runs: pd.DataFrame, setting: str, minutes: float) -> dict:
    """One table row: AP per model, the paired MDF-Net - baseline gaps, per-class AP per model."""
    by = {v: runs[runs["variant"] == v].set_index("seed") for v in ("baseline", "mdf")}
    seeds = sorted(set(by["baseline"].index) & set(by["mdf"].index))
    row: dict = {"setting": setting, "seeds": len(seeds), "minutes": round(minutes, 1)}
    for v, frame in by.items():
        values = [float(frame.loc[s, "AP_IoBB_0.50"]) for s in seeds]
        row[f"{v}_AP"] = statistics.fmean(values)
        row[f"{v}_AP_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        for name in CLASSES:
            row[f"{v}_{name}"] = statistics.fmean(float(frame.loc[s, class_column(name)]) for s in seeds)
    gaps = [100 * float(by["mdf"].loc[s, "AP_IoBB_0.50"] - by["baseline"].loc[s, "AP_IoBB_0.50"]) for s in seeds]
    row["gap_points"] = statistics.fmean(gaps)
    row["gap_sd"] = statistics.stdev(gaps) if len(gaps) > 1 else 0.0
    row["gaps"] = " ".join(f"{g:+.1f}" for g in gaps)
    return row


def gain_markdown(table: pd.DataFrame, title: str) -> str:
    short = {"Enlarged cardiac silhouette": "heart", "Atelectasis": "atel.", "Pleural abnormality": "pleural",
             "Consolidation": "consol.", "Pulmonary edema": "edema"}
    lines = [f"**{title}**", "",
             "| setting | baseline AP | MDF-Net AP | gain (points) | paired gaps | "
             + " | ".join(f"{short[c]} B / M" for c in CLASSES) + " | min |",
             "|---" * (6 + len(CLASSES)) + "|"]
    for r in table.to_dict("records"):
        cells = [f"{r[f'baseline_{c}']:.2f} / {r[f'mdf_{c}']:.2f}" for c in CLASSES]
        lines.append(f"| {r['setting']} | {r['baseline_AP']:.3f} +- {r['baseline_AP_sd']:.3f} | "
                     f"{r['mdf_AP']:.3f} +- {r['mdf_AP_sd']:.3f} | {r['gap_points']:+.1f} +- {r['gap_sd']:.1f} | "
                     f"{r['gaps']} | " + " | ".join(cells) + f" | {r['minutes']} |")
    return "\n".join(lines) + "\n"


def write_table(rows: list[dict], stem: Path, title: str) -> None:
    """``stem``.csv and ``stem``.md (:func:`gain_markdown`, also printed) of :func:`gain_rows` rows."""
    table = pd.DataFrame(rows)
    table.to_csv(stem.with_suffix(".csv"), index=False)
    text = gain_markdown(table, title)
    stem.with_suffix(".md").write_text(text)
    print(text)


def gain(args: argparse.Namespace) -> None:
    out, rows = Path(args.out), []
    for text in args.settings:
        name, signal = parse_setting(text)
        folder = out / text.replace("@", "-signal-")
        tic = time.perf_counter()
        cohort = cohort_for(folder, args.patients, name, signal)
        run_study("variants", cohort, folder / "study", seeds=args.seeds, preset=args.preset,
                  overrides=args.overrides, jobs=args.jobs, only=["variant-baseline", "variant-mdf"],
                  log=lambda line: None)
        runs = pd.read_csv(folder / "study" / "variants_runs.csv")
        rows.append(gain_rows(runs, text, (time.perf_counter() - tic) / 60))
        print(f"{text}: done in {rows[-1]['minutes']} min (0 when every run was reused)", flush=True)
    write_table(rows, out / "gain", f"baseline (B) vs MDF-Net (M), {args.patients} synthetic patients per setting, "
                                    f"seeds {args.seeds}, preset {args.preset} {' '.join(args.overrides)}: "
                                    "test AP at IoBB 0.5, per class mean over seeds")


def fresh_record(run: Path, variant: str, cohort: Path, evaluation: Path, resamples: int) -> dict:
    """``run``'s best checkpoint on a fresh-draw cohort (evaluated into ``evaluation``, or read back from there):
    a row of :func:`gain_rows`' input."""
    from mdfnet.engine.evaluate import evaluate_run

    if (evaluation / METRICS_FILE).is_file():  # reused, as gain reuses its runs
        metrics = json.loads((evaluation / METRICS_FILE).read_text())
    else:
        metrics = evaluate_run(run, "test", "best", cohort=cohort, out=evaluation, plots=False, n_resamples=resamples)
    return {"variant": variant, "seed": int(run.name.removeprefix("seed_")),
            **{k: v for k, v in metrics.items() if k.startswith("AP_IoBB_0.50")}}


def fresh(args: argparse.Namespace) -> None:
    """The ``gain`` runs' best checkpoints on a fresh draw of their setting: every patient a test patient."""
    out, rows = Path(args.out), []
    for text in args.settings:
        name, signal = parse_setting(text)
        folder = out / text.replace("@", "-signal-")
        study = folder / "study" / "runs"
        if not study.is_dir():
            raise SystemExit(f"{study} does not exist: run `bench_quality.py gain --out {out} --settings {text}` first")
        tic = time.perf_counter()
        cohort = cohort_for(folder / "fresh", args.patients, name, signal, seed=FRESH_SEED, split_fractions=(0, 0, 1))
        records = [fresh_record(run, variant, cohort, folder / "fresh" / "eval" / f"variant-{variant}" / run.name,
                                args.resamples)
                   for variant in ("baseline", "mdf") for run in sorted((study / f"variant-{variant}").glob("seed_*"))]
        rows.append(gain_rows(pd.DataFrame(records), text, (time.perf_counter() - tic) / 60))
        print(f"{text}: done in {rows[-1]['minutes']} min (0 when every evaluation was reused)", flush=True)
    n_test = {text: len(pd.read_csv(out / text.replace("@", "-signal-") / "fresh" / "cohort" / "cohort.csv"))
              for text in args.settings}
    write_table(rows, out / "fresh", f"the gain runs on a fresh draw of each setting ({args.patients} new patients, "
                                     f"synth seed {FRESH_SEED}, every reading a test reading: "
                                     + ", ".join(f"{k} {v}" for k, v in n_test.items())
                                     + "): test AP at IoBB 0.5, per class mean over seeds")


def probe(args: argparse.Namespace) -> None:
    """MDF-Net with extra settings, on the ``gain`` benchmark's cohorts and fresh draws, against its baselines.

    The baselines are not retrained: a setting that only the clinical path reads leaves an image-only run as
    it was, weight for weight. Rows pair each seed with the baseline of the same seed, on the setting's split
    and on its fresh draw."""
    others = [o for o in args.overrides if o.partition("=")[0] not in CLINICAL_PATH_SETTINGS]
    if others:
        raise SystemExit(f"probe pairs MDF-Net with gain's baselines, so it takes only settings the baselines do not "
                         f"read ({', '.join(CLINICAL_PATH_SETTINGS)}); got {', '.join(others)}")
    gain_dir, out, rows = Path(args.gain), Path(args.out), []
    for text in args.settings:
        name = text.replace("@", "-signal-")
        folder, probe_dir = gain_dir / name, out / name
        baselines = folder / "study" / "runs" / "variant-baseline"
        fresh_cohort = folder / "fresh" / "cohort"
        if not baselines.is_dir() or not (fresh_cohort / "cohort.csv").is_file():
            raise SystemExit(f"{folder} lacks the baselines or the fresh draw: run `bench_quality.py gain` and "
                             f"`bench_quality.py fresh` with --out {gain_dir} --settings {text} first")
        tic = time.perf_counter()
        run_study("variants", folder / "cohort", probe_dir / "study", seeds=args.seeds, preset=args.preset,
                  overrides=["model.image_size=128", *args.overrides], jobs=args.jobs, only=["variant-mdf"],
                  log=lambda line: None)
        split = pd.concat([pd.read_csv(folder / "study" / "variants_runs.csv").query("variant == 'baseline'"),
                           pd.read_csv(probe_dir / "study" / "variants_runs.csv")])
        fresh_runs = pd.DataFrame(
            [fresh_record(baselines / f"seed_{seed}", "baseline", fresh_cohort,
                          folder / "fresh" / "eval" / "variant-baseline" / f"seed_{seed}", args.resamples)
             for seed in args.seeds]
            + [fresh_record(probe_dir / "study" / "runs" / "variant-mdf" / f"seed_{seed}", "mdf", fresh_cohort,
                            probe_dir / "fresh" / f"seed_{seed}", args.resamples) for seed in args.seeds])
        minutes = (time.perf_counter() - tic) / 60
        rows += [gain_rows(split, f"{text}, split", minutes), gain_rows(fresh_runs, f"{text}, fresh draw", minutes)]
        print(f"{text}: done in {minutes:.1f} min (0 when every run was reused)", flush=True)
    write_table(rows, out / "probe", f"MDF-Net with {' '.join(args.overrides)} against the gain benchmark's baselines "
                                     f"({gain_dir}), seeds {args.seeds}: test AP at IoBB 0.5 on each setting's split "
                                     "and fresh draw, per class mean over seeds")


def variants(args: argparse.Namespace) -> None:
    out = Path(args.out)
    cohort = cohort_for(out, args.patients)
    tables = []
    plans = {"lite": None, "paper": ["variant-msf3d", "variant-mdf"]}  # baseline/msf1d have no spatialiser
    for spatialiser, only in ((s, plans[s]) for s in args.spatialisers):
        table = run_study("variants", cohort, out / f"spatialiser-{spatialiser}", seeds=args.seeds,
                          preset=args.preset, overrides=[*args.overrides, f"model.spatialiser={spatialiser}"],
                          jobs=args.jobs, only=only, log=lambda line: None)
        fused_3d = table["variant"].isin(["msf3d", "mdf"])  # the others have no spatialiser
        tables.append(table.assign(spatialiser=fused_3d.map({True: spatialiser, False: "-"})))
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(out / "quality.csv", index=False)
    print(to_markdown(table, f"variants x spatialisers, {args.patients} synthetic patients, seeds {args.seeds}, "
                             f"preset {args.preset} {' '.join(args.overrides)}: test AP / AR at IoBB 0.5"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="benchmark", required=True)
    fresh_parser = sub.add_parser("fresh")
    fresh_parser.add_argument("--out", default="runs/gain", help="the gain benchmark's folder")
    fresh_parser.add_argument("--patients", type=int, default=1500)
    fresh_parser.add_argument("--resamples", type=int, default=200, help="patient-bootstrap resamples")
    fresh_parser.add_argument("--settings", nargs="+", type=setting_arg, default=list(GAIN_SETTINGS))
    probe_parser = sub.add_parser("probe")
    probe_parser.add_argument("--gain", default="runs/gain", help="the gain benchmark's folder (its cohorts, "
                                                                   "fresh draws and baselines)")
    probe_parser.add_argument("--out", required=True)
    probe_parser.add_argument("--settings", nargs="+", type=setting_arg, default=["hard@1", "hard@0"])
    probe_parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    probe_parser.add_argument("--preset", default="fast")
    probe_parser.add_argument("--jobs", type=int, default=2)
    probe_parser.add_argument("--resamples", type=int, default=200, help="patient-bootstrap resamples")
    probe_parser.add_argument("overrides", nargs="+", help="MDF-Net's settings on top of model.image_size=128, "
                                                          "e.g. train.clinical_weight_decay=0.1")
    for name, patients in (("gain", 900), ("variants", 1200)):
        p = sub.add_parser(name)
        p.add_argument("--out", default=f"runs/{name}")
        p.add_argument("--patients", type=int, default=patients)
        p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        p.add_argument("--preset", default="fast")
        p.add_argument("--jobs", type=int, default=2)
        p.add_argument("overrides", nargs="*", default=["model.image_size=128"])
    sub.choices["gain"].add_argument("--settings", nargs="+", type=setting_arg, default=list(GAIN_SETTINGS),
                                     help="synth settings, NAME[@clinical signal] (default: %(default)s)")
    sub.choices["variants"].add_argument("--spatialisers", nargs="+", default=["lite", "paper"],
                                         choices=["lite", "paper"],
                                         help="the paper spatialiser costs ~3x per step at 128 px (~10x at 512 px)")
    args = parser.parse_args()
    {"gain": gain, "fresh": fresh, "probe": probe, "variants": variants}[args.benchmark](args)


if __name__ == "__main__":
    main()
