"""A 20-reading test split, ten patients of two readings each, and detectors whose every box is planned,
so that evaluate's AP, intervals, FROC, subgroups and cases can be worked out by hand.

Reading ``i`` (image 96 x 80): even ``i`` an enlarged heart at (10, 10, 40, 35), odd ``i`` a consolidation
at (50, 40, 80, 65); patient ``i // 2``; age 40 for ``i < 10`` (band <45), 70 otherwise (65-79);
gender M when ``i % 3 == 0``; pain missing for ``i == 3``; acuity 3.

:class:`PlannedModel` ``"A"``: every heart found (score 0.9); the consolidations of readings 1, 3, 5, 7
found (0.8); readings 9 to 19 odd: a consolidation box far from the lesion (0.95), the lesion missed.
``"B"``: every lesion found (heart 0.9, consolidation 0.8), nothing else.
"""

from __future__ import annotations

import pandas as pd
import torch

from mdfnet.data.cohort import load_cohort
from mdfnet.engine.evaluate import evaluate_split
from mdfnet.schema import CLASS_TO_ID

HEART, CONSOLIDATION = (10.0, 10.0, 40.0, 35.0), (50.0, 40.0, 80.0, 65.0)
FAR = (0.0, 60.0, 20.0, 78.0)  # overlaps no lesion
N_TEST = 20


def write_case_cohort(folder, cohort_writer, n_test: int = N_TEST):
    """The tiny cohort of tests/conftest.py with ``n_test`` test readings (+ 2 train), patients and ages set."""
    cohort_writer(folder, ["test"] * n_test + ["train"] * 2)
    frame = pd.read_csv(folder / "cohort.csv")
    frame["subject_id"] = 10_000_000 + frame.index // 2
    frame["age"] = [40 if i < 10 else 70 for i in frame.index]
    frame.to_csv(folder / "cohort.csv", index=False)
    return folder


def planned_boxes(detector: str, i: int) -> list[tuple[str, float, tuple[float, ...]]]:
    """``(class, score, xyxy in original pixels)`` that ``detector`` gives on reading ``i``."""
    if i % 2 == 0:
        return [("Enlarged cardiac silhouette", 0.9, HEART)]
    if detector == "B" or i < 9:
        return [("Consolidation", 0.8, CONSOLIDATION)]
    return [("Consolidation", 0.95, FAR)]


class PlannedModel(torch.nn.Module):
    """Gives :func:`planned_boxes` for each image in dataset order, in the model's S x S pixels."""

    def __init__(self, detector: str, frame: pd.DataFrame, size: int):
        super().__init__()
        self.detector, self.frame, self.size, self.seen = detector, frame, size, 0

    def forward(self, images, clinical=None, targets=None):
        assert targets is None
        out = []
        for _ in images:
            row = self.frame.iloc[self.seen]
            i = int(row["reading_id"][3:])
            self.seen += 1
            sx, sy = row["image_width"] / self.size, row["image_height"] / self.size
            planned = planned_boxes(self.detector, i)
            out.append({
                "boxes": torch.tensor([[x1 / sx, y1 / sy, x2 / sx, y2 / sy] for _, _, (x1, y1, x2, y2) in planned],
                                      dtype=torch.float64).reshape(-1, 4),
                "labels": torch.tensor([CLASS_TO_ID[name] for name, _, _ in planned]),
                "scores": torch.tensor([score for _, score, _ in planned]),
            })
        return out


def evaluate_planned(detector: str, cohort, make_config, out, split: str = "test", **kwargs) -> dict:
    """``evaluate_split`` of :class:`PlannedModel` ``detector`` on ``cohort``'s ``split``, written to ``out``."""
    frame, boxes = load_cohort(cohort)
    cfg = make_config(cohort)
    model = PlannedModel(detector, frame[frame["split"] == split].reset_index(drop=True), cfg.model.image_size)
    return evaluate_split(model, cfg, frame, boxes, split, out, torch.device("cpu"), **kwargs)
