"""A run's model card: ``MODEL_CARD.md`` and the same as ``model_card.json``, next to its checkpoints.

In the spirit of a MONAI bundle's ``metadata.json``: what the network is, what it reads, what it learnt from,
how well it did, how it was made, and who may use it. :func:`write_model_card` (re)writes both files from the
run folder alone, atomically: ``train`` at its end (the validation scores of the selected checkpoint), and
``mdfnet evaluate`` (and a study's runner) after each evaluation, adding that split's metrics with their 95 %
patient-bootstrap intervals. The JSON (format :data:`CARD_FORMAT`) holds:

- ``run``, ``checkpoint`` (``best.pt``, or ``last.pt`` when validation never selected one), ``epoch``;
- ``model``: variant, detector, backbone and their labels, the anchors in pixels;
- ``settings``: ``preset`` (the preset the config differs least from) and ``changed``, every setting that
  differs from it (``{"setting", "value", "preset"}``);
- ``input``: the image contract and each clinical feature (kind, unit and range where MIMIC's cleaning rules
  give them, categories, whether the model reads it, how a missing value is handled);
- ``classes`` (label ids from 1), ``cohort`` (folder, format, readings and patients per split);
- ``metrics``: ``selected_on``, ``validation`` (the checkpoint's epoch row of ``metrics.csv``) and
  ``evaluations`` (per split, numbers copied from its ``metrics.json``);
- ``training``: epochs, seconds, and ``provenance.json`` (device, versions, threads, git revision);
- ``init_from`` (a fine-tuned run's source checkpoint, or null) and ``data_use`` (the licence notice).
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from mdfnet.config import PRESETS, SECTIONS, Config, config_from_dict, preset
from mdfnet.data.clean import UNITS, plausible_range
from mdfnet.data.cohort import load_cohort
from mdfnet.engine.checkpoint import INIT_FROM_KEY, load_checkpoint
from mdfnet.errors import InputError
from mdfnet.feature_schema import MIMIC_SCHEMA, CohortSchema
from mdfnet.layout import METRICS_FILE, RunLayout
from mdfnet.metrics.keys import AP_50, AR_50, ci_key, metric_key, split_key
from mdfnet.model import DETECTORS, VARIANTS
from mdfnet.schema import SPLITS

CARD_FORMAT = 1
# What the card copies from an evaluation's metrics.json, each with its interval where it has one.
CARD_METRICS: tuple[str, ...] = (AP_50, AR_50, metric_key("AP", None), metric_key("AR", None), metric_key("mFROC"))
MIMIC_NOTICE = ("Weights trained on MIMIC data (MIMIC-CXR, MIMIC-IV, MIMIC-IV-ED, REFLACX) fall under the "
                "PhysioNet Credentialed Health Data Use Agreement: do not share them, or anything derived from "
                "them, with anyone outside it. (A cohort prepared from `mdfnet synth` output holds no patient data.)")
OTHER_NOTICE = ("This cohort was not prepared from MIMIC (`mdfnet prepare --coco`): the licence of the dataset it "
                "was built from applies to these weights; check it before sharing them.")
IMAGE_FORMATS: tuple[str, ...] = ("DICOM", "JPEG", "PNG")


def write_model_card(run_dir: str | Path | RunLayout) -> dict[str, Any]:
    """(Re)write the run's ``MODEL_CARD.md`` and ``model_card.json``; returns the card."""
    run = run_dir if isinstance(run_dir, RunLayout) else RunLayout(run_dir)
    card = model_card(run)
    _write_atomic(run.model_card_json, json.dumps(card, indent=2) + "\n")
    _write_atomic(run.model_card, card_markdown(card))
    return card


def model_card(run: RunLayout) -> dict[str, Any]:
    """The card of the run's selected checkpoint (see the module docstring for its fields)."""
    checkpoint = run.selected_checkpoint()
    state = load_checkpoint(run.checkpoint(checkpoint))
    cfg = config_from_dict(state["config"])
    schema = CohortSchema.from_dict(state["schema"], "checkpoint schema") if "schema" in state else MIMIC_SCHEMA
    history = _history(run.history)
    return {
        "format": CARD_FORMAT, "run": str(run.root), "checkpoint": run.checkpoint(checkpoint).name,
        "epoch": state.get("epoch"), "model": _model(cfg, state), "settings": _settings(cfg, schema),
        "input": _inputs(cfg, schema), "classes": [{"id": i, "name": c} for c, i in schema.class_to_id.items()],
        "cohort": _cohort(cfg, schema), "metrics": _metrics(run, cfg, history, state.get("epoch")),
        "training": _training(run, history), "init_from": state.get(INIT_FROM_KEY),
        "data_use": _data_use(schema),
    }


def _data_use(schema: CohortSchema) -> dict[str, Any]:
    """MIMIC's credentialed data use agreement for a MIMIC cohort (no ``schema.json``); else the dataset's licence."""
    mimic = schema == MIMIC_SCHEMA
    return {"mimic": mimic, "notice": MIMIC_NOTICE if mimic else OTHER_NOTICE}


