"""``mdfnet prepare``: build the cohort folder (cohort.csv, boxes.csv, report) from the raw tables.

Examples::

    mdfnet prepare --root /data/physionet --out data/cohort
    mdfnet prepare --mimic-eye /data/mimic-eye-multimodal-datasets/1.0.0 --out data/cohort --split official
    mdfnet prepare --root /data/physionet --out data/cohort_paper --link-mode paper
    mdfnet prepare --coco annotations.json --images images/ --tabular features.csv --group-column patient_id \
        --out data/cohort_coco

With --coco, any detection dataset with one CSV row per image: COCO's categories become the classes, the CSV's
columns the features (numeric or categorical, inferred; --numeric / --categorical decide for the columns they
name), and the cohort folder gets a schema.json that train, evaluate, predict and ablate follow.
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
    coco = parser.add_argument_group("any detection dataset: a COCO file and one CSV row per image (instead of MIMIC)")
    coco.add_argument("--coco", help="COCO detection file (images, annotations, categories)")
    coco.add_argument("--images", help="folder the COCO file_names are relative to")
    coco.add_argument("--tabular", help="CSV with one row per image: the id column, features, an optional group")
    coco.add_argument("--id-column", default="image_id", help="the CSV column naming the image: COCO image id or "
                                                              "file_name (default image_id)")
    coco.add_argument("--join-on", choices=("auto", "id", "file_name"), default="auto",
                      help="match the id column to COCO's image id or file_name "
                           "(auto: id when every value is an integer)")
    coco.add_argument("--group-column", default=None,
                      help="CSV column grouping images for the split (e.g. patient_id); default: each image alone")
    coco.add_argument("--numeric", nargs="+", default=[], metavar="COLUMN", help="columns to treat as numbers")
    coco.add_argument("--categorical", nargs="+", default=[], metavar="COLUMN", help="columns to treat as categories")
    coco.add_argument("--drop", nargs="+", default=[], metavar="COLUMN", help="CSV columns that are not features")
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

    if args.coco or args.tabular or args.images:
        return run_coco(args)

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


def run_coco(args: argparse.Namespace) -> int:
    from mdfnet.data.coco import prepare_coco
    from mdfnet.data.report import REPORT_MD
    from mdfnet.errors import InputError

    missing = [flag for flag, value in (("--coco", args.coco), ("--images", args.images), ("--tabular", args.tabular))
               if not value]
    if missing:
        raise InputError(f"--coco, --images and --tabular go together; missing {', '.join(missing)}")
    mimic = [flag for flag in ("root", "mimic_cxr_jpg", "mimic_iv", "mimic_iv_ed", "reflacx", "mimic_eye")
             if getattr(args, flag)]
    if mimic or args.split == "official":
        other = "--" + mimic[0].replace("_", "-") if mimic else "--split official"
        raise InputError(f"--coco cannot be combined with {other}")
    report = prepare_coco(args.out, args.coco, args.images, args.tabular, id_column=args.id_column,
                          group_column=args.group_column, join_on=args.join_on, numeric=tuple(args.numeric),
                          categorical=tuple(args.categorical), drop=tuple(args.drop),
                          split_fractions=tuple(args.split_fractions), seed=args.seed)
    excluded = ", ".join(f"{k} {v}" for k, v in report["excluded"].items() if v)
    labels, tabular, schema = report["labels"], report["tabular"], report["schema"]
    dropped = ", ".join(f"{k[len('boxes_'):]} {labels[k]}" for k in ("boxes_crowd", "boxes_zero_area",
                                                                    "boxes_outside_image") if labels[k])
    print(f"kept {report['readings']['kept']} of {report['readings']['read']} COCO images "
          f"(joined on {report['sources']['joined_on']})")
    print(f"excluded: {excluded or 'none'}")
    print(f"tabular rows: {tabular['rows']} ({tabular['duplicate_rows']} dropped as exact repeats, "
          f"{tabular['rows_without_image']} without an image)")
    print(f"boxes: kept {report['cohort']['boxes']} of {labels['boxes_read']} (clipped {labels['boxes_clipped']}; "
          f"dropped: {dropped or 'none'})")
    print(f"classes: {', '.join(schema['classes'])}")
    print(f"features: numeric {', '.join(schema['numeric']) or 'none'}; categorical "
          f"{', '.join(f'{k} ({n})' for k, n in schema['categorical'].items()) or 'none'}")
    splits = ", ".join(f"{k} {v['readings']}" for k, v in report["splits"].items())
    print(f"splits: {splits}")
    print(f"wrote {args.out}/cohort.csv, boxes.csv, schema.json, prepare_report.json, {REPORT_MD}")
    return 0
