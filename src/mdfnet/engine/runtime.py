"""Where a run executes: device choice, seeding, ``torchrun`` process groups, and the run's provenance."""

from __future__ import annotations

import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` = CUDA when present (this process's local rank under torchrun), else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group when launched by ``torchrun`` (gloo on CPU, NCCL on CUDA) -> (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size()


def is_main_process() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def device_name(device: torch.device) -> str:
    """What a run executed on, for its provenance: the GPU's name, or the CPU's (``cpu (x86_64)``)."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"{device.type} ({platform.processor() or platform.machine() or 'unknown'})"


def provenance() -> dict[str, str]:
    """Package versions, platform and git revision, written next to every run."""
    from mdfnet import __version__

    return {
        "mdfnet": __version__, "torch": torch.__version__, "torchvision": _version("torchvision"),
        "numpy": np.__version__, "pandas": _version("pandas"), "python": platform.python_version(),
        "platform": platform.platform(), "git_revision": _git_revision(),
        "cuda": torch.version.cuda or "none", "threads": str(torch.get_num_threads()),
    }


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (out.stdout.strip() + ("-dirty" if dirty else "")) if out.returncode == 0 else "unknown"
