"""Figures for reports: AP/AR against the overlap threshold, PR and FROC curves, GT-vs-prediction overlays.

All functions write one PNG with matplotlib's Agg backend (no display needed) and return its path.
They read the metrics dicts of :func:`mdfnet.metrics.evaluate_detections` (and of
:func:`mdfnet.metrics.froc.froc` for FROC curves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from mdfnet.metrics.froc import ALL_CLASSES, FROC_RATES  # noqa: E402
from mdfnet.metrics.keys import KINDS, MEAN, OVERLAP_LABELS, ci_key, metric_key, parse_metric_key  # noqa: E402

DPI = 100
CURVES_SIZE = (1000, 400)  # pixels: AP and AR panels side by side
PR_SIZE = (600, 500)
BARS_SIZE = (900, 450)
EFFECTS_SIZE = (1000, 420)


Box = Sequence[float]  # xyxy in image pixels


def plot_threshold_curves(metrics_by_model: Mapping[str, Mapping], path: str | Path) -> Path:
    """AP and AR against the overlap threshold (the paper's Fig. 6b), one line per model.

    Args:
        metrics_by_model: ``{model name: metrics}``; each metrics has the AP and AR keys of every threshold
            (:func:`mdfnet.metrics.keys.metric_key`, IoBB or IoU). Undefined values (``nan`` / ``None``) leave gaps.
        path: output PNG, ``CURVES_SIZE`` pixels.
    """
    fig, (ax_ap, ax_ar) = new_figure(CURVES_SIZE, ncols=2)
    overlap = "iobb"
    for name, metrics in metrics_by_model.items():
        overlap, thresholds = threshold_keys(metrics)
        for ax, kind in ((ax_ap, "AP"), (ax_ar, "AR")):
            values = [_value(metrics.get(metric_key(kind, t, overlap))) for t in thresholds]
            ax.plot(thresholds, values, marker="o", markersize=3, label=name)
    label = OVERLAP_LABELS[overlap]
    for ax, kind in zip((ax_ap, ax_ar), KINDS):
        ax.set(xlabel=f"{label} threshold", ylabel=kind, xlim=(0, 1), ylim=(0, 1), title=f"{kind} vs {label} threshold")
        ax.grid(alpha=0.3)
    ax_ar.legend(fontsize="small")
    return save_figure(fig, path)


def threshold_keys(metrics: Mapping) -> tuple[str, list[float]]:
    """The overlap (``iobb`` / ``iou``) and the sorted thresholds of the per-threshold AP keys in ``metrics``."""
    found = [p for p in map(parse_metric_key, metrics)
             if p is not None and p.kind == "AP" and p.threshold is not None and p.class_key is None]
    if not found:
        wanted = " or ".join(metric_key("AP", None, overlap).replace(MEAN, "<t>") for overlap in OVERLAP_LABELS)
        raise ValueError(f"metrics have no {wanted} keys; expected evaluate_detections output")
    overlap = found[0].overlap
    return overlap, sorted({p.threshold for p in found if p.overlap == overlap})


def plot_pr_curves(metrics: Mapping, path: str | Path, title: str = "") -> Path:
    """Interpolated precision-recall curve per class at overlap 0.5, AP in the legend.

    Args:
        metrics: an ``evaluate_detections`` result (uses ``pr_curves`` and the per-class AP keys).
        path: output PNG, ``PR_SIZE`` pixels.
    """
    fig, (ax,) = new_figure(PR_SIZE)
    overlap, _ = threshold_keys(metrics)
    for name, curve in metrics["pr_curves"].items():
        ap = _value(metrics.get(metric_key("AP", 0.5, overlap, name)))
        ax.plot(curve["recall"], curve["precision"], label=f"{name} (AP {ap:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title=title or f"PR curves at {OVERLAP_LABELS[overlap]} 0.5")
    ax.grid(alpha=0.3)
    if metrics["pr_curves"]:
        ax.legend(fontsize="small", loc="lower left")
    return save_figure(fig, path)


def plot_froc_curves(metrics: Mapping, path: str | Path, title: str = "", overlap: str = "iobb",
                     threshold: float = 0.5) -> Path:
    """Sensitivity against false positives per image (log scale, 1/8 to 8), one step line per class and
    a thicker one for all classes pooled, mFROC in the legend.

    Args:
        metrics: a :func:`mdfnet.metrics.froc.froc` result at ``overlap`` and ``threshold`` (uses
            ``froc_curves`` and the ``mFROC`` keys).
        path: output PNG, ``PR_SIZE`` pixels.
    """
    fig, (ax,) = new_figure(PR_SIZE)
    left, right = FROC_RATES[0] / 1.2, FROC_RATES[-1] * 1.2
    for name, curve in metrics["froc_curves"].items():
        pooled = name == ALL_CLASSES
        mfroc = _value(metrics.get(metric_key("mFROC", threshold, overlap, None if pooled else name)))
        # A point holds until the next score cut: a "post" step, the way sensitivity_at reads the curve. Points
        # at 0 FP per image sit on the left edge (a log axis has no 0), and the last one holds to the right edge.
        fp = np.append(np.clip(curve["fp_per_image"], left, None), right)
        ax.step(fp, np.append(curve["sensitivity"], curve["sensitivity"][-1]), where="post",
                label=f"{name} (mFROC {mfroc:.3f})", linewidth=2.5 if pooled else 1.2)
    ax.set_xscale("log", base=2)
    ax.set_xticks(FROC_RATES, [f"{r:g}" for r in FROC_RATES])
    ax.set(xlabel="false positives per image", ylabel="sensitivity", ylim=(0, 1.02), xlim=(left, right),
           title=title or f"FROC at {OVERLAP_LABELS[overlap]} {threshold:.2f}")
    ax.grid(alpha=0.3)
    if metrics["froc_curves"]:
        ax.legend(fontsize="small", loc="lower right")
    return save_figure(fig, path)


def plot_subgroups(subgroups: Mapping[str, Mapping[str, Mapping]], path: str | Path, threshold: float = 0.5,
                   overlap: str = "iobb", confidence: float = 0.95, title: str = "") -> Path:
    """AP and AR per subgroup (one panel each): a horizontal bar per level, ``attribute: level (n readings)``,
    with its bootstrap interval as the error bar; undefined values leave an empty row.

    Args:
        subgroups: :func:`mdfnet.metrics.subgroups.subgroup_metrics`'s result.
        path: output PNG, ``CURVES_SIZE[0]`` wide, 22 pixels per level (at least ``PR_SIZE[1]``) high.
    """
    rows = [(f"{attribute}: {level} ({entry['n_readings']})", entry)
            for attribute, by_level in subgroups.items() for level, entry in by_level.items()]
    fig, axes = new_figure((CURVES_SIZE[0], max(PR_SIZE[1], 22 * len(rows) + 120)), ncols=2)
    y = np.arange(len(rows))
    for ax, kind in zip(axes, KINDS):
        key = metric_key(kind, threshold, overlap)
        values = np.array([_value(entry.get(key)) for _, entry in rows])
        bounds = np.array([[_value(b) for b in (entry.get(ci_key(key, confidence)) or [None, None])]
                           for _, entry in rows]).reshape(len(rows), 2)
        errors = np.nan_to_num(np.abs(np.stack([values - bounds[:, 0], bounds[:, 1] - values])))
        ax.barh(y, np.nan_to_num(values), xerr=errors, capsize=3, color="tab:blue" if kind == "AP" else "tab:orange")
        ax.set_yticks(y, [label for label, _ in rows] if kind == "AP" else [""] * len(rows), fontsize="small")
        ax.invert_yaxis()  # first level on top, as in metrics.json
        ax.set(xlim=(0, 1), xlabel=f"{key} ({round(100 * confidence):g} % interval)")
        ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def draw_overlay(image: np.ndarray, gt: Sequence[tuple[str, Box]], pred: Sequence[tuple[str, float, Box]],
                 path: str | Path) -> Path:
    """Ground truth (solid green) and predictions (dashed orange, with scores) on a greyscale image.

    Args:
        image: [H, W] greyscale in 0..1.
        gt: ``(class name, xyxy)`` per ground-truth box, in the image's pixels.
        pred: ``(class name, score, xyxy)`` per predicted box.
        path: output PNG of exactly W x H pixels (one image pixel per PNG pixel).
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"image must be [H, W] greyscale, got shape {tuple(image.shape)}")
    height, width = image.shape
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    fontsize = max(6.0, min(width, height) / 50)
    for name, box in gt:
        _draw_box(ax, box, name, "limegreen", "-", fontsize, above=True)
    for name, score, box in pred:
        _draw_box(ax, box, f"{name} {score:.2f}", "orange", "--", fontsize, above=False)
    return save_figure(fig, path, tight=False)


