"""benchmarks/bench_quality.py: the gain table's arithmetic against hand-computed gaps, and ``probe``
refusing a setting that would change the baselines it reuses."""

import argparse
import sys

import pandas as pd
import pytest

from benchmark_script import load_benchmark
from mdfnet.schema import CLASSES


def _runs(bench, values: dict[tuple[str, int], float]) -> pd.DataFrame:
    rows = []
    for (variant, seed), ap in values.items():
        rows.append({"variant": variant, "seed": seed, "AP_IoBB_0.50": ap,
                     **{bench.class_column(c): ap / (k + 1) for k, c in enumerate(CLASSES)}})
    return pd.DataFrame(rows)


def test_gain_row_pairs_each_seed_with_the_baseline_of_the_same_seed():
    bench = load_benchmark("bench_quality")
    # seed 2 has no baseline: left out of every column
    runs = _runs(bench, {("baseline", 0): 0.40, ("baseline", 1): 0.30, ("mdf", 1): 0.36, ("mdf", 0): 0.42,
                  ("mdf", 2): 0.90})
    row = bench.gain_rows(runs, "hard@0", 1.25)
    assert row["seeds"] == 2 and row["minutes"] == 1.2
    assert row["baseline_AP"] == pytest.approx(0.35) and row["mdf_AP"] == pytest.approx(0.39)
    assert row["gaps"] == "+2.0 +6.0"  # seed 0: 0.42 - 0.40, seed 1: 0.36 - 0.30, in points
    assert row["gap_points"] == pytest.approx(4.0) and row["gap_sd"] == pytest.approx(2 ** 0.5 * 2)
    assert row[f"mdf_{CLASSES[1]}"] == pytest.approx(0.39 / 2)
    assert "| hard@0 | 0.350 +- 0.071 | 0.390 +- 0.042 | +4.0 +- 2.8 | +2.0 +6.0 |" in bench.gain_markdown(
        pd.DataFrame([row]), "t")


def test_probe_takes_only_settings_that_leave_the_baselines_as_they_are(tmp_path):
    bench = load_benchmark("bench_quality")
    args = argparse.Namespace(gain=str(tmp_path), out=str(tmp_path / "p"), settings=["hard@0"], seeds=[0],
                              preset="fast", jobs=1, resamples=10, overrides=["train.lr=0.1"])
    with pytest.raises(SystemExit, match="only settings the baselines do not read.*got train.lr=0.1"):
        bench.probe(args)
    args.overrides = ["train.clinical_weight_decay=0.1"]
    with pytest.raises(SystemExit, match="lacks the baselines or the fresh draw: run `bench_quality.py gain`"):
        bench.probe(args)


@pytest.mark.parametrize("command", ["gain", "fresh"])
def test_an_override_typed_after_settings_is_refused_before_anything_runs(command, monkeypatch, capsys):
    bench = load_benchmark("bench_quality")
    monkeypatch.setattr(sys, "argv", ["bench_quality.py", command, "--settings", "hard@1", "model.anchor_sizes=auto"])
    with pytest.raises(SystemExit):
        bench.main()
    assert ("'model.anchor_sizes=auto' is not a synth setting: expected NAME[@clinical signal in 0..1], NAME one of "
            "demo, hard; put settings such as model.x=y before --settings") in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["bench_quality.py", command, "--settings", "hard@2"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "'hard@2' is not a synth setting" in capsys.readouterr().err
