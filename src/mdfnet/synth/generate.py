"""``generate``: tables, films, readings and the planted counts, written under one folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from mdfnet.errors import InputError
from mdfnet.synth import anatomy, describe, lesions, planted, readers, timeline, writer
from mdfnet.synth.clinical import TARGETS
from mdfnet.synth.spec import SynthSpec

LESION_FLAGS = TARGETS + ("decoy_haze", "decoy_blunting", "nodule", "decoy_opacity")

MIN_PATIENTS = 10  # below this the planted quirks crowd out the clean cohort
MIN_IMAGE_SIZE = 64


def render_film(study: dict, rng: np.random.Generator, spec: SynthSpec) -> tuple[np.ndarray, list[lesions.Finding]]:
    """One frontal film ``[H, W]`` uint8 with the study's lesions, and the findings drawn on it."""
    chest = anatomy.sample_chest(rng, float(study["ctr"]))
    density, lungs = anatomy.draw_chest(chest, int(study["height"]), int(study["width"]), rng)
    flags = {name: bool(study[name]) for name in LESION_FLAGS}
    findings = lesions.draw_findings(density, lungs, chest, flags, rng, spec)
    return anatomy.expose(density, rng, spec.noise_sd, ap=study["view"] == "AP"), findings


def _save_jpeg(pixels: np.ndarray, path: Path, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="L").save(path, format="JPEG", quality=quality)


def generate(out_dir: str | Path, patients: int = 500, image_size: int = 512, seed: int = 0,
             spec: SynthSpec | None = None) -> dict:
    """Write a synthetic MIMIC-CXR-JPG / MIMIC-IV / MIMIC-IV-ED / REFLACX tree under ``out_dir``.

    Args:
        out_dir: folder to write (created); the raw layout of the four PhysioNet sources goes under it.
        patients: number of patients; each has one REFLACX-read frontal study.
        image_size: nominal film size in pixels; each film is ``image_size * U(spec.size_jitter)`` per side.
        seed: fixes every table and every JPEG byte.
        spec: generative parameters (default :class:`SynthSpec`).

    Returns:
        The planted counts (also written to ``planted.json``), keyed like prepare's report.
    """
    if patients < MIN_PATIENTS:
        raise InputError(f"--patients must be at least {MIN_PATIENTS}, got {patients}")
    if image_size < MIN_IMAGE_SIZE:
        raise InputError(f"--image-size must be at least {MIN_IMAGE_SIZE} px, got {image_size}")
    spec = spec or SynthSpec()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0])
    studies = timeline.build_studies(spec, patients, image_size, rng)
    stays = timeline.build_stays(studies, spec, rng)
    triage, cleaning = timeline.build_triage(studies, stays, spec, rng)

    numbers = timeline.unique_ids(rng, int(studies["n_readers"].sum()), 100_000, 1_000_000)
    numbers = numbers[rng.permutation(len(numbers))]
    all_readings, start = [], 0
    for i, study in enumerate(studies.to_dict("records")):
        film_rng = np.random.default_rng([seed, 1, i])  # per image: independent of the other images
        pixels, findings = render_film(study, film_rng, spec)
        if study["category"] not in ("not_in_metadata", "file_missing"):
            _save_jpeg(pixels, root / writer.image_relpath(study["subject_id"], study["study_id"], study["dicom_id"]),
                       spec.jpeg_quality)
        if study["lateral_dicom_id"]:
            lateral = anatomy.draw_lateral(int(study["width"]), int(study["height"]), np.random.default_rng([seed, 2, i]))
            _save_jpeg(lateral, root / writer.image_relpath(study["subject_id"], study["study_id"], study["lateral_dicom_id"]),
                       spec.jpeg_quality)
        count = int(study["n_readers"])
        readings, _ = readers.simulate_readings(study, findings, list(numbers[start:start + count]), film_rng, spec,
                                                kept=study["category"] == "clean")
        all_readings.extend(readings)
        start += count

    write_tables(root, studies, stays, triage, all_readings, rng)
    counts = planted.planted_counts(studies, stays, triage, all_readings, cleaning)
    (root / "synth_spec.json").write_text(json.dumps(spec.to_dict(), indent=2) + "\n")
    (root / "planted.json").write_text(json.dumps(counts, indent=2) + "\n")
    (root / "SYNTH_README.md").write_text(describe.readme(spec, counts, patients, image_size, seed))
    return counts


def write_tables(root: Path, studies, stays, triage, readings: list[readers.Reading],
                 rng: np.random.Generator) -> None:
    """The CSV side of the raw layout (images are written while they are drawn)."""
    writer.write_csv(writer.cxr_metadata(studies), root / writer.CXR_DIR / "mimic-cxr-2.0.0-metadata.csv.gz")
    writer.write_csv(writer.patients_table(studies, rng), root / writer.HOSP_DIR / "patients.csv.gz")
    gender = studies.set_index("subject_id")["gender"]
    edstays, triage_table = writer.ed_tables(stays, triage, gender)
    writer.write_csv(edstays, root / writer.ED_DIR / "edstays.csv.gz")
    writer.write_csv(triage_table, root / writer.ED_DIR / "triage.csv.gz")
    writer.write_reflacx(root, readings, studies, rng)
