"""Time ``mdfnet prepare`` on full-MIMIC-sized synthetic tables, raw and as MIMIC-Eye 1.0.0.

Builds, in a temporary folder, csv.gz tables the size of the real ones (377,000 radiograph rows, 450,000
ED stays and triage rows, 300,000 patients, 3,000 REFLACX readings with their ellipse files and tiny JPEGs),
then repackages them as the MIMIC-Eye builder does (:func:`mdfnet.synth.to_mimic_eye`), with one
radiograph each of about 600 more patients named EyeGaze images, so that there are 3,200 patient folders
(the release has 3,192). ``prepare --root`` and ``prepare --mimic-eye`` on the same data then run, each in a
fresh child process, alternately ``--repeats`` times; the best wall time of each, with its peak memory (max
RSS), is printed. Generation is not timed.
Goals on 2 CPU cores: raw under 30 s and 4 GB; MIMIC-Eye under 10 s.

    .venv/bin/python benchmarks/bench_prepare.py            # generate, time both, clean up
    .venv/bin/python benchmarks/bench_prepare.py --keep DIR # keep the generated folders in DIR (reused)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

N_RADIOGRAPHS, N_STAYS, N_PATIENTS, N_READINGS, N_IMAGES = 377_000, 450_000, 300_000, 3_000, 2_600
N_PATIENT_FOLDERS = 3_200  # MIMIC-Eye 1.0.0 has 3,192: REFLACX's patients plus EyeGaze's
LABELS = ["Enlarged cardiac silhouette", "Atelectasis", "Pleural abnormality", "Consolidation", "Pulmonary edema",
          "Support devices"]


def generate(root: Path, seed: int = 0) -> None:
    """Write the raw PhysioNet layout under ``root`` (mimic-cxr-jpg/, mimiciv/, mimic-iv-ed/, reflacx/)."""
    rng = np.random.default_rng(seed)
    subjects = 10_000_000 + np.arange(N_PATIENTS)
    meta_subject = rng.choice(subjects, N_RADIOGRAPHS)
    study_day = pd.Timestamp("2110-01-01") + pd.to_timedelta(rng.integers(0, 365 * 80, N_RADIOGRAPHS), unit="D")
    seconds = rng.integers(0, 86_400, N_RADIOGRAPHS)
    study_time = (seconds // 3600) * 10_000 + (seconds // 60 % 60) * 100 + seconds % 60 + rng.integers(0, 1000, N_RADIOGRAPHS) / 1000
    dicom = np.char.add("dcm-", np.arange(N_RADIOGRAPHS).astype(str))
    meta = pd.DataFrame({"dicom_id": dicom, "subject_id": meta_subject, "study_id": 50_000_000 + np.arange(N_RADIOGRAPHS),
                         "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": "PA",
                         "Rows": 3056, "Columns": 2544, "StudyDate": study_day.strftime("%Y%m%d").astype(int),
                         "StudyTime": study_time, "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
                         "ViewCodeSequence_CodeMeaning": "postero-anterior", "PatientOrientationCodeSequence_CodeMeaning": "Erect"})
    (root / "mimic-cxr-jpg").mkdir(parents=True)
    meta.to_csv(root / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz", index=False, compression={"method": "gzip", "compresslevel": 1})

    # the REFLACX images: stays that contain most of their studies, random stays for everyone else
    chosen = rng.choice(N_RADIOGRAPHS, N_IMAGES, replace=False)
    study_at = study_day[chosen] + pd.to_timedelta(seconds[chosen], unit="s")
    n_random = N_STAYS - N_IMAGES
    intime = pd.DatetimeIndex(np.concatenate([
        (study_at - pd.to_timedelta(rng.integers(600, 20_000, N_IMAGES), unit="s")).to_numpy(),
        (pd.Timestamp("2110-01-01") + pd.to_timedelta(rng.integers(0, 365 * 80 * 86_400, n_random), unit="s")).to_numpy()]))
    outtime = intime + pd.to_timedelta(rng.integers(3_600, 30_000, N_STAYS), unit="s")
    stay_subject = np.concatenate([meta_subject[chosen], rng.choice(subjects, n_random)])
    stays = pd.DataFrame({"subject_id": stay_subject, "hadm_id": "", "stay_id": 30_000_000 + np.arange(N_STAYS),
                          "intime": intime.strftime("%Y-%m-%d %H:%M:%S"), "outtime": outtime.strftime("%Y-%m-%d %H:%M:%S"),
                          "gender": "F", "race": "WHITE", "arrival_transport": "WALK IN", "disposition": "HOME"})
    pain = rng.choice(np.array(["0", "3", "5", "8", "10", "0-10", "unable", "13", ""], dtype=object), N_STAYS)
    triage = pd.DataFrame({"subject_id": stay_subject, "stay_id": stays["stay_id"],
                           "temperature": np.round(rng.normal(98.4, 1.5, N_STAYS), 1),
                           "heartrate": rng.integers(40, 160, N_STAYS), "resprate": rng.integers(10, 30, N_STAYS),
                           "o2sat": rng.integers(85, 101, N_STAYS), "sbp": rng.integers(80, 200, N_STAYS),
                           "dbp": rng.integers(40, 120, N_STAYS), "pain": pain, "acuity": rng.integers(1, 6, N_STAYS),
                           "chiefcomplaint": "Dyspnea"})
    (root / "mimic-iv-ed" / "ed").mkdir(parents=True)
    stays.to_csv(root / "mimic-iv-ed" / "ed" / "edstays.csv.gz", index=False, compression={"method": "gzip", "compresslevel": 1})
    triage.to_csv(root / "mimic-iv-ed" / "ed" / "triage.csv.gz", index=False, compression={"method": "gzip", "compresslevel": 1})
    patients = pd.DataFrame({"subject_id": subjects, "gender": rng.choice(["F", "M"], N_PATIENTS),
                             "anchor_age": rng.integers(18, 92, N_PATIENTS), "anchor_year": rng.integers(2110, 2190, N_PATIENTS),
                             "anchor_year_group": "2017 - 2019", "dod": ""})
    (root / "mimiciv" / "hosp").mkdir(parents=True)
    patients.to_csv(root / "mimiciv" / "hosp" / "patients.csv.gz", index=False, compression={"method": "gzip", "compresslevel": 1})
    write_reflacx(root, rng, meta.iloc[chosen])


def write_reflacx(root: Path, rng: np.random.Generator, images: pd.DataFrame) -> None:
    """3,000 readings over the chosen images, three phase files, an ellipse file each, an 8 x 8 JPEG per image."""
    picks = np.concatenate([np.arange(len(images)), rng.integers(0, len(images), N_READINGS - len(images))])
    readings = images.iloc[picks].reset_index(drop=True)
    main = root / "reflacx" / "main_data"
    main.mkdir(parents=True)
    tiny = Image.fromarray(np.full((8, 8), 128, np.uint8))
    for _, image in images.iterrows():
        sid = str(image["subject_id"])
        folder = root / "mimic-cxr-jpg" / "files" / f"p{sid[:2]}" / f"p{sid}" / f"s{image['study_id']}"
        folder.mkdir(parents=True, exist_ok=True)
        tiny.save(folder / f"{image['dicom_id']}.jpg")
    ids = [f"P{100 + i // 1000}R{i:06d}" for i in range(N_READINGS)]
    rows = pd.DataFrame({"id": ids, "split": rng.choice(["train", "validation", "test"], N_READINGS, p=[0.7, 0.15, 0.15]),
                         "eye_tracking_data_discarded": rng.random(N_READINGS) < 0.05, "image": "x",
                         "dicom_id": readings["dicom_id"], "subject_id": readings["subject_id"],
                         "image_size_x": 2544, "image_size_y": 3056})
    for label in LABELS:
        rows[label] = rng.integers(0, 6, N_READINGS)
    for phase, part in enumerate(np.array_split(np.arange(N_READINGS), 3), start=1):
        rows.iloc[part].to_csv(main / f"metadata_phase_{phase}.csv", index=False)
    header = "xmin,ymin,xmax,ymax,certainty," + ",".join(LABELS) + "\n"
    for reading_id in ids:
        lines = []
        for _ in range(rng.integers(0, 4)):
            x0, y0 = rng.integers(0, 2000), rng.integers(0, 2500)
            marks = rng.random(len(LABELS)) < 0.3
            lines.append(f"{x0},{y0},{x0 + rng.integers(50, 800)},{y0 + rng.integers(50, 800)},{rng.integers(1, 6)},"
                         + ",".join(str(bool(m)) for m in marks))
        (main / reading_id).mkdir()
        (main / reading_id / "anomaly_location_ellipses.csv").write_text(header + "\n".join(lines) + "\n")


def eye_gaze_images(root: Path, seed: int = 1) -> frozenset[str]:
    """One radiograph (with a tiny JPEG) of each patient that tops REFLACX's up to N_PATIENT_FOLDERS."""
    rng = np.random.default_rng(seed)
    meta = pd.read_csv(root / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz",
                       usecols=["dicom_id", "subject_id", "study_id"])
    read = pd.concat([pd.read_csv(p, usecols=["subject_id"])
                      for p in (root / "reflacx" / "main_data").glob("metadata_phase_*.csv")])["subject_id"].unique()
    others = meta[~meta["subject_id"].isin(read)].drop_duplicates("subject_id")
    chosen = others.iloc[rng.choice(len(others), N_PATIENT_FOLDERS - len(read), replace=False)]
    tiny = Image.fromarray(np.full((8, 8), 128, np.uint8))
    for dicom, subject, study in chosen.itertuples(index=False):
        folder = root / "mimic-cxr-jpg" / "files" / f"p{str(subject)[:2]}" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True, exist_ok=True)
        tiny.save(folder / f"{dicom}.jpg")
    return frozenset(chosen["dicom_id"])


