"""Named settings of the generator and the clinical-signal knob."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mdfnet.cli import main
from mdfnet.errors import InputError
from mdfnet.synth import SynthSpec, generate, setting
from mdfnet.synth.anatomy import draw_chest, sample_chest
from mdfnet.synth.clinical import draw_causes, draw_vitals
from mdfnet.synth.lesions import draw_opacity


def digest(root: Path) -> str:
    """One hash over every written file but the two that describe the spec."""
    h = hashlib.md5()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name not in ("SYNTH_README.md", "synth_spec.json"):
            h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_demo_setting_is_the_default_spec_byte_for_byte(tmp_path):
    generate(tmp_path / "a", patients=12, image_size=64, seed=5)
    generate(tmp_path / "b", patients=12, image_size=64, seed=5, spec=setting("demo", 1.0))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def opacity_areas(spec: SynthSpec, n: int = 150, size: int = 128) -> np.ndarray:
    rng = np.random.default_rng(0)
    areas = []
    for _ in range(n):
        chest = sample_chest(rng, 0.45)
        img, lungs = draw_chest(chest, size, size, rng)
        box, _, _ = draw_opacity(img, lungs, chest, rng, 0.3, spec.opacity_radius)
        areas.append((box[2] - box[0]) * (box[3] - box[1]))
    return np.array(areas)


def test_hard_opacities_are_two_to_three_times_smaller():
    demo, hard = opacity_areas(setting("demo")), opacity_areas(setting("hard"))
    ratio = demo.mean() / hard.mean()
    assert 2.0 < ratio < 3.2, ratio
    side = np.sqrt(hard).mean()  # a typical hard opacity is ~12-18 px a side on a 128 px film
    assert 10 < side < 20, side


def test_clinical_signal_zero_makes_the_vitals_say_nothing():
    n = 20_000
    age = np.full(n, 60)
    for signal, expected_gap in ((1.0, 3.0), (0.5, 1.5), (0.0, 0.0)):
        spec = setting("hard", signal)
        rng = np.random.default_rng(1)
        causes = draw_causes(spec, age, rng)
        vitals = draw_vitals(spec, age, causes, rng)
        infected = causes["infection"].to_numpy()
        gap = vitals["temperature"][infected].mean() - vitals["temperature"][~infected].mean()
        assert gap == pytest.approx(expected_gap, abs=0.15), (signal, gap)


def test_clinical_signal_zero_removes_the_age_slopes_of_the_causes():
    n = 40_000
    rng = np.random.default_rng(2)
    old, young = draw_causes(setting("demo", 0.0), np.full(n, 90), rng), draw_causes(
        setting("demo", 0.0), np.full(n, 30), rng)
    assert old["heart_failure"].mean() == pytest.approx(young["heart_failure"].mean(), abs=0.01)
    old1 = draw_causes(setting("demo", 1.0), np.full(n, 90), rng)
    assert old1["heart_failure"].mean() > old["heart_failure"].mean() + 0.15


@pytest.mark.parametrize("name, signal, message", [
    ("medium", 1.0, "unknown synth setting 'medium'; expected one of ['demo', 'hard']"),
    ("hard", 1.5, "--clinical-signal must lie in [0, 1]"),
    ("hard", -0.1, "--clinical-signal must lie in [0, 1]"),
])
def test_bad_setting_is_one_clear_line(name, signal, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        setting(name, signal)


def test_synth_command_records_the_setting(tmp_path, capsys):
    out = tmp_path / "raw"
    assert main(["synth", "--out", str(out), "--patients", "12", "--image-size", "64",
                 "--setting", "hard", "--clinical-signal", "0"]) == 0
    spec = json.loads((out / "synth_spec.json").read_text())
    assert (spec["setting"], spec["clinical_signal"], spec["decoy_opacity_p"]) == ("hard", 0.0, 0.15)
    readme = (out / "SYNTH_README.md").read_text()
    assert "--setting hard --clinical-signal 0`" in readme
    assert "Clinical signal 0:" in readme
    assert main(["synth", "--out", str(tmp_path / "x"), "--clinical-signal", "2"]) == 2
    assert "--clinical-signal must lie in [0, 1]" in capsys.readouterr().err
