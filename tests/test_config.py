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
