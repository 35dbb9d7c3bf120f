"""``mdfnet prepare``: build the cohort folder (cohort.csv, boxes.csv, report) from the raw tables.

Examples::

    mdfnet prepare --root /data/physionet --out data/cohort
    mdfnet prepare --mimic-eye /data/mimic-eye-multimodal-datasets/1.0.0 --out data/cohort --split official
    mdfnet prepare --root /data/physionet --out data/cohort_paper --link-mode paper
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prepare", help="build the cohort folder from MIMIC-CXR-JPG, MIMIC-IV(-ED) and REFLACX",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="cohort folder to write")
    sources = parser.add_argument_group("sources (the raw PhysioNet layouts; csv or csv.gz)")
    sources.add_argument("--root", help="folder holding mimic-cxr-jpg/, mimiciv/, mimic-iv-ed/, reflacx/")
    sources.add_argument("--mimic-cxr-jpg", help="MIMIC-CXR-JPG folder (metadata csv.gz and files/)")
    sources.add_argument("--mimic-iv", help="MIMIC-IV folder (hosp/patients.csv.gz, or core/ for 1.0)")
    sources.add_argument("--mimic-iv-ed", help="MIMIC-IV-ED folder (ed/edstays.csv.gz, ed/triage.csv.gz)")
    sources.add_argument("--reflacx", help="REFLACX folder (main_data/metadata_phase_*.csv and main_data/<id>/)")
    sources.add_argument("--mimic-eye", help="MIMIC-Eye 1.0.0 instead of the four above: the download's root or its "
                                             "mimic-eye/ folder (spreadsheets/, patient_<subject_id>/)")
    parser.add_argument("--link-mode", choices=("correct", "paper"), default="correct",
                        help="'paper' reproduces the authors' unpadded-StudyTime bug (no study before 10:00 links)")
    parser.add_argument("--split", choices=("random", "official"), default="random",
                        help="random: patient-grouped, stratified, seeded; official: REFLACX's split column")
    parser.add_argument("--split-fractions", type=float, nargs=3, default=(0.7, 0.15, 0.15), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the random split")
    parser.add_argument("--min-certainty", type=float, default=None,
                        help="drop boxes whose REFLACX certainty is below this (default: keep all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.data.prepare import prepare
    from mdfnet.data.report import REPORT_MD

    report = prepare(args.out, root=args.root, mimic_cxr_jpg=args.mimic_cxr_jpg, mimic_iv=args.mimic_iv,
                     mimic_iv_ed=args.mimic_iv_ed, reflacx=args.reflacx, mimic_eye=args.mimic_eye,
                     link_mode=args.link_mode, split=args.split, split_fractions=tuple(args.split_fractions),
                     seed=args.seed, min_certainty=args.min_certainty)
    excluded = ", ".join(f"{k} {v}" for k, v in report["excluded"].items() if v)
    by_mode = report["link"]["cohort_size_by_mode"]
    splits = ", ".join(f"{k} {v['readings']}" for k, v in report["splits"].items())
    print(f"kept {report['readings']['kept']} of {report['readings']['read']} REFLACX readings "
          f"(link {report['link_mode']}; correct {by_mode['correct']}, paper {by_mode['paper']})")
    print(f"excluded: {excluded or 'none'}")
    print(f"splits: {splits}")
    print(f"wrote {args.out}/cohort.csv, boxes.csv, prepare_report.json, {REPORT_MD}")
    return 0
