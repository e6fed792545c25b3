#!/usr/bin/env bash
# Issue 12, part 7: the GPU checks, as one prepared script for a session that the `device` tool lends a GPU
# (an NVIDIA H200 with its own PyTorch; 15 minutes of device time for everything, the machine's start included).
#
# Prepare here, at no device time (the device machine reaches no network):
#   echo /.gpu/ >> .git/info/exclude && mkdir -p .gpu/fmnist .gpu/whl
#   cp /usr/share/datasets/fashion-mnist/*.gz .gpu/fmnist/            # 30 MB: the real data, not the synthetic fallback
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .gpu/whl pythae==0.1.2 <its requirements missing there>   # optional
# Then: run(command="bash benchmarks/gpu_check.sh", carry=[".gpu"], timeout_s=540). Results land in $OUT.
#
# What it does, in about 8 minutes:
#   1. the GPU, torch and the unit tests of the training package on CUDA (precision, DDP plumbing, checkpoints);
#   2. the throughput benchmark on the GPU: fp32, bf16, fp16 (gradient scaler), compile, pythae when its wheel came;
#   3. DDP with NCCL: on one GPU only world size 1 can run (NCCL refuses two ranks on one GPU), so it trains under
#      torchrun with one rank, resumes it, and checks that --nproc 2 is refused before any process starts;
#   4. one dSprites β-TCVAE run on the GPU for 20,000 steps, timed: the step time tells what the published budget
#      (300,000 steps × 5 models × 3 seeds) costs on this GPU; it does not fit in one lease.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_DISABLE=1
PY=${PY:-python3}
log() { echo; echo "=== $* ($(date +%T))"; }

if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "no CUDA GPU visible to $PY's torch: this script is for a machine the device tool lends" >&2
    exit 2
fi
if [ -d .gpu/whl ] && ls .gpu/whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
if [ -d .gpu/fmnist ]; then
    mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fmnist/*.gz /usr/share/datasets/fashion-mnist/
fi

log "1. GPU, torch, unit tests on CUDA"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" \
    | tee -a "$OUT/gpu.txt"
timeout 150 $PY -m pytest -q -x -p no:cacheprovider tests/training 2>&1 | tail -15 | tee "$OUT/tests.txt"

log "2. throughput on the GPU"
timeout 240 $PY benchmarks/train_throughput.py --device cuda --runs 3 --json "$OUT/throughput.json" 2>&1 \
    | tee "$OUT/throughput.txt"

log "3. DDP with NCCL (one GPU: one rank), resume, and --nproc beyond the GPUs"
R=/tmp/gpu_runs
rm -rf "$R"
timeout 90 torchrun --standalone --nproc-per-node 1 -m shadowplay train --data digits --model vae --name ddp \
    --runs-dir "$R" --no-progress trainer.max_steps=200 2>&1 | tail -5 | tee "$OUT/ddp.txt"
timeout 60 $PY -m shadowplay resume "$R/ddp" trainer.max_steps=300 --no-progress 2>&1 | tail -3 | tee -a "$OUT/ddp.txt"
timeout 60 $PY -m shadowplay train --data digits --model vae --name ddp2 --runs-dir "$R" --nproc 2 --no-progress \
    2>&1 | tail -2 | tee -a "$OUT/ddp.txt"

log "4. dSprites β-TCVAE on the GPU, 20,000 steps (the benchmark's data, model and metrics)"
cat > /tmp/dsprites_gpu.yaml <<'YAML'
output: /tmp/gpu_runs/dsprites
base:
  data: {source: dsprites, n_samples: 20000}
  model: {latent_dim: 10, net: conv, channels: [16, 16, 32, 32]}
  trainer: {batch_size: 64, lr: 0.001, max_steps: 20000, epochs: 10000, log_every: 500, device: cuda}
models:
  - {preset: beta_tcvae, beta: [6]}
seeds: [0]
metrics: [mig, dci, factor_vae]
evaluation: {split: test, iw_samples: 1, seed: 0, options: {dci: {n_estimators: 25}, factor_vae: {n_train: 1000}}}
YAML
timeout 200 $PY -m shadowplay study /tmp/dsprites_gpu.yaml --jobs 1 2>&1 | tail -6 | tee "$OUT/dsprites.txt"
cp /tmp/gpu_runs/dsprites/results.csv "$OUT/dsprites_results.csv" 2>/dev/null
grep -h '"samples_per_s"' /tmp/gpu_runs/dsprites/runs/*/metrics.jsonl 2>/dev/null | tail -1 >> "$OUT/dsprites.txt"
log "done"