def _draw_box(ax, box: Box, text: str, colour: str, style: str, fontsize: float, above: bool) -> None:
    x1, y1, x2, y2 = (float(v) for v in box)
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linestyle=style, linewidth=1.5))
    # GT names sit above the box, predictions below it, so the two rarely cover each other.
    ax.text(x1, y1 if above else y2, text, color="black", fontsize=fontsize, va="bottom" if above else "top",
            bbox={"facecolor": colour, "alpha": 0.8, "pad": 1, "edgecolor": "none"})


def plot_grouped_bars(values: Mapping[str, Mapping[str, float]], path: str | Path, ylabel: str,
                      errors: Mapping[str, Mapping[str, float]] | None = None, title: str = "") -> Path:
    """Grouped bars for ablations: ``values[group][series]`` (e.g. ``{"AP": {"baseline": 0.2, "MDF": 0.3}}``).

    ``errors`` has the same shape (e.g. the sd over seeds) and draws error bars. ``BARS_SIZE`` pixels.
    """
    groups = list(values)
    series = list(dict.fromkeys(s for g in groups for s in values[g]))
    fig, (ax,) = new_figure(BARS_SIZE)
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, name in enumerate(series):
        heights = [_value(values[g].get(name)) for g in groups]
        err = None if errors is None else [_value(errors.get(g, {}).get(name)) for g in groups]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, yerr=err, capsize=3, label=name)
    ax.set_xticks(x, groups)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    if series:
        ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_lines(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path,
               xlabel: str, ylabel: str, title: str = "") -> Path:
    """One line per ``name: (x, y)`` (e.g. validation AP per epoch for each run). ``PR_SIZE`` pixels."""
    fig, (ax,) = new_figure(PR_SIZE)
    for name, (x, y) in series.items():
        ax.plot(list(x), [_value(v) for v in y], marker="o", markersize=3, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize="small")
    return save_figure(fig, path)


