"""REFLACX readings: radiologists' labels and ellipses for the drawn findings.

A reading sees every drawn finding (faint ones with lower certainty) and draws one ellipse per finding,
its bounding rectangle jittered per reader; on kept readings, a pleural abnormality and a basal opacity on
the same side are sometimes drawn as one ellipse carrying both labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mdfnet.synth.lesions import Finding
from mdfnet.synth.spec import SynthSpec

PHASE_1_LABELS = (
    "Airway wall thickening", "Atelectasis", "Consolidation", "Emphysema", "Enlarged cardiac silhouette",
    "Fibrosis", "Fracture", "Groundglass opacity", "Mass", "Nodule", "Other", "Pleural effusion",
    "Pleural thickening", "Pneumothorax", "Pulmonary edema", "Quality issue", "Support devices",
    "Wide mediastinum",
)
PHASE_23_LABELS = (
    "Abnormal mediastinal contour", "Acute fracture", "Atelectasis", "Consolidation",
    "Enlarged cardiac silhouette", "Enlarged hilum", "Groundglass opacity", "Hiatal hernia",
    "High lung volume / emphysema", "Interstitial lung disease", "Lung nodule or mass", "Other",
    "Pleural abnormality", "Pneumothorax", "Pulmonary edema", "Quality issue", "Support devices",
)
BOOLEAN_LABELS = ("Quality issue", "Support devices")
OTHER_TEXTS = ("scoliosis", "old rib fracture", "elevated hemidiaphragm", "surgical clips")


def phase_labels(phase: int) -> tuple[str, ...]:
    return PHASE_1_LABELS if phase == 1 else PHASE_23_LABELS


def ellipse_labels(phase: int) -> tuple[str, ...]:
    """Boolean label columns of a phase's ``anomaly_location_ellipses.csv`` (no free text, no quality)."""
    return tuple(label for label in phase_labels(phase) if label not in ("Other", "Quality issue"))


@dataclass
class Reading:
    """One radiologist's reading of one image (a row of ``metadata_phase_{phase}.csv``)."""

    id: str
    phase: int
    dicom_id: str
    subject_id: int
    width: int
    height: int
    discarded: bool
    ellipses: list[dict] = field(default_factory=list)  # xmin..ymax (int px), certainty, labels (set)
    support_devices: bool = False
    quality_issue: bool = False
    other: str = ""

    def label_certainty(self) -> dict[str, int]:
        """Metadata label columns: the highest certainty among this reading's ellipses per label, else 0."""
        out = {}
        for label in phase_labels(self.phase):
            if label in BOOLEAN_LABELS or label == "Other":
                continue
            out[label] = max((e["certainty"] for e in self.ellipses if label in e["labels"]), default=0)
        return out


def reading_id(phase: int, radiologist: int, number: int) -> str:
    """REFLACX id: ``P`` + phase digit + radiologist (2 digits) + ``R`` + 6 digits, e.g. P102R108387."""
    return f"P{phase}{radiologist:02d}R{number:06d}"


def _labels_for(finding: Finding, phase: int, rng: np.random.Generator, both_pleural: bool) -> set[str]:
    """The phase's label(s) for a finding; phase 1 splits pleural abnormality into effusion / thickening."""
    if finding.label == "nodule":
        return {"Nodule" if phase == 1 else "Lung nodule or mass"}
    if finding.label == "Pleural abnormality" and phase == 1:
        if both_pleural and rng.random() < 0.25:  # one ellipse, both phase-1 pleural labels
            return {"Pleural effusion", "Pleural thickening"}
        return {"Pleural effusion" if rng.random() < 0.7 else "Pleural thickening"}
    return {finding.label}


def _jitter(box: tuple[float, ...], width: int, height: int, rng: np.random.Generator,
            spread: float) -> tuple[int, int, int, int]:
    """A reader's rectangle around ``box``: each edge moved by N(0, spread * size), clipped to the image."""
    x0, y0, x1, y1 = box
    sx, sy = spread * (x1 - x0), spread * (y1 - y0)
    x0, x1 = x0 + rng.normal(0, sx), x1 + rng.normal(0, sx)
    y0, y1 = y0 + rng.normal(0, sy), y1 + rng.normal(0, sy)
    x0, x1 = int(np.clip(round(x0), 0, width - 3)), int(np.clip(round(x1), 0, width - 1))
    y0, y1 = int(np.clip(round(y0), 0, height - 3)), int(np.clip(round(y1), 0, height - 1))
    return x0, y0, max(x1, x0 + 2), max(y1, y0 + 2)


def draw_ellipses(findings: list[Finding], reading: Reading, rng: np.random.Generator, spec: SynthSpec,
                  may_merge: bool) -> int:
    """Fill ``reading.ellipses`` from the findings; returns how many two-label ellipses it drew."""
    findings = list(findings)
    groups: list[list[Finding]] = []
    pleural = next((f for f in findings if f.label == "Pleural abnormality"), None)
    partner = next((f for f in findings if f.label in ("Atelectasis", "Consolidation") and f.basal
                    and pleural is not None and f.side == pleural.side), None)
    merged = int(may_merge and partner is not None and rng.random() < spec.merge_two_label_p)
    if merged:
        groups.append([pleural, partner])
        findings = [f for f in findings if f is not pleural and f is not partner]
    groups.extend([f] for f in findings)
    for group in groups:
        box = (min(f.box[0] for f in group), min(f.box[1] for f in group),
               max(f.box[2] for f in group), max(f.box[3] for f in group))
        faint = any(f.faint for f in group)
        p = spec.certainty_faint if faint else spec.certainty_clear
        x0, y0, x1, y1 = _jitter(box, reading.width, reading.height, rng, spec.reader_jitter)
        reading.ellipses.append({
            "xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1,
            "certainty": int(rng.choice(np.arange(1, 6), p=np.asarray(p) / np.sum(p))),
            "labels": set().union(*(_labels_for(f, reading.phase, rng, may_merge) for f in group)),
        })
    return merged


def simulate_readings(study: dict, findings: list[Finding], numbers: list[int], rng: np.random.Generator,
                      spec: SynthSpec, kept: bool) -> tuple[list[Reading], int]:
    """All readings of one image (``len(numbers)`` radiologists). Returns ``(readings, two-label ellipses)``."""
    radiologists = rng.choice(np.arange(1, 6), size=len(numbers), replace=False)
    readings, merged = [], 0
    for radiologist, number in zip(radiologists, numbers):
        reading = Reading(
            id=reading_id(int(study["phase"]), int(radiologist), int(number)), phase=int(study["phase"]),
            dicom_id=study["dicom_id"], subject_id=int(study["subject_id"]), width=int(study["width"]),
            height=int(study["height"]), discarded=study["category"] == "discarded",
            support_devices=bool(rng.random() < (0.3 if study["view"] == "AP" else 0.05)),
            quality_issue=bool(rng.random() < 0.03),
            other=str(rng.choice(OTHER_TEXTS)) if rng.random() < 0.05 else "",
        )
        merged += draw_ellipses(findings, reading, rng, spec, may_merge=kept)
        readings.append(reading)
    return readings, merged
