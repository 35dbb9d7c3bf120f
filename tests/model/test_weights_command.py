"""``mdfnet weights list|fetch`` and the early stop of ``train`` / ``ablate --preset paper`` without weights."""

import importlib

import torch
from torchvision.models import mobilenet_v3_small

from mdfnet.cli import main

engine_train = importlib.import_module("mdfnet.engine.train")  # the module (mdfnet.engine.train is also the function)

MNV3S_FILE = "mobilenet_v3_small-047dcff4.pth"


def _offline_line(command, torch_home):
    return (f"mdfnet {command}: error: mobilenet_v3_small ImageNet weights {MNV3S_FILE} are not in the cache and "
            f"MDFNET_OFFLINE=1 forbids downloading it; download https://download.pytorch.org/models/{MNV3S_FILE} "
            f"(e.g. `mdfnet weights fetch mobilenet_v3_small` on a machine with network access) into "
            f"{torch_home / 'hub' / 'checkpoints'}\n")


def test_list_reports_the_cached_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(mobilenet_v3_small(weights=None).state_dict(), tmp_path / "hub" / "checkpoints" / MNV3S_FILE)
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, *rows, footer = lines
    assert header.split() == ["backbone", "weights", "file", "size_mb", "size_from", "cached", "url"]
    table = {row.split()[0]: row.split() for row in rows}
    assert len(table) == 7
    assert table["mobilenet_v3_small"] == ["mobilenet_v3_small", "MobileNet_V3_Small_Weights.IMAGENET1K_V1", MNV3S_FILE,
                                           "9.8", "meta", "yes", f"https://download.pytorch.org/models/{MNV3S_FILE}"]
    assert table["resnet18"][2:6] == ["resnet18-f37072fd.pth", "44.7", "meta", "no"]
    assert [name for name, row in table.items() if row[5] == "yes"] == ["mobilenet_v3_small"]
    assert footer.startswith(f"cache: {tmp_path / 'hub' / 'checkpoints'} ")


def test_fetch_offline_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["weights", "fetch", "mobilenet_v3_small"]) == 2
    assert capsys.readouterr().err == _offline_line("weights", tmp_path)
    assert main(["weights", "fetch", "all"]) == 2  # stops at the first backbone, in registry order
    assert capsys.readouterr().err == _offline_line("weights", tmp_path)
    assert main(["weights", "fetch", "vgg16"]) == 2
    assert "unknown backbone 'vgg16'" in capsys.readouterr().err


def test_fetch_of_a_cached_file_prints_its_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = tmp_path / "hub" / "checkpoints" / MNV3S_FILE
    path.parent.mkdir(parents=True)
    torch.save({}, path)
    assert main(["weights", "fetch", "mobilenet_v3_small"]) == 0
    assert capsys.readouterr().out == f"mobilenet_v3_small: {path}\n"


def test_paper_train_offline_with_an_empty_cache_stops_before_reading_the_cohort(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    missing_cohort = tmp_path / "no_such_cohort"  # reading it first would fail on this instead
    out = tmp_path / "run"
    assert main(["train", "--preset", "paper", "--cohort", str(missing_cohort), "--out", str(out)]) == 2
    assert capsys.readouterr().err == _offline_line("train", tmp_path / "torch")
    assert not out.exists()


def test_paper_study_offline_with_an_empty_cache_stops_before_training(tiny_cohort, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    out = tmp_path / "study"
    assert main(["ablate", "variants", "--preset", "paper", "--cohort", str(tiny_cohort), "--out", str(out)]) == 2
    assert capsys.readouterr().err == _offline_line("ablate", tmp_path / "torch")
    assert not out.exists()


def test_resume_keeps_the_runs_own_config_so_the_command_line_preset_is_not_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # empty: checking the paper preset would fail
    calls = []
    monkeypatch.setattr(engine_train, "train", lambda cfg, out, resume: calls.append((out, resume)) or {})
    assert main(["train", "--resume", "--out", str(tmp_path / "run")]) == 0  # the default preset is paper
    assert calls == [(tmp_path / "run", True)] and capsys.readouterr().err == ""
