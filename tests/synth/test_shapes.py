"""The COCO + CSV generator: reproducible, and its classes follow the tabular values as documented."""

import json

import numpy as np
import pandas as pd
import pytest

from mdfnet.errors import InputError
from mdfnet.synth import generate_coco
from mdfnet.synth.shapes import CAMERA_BIAS, CLASSES, HOT_ABOVE


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return root, generate_coco(root, images=60, image_size=48, seed=5)


def test_same_seed_same_bytes(frames, tmp_path):
    root, _ = frames
    generate_coco(tmp_path, images=60, image_size=48, seed=5)
    for name in ("annotations.json", "features.csv", "images/frame_00017.png"):
        assert (tmp_path / name).read_bytes() == (root / name).read_bytes()


def test_disc_class_is_the_true_temperature_which_needs_the_camera_model(frames):
    root, _ = frames
    coco = json.loads((root / "annotations.json").read_text())
    rows = pd.read_csv(root / "features.csv").drop_duplicates().set_index("image_id")
    checked = 0
    for ann in coco["annotations"]:
        name = CLASSES[ann["category_id"] - 1]
        if ann["image_id"] > 60 or name == "crack" or ann["iscrowd"]:
            continue
        row = rows.loc[ann["image_id"]]
        if np.isnan(row["temperature"]):
            continue
        true = row["temperature"] + CAMERA_BIAS[row["camera_model"]]
        if abs(true - HOT_ABOVE) > 0.1:  # the CSV rounds to 0.1 degree
            assert name == ("hot spot" if true > HOT_ABOVE else "cold spot")
            checked += 1
    assert checked > 20
    assert set(rows["camera_model"]) == {"A", "B", "C"}
    assert rows.groupby("device_id")["camera_model"].nunique().max() == 1  # one model per device


def test_images_and_size_limits(tmp_path):
    with pytest.raises(InputError, match="--images must be at least 20, got 5"):
        generate_coco(tmp_path, images=5)
    with pytest.raises(InputError, match="--image-size must be at least 32 px, got 16"):
        generate_coco(tmp_path, image_size=16)
