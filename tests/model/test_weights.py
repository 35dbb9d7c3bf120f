"""ImageNet weights by name through torch's hub cache, offline (MDFNET_OFFLINE=1 for the whole session)."""

import re

import pytest
import torch
from torch import hub
from torchvision.models import densenet121, get_model_weights, mobilenet_v3_small, resnet18

import mdfnet
from mdfnet.config import preset
from mdfnet.errors import InputError
from mdfnet.model.backbones import BACKBONES, build_backbone
from mdfnet.model.weights import OFFLINE_ENV, check_weights_available, fetch, list_weights, pretrained_file

MNV3S_FILE = "mobilenet_v3_small-047dcff4.pth"  # torchvision's name for MobileNet_V3_Small IMAGENET1K_V1
MNV3S_URL = f"https://download.pytorch.org/models/{MNV3S_FILE}"


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def _cache(torch_home, name, state):
    path = torch_home / "hub" / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def _missing_line(torch_home, why):
    return (f"mobilenet_v3_small ImageNet weights {MNV3S_FILE} are not in the cache and {why}; download {MNV3S_URL} "
            f"(e.g. `mdfnet weights fetch mobilenet_v3_small` on a machine with network access) into "
            f"{torch_home / 'hub' / 'checkpoints'}")


def test_cached_imagenet_file_is_loaded_into_both_paper_backbones(torch_home):
    torch.manual_seed(5)
    state = mobilenet_v3_small(weights=None).state_dict()
    _cache(torch_home, MNV3S_FILE, state)
    model = mdfnet.build_model("mdf", preset="paper", image_size=64)  # the paper preset says "imagenet"
    for backbone in (model.backbone, model.clinical_branch.backbone):
        body = backbone.body.state_dict()
        assert len(body) == sum(k.startswith("features.") for k in state)
        for key, value in body.items():
            assert torch.equal(value, state[f"features.{key}"]), key
    fast = mdfnet.build_model("baseline", preset="fast", image_size=64, pretrained_backbone="imagenet")
    assert torch.equal(fast.backbone.body["0"][0].weight, state["features.0.0.weight"])  # FinestLevel's stages


def test_a_file_of_the_wrong_architecture_names_the_file_and_the_first_mismatch(torch_home):
    path = _cache(torch_home, MNV3S_FILE, resnet18(weights=None).state_dict())
    with pytest.raises(InputError) as err:
        mdfnet.build_model("baseline", preset="fast", pretrained_backbone="imagenet")
    assert str(err.value) == (f"{path} does not fit mobilenet_v3_small: it has no 'features.0.0.weight' "
                              "(its first key is 'conv1.weight')")
    state = mobilenet_v3_small(weights=None).state_dict()
    state["classifier.3.weight"] = torch.zeros(10, 1024)  # a 10-class head
    torch.save(state, path)
    with pytest.raises(InputError) as err:
        mdfnet.build_model("baseline", preset="fast", pretrained_backbone="imagenet")
    assert str(err.value) == (f"{path} does not fit mobilenet_v3_small: 'classifier.3.weight' has shape [10, 1024] "
                              "in the file, [1000, 1024] in mobilenet_v3_small")


def test_empty_offline_cache_is_one_line_and_never_tries_the_network(torch_home, monkeypatch):
    monkeypatch.setattr(hub, "download_url_to_file", lambda *a, **kw: pytest.fail("tried to download"))
    line = _missing_line(torch_home, "MDFNET_OFFLINE=1 forbids downloading it")
    with pytest.raises(InputError) as err:
        mdfnet.build_model("baseline", preset="paper", image_size=64)
    assert str(err.value) == line
    with pytest.raises(InputError) as err:
        check_weights_available(preset("paper").model)
    assert str(err.value) == line
    assert check_weights_available(preset("fast").model) is None  # random init needs no file
    assert not torch_home.exists()  # nothing was created


def test_online_fetch_goes_through_torch_hub_under_torchvisions_name(torch_home, monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV)
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):  # torch.hub's signature
        calls.append((url, hash_prefix))
        torch.save(mobilenet_v3_small(weights=None).state_dict(), dst)

    monkeypatch.setattr(hub, "download_url_to_file", fake_download)
    path = fetch("mobilenet_v3_small", progress=False)
    assert path == torch_home / "hub" / "checkpoints" / MNV3S_FILE and path.is_file()
    assert calls == [(MNV3S_URL, "047dcff4")]  # hash-checked, as torchvision's own builders download
    assert fetch("mobilenet_v3_small") == path and len(calls) == 1  # cached: no second download


def test_a_failed_download_is_the_same_line_with_the_reason(torch_home, monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV)  # online as far as mdfnet knows; the session's socket guard refuses
    with pytest.raises(InputError) as err:
        fetch("mobilenet_v3_small", progress=False)
    message = str(err.value)
    assert message.startswith(f"mobilenet_v3_small ImageNet weights {MNV3S_FILE} are not in the cache and "
                              "downloading it failed (")
    assert "tests may not" in message  # the socket guard's refusal, as urllib reports it
    assert message.endswith(f"into {torch_home / 'hub' / 'checkpoints'}") and "\n" not in message
    assert not (torch_home / "hub" / "checkpoints" / MNV3S_FILE).exists()


def test_weights_spec_none_path_and_missing_path(tmp_path):
    assert pretrained_file(None, "resnet18") is None
    assert pretrained_file("none", "resnet18") is None and pretrained_file("None", "resnet18") is None
    path = tmp_path / "r18.pth"
    path.write_bytes(b"")
    assert pretrained_file(str(path), "resnet18") == path
    with pytest.raises(InputError, match=re.escape(f"weights file {tmp_path / 'nope.pth'} does not exist")):
        pretrained_file(tmp_path / "nope.pth", "resnet18")


def test_densenet_files_with_torchvisions_old_key_names_load(tmp_path):
    torch.manual_seed(2)
    state = densenet121(weights=None).state_dict()
    # torchvision's published DenseNet file spells "denselayer1.norm1" as "denselayer1.norm.1"
    old = {re.sub(r"(denselayer\d+\.(norm|relu|conv))([12])\.", r"\1.\3.", k): v for k, v in state.items()}
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    path = tmp_path / "densenet121.pth"
    torch.save(old, path)
    backbone = build_backbone("densenet121", 64, pretrained=path)
    key = "denseblock1.denselayer1.norm1.weight"
    assert torch.equal(backbone.body[4].denselayer1.norm1.weight, state[f"features.{key}"])


def test_list_reports_the_cached_file_and_its_size_source(torch_home):
    _cache(torch_home, MNV3S_FILE, {"x": torch.zeros(1)})
    listed = {w.backbone: w for w in list_weights()}
    assert list(listed) == ["mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet50", "efficientnet_b0",
                            "densenet121", "convnext_tiny"]
    small = listed["mobilenet_v3_small"]
    assert (small.weights, small.file_name, small.url) == ("MobileNet_V3_Small_Weights.IMAGENET1K_V1", MNV3S_FILE,
                                                           MNV3S_URL)
    assert small.cached and (small.size_mb, small.size_from) == (9.829, "meta")
    assert [w.backbone for w in listed.values() if w.cached] == ["mobilenet_v3_small"]


def test_every_backbone_names_its_own_architectures_imagenet1k_v1_file():
    for name, entry in BACKBONES.items():
        assert type(entry.imagenet) is get_model_weights(entry.classifier), name  # e.g. no resnet50 file on resnet18
        assert entry.imagenet.name == "IMAGENET1K_V1", name  # what pretrained=True meant
        assert entry.imagenet.url.endswith(".pth"), name
