"""Ellipses -> boxes: clipping, zero area, two-label ellipses, pleural merge, certainty."""

from __future__ import annotations

import pytest

from mdfnet.data.labels import clip_box, ellipses_to_boxes, new_label_counts, read_ellipses
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
    counts = new_label_counts()
    rows = [_row(1, 1, 5, 5, 4, Atelectasis="True", Consolidation="True", Pleural_effusion="False"),
            _row(2, 2, 6, 6, 3, Pleural_effusion="True", Pleural_thickening="True"),
            _row(0, 0, 0, 9, 5, Atelectasis="True")]
    boxes = ellipses_to_boxes(rows, 10, 10, counts)
    assert [b[0] for b in boxes] == ["Atelectasis", "Consolidation", "Pleural abnormality"]
    assert boxes[2] == ("Pleural abnormality", 2.0, 2.0, 6.0, 6.0, 3.0)
    assert counts["ellipses_multi_label"] == 1 and counts["pleural_labels_merged"] == 1
    assert counts["ellipses_invalid"] == 1


def test_min_certainty():
    counts = new_label_counts()
    rows = [_row(1, 1, 5, 5, 2, Atelectasis="True", Consolidation="True"), _row(1, 1, 5, 5, 5, Atelectasis="True")]
    boxes = ellipses_to_boxes(rows, 10, 10, counts, min_certainty=3)
    assert len(boxes) == 1 and counts["boxes_below_min_certainty"] == 2
    assert counts["boxes_by_class"]["Atelectasis"] == 1


def test_bad_ellipse_files(tmp_path):
    path = tmp_path / "anomaly_location_ellipses.csv"
    path.write_text("xmin,ymin,xmax,certainty,Atelectasis\n1,2,3,4,True\n")
    with pytest.raises(InputError, match="missing column 'ymax'"):
        read_ellipses(path)
    path.write_text("xmin,ymin,xmax,ymax,certainty,Atelectasis\n1,2,big,4,5,True\n")
    with pytest.raises(InputError, match=r"line 2, column 'xmax': expected a number, got 'big'"):
        ellipses_to_boxes(read_ellipses(path), 10, 10, new_label_counts(), source=path)
