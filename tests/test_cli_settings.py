"""A bad value for every config field, through `train`, `ablate` and `predict`: exit 2, one line naming the
key, no traceback, and no work done (no run folder written)."""

from __future__ import annotations

import pytest
import torch
import yaml
from test_config import BAD_SETTINGS

from mdfnet.cli import main
from mdfnet.config import preset
from mdfnet.schema import CLASSES


def one_error_line(capsys, command: str, key: str) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    assert captured.err.startswith(f"mdfnet {command}: error: ") and captured.err.count("\n") == 1
    assert key in captured.err
    return captured.err


@pytest.mark.parametrize("key", sorted(BAD_SETTINGS))
def test_train_stops_on_a_bad_setting(key, tiny_cohort, tmp_path, capsys):
    text, allowed = BAD_SETTINGS[key]
    out = tmp_path / "run"
    code = main(["train", "--preset", "fast", "--cohort", str(tiny_cohort), "--out", str(out), f"{key}={text}"])
    assert code == 2
    assert one_error_line(capsys, "train", key).endswith(f"{allowed}\n")
    assert not out.exists()


@pytest.mark.parametrize("key", sorted(BAD_SETTINGS))
def test_ablate_stops_on_a_bad_setting(key, tiny_cohort, tmp_path, capsys):
    text, _ = BAD_SETTINGS[key]
    out = tmp_path / "study"
    assert main(["ablate", "variants", "--cohort", str(tiny_cohort), "--out", str(out), f"{key}={text}"]) == 2
    one_error_line(capsys, "ablate", key)  # what the study varies (model.variant, train.seed) is refused by name
    assert not out.exists()


@pytest.mark.parametrize("key", sorted(BAD_SETTINGS))
def test_predict_stops_on_a_checkpoint_with_a_bad_setting(key, tiny_cohort, tmp_path, capsys):
    text, allowed = BAD_SETTINGS[key]
    config = preset("fast").to_dict()
    section, name = key.split(".")
    config[section][name] = yaml.safe_load(text)
    checkpoint = tmp_path / "best.pt"
    torch.save({"config": config, "classes": list(CLASSES), "model": {}}, checkpoint)
    out = tmp_path / "pred"
    code = main(["predict", "--checkpoint", str(checkpoint), "--image", str(tiny_cohort / "img_0.png"),
                 "--out", str(out)])
    assert code == 2
    assert one_error_line(capsys, "predict", key).endswith(f"{allowed}\n")
    assert not out.exists()


def test_a_missing_cohort_folder_stops_train_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "fast", "--cohort", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert one_error_line(capsys, "train", "data.cohort").endswith(
        f"{tmp_path / 'nowhere' / 'cohort.csv'}: not found; expected a folder written by `mdfnet prepare`\n")
    assert not out.exists()
