"""The config: presets, YAML and key=value layering, and validation of every field at load time."""

from dataclasses import fields

import pytest
import yaml

from mdfnet.config import (RULES, SECTIONS, Config, apply_overrides, config_from_dict, load_config, preset,
                           save_config, validate_config)
from mdfnet.errors import InputError
from mdfnet.metrics.keys import SELECTABLE

# A bad value for every field of the config, as a person would type it (key=value, read as YAML; no spaces),
# and the end of the one-line error it must give. tests/test_cli_settings.py feeds each through train, ablate and
# predict. A new config field needs a rule in mdfnet.config.RULES and a line here.
BAD_SETTINGS_TABLE = """
model.variant              mdf2         expected one of baseline, msf1d, msf3d, mdf
model.detector             detr         expected one of maskrcnn, retinanet, fcos
model.feature_stride       24           expected one of 8, 16, 32
model.fusion_1d            sum          expected one of concat, film
model.clinical_prior       often        expected true or false
model.rpn_proposals        [300]        expected a list of 2 proposal counts (training, testing), each a whole number >= 1
model.box_samples          0            expected a whole number >= 1
model.backbone             vgg16        expected one of mobilenet_v3_small, mobilenet_v3_large, resnet18, resnet50, efficientnet_b0, densenet121, convnext_tiny
model.fpn                  maybe        expected true or false
model.out_channels         0            expected a whole number >= 1
model.image_size           100          expected a multiple of 32 >= 32 (the backbones' stride)
model.fusion               max          expected one of sum, hadamard, concat_conv, concat_linear, film
model.spatialiser          big          expected one of paper, lite
model.clinical_features    []           expected null or a non-empty list of distinct feature names (MIMIC's: age, temperature, heartrate, resprate, o2sat, sbp, dbp, pain, acuity, gender; a --coco cohort's schema.json names its own)
model.clinical_dim         0            expected a whole number >= 1
model.missing_indicators   2            expected true or false
model.mask_head            sometimes    expected true or false
model.box_head_dim         -1           expected a whole number >= 1
model.anchor_sizes         [32,0]       expected one of scaled, auto or a non-empty list of sizes in pixels, each a number > 0
model.aspect_ratios        []           expected a non-empty list of height/width ratios, each a number > 0
model.rpn_nms_thresh       1.5          expected a number in (0, 1]
model.box_nms_thresh       0            expected a number in (0, 1]
model.box_score_thresh     1            expected a number in [0, 1)
model.detections_per_img   0            expected a whole number >= 1
model.loss_weighting       max          expected one of uncertainty, sum
model.pretrained_backbone  3            expected null or 'imagenet', 'none' or a torchvision state-dict file
data.cohort                5            expected null or a folder written by `mdfnet prepare`
data.masks                 circle       expected null or one of box, ellipse
data.hflip_p               2            expected a number in [0, 1]
data.scale_jitter          0.5          expected a number in [0, 0.5)
data.shift_jitter          -0.1         expected a number in [0, 0.5)
data.intensity_jitter      1            expected a number in [0, 1)
data.clinical_noise        -1           expected a number >= 0
data.clinical_dropout      1            expected a number in [0, 1)
data.clinical_record_dropout 1          expected a number in [0, 1)
data.num_workers           -1           expected a whole number >= 0
train.epochs               0            expected a whole number >= 1
train.batch_size           0            expected a whole number >= 1
train.lr                   0            expected a number > 0
train.momentum             1            expected a number in [0, 1)
train.weight_decay         -0.1         expected a number >= 0
train.clinical_weight_decay -1          expected null or a number >= 0
train.optimizer            adam         expected one of sgd, adamw
train.lr_schedule          step         expected one of constant, cosine
train.warmup_iters         -5           expected a whole number >= 0
train.grad_clip            0            expected null or a number > 0
train.seed                 -1           expected a whole number >= 0
train.device               gpu          expected auto, cpu, cuda, cuda:<index> or mps
train.amp                  fast         expected true or false
train.eval_every           0            expected a whole number >= 1
train.select_metric        AP_IoBB_0.33 expected one of <SELECTABLE> (what validation records)
train.init_from            5            expected null or a checkpoint written by `mdfnet train` (RUN/best.pt)
"""
BAD_SETTINGS = {key: (value, allowed.replace("<SELECTABLE>", ", ".join(SELECTABLE)))
                for key, value, allowed in (line.split(maxsplit=2) for line in BAD_SETTINGS_TABLE.strip().splitlines())}


def config_keys() -> list[str]:
    return [f"{name}.{f.name}" for name in SECTIONS for f in fields(getattr(Config(), name))]


