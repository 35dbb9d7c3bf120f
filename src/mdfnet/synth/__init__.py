"""Synthetic MIMIC-CXR-JPG / MIMIC-IV / MIMIC-IV-ED / REFLACX data in the raw PhysioNet layout.

``generate(out_dir, patients=500, image_size=512, seed=0, spec=None) -> dict`` writes the four sources,
their chest films, ``SYNTH_README.md`` (the generative model), ``synth_spec.json`` and ``planted.json``
(the planted quirk counts, keyed like ``prepare_report.json``). See :mod:`mdfnet.synth.spec`.
``to_mimic_eye(raw_root, out_dir)`` repackages such a tree as the MIMIC-Eye builder does, and
``generate_mimic_eye(out_dir, ...)`` does both (see :mod:`mdfnet.synth.mimic_eye`).
``generate_coco(out_dir, images=400, image_size=96, seed=0)`` writes another kind of data altogether, a COCO
detection file and one CSV row per image, whose classes depend on the tabular values (:mod:`mdfnet.synth.shapes`).
"""

from mdfnet.synth.generate import generate
from mdfnet.synth.mimic_eye import generate_mimic_eye, to_mimic_eye
from mdfnet.synth.shapes import generate_coco
from mdfnet.synth.spec import SETTINGS, SynthSpec, setting

__all__ = ["SETTINGS", "SynthSpec", "generate", "generate_coco", "generate_mimic_eye", "setting", "to_mimic_eye"]
