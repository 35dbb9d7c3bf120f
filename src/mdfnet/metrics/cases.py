"""The cases behind AP: one row per kept detection and per missed lesion, for a person to review.

Outcomes follow the matching AP uses at one overlap threshold (COCO's greedy matching, see
:mod:`mdfnet.metrics.evaluate`): ``TP`` a detection matched to a lesion, ``FP`` one matched to none,
``FN`` a lesion no detection matched, ``ignored`` a detection matched to a crowd region (or outside
COCO's area range), which AP leaves out. Only detections kept by the score cut and the ``max_dets`` cut
appear.

A false positive that lies on a lesion of another class (an atelectasis called on a consolidation) is a
different error from one on no lesion at all: the first is what look-alike findings cost, and what the
clinical data should remove. ``lies_on`` names that class, and :func:`false_positive_sources` counts
both kinds per class.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from mdfnet.metrics.coco import PATIENT_FIELD
from mdfnet.metrics.keys import OVERLAP_LABELS
from mdfnet.metrics.matching import ALL_AREAS, Boxes, gc_paused, overlap_matrices
from mdfnet.metrics.outcomes import Matching, matched_pairs

BOX = ("xmin", "ymin", "xmax", "ymax")
MATCHED_BOX = tuple(f"matched_{side}" for side in BOX)
OUTCOME_ORDER = {"TP": 0, "FP": 0, "ignored": 0, "FN": 1}  # detections first, then the lesions missed


def case_columns(overlap: str = "iobb") -> list[str]:
    """``reading_id, image_id, patient, class, outcome, score, xmin, ymin, xmax, ymax, matched_xmin, ...,
    matched_ymax, IoBB, lies_on`` (``IoU`` when ``overlap="iou"``)."""
    return ["reading_id", "image_id", "patient", "class", "outcome", "score", *BOX, *MATCHED_BOX,
            OVERLAP_LABELS[overlap], "lies_on"]


def case_table(gt: dict, dets: list[dict], *, overlap: str = "iobb", threshold: float = 0.5, max_dets: int = 10,
               max_dets_per: str = "image_class", score_threshold: float = 0.05) -> pd.DataFrame:
    """One row per kept detection and per missed lesion (arguments as for ``evaluate_detections``).

    Columns (:func:`case_columns`): ``reading_id`` the image's ``file_name`` (``mdfnet evaluate`` writes the
    reading there), ``patient`` its ``patient_id`` (empty when the ground truth has none), ``class`` the
    category name, ``outcome`` TP / FP / FN / ignored, ``score`` (empty for FN), the box in xyxy pixels
    (the detection's; the lesion's for FN), the ``matched_`` lesion's box (TP only), and the overlap
    (``IoBB`` or ``IoU``): with the matched lesion for a TP; for a FP, the largest with any lesion of its
    class in the image (a near miss shows as, say, 0.45); for a FN, the largest of any kept detection of
    its class; 0 when there is none. ``lies_on`` (FP only, else empty): the class of a lesion the detection
    overlaps at ``threshold`` or more, its own (a second detection of a lesion already found) when there is
    one, else the other class's it overlaps most; empty for a false positive on no lesion. Rows by image id,
    class id, then detections by descending score, then the lesions missed.
    """
    with gc_paused():
        matching = Matching(gt, dets, overlap=overlap, max_dets=max_dets, max_dets_per=max_dets_per,
                            score_threshold=score_threshold)
        matched = matching.matcher.run([threshold])["matched"]
    det_rows, gt_rows = matched_pairs(matched)
    gts, kept = matching.gts, matching.dets
    det_best, gt_best = _best_overlaps(kept, gts, overlap)
    det_best[det_rows] = np.fromiter(matched.values(), np.float64, len(matched))  # same order as the keys

    gt_ignored = gts.crowd | _outside(gts.area)
    outcome = np.where(_outside(kept.area), "ignored", "FP").astype(object)
    outcome[det_rows] = np.where(gt_ignored[gt_rows], "ignored", "TP")
    matched_box = np.full((len(kept), 4), np.nan)
    matched_box[det_rows] = _xyxy(gts.xywh[gt_rows])
    missed = np.ones(len(gts), bool)
    missed[gt_rows] = False
    missed &= ~gt_ignored

    names = {c["id"]: c["name"] for c in matching.categories}
    images = {image["id"]: image for image in gt["images"]}
    detections = _frame(kept, outcome, kept.score, det_best, matched_box, names, images, overlap)
    under = _lesion_under(kept, gts.take(np.flatnonzero(~gts.crowd)), overlap, threshold)
    detections["lies_on"] = [names[c] if o == "FP" and c else "" for o, c in zip(outcome, under.tolist())]
    lesions = gts.take(np.flatnonzero(missed))
    misses = _frame(lesions, np.full(len(lesions), "FN", object), np.full(len(lesions), np.nan),
                    gt_best[missed], np.full((len(lesions), 4), np.nan), names, images, overlap)
    table = pd.concat([detections, misses], ignore_index=True)
    order = np.lexsort((-table["score"].fillna(-np.inf).to_numpy(), table["outcome"].map(OUTCOME_ORDER).to_numpy(),
                        table["class"].map({n: i for i, n in names.items()}).to_numpy(), table["image_id"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _frame(boxes: Boxes, outcome: np.ndarray, score: np.ndarray, best: np.ndarray, matched_box: np.ndarray,
           names: dict, images: dict, overlap: str) -> pd.DataFrame:
    image_ids = boxes.image.tolist()
    columns = {
        "reading_id": [str(images[i].get("file_name", "")) for i in image_ids],
        "image_id": boxes.image,
        "patient": [images[i].get(PATIENT_FIELD, "") for i in image_ids],
        "class": [names[c] for c in boxes.category.tolist()],
        "outcome": outcome, "score": score,
        **dict(zip(BOX, _xyxy(boxes.xywh).T)), **dict(zip(MATCHED_BOX, matched_box.T)),
        OVERLAP_LABELS[overlap]: best, "lies_on": "",
    }
    return pd.DataFrame(columns, columns=case_columns(overlap))


def false_positive_sources(cases: pd.DataFrame, classes: list[str], score_threshold: float = 0.1) -> pd.DataFrame:
    """Per class, its counted detections at ``score >= score_threshold`` and where they lie.

    ``cases``: a :func:`case_table`. One row per class of ``classes`` (in that order), columns ``class``,
    ``detections`` (TP + FP), ``TP``, ``FP on <class>`` for every class (on the row's own class: second
    detections of lesions already found) and ``FP on no lesion``. ``mdfnet evaluate`` cuts at its counts'
    score, 0.1.
    """
    kept = cases[cases["outcome"].isin(["TP", "FP"]) & (cases["score"] >= score_threshold)]
    rows = []
    for name in classes:
        mine = kept[kept["class"] == name]
        on = mine.loc[mine["outcome"] == "FP", "lies_on"].fillna("")
        rows.append({"class": name, "detections": len(mine), "TP": int((mine["outcome"] == "TP").sum()),
                     **{f"FP on {other}": int((on == other).sum()) for other in classes},
                     "FP on no lesion": int((on == "").sum())})
    return pd.DataFrame(rows, columns=["class", "detections", "TP", *(f"FP on {c}" for c in classes),
                                       "FP on no lesion"])


def _lesion_under(dets: Boxes, gts: Boxes, overlap: str, threshold: float) -> np.ndarray:
    """``[D]``: the category id of a lesion in each detection's image that it overlaps at ``threshold`` or
    more: its own class's when there is one, else the other class's it overlaps most; 0 where there is none.
    ``dets`` grouped by image (as kept), ``gts`` by (image, category)."""
    def by_image(boxes: Boxes) -> Boxes:  # one group per image: the pairs overlap_matrices forms are images
        return dataclasses.replace(boxes, category=np.zeros_like(boxes.category))

    under = np.zeros(len(dets), np.int64)
    d_start, g_start = _group_starts(by_image(dets)), _group_starts(by_image(gts))
    for (image, _), rows in overlap_matrices(by_image(dets), by_image(gts), overlap).items():
        values = np.asarray(rows, np.float64)  # [detections of the image, lesions of the image]
        d, g = d_start[(image, 0)], g_start[(image, 0)]
        det_class, gt_class = dets.category[d:d + values.shape[0]], gts.category[g:g + values.shape[1]]
        same = det_class[:, None] == gt_class[None, :]
        own = same & (values >= threshold)
        best = np.where(own, values + 1.0, values).argmax(axis=1)  # its own class's first, then the largest
        reached = values[np.arange(len(best)), best] >= threshold
        under[d:d + len(best)] = np.where(reached, gt_class[best], 0)
    return under


def _best_overlaps(dets: Boxes, gts: Boxes, overlap: str) -> tuple[np.ndarray, np.ndarray]:
    """The largest overlap of each detection with a lesion of its image and class, and of each lesion
    with such a detection: ([D], [G]), 0 where there is none."""
    det_best, gt_best = np.zeros(len(dets)), np.zeros(len(gts))
    det_start, gt_start = _group_starts(dets), _group_starts(gts)
    for (image, category), rows in overlap_matrices(dets, gts, overlap).items():
        values = np.asarray(rows, np.float64)  # [detections of the pair, lesions of the pair]
        d, g = det_start[(image, category)], gt_start[(image, category)]
        det_best[d:d + values.shape[0]] = values.max(axis=1)
        gt_best[g:g + values.shape[1]] = values.max(axis=0)
    return det_best, gt_best


def _group_starts(boxes: Boxes) -> dict[tuple[int, int], int]:
    """First row of each (image, category) in rows grouped by them."""
    starts: dict[tuple[int, int], int] = {}
    for row, pair in enumerate(zip(boxes.image.tolist(), boxes.category.tolist())):
        starts.setdefault(pair, row)
    return starts


def _outside(area: np.ndarray) -> np.ndarray:
    return (area < ALL_AREAS[0]) | (area > ALL_AREAS[1])


def _xyxy(xywh: np.ndarray) -> np.ndarray:
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1) if len(xywh) else np.zeros((0, 4))