def _model(cfg: Config, state: dict) -> dict[str, Any]:
    m = cfg.model
    return {"variant": m.variant, "variant_label": VARIANTS[m.variant].label, "detector": m.detector,
            "detector_label": DETECTORS[m.detector].label, "backbone": m.backbone, "fpn": m.fpn,
            "anchors": state.get("anchors")}


def _settings(cfg: Config, schema: CohortSchema) -> dict[str, Any]:
    """The preset the config differs least from (the first on a tie), and every setting that differs."""
    diffs = {name: _changed(cfg, preset(name), schema) for name in PRESETS}
    name = min(diffs, key=lambda n: len(diffs[n]))
    return {"preset": name, "changed": diffs[name]}


def _changed(cfg: Config, base: Config, schema: CohortSchema) -> list[dict[str, Any]]:
    base.model.clinical_features = schema.select(base.model.clinical_features)  # None = all, as a run spells it
    out = []
    for section in SECTIONS:
        for spec in fields(getattr(cfg, section)):
            value, default = getattr(getattr(cfg, section), spec.name), getattr(getattr(base, section), spec.name)
            if value != default:
                out.append({"setting": f"{section}.{spec.name}", "value": value, "preset": default})
    return out


def _inputs(cfg: Config, schema: CohortSchema) -> dict[str, Any]:
    m, size = cfg.model, cfg.model.image_size
    image = {"formats": list(IMAGE_FORMATS), "size": [size, size],
             "contract": f"one grey image (colour is converted to grey), scaled to 0-1, resized straight to "
                         f"{size} x {size} px (aspect ratio not kept), replicated to 3 channels and normalised "
                         "with ImageNet's mean and std inside the model"}
    reads, chosen = m.variant != "baseline", schema.select(m.clinical_features)
    features = [_feature(schema, f.name, reads and f.name in chosen, m.missing_indicators)
                for f in schema.features]
    return {"image": image, "clinical": {"used": reads, "features": features}}


def _feature(schema: CohortSchema, name: str, used: bool, indicators: bool) -> dict[str, Any]:
    feature = schema.feature(name)
    mimic = schema == MIMIC_SCHEMA
    out: dict[str, Any] = {"name": name, "kind": feature.kind, "used": used}
    if feature.kind == "numeric":
        out["unit"] = UNITS.get(name) if mimic else None
        out["range"] = list(plausible_range(name)) if mimic else None
        out["missing"] = "the train split's mean" + (", flagged by a 0/1 indicator column" if indicators else "")
    else:
        out["categories"] = list(feature.categories)
        out["missing"] = ("one learned row shared with unseen values" if feature.unseen_slot
                          else "the mean of the embedding's rows")
    return out


def _cohort(cfg: Config, schema: CohortSchema) -> dict[str, Any]:
    """The training cohort's folder, format and split sizes (None when the folder is not on this machine)."""
    out: dict[str, Any] = {"path": cfg.data.cohort, "format": "MIMIC" if schema == MIMIC_SCHEMA else "COCO",
                           "splits": None}
    try:
        frame, _ = load_cohort(cfg.data.cohort or "")
    except InputError:
        return out
    out["splits"] = {split: {"readings": int((frame["split"] == split).sum()),
                             "patients": int(frame.loc[frame["split"] == split, "subject_id"].nunique())}
                     for split in SPLITS}
    return out


def _metrics(run: RunLayout, cfg: Config, history: list[dict], epoch: int | None) -> dict[str, Any]:
    """Validation at the checkpoint's epoch (``metrics.csv``) and each split's evaluation (``metrics.json``)."""
    row = next((r for r in history if r.get("epoch") == str(epoch)), {})
    keys = dict.fromkeys((AP_50, AR_50, cfg.train.select_metric))
    validation = {"epoch": epoch, **{k: _number(row.get(split_key(k, "val"))) for k in keys}}
    evaluations = {}
    for split in SPLITS:
        folder = run.evaluation(split)
        if folder is not None:
            evaluations[split] = _evaluation(json.loads((folder / METRICS_FILE).read_text()))
    return {"selected_on": f"validation {cfg.train.select_metric}", "validation": validation,
            "evaluations": evaluations}


def _evaluation(metrics: dict) -> dict[str, Any]:
    out = {k: metrics.get(k) for k in ("checkpoint", "cohort", "n_images")}
    for key in CARD_METRICS:
        if key in metrics:
            out[key] = metrics[key]
            if ci_key(key) in metrics:
                out[ci_key(key)] = metrics[ci_key(key)]
    return out


def _training(run: RunLayout, history: list[dict]) -> dict[str, Any]:
    provenance = json.loads(run.provenance.read_text()) if run.provenance.is_file() else {}
    seconds = sum(float(r["seconds"]) for r in history if r.get("seconds"))
    return {"epochs": len(history), "seconds": round(seconds, 2),
            **{k: v for k, v in provenance.items() if k != INIT_FROM_KEY}}


