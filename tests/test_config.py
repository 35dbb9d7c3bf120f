import pytest
import yaml

from mdfnet.config import apply_overrides, config_from_dict, load_config, preset, save_config
from mdfnet.errors import InputError


def test_paper_preset_is_the_authors_recipe():
    cfg = preset("paper")
    assert (cfg.model.image_size, cfg.model.backbone, cfg.model.fpn, cfg.model.spatialiser) == \
        (512, "mobilenet_v3_small", False, "paper")
    assert (cfg.train.optimizer, cfg.train.lr, cfg.train.momentum, cfg.train.batch_size) == ("sgd", 1e-3, 0.9, 4)
    assert cfg.data.hflip_p == 0.5 and cfg.model.loss_weighting == "uncertainty"
    assert cfg.model.pretrained_backbone == "imagenet"  # the authors' pretrained=True, for both backbones
    assert preset("fast").model.pretrained_backbone is None  # ours learns from random init, offline


def test_yaml_then_command_line_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"model": {"fusion": "hadamard", "clinical_features": ["age", "gender"]},
                                    "train": {"lr": "1e-2"}}))
    cfg = load_config(path, "fast", ["train.epochs=3", "model.fpn=true", "train.lr=5e-3"])
    assert cfg.model.fusion == "hadamard" and cfg.model.fpn is True
    assert cfg.model.clinical_features == ("age", "gender")  # lists become tuples
    assert cfg.train.epochs == 3 and cfg.train.lr == 0.005  # the command line wins
    assert cfg.model.spatialiser == "lite"  # from the fast preset


def test_round_trip_through_yaml(tmp_path):
    cfg = apply_overrides(preset("fast"), ["model.variant=msf3d", "data.cohort=/x"])
    save_config(cfg, tmp_path / "config.yaml")
    assert config_from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text())) == cfg


@pytest.mark.parametrize(("items", "message"), [
    (["model.fusionn=sum"], r"unknown setting model.fusionn"),
    (["optim.lr=1"], r"unknown config section"),
    (["lr=1"], r"not of the form section.key=value"),
    (["train.lr=fast"], r"train.lr|lr='fast' is not a number"),
])
def test_bad_overrides_are_clear_errors(items, message):
    with pytest.raises(InputError, match=message):
        load_config(None, "paper", items)


def test_unknown_preset():
    with pytest.raises(InputError, match="unknown preset 'slow'"):
        preset("slow")


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
    with pytest.raises(InputError, match=r"^unknown model.detector 'detr'; expected one of \['fcos', 'maskrcnn', "
                                         r"'retinanet'\]$"):
        load_config(None, "fast", ["model.detector=detr"])
    assert config_from_dict({"model": {"variant": "mdf"}}).model.detector == "maskrcnn"  # checkpoints before it
