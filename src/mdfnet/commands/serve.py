"""``mdfnet serve``: a local web page (and JSON API) for reading a radiograph with its triage values."""

from __future__ import annotations

import argparse
from pathlib import Path

from mdfnet.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="a local web page: upload a radiograph, enter the vitals, see the findings",
                       description="Serves a page (and POST /api/predict, a JSON API) on http://HOST:PORT/ "
                                   "with one trained model, loaded once. Without --checkpoint it serves the "
                                   "MDF-Net that `mdfnet demo` trained (seed 0). Nothing is fetched from the "
                                   "internet; it binds to 127.0.0.1 unless told otherwise.")
    p.add_argument("--checkpoint", default=None,
                   help="best.pt of a run (default: mdfnet-demo/study/runs/variant-mdf/seed_0/best.pt)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest radiograph file accepted (default 50)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mdfnet.experiments.demo import demo_run

    checkpoint = Path(args.checkpoint) if args.checkpoint else demo_run() / "best.pt"
    if args.checkpoint is None:
        if not checkpoint.is_file():
            raise InputError(f"no --checkpoint given and the demo's MDF-Net {checkpoint} does not exist: "
                             f"run `mdfnet demo` first, or pass --checkpoint RUN/best.pt")
        print(f"serving the demo's MDF-Net: {checkpoint}")
    if args.max_upload_mb <= 0:
        raise InputError(f"--max-upload-mb must be positive, got {args.max_upload_mb:g}")
    import uvicorn

    from mdfnet.engine.predict import Predictor
    from mdfnet.serve import create_app

    predictor = Predictor(checkpoint, args.device)
    app = create_app(predictor, checkpoint=checkpoint, max_upload_mb=args.max_upload_mb)
    print(f"{predictor.config.model.variant} ({predictor.config.model.spatialiser} spatialiser, "
          f"{predictor.size} px) from {checkpoint}")
    print(f"open http://{args.host}:{args.port}/  (Ctrl+C stops)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
