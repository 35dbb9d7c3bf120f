"""Selecting configurations with ``only`` and training them in parallel worker processes."""

import pytest

from mdfnet.errors import InputError
from mdfnet.experiments import run_study


def test_two_jobs_train_the_selected_configurations(tiny_cohort, tmp_path):
    lines = []
    table = run_study("variants", tiny_cohort, tmp_path / "study", seeds=(0,), overrides=[
        "model.image_size=64", "train.epochs=1"], log=lines.append, jobs=2,
        only=["variant-baseline", "variant-mdf"])
    assert sorted(table["variant"]) == ["baseline", "mdf"]
    for variant in ("baseline", "mdf"):
        assert (tmp_path / "study" / "runs" / f"variant-{variant}" / "seed_0" / "best.pt").is_file()
    assert sum(": training" in line for line in lines) == 2


def test_unknown_configuration_is_a_clear_error(tiny_cohort, tmp_path):
    with pytest.raises(InputError, match=r"unknown configuration\(s\) \['variant-mdf2'\]"):
        run_study("variants", tiny_cohort, tmp_path, only=["variant-mdf2"])


def test_a_worker_ends_when_its_study_is_killed(tmp_path):
    # `kill PID` of a study reaches only the study: its workers must not go on training into its run folders
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "study.py"
    script.write_text(
        "import os, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import get_context\n"
        "from mdfnet.experiments.runner import _init_worker\n"
        "if __name__ == '__main__':\n"
        "    with ProcessPoolExecutor(1, mp_context=get_context('spawn'), initializer=_init_worker,\n"
        "                             initargs=(1, os.getpid())) as pool:\n"
        "        print(pool.submit(os.getpid).result(), flush=True)\n"
        "        pool.submit(time.sleep, 600)\n"
        "        time.sleep(600)\n")
    study = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(study.stdout.readline())
    os.kill(study.pid, signal.SIGKILL)
    study.wait()
    for _ in range(50):  # the watch looks every 2 s
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    pytest.fail(f"worker {worker} outlived its study by 10 s")
