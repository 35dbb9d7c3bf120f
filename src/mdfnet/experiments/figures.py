"""Study figures, drawn from the per-seed table alone (so they can be redrawn from ``<study>_runs.csv``).

Uses :mod:`mdfnet.report.plots` where a plot fits (grouped bars, AP/AR-vs-threshold curves) and adds the
three it lacks: TP/FP/FN panels per class, horizontal bars for long row names, and a heatmap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from mdfnet.metrics.keys import AP_50, AR_50, count_key, is_threshold_key, mean_column, sd_column, split_key
from mdfnet.report.plots import BARS_SIZE, new_figure, plot_grouped_bars, plot_threshold_curves, save_figure
from mdfnet.schema import CLASSES

COUNT_KINDS: tuple[str, ...] = ("TP", "FP", "FN")
COUNTS_SIZE = (1200, 420)   # pixels: one panel per count kind
HEATMAP_SIZE = (800, 560)


def plot_counts(counts: Mapping[str, Mapping[str, Mapping[str, float]]], path: str | Path, title: str = "",
                classes: Sequence[str] = CLASSES) -> Path:
    """TP, FP and FN per class (the paper's Fig. 2b): one panel per kind, ``counts[model][class][kind]``."""
    fig, axes = new_figure(COUNTS_SIZE, ncols=len(COUNT_KINDS))
    models = list(counts)
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(classes))
    for ax, kind in zip(axes, COUNT_KINDS):
        top = 1.0
        for i, model in enumerate(models):
            heights = [counts[model].get(name, {}).get(kind, np.nan) for name in classes]
            ax.bar(x + (i - (len(models) - 1) / 2) * width, heights, width, label=model)
            top = max(top, np.nanmax(heights, initial=0.0))
        ax.set_ylim(0, top * 1.05)  # counts: never a negative axis, even when all are zero
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xticks(x, [name.replace(" ", "\n", 1) for name in classes], fontsize="x-small")
        ax.set(title=kind, ylabel="boxes" if kind == COUNT_KINDS[0] else None)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_hbars(values: Mapping[str, Mapping[str, float]], path: str | Path, xlabel: str,
               errors: Mapping[str, Mapping[str, float]] | None = None, title: str = "") -> Path:
    """Horizontal grouped bars ``values[row][series]`` for rows with long names (feature subsets)."""
    rows = list(values)
    series = list(dict.fromkeys(s for r in rows for s in values[r]))
    fig, (ax,) = new_figure((BARS_SIZE[0], max(BARS_SIZE[1], 40 * len(rows) + 120)))
    height = 0.8 / max(len(series), 1)
    y = np.arange(len(rows))
    for i, name in enumerate(series):
        widths = [values[r].get(name, np.nan) for r in rows]
        err = None if errors is None else [errors.get(r, {}).get(name, np.nan) for r in rows]
        ax.barh(y + (i - (len(series) - 1) / 2) * height, widths, height, xerr=err, capsize=3, label=name)
    ax.set_yticks(y, rows, fontsize="small")
    ax.invert_yaxis()  # first row on top, as in the table
    ax.set_xlim(left=0)
    ax.set(xlabel=xlabel, title=title)
    ax.grid(axis="x", alpha=0.3)
    if series:
        ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_heatmap(matrix: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """A diverging heatmap of values in -1..1 (rows x columns), each cell annotated."""
    fig, (ax,) = new_figure(HEATMAP_SIZE)
    values = matrix.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(values.shape[1]), [str(c).replace(" ", "\n", 1) for c in matrix.columns], fontsize="small")
    ax.set_yticks(range(values.shape[0]), [str(i) for i in matrix.index])
    for (r, c), v in np.ndenumerate(values):
        ax.text(c, r, "n/a" if np.isnan(v) else f"{v:+.2f}", ha="center", va="center", fontsize="x-small")
    fig.colorbar(image, ax=ax, label="Pearson r")
    ax.set_title(title, fontsize="medium")
    return save_figure(fig, path)


