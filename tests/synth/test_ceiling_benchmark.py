"""benchmarks/bench_ceiling.py: its AP against a hand count, and a ceiling on a tiny draw that the
generator's own model fixes (at signal 0 the vitals add nothing; at signal 1 they add a lot)."""

import numpy as np
import pytest

from benchmark_script import load_benchmark

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

def test_average_precision_is_the_precision_envelope_at_each_positive():
    bench = load_benchmark("bench_ceiling")
    # ranked: hit, miss, hit, hit, miss -> precisions 1, 1/2, 2/3, 3/4; envelope at the hits 1, 3/4, 3/4
    positive = np.array([True, False, True, True, False])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    assert bench.average_precision(positive, score) == pytest.approx((1 + 0.75 + 0.75) / 3)
    # miss, hit, hit, miss, hit -> precisions at the hits 1/2, 2/3, 3/5; envelope 2/3, 2/3, 3/5
    assert bench.average_precision(positive[::-1], score) == pytest.approx((2 / 3 + 2 / 3 + 3 / 5) / 3)
    assert bench.average_precision(np.zeros(3, bool), np.ones(3)) == 0.0


def test_vitals_raise_the_ceiling_only_where_they_carry_the_signal():
    bench = load_benchmark("bench_ceiling")
    rows = {(r["setting"], r["class"]): r for name in ("hard@1", "hard@0")
            for r in bench.ceilings(name, studies=10_000, seed=0, steps=200)}
    assert {c for _, c in rows} == {"Atelectasis", "Consolidation", "Pulmonary edema", "Pleural abnormality"}
    for name in ("hard@1", "hard@0"):
        assert rows[name, "Atelectasis"]["share"] + rows[name, "Consolidation"]["share"] < 0.85  # decoys
    assert rows["hard@1", "Consolidation"]["with_vitals"] > rows["hard@1", "Consolidation"]["image_only"] + 0.2
    assert rows["hard@1", "Pulmonary edema"]["with_vitals"] > rows["hard@1", "Pulmonary edema"]["image_only"] + 0.2
    for cls in ("Atelectasis", "Consolidation"):
        assert abs(rows["hard@0", cls]["with_vitals"] - rows["hard@0", cls]["image_only"]) < 0.08


def test_early_stopping_on_val_rows_keeps_a_noise_fit_near_the_prior():
    bench = load_benchmark("bench_ceiling")
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(400, 5)), rng.integers(0, 2, 400)  # labels say nothing
    train, val = np.arange(400) < 40, (np.arange(400) >= 40) & (np.arange(400) < 140)
    held_out = np.arange(400) >= 200
    overfit = bench.posterior(features, labels, train, seed=0, steps=1500)[held_out]
    stopped = bench.posterior(features, labels, train, seed=0, steps=1500, val=val)[held_out]
    # 40 rows memorised: confident on new rows; stopped at the lowest val loss: close to 50/50
    assert np.abs(overfit[:, 1] - 0.5).mean() > 0.3
    assert np.abs(stopped[:, 1] - 0.5).mean() < 0.1


def test_train_studies_fits_on_that_many_and_refuses_more_than_the_first_half_holds():
    bench = load_benchmark("bench_ceiling")
    rows = {r["class"]: r for r in bench.ceilings("hard@1", studies=10_000, seed=0, steps=300, train_studies=2_000)}
    assert rows["Consolidation"]["with_vitals"] > rows["Consolidation"]["image_only"] + 0.15
    with pytest.raises(SystemExit, match="--train-studies 4001: give 1 to 4000"):
        bench.ceilings("hard@1", studies=10_000, seed=0, train_studies=4_001)
