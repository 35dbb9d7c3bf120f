"""The run-folder layout, built in one place: every path of a run comes from :class:`RunLayout`.

::

    <run>/                          `mdfnet train --out RUN` (with --seeds: RUN/seed_<s>/ each)
        config.yaml                 the resolved config
        anchors.json                the anchors in pixels and their recall of the training boxes (not FCOS)
        provenance.json             package versions, git revision, device, the init_from source
        metrics.csv                 one row per epoch
        last.pt, best.pt            checkpoints (best.pt: best validation `train.select_metric`)
        MODEL_CARD.md               the model card of best.pt (else last.pt): `train` writes it, `evaluate`
        model_card.json             refreshes it (mdfnet.engine.card)
        eval_<split>_<checkpoint>/  `mdfnet evaluate`: metrics.json, predictions.json, ground_truth.json,
                                    cases.csv, false_positives.csv, PNGs

    <study>/runs/<slug>/seed_<s>/   one run per (configuration, seed) of `mdfnet ablate`
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mdfnet.errors import InputError

CHECKPOINTS: tuple[str, ...] = ("best", "last")  # in the order a run's evaluation is looked for (the runner's rule)
# The files of an evaluation folder.
METRICS_FILE, PREDICTIONS_FILE, GROUND_TRUTH_FILE, CASES_FILE, FALSE_POSITIVES_FILE = (
    "metrics.json", "predictions.json", "ground_truth.json", "cases.csv", "false_positives.csv")
_SEED_FOLDER = re.compile(r"^seed_(\d+)$")


@dataclass(frozen=True)
class RunLayout:
    """The files of one run folder ``root``.

    >>> run = RunLayout.in_study("runs/variants", "variant-mdf", seed=0)
    >>> run.eval_metrics("test", "best").as_posix()
    'runs/variants/runs/variant-mdf/seed_0/eval_test_best/metrics.json'
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of_seed(cls, parent: str | Path, seed: int) -> RunLayout:
        """The run of ``seed`` among several: ``<parent>/seed_<seed>``."""
        return cls(Path(parent) / f"seed_{seed}")

    @classmethod
    def in_study(cls, study: str | Path, slug: str, seed: int) -> RunLayout:
        """The run of configuration ``slug`` and ``seed`` in a study folder: ``<study>/runs/<slug>/seed_<seed>``."""
        return cls.of_seed(Path(study) / "runs" / slug, seed)

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def anchors(self) -> Path:
        return self.root / "anchors.json"

    @property
    def provenance(self) -> Path:
        return self.root / "provenance.json"

    @property
    def history(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def model_card(self) -> Path:
        return self.root / "MODEL_CARD.md"

    @property
    def model_card_json(self) -> Path:
        return self.root / "model_card.json"

    @property
    def best(self) -> Path:
        return self.checkpoint("best")

    @property
    def last(self) -> Path:
        return self.checkpoint("last")

    def checkpoint(self, name: str) -> Path:
        """``best.pt`` or ``last.pt``."""
        if name not in CHECKPOINTS:
            raise InputError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got {name!r}")
        return self.root / f"{name}.pt"

    def selected_checkpoint(self) -> str:
        """``best`` when training selected one on validation, else ``last`` (validation never defined)."""
        return "best" if self.best.is_file() else "last"

    def eval_dir(self, split: str, checkpoint: str) -> Path:
        """The folder ``mdfnet evaluate`` writes for ``split`` from ``checkpoint``: ``eval_<split>_<checkpoint>``."""
        return self.root / f"eval_{split}_{checkpoint}"

    def eval_metrics(self, split: str, checkpoint: str) -> Path:
        return self.eval_dir(split, checkpoint) / METRICS_FILE

    def eval_predictions(self, split: str, checkpoint: str) -> Path:
        return self.eval_dir(split, checkpoint) / PREDICTIONS_FILE

    def evaluation(self, split: str) -> Path | None:
        """The finished evaluation folder of ``split`` (from best.pt when there is one, else last.pt), or None."""
        for checkpoint in CHECKPOINTS:
            if self.eval_metrics(split, checkpoint).is_file():
                return self.eval_dir(split, checkpoint)
        return None


def seed_runs(folder: str | Path) -> dict[int, RunLayout]:
    """``{seed: run}`` of the ``seed_<s>`` run folders in ``folder`` (empty when it holds none), by seed."""
    found = {int(m.group(1)): RunLayout(child) for child in Path(folder).iterdir()
             if child.is_dir() and (m := _SEED_FOLDER.match(child.name))}
    return dict(sorted(found.items()))