def test_every_config_field_has_a_validation_rule_and_a_bad_value_under_test():
    for name in SECTIONS:
        assert set(RULES[name]) == {f.name for f in fields(getattr(Config(), name))}, f"RULES[{name!r}]"
    assert sorted(BAD_SETTINGS) == sorted(config_keys())


@pytest.mark.parametrize("key", sorted(BAD_SETTINGS))
def test_a_bad_value_of_every_field_is_one_line_naming_key_value_and_what_is_allowed(key):
    text, allowed = BAD_SETTINGS[key]
    with pytest.raises(InputError) as caught:
        load_config(None, "fast", [f"{key}={text}"])
    value = yaml.safe_load(text)
    value = tuple(value) if isinstance(value, list) else value
    assert str(caught.value) == f"{key}={value!r}: {allowed}"


def test_the_defaults_and_presets_pass_validation():
    validate_config(Config(), paths=())
    for name in ("paper", "fast"):
        validate_config(preset(name), paths=())


@pytest.mark.parametrize("metric", SELECTABLE)
def test_every_metric_validation_records_may_be_selected(metric):
    assert load_config(None, "fast", [f"train.select_metric={metric}"]).train.select_metric == metric


def test_paper_preset_is_the_authors_recipe():
    cfg = preset("paper")
    assert (cfg.model.image_size, cfg.model.backbone, cfg.model.fpn, cfg.model.spatialiser) == \
        (512, "mobilenet_v3_small", False, "paper")
    assert (cfg.train.optimizer, cfg.train.lr, cfg.train.momentum, cfg.train.batch_size) == ("sgd", 1e-3, 0.9, 4)
    assert cfg.data.hflip_p == 0.5 and cfg.model.loss_weighting == "uncertainty"
    assert cfg.model.pretrained_backbone == "imagenet"  # the authors' pretrained=True, for both backbones
    assert preset("fast").model.pretrained_backbone is None  # ours learns from random init, offline
    data = cfg.data  # the authors' only augmentation is the flip
    assert (data.scale_jitter, data.shift_jitter, data.intensity_jitter, data.clinical_noise,
            data.clinical_dropout, data.clinical_record_dropout) == (0, 0, 0, 0, 0, 0)
    fast = preset("fast").data
    assert (fast.scale_jitter, fast.shift_jitter, fast.intensity_jitter) == (0.15, 0.08, 0.2)


def test_yaml_then_command_line_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"model": {"fusion": "hadamard", "clinical_features": ["age", "gender"]},
                                    "train": {"lr": "1e-2"}}))
    cfg = load_config(path, "fast", ["train.epochs=3", "model.fpn=true", "train.lr=5e-3"])
    assert cfg.model.fusion == "hadamard" and cfg.model.fpn is True
    assert cfg.model.clinical_features == ("age", "gender")  # lists become tuples
    assert cfg.train.epochs == 3 and cfg.train.lr == 0.005  # the command line wins
    assert cfg.model.spatialiser == "lite"  # from the fast preset


def test_a_bad_value_in_a_yaml_file_is_caught_too(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"batch_size": 0}}))
    with pytest.raises(InputError, match=r"^train\.batch_size=0: expected a whole number >= 1$"):
        load_config(path, "fast")
    path.write_text("- just\n- a list\n")
    with pytest.raises(InputError, match=r"must be a mapping of sections \(model, data, train\) to settings"):
        load_config(path, "fast")


def test_round_trip_through_yaml(tmp_path, tiny_cohort):
    cfg = apply_overrides(preset("fast"), ["model.variant=msf3d", f"data.cohort={tiny_cohort}"])
    save_config(cfg, tmp_path / "config.yaml")
    assert config_from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text())) == cfg


def test_paths_are_looked_up_where_a_person_gives_them_not_in_checkpoints(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match=rf"^data\.cohort='{missing}': {missing}/cohort.csv: not found; expected a "
                                         "folder written by `mdfnet prepare`$"):
        load_config(None, "fast", [f"data.cohort={missing}"])
    with pytest.raises(InputError, match=rf"^model\.pretrained_backbone='{missing}.pth': no such file {missing}.pth; "
                                         "expected 'imagenet', 'none' or a torchvision state-dict file$"):
        load_config(None, "fast", [f"model.pretrained_backbone={missing}.pth"])
    with pytest.raises(InputError, match=rf"^train\.init_from='{missing}/best.pt': no such file {missing}/best.pt; "
                                         r"expected a checkpoint written by `mdfnet train` \(RUN/best.pt\)$"):
        load_config(None, "fast", [f"train.init_from={missing}/best.pt"])
    with pytest.raises(InputError, match=rf"^train\.init_from='{tmp_path}': {tmp_path} is a folder; name a checkpoint "
                                         rf"in it, e.g. {tmp_path}/best.pt$"):
        load_config(None, "fast", [f"train.init_from={tmp_path}"])
    # a checkpoint made on another machine names that machine's folders: still a valid config here
    saved = preset("fast").to_dict()
    saved["data"]["cohort"] = str(missing)
    saved["train"]["init_from"] = str(missing / "best.pt")
    assert config_from_dict(saved).data.cohort == str(missing)


