"""Training: a config and a cohort in, a run folder with checkpoints and an epoch log out.

One process::

    mdfnet train --cohort COHORT --variant mdf --out runs/mdf [--preset fast] [train.epochs=3 ...]

Several GPUs or CPU processes (DDP; gloo on CPU, NCCL on CUDA)::

    torchrun --nproc_per_node 2 -m mdfnet train --cohort COHORT --variant mdf --out runs/mdf

The run folder holds ``config.yaml`` (resolved), ``provenance.json`` (versions, git revision),
``metrics.csv`` (one row per epoch: every loss term, validation AP/AR at IoBB 0.5, seconds),
``last.pt`` (every epoch, for ``--resume``) and ``best.pt`` (best validation AP at IoBB 0.5; the
test split is never looked at here). Each epoch reseeds from ``(seed, epoch)``, so a resumed run ends
with the same weights as an uninterrupted one on CPU.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from mdfnet.config import Config, config_from_dict, save_config
from mdfnet.data.cohort import load_cohort, load_schema
from mdfnet.data.dataset import CohortDataset, collate
from mdfnet.engine.checkpoint import load_checkpoint, save_checkpoint
from mdfnet.engine.evaluate import evaluate_model
from mdfnet.engine.runtime import init_distributed, is_main_process, pick_device, provenance, seed_everything
from mdfnet.errors import InputError
from mdfnet.model import build_from_config, fit_statistics
from mdfnet.model.loss import LOSS_TERMS


class TrainingDiverged(RuntimeError):
    """A non-finite loss: the run stops, ``last.pt`` still holds the last good epoch."""


def train(cfg: Config, out_dir: str | Path, *, resume: bool = False, log=print, progress: bool = True) -> dict:
    """Train one model; returns ``{"best_epoch", "best_<metric>", "epochs"}``.

    ``log`` receives one line per epoch (and a few per epoch when stderr is not a terminal); ``progress``
    shows a tqdm bar with loss and ETA when stderr is a terminal.
    """
    out = Path(out_dir)
    if resume:
        if not (out / "last.pt").is_file():
            raise InputError(f"cannot resume: {out / 'last.pt'} does not exist")
        state = load_checkpoint(out / "last.pt")
        cfg = config_from_dict(state["config"])  # the run's own config wins
    elif (out / "last.pt").exists():
        raise InputError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if not cfg.data.cohort:
        raise InputError("no cohort given: pass --cohort DIR (a folder written by `mdfnet prepare`)")
    device = pick_device(cfg.train.device)
    rank, world = init_distributed(device)
    seed_everything(cfg.train.seed)

    frame, boxes = load_cohort(cfg.data.cohort)
    schema = load_schema(cfg.data.cohort)  # classes and clinical columns: saved in every checkpoint
    cfg = with_features(cfg, schema)
    S = cfg.model.image_size
    train_set = CohortDataset((frame, boxes), "train", S, train=True, hflip_p=cfg.data.hflip_p, masks=_masks(cfg),
                              schema=schema)
    val_set = CohortDataset((frame, boxes), "val", S, schema=schema)
    if len(train_set) == 0 or len(val_set) == 0:
        raise InputError(f"{cfg.data.cohort}: need readings in both train ({len(train_set)}) and val ({len(val_set)})")

    with warnings.catch_warnings():
        if resume:
            warnings.filterwarnings("ignore", message=".*no pretrained weights")
        model = build_from_config(cfg.model, schema)
    if model.clinical_encoder is not None:  # scaler fitted on the train split only
        model.clinical_encoder.set_statistics(*fit_statistics(train_set.clinical, len(schema.numeric)))
    model.to(device)
    optimizer = _optimizer(cfg, model)
    sampler = DistributedSampler(train_set, world, rank, seed=cfg.train.seed) if world > 1 else None
    loader_gen = torch.Generator()
    loader = DataLoader(train_set, batch_size=cfg.train.batch_size, shuffle=sampler is None, sampler=sampler,
                        collate_fn=collate, num_workers=cfg.data.num_workers, generator=loader_gen, drop_last=False)
    scheduler = _scheduler(cfg, optimizer, cfg.train.epochs * len(loader))
    scaler = torch.amp.GradScaler(enabled=cfg.train.amp and device.type == "cuda")
    history: list[dict] = []
    best, start_epoch = -math.inf, 1
    if resume:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler.is_enabled() and state.get("grad_scaler"):  # AMP's loss scale continues where it was
            scaler.load_state_dict(state["grad_scaler"])
        history, best, start_epoch = list(state["history"]), float(state["best"]), int(state["epoch"]) + 1
        log(f"resuming {out} at epoch {start_epoch}/{cfg.train.epochs}")
    net = DistributedDataParallel(model) if world > 1 else model

    if is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        (out / "provenance.json").write_text(json.dumps(provenance(), indent=2))
    metric = cfg.train.select_metric
    for epoch in range(start_epoch, cfg.train.epochs + 1):
        epoch_seed = cfg.train.seed * 100_003 + epoch
        seed_everything(epoch_seed)
        loader_gen.manual_seed(epoch_seed)
        if sampler is not None:
            sampler.set_epoch(epoch)
        tic = time.perf_counter()
        terms = _train_epoch(net, loader, optimizer, scheduler, scaler, device, cfg, epoch, log, progress)
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **terms}
        if is_main_process() and (epoch % cfg.train.eval_every == 0 or epoch == cfg.train.epochs):
            metrics, _ = evaluate_model(model, val_set, boxes, device, count_threshold=None)  # no counts needed
            row.update({f"val_{k}": metrics[k] for k in ("AP_IoBB_0.50", "AR_IoBB_0.50", "AP_IoBB_mean")})
        row["seconds"] = round(time.perf_counter() - tic, 2)
        history.append(row)
        if is_main_process():
            score = row.get(f"val_{metric}", -math.inf)
            score = -math.inf if score is None or math.isnan(score) else score
            improved = score > best
            best = max(best, score)
            extra = dict(epoch=epoch, best=best, history=history, optimizer=optimizer.state_dict(),
                         scheduler=scheduler.state_dict(), grad_scaler=scaler.state_dict())
            if improved:
                save_checkpoint(out / "best.pt", model, cfg, epoch=epoch, best=best)
            save_checkpoint(out / "last.pt", model, cfg, **extra)
            _write_history(out / "metrics.csv", history)
            log(_epoch_line(row, cfg.train.epochs, metric, improved))
        if world > 1:
            dist.barrier()
    best_row = max((r for r in history if f"val_{metric}" in r), key=lambda r: r[f"val_{metric}"], default={})
    return {"best_epoch": best_row.get("epoch"), f"best_{metric}": best_row.get(f"val_{metric}"),
            "epochs": len(history)}


def _train_epoch(net, loader, optimizer, scheduler, scaler, device, cfg: Config, epoch: int, log,
                 progress: bool = True) -> dict:
    net.train()
    sums: dict[str, float] = {}
    bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.train.epochs}", leave=False, dynamic_ncols=True,
               disable=not (progress and sys.stderr.isatty() and is_main_process()))
    report_every = max(1, len(loader) // 4)
    for step, (images, clinical, targets) in enumerate(bar, start=1):
        images, clinical = images.to(device), clinical.to(device)
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        with torch.autocast(device.type, enabled=scaler.is_enabled()):
            losses = net(images, clinical, targets)
        loss = losses["loss"]
        if not torch.isfinite(loss):
            ids = [int(t["image_id"]) for t in targets]
            raise TrainingDiverged(f"non-finite loss at epoch {epoch}, batch {step} (image_ids {ids}): "
                                   f"{ {k: float(v.detach()) for k, v in losses.items()} }; "
                                   f"last.pt holds the last good epoch ({epoch - 1})")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.train.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.train.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        bar.set_postfix(loss=f"{sums['loss'] / step:.3f}")
        if progress and bar.disable and is_main_process() and step % report_every == 0 and step < len(loader):
            log(f"  epoch {epoch} batch {step}/{len(loader)} loss {sums['loss'] / step:.4f}")
    return {k: sums[k] / len(loader) for k in ("loss", *LOSS_TERMS) if k in sums}


def _optimizer(cfg: Config, model: torch.nn.Module) -> torch.optim.Optimizer:
    t = cfg.train
    params = [p for p in model.parameters() if p.requires_grad]
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    raise InputError(f"unknown train.optimizer {t.optimizer!r}; expected sgd or adamw")


def _scheduler(cfg: Config, optimizer, total_iters: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration factor: linear warm-up, then constant or cosine decay to zero."""
    warmup, kind = cfg.train.warmup_iters, cfg.train.lr_schedule
    if kind not in ("constant", "cosine"):
        raise InputError(f"unknown train.lr_schedule {kind!r}; expected constant or cosine")

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / warmup
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warmup) / max(1, total_iters - warmup))))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def with_features(cfg: Config, schema) -> Config:
    """``cfg`` with ``model.clinical_features`` spelled out (None = all of the schema's), checked against it."""
    features = schema.select(cfg.model.clinical_features)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, clinical_features=features))


def _masks(cfg: Config) -> str | None:
    if cfg.model.mask_head and cfg.data.masks is None:
        return "box"  # the authors' choice: filled box rectangles
    if cfg.data.masks is not None and not cfg.model.mask_head:
        raise InputError(f"data.masks={cfg.data.masks} needs model.mask_head=true")
    return cfg.data.masks


def _write_history(path: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(path)


def _epoch_line(row: dict, epochs: int, metric: str, improved: bool) -> str:
    val = f" val {metric} {row[f'val_{metric}']:.4f}" if f"val_{metric}" in row else ""
    ar = f" AR {row['val_AR_IoBB_0.50']:.4f}" if "val_AR_IoBB_0.50" in row else ""
    return f"epoch {row['epoch']}/{epochs} loss {row['loss']:.4f}{val}{ar} ({row['seconds']:.0f} s){' *' if improved else ''}"
