"""``mdfnet demo``: synth -> prepare -> train baseline and MDF-Net over seeds -> evaluate -> report.

The point it shows: on the synthetic cohort, consolidation and atelectasis are drawn by the same renderer,
and pulmonary edema looks like an unlabelled "decoy haze", so an image-only detector can find the opacity
but cannot name it; the vitals (fever, breathing rate, oxygen saturation) can. MDF-Net reads both.

Every stage is reused when its output already exists, so an interrupted demo resumes where it stopped.
The report (``OUT/report.md``) gives test AP/AR at IoBB 0.5 per model (mean +- sd over seeds, and the
95 % patient-bootstrap interval of the seed mean), the paired per-seed gap MDF-Net - baseline, the paired
bootstrap difference over the same resampled test patients (interval and p), and figures: AP/AR against
the IoBB threshold and a few overlays.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from mdfnet.experiments.runner import run_study
from mdfnet.experiments.tables import format_interval
from mdfnet.layout import RunLayout
from mdfnet.metrics.keys import AP_50, AR_50, HEADLINE, KINDS, bound_keys, ci_key, diff_key, p_key

# The demo's training budget: 128 px keeps 3 seeds x 2 models inside ~20 minutes on a 2-core CPU.
DEMO_OVERRIDES = ("model.image_size=128",)
DEMO_CONFIGS = ("variant-baseline", "variant-mdf")
DEMO_OUT = "mdfnet-demo"
N_OVERLAYS = 3
MODEL_NAMES = {"baseline": "baseline (image only)", "mdf": "MDF-Net (image + clinical)"}  # report rows


def demo_run(out: str | Path = DEMO_OUT, variant: str = "mdf", seed: int = 0) -> Path:
    """The run folder the demo trains ``variant`` with ``seed`` in (``OUT/study/runs/variant-<v>/seed_<s>``)."""
    return RunLayout.in_study(Path(out) / "study", f"variant-{variant}", seed).root


def run_demo(out: str | Path = DEMO_OUT, patients: int = 900, seeds: Sequence[int] = (0, 1, 2),
             jobs: int = 2, synth_seed: int = 0, overrides: Sequence[str] = (),
             log: Callable[[str], object] = print) -> dict:
    """Run the whole demo into ``out``; returns the summary written to ``OUT/summary.json``."""
    from mdfnet.data.prepare import prepare
    from mdfnet.synth import generate

    out, start = Path(out), time.perf_counter()
    raw, cohort, study = out / "raw", out / "cohort", out / "study"

    def stage(text: str) -> None:
        log(f"== {text} ({time.perf_counter() - start:.0f} s)")

    stage(f"1/4 synthetic PhysioNet-layout data: {patients} patients -> {raw}")
    if not (raw / "planted.json").is_file():
        generate(raw, patients=patients, image_size=256, seed=synth_seed)
    stage(f"2/4 cohort: link stays, clean vitals, split by patient -> {cohort}")
    if not (cohort / "cohort.csv").is_file():
        prepare(cohort, root=raw)
    stage(f"3/4 train + evaluate baseline and MDF-Net, seeds {list(seeds)}, {jobs} at a time -> {study}")
    table = run_study("variants", cohort, study, seeds=seeds, preset="fast",
                      overrides=[*DEMO_OVERRIDES, *overrides], log=log, jobs=jobs, only=DEMO_CONFIGS)
    stage("4/4 report")
    runs = pd.read_csv(study / "variants_runs.csv")
    summary = summarise(runs)
    summary.update(paired_summary(table))
    summary["minutes"] = round((time.perf_counter() - start) / 60, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    overlays = draw_overlays(cohort, study, runs, out / "overlays")
    (out / "report.md").write_text(report_markdown(summary, study, overlays, out))
    log(verdict(summary))
    log(paired_text(summary))
    log(f"report: {out / 'report.md'}")
    return summary


def paired_summary(table: pd.DataFrame) -> dict:
    """From the study table (baseline the reference row): each model's interval of the seed mean
    (``<variant>_<metric>_ci95``) and MDF-Net - baseline over the same resampled patients
    (``paired_<metric>_diff``, ``paired_<metric>_diff_ci95``, ``paired_<metric>_p``)."""
    rows = table.set_index("variant")
    out: dict = {}
    for metric in HEADLINE:
        for variant in ("baseline", "mdf"):
            out[f"{variant}_{ci_key(metric)}"] = [float(rows.loc[variant, c]) for c in bound_keys(ci_key(metric))]
        out[f"paired_{diff_key(metric)}"] = float(rows.loc["mdf", diff_key(metric)])
        out[f"paired_{ci_key(diff_key(metric))}"] = [float(rows.loc["mdf", c])
                                                     for c in bound_keys(ci_key(diff_key(metric)))]
        out[f"paired_{p_key(metric)}"] = float(rows.loc["mdf", p_key(metric)])
    return out


def paired_text(summary: dict) -> str:
    """``Paired bootstrap ...: MDF-Net - baseline AP +13.6 [+10.2, +17.0] points, p 0.002; AR ...``."""
    parts = []
    for metric, name in zip(HEADLINE, KINDS):
        low, high = (100 * v for v in summary[f"paired_{ci_key(diff_key(metric))}"])
        parts.append(f"{name} {100 * summary[f'paired_{diff_key(metric)}']:+.1f} "
                     f"{format_interval(low, high, 1, signed=True)} points, p {summary[f'paired_{p_key(metric)}']:.2g}")
    return ("Paired bootstrap over the same resampled test patients (each model the mean over seeds): "
            f"MDF-Net - baseline {'; '.join(parts)}")


def summarise(runs: pd.DataFrame) -> dict:
    """Test AP/AR per model (mean, sd) and the paired per-seed gap in AP at IoBB 0.5."""
    by = {v: runs[runs["variant"] == v].set_index("seed") for v in ("baseline", "mdf")}
    seeds = sorted(set(by["baseline"].index) & set(by["mdf"].index))
    out: dict = {"seeds": seeds}
    for v, frame in by.items():
        for metric in HEADLINE:
            values = [float(frame.loc[s, metric]) for s in seeds]
            out[f"{v}_{metric}"] = values
            out[f"{v}_{metric}_mean"] = statistics.fmean(values)
            out[f"{v}_{metric}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    gaps = [float(by["mdf"].loc[s, AP_50] - by["baseline"].loc[s, AP_50]) for s in seeds]
    out[gaps_key(AP_50)] = gaps
    out["gap_mean"] = statistics.fmean(gaps)
    out["gap_sd"] = statistics.stdev(gaps) if len(gaps) > 1 else 0.0
    out["gap_over_2sd"] = len(gaps) > 1 and out["gap_mean"] > 2 * out["gap_sd"]
    out["gap_at_least_10_points"] = out["gap_mean"] >= 0.10
    return out


def verdict(summary: dict) -> str:
    gap, sd = 100 * summary["gap_mean"], 100 * summary["gap_sd"]
    ok = summary["gap_over_2sd"] and summary["gap_at_least_10_points"]
    return (f"MDF-Net - baseline: {gap:+.1f} +- {sd:.1f} AP points at IoBB 0.5 over seeds {summary['seeds']} "
            f"({'shown: >= 10 points and > 2 sd' if ok else 'NOT shown at this budget'})")


def gaps_key(key: str) -> str:
    """The summary key of the per-seed gaps MDF-Net - baseline in metric ``key``: ``gap_<key>`` (not a subgroup
    gap, :func:`mdfnet.metrics.keys.gap_key`)."""
    return f"gap_{key}"


def draw_overlays(cohort: Path, study: Path, runs: pd.DataFrame, folder: Path) -> list[tuple[str, str, Path, Path]]:
    """Side by side for a few test readings with an opacity: ground truth + baseline / + MDF-Net (the first
    seed's run, from the checkpoint the study evaluated: ``runs`` is its per-seed table)."""
    from mdfnet.data.cohort import load_cohort
    from mdfnet.report.figures import detection_overlay, overlay_png

    frame, boxes = load_cohort(cohort)
    test = frame[frame["split"] == "test"]
    ambiguous = boxes[boxes["label"].isin(["Consolidation", "Atelectasis"]) & boxes["reading_id"].isin(test["reading_id"])]
    chosen = test[test["reading_id"].isin(ambiguous["reading_id"])].head(N_OVERLAYS)
    preds = {v: json.loads(first_seed_test_predictions(study, runs, v).read_text()) for v in ("baseline", "mdf")}
    drawn = []
    for row in chosen.itertuples(index=False):
        gt = [(b.label, (b.xmin, b.ymin, b.xmax, b.ymax)) for b in boxes[boxes["reading_id"] == row.reading_id].itertuples()]
        paths = []
        for v in ("baseline", "mdf"):
            mine = [detection_overlay(d) for d in preds[v] if d["image_id"] == row.image_id and d["score"] >= 0.3]
            paths.append(overlay_png(row.image_path, gt, mine, folder / f"{row.reading_id}_{v}.png"))
        vitals = f"T {row.temperature:.1f} F, RR {row.resprate:.0f}, HR {row.heartrate:.0f}, SpO2 {row.o2sat:.0f}"
        drawn.append((row.reading_id, vitals, paths[0], paths[1]))
    return drawn


def first_seed_test_predictions(study: Path, runs: pd.DataFrame, variant: str) -> Path:
    """The test predictions of ``variant``'s first-seed run, from the checkpoint the runner evaluated."""
    row = runs[runs["variant"] == variant].sort_values("seed").iloc[0]
    return RunLayout(study / row["run"]).eval_predictions("test", row["checkpoint"])


def report_markdown(summary: dict, study: Path, overlays: list, out: Path) -> str:
    def pm(key: str) -> str:
        interval = format_interval(*summary.get(ci_key(key), [float("nan")] * 2))
        return f"{summary[key + '_mean']:.3f} +- {summary[key + '_sd']:.3f} {interval}".rstrip()

    lines = [
        "# mdfnet demo: what clinical data adds", "",
        "Synthetic cohort in the PhysioNet layout (`raw/`, see `raw/SYNTH_README.md` for the generative model), "
        "built into `cohort/` by `mdfnet prepare`, then an image-only Mask R-CNN baseline and MDF-Net trained "
        f"with the `fast` preset ({', '.join(DEMO_OVERRIDES)}) for seeds {summary['seeds']}. Test split, "
        "checkpoints selected on validation AP only.", "",
        "| model | test AP @ IoBB 0.5 | test AR @ IoBB 0.5 | per seed AP |", "|---|---|---|---|",
        *(f"| {name} | {pm(f'{v}_{AP_50}')} | {pm(f'{v}_{AR_50}')} | "
          f"{', '.join(f'{a:.3f}' for a in summary[f'{v}_{AP_50}'])} |" for v, name in MODEL_NAMES.items()), "",
        f"**{verdict(summary)}**; paired gaps per seed: "
        f"{', '.join(f'{100 * g:+.1f}' for g in summary[gaps_key(AP_50)])} points. "
        f"Wall time {summary['minutes']} min.", "",
        f"{paired_text(summary)}. Brackets: 95 % intervals from 1,000 resamples of the test patients (seed 0), "
        "each model taken as its mean over seeds.", "",
        "Per-class AP, TP/FP/FN counts and every seed's numbers: "
        f"`{(study / 'variants_runs.csv').relative_to(out)}`.", "",
        f"![AP and AR against the IoBB threshold]({(study / 'variants_thresholds.png').relative_to(out)})", "",
        f"![TP / FP / FN per class]({(study / 'variants_counts.png').relative_to(out)})", "",
        f"## Look-alike opacities (ground truth green, predictions >= 0.3 orange; seed {summary['seeds'][0]})", "",
        "| reading | vitals | baseline | MDF-Net |", "|---|---|---|---|",
    ]
    for reading, vitals, base, mdf in overlays:
        lines.append(f"| {reading} | {vitals} | ![]({base.relative_to(out)}) | ![]({mdf.relative_to(out)}) |")
    return "\n".join(lines) + "\n"
