#!/usr/bin/env bash
# The checks that need a GPU, as one prepared run (about 8 minutes on one H200), for a session lent one.
#
# It runs with the GPU machine's own python3 (torch and torchvision there, not our pinned wheels), the
# package from src/, and the two dependencies that machine lacks carried as wheels. Once, here:
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl faster-coco-eval==1.8.0 pydicom
#
# then one device call: command "bash benchmarks/gpu_checks.sh", carry [".whl"], timeout_s 600.
# Everything lands in $OUT (./gpu-checks when unset): log.txt, bench_model.md, train.csv, metrics.json.
#
#   1. bench_model.py on CUDA: train step and inference for every detector, variant and spatialiser at 512 px,
#      ratios to the same detector's baseline measured in the same run;
#   2. the CUDA + AMP training path end to end: synthetic data at 512 px, MDF-Net at the paper preset
#      with train.amp=true for 3 epochs, killed after the first and resumed, then evaluated on test;
#   3. torchrun on the NCCL backend (one process: the machine has one GPU), 1 epoch.
#
# A dry run of the script's plumbing on a CPU machine (minutes, nothing GPU-specific is exercised):
#   PATIENTS=40 OVERRIDES="model.image_size=64 train.device=cpu" BENCH="--devices cpu --size 64 --repeats 1" \
#       PATH=$PWD/.venv/bin:$PATH bash benchmarks/gpu_checks.sh
set -uo pipefail
patients=${PATIENTS:-300}
read -r -a overrides <<< "${OVERRIDES:-}"
read -r -a bench <<< "${BENCH:---devices cuda --repeats 5}"
out=${OUT:-gpu-checks}
work=${TMPDIR:-/tmp}/mdfnet-gpu
rm -rf "$work" && mkdir -p "$out" "$work"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" \
        .whl/*.whl || exit 1
fi
export PYTHONPATH="$PWD/src:$work/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mdfnet=(python3 -m mdfnet)

{
    nvidia-smi -L
    python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
    echo "== 1. model speed on CUDA"
    timeout 180 python3 benchmarks/bench_model.py "${bench[@]}" | tee "$out/bench_model.md"
    echo "== 2. CUDA + AMP training, paper preset"
    "${mdfnet[@]}" synth --out "$work/raw" --patients "$patients" --seed 0
    "${mdfnet[@]}" prepare --root "$work/raw" --out "$work/cohort"
    # Killed once its first epoch is saved, then resumed: the GradScaler state must carry over.
    # Random init: the GPU machine is offline, so it cannot fetch the paper preset's ImageNet weights.
    "${mdfnet[@]}" train --cohort "$work/cohort" --variant mdf --preset paper --out "$work/amp" \
        model.pretrained_backbone=none train.amp=true train.epochs=3 data.num_workers=4 "${overrides[@]}" & pid=$!
    while [ ! -f "$work/amp/last.pt" ] && kill -0 "$pid" 2> /dev/null; do sleep 1; done
    kill "$pid" 2> /dev/null; wait "$pid"
    timeout 240 "${mdfnet[@]}" train --resume --out "$work/amp"
    cp "$work/amp/metrics.csv" "$out/train.csv"
    "${mdfnet[@]}" evaluate --run "$work/amp" --split test --no-plots \
        && cp "$work/amp/eval_test_best/metrics.json" "$out/"
    echo "== 3. torchrun, NCCL"
    # torchrun as a module: the GPU machine's python3 has torch, its PATH may lack the torchrun script.
    timeout 120 python3 -m torch.distributed.run --standalone --nproc_per_node 1 -m mdfnet train \
        --cohort "$work/cohort" --variant mdf --preset paper --out "$work/ddp" model.pretrained_backbone=none \
        train.amp=true train.epochs=1 "${overrides[@]}"
    echo "torchrun exit code: $?"
} 2>&1 | tee "$out/log.txt"
