"""Per-seed rows -> one row per configuration with mean +- sd over seeds, as CSV and Markdown.

The per-seed ("long") table has the label columns, ``seed``, and metric columns: the test split's
unprefixed, other splits prefixed with the split (:func:`mdfnet.metrics.keys.split_key`).
The aggregated table has the label columns, then ``<metric> mean`` / ``<metric> sd`` for the headline
test AP and AR, ``n_seeds``, then the same pair for every other metric (validation AP for reference).
``sd`` is the sample standard deviation (ddof 1): undefined (NaN) for a single seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mdfnet.metrics.keys import HEADLINE, mean_column, sd_column

MEAN_SUFFIX = mean_column("")  # " mean": how a mean column ends


def aggregate(runs: pd.DataFrame, labels: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and sd over seeds of each metric, one row per distinct ``labels`` tuple (first-seen order).

    NaN metric values (an AP with no ground truth) are left out of mean and sd; ``n_seeds`` counts runs.
    """
    labels, metrics = list(labels), list(metrics)
    grouped = runs.groupby(labels, sort=False, dropna=False)
    head = [m for m in metrics if m in HEADLINE]
    rest = [m for m in metrics if m not in HEADLINE]
    table = grouped.size().rename("n_seeds").to_frame()
    columns = []
    for metric in head + rest:
        table[mean_column(metric)] = grouped[metric].mean()
        table[sd_column(metric)] = grouped[metric].std(ddof=1)
    for metric in head:
        columns += [mean_column(metric), sd_column(metric)]
    columns.append("n_seeds")
    for metric in rest:
        columns += [mean_column(metric), sd_column(metric)]
    return table[columns].reset_index()


def format_mean_sd(mean: float, sd: float, digits: int = 3) -> str:
    """``0.312 +- 0.041``; just the mean when sd is undefined (one seed); ``n/a`` for no value."""
    if mean is None or math.isnan(mean):
        return "n/a"
    if sd is None or math.isnan(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} +- {sd:.{digits}f}"


def to_markdown(table: pd.DataFrame, title: str = "") -> str:
    """A GitHub Markdown table: label columns as they are, each metric as one ``mean +- sd`` column."""
    metrics = [c[: -len(MEAN_SUFFIX)] for c in table.columns if c.endswith(MEAN_SUFFIX)]
    stats = {mean_column(m) for m in metrics} | {sd_column(m) for m in metrics}
    labels = [c for c in table.columns if c not in stats and c != "n_seeds"]
    header = labels + metrics[: len(HEADLINE)] + ["n_seeds"] + metrics[len(HEADLINE):]
    lines = [f"## {title}", ""] if title else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row[c]) for c in labels]
        cells += [format_mean_sd(row[mean_column(m)], row[sd_column(m)]) for m in metrics[: len(HEADLINE)]]
        cells.append(str(int(row["n_seeds"])))
        cells += [format_mean_sd(row[mean_column(m)], row[sd_column(m)]) for m in metrics[len(HEADLINE):]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(runs: pd.DataFrame, table: pd.DataFrame, out: Path, name: str, title: str = "") -> dict[str, Path]:
    """Write ``<name>_runs.csv`` (per seed), ``<name>.csv`` and ``<name>.md`` (aggregated) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"runs": out / f"{name}_runs.csv", "csv": out / f"{name}.csv", "md": out / f"{name}.md"}
    runs.to_csv(paths["runs"], index=False)
    table.to_csv(paths["csv"], index=False)
    paths["md"].write_text(to_markdown(table, title))
    return paths
