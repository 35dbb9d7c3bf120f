"""A served tiny model: one checkpoint and one real server on 127.0.0.1 (a free port) for the API and page tests."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@dataclass
class Served:
    url: str
    app: object
    predictor: object
    checkpoint: Path
    cohort: Path


@pytest.fixture(scope="session")
def served(untrained_run):
    import uvicorn

    from mdfnet.engine.predict import Predictor
    from mdfnet.serve import create_app

    run, cohort = untrained_run
    checkpoint = run / "best.pt"
    predictor = Predictor(checkpoint)
    app = create_app(predictor, checkpoint=checkpoint)
    with socket.socket() as probe:  # a free port, released just before the server binds it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", app, predictor, checkpoint, cohort)
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="session")
def chest_dicom():
    """The real chest radiograph shipped in pydicom-data (CR, MONOCHROME1, 1841 x 1955); never downloaded."""
    pydicom_data = pytest.importorskip("pydicom.data")
    try:
        return Path(pydicom_data.get_testdata_file("RG1_UNCR.dcm"))
    except Exception:  # pydicom-data not installed
        pytest.skip("pydicom-data is not installed")


@pytest.fixture(scope="session")
def chest_jpeg(tmp_path_factory):
    """A 300 x 240 grey JPEG with a bright blob: a radiograph-shaped file of another format."""
    rng = np.random.default_rng(3)
    pixels = rng.normal(0.35, 0.05, (240, 300))
    pixels[60:160, 170:260] += 0.4
    path = tmp_path_factory.mktemp("jpeg") / "chest.jpg"
    Image.fromarray((pixels.clip(0, 1) * 255).astype(np.uint8)).save(path, quality=92)
    return path
