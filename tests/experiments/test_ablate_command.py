"""``mdfnet ablate`` on the command line: dry run, overrides after --seeds, one-line errors."""

from mdfnet.cli import main


def test_dry_run_lists_every_run_and_trains_nothing(tiny_cohort, tmp_path, capsys):
    out = tmp_path / "study"
    code = main(["ablate", "backbones", "--cohort", str(tiny_cohort), "--out", str(out), "--backbones", "resnet18",
                 "--dry-run", "--seeds", "0", "1", "train.epochs=1"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"[{i + 1}/6] backbones backbone=resnet18 variant={v} seed={s}: would be training"
                     for i, (v, s) in enumerate((v, s) for v in ("baseline", "msf3d", "mdf") for s in (0, 1))]
    assert not out.exists()


def test_unknown_study_and_bad_seed_are_one_line_errors(tiny_cohort, tmp_path, capsys):
    assert main(["ablate", "fusions", "--cohort", str(tiny_cohort), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == ("mdfnet ablate: error: unknown study 'fusions'; expected one of variants, "
                                       "fusion, backbones, features, detectors, correlation\n")
    assert main(["ablate", "variants", "--cohort", str(tiny_cohort), "--out", str(tmp_path), "--seeds", "x"]) == 2
    assert capsys.readouterr().err == "mdfnet ablate: error: --seeds: 'x' is not an integer\n"
    assert main(["ablate", "fusion", "model.fusion=film", "--cohort", str(tiny_cohort), "--out", str(tmp_path),
                 "--dry-run"]) == 2
    assert "model.fusion set what this study varies" in capsys.readouterr().err
