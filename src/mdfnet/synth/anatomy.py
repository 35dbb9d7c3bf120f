"""A chest-radiograph-like frontal film drawn with numpy: body, lungs, heart, mediastinum, diaphragm, ribs.

Images are float32 ``[H, W]`` density maps in 0..1 (bright = dense, as on a radiograph). Geometry is in
normalised coordinates ``u = x / W``, ``v = y / H`` so that one :class:`Chest` fits any original size; the
patient's right lung is on the image's left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class Chest:
    """Landmarks of one film, normalised to 0..1. Lungs span ``cx +- (mediastinum_hw .. thorax_hw)``."""

    cx: float             # midline
    thorax_hw: float      # half-width of the thorax at the lung bases (inner rib margin)
    mediastinum_hw: float  # half-width of the mediastinum above the heart
    apex_v: float         # lung apices
    base_v: float         # costophrenic angles (lowest lung point, laterally)
    dome_h: float         # diaphragm dome height above the angles
    heart_cx: float       # heart centre (shifted to the patient's left = image right)
    heart_cv: float
    heart_hw: float       # = ctr * thorax_hw
    heart_hh: float
    hilum_v: float        # height of both hila

    def lung_x(self, side: int, t: float | np.ndarray) -> float | np.ndarray:
        """x of a point ``t`` of the way from the medial (0) to the lateral (1) lung edge at the base.

        ``side`` is -1 for the image-left (patient's right) lung, +1 for the image-right lung.
        """
        return self.cx + side * (self.mediastinum_hw + t * (self.thorax_hw - self.mediastinum_hw))

    def dome_v(self, side: int, u: float | np.ndarray) -> float | np.ndarray:
        """Height of the hemidiaphragm under the point ``u`` (the dome peaks mid-lung)."""
        t = np.clip((np.abs(u - self.cx) - self.mediastinum_hw) / (self.thorax_hw - self.mediastinum_hw), 0, 1)
        return self.base_v - self.dome_h * (1.0 - (2.0 * t - 1.0) ** 2) - 0.03 * (side < 0)


def sample_chest(rng: np.random.Generator, ctr: float) -> Chest:
    """Random landmarks for a film whose heart is ``ctr`` (cardio-thoracic ratio) wide."""
    cx = 0.5 + rng.normal(0, 0.012)
    thorax_hw = rng.uniform(0.36, 0.41)
    base_v = rng.uniform(0.74, 0.80)
    heart_hw = ctr * thorax_hw
    return Chest(
        cx=cx, thorax_hw=thorax_hw, mediastinum_hw=rng.uniform(0.05, 0.065), apex_v=rng.uniform(0.09, 0.14),
        base_v=base_v, dome_h=rng.uniform(0.05, 0.08),
        heart_cx=cx + 0.25 * heart_hw, heart_cv=base_v - rng.uniform(0.12, 0.15),
        heart_hw=heart_hw, heart_hh=rng.uniform(0.12, 0.15), hilum_v=rng.uniform(0.42, 0.48),
    )


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Broadcastable pixel-centre coordinates: ``u`` ``[1, W]`` and ``v`` ``[H, 1]``, float32."""
    u = ((np.arange(width, dtype=np.float32) + 0.5) / width)[None, :]
    v = ((np.arange(height, dtype=np.float32) + 0.5) / height)[:, None]
    return u, v


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: tuple[int, int]) -> np.ndarray:
    """Smooth random field ``[H, W]`` in about -1..1: a ``cells`` grid of N(0, 1) upsampled bicubically."""
    coarse = rng.standard_normal(cells).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))


def soft(x: np.ndarray, edge: float) -> np.ndarray:
    """1 where ``x < -edge``, 0 where ``x > edge``, linear in between: an anti-aliased ``x < 0``."""
    return np.clip(0.5 - x / (2.0 * edge), 0.0, 1.0)


def lung_masks(chest: Chest, u: np.ndarray, v: np.ndarray, edge: float) -> np.ndarray:
    """Soft mask ``[H, W]`` of both lung fields (1 inside), bounded by apex, ribs, mediastinum, domes."""
    span = chest.base_v - chest.apex_v
    depth = np.clip((v - chest.apex_v) / span, 0, 1)
    lateral = chest.mediastinum_hw + (chest.thorax_hw - chest.mediastinum_hw) * (0.35 + 0.65 * np.sqrt(depth))  # widest at the base
    dx = np.abs(u - chest.cx)
    inside_x = soft(chest.mediastinum_hw - dx, edge) * soft(dx - lateral, edge)
    side = np.where(u < chest.cx, -1, 1)
    t = np.clip((dx - chest.mediastinum_hw) / (chest.thorax_hw - chest.mediastinum_hw), 0, 1)
    below_apex = soft(chest.apex_v + 0.12 * (t - 0.35) ** 2 - v, edge)  # rounded apices
    above_dome = soft(v - chest.dome_v(side, u), edge)
    return (inside_x * below_apex * above_dome).astype(np.float32)


