"""Per-seed rows -> one row per configuration with mean +- sd over seeds, as CSV and Markdown.

The per-seed ("long") table has the label columns, ``seed``, and metric columns: the test split's
unprefixed, other splits prefixed with the split (:func:`mdfnet.metrics.keys.split_key`).
The aggregated table has the label columns, then ``<metric> mean`` / ``<metric> sd`` for the headline
test AP and AR, ``n_seeds``, then the same pair for every other metric (validation AP for reference).
``sd`` is the sample standard deviation (ddof 1): undefined (NaN) for a single seed.

A study adds, per row (:func:`mdfnet.experiments.compare.study_comparisons`), the 95 % patient-bootstrap
interval of the headline metrics' seed mean (:func:`~mdfnet.metrics.keys.bound_keys` of the
:func:`~mdfnet.metrics.keys.ci_key`) and the paired comparison with its reference row (the difference,
its interval's bounds, its p-value and the per-seed differences' mean and sd: :func:`comparison_columns`); the Markdown shows the interval after ``mean +- sd`` and one
``vs <reference>`` column per headline metric, and any notes (the largest subgroup gap) under the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mdfnet.metrics.keys import (HEADLINE, bound_keys, ci_key, diff_key, mean_column, p_key, parse_subgroup_key,
                                 sd_column, seed_diff_columns)
from mdfnet.metrics.subgroups import MIN_READINGS, largest_gap

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


def comparison_columns(metric: str) -> list[str]:
    """The columns a study adds for ``metric`` (see the module docstring), in display order."""
    return [*bound_keys(ci_key(metric)), diff_key(metric), *bound_keys(ci_key(diff_key(metric))), p_key(metric),
            *seed_diff_columns(metric)]


def format_interval(low: float, high: float, digits: int = 3, signed: bool = False) -> str:
    """``[0.251, 0.372]`` (``[+0.010, +0.110]`` when ``signed``); empty when undefined."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return ""
    sign = "+" if signed else ""
    return f"[{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def comparison_cell(row: pd.Series, metric: str, digits: int = 3) -> str:
    """``+0.136 [+0.100, +0.170], p 0.002; per seed +0.135 +- 0.006``; ``reference`` for the reference row."""
    diff = row.get(diff_key(metric))
    if diff is None or math.isnan(diff):
        return "reference"
    low, high = (row[c] for c in bound_keys(ci_key(diff_key(metric))))
    text = f"{diff:+.{digits}f} {format_interval(low, high, digits, signed=True)}, p {row[p_key(metric)]:.2g}"
    mean, sd = (row.get(c) for c in seed_diff_columns(metric))
    if mean is not None and not math.isnan(mean):
        text += f"; per seed {mean:+.{digits}f} +- {sd:.{digits}f}"
    return text


def to_markdown(table: pd.DataFrame, title: str = "", reference: str = "", notes: Sequence[str] = ()) -> str:
    """A GitHub Markdown table: label columns as they are, each metric as one ``mean +- sd`` column (with
    the seed mean's interval when the table has it), a ``<metric> vs <reference>`` column per compared
    headline metric, and ``notes`` as lines under the table."""
    metrics = [c[: -len(MEAN_SUFFIX)] for c in table.columns if c.endswith(MEAN_SUFFIX)]
    derived = {mean_column(m) for m in metrics} | {sd_column(m) for m in metrics}
    derived |= {c for m in metrics for c in comparison_columns(m)}
    labels = [c for c in table.columns if c not in derived and c != "n_seeds"]
    head, rest = metrics[: len(HEADLINE)], metrics[len(HEADLINE):]
    compared = [m for m in head if diff_key(m) in table.columns]
    header = labels + head + [f"{m} vs {reference or 'reference'}" for m in compared] + ["n_seeds"] + rest
    lines = [f"## {title}", ""] if title else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row[c]) for c in labels]
        cells += [_mean_sd_interval(row, m) for m in head]
        cells += [comparison_cell(row, m) for m in compared]
        cells.append(str(int(row["n_seeds"])))
        cells += [format_mean_sd(row[mean_column(m)], row[sd_column(m)]) for m in rest]
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _mean_sd_interval(row: pd.Series, metric: str) -> str:
    text = format_mean_sd(row[mean_column(metric)], row[sd_column(metric)])
    low, high = (row.get(c) for c in bound_keys(ci_key(metric)))
    interval = format_interval(low, high)
    return f"{text} {interval}" if interval and text != "n/a" else text


def subgroup_gap_line(runs: pd.DataFrame, labels: Sequence[str], metric: str = HEADLINE[0]) -> str:
    """One line naming the configuration whose ``metric`` differs most between two subgroups of one
    attribute (the per-seed table's ``<metric>@<attribute>=<level>`` columns, averaged over seeds)."""
    columns = {c: parsed for c in runs.columns if (parsed := parse_subgroup_key(c)) and parsed[0] == metric}
    best, where = None, None
    for config, group in runs.groupby(list(labels), sort=False, dropna=False):
        values: dict[str, dict[str, float]] = {}
        for column, (_, attribute, level) in columns.items():
            values.setdefault(attribute, {})[level] = float(group[column].mean())
        gap = largest_gap(values)
        if gap is not None and (best is None or gap["gap"] > best["gap"]):
            best, where = gap, config if isinstance(config, tuple) else (config,)
    rule = f"mean over seeds; subgroups of at least {MIN_READINGS} test readings"
    if best is None:
        return f"Largest subgroup gap in test {metric}: none to show ({rule}: no attribute has two)."
    name = ", ".join(f"{label}={value}" for label, value in zip(labels, where))
    return (f"Largest subgroup gap in test {metric} ({rule}): {name}, {best['attribute']} {best['high']} "
            f"{best['high_value']:.3f} vs {best['low']} {best['low_value']:.3f}, a gap of {best['gap']:.3f}.")


def write_tables(runs: pd.DataFrame, table: pd.DataFrame, out: Path, name: str, title: str = "",
                 reference: str = "", notes: Sequence[str] = ()) -> dict[str, Path]:
    """Write ``<name>_runs.csv`` (per seed), ``<name>.csv`` and ``<name>.md`` (aggregated; ``reference``
    and ``notes`` as for :func:`to_markdown`) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"runs": out / f"{name}_runs.csv", "csv": out / f"{name}.csv", "md": out / f"{name}.md"}
    runs.to_csv(paths["runs"], index=False)
    table.to_csv(paths["csv"], index=False)
    paths["md"].write_text(to_markdown(table, title, reference, notes))
    return paths
