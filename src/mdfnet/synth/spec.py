"""Every parameter of the synthetic generator, in one dataclass.

The generative model (``SYNTH_README.md`` in every output folder is rendered from this file):

1. A study belongs to a patient of age ``a`` (truncated normal) and gender.
2. Latent *causes* switch on independently with probability ``sigmoid(logit(base) + slope * (a - 60) / 10)``
   (``cause_base`` / ``cause_age_slope``); cardiomegaly also gets ``cardiomegaly_logit_if_heart_failure``.
3. Lesions follow from causes: ``infection -> Consolidation``, ``collapse -> Atelectasis``,
   ``heart_failure -> Pulmonary edema``, ``cardiomegaly -> Enlarged cardiac silhouette`` (each visible with
   ``lesion_visible``), pleural abnormality by noisy-or over ``pleural_given``.
4. Vitals follow from the *same* causes: ``value = baseline + age term + sum over active causes of an effect
   drawn from N(mean, sd)`` (``vital_baseline`` / ``vital_effect``), so clinical data tells *what* an
   opacity is while only the image tells *where* it is.
5. ``clinical_signal`` scales every link from a cause to the clinical values (vital effects, the age
   slopes of the causes, pain's shift with collapse): 1 is the model above, 0 makes the clinical data say
   nothing about the lesions, 0.5 halves every effect.
6. Image ambiguity is by construction: consolidation and atelectasis share one opacity renderer and one
   location distribution; pulmonary edema and a "decoy haze" (no label) share one haze renderer; pleural
   abnormality and a "decoy blunting" (no label) share one costophrenic-angle renderer; normal and enlarged
   hearts have overlapping cardio-thoracic ratios.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Latent causes, in drawing order.
CAUSES: tuple[str, ...] = ("infection", "collapse", "heart_failure", "cardiomegaly", "other_fever")


@dataclass
class SynthSpec:
    # --- demographics ---
    age_mean: float = 61.0             # years; MIMIC-ED adults, mean ~60
    age_sd: float = 17.0               # years
    age_range: tuple[int, int] = (18, 95)  # truncated to this range (inclusive)
    female_fraction: float = 0.5

    # --- latent causes: P(cause) = sigmoid(logit(base) + slope * (age - 60) / 10) ---
    cause_base: dict[str, float] = field(default_factory=lambda: {
        "infection": 0.26,      # pneumonia: fever, fast breathing, tachycardia
        "collapse": 0.24,       # post-operative / immobile: atelectasis, pain, near-normal vitals
        "heart_failure": 0.13,  # congestion: edema, low o2sat, high sbp
        "cardiomegaly": 0.12,   # enlarged heart: older, faster heart, higher sbp
        "other_fever": 0.08,    # fever from outside the chest: a clinical look-alike with no lesion
    })
    cause_age_slope: dict[str, float] = field(default_factory=lambda: {
        "infection": 0.0, "collapse": 0.25, "heart_failure": 0.5, "cardiomegaly": 0.6, "other_fever": 0.0,
    })
    cardiomegaly_logit_if_heart_failure: float = 1.5  # failing hearts are often big ones

    # --- lesions given causes ---
    lesion_visible: dict[str, float] = field(default_factory=lambda: {
        "Consolidation": 0.85,              # some pneumonias show nothing yet
        "Atelectasis": 0.95,
        "Pulmonary edema": 0.85,
        "Enlarged cardiac silhouette": 1.0,  # label follows the latent; the image ratio overlaps (below)
    })
    pleural_given: dict[str, float] = field(default_factory=lambda: {
        "base": 0.03, "heart_failure": 0.45, "infection": 0.25,  # noisy-or: effusions of failure and pneumonia
    })
    decoy_haze_p: float = 0.35          # poor inspiration / soft tissue haze on studies without edema (no label)
    decoy_blunting_p: float = 0.2       # a blunted angle from technique or old scarring, no effusion (no label)
    nodule_p: float = 0.03              # a small nodule labelled with a non-target class (prepare ignores it)
    decoy_opacity_p: float = 0.0        # an unlabelled patchy opacity (scar, overlap), drawn like consolidation

    # --- vitals: baseline (mean, sd) and per-cause additive effects (mean, sd) ---
    vital_baseline: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "temperature": (97.9, 0.6), "heartrate": (80.0, 13.0), "resprate": (17.0, 1.8),
        "o2sat": (97.8, 1.5), "sbp": (133.0, 18.0), "dbp": (78.0, 11.0),
        "pain": (2.0, 2.5), "acuity": (2.75, 0.55),
    })
    vital_age_slope: dict[str, float] = field(default_factory=lambda: {
        "sbp": 4.0, "heartrate": -1.0, "o2sat": -0.3,   # per decade above 60
    })
    vital_effect: dict[str, dict[str, tuple[float, float]]] = field(default_factory=lambda: {
        "infection": {"temperature": (3.0, 1.5), "heartrate": (14.0, 9.0), "resprate": (3.5, 2.5),
                      "o2sat": (-1.5, 1.5), "acuity": (-0.5, 0.3)},
        "collapse": {"pain": (3.0, 2.0), "temperature": (0.3, 0.4), "heartrate": (3.0, 5.0)},
        "heart_failure": {"o2sat": (-5.0, 3.0), "resprate": (6.0, 2.5), "sbp": (22.0, 10.0),
                          "dbp": (8.0, 5.0), "heartrate": (8.0, 6.0), "acuity": (-0.7, 0.3)},
        "cardiomegaly": {"heartrate": (8.0, 6.0), "sbp": (10.0, 8.0)},
        "other_fever": {"temperature": (2.2, 1.0), "heartrate": (10.0, 6.0)},
    })
    pain_zero_p: float = 0.45           # many triage pain scores are exactly 0
    clinical_signal: float = 1.0        # scales every cause -> clinical value link (0 = vitals say nothing)

    # --- image ---
    size_jitter: tuple[float, float] = (0.85, 1.15)   # original width and height = image_size * U(range)
    ap_fraction: float = 0.6            # portable AP films dominate in the ED
    ap_p_if_sick: float = 0.8           # AP more often when a cause is active
    ctr_normal: tuple[float, float] = (0.45, 0.035)   # cardio-thoracic ratio (mean, sd), normal heart
    ctr_enlarged: tuple[float, float] = (0.565, 0.04)  # enlarged: the tails overlap -> borderline cases
    ap_magnification: float = 1.05     # AP films enlarge the heart shadow a little
    lesion_strength: tuple[float, float] = (0.30, 0.45)  # added density of a clearly visible lesion
    opacity_radius: tuple[float, float, float, float] = (0.10, 0.15, 0.07, 0.11)  # rx ~ U(a, b), ry ~ U(c, d), of the width
    faint_fraction: float = 0.15        # share of lesions drawn faint
    faint_factor: float = 0.4           # faint strength = strength * this
    noise_sd: float = 0.015             # per-pixel quantum noise (0..1 scale)
    jpeg_quality: int = 90
    extra_lateral_fraction: float = 0.15  # studies with an unread LATERAL view in the metadata

    # --- readers (REFLACX) ---
    several_readers_fraction: float = 0.12  # clean images read by 2..5 radiologists
    phase_fractions: tuple[float, float, float] = (0.15, 0.25, 0.60)  # phases 1, 2, 3 (by image)
    reader_jitter: float = 0.08         # ellipse edge jitter, as a fraction of the lesion's size
    merge_two_label_p: float = 0.5      # pleural + basal opacity on one side drawn as one two-label ellipse
    certainty_clear: tuple[float, ...] = (0.0, 0.05, 0.2, 0.35, 0.4)  # P(certainty 1..5), clear lesion
    certainty_faint: tuple[float, ...] = (0.25, 0.4, 0.25, 0.1, 0.0)  # P(certainty 1..5), faint lesion

    # --- planted quirks: fractions of patients (each quirk on its own patients, at least 1 if > 0) ---
    eye_tracking_discarded_fraction: float = 0.03
    image_not_in_metadata_fraction: float = 0.01
    image_file_missing_fraction: float = 0.01
    no_stay_fraction: float = 0.05      # the patient's only ED stay is days away from the study
    multiple_stays_fraction: float = 0.03  # the study lies inside two overlapping stays
    before_10am_fraction: float = 0.33  # kept studies taken 03:00-09:59 (real: 920 of 2,616)
    several_stays_fraction: float = 0.10  # patients with extra, non-overlapping stays

    # --- planted quirks in triage: fractions of ALL triage rows (disjoint rows, at least 1 each) ---
    celsius_fraction: float = 0.02
    pain_text_fraction: float = 0.03    # "unable", "0-10", "critical", ...
    pain_out_of_range_fraction: float = 0.01  # "13", "88", ...
    implausible_fraction: float = 0.005  # per vital: 986 F, heart rate 999, ...
    row_missing_fraction: float = 0.04  # triage rows with every vital missing
    value_missing_fraction: float = 0.06  # each vital independently missing

    setting: str = "demo"               # the named setting these values came from (:data:`SETTINGS`)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SynthSpec":
        """Inverse of :meth:`to_dict` (JSON turns tuples into lists; turn them back)."""
        defaults = cls()
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in values:
                continue
            value = values[f.name]
            kwargs[f.name] = _like(getattr(defaults, f.name), value)
        return cls(**kwargs)


# Named settings: changes from the defaults (``demo``). ``hard`` has the generator's first opacities
# (2-3x smaller in area than the demo's lobar ones, fainter) and more look-alikes that carry no label.
SETTINGS: dict[str, dict[str, Any]] = {
    "demo": {},
    "hard": {"opacity_radius": (0.06, 0.10, 0.04, 0.07), "lesion_strength": (0.22, 0.36),
             "decoy_haze_p": 0.5, "decoy_blunting_p": 0.3, "decoy_opacity_p": 0.15},
}


def setting(name: str = "demo", clinical_signal: float = 1.0) -> SynthSpec:
    """The spec of a named setting (:data:`SETTINGS`) with ``clinical_signal`` in [0, 1]."""
    from mdfnet.errors import InputError

    if name not in SETTINGS:
        raise InputError(f"unknown synth setting {name!r}; expected one of {sorted(SETTINGS)}")
    if not 0.0 <= clinical_signal <= 1.0:
        raise InputError(f"--clinical-signal must lie in [0, 1] (0 = vitals say nothing, 1 = full), "
                         f"got {clinical_signal:g}")
    return dataclasses.replace(SynthSpec(), **SETTINGS[name], setting=name, clinical_signal=clinical_signal)


def _like(template: Any, value: Any) -> Any:
    """Give ``value`` the container types of ``template`` (lists back to tuples)."""
    if isinstance(template, tuple):
        return tuple(value)
    if isinstance(template, dict):
        sample = next(iter(template.values()), None)
        return {k: _like(sample, v) for k, v in value.items()}
    return value
