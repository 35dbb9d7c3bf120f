"""Training: a config and a cohort in, a run folder with checkpoints and an epoch log out.

One process::

    mdfnet train --cohort COHORT --variant mdf --out runs/mdf [--preset fast] [train.epochs=3 ...]

Several GPUs or CPU processes (DDP; gloo on CPU, NCCL on CUDA)::

    torchrun --nproc_per_node 2 -m mdfnet train --cohort COHORT --variant mdf --out runs/mdf

Fine-tuning another run's network (new optimiser and schedule, clinical statistics refitted here:
:mod:`mdfnet.engine.finetune`)::

    mdfnet train --cohort NEW_COHORT --variant mdf --out runs/tuned train.init_from=runs/mdf/best.pt

The run folder (:class:`~mdfnet.layout.RunLayout`) holds ``config.yaml`` (resolved), ``anchors.json`` (the
anchors in pixels, fitted to the training boxes for ``model.anchor_sizes=auto``, and their recall of those
boxes; none for the anchor-free FCOS), ``provenance.json``
(versions, git revision), ``metrics.csv`` (one row per epoch: the detector's loss terms, the validation metrics of
:data:`~mdfnet.metrics.keys.SELECTABLE`, seconds), ``last.pt`` (every epoch, for ``--resume``) and
``best.pt`` (best validation ``train.select_metric``, AP at IoBB 0.5 by default; the test split is never
looked at here), and at the end ``MODEL_CARD.md`` / ``model_card.json`` (:mod:`mdfnet.engine.card`). Each
epoch reseeds from ``(seed, epoch)``, so a resumed run ends with the same weights as an uninterrupted one on CPU.

:func:`train` is a short sequence of steps, each a function of its own: start or resume, datasets, model,
optimisation, then per epoch :func:`train_epoch` (with validation) and :func:`save_epoch`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from mdfnet.config import PATH_SETTINGS, Config, config_from_dict, save_config, validate_config
from mdfnet.data.augment import ClinicalJitter, Jitter
from mdfnet.data.cohort import load_cohort, load_schema
from mdfnet.data.dataset import CohortDataset, collate
from mdfnet.engine.card import write_model_card
from mdfnet.engine.checkpoint import INIT_FROM_KEY, anchors_from_checkpoint, load_checkpoint, save_checkpoint
from mdfnet.engine.evaluate import validation_metrics
from mdfnet.engine.finetune import lineage, load_weights, source_checkpoint
from mdfnet.engine.runtime import (device_name, init_distributed, is_main_process, pick_device, provenance,
                                   seed_everything)
from mdfnet.errors import InputError
from mdfnet.layout import RunLayout
from mdfnet.metrics.keys import AR_50, split_key
from mdfnet.model import build_from_config, fit_medians, fit_statistics, is_clinical_parameter
from mdfnet.model.anchors import Anchors, anchor_recall, resolve_anchors
from mdfnet.model.build import DETECTORS, check_model_config, feature_strides


class TrainingDiverged(RuntimeError):
    """A non-finite loss: the run stops, ``last.pt`` still holds the last good epoch."""


@dataclass
class Progress:
    """Where a run stands: the epoch rows so far, the best validation score and the next epoch."""

    history: list[dict] = field(default_factory=list)
    best: float = -math.inf
    next_epoch: int = 1


@dataclass
class Optimisation:
    """What one optimisation step needs, and the data order it walks through."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loader: DataLoader
    generator: torch.Generator                 # reseeded each epoch: the shuffle order
    sampler: DistributedSampler | None = None  # under torchrun


def train(cfg: Config, out_dir: str | Path, *, resume: bool = False, log=print, progress: bool = True) -> dict:
    """Train one model; returns ``{"best_epoch", "best_<metric>", "epochs"}``.

    ``log`` receives one line per epoch (and a few per epoch when stderr is not a terminal); ``progress``
    shows a tqdm bar with loss and ETA when stderr is a terminal.
    """
    run = RunLayout(out_dir)
    cfg, saved = start_or_resume(cfg, run, resume)
    device = pick_device(cfg.train.device)
    rank, world = init_distributed(device)
    seed_everything(cfg.train.seed)
    boxes, train_set, val_set = datasets(cfg)
    cfg = with_features(cfg, train_set.schema)  # None = all of the cohort's features, spelled out
    model, source = start_network(cfg, run, train_set, saved, log)
    model.to(device)
    medians = fit_medians(train_set.clinical, len(train_set.schema.numeric)).tolist()  # stored for explanations
    origin = _origin(cfg, source, saved)
    opt = optimisation(cfg, model, train_set, device, rank, world)
    state = Progress() if saved is None else restore(saved, model, opt)
    if saved is not None:
        log(f"resuming {run.root} at epoch {state.next_epoch}/{cfg.train.epochs}")
    elif source is not None:
        log(f"starting from the weights of {origin['checkpoint']} (epoch {origin['epoch']})")
    net = DistributedDataParallel(model) if world > 1 else model
    if is_main_process():
        write_run_files(cfg, run, device, origin)
    for epoch in range(state.next_epoch, cfg.train.epochs + 1):
        row = train_epoch(net, model, opt, cfg, epoch, device, val_set, boxes, log, progress)
        state.history.append(row)
        if is_main_process():
            improved = save_epoch(run, model, cfg, opt, state, row, medians, origin)
            log(_epoch_line(row, cfg.train.epochs, cfg.train.select_metric, improved))
        if world > 1:
            dist.barrier()
    if is_main_process():
        write_model_card(run)
    return summary(state.history, cfg.train.select_metric)


