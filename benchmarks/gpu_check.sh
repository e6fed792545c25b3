#!/usr/bin/env bash
# Issue 12, part 7: the GPU checks, as one prepared script for a session that the `device` tool lends a GPU
# (an NVIDIA H200 with its own PyTorch; 15 minutes of device time for everything, the machine's start included).
#
# Prepare here, at no device time (the device machine reaches no network):
#   echo /.gpu/ >> .git/info/exclude && mkdir -p .gpu/fmnist .gpu/whl
#   cp /usr/share/datasets/fashion-mnist/*.gz .gpu/fmnist/            # 30 MB: the real data, not the synthetic fallback
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .gpu/whl pythae==0.1.2 <its requirements missing there>   # optional
# Then: run(command="bash benchmarks/gpu_check.sh", carry=[".gpu"], timeout_s=580). Results land in $OUT.
#
# What it does, in at most 9.5 minutes (each step has its own time limit; they add up to 560 s):
#   1. the GPU, torch and the unit tests of the training package on CUDA (precision, DDP plumbing, checkpoints);
#   2. the throughput benchmark on the GPU: fp32, bf16, fp16 (gradient scaler), compile, pythae when its wheel came;
#   3. DDP with NCCL: on one GPU only world size 1 can run (NCCL refuses two ranks on one GPU), so it trains under
#      torchrun with one rank, resumes it, and checks that --nproc 2 is refused before any process starts;
#   4. one dSprites β-TCVAE run on the GPU for 20,000 steps, timed: the step time tells what the published budget
#      (300,000 steps × 5 models × 3 seeds) costs on this GPU; it does not fit in one lease.
#
# GPU_CHECK_DRY=1 runs the same steps on the CPU at tiny sizes (`make test-slow` does: run it before a GPU session,
# so the script has not rotted); PY picks the interpreter (default python3), OUT the results folder.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_DISABLE=1
PY=${PY:-python3}
log() { echo; echo "=== $* ($(date +%T))"; }
if [ "${GPU_CHECK_DRY:-0}" = 1 ]; then  # device, benchmark options, DDP steps, dSprites images and steps
    # two arms: the GPU run's options and JSON are what is checked here; every arm is the throughput smoke test's job
    DEV=cpu BENCH="--quick --synthetic --n 256 --batch 64 --big-batch 128 --no-compile --runs 1 --no-memory --arms bf16"
    STEPS=20 DS_N=2000 DS_STEPS=30 TESTS=(tests/training/test_distributed.py -k "cuda or gpus")
    TM=3  # time limits ×3: a busy CI machine starts processes slowly
else
    DEV=cuda BENCH="--runs 3" STEPS=200 DS_N=20000 DS_STEPS=20000 TESTS=(tests/training) TM=1
    if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "no CUDA GPU visible to $PY's torch: this script is for a machine the device tool lends" >&2
        exit 2
    fi
fi
R=$(mktemp -d /tmp/gpu_runs.XXXX)
[ "$DEV" = cpu ] && trap 'rm -rf "$R"' EXIT  # a dry run leaves nothing behind; a GPU machine is discarded anyway
failed=()  # the steps that failed, said at the end (each step runs even when one before it failed)
if [ -d .gpu/whl ] && ls .gpu/whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
if [ -d .gpu/fmnist ]; then
    mkdir -p /usr/share/datasets/fashion-mnist && cp .gpu/fmnist/*.gz /usr/share/datasets/fashion-mnist/
fi

log "1. the device, torch, the training tests"
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available() and
  torch.cuda.get_device_name())"; } 2>&1 | tee "$OUT/device.txt"
timeout $((100 * TM)) $PY -m pytest -q -x -p no:cacheprovider "${TESTS[@]}" 2>&1 | tail -15 | tee "$OUT/tests.txt" \
    || failed+=("tests")

log "2. training throughput on $DEV"
timeout $((210 * TM)) $PY benchmarks/train_throughput.py --device $DEV $BENCH --json "$OUT/throughput.json" 2>&1 \
    | tee "$OUT/throughput.txt" || failed+=("throughput")

log "3. DDP under torchrun (NCCL on a GPU; one GPU allows one rank), resume, and --nproc 2"
timeout $((35 * TM)) $PY -m torch.distributed.run --standalone --nproc-per-node 1 -m shadowplay train --data digits \
    --model vae --name ddp --runs-dir "$R" --no-progress trainer.max_steps=$STEPS trainer.device=$DEV 2>&1 \
    | tee "$OUT/ddp.txt" || failed+=("torchrun")
timeout $((35 * TM)) $PY -m shadowplay resume "$R/ddp" trainer.max_steps=$((STEPS * 3 / 2)) --no-progress 2>&1 \
    | tee -a "$OUT/ddp.txt" || failed+=("resume")
# on one GPU: refused before any process starts (exit status 2, expected); on CPU: two gloo ranks
timeout $((50 * TM)) $PY -m shadowplay train --data digits --model vae --name ddp2 --runs-dir "$R" --nproc 2 \
    --no-progress trainer.max_steps=$STEPS trainer.device=$DEV 2>&1 | tee -a "$OUT/ddp.txt"
status=$?
if { [ "$DEV" = cpu ] && [ $status != 0 ]; } || { [ "$DEV" = cuda ] && [ $status != 0 ] && [ $status != 2 ]; }; then
    failed+=("nproc 2")
fi

log "4. dSprites β-TCVAE on $DEV, $DS_STEPS steps (the benchmark's data, model and metrics), timed"
cat > "$R/dsprites.yaml" <<YAML
output: $R/dsprites
base:
  data: {source: dsprites, n_samples: $DS_N}
  model: {latent_dim: 10, net: conv, channels: [16, 16, 32, 32]}
  trainer: {batch_size: 64, lr: 0.001, max_steps: $DS_STEPS, epochs: 10000, log_every: 500, device: $DEV}
models:
  - {preset: beta_tcvae, beta: [6]}
seeds: [0]
metrics: [mig, dci, factor_vae]
evaluation: {split: test, iw_samples: 1, seed: 0, options: {dci: {n_estimators: 25}, factor_vae: {n_train: 1000}}}
YAML
timeout $((130 * TM)) $PY -m shadowplay study "$R/dsprites.yaml" --jobs 1 2>&1 | tail -6 | tee "$OUT/dsprites.txt" \
    || failed+=("dsprites")
cp "$R/dsprites/results.csv" "$OUT/dsprites_results.csv"
grep -h '"samples_per_s"' "$R"/dsprites/runs/*/metrics.jsonl | tail -1 | tee -a "$OUT/dsprites.txt"
if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]} (results so far in $OUT)"
    exit 1
fi
log "done: $OUT"
