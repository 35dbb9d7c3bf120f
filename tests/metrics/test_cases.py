"""The per-case table: one row per kept detection and per missed lesion, worked out by hand."""

from __future__ import annotations

import math

import pytest

from mdfnet.metrics.cases import case_columns, case_table, false_positive_sources

GT = {
    "images": [{"id": 1, "file_name": "R1", "patient_id": 7}, {"id": 2, "file_name": "R2", "patient_id": 7}],
    "categories": [{"id": 1, "name": "Atelectasis"}, {"id": 2, "name": "Consolidation"}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]},
                    {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 10, 10]},
                    {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10]},
                    {"id": 4, "image_id": 2, "category_id": 2, "bbox": [0, 0, 99, 99], "iscrowd": 1}],
}
DETS = [
    {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 20], "score": 0.9},    # IoBB 0.5 (IoU 1/3): TP
    {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.8},     # IoBB 1, the lesion taken: FP
    {"image_id": 1, "category_id": 2, "bbox": [55, 55, 10, 10], "score": 0.7},  # IoBB 0.25: FP, lesion missed
    {"image_id": 2, "category_id": 2, "bbox": [5, 5, 10, 10], "score": 0.6},   # inside the crowd region: ignored
    {"image_id": 2, "category_id": 1, "bbox": [40, 40, 5, 5], "score": 0.01},  # below the score cut: absent
]


def test_rows_outcomes_and_overlaps_by_hand():
    table = case_table(GT, DETS)
    assert list(table.columns) == case_columns() and case_columns("iou")[-2] == "IoU"
    rows = [tuple(r) for r in table[["reading_id", "patient", "class", "outcome", "IoBB"]].itertuples(index=False)]
    assert rows == [("R1", 7, "Atelectasis", "TP", 0.5), ("R1", 7, "Atelectasis", "FP", 1.0),
                    ("R1", 7, "Consolidation", "FP", 0.25), ("R1", 7, "Consolidation", "FN", 0.25),
                    ("R2", 7, "Atelectasis", "FN", 0.0), ("R2", 7, "Consolidation", "ignored", 1.0)]
    tp, fn = table.iloc[0], table.iloc[3]
    assert [tp.xmin, tp.ymin, tp.xmax, tp.ymax] == [0, 0, 5, 20] and tp.score == 0.9
    assert [tp.matched_xmin, tp.matched_ymin, tp.matched_xmax, tp.matched_ymax] == [0, 0, 10, 10]
    assert [fn.xmin, fn.ymin, fn.xmax, fn.ymax] == [50, 50, 60, 60] and math.isnan(fn.score)
    assert math.isnan(table.iloc[1].matched_xmin)


def test_iou_makes_the_first_detection_a_miss():
    table = case_table(GT, DETS, overlap="iou")
    atelectasis = table[(table["reading_id"] == "R1") & (table["class"] == "Atelectasis")]
    # IoU 1/3 and 1/4 are below 0.5: both FP, the lesion missed with its best IoU 1/3
    assert list(atelectasis["outcome"]) == ["FP", "FP", "FN"]
    assert atelectasis["IoU"].tolist() == pytest.approx([1 / 3, 0.25, 1 / 3])


# Where false positives lie: image 3 has an atelectasis and a consolidation side by side
GT_LOOKALIKES = {
    "images": [{"id": 3, "file_name": "R3"}],
    "categories": [{"id": 1, "name": "Atelectasis"}, {"id": 2, "name": "Consolidation"}],
    "annotations": [{"id": 1, "image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10]},
                    {"id": 2, "image_id": 3, "category_id": 2, "bbox": [20, 0, 10, 10]}],
}
DETS_LOOKALIKES = [
    {"image_id": 3, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},    # TP
    {"image_id": 3, "category_id": 1, "bbox": [2, 2, 6, 6], "score": 0.8},      # FP inside its own lesion: a duplicate
    {"image_id": 3, "category_id": 1, "bbox": [20, 0, 10, 10], "score": 0.7},   # FP on the consolidation
    {"image_id": 3, "category_id": 1, "bbox": [5, 0, 20, 10], "score": 0.6},    # FP: IoBB 0.25 and 0.25, on none
    {"image_id": 3, "category_id": 1, "bbox": [60, 60, 10, 10], "score": 0.05},  # FP on no lesion, under the cut
    {"image_id": 3, "category_id": 2, "bbox": [0, 0, 8, 8], "score": 0.5},      # FP on the atelectasis
    {"image_id": 3, "category_id": 2, "bbox": [16, 0, 12, 10], "score": 0.4},   # IoBB 10/12: TP
]


def test_false_positives_name_the_lesion_they_lie_on():
    table = case_table(GT_LOOKALIKES, DETS_LOOKALIKES)
    rows = [tuple(r) for r in table[["class", "outcome", "lies_on"]].fillna("").itertuples(index=False)]
    assert rows == [("Atelectasis", "TP", ""), ("Atelectasis", "FP", "Atelectasis"),
                    ("Atelectasis", "FP", "Consolidation"), ("Atelectasis", "FP", ""), ("Atelectasis", "FP", ""),
                    ("Consolidation", "FP", "Atelectasis"), ("Consolidation", "TP", "")]
    sources = false_positive_sources(table, ["Atelectasis", "Consolidation"], score_threshold=0.1)
    assert list(sources.columns) == ["class", "detections", "TP", "FP on Atelectasis", "FP on Consolidation",
                                     "FP on no lesion"]
    assert sources.values.tolist() == [["Atelectasis", 4, 1, 1, 1, 1], ["Consolidation", 2, 1, 1, 0, 0]]


def test_a_crowd_region_is_no_lesion_to_lie_on():
    # image 2 of GT: the consolidation there is a crowd region; an atelectasis FP inside it lies on nothing
    dets = [{"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
            {"image_id": 2, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.8}]
    table = case_table(GT, dets)
    fp = table[table["outcome"] == "FP"]
    assert fp["lies_on"].tolist() == [""] and fp["xmin"].tolist() == [50]
