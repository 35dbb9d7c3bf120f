"""DDP through torchrun: two CPU processes on the gloo backend train one run together."""

import os
import subprocess
import sys

import torch

from mdfnet.engine.checkpoint import load_checkpoint


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
    assert torch.isfinite(torch.tensor(state["history"][0]["loss"]))
    assert done.stdout.count("epoch 1/1") == 1  # only rank 0 logs
