"""Ellipses -> boxes: clipping, zero area, two-label ellipses, pleural merge, certainty."""

from __future__ import annotations

import pytest

from mdfnet.data.labels import add_label_counts, clip_box, ellipses_to_boxes, new_label_counts, read_ellipses
from mdfnet.errors import InputError


def _row(x0, y0, x1, y1, certainty, **labels):
    row = {"xmin": str(x0), "ymin": str(y0), "xmax": str(x1), "ymax": str(y1), "certainty": str(certainty)}
    row.update({k.replace("_", " "): str(v) for k, v in labels.items()})
    return row


def test_clip_box():
    assert clip_box([-5.0, 2.0, 20.0, 40.0], 10, 30) == (0.0, 2.0, 10.0, 30.0)
    assert clip_box([12.0, 2.0, 20.0, 4.0], 10, 30) is None
    assert clip_box([1.0, 2.0, 1.0, 4.0], 10, 30) is None
    assert clip_box([float("nan"), 2.0, 3.0, 4.0], 10, 30) is None


def test_two_labels_give_two_boxes_and_pleural_merges():
    rows = [_row(1, 1, 5, 5, 4, Atelectasis="True", Consolidation="True", Pleural_effusion="False"),
            _row(2, 2, 6, 6, 3, Pleural_effusion="True", Pleural_thickening="True"),
            _row(0, 0, 0, 9, 5, Atelectasis="True"),
            _row(-2, 3, 12, 7, 2, Pleural_thickening="True"),
            _row(1, 1, 2, 2, 1, Support_devices="True")]
    boxes, counts = ellipses_to_boxes(rows, 10, 10)
    assert boxes == [("Atelectasis", 1.0, 1.0, 5.0, 5.0, 4.0), ("Consolidation", 1.0, 1.0, 5.0, 5.0, 4.0),
                     ("Pleural abnormality", 2.0, 2.0, 6.0, 6.0, 3.0), ("Pleural abnormality", 0.0, 3.0, 10.0, 7.0, 2.0)]
    assert counts == {"boxes_by_class": {"Enlarged cardiac silhouette": 0, "Atelectasis": 1, "Pleural abnormality": 2,
                                         "Consolidation": 1, "Pulmonary edema": 0},
                      "ellipses_multi_label": 1, "ellipses_invalid": 1, "ellipses_clipped": 1,
                      "ellipses_without_class": 1, "pleural_labels_merged": 1, "boxes_below_min_certainty": 0,
                      "readings_without_finding": 0}


def test_min_certainty():
    rows = [_row(1, 1, 5, 5, 2, Atelectasis="True", Consolidation="True"), _row(1, 1, 5, 5, 5, Atelectasis="True")]
    boxes, counts = ellipses_to_boxes(rows, 10, 10, min_certainty=3)
    assert boxes == [("Atelectasis", 1.0, 1.0, 5.0, 5.0, 5.0)] and counts["boxes_below_min_certainty"] == 2
    assert counts["boxes_by_class"]["Atelectasis"] == 1


def test_counts_of_readings_add_up_without_changing_either():
    a, b = new_label_counts(), new_label_counts()
    a["boxes_by_class"]["Atelectasis"], a["ellipses_clipped"] = 2, 1
    b["boxes_by_class"]["Atelectasis"], b["ellipses_invalid"] = 3, 4
    total = add_label_counts(a, b)
    assert total["boxes_by_class"]["Atelectasis"] == 5 and (total["ellipses_clipped"], total["ellipses_invalid"]) == (1, 4)
    assert a["boxes_by_class"]["Atelectasis"] == 2 and b["ellipses_clipped"] == 0  # inputs untouched
    assert list(total) == list(new_label_counts())


def test_bad_ellipse_files(tmp_path):
    path = tmp_path / "anomaly_location_ellipses.csv"
    path.write_text("xmin,ymin,xmax,certainty,Atelectasis\n1,2,3,4,True\n")
    with pytest.raises(InputError, match="missing column 'ymax'"):
        read_ellipses(path)
    path.write_text("xmin,ymin,xmax,ymax,certainty,Atelectasis\n1,2,big,4,5,True\n")
    with pytest.raises(InputError, match=r"line 2, column 'xmax': expected a number, got 'big'"):
        ellipses_to_boxes(read_ellipses(path), 10, 10, source=path)
