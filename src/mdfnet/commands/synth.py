"""``mdfnet synth``: write a synthetic MIMIC-CXR / MIMIC-IV / MIMIC-IV-ED / REFLACX tree (or, with
``--layout coco``, a COCO detection file + per-image CSV of another domain: :mod:`mdfnet.synth.shapes`)."""

from __future__ import annotations

import argparse
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth", help="write synthetic raw data in the PhysioNet (or MIMIC-Eye) layout",
        description="Write the four sources (mimic-cxr-jpg/, mimiciv/hosp/, mimic-iv-ed/ed/, reflacx/main_data/) "
                    "under --out, with SYNTH_README.md describing the generative model and planted.json the "
                    "planted quirk counts. Then: mdfnet prepare --root OUT. With --layout mimic-eye the same "
                    "data are repackaged as the MIMIC-Eye 1.0.0 builder does, into OUT/mimic-eye/; then: "
                    "mdfnet prepare --mimic-eye OUT. With --layout coco: thermal-camera frames whose classes depend "
                    "on the CSV's values, as OUT/annotations.json, OUT/images/, OUT/features.csv; then: mdfnet "
                    "prepare --coco OUT/annotations.json --images OUT/images --tabular OUT/features.csv "
                    "--group-column device_id.")
    parser.add_argument("--out", required=True, help="folder to write (created)")
    parser.add_argument("--patients", type=int, default=500, help="patients, one REFLACX-read study each (default 500)")
    parser.add_argument("--image-size", type=int, default=512,
                        help="nominal film size in px; each side varies 0.85-1.15x (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="fixes every table and image (default 0)")
    parser.add_argument("--layout", choices=("raw", "mimic-eye", "coco"), default="raw",
                        help="raw: the four PhysioNet folders (default); mimic-eye: MIMIC-Eye 1.0.0's folders; "
                             "coco: a COCO file + per-image CSV (not chest X-rays)")
    parser.add_argument("--images", type=int, default=400, help="coco layout: frames (default 400)")
    parser.add_argument("--setting", choices=("demo", "hard"), default="demo",
                        help="demo: lobar-sized opacities (default); hard: 2-3x smaller, fainter opacities and more "
                             "unlabelled look-alikes (see SYNTH_README.md)")
    parser.add_argument("--clinical-signal", type=float, default=1.0,
                        help="scales every link from a cause to the clinical values: 1 = full (default), "
                             "0 = the vitals say nothing about the lesions")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.synth import generate, generate_mimic_eye, setting

    start = time.perf_counter()
    if args.layout == "coco":
        from mdfnet.synth import generate_coco

        planted = generate_coco(args.out, images=args.images, image_size=args.image_size, seed=args.seed)
        print(f"wrote {planted['readings']['read']} frames ({planted['readings']['kept']} clean) to {args.out} "
              f"in {time.perf_counter() - start:.1f} s; see {args.out}/SYNTH_README.md")
        return 0
    write = generate_mimic_eye if args.layout == "mimic-eye" else generate
    spec = setting(args.setting, args.clinical_signal)
    planted = write(args.out, patients=args.patients, image_size=args.image_size, seed=args.seed, spec=spec)
    readings = planted["readings"]
    print(f"wrote {readings['read']} readings ({readings['kept']} linkable, "
          f"{planted['labels']['readings_without_finding']} without finding) for {args.patients} patients "
          f"to {args.out} in {time.perf_counter() - start:.1f} s; see {args.out}/SYNTH_README.md")
    return 0
