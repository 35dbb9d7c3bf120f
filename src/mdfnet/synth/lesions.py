"""The five lesions (and two look-alikes) drawn onto a film from :mod:`mdfnet.synth.anatomy`.

Look-alikes share a renderer on purpose: consolidation and atelectasis are both :func:`draw_opacity`
(same texture, size and location distribution; so is the unlabelled decoy opacity), pulmonary edema and the unlabelled decoy haze are both
:func:`draw_haze`, pleural abnormality and the unlabelled decoy blunting are both :func:`draw_pleural`. Each drawing returns the bounding box of what it drew, in pixels of the film.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdfnet.synth.anatomy import Chest, grid, smooth_noise, soft
from mdfnet.synth.spec import SynthSpec


@dataclass
class Finding:
    """One drawn lesion: ``box`` = (xmin, ymin, xmax, ymax) in original pixels, inclusive-exclusive."""

    label: str
    box: tuple[float, float, float, float]
    faint: bool
    side: int = 0         # -1 image-left lung, +1 image-right lung, 0 both / central
    basal: bool = False   # lies on the diaphragm (a pleural abnormality there may share its ellipse)


def _window(img: np.ndarray, box: tuple[float, float, float, float]) -> tuple[slice, slice]:
    """Pixel slices covering a normalised box (clipped to the image)."""
    h, w = img.shape
    x0, y0 = max(0, int(box[0] * w)), max(0, int(box[1] * h))
    x1, y1 = min(w, int(np.ceil(box[2] * w)) + 1), min(h, int(np.ceil(box[3] * h)) + 1)
    return slice(y0, max(y1, y0 + 2)), slice(x0, max(x1, x0 + 2))


def _paint(img: np.ndarray, win: tuple[slice, slice], density: np.ndarray) -> tuple[float, ...] | None:
    """Add ``density`` to ``img[win]`` and return the pixel box where it exceeds a third of its peak."""
    img[win] += density
    peak = float(density.max())
    if peak <= 0:
        return None
    rows = np.nonzero((density > peak / 3).any(axis=1))[0]
    cols = np.nonzero((density > peak / 3).any(axis=0))[0]
    ys, xs = win[0].start, win[1].start
    return float(xs + cols[0]), float(ys + rows[0]), float(xs + cols[-1] + 1), float(ys + rows[-1] + 1)


def _local_grid(img: np.ndarray, win: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    u, v = grid(*img.shape)
    return u[:, win[1]], v[win[0], :]


def draw_opacity(img: np.ndarray, lungs: np.ndarray, chest: Chest, rng: np.random.Generator,
                 strength: float, radius: tuple[float, float, float, float] = (0.10, 0.15, 0.07, 0.11),
                 ) -> tuple[tuple[float, ...] | None, int, bool]:
    """Patchy airspace opacity, basal or mid-zone, in one lung. Returns ``(box, side, basal)``.

    Consolidation and atelectasis both come here: nothing in the pixels tells them apart. ``radius``:
    the half-axes are ``rx ~ U(radius[0], radius[1])``, ``ry ~ U(radius[2], radius[3])`` (fractions of the film).
    """
    side = int(rng.choice((-1, 1)))
    basal = bool(rng.random() < 0.65)
    rx, ry = rng.uniform(*radius[:2]), rng.uniform(*radius[2:])
    lateral = (0.5, 0.85) if basal and side > 0 else (0.3, 0.7)  # keep basal opacities off the heart shadow
    u0 = float(chest.lung_x(side, rng.uniform(*lateral)))
    v0 = float(chest.dome_v(side, u0)) - ry * rng.uniform(0.5, 0.9) if basal else rng.uniform(
        chest.hilum_v - 0.02, chest.hilum_v + 0.1)
    win = _window(img, (u0 - rx, v0 - ry, u0 + rx, v0 + ry))
    u, v = _local_grid(img, win)
    r2 = ((u - u0) / rx) ** 2 + ((v - v0) / ry) ** 2
    patches = np.clip(0.65 + 0.45 * smooth_noise(rng, *lungs[win].shape, (5, 5)), 0.2, 1.0)
    density = strength * np.clip(1.0 - r2, 0, 1) ** 0.6 * patches * lungs[win]
    return _paint(img, win, density), side, basal


def draw_pleural(img: np.ndarray, lungs: np.ndarray, chest: Chest, rng: np.random.Generator,
                 strength: float, side: int) -> tuple[float, ...] | None:
    """Fluid in the costophrenic angle: a homogeneous density with a meniscus rising laterally."""
    depth = rng.uniform(0.12, 0.20)
    box = (min(chest.lung_x(side, 0.3), chest.lung_x(side, 1.0)) - 0.02, chest.base_v - depth - 0.03,
           max(chest.lung_x(side, 0.3), chest.lung_x(side, 1.0)) + 0.02, chest.base_v + 0.02)
    win = _window(img, box)
    u, v = _local_grid(img, win)
    t = np.clip((np.abs(u - chest.cx) - chest.mediastinum_hw) / (chest.thorax_hw - chest.mediastinum_hw), 0, 1)
    edge = 1.5 / min(img.shape)
    fluid = soft(chest.base_v - depth * (0.3 + 0.7 * t ** 1.5) - v, edge * 3) * lungs[win]
    return _paint(img, win, 1.2 * strength * fluid)


def draw_haze(img: np.ndarray, lungs: np.ndarray, chest: Chest, rng: np.random.Generator,
              strength: float) -> list[tuple[tuple[float, ...] | None, int]]:
    """Bilateral perihilar haze (pulmonary edema, or the decoy). Returns one ``(box, side)`` per lung."""
    out = []
    for side in (-1, 1):
        u0 = chest.cx + side * (chest.mediastinum_hw + rng.uniform(0.06, 0.09))
        v0 = chest.hilum_v + rng.uniform(0.0, 0.05)
        su, sv = rng.uniform(0.07, 0.09), rng.uniform(0.10, 0.13)
        win = _window(img, (u0 - 2 * su, v0 - 2 * sv, u0 + 2 * su, v0 + 2 * sv))
        u, v = _local_grid(img, win)
        blob = np.exp(-0.5 * (((u - u0) / su) ** 2 + ((v - v0) / sv) ** 2))
        streaks = np.clip(0.7 + 0.5 * smooth_noise(rng, *lungs[win].shape, (10, 4)), 0.3, 1.0)
        out.append((_paint(img, win, strength * blob * streaks * lungs[win]), side))
    return out


def draw_nodule(img: np.ndarray, lungs: np.ndarray, chest: Chest, rng: np.random.Generator,
                strength: float) -> tuple[float, ...] | None:
    side = int(rng.choice((-1, 1)))
    r = rng.uniform(0.012, 0.02)
    u0, v0 = float(chest.lung_x(side, rng.uniform(0.3, 0.7))), rng.uniform(chest.apex_v + 0.1, chest.hilum_v)
    win = _window(img, (u0 - r, v0 - r, u0 + r, v0 + r))
    u, v = _local_grid(img, win)
    aspect = img.shape[1] / img.shape[0]
    disc = soft(np.sqrt(((u - u0) / r) ** 2 + ((v - v0) / (r * aspect)) ** 2) - 1.0, 0.15)
    return _paint(img, win, strength * disc * lungs[win])


def heart_box(chest: Chest, height: int, width: int) -> tuple[float, float, float, float]:
    """Pixel box of the cardiac silhouette as :func:`mdfnet.synth.anatomy.draw_chest` draws it."""
    return ((chest.heart_cx - chest.heart_hw) * width, (chest.heart_cv - chest.heart_hh) * height,
            (chest.heart_cx + chest.heart_hw) * width, (chest.heart_cv + 0.8 * chest.heart_hh) * height)


def draw_findings(img: np.ndarray, lungs: np.ndarray, chest: Chest, lesions: dict[str, bool],
                  rng: np.random.Generator, spec: SynthSpec) -> list[Finding]:
    """Draw every lesion flagged in ``lesions`` (columns of :func:`mdfnet.synth.clinical.draw_lesions`)."""
    findings: list[Finding] = []

    def strength() -> tuple[float, bool]:
        faint = bool(rng.random() < spec.faint_fraction)
        s = rng.uniform(*spec.lesion_strength)
        return (s * spec.faint_factor, True) if faint else (s, False)

    if lesions["Enlarged cardiac silhouette"]:
        findings.append(Finding("Enlarged cardiac silhouette", heart_box(chest, *img.shape), faint=False))
    for label in ("Consolidation", "Atelectasis"):
        if lesions[label]:
            s, faint = strength()
            box, side, basal = draw_opacity(img, lungs, chest, rng, s, spec.opacity_radius)
            if box is not None:
                findings.append(Finding(label, box, faint, side, basal))
    if lesions["Pleural abnormality"] or lesions["decoy_blunting"]:
        s, faint = strength()
        side = int(rng.choice((-1, 1)))
        box = draw_pleural(img, lungs, chest, rng, s, side)
        if box is not None and lesions["Pleural abnormality"]:
            findings.append(Finding("Pleural abnormality", box, faint, side, basal=True))
    if lesions["Pulmonary edema"] or lesions["decoy_haze"]:
        s, faint = strength()
        for box, side in draw_haze(img, lungs, chest, rng, s):
            if box is not None and lesions["Pulmonary edema"]:
                findings.append(Finding("Pulmonary edema", box, faint, side))
    if lesions["nodule"]:
        box = draw_nodule(img, lungs, chest, rng, rng.uniform(*spec.lesion_strength))
        if box is not None:
            findings.append(Finding("nodule", box, faint=False))
    if lesions.get("decoy_opacity", False):  # unlabelled: nothing is appended
        draw_opacity(img, lungs, chest, rng, strength()[0], spec.opacity_radius)
    return findings