def start_or_resume(cfg: Config, run: RunLayout, resume: bool) -> tuple[Config, dict | None]:
    """``(cfg, None)`` for a new run, ``(the run's own config, last.pt)`` to resume; refuses to overwrite a run."""
    if resume:
        if not run.last.is_file():
            raise InputError(f"cannot resume: {run.last} does not exist")
        saved = load_checkpoint(run.last)
        cfg = config_from_dict(saved["config"])  # the run's own config wins
    elif run.last.exists():
        raise InputError(f"{run.root} already holds a run; pass --resume to continue it or choose another --out")
    else:
        saved = None
    check_model_config(cfg.model)  # before anything is read or written
    if not cfg.data.cohort:
        raise InputError("no cohort given: pass --cohort DIR (a folder written by `mdfnet prepare`)")
    # a Config built in Python skipped load-time validation: bad settings stop here (a resumed run's weights
    # are in last.pt: the checkpoint it started from may be gone)
    validate_config(cfg, [p for p in PATH_SETTINGS if not (resume and p == "train.init_from")])
    return cfg, saved


def datasets(cfg: Config) -> tuple[pd.DataFrame, CohortDataset, CohortDataset]:
    """``(boxes, train set, validation set)`` of the cohort; both splits must hold readings."""
    frame, boxes = load_cohort(cfg.data.cohort)
    schema = load_schema(cfg.data.cohort)  # classes and clinical columns (each set keeps it): in every checkpoint
    size = cfg.model.image_size
    d = cfg.data
    train_set = CohortDataset((frame, boxes), "train", size, train=True, hflip_p=d.hflip_p, masks=_masks(cfg),
                              schema=schema, jitter=Jitter(d.scale_jitter, d.shift_jitter, d.intensity_jitter))
    _, train_std = fit_statistics(train_set.clinical, len(schema.numeric))  # noise in train-split sd units
    train_set.clinical_jitter = ClinicalJitter(d.clinical_noise, d.clinical_dropout, train_std,
                                               d.clinical_record_dropout)
    val_set = CohortDataset((frame, boxes), "val", size, schema=schema)
    if len(train_set) == 0 or len(val_set) == 0:
        raise InputError(f"{cfg.data.cohort}: need readings in both train ({len(train_set)}) and val ({len(val_set)})")
    return boxes, train_set, val_set


def start_network(cfg: Config, run: RunLayout, train_set: CohortDataset, saved: dict | None,
                  log=print) -> tuple[torch.nn.Module, dict | None]:
    """``(model, source)``: the network to train on its anchors (last.pt's to resume, else the ``train.init_from``
    checkpoint's, else fitted and recorded in ``anchors.json``), started from ``source``, the loaded
    ``train.init_from`` checkpoint (checked against this network; None without one or when resuming)."""
    source = source_checkpoint(cfg, train_set.schema) if saved is None else None
    network = saved if saved is not None else source  # a checkpoint whose anchors this run keeps, if any
    given = None if network is None else anchors_from_checkpoint(network)
    anchors = given if saved is not None else _fit_anchors(cfg, train_set, given)
    model = build_model(cfg, train_set, anchors, quiet=saved is not None, init=source)
    if saved is None and anchors is not None and is_main_process():
        _record_anchors(run, anchors, log)
    return model, source


def build_model(cfg: Config, train_set: CohortDataset, anchors: Anchors | None = None,
                quiet: bool = False, init: dict | None = None) -> torch.nn.Module:
    """The detector ``cfg.model`` describes on ``anchors`` (:func:`_fit_anchors`'s, or the checkpoint's), with
    the weights of the checkpoint ``init`` (``train.init_from``, :mod:`mdfnet.engine.finetune`) when given,
    its clinical scaler fitted on the train split only.

    ``quiet`` hides the "no pretrained weights" warning (a resumed run's weights come from last.pt).
    """
    model_cfg = cfg.model if init is None else dataclasses.replace(cfg.model, pretrained_backbone=None)
    with warnings.catch_warnings():
        if quiet or init is not None:
            warnings.filterwarnings("ignore", message=".*no pretrained weights")
        model = build_from_config(model_cfg, anchors, train_set.schema)
    if init is not None:
        load_weights(model, init, cfg, cfg.train.init_from)
    if model.clinical_encoder is not None:
        model.clinical_encoder.set_statistics(*fit_statistics(train_set.clinical, len(train_set.schema.numeric)))
    return model


