"""``mdfnet predict``: detections on new radiographs with their clinical values.

Feature names are the checkpoint's schema: MIMIC's have their own options (``--age``, ``--gender``, ...);
any schema's can be given as ``--feature NAME=VALUE``. A ``--csv`` must have ``image_path`` and columns
named as the schema's features: an unknown column is an error, a feature without a column a warning.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mdfnet.errors import InputError
from mdfnet.schema import CLINICAL_FEATURES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="detect abnormalities on new images (+ clinical values)",
                       description="One image with --image and --age/--temperature/... (or --feature NAME=VALUE "
                                   "for any cohort's features); or many with --csv (columns image_path and the "
                                   "model's clinical features).")
    p.add_argument("--checkpoint", required=True, help="best.pt or last.pt of a run")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="JPG, PNG or DICOM")
    src.add_argument("--csv", help="CSV with image_path and clinical columns")
    for name in CLINICAL_FEATURES:
        p.add_argument(f"--{name}", default=None, help="F or M" if name == "gender" else None)
    p.add_argument("--feature", action="append", default=[], metavar="NAME=VALUE",
                   help="a clinical value by its schema name (repeatable), e.g. --feature temperature=61.5")
    p.add_argument("--explain", action="store_true",
                   help="per detection, the change of its score when each entered value is left out, or set to "
                        "the train median (one extra pass of the clinical branch and heads per value)")
    p.add_argument("--out", default="predictions", help="folder for predictions.json and overlays")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from mdfnet.engine.predict import Predictor, overlay

    predictor = Predictor(args.checkpoint, args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.image:
        values = {n: getattr(args, n) for n in CLINICAL_FEATURES if getattr(args, n) is not None}
        requests = [(args.image, {**values, **feature_values(args.feature)})]
    else:
        table = pd.read_csv(args.csv, dtype=str, keep_default_na=False)
        if "image_path" not in table:
            raise InputError(f"{args.csv}: missing column image_path")
        extra = check_columns(args.csv, list(table.columns), predictor.model)
        requests = [(row["image_path"], {c: row[c] for c in extra})
                    for _, row in table.iterrows()]
    results = []
    for i, (image, clinical) in enumerate(requests, start=1):
        source = f"{args.csv} row {i}" if args.csv else "command line"
        if not Path(image).is_file():
            raise InputError(f"{source}: image {image} not found")
        result = predictor.predict(image, clinical, explain=args.explain)
        result["overlay"] = str(overlay(result, out / f"overlay_{i:04d}_{Path(image).stem}.png"))
        results.append(result)
        missing = f" (missing: {', '.join(result['missing'])})" if result["missing"] else ""
        print(f"{image}: {len(result['detections'])} detections{missing}")
        for change in result["cleaned"]:
            print(f"  cleaned {change['feature']}: {change['reason']}")
    (out / "predictions.json").write_text(json.dumps(results, indent=2))
    print(f"written to {out}/predictions.json")
    return 0


def feature_values(items: list[str]) -> dict[str, str]:
    """``["temperature=61.5", "camera=B"]`` -> ``{"temperature": "61.5", "camera": "B"}``."""
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--feature {item!r}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


def check_columns(path: str, columns: list[str], model) -> list[str]:
    """The CSV's feature columns; InputError naming any that is not a feature of the model's schema, and a
    warning naming the features the model uses that have no column (their values count as missing)."""
    import warnings

    names = model.schema.names
    features = [c for c in columns if c != "image_path"]
    unknown = [c for c in features if c not in names]
    used = model.clinical_encoder.features if model.uses_clinical else ()
    absent = [n for n in used if n not in columns]
    if unknown:
        raise InputError(f"{path}: column(s) {unknown} are not features of the model's schema"
                         + (f" (and {absent} are missing)" if absent else "")
                         + f"; expected image_path and {', '.join(names)}")
    if absent:
        warnings.warn(f"{path}: no column for {', '.join(absent)}; those values count as missing", stacklevel=2)
    return features
