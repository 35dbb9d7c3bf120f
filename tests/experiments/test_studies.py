"""Study definitions: the paper's rows, self-labelling specs, and clear errors for bad choices."""

import pytest

from mdfnet.errors import InputError
from mdfnet.experiments import FEATURE_SUBSETS, run_study, study_specs
from mdfnet.experiments.runner import base_config
from mdfnet.model import BACKBONES, FUSIONS


def test_features_study_has_the_papers_ten_subsets_with_exact_feature_names():
    assert FEATURE_SUBSETS == {
        "all": ("age", "temperature", "heartrate", "resprate", "o2sat", "sbp", "dbp", "pain", "acuity", "gender"),
        "gender": ("gender",),
        "gender+age": ("gender", "age"),
        "gender+temperature": ("gender", "temperature"),
        "gender+heartrate": ("gender", "heartrate"),
        "gender+resprate": ("gender", "resprate"),
        "gender+age+temperature": ("gender", "age", "temperature"),
        "gender+age+heartrate": ("gender", "age", "heartrate"),
        "gender+age+resprate": ("gender", "age", "resprate"),
        "vitals": ("temperature", "heartrate", "resprate", "o2sat", "sbp", "dbp"),
    }
    specs = study_specs("features")
    assert len(specs) == 10
    assert specs[4].overrides == {"model": {"variant": "mdf", "clinical_features": ["gender", "heartrate"]}}
    assert specs[4].labels == {"features": "gender+heartrate", "clinical_features": "gender heartrate"}
    assert specs[4].slug == "features-gender+heartrate"


def test_variants_fusion_and_backbone_specs_label_themselves():
    variants = study_specs("variants")
    assert [s.labels["variant"] for s in variants] == ["baseline", "msf1d", "msf3d", "mdf"]
    assert variants[3].labels == {"model": "MDF-Net", "variant": "mdf"}
    fusion = study_specs("fusion")
    assert [s.labels["fusion"] for s in fusion] == list(FUSIONS)
    assert {s.labels["fusion"]: s.labels["kind"] for s in fusion}["film"] == "ours"
    assert {s.labels["kind"] for s in fusion if s.labels["fusion"] != "film"} == {"paper"}
    assert len(study_specs("backbones")) == 3 * len(BACKBONES)
    picked = study_specs("backbones", ["resnet18"])
    assert [(s.labels["backbone"], s.labels["variant"]) for s in picked] == [
        ("resnet18", "baseline"), ("resnet18", "msf3d"), ("resnet18", "mdf")]
    assert picked[2].slug == "backbone-resnet18_variant-mdf"
    assert len({s.slug for s in study_specs("backbones")}) == 3 * len(BACKBONES)  # one folder each


def test_unknown_study_backbone_or_misplaced_option_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="unknown study 'fusions'; expected one of variants, fusion, backbones, "
                                         "features, detectors, correlation"):
        run_study("fusions", tmp_path, tmp_path / "out")
    with pytest.raises(InputError, match=r"unknown backbone\(s\) \['vgg16'\]"):
        study_specs("backbones", ["vgg16"])
    with pytest.raises(InputError, match="--backbones applies to the backbones study only"):
        study_specs("fusion", ["resnet18"])


def test_overrides_may_not_set_what_the_study_varies(tiny_cohort):
    with pytest.raises(InputError, match=r"model\.fusion set what this study varies"):
        base_config(tiny_cohort, "fast", ["model.fusion=film"], study_specs("fusion"))
    with pytest.raises(InputError, match=r"train\.seed set what this study varies"):
        base_config(tiny_cohort, "fast", ["train.seed=3"], study_specs("variants"))
    cfg = base_config(tiny_cohort, "fast", ["model.fusion=film", "train.epochs=1"], study_specs("variants"))
    assert (cfg.model.fusion, cfg.train.epochs, cfg.model.spatialiser) == ("film", 1, "lite")
    with pytest.raises(InputError, match="cohort.csv: not found"):
        base_config(tiny_cohort / "missing", "fast", [], study_specs("variants"))


def test_every_study_names_a_reference_row_among_its_specs():
    from mdfnet.experiments.studies import STUDIES, reference_spec

    references = {name: reference_spec(study, study_specs(name)).labels for name, study in STUDIES.items()}
    assert references["variants"] == {"model": "Mask R-CNN (image only)", "variant": "baseline"}
    assert references["fusion"]["fusion"] == "sum" and references["features"]["features"] == "all"
    assert references["backbones"] == {"backbone": "mobilenet_v3_small", "model": "Mask R-CNN (image only)",
                                       "variant": "baseline"}
    for name, study in STUDIES.items():
        assert study.reference in {spec.slug for spec in study_specs(name)}
    # a subset without the reference compares with its first row
    assert reference_spec(STUDIES["backbones"], study_specs("backbones", ["resnet18"])).slug == \
        "backbone-resnet18_variant-baseline"


def test_detectors_study_crosses_every_detector_with_every_variant_on_the_presets_maps():
    specs = study_specs("detectors")
    assert [(s.labels["detector"], s.labels["variant"]) for s in specs] == [
        (d, v) for d in ("maskrcnn", "retinanet", "fcos") for v in ("baseline", "msf1d", "msf3d", "mdf")]
    assert specs[11].overrides == {"model": {"detector": "fcos", "variant": "mdf"}}  # fpn: the preset's or the user's
    assert specs[11].slug == "detector-fcos_variant-mdf" and len({s.slug for s in specs}) == 12
