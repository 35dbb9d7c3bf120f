"""Write the cohort folder: ``cohort.csv``, ``boxes.csv``, ``prepare_report.json`` and a readable summary."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mdfnet.errors import InputError

COHORT_FILE, BOXES_FILE = "cohort.csv", "boxes.csv"
REPORT_JSON, REPORT_MD = "prepare_report.json", "prepare_report.md"


def write_cohort(out_dir: Path, cohort: pd.DataFrame, boxes: pd.DataFrame, report: dict) -> None:
    """Write the four files (overwriting earlier ones) into ``out_dir``, creating it."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out_dir}: cannot create the output folder ({err.strerror})") from None
    ids = {c: "Int64" for c in ("subject_id", "study_id", "stay_id", "image_width", "image_height")}
    # identifiers stay integers: "%.6g" would turn study 58464340 into 5.84643e+07
    cohort.astype(ids).to_csv(out_dir / COHORT_FILE, index=False, float_format="%.6g")
    boxes.to_csv(out_dir / BOXES_FILE, index=False, float_format="%.3f")
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / REPORT_MD).write_text(summary_markdown(report))
    (out_dir / "schema.json").unlink(missing_ok=True)  # a MIMIC cohort has none (a --coco one left there would win)


def markdown_section(title: str, columns: tuple[str, ...], rows) -> list[str]:
    """Lines of a ``## title`` section holding one Markdown table; ``rows`` are tuples of cells."""
    return ["", f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def label_and_split_sections(report: dict, labels_title: str, splits_title: str,
                             units: tuple[str, str]) -> list[str]:
    """The boxes per class (and the other label counts), then the split sizes of a prepare report, each split's
    readings and patients named ``units`` (e.g. images and groups)."""
    labels = report["labels"]
    lines = markdown_section(labels_title, ("class", "boxes"), labels["boxes_by_class"].items())
    lines += [""] + [f"- {key}: {value}" for key, value in labels.items() if key != "boxes_by_class"]
    return lines + markdown_section(splits_title, ("split", *units),
                                    ((name, s["readings"], s["patients"]) for name, s in report["splits"].items()))


def summary_markdown(report: dict) -> str:
    """The report as a short Markdown page: the funnel, the cleaning counts, labels and splits."""
    read, kept = report["readings"]["read"], report["readings"]["kept"]
    lines = [
        "# mdfnet prepare: cohort report", "",
        f"Link mode **{report['link_mode']}**, split **{report['split_mode']}** (seed {report['seed']}), "
        f"min certainty {report['min_certainty']}.", "",
        f"REFLACX readings read: **{read}**; kept: **{kept}** "
        f"({report['cohort']['images']} images, {report['cohort']['patients']} patients, "
        f"{report['cohort']['boxes']} boxes).",
    ]
    lines += markdown_section("Exclusions (each reading counted once, first failing reason)", ("reason", "readings"),
                              report["excluded"].items())
    by_mode = report["link"]["cohort_size_by_mode"]
    lines += ["", "## Linking", "",
              f"Kept readings with the correct time parsing: {by_mode['correct']}; with the authors' "
              f"unpadded-time bug (`--link-mode paper`): {by_mode['paper']}. Kept studies taken before 10:00: "
              f"{report['link']['studies_before_10am']}."]
    builder = report["link"].get("builder_stay_id_differs_by_mode")
    if builder is not None:
        lines += ["", f"MIMIC-Eye's own `stay_id` (linked with the unpadded StudyTime, not used) differs from ours "
                      f"for {builder['correct']} images (correct link) and {builder['paper']} images (paper link)."]
    lines += markdown_section("Cleaning rules applied (counts)", ("rule", "values"), report["cleaning"].items())
    lines += label_and_split_sections(report, "Labels", "Splits (grouped by patient)", ("readings", "patients"))
    lines += markdown_section("Missing clinical values in the cohort", ("feature", "missing"),
                              report["cohort_missing"].items())
    return "\n".join(lines) + "\n"
