"""DDP through torchrun: two CPU processes on the gloo backend train one run together."""

import os
import subprocess
import sys

import pytest
import torch

from mdfnet.engine.checkpoint import load_checkpoint
from mdfnet.metrics.keys import SELECTABLE


def test_torchrun_two_cpu_processes(tiny_cohort, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "mdfnet", "train", "--preset", "fast", "--cohort", str(tiny_cohort), "--variant", "mdf",
           "--out", str(out), "model.image_size=64", "train.epochs=1", "train.batch_size=2", "train.device=cpu"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1
    # the DDP wrapper is not saved: keys are the bare model's
    assert not any(k.startswith("module.") for k in state["model"])
    (row,) = state["history"]
    assert torch.isfinite(torch.tensor(row["loss"])) and row["loss"] > 0
    # each rank took 8 train readings / 2 ranks / batch 2 = 2 steps (the sampler shards the data): the
    # warm-up of the fast preset (lr 0.02, 100 steps) stands at step 2, not at step 4
    assert row["lr"] == pytest.approx(0.02 * 3 / 100)
    assert {f"val_{k}" for k in SELECTABLE} <= set(row)  # rank 0 validated
    assert done.stdout.count("epoch 1/1") == 1  # only rank 0 logs