def optimisation(cfg: Config, model: torch.nn.Module, train_set: CohortDataset, device: torch.device,
                 rank: int = 0, world: int = 1) -> Optimisation:
    """Optimizer, per-iteration schedule, AMP scaler and the shuffled train loader (sharded under DDP)."""
    optimizer = _optimizer(cfg, model)
    sampler = DistributedSampler(train_set, world, rank, seed=cfg.train.seed) if world > 1 else None
    generator = torch.Generator()
    loader = DataLoader(train_set, batch_size=cfg.train.batch_size, shuffle=sampler is None, sampler=sampler,
                        collate_fn=collate, num_workers=cfg.data.num_workers, generator=generator, drop_last=False)
    scheduler = _scheduler(cfg, optimizer, cfg.train.epochs * len(loader))
    scaler = torch.amp.GradScaler(enabled=cfg.train.amp and device.type == "cuda")
    return Optimisation(optimizer, scheduler, scaler, loader, generator, sampler)


def restore(saved: dict, model: torch.nn.Module, opt: Optimisation) -> Progress:
    """Load ``last.pt``'s weights and optimisation state; return where the run stood."""
    model.load_state_dict(saved["model"])
    opt.optimizer.load_state_dict(saved["optimizer"])
    opt.scheduler.load_state_dict(saved["scheduler"])
    if opt.scaler.is_enabled() and saved.get("grad_scaler"):  # AMP's loss scale continues where it was
        opt.scaler.load_state_dict(saved["grad_scaler"])
    return Progress(list(saved["history"]), float(saved["best"]), int(saved["epoch"]) + 1)


def write_run_files(cfg: Config, run: RunLayout, device: torch.device | None = None,
                    origin: dict | None = None) -> None:
    """``config.yaml`` and ``provenance.json`` (versions, git revision, the device, and for a fine-tuned run
    the checkpoint it started from), next to the checkpoints."""
    run.root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run.config)
    record = {**provenance(), "device": device_name(device or torch.device("cpu")), INIT_FROM_KEY: origin}
    run.provenance.write_text(json.dumps(record, indent=2))


def train_epoch(net, model, opt: Optimisation, cfg: Config, epoch: int, device: torch.device,
                val_set: CohortDataset, boxes: pd.DataFrame, log=print, progress: bool = True) -> dict:
    """One epoch, reseeded from ``(seed, epoch)`` so that a resumed run repeats it exactly, then (on the
    main process, every ``eval_every`` epochs and at the last) validation. Returns the epoch's row."""
    epoch_seed = cfg.train.seed * 100_003 + epoch
    seed_everything(epoch_seed)
    opt.generator.manual_seed(epoch_seed)
    if opt.sampler is not None:
        opt.sampler.set_epoch(epoch)
    tic = time.perf_counter()
    terms = _train_epoch(net, opt.loader, opt.optimizer, opt.scheduler, opt.scaler, device, cfg, epoch, log, progress)
    row = {"epoch": epoch, "lr": opt.optimizer.param_groups[0]["lr"], **terms}
    if is_main_process() and (epoch % cfg.train.eval_every == 0 or epoch == cfg.train.epochs):
        metrics = validation_metrics(model, val_set, boxes, device)
        row.update({split_key(key, "val"): value for key, value in metrics.items()})
    row["seconds"] = round(time.perf_counter() - tic, 2)
    return row


def save_epoch(run: RunLayout, model: torch.nn.Module, cfg: Config, opt: Optimisation, state: Progress,
               row: dict, medians: list[float] | None = None, origin: dict | None = None) -> bool:
    """Write ``best.pt`` when the selected metric improved, ``last.pt`` and ``metrics.csv``; True if improved.
    ``medians``: the train split's clinical medians, kept in both checkpoints for explanations; ``origin``:
    a fine-tuned run's source checkpoint (:func:`mdfnet.engine.finetune.lineage`), kept in both too."""
    score = row.get(split_key(cfg.train.select_metric, "val"), -math.inf)
    score = -math.inf if score is None or math.isnan(score) else score
    improved = score > state.best
    state.best = max(state.best, score)
    extra = {} if origin is None else {INIT_FROM_KEY: origin}
    if improved:
        save_checkpoint(run.best, model, cfg, epoch=row["epoch"], best=state.best, clinical_median=medians, **extra)
    save_checkpoint(run.last, model, cfg, epoch=row["epoch"], best=state.best, history=state.history,
                    clinical_median=medians, **extra,
                    optimizer=opt.optimizer.state_dict(), scheduler=opt.scheduler.state_dict(),
                    grad_scaler=opt.scaler.state_dict())
    _write_history(run.history, state.history)
    return improved


