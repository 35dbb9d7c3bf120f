"""read_image on the real radiograph shipped in pydicom-data, and on JPG/PNG/corrupt files."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from PIL import Image

from mdfnet.data.images import load_resized, read_image
from mdfnet.errors import InputError

pydicom_data = pytest.importorskip("pydicom.data")


@pytest.fixture(scope="module")
def chest_path():
    try:
        return pydicom_data.get_testdata_file("RG1_UNCR.dcm")
    except Exception:  # pydicom-data not installed
        pytest.skip("pydicom-data is not installed")


def test_dicom_shape_range_and_inversion(chest_path):
    ds = pydicom.dcmread(chest_path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    image = read_image(chest_path)
    assert image.shape == (1955, 1841) and image.dtype == np.float32  # [Rows, Columns], not transposed
    assert image.min() == 0.0 and image.max() == 1.0
    h, w = image.shape
    lung = image[h // 4: h * 9 // 20, w // 4: w * 2 // 5].mean()        # patient's right lung field
    spine = image[h // 4: h * 9 // 20, w * 9 // 20: w * 11 // 20].mean()  # mediastinum / spine column
    assert spine - lung > 0.15  # dense tissue bright after MONOCHROME1 inversion
    raw = ds.pixel_array.astype(float)
    assert raw[h // 4: h * 9 // 20, w // 4: w * 2 // 5].mean() > raw[h // 4: h * 9 // 20, w * 9 // 20: w * 11 // 20].mean()


def test_dicom_resized(chest_path):
    small = load_resized(chest_path, 64)
    assert small.shape == (64, 64) and 0.0 <= small.min() and small.max() <= 1.0


def test_jpeg_png_and_16_bit(tmp_path):
    ramp = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (4, 1))  # 4 x 32, dark on the left
    Image.fromarray(ramp, mode="L").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.shape == (4, 32) and image[0, 0] == 0.0 and image[0, -1] == pytest.approx(248 / 255)
    Image.fromarray(ramp.astype(np.uint16) * 256).save(tmp_path / "b.png")
    assert read_image(tmp_path / "b.png")[0, -1] == pytest.approx(248 * 256 / 65535)
    Image.fromarray(np.repeat(np.repeat(ramp, 8, axis=0), 8, axis=1), mode="L").save(tmp_path / "c.jpg", quality=95)
    small = load_resized(tmp_path / "c.jpg", 16)
    assert small.shape == (16, 16) and small[:, 0].mean() < 0.2 and small[:, -1].mean() > 0.8


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(InputError, match="nope.jpg: image file not found"):
        read_image(tmp_path / "nope.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(InputError, match="bad.jpg: "):
        load_resized(tmp_path / "bad.jpg", 8)
    (tmp_path / "bad.dcm").write_bytes(b"\x00" * 200)
    with pytest.raises(InputError, match="bad.dcm: unreadable DICOM"):
        read_image(tmp_path / "bad.dcm")
