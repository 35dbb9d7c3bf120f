"""Read radiographs (JPG, PNG, DICOM) as grey float images in 0..1, bright = dense (bone, heart).

DICOM pixels go through the modality LUT (rescale slope/intercept), then the VOI LUT or window the file
carries (pydicom's ``apply_voi_lut``), then MONOCHROME1 images (where low values are bright) are inverted,
and the result is scaled by its own min/max to 0..1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mdfnet.errors import InputError

DICOM_SUFFIXES = (".dcm", ".dicom")


def is_dicom(path: str | Path) -> bool:
    """True for a .dcm/.dicom name, or any file with the DICM preamble."""
    if str(path).lower().endswith(DICOM_SUFFIXES):
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_image(path: str | Path) -> np.ndarray:
    """float32 [H, W] in 0..1 at full resolution. InputError names the file if it is missing or corrupt."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: image file not found")
    if is_dicom(path):
        return read_dicom(path)
    with _open_pil(path) as image:
        return _pil_to_unit(image)


def load_resized(path: str | Path, size: int) -> np.ndarray:
    """float32 [size, size] in 0..1: the image resized straight to a square (aspect not kept).

    JPEGs are decoded at a reduced scale first (PIL ``draft``), which makes large radiographs fast.
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: image file not found")
    if is_dicom(path):
        full = Image.fromarray(read_dicom(path))
        return np.asarray(full.resize((size, size), Image.BILINEAR), dtype=np.float32).clip(0.0, 1.0)
    with _open_pil(path) as image:
        if image.format == "JPEG":
            image.draft("L", (size, size))
        try:
            grey = _to_grey(image)
            resized = grey.resize((size, size), Image.BILINEAR)
        except (OSError, SyntaxError, ValueError) as err:
            raise InputError(f"{path}: corrupt image ({err})") from None
    return _pil_to_unit(resized)


def read_dicom(path: str | Path) -> np.ndarray:
    """float32 [Rows, Columns] in 0..1 from a DICOM file (LUTs applied, MONOCHROME1 inverted)."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
    except Exception as err:  # pydicom raises many types for broken files
        raise InputError(f"{path}: unreadable DICOM ({type(err).__name__}: {err})") from None
    if pixels.ndim != 2:
        raise InputError(f"{path}: expected a single-frame grey DICOM, got pixel array of shape {pixels.shape}")
    values = apply_voi_lut(apply_modality_lut(pixels, ds), ds).astype(np.float32)
    low, high = float(values.min()), float(values.max())
    unit = (values - low) / (high - low) if high > low else np.zeros_like(values)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        unit = 1.0 - unit  # MONOCHROME1 stores dense tissue as low values
    return unit.astype(np.float32)


def image_is_readable(path: str | Path) -> bool:
    """Cheap check that the header of a JPG/PNG/DICOM can be read (pixels are not decoded)."""
    try:
        if is_dicom(path):
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True)
            return "Rows" in ds and "Columns" in ds
        with Image.open(path) as image:
            return image.size[0] > 0 and image.size[1] > 0
    except Exception:  # any failure means unreadable; prepare counts it
        return False


def _open_pil(path: str | Path) -> Image.Image:
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"{path}: not a readable image ({type(err).__name__})") from None


def _to_grey(image: Image.Image) -> Image.Image:
    if image.mode in ("L", "I;16", "I", "F"):
        return image if image.mode != "I;16" else image.convert("I")
    return image.convert("L")


def _pil_to_unit(image: Image.Image) -> np.ndarray:
    """8-bit images scale by 255, 16-bit by 65535, float images are clipped to 0..1."""
    try:
        mode = image.mode
        grey = _to_grey(image)
        array = np.asarray(grey, dtype=np.float32)
    except (OSError, SyntaxError, ValueError) as err:
        raise InputError(f"{getattr(image, 'filename', 'image')}: corrupt image ({err})") from None
    if mode in ("I;16", "I"):
        return array / 65535.0
    if mode == "F":
        return array.clip(0.0, 1.0)
    return array / 255.0
