"""Screenshot of the ``mdfnet serve`` page on a trained checkpoint (the README's docs/serve_page.png).

    .venv/bin/python benchmarks/serve_screenshot.py --checkpoint RUN/best.pt --cohort COHORT --out docs/serve_page.png

Serves the checkpoint on 127.0.0.1, opens the page in Debian's chromium (Playwright, ``executable_path``),
uploads the first test-split reading of ``--cohort`` that has a ``--finding`` box, types its triage
values (leaving ``--leave-empty`` ones empty), sets the score slider and saves a full-page screenshot.
"""

from __future__ import annotations

import argparse
import math
import socket
import threading
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--cohort", required=True, help="cohort folder (mdfnet prepare) to take a test reading from")
    parser.add_argument("--finding", default="Pulmonary edema", help="class the reading must have a box of")
    parser.add_argument("--leave-empty", nargs="*", default=["pain", "acuity"], help="values not typed in")
    parser.add_argument("--threshold", default="0.30", help="score slider position")
    parser.add_argument("--out", default="docs/serve_page.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    torch.set_num_threads(1)

    import uvicorn
    from playwright.sync_api import sync_playwright

    from mdfnet.data.cohort import load_cohort
    from mdfnet.engine.predict import Predictor
    from mdfnet.schema import NUMERIC_FEATURES
    from mdfnet.serve import create_app

    frame, boxes = load_cohort(args.cohort)
    test = frame[frame["split"] == "test"]
    reading = test[test["reading_id"].isin(boxes[boxes["label"] == args.finding]["reading_id"])].iloc[0]
    app = create_app(Predictor(args.checkpoint, "cpu"), checkpoint=args.checkpoint)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("body[data-state=ready]")
            page.set_input_files("#image", reading["image_path"])
            for name in NUMERIC_FEATURES:
                value = reading[name]
                if name not in args.leave_empty and not (isinstance(value, float) and math.isnan(value)):
                    page.fill(f"#value-{name}", f"{float(value):g}")
            if isinstance(reading["gender"], str) and "gender" not in args.leave_empty:
                page.select_option("#value-gender", reading["gender"])
            page.click("#run")
            page.wait_for_selector("body[data-state=done]", timeout=120_000)
            page.fill("#threshold", args.threshold)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join()
    print(f"{reading['reading_id']} ({args.finding}): wrote {args.out}")


if __name__ == "__main__":
    main()
