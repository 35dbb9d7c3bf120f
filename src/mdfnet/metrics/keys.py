"""Metric key strings, defined once: ``AP_IoBB_0.50``, ``AR_IoU_0.75_Lung_nodule``, ``AP_IoBB_0.50_ci95``.

Every module that writes or reads a metric by name builds (or parses) the name here, so the spelling
ties the stages together in one place:

- :func:`metric_key` builds ``<kind>_<O>_<t>[_<Class_name>]``, :func:`parse_metric_key` reads one back;
- :data:`AP_50` / :data:`AR_50` are the paper's headline numbers (AP and AR at IoBB 0.5);
- :data:`SELECTABLE` are the keys validation records every epoch, hence what ``train.select_metric``
  may name;
- :func:`split_key` prefixes a key with its split in per-run tables (``val_AP_IoBB_0.50``; the test
  split, the headline, stays unprefixed).
"""

from __future__ import annotations

import re
from typing import NamedTuple

OVERLAP_LABELS = {"iobb": "IoBB", "iou": "IoU"}
KINDS: tuple[str, ...] = ("AP", "AR")
MEAN = "mean"  # the threshold field of a key averaged over thresholds: AP_IoBB_mean


def metric_key(kind: str, threshold: float | None = 0.5, overlap: str = "iobb", class_name: str | None = None) -> str:
    """``<kind>_<O>_<t>[_<Class_name>]``: e.g. ``AP_IoBB_0.50``, ``AR_IoU_0.50_Pleural_abnormality``.

    ``threshold`` is written with two decimals; ``None`` writes ``mean`` (the mean over thresholds).
    Spaces in ``class_name`` become underscores.
    """
    if overlap not in OVERLAP_LABELS:
        raise ValueError(f"overlap must be one of {tuple(OVERLAP_LABELS)}, got {overlap!r}")
    at = MEAN if threshold is None else f"{threshold:.2f}"
    key = f"{kind}_{OVERLAP_LABELS[overlap]}_{at}"
    return key if class_name is None else f"{key}_{class_key(class_name)}"


def class_key(class_name: str) -> str:
    """A class name as it stands in keys and table columns: ``Enlarged cardiac silhouette`` ->
    ``Enlarged_cardiac_silhouette``."""
    return class_name.replace(" ", "_")


def count_key(kind: str, class_name: str) -> str:
    """A per-class count column of the per-run tables: ``("FP", "Pulmonary edema")`` -> ``FP_Pulmonary_edema``."""
    return f"{kind}_{class_key(class_name)}"


class MetricKey(NamedTuple):
    """The parts of a key: ``AP_IoU_0.75_Atelectasis`` -> ``("AP", "iou", 0.75, "Atelectasis")``.

    ``threshold`` is None for a mean over thresholds; ``class_key`` is None for the mean over classes
    (it keeps the key's underscores).
    """

    kind: str
    overlap: str
    threshold: float | None
    class_key: str | None


_LABEL_TO_OVERLAP = {label: name for name, label in OVERLAP_LABELS.items()}
_KEY = re.compile(rf"^(?P<kind>[^_]+)_(?P<overlap>{'|'.join(_LABEL_TO_OVERLAP)})_"
                  rf"(?P<at>\d\.\d\d|{MEAN})(?:_(?P<cls>.+))?$")


def parse_metric_key(key: str) -> MetricKey | None:
    """The parts of a key :func:`metric_key` built, or None for any other string (``n_images``,
    ``AP_IoBB_0.50_ci95`` parses as class ``ci95``: strip suffixes first)."""
    match = _KEY.match(key)
    if match is None:
        return None
    threshold = None if match["at"] == MEAN else float(match["at"])
    return MetricKey(match["kind"], _LABEL_TO_OVERLAP[match["overlap"]], threshold, match["cls"])


def is_threshold_key(key: str, overlap: str = "iobb") -> bool:
    """True for an AP or AR over all classes at one threshold (``AP_IoBB_0.35``), the points of an
    AP/AR-against-threshold curve."""
    parts = parse_metric_key(key)
    return (parts is not None and parts.kind in KINDS and parts.overlap == overlap
            and parts.threshold is not None and parts.class_key is None)


# The paper's headline numbers.
AP_50 = metric_key("AP", 0.5)
AR_50 = metric_key("AR", 0.5)
HEADLINE: tuple[str, ...] = (AP_50, AR_50)

# What validation records every epoch, hence what `train.select_metric` may name.
SELECTABLE: tuple[str, ...] = tuple(metric_key(kind, t, overlap) for overlap in OVERLAP_LABELS
                                    for t in (0.5, 0.75, None) for kind in KINDS)

# Per-run tables prefix a split's keys; the test split is the headline, so unprefixed.
SPLIT_PREFIX = {"test": "", "val": "val_", "train": "train_"}


def split_key(key: str, split: str) -> str:
    """``AP_IoBB_0.50`` of ``split``: ``val_AP_IoBB_0.50``, ``train_...``; the test split's stays as it is."""
    return f"{SPLIT_PREFIX[split]}{key}"


def ci_key(key: str, confidence: float = 0.95) -> str:
    """The key of ``key``'s confidence interval: ``AP_IoBB_0.50`` -> ``AP_IoBB_0.50_ci95``."""
    return f"{key}_ci{round(100 * confidence, 6):g}"


def diff_key(key: str) -> str:
    """The key of a paired difference (B - A) of ``key``: ``AP_IoBB_0.50_diff``."""
    return f"{key}_diff"


def p_key(key: str) -> str:
    """The key of the two-sided p-value of ``key``'s paired difference: ``AP_IoBB_0.50_p``."""
    return f"{key}_p"


def mean_column(key: str) -> str:
    """The aggregated-table column of ``key``'s mean over seeds: ``AP_IoBB_0.50 mean``."""
    return f"{key} mean"


def sd_column(key: str) -> str:
    """The aggregated-table column of ``key``'s sd over seeds: ``AP_IoBB_0.50 sd``."""
    return f"{key} sd"


# ---- Keys of the statistics that evaluate, compare and the study tables report (issue 13) ----

def subgroup_key(key: str, attribute: str, level: str) -> str:
    """``key`` on one subgroup of readings: ``AP_IoBB_0.50@age=80+``, ``AR_IoBB_0.50@gender=F``."""
    return f"{key}@{attribute}={level}"


def parse_subgroup_key(name: str) -> tuple[str, str, str] | None:
    """``(key, attribute, level)`` of a :func:`subgroup_key`; ``None`` for any other name."""
    key, at, rest = name.partition("@")
    attribute, equals, level = rest.partition("=")
    return (key, attribute, level) if at and equals and key and attribute else None


def gap_key(key: str) -> str:
    """The largest difference of ``key`` between two subgroups of one attribute: ``AP_IoBB_0.50_subgroup_gap``."""
    return f"{key}_subgroup_gap"


def bound_keys(key: str) -> tuple[str, str]:
    """Table columns of an interval's bounds: ``AP_IoBB_0.50_ci95`` -> (``..._ci95_low``, ``..._ci95_high``)."""
    return f"{key}_low", f"{key}_high"


def seed_diff_key(key: str) -> str:
    """The per-seed paired differences B - A of ``key`` (a mean and sd over seeds): ``AP_IoBB_0.50_diff_seeds``."""
    return f"{diff_key(key)}_seeds"


def seed_diff_columns(key: str) -> tuple[str, str]:
    """Table columns of the per-seed differences' mean and sd: ``AP_IoBB_0.50_diff_seeds_mean`` / ``_sd``."""
    return f"{seed_diff_key(key)}_mean", f"{seed_diff_key(key)}_sd"