def new_figure(size_px: tuple[int, int], ncols: int = 1):
    """A figure of exactly ``size_px`` pixels with ``ncols`` axes side by side: ``(fig, [ax, ...])``."""
    fig, axes = plt.subplots(1, ncols, figsize=(size_px[0] / DPI, size_px[1] / DPI), dpi=DPI, squeeze=False)
    return fig, list(axes[0])


def _value(v) -> float:
    """Metric value as float; ``None`` (JSON null) becomes nan, which matplotlib leaves out."""
    return float("nan") if v is None else float(v)


def save_figure(fig, path: str | Path, tight: bool = True) -> Path:
    """Write ``fig`` to the PNG ``path`` (folders created), close it and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=DPI)  # no bbox_inches="tight": the PNG keeps the figure's exact pixel size
    plt.close(fig)
    return path


def plot_effect_matrix(effects: Mapping[str, Mapping[str, float]], counts: Mapping[str, int], path: str | Path,
                       title: str = "") -> Path:
    """Heat map of mean absolute effects, classes (rows, true positives counted in the label) by
    clinical features (columns), each cell written out; a value never present is left blank.

    Args:
        effects: ``{class: {feature: mean |effect|}}`` (:func:`mdfnet.engine.explain.mean_abs_effects`).
        counts: ``{class: number of true positives}``.
        path: output PNG, ``EFFECTS_SIZE`` pixels.
    """
    from mdfnet.schema import CLASSES, CLINICAL_FEATURES

    classes = [c for c in CLASSES if c in effects]
    features = [f for f in CLINICAL_FEATURES if any(f in effects[c] for c in classes)]
    grid = np.array([[effects[c].get(f, np.nan) for f in features] for c in classes], dtype=float).reshape(
        len(classes), len(features))
    fig, (ax,) = new_figure(EFFECTS_SIZE)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="Blues", vmin=0.0, aspect="auto")
    ax.set_xticks(range(len(features)), features, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), [f"{c} (n={counts.get(c, 0)})" for c in classes])
    top = np.nanmax(grid) if np.isfinite(grid).any() else 1.0
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 * top else "black")
    fig.colorbar(image, ax=ax, label="mean |score change|")
    ax.set_title(title or "mean absolute effect of each value on each class's true positives")
    return save_figure(fig, path)
