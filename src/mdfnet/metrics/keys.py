"""Metric key strings, defined once: ``AP_IoBB_0.50``, ``AR_IoU_0.75_Lung_nodule``, ``AP_IoBB_0.50_ci95``.

Every module that writes or reads a metric by name builds the name here, so the spelling ties the
stages together in one place.
"""

from __future__ import annotations

OVERLAP_LABELS = {"iobb": "IoBB", "iou": "IoU"}


def metric_key(kind: str, threshold: float | None = 0.5, overlap: str = "iobb", class_name: str | None = None) -> str:
    """``<kind>_<O>_<t>[_<Class_name>]``: e.g. ``AP_IoBB_0.50``, ``AR_IoU_0.50_Pleural_abnormality``.

    ``threshold`` is written with two decimals; ``None`` writes ``mean`` (the mean over thresholds).
    Spaces in ``class_name`` become underscores.
    """
    if overlap not in OVERLAP_LABELS:
        raise ValueError(f"overlap must be one of {tuple(OVERLAP_LABELS)}, got {overlap!r}")
    at = "mean" if threshold is None else f"{threshold:.2f}"
    key = f"{kind}_{OVERLAP_LABELS[overlap]}_{at}"
    return key if class_name is None else f"{key}_{class_name.replace(' ', '_')}"


def ci_key(key: str, confidence: float = 0.95) -> str:
    """The key of ``key``'s confidence interval: ``AP_IoBB_0.50`` -> ``AP_IoBB_0.50_ci95``."""
    return f"{key}_ci{round(100 * confidence, 6):g}"


def diff_key(key: str) -> str:
    """The key of a paired difference (B - A) of ``key``: ``AP_IoBB_0.50_diff``."""
    return f"{key}_diff"


def p_key(key: str) -> str:
    """The key of the two-sided p-value of ``key``'s paired difference: ``AP_IoBB_0.50_p``."""
    return f"{key}_p"


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