def summary(history: list[dict], metric: str) -> dict:
    """``{"best_epoch", "best_<metric>", "epochs"}`` from the epoch rows."""
    column = split_key(metric, "val")
    best_row = max((r for r in history if column in r), key=lambda r: r[column], default={})
    return {"best_epoch": best_row.get("epoch"), f"best_{metric}": best_row.get(column), "epochs": len(history)}


def _fit_anchors(cfg: Config, train_set: CohortDataset, given: Anchors | None = None) -> Anchors | None:
    """Resolve ``model.anchor_sizes`` on the training boxes (or take ``given``, a fine-tuned run's source
    anchors) and measure their recall of those boxes. The checkpoints keep the result, so every later build
    (evaluate, predict, resume) makes the same network. None for an anchor-free detector (FCOS)."""
    m = cfg.model
    if not DETECTORS[m.detector].uses_anchors:
        return None
    boxes = train_set.resized_boxes()
    anchors = given or resolve_anchors(m.anchor_sizes, m.aspect_ratios, m.image_size, boxes=boxes,
                                       one_per_level=m.fpn)
    recall = anchor_recall(boxes, anchors.sizes, anchors.ratios, m.image_size, feature_strides(m))
    return dataclasses.replace(anchors, recall=round(recall, 4), boxes=len(boxes))


def _record_anchors(run: RunLayout, anchors: Anchors, log) -> None:
    """Save ``anchors.json`` and log the anchors' recall of the training boxes."""
    run.root.mkdir(parents=True, exist_ok=True)
    run.anchors.write_text(json.dumps(anchors.to_dict(), indent=2) + "\n")
    log(f"anchors ({anchors.mode}): sizes {list(anchors.sizes)} px, ratios {list(anchors.ratios)}; "
        f"{100 * anchors.recall:.0f} % of the {anchors.boxes} training boxes have an anchor at IoU >= 0.5")


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
    return {k: sums[k] / len(loader) for k in ("loss", *(k for k in sums if k != "loss"))}  # the detector's terms


def _sgd(params, t) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)


def _adamw(params, t) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)


# `train.optimizer` names -> builder(trainable parameters, TrainConfig); `train.lr_schedule` names
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {"sgd": _sgd, "adamw": _adamw}
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def _optimizer(cfg: Config, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimiser over the trainable parameters; with ``train.clinical_weight_decay`` set, the clinical path's
    parameters (:func:`~mdfnet.model.clinical.is_clinical_parameter`) form a second group with that decay."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = cfg.train.clinical_weight_decay
    if decay is None:
        return OPTIMIZERS[cfg.train.optimizer]([p for _, p in trainable], cfg.train)
    groups = [{"params": [p for n, p in trainable if not is_clinical_parameter(n)]},
              {"params": [p for n, p in trainable if is_clinical_parameter(n)], "weight_decay": decay}]
    return OPTIMIZERS[cfg.train.optimizer]([g for g in groups if g["params"]], cfg.train)


def _scheduler(cfg: Config, optimizer, total_iters: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration factor: linear warm-up, then constant or cosine decay to zero."""
    warmup, kind = cfg.train.warmup_iters, cfg.train.lr_schedule

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / warmup
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warmup) / max(1, total_iters - warmup))))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _origin(cfg: Config, source: dict | None, saved: dict | None) -> dict | None:
    """Where the run's weights started: the ``init_from`` checkpoint's lineage (a resumed run's from last.pt)."""
    if saved is not None:
        return saved.get(INIT_FROM_KEY)
    return None if source is None else lineage(source, cfg.train.init_from)


def with_features(cfg: Config, schema) -> Config:
    """``cfg`` with ``model.clinical_features`` spelled out (None = all of the schema's), checked against it."""
    features = schema.select(cfg.model.clinical_features)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, clinical_features=features))


def _masks(cfg: Config) -> str | None:
    """The dataset's mask kind: box masks when the mask head is on and none was named (the authors' choice)."""
    return "box" if cfg.model.mask_head and cfg.data.masks is None else cfg.data.masks


def _write_history(path: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    tmp.replace(path)


def _epoch_line(row: dict, epochs: int, metric: str, improved: bool) -> str:
    column, ar_column = split_key(metric, "val"), split_key(AR_50, "val")
    val = f" val {metric} {row[column]:.4f}" if column in row else ""
    ar = f" AR {row[ar_column]:.4f}" if ar_column in row else ""
    return f"epoch {row['epoch']}/{epochs} loss {row['loss']:.4f}{val}{ar} ({row['seconds']:.0f} s){' *' if improved else ''}"
