"""Request latency of ``mdfnet serve`` with and without explanations, on CPU.

    .venv/bin/python benchmarks/bench_serve.py                       # 256 and 512 px, mdf lite and paper
    .venv/bin/python benchmarks/bench_serve.py --sizes 256 --requests 20 --spatialisers lite

For each spatialiser and image size, a random-init MDF-Net (``fast`` preset, every detection kept, so that
each request explains the model's full 10) is saved as a checkpoint and served by the real app on
127.0.0.1; the client posts the real chest DICOM of pydicom-data (1841 x 1955, 7.2 MB) with all ten
triage values entered (the most work: 10 values left out + 9 set to their medians = 19 re-reads), alternating
requests with and without ``explain`` so that both see the same machine load. Prints p50 / p95 of the
request latency (client side: upload, decoding, model, JSON), its ratio with / without explanations, and
the median CPU time the server's thread spent on a request (``timing_ms.cpu``: reading the file and the
model), with its ratio: on a machine shared with other jobs the wall times swing with their load, CPU
time much less. Goal for ``lite``: a request with explanations at most 1.5x one without.

Torch runs on ``--threads`` threads (default 1): the reference machine's 2 cores are shared by other jobs,
and one thread gives the steadiest ratios; a server alone on a machine uses every core.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

VALUES = {"age": "71", "temperature": "101.3", "heartrate": "112", "resprate": "24", "o2sat": "91", "sbp": "142",
          "dbp": "88", "pain": "6", "acuity": "2", "gender": "M"}
MEANS = [60.0, 98.6, 85.0, 18.0, 97.0, 135.0, 80.0, 3.0, 3.0]  # plausible train statistics for the scaler
STDS = [18.0, 1.2, 18.0, 4.0, 3.0, 22.0, 14.0, 3.0, 0.8]


def make_checkpoint(folder: Path, spatialiser: str, size: int) -> Path:
    """A random-init MDF-Net checkpoint with train-like clinical statistics and medians."""
    from mdfnet.config import apply_overrides, preset
    from mdfnet.engine.checkpoint import save_checkpoint
    from mdfnet.model import build_from_config

    cfg = apply_overrides(preset("fast"), {"model": {"variant": "mdf", "image_size": size, "spatialiser": spatialiser,
                                                     "box_score_thresh": 0.0, "pretrained_backbone": None}})
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_from_config(cfg.model)
    model.clinical_encoder.set_statistics(torch.tensor(MEANS), torch.tensor(STDS))
    path = folder / f"mdf_{spatialiser}_{size}.pt"
    save_checkpoint(path, model, cfg, clinical_median=MEANS)
    return path


def serve(checkpoint: Path):
    """Start the app on a free port in a thread; returns (url, stop)."""
    import uvicorn

    from mdfnet.engine.predict import Predictor
    from mdfnet.serve import create_app

    app = create_app(Predictor(checkpoint, "cpu"), checkpoint=checkpoint)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join()

    return f"http://127.0.0.1:{port}", stop


def measure(url: str, image: Path, requests: int) -> dict[bool, tuple[list[float], list[float]]]:
    """{explain: (request seconds, server CPU seconds)}, requests alternating, after one warm-up of each."""
    import httpx

    content = image.read_bytes()
    out: dict[bool, tuple[list[float], list[float]]] = {False: ([], []), True: ([], [])}
    with httpx.Client(timeout=600) as client:
        for i in range(2 * (requests + 1)):
            explain = bool(i % 2)
            tic = time.perf_counter()
            answer = client.post(f"{url}/api/predict", files={"image": (image.name, content)},
                                 data={**VALUES, "explain": str(explain).lower()})
            seconds = time.perf_counter() - tic
            answer.raise_for_status()
            body = answer.json()
            assert len(body["detections"]) == 10 and (("effects" in body["detections"][0]) == explain)
            if i >= 2:  # the first pair warms up
                out[explain][0].append(seconds)
                out[explain][1].append(body["timing_ms"]["cpu"] / 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--spatialisers", nargs="+", default=["lite", "paper"])
    parser.add_argument("--requests", type=int, default=12, help="requests of each kind per model (default 12)")
    parser.add_argument("--paper-requests", type=int, default=6, help="the same for `paper`, much slower (default 6)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; see the docstring)")
    parser.add_argument("--image", type=Path, default=None,
                        help="radiograph to post (default: pydicom-data's chest CR)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.image is None:
        from pydicom.data import get_testdata_file

        args.image = Path(get_testdata_file("RG1_UNCR.dcm"))
    print(f"image {args.image.name} ({args.image.stat().st_size / 2**20:.1f} MB), {args.threads} torch thread(s), "
          f"all 10 values entered, 10 detections explained")
    print("| model | px | requests | p50 without (s) | p95 without (s) | p50 with (s) | p95 with (s) | with / without "
          "(p50) | server CPU without / with (s) | CPU with / without |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for spatialiser in args.spatialisers:
            for size in args.sizes:
                n = args.requests if spatialiser == "lite" else args.paper_requests
                url, stop = serve(make_checkpoint(Path(folder), spatialiser, size))
                try:
                    times = measure(url, args.image, n)
                finally:
                    stop()
                (plain, plain_cpu), (explained, explained_cpu) = times[False], times[True]
                p50, p95 = (lambda t: float(np.percentile(t, 50))), (lambda t: float(np.percentile(t, 95)))
                print(f"| mdf {spatialiser} | {size} | {n} + {n} | {p50(plain):.3f} | {p95(plain):.3f} | "
                      f"{p50(explained):.3f} | {p95(explained):.3f} | **{p50(explained) / p50(plain):.2f}x** | "
                      f"{statistics.median(plain_cpu):.3f} / {statistics.median(explained_cpu):.3f} | "
                      f"**{statistics.median(explained_cpu) / statistics.median(plain_cpu):.2f}x** |", flush=True)


if __name__ == "__main__":
    main()
