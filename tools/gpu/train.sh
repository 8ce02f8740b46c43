#!/usr/bin/env bash
# tools/gpu/train.sh: train facetrack's landmark network on a GPU machine, in the root of a
# copy of this repository that holds .gpu/ (made here by tools/gpu/prepare.sh: the trainer
# built on the CPU machine and the data pack). The trainer runs against that machine's own
# torch 2.11.0 (its torch/lib on LD_LIBRARY_PATH; the trainer loads libtorch_cuda.so from
# there, so --device cuda sees the GPU). It stops by itself within BUDGET seconds,
# validates, and leaves in $OUT at most 8 files of at most 16 MiB: train.log (the command,
# the machine, the GPU, the loader's img/s, the epoch lines), config.json, metrics.csv,
# best-f16.ot and the last KEEP epochs' weights epoch-N-f16.ot (half precision; back on
# the CPU machine `train weights --to f32` restores them, see tools/gpu/README.md).
#
#   tools/gpu/train.sh [more `train fit` options, e.g. --init models/facetrack68-fp32.onnx]
#
# Settings (environment):           default
#   DEVICE   cuda or cpu             cuda
#   BUDGET   seconds for training    480   (the trainer's --time-budget-s)
#   EPOCHS   most epochs             300   (the budget lowers it after the first epoch)
#   BATCH    batch size              128
#   LR       peak learning rate      2e-3
#   WEIGHT   passes over the pack    32    (an epoch = WEIGHT x the training faces)
#   WORKERS  data-loading threads    cores - 2
#   THREADS  libtorch CPU threads    2
#   KEEP     last epochs brought back 3
#   PACK     the data pack           .gpu/300w.ftpack
#   FTRAIN_BIN the trainer           .gpu/train
#   TORCH_LIB libtorch's folder      torch/lib of python3's torch
#   OUT      where results go        $OUT of the device tool, else ./gpu-out
#   RUN      the run folder          a temporary folder
#   LOADER_BENCH_S seconds of the loader measurement before training   3
set -euo pipefail

DEVICE="${DEVICE:-cuda}"
BUDGET="${BUDGET:-480}"
EPOCHS="${EPOCHS:-300}"
BATCH="${BATCH:-128}"
LR="${LR:-2e-3}"
WEIGHT="${WEIGHT:-32}"
CORES="$(nproc 2>/dev/null || echo 2)"
WORKERS="${WORKERS:-$(( CORES > 3 ? CORES - 2 : 1 ))}"
THREADS="${THREADS:-2}"
KEEP="${KEEP:-3}"
PACK="${PACK:-.gpu/300w.ftpack}"
BIN="${FTRAIN_BIN:-.gpu/train}"
OUT="${OUT:-$PWD/gpu-out}"
RUN="${RUN:-$(mktemp -d "${TMPDIR:-/tmp}/ftrain-gpu.XXXXXX")/run}"
LOADER_BENCH_S="${LOADER_BENCH_S:-3}"
MAX_FILE=$((16 * 1024 * 1024))

mkdir -p "$OUT"
LOG="$OUT/train.log"
: >"$LOG"
say() { echo "$*" | tee -a "$LOG"; }
die() { say "train.sh: $*"; exit 1; }

[ -x "$BIN" ] || die "no trainer at $BIN (run tools/gpu/prepare.sh on the CPU machine and carry .gpu)"
[ -f "$PACK" ] || die "no data pack at $PACK (run tools/gpu/prepare.sh and carry .gpu)"
case "$DEVICE" in cuda|cpu) ;; *) die "DEVICE=$DEVICE: cuda or cpu" ;; esac

# libtorch: the machine's own torch (the trainer was linked against the same version)
PY_TORCH=0
if [ -z "${TORCH_LIB:-}" ]; then
  PY_TORCH=1
  TORCH_LIB="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)"
fi
if [ -n "$TORCH_LIB" ]; then
  [ -f "$TORCH_LIB/libtorch_cpu.so" ] || die "TORCH_LIB=$TORCH_LIB holds no libtorch_cpu.so"
  export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if [ "$DEVICE" = cuda ]; then
    [ -f "$TORCH_LIB/libtorch_cuda.so" ] || die "$TORCH_LIB has no libtorch_cuda.so: not a CUDA build of torch"
    export FTRAIN_TORCH_CUDA="$TORCH_LIB/libtorch_cuda.so"
  fi
elif [ "$DEVICE" = cuda ]; then
  die "no torch found (python3 -c 'import torch' failed); set TORCH_LIB to a CUDA torch 2.11.0's torch/lib"
fi

cmd=("$BIN" fit --preset ibug68-pip --data "$PACK@$WEIGHT" --device "$DEVICE"
  --epochs "$EPOCHS" --batch-size "$BATCH" --lr "$LR" --workers "$WORKERS" --threads "$THREADS"
  --time-budget-s "$BUDGET" --snapshots --no-export --out "$RUN" "$@")

say "# facetrack GPU training run, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "command: tools/gpu/train.sh $*"
say "trainer: ${cmd[*]}"
say "settings: DEVICE=$DEVICE BUDGET=$BUDGET EPOCHS=$EPOCHS BATCH=$BATCH LR=$LR WEIGHT=$WEIGHT WORKERS=$WORKERS THREADS=$THREADS KEEP=$KEEP"
say "machine: $(uname -srm), $CORES cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo 2>/dev/null) memory"
say "libtorch: ${TORCH_LIB:-as linked (the RUNPATH of the trainer)}"
if command -v nvidia-smi >/dev/null 2>&1; then
  say "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -n 1)"
fi
if [ "$PY_TORCH" = 1 ] && [ -n "$TORCH_LIB" ]; then
  say "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 | tail -n 1)"
fi
say "pack: $PACK ($(stat -c %s "$PACK") bytes)"

if [ "$LOADER_BENCH_S" != 0 ]; then
  "$BIN" loader-bench --data "$PACK" --workers "$WORKERS" --batch-size "$BATCH" --seconds "$LOADER_BENCH_S" 2>&1 | tee -a "$LOG"
fi

say "## training"
t0=$(date +%s)
set +e
"${cmd[@]}" 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
set -e
say "trainer exit status $rc after $(( $(date +%s) - t0 )) s"
[ "$rc" = 0 ] || die "the trainer failed (exit $rc); see above"

# results: small files, weights in half precision, at most 8 files of at most 16 MiB
cp "$RUN/config.json" "$RUN/metrics.csv" "$OUT/"
[ -f "$RUN/best.ot" ] || die "the run wrote no best.ot"
"$BIN" weights "$RUN/best.ot" "$OUT/best-f16.ot" --to f16 --overwrite 2>&1 | tee -a "$LOG"
mapfile -t snaps < <(ls "$RUN/snapshots" 2>/dev/null | sed -n 's/^epoch-\([0-9]*\)\.ot$/\1/p' | sort -n | tail -n "$KEEP")
for e in "${snaps[@]}"; do
  "$BIN" weights "$RUN/snapshots/epoch-$e.ot" "$OUT/epoch-$e-f16.ot" --to f16 --overwrite 2>&1 | tee -a "$LOG"
done
n=0
for f in "$OUT"/*; do
  n=$((n + 1))
  [ "$(stat -c %s "$f")" -le "$MAX_FILE" ] || die "$f is over 16 MiB: it would not come back"
done
[ "$n" -le 8 ] || die "$n files in $OUT: at most 8 come back (lower KEEP)"
say "results in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
say "done in $(( $(date +%s) - t0 )) s of training and packing up"
