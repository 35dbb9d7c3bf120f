"""prepare --coco: the planted counts come back in the report, the folder follows the cohort contract, and bad
COCO files are one clear line."""

import json

import pandas as pd
import pytest
from PIL import Image

from mdfnet.cli import main
from mdfnet.data import load_cohort
from mdfnet.data.coco import prepare_coco
from mdfnet.data.cohort import load_schema
from mdfnet.errors import InputError
from mdfnet.synth import generate_coco


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("coco_raw")
    return root, generate_coco(root, images=40, image_size=48, seed=3)


def _prepare(root, out, **kwargs):
    return prepare_coco(out, root / "annotations.json", root / "images", root / "features.csv",
                        group_column="device_id", **kwargs)


def test_report_counts_what_the_generator_planted(frames, tmp_path):
    root, planted = frames
    report = _prepare(root, tmp_path / "c")
    assert report["readings"] == planted["readings"] == {"read": 46, "kept": 40}
    assert report["excluded"] == planted["excluded"]
    assert report["tabular"] == planted["tabular"]
    assert {k: report["labels"][k] for k in planted["labels"]} == planted["labels"]
    assert report["sources"]["joined_on"] == "id"
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "boxes.csv", "cohort.csv", "prepare_report.json", "prepare_report.md", "schema.json"]


def test_cohort_follows_the_contract_with_grouped_splits_and_train_categories(frames, tmp_path):
    root, _ = frames
    _prepare(root, tmp_path / "c", seed=1)
    cohort, boxes = load_cohort(tmp_path / "c")
    schema = load_schema(tmp_path / "c")
    assert schema.classes == ("hot spot", "cold spot", "crack")
    assert schema.numeric == ("temperature", "humidity") and schema.categorical == ("camera_model",)
    train_models = sorted(cohort.loc[cohort["split"] == "train", "camera_model"].unique())
    assert schema.feature("camera_model").categories == tuple(train_models)
    assert cohort.groupby("subject_id")["split"].nunique().max() == 1  # a device's frames share a split
    assert list(cohort["reading_id"]) == [str(i) for i in range(1, 41)]
    features = pd.read_csv(root / "features.csv").drop_duplicates().set_index("image_id")
    assert (cohort["temperature"].fillna(-1).to_numpy() == features.loc[range(1, 41), "temperature"].fillna(-1)).all()
    # the box that reached outside the left edge was clipped: [-4, 2, 12, 8] xywh -> xyxy [0, 2, 8, 10]
    clipped = boxes[(boxes["reading_id"] == "2") & (boxes["xmin"] == 0) & (boxes["ymin"] == 2)]
    assert clipped[["xmax", "ymax"]].values.tolist() == [[8.0, 10.0]]


def test_join_on_file_name_and_a_size_mismatch(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("L", (40, 30)).save(images / name)
    coco = {"images": [{"id": 7, "file_name": "a.png", "width": 40, "height": 30},
                       {"id": 9, "file_name": "b.png", "width": 50, "height": 30}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 4, "bbox": [30, 20, 20, 20]}],
            "categories": [{"id": 4, "name": "dent"}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    (tmp_path / "rows.csv").write_text("file,pressure\na.png,1.5\nb.png,2\n")
    report = prepare_coco(tmp_path / "c", tmp_path / "coco.json", images, tmp_path / "rows.csv", id_column="file",
                          split_fractions=(1.0, 0.0, 0.0))
    assert report["sources"]["joined_on"] == "file_name"
    assert report["excluded"]["image_size_mismatch"] == 1 and report["readings"]["kept"] == 1
    cohort, boxes = load_cohort(tmp_path / "c")
    assert boxes[["label", "xmin", "ymin", "xmax", "ymax"]].values.tolist() == [["dent", 30.0, 20.0, 40.0, 30.0]]
    assert cohort[["reading_id", "dicom_id", "subject_id", "pressure", "n_dent"]].values.tolist() == [
        ["7", "a.png", 7, 1.5, 1]]  # subject_id reads back as a number, as MIMIC's


def _coco_error(tmp_path, frames, edit):
    root, _ = frames
    data = json.loads((root / "annotations.json").read_text())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        prepare_coco(tmp_path / "c", path, root / "images", root / "features.csv")
    return str(err.value).replace(str(path), "bad.json")


def test_bad_coco_files_are_one_clear_line(frames, tmp_path):
    def unknown_category(data):
        data["annotations"][2]["category_id"] = 9
    assert _coco_error(tmp_path, frames, unknown_category) == (
        "bad.json: annotations[2] (id 3), key 'category_id': 9 is not one of the categories' ids (1, 2, 3)")

    def bad_box(data):
        data["annotations"][0]["bbox"] = [1, 2, 3]
    assert _coco_error(tmp_path, frames, bad_box) == (
        "bad.json: annotations[0] (id 1), key 'bbox': expected [x, y, width, height] (four numbers), got [1, 2, 3]")
    assert _coco_error(tmp_path, frames, lambda d: d.pop("categories")) == (
        "bad.json: missing list 'categories' (a COCO detection file has images, annotations and categories)")

    def repeated_image(data):
        data["images"][5]["id"] = 1
    assert _coco_error(tmp_path, frames, repeated_image) == "bad.json: images[5], key 'id': 1 appears twice"


def test_command_prints_the_funnel_and_refuses_half_a_source(frames, tmp_path, capsys):
    root, _ = frames
    args = ["prepare", "--coco", str(root / "annotations.json"), "--images", str(root / "images"),
            "--tabular", str(root / "features.csv"), "--group-column", "device_id", "--out", str(tmp_path / "c")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "kept 40 of 46 COCO images (joined on id)" in out
    assert "excluded: duplicate_image 1, image_file_missing 2, no_tabular_row 2, image_unreadable 1" in out
    assert "features: numeric temperature, humidity; categorical camera_model (" in out
    assert main(args[:5] + ["--out", str(tmp_path / "d")]) == 2
    assert "--coco, --images and --tabular go together; missing --tabular" in capsys.readouterr().err
    assert main([*args, "--id-column", "frame"]) == 2
    assert "features.csv: no column 'frame' (named by --id-column)" in capsys.readouterr().err