def run_prepare(source: str, folder: Path, out: Path) -> None:
    """Child process: time prepare() alone on ``--root`` or ``--mimic-eye`` and print JSON with time and peak RSS."""
    from mdfnet.data.prepare import prepare

    start = time.perf_counter()
    report = prepare(out, **{source: folder})
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(json.dumps({"prepare_s": round(seconds, 2), "peak_rss_mb": round(peak_mb), "kept": report["readings"]["kept"],
                      "by_mode": report["link"]["cohort_size_by_mode"],
                      "builder_differs": report["link"]["builder_stay_id_differs_by_mode"]}))


def time_child(source: str, folder: Path, out: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", source, str(folder), str(out)],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each layout; the best is shown (default 3)")
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_prepare(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    from mdfnet.synth import to_mimic_eye

    with tempfile.TemporaryDirectory() as scratch:
        base = args.keep or Path(scratch)
        root, download = base / "physionet", base / "mimic-eye-download"
        if not (root / "reflacx").is_dir():
            start = time.perf_counter()
            generate(root)
            print(f"generated tables in {time.perf_counter() - start:.1f} s (not timed below)")
        if not download.is_dir():
            start = time.perf_counter()
            eye = to_mimic_eye(root, download, "1.0.0", eye_gaze_images(root))
            folders = sum(1 for p in eye.iterdir() if p.name.startswith("patient_"))
            print(f"repackaged as MIMIC-Eye 1.0.0 ({folders} patient folders) in {time.perf_counter() - start:.1f} s")
        runs = [(time_child("root", root, Path(scratch) / "raw_cohort"),
                 time_child("mimic_eye", download, Path(scratch) / "eye_cohort")) for _ in range(args.repeats)]
        raw = min((r for r, _ in runs), key=lambda r: r["prepare_s"])
        eye = min((e for _, e in runs), key=lambda e: e["prepare_s"])
        print(f"prepare --root:      {raw['prepare_s']} s, peak memory {raw['peak_rss_mb']} MB, "
              f"kept {raw['kept']} readings (by mode {raw['by_mode']})")
        print(f"prepare --mimic-eye: {eye['prepare_s']} s, peak memory {eye['peak_rss_mb']} MB, "
              f"kept {eye['kept']} readings (by mode {eye['by_mode']}); builder stay_id differs "
              f"{eye['builder_differs']}; {eye['prepare_s'] / raw['prepare_s']:.2f}x the raw layout's time")


if __name__ == "__main__":
    main()
