"""Shared fixtures: a tiny cohort folder written straight in the contract format (independent of synth
and prepare), a tiny fast-preset config factory, and a session that never goes online."""

from __future__ import annotations

import importlib
import socket

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mdfnet.config import apply_overrides, preset
from mdfnet.model.weights import OFFLINE_ENV
from mdfnet.schema import BOX_COLUMNS, BOX_COUNT_COLUMNS, CLASSES, COHORT_COLUMNS

LOOPBACK = {"localhost", "127.0.0.1", "::1", "", None}


@pytest.fixture(scope="session", autouse=True)
def no_network(tmp_path_factory):
    """No test goes online: downloads are forbidden (MDFNET_OFFLINE=1, inherited by subprocesses), torch's
    hub cache is an empty folder, and any connection or name lookup beyond loopback raises."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(OFFLINE_ENV, "1")
        mp.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))
        connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

        def local_connect(sock, address):
            if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
                raise OSError(f"tests may not open network connections (to {address})")
            return connect(sock, address)

        def local_getaddrinfo(host, *args, **kwargs):
            if host not in LOOPBACK:
                raise OSError(f"tests may not look up network names ({host})")
            return getaddrinfo(host, *args, **kwargs)

        mp.setattr(socket.socket, "connect", local_connect)
        mp.setattr(socket, "getaddrinfo", local_getaddrinfo)
        yield

SPLITS = ["train"] * 8 + ["val"] * 2 + ["test"] * 2


def write_tiny_cohort(folder, n_per_split=SPLITS, width=96, height=80, seed=0):
    """Readings with one bright blob each (class by position), images of ``width x height`` pixels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, boxes = [], []
    for i, split in enumerate(n_per_split):
        pixels = rng.normal(0.3, 0.05, (height, width))
        label = CLASSES[i % 2 * 3]  # Enlarged cardiac silhouette or Consolidation
        x0, y0 = (10, 10) if i % 2 == 0 else (50, 40)
        pixels[y0:y0 + 25, x0:x0 + 30] += 0.5
        path = folder / f"img_{i}.png"
        Image.fromarray((pixels.clip(0, 1) * 255).astype(np.uint8)).save(path)
        reading = f"P2R{i:06d}"
        counts = {c: 0 for c in BOX_COUNT_COLUMNS}
        counts[BOX_COUNT_COLUMNS[CLASSES.index(label)]] = 1
        rows.append({
            "reading_id": reading, "dicom_id": f"d{i}", "subject_id": 10000000 + i, "study_id": 50000000 + i,
            "stay_id": 30000000 + i, "split": split, "image_path": str(path), "image_width": width,
            "image_height": height, "age": 50 + i, "temperature": 98.0 + i % 2 * 3, "heartrate": 80 + i,
            "resprate": 16 + i % 3, "o2sat": 97.0, "sbp": 130.0, "dbp": 80.0, "pain": np.nan if i == 3 else 2.0,
            "acuity": 3.0, "gender": "F" if i % 3 else "M", **counts,
        })
        boxes.append({"reading_id": reading, "label": label, "xmin": float(x0), "ymin": float(y0),
                      "xmax": float(x0 + 30), "ymax": float(y0 + 25), "certainty": 4})
    pd.DataFrame(rows, columns=list(COHORT_COLUMNS)).to_csv(folder / "cohort.csv", index=False)
    pd.DataFrame(boxes, columns=list(BOX_COLUMNS)).to_csv(folder / "boxes.csv", index=False)
    return folder


@pytest.fixture
def tiny_cohort(tmp_path):
    return write_tiny_cohort(tmp_path / "cohort")


def tiny_config(cohort, variant="mdf", epochs=2, **train_kw):
    """The fast preset at 64 px on ``cohort``."""
    return apply_overrides(preset("fast"), {
        "model": {"variant": variant, "image_size": 64},
        "data": {"cohort": str(cohort)},
        "train": {"epochs": epochs, "batch_size": 4, "warmup_iters": 2, **train_kw},
    })


@pytest.fixture(scope="session")
def make_config():
    return tiny_config


@pytest.fixture(scope="session")
def cohort_writer():
    return write_tiny_cohort


@pytest.fixture(scope="session")
def untrained_run(tmp_path_factory):
    """(run folder, cohort folder) of one epoch on the tiny cohort, every detection kept (score cut 0):
    an untrained model still gives 10 boxes per image to explain, serve and read off a page."""
    from mdfnet.engine.train import train

    root = tmp_path_factory.mktemp("untrained_run")
    cohort = write_tiny_cohort(root / "cohort")
    cfg = tiny_config(cohort, epochs=1)
    cfg.model.box_score_thresh = 0.0
    train(cfg, root / "run", log=lambda *_: None)
    return root / "run", cohort


@pytest.fixture
def one_thread():
    """One torch thread: on a busy 2-core machine two threads per process slow training tests ten-fold."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cut_after_first_epoch(monkeypatch):
    """``cut(train_fn, cfg, run_dir)``: train epoch 1 of ``cfg``'s schedule with ``train_fn`` (``train`` or a
    caller of it), then stop, as a run killed during epoch 2 would."""
    engine = importlib.import_module("mdfnet.engine.train")
    real = engine._train_epoch

    def cut(train_fn, cfg, run_dir) -> None:
        calls = []

        def stop_after_one(*args, **kwargs):
            if calls:
                raise KeyboardInterrupt
            calls.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(engine, "_train_epoch", stop_after_one)
        with pytest.raises(KeyboardInterrupt):
            train_fn(cfg, run_dir, log=lambda *_: None)
        monkeypatch.setattr(engine, "_train_epoch", real)

    return cut
