"""`mdfnet serve`: which checkpoint it serves, where it binds, and its errors (uvicorn itself is not started)."""

from __future__ import annotations

import shutil

import pytest

from mdfnet.cli import main


@pytest.fixture
def started(monkeypatch):
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append((app, kw)))
    return calls


def test_without_a_checkpoint_it_serves_the_demos_mdf_net_and_says_which(served, tmp_path, monkeypatch, capsys,
                                                                         started):
    monkeypatch.chdir(tmp_path)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.strip() == (
        "mdfnet serve: error: no --checkpoint given and the demo's MDF-Net "
        "mdfnet-demo/study/runs/variant-mdf/seed_0/best.pt does not exist: run `mdfnet demo` first, or pass "
        "--checkpoint RUN/best.pt")
    demo = tmp_path / "mdfnet-demo/study/runs/variant-mdf/seed_0"
    demo.mkdir(parents=True)
    shutil.copy(served.checkpoint, demo / "best.pt")
    assert main(["serve"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "serving the demo's MDF-Net: mdfnet-demo/study/runs/variant-mdf/seed_0/best.pt"
    assert "open http://127.0.0.1:7860/" in out
    (app, options), = started
    assert options == {"host": "127.0.0.1", "port": 7860, "log_level": "warning"}
    assert any(getattr(route, "path", None) == "/api/predict" for route in app.routes)


def test_checkpoint_host_port_and_bad_options(served, capsys, started):
    assert main(["serve", "--checkpoint", str(served.checkpoint), "--host", "0.0.0.0", "--port", "8080"]) == 0
    assert started[0][1]["host"] == "0.0.0.0" and started[0][1]["port"] == 8080
    assert "serving the demo" not in capsys.readouterr().out
    assert main(["serve", "--checkpoint", str(served.checkpoint), "--max-upload-mb", "0"]) == 2
    assert "--max-upload-mb must be positive, got 0" in capsys.readouterr().err
    assert main(["serve", "--checkpoint", "missing.pt"]) == 2
    assert "checkpoint missing.pt does not exist" in capsys.readouterr().err