def _history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _number(text: str | None) -> float | None:
    """A number of ``metrics.csv``; None where it has none (not validated that epoch, or undefined: nan)."""
    value = math.nan if text in (None, "") else float(text)
    return None if math.isnan(value) else value


# --- Markdown --------------------------------------------------------------------------------------------


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a page: a summary, the data-use notice, then one section per field group."""
    m = card["model"]
    lines = [f"# Model card: {Path(card['run']).name}", "",
             f"{m['variant_label']} (`{m['variant']}`) on {m['detector_label']}, backbone `{m['backbone']}`"
             f"{' with FPN' if m['fpn'] else ''}; checkpoint `{card['checkpoint']}` (epoch {card['epoch']}).", "",
             f"> **Data use.** {card['data_use']['notice']}", ""]
    for section in (_settings_md, _input_md, _classes_md, _cohort_md, _metrics_md, _training_md):
        lines += section(card) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _settings_md(card: dict) -> list[str]:
    settings = card["settings"]
    lines = ["## Settings", "", f"Preset `{settings['preset']}`, with these changes:", "",
             "| setting | value | preset's |", "|---|---|---|"]
    return lines + [f"| `{c['setting']}` | {_show(c['value'])} | {_show(c['preset'])} |" for c in settings["changed"]]


def _input_md(card: dict) -> list[str]:
    image, clinical = card["input"]["image"], card["input"]["clinical"]
    lines = ["## Input", "", f"- Image ({', '.join(image['formats'])}): {image['contract']}."]
    if not clinical["used"]:
        return lines + ["- Clinical values: none (image only)."]
    lines += ["- Clinical values (any may be missing):", "",
              "| feature | kind | unit | range | a missing value becomes | read |", "|---|---|---|---|---|---|"]
    for f in clinical["features"]:
        rng = "" if not f.get("range") else f"{f['range'][0]:g}-{f['range'][1]:g}"
        kind = f["kind"] if f["kind"] == "numeric" else f"{f['kind']} ({', '.join(f['categories'])})"
        lines.append(f"| {f['name']} | {kind} | {f.get('unit') or ''} | {rng} | {f['missing']} | "
                     f"{'yes' if f['used'] else 'no'} |")
    return lines + ["", "Values outside a range are made missing by `mdfnet prepare` and refused by `mdfnet predict`."
                    if any(f.get("range") for f in clinical["features"]) else ""]


def _classes_md(card: dict) -> list[str]:
    return ["## Classes", "", "| id | class |", "|---|---|"] + [f"| {c['id']} | {c['name']} |" for c in card["classes"]]


def _cohort_md(card: dict) -> list[str]:
    cohort = card["cohort"]
    lines = ["## Training data", "", f"Cohort `{cohort['path']}` ({cohort['format']} format)."]
    if cohort["splits"] is None:
        return lines + ["", "(The folder is not on this machine: split sizes unknown.)"]
    lines += ["", "| split | readings | patients |", "|---|---|---|"]
    return lines + [f"| {s} | {v['readings']} | {v['patients']} |" for s, v in cohort["splits"].items()]


def _metrics_md(card: dict) -> list[str]:
    metrics = card["metrics"]
    validation = metrics["validation"]
    scores = ", ".join(f"{k} {_show(v)}" for k, v in validation.items() if k != "epoch")
    lines = ["## Metrics", "", f"Selected on {metrics['selected_on']}; validation at epoch {validation['epoch']}: "
             f"{scores}."]
    if not metrics["evaluations"]:
        return lines + ["", "No evaluation yet: `mdfnet evaluate --run RUN` adds the test split's, with intervals."]
    lines += ["", "| split | checkpoint | metric | value | 95 % interval |", "|---|---|---|---|---|"]
    for split, values in metrics["evaluations"].items():
        for key in CARD_METRICS:
            if key in values:
                interval = values.get(ci_key(key))
                lines.append(f"| {split} | {values['checkpoint']} | {key} | {_show(values[key])} | "
                             f"{'' if interval is None else ' to '.join(map(_show, interval))} |")
    return lines


def _training_md(card: dict) -> list[str]:
    t, origin = card["training"], card["init_from"]
    epochs = f"{t['epochs']} epoch{'' if t['epochs'] == 1 else 's'}"
    lines = ["## Training", "", f"{epochs} in {t['seconds']:g} s on {t.get('device', 'unknown')}, "
             f"{t.get('threads', '?')} threads; torch {t.get('torch', '?')}, mdfnet {t.get('mdfnet', '?')}, "
             f"git revision `{t.get('git_revision', 'unknown')}`."]
    if origin:
        lines += ["", f"Fine-tuned from `{origin['checkpoint']}` (epoch {origin['epoch']}, sha256 "
                      f"{origin['sha256'][:12]}..., trained on `{origin['cohort']}`)."]
    return lines


def _show(value: Any) -> str:
    """A number with 4 decimals, anything else as JSON (``[8, 16]``, ``"mdf"``, ``null``)."""
    return f"{value:.4f}" if isinstance(value, float) else json.dumps(value)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