def _by_row(table: pd.DataFrame, names: Sequence[str], columns: Mapping[str, str]) -> tuple[dict, dict]:
    """``({row name: {series: mean}}, {row name: {series: sd}})`` for ``columns`` = {series: metric}."""
    means = {n: {s: float(r[mean_column(m)]) for s, m in columns.items()} for n, (_, r) in zip(names, table.iterrows())}
    sds = {n: {s: float(r[sd_column(m)]) for s, m in columns.items()} for n, (_, r) in zip(names, table.iterrows())}
    return means, sds


HEADLINE_SERIES = {"AP": AP_50, "AR": AR_50}


def variants_figures(runs: pd.DataFrame, table: pd.DataFrame, out: Path) -> list[Path]:
    """Figs. 2c (AP/AR bars), 2b (TP/FP/FN summed over seeds), 6b (AP/AR vs IoBB, mean over seeds), 6a."""
    names = list(table["model"])
    means, sds = _by_row(table, names, HEADLINE_SERIES)
    paths = [plot_grouped_bars(means, out / "variants.png", "test, IoBB 0.5", sds,
                               title="Variants: test AP / AR at IoBB 0.5 (mean +- sd over seeds)")]
    counts = {}
    prefix = f"{COUNT_KINDS[0]}_"  # the cohort's classes, from the per-class count columns
    classes = [c[len(prefix):].replace("_", " ") for c in runs.columns if c.startswith(prefix)] or list(CLASSES)
    for name, group in runs.groupby("model", sort=False):
        counts[name] = {c: {k: float(group[count_key(k, c)].sum()) for k in COUNT_KINDS} for c in classes}
    n = runs["seed"].nunique()
    paths.append(plot_counts(counts, out / "variants_counts.png",
                             title=f"Test TP / FP / FN per class (score >= 0.1, IoBB 0.5), summed over {n} seed(s)",
                             classes=classes))
    curves = [c for c in runs.columns if is_threshold_key(c)]
    mean_curves = {name: runs.loc[runs["model"] == name, curves].mean().to_dict() for name in names}
    paths.append(plot_threshold_curves(mean_curves, out / "variants_thresholds.png"))
    means, sds = _by_row(table, names, {"train": split_key(AP_50, "train"), "test": split_key(AP_50, "test")})
    paths.append(plot_grouped_bars(means, out / "variants_generalisation.png", "AP at IoBB 0.5", sds,
                                   title="Generalisation: train vs test AP (mean +- sd over seeds)"))
    return paths


def study_figures(name: str, runs: pd.DataFrame, table: pd.DataFrame, out: Path) -> list[Path]:
    """Draw study ``name``'s figures into ``out``; returns their paths (the first is ``<name>.png``)."""
    if name == "variants":
        return variants_figures(runs, table, out)
    if name == "fusion":
        names = [f"{f} ({k})" for f, k in zip(table["fusion"], table["kind"])]
        means, sds = _by_row(table, names, HEADLINE_SERIES)
        return [plot_grouped_bars(means, out / "fusion.png", "test, IoBB 0.5", sds,
                                  title="MDF-Net 3D fusion operators (mean +- sd over seeds)")]
    if name in ("backbones", "detectors"):  # one group per backbone / detector, one bar per variant
        group, series = ("backbone", "model") if name == "backbones" else ("detector", "variant")
        means: dict = {}
        sds: dict = {}
        for _, row in table.iterrows():
            means.setdefault(row[group], {})[row[series]] = float(row[mean_column(AP_50)])
            sds.setdefault(row[group], {})[row[series]] = float(row[sd_column(AP_50)])
        title = "Backbones x variants" if name == "backbones" else "Detectors x variants"
        return [plot_grouped_bars(means, out / f"{name}.png", "test AP at IoBB 0.5", sds,
                                  title=f"{title} (mean +- sd over seeds)")]
    if name == "features":
        means, sds = _by_row(table, list(table["features"]), HEADLINE_SERIES)
        return [plot_hbars(means, out / "features.png", "test, IoBB 0.5", sds,
                           title="MDF-Net clinical feature subsets (mean +- sd over seeds)")]
    raise ValueError(f"no figures for study {name!r}")