@pytest.mark.parametrize(("items", "message"), [
    (["model.clinical_dim=18", "model.missing_indicators=true"],
     r"^model\.clinical_dim=18: expected at least 19 for 18 numeric columns and a gender embedding$"),
    (["model.fpn=true", "model.anchor_sizes=[32, 64]"],
     r"^model\.anchor_sizes=\(32, 64\): with model\.fpn=true expected 5 sizes, one per pyramid level$"),
    (["data.masks=ellipse"], r"^data\.masks='ellipse': needs model\.mask_head=true$"),
])
def test_settings_that_do_not_fit_together_are_caught_at_load(items, message):
    with pytest.raises(InputError, match=message):
        load_config(None, "fast", items)


@pytest.mark.parametrize(("items", "message"), [
    (["model.fusionn=sum"], r"unknown setting model.fusionn"),
    (["optim.lr=1"], r"unknown config section"),
    (["lr=1"], r"not of the form section.key=value"),
    (["train.lr=fast"], r"^train\.lr='fast': expected a number$"),
    (["train.lr=[1"], r"^override 'train.lr=\[1': '\[1' is not a YAML value$"),
])
def test_bad_overrides_are_clear_errors(items, message):
    with pytest.raises(InputError, match=message):
        load_config(None, "paper", items)


def test_unknown_preset():
    with pytest.raises(InputError, match="unknown preset 'slow'"):
        preset("slow")


def test_anchor_modes_agree_with_the_model():
    from mdfnet.model.anchors import ANCHOR_MODES

    assert all(RULES["model"]["anchor_sizes"].ok(mode) for mode in ANCHOR_MODES)
    assert not RULES["model"]["anchor_sizes"].ok("big")


def test_rule_builders_for_new_fields():
    from mdfnet.config import choice, items, number, one_of, optional, subset, whole

    stride = choice(8, 16, 32)
    assert stride.ok(16) and not stride.ok(True) and not stride.ok(16.0) and not stride.ok(24)
    assert stride.allowed() == "one of 8, 16, 32"
    assert choice("scaled", "auto").ok("auto") and not choice("scaled", "auto").ok("AUTO")
    assert whole(1).ok(3) and not whole(1).ok(0) and not whole(1).ok(True) and not whole(1).ok(2.0)
    assert number(0.0, 1.0, below=True).ok(0.0) and not number(0.0, 1.0, below=True).ok(1.0)
    assert not number(0.0).ok(float("nan")) and not number(0.0).ok(float("inf"))
    assert optional(whole(1)).ok(None) and optional(whole(1)).allowed() == "null or a whole number >= 1"
    assert items(whole(1)).ok((1, 2)) and not items(whole(1)).ok(()) and not items(whole(1)).ok([1])
    assert subset(lambda: ("a", "b")).ok(("b",)) and not subset(lambda: ("a", "b")).ok(("a", "a"))
    assert one_of(lambda: ("x",)).ok("x") and not one_of(lambda: ("x",)).ok(1)


def test_a_setting_the_detector_does_not_have_is_refused_at_load_unless_the_preset_set_it(tmp_path):
    cfg = load_config(None, "fast", ["model.detector=fcos", "model.fpn=true"])
    assert (cfg.model.detector, cfg.model.box_samples, cfg.model.rpn_proposals) == ("fcos", 128, (300, 300))
    paper = load_config(None, "paper", ["model.detector=fcos", "model.fpn=true"])  # its anchors are the preset's
    assert paper.model.anchor_sizes == (32, 64, 128, 256, 512)
    retinanet = load_config(None, "paper", ["model.detector=retinanet", "model.anchor_sizes=[8,16,32,64,128]"])
    assert retinanet.model.anchor_sizes == (8, 16, 32, 64, 128)
    path = tmp_path / "fcos.yaml"
    path.write_text("model:\n  detector: fcos\n  aspect_ratios: [1.0]\n")
    with pytest.raises(InputError, match=r"^model.aspect_ratios=\[1.0\]: model.detector=fcos has no such setting "
                                         r"\(maskrcnn and retinanet only\); leave it out$"):
        load_config(path, "fast")
    with pytest.raises(InputError, match=r"^model\.detector='detr': expected one of maskrcnn, retinanet, fcos$"):
        load_config(None, "fast", ["model.detector=detr"])
    assert config_from_dict({"model": {"variant": "mdf"}}).model.detector == "maskrcnn"  # checkpoints before it