def heart_mask(chest: Chest, u: np.ndarray, v: np.ndarray, edge: float) -> np.ndarray:
    r = np.sqrt(((u - chest.heart_cx) / chest.heart_hw) ** 2 + ((v - chest.heart_cv) / chest.heart_hh) ** 2)
    return soft(r - 1.0, edge / chest.heart_hw).astype(np.float32)


def rib_pattern(chest: Chest, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Posterior ribs as arcs that rise from the spine and fall laterally, 0..1 ``[H, W]``."""
    dx = np.abs(u - chest.cx)
    arc = v + 1.6 * dx * dx - 0.45 * dx
    phase = (arc - chest.apex_v) / ((chest.base_v - chest.apex_v) / 9.0)
    return np.clip(np.cos(2 * np.pi * phase), 0, 1) ** 3


def draw_chest(chest: Chest, height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Render the film without lesions. Returns ``(density [H, W], visible lung mask [H, W])``, float32."""
    u, v = grid(height, width)
    edge = 1.5 / min(height, width)
    body = soft(((u - chest.cx) / 0.49) ** 2 + ((v - 0.6) / 0.62) ** 2 - 1.0, 0.02)
    img = 0.06 + 0.42 * body  # air around the patient, soft tissue inside
    dx = np.abs(u - chest.cx)
    img = img + 0.14 * soft(dx - chest.mediastinum_hw - 0.01, 0.01) * body  # mediastinum between the lungs
    img = img + 0.06 * soft(dx - 0.028, edge) * body  # spine, seen through the heart
    lungs = lung_masks(chest, u, v, edge)
    texture = 0.04 * smooth_noise(rng, height, width, (12, 12)) + 0.02 * smooth_noise(rng, height, width, (40, 40))
    hilum = np.exp(-(((dx - chest.mediastinum_hw - 0.04) / 0.08) ** 2 + ((v - chest.hilum_v) / 0.12) ** 2))
    lung_density = 0.14 + 0.12 * hilum + texture
    img = img * (1.0 - lungs) + lung_density * lungs
    img = img + rib_pattern(chest, u, v) * (0.09 * lungs + 0.025 * body)  # ribs show against aerated lung
    clavicle = np.abs(v - (chest.apex_v + 0.03 + 0.25 * (dx - 0.12) ** 2 * 4.0))
    img = img + 0.12 * soft(clavicle - 0.012, edge) * soft(dx - 0.33, 0.02)
    heart = heart_mask(chest, u, v, edge) * soft(v - chest.heart_cv - chest.heart_hh * 0.8, 0.02)
    img = np.maximum(img, (0.56 + 0.1 * soft(dx - 0.03, edge)) * heart + img * (1 - heart))
    return img.astype(np.float32), (lungs * (1.0 - heart)).astype(np.float32)  # aerated lung not behind the heart


def expose(img: np.ndarray, rng: np.random.Generator, noise_sd: float, ap: bool) -> np.ndarray:
    """Exposure, contrast and noise of one acquisition; returns uint8 ``[H, W]``."""
    gain = rng.uniform(0.85, 1.1) * (0.92 if ap else 1.0)  # portable films: flatter contrast
    offset = rng.uniform(-0.04, 0.05)
    gamma = rng.uniform(0.8, 1.2)
    out = np.clip(img * gain + offset, 0.0, 1.0) ** gamma
    out = out + rng.normal(0.0, noise_sd, img.shape).astype(np.float32)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def draw_lateral(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A crude lateral view (never read by REFLACX; it only has to exist). uint8 ``[H, W]``."""
    u, v = grid(height, width)
    body = soft(((u - 0.5) / 0.42) ** 2 + ((v - 0.55) / 0.6) ** 2 - 1.0, 0.02)
    lung = soft(((u - 0.5) / 0.3) ** 2 + ((v - 0.45) / 0.3) ** 2 - 1.0, 0.02)
    spine = soft(np.abs(u - 0.78) - 0.04, 0.01)
    img = 0.06 + 0.45 * body - 0.25 * lung + 0.2 * spine * body + 0.03 * smooth_noise(rng, height, width, (10, 10))
    return expose(img.astype(np.float32), rng, 0.015, ap=False)
