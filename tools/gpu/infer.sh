#!/usr/bin/env bash
# tools/gpu/infer.sh: run the tracker on the GPU machine through ONNX Runtime's CUDA
# provider, in the root of a copy of this repository. What it needs comes from
# tools/gpu/prepare_infer.sh in parts (.gpu-infer/p01, p02, ...), one carried by each
# back-to-back device command. Each call stages the parts it finds (checked against their
# SHA-256) in STAGE, which survives while the machine stays warm (30 s after a call), and
# exits; the call that brings the last part joins and checks them, unpacks the tracker, the
# FFmpeg libraries it links, onnxruntime-gpu and the test video, puts that machine's CUDA
# libraries (PyTorch's nvidia-* packages: cuBLAS, cuDNN, cudart, ...) on LD_LIBRARY_PATH and
# runs, logging everything to $OUT/infer.log:
#   facetrack info --device cuda (the model it picks there: the float file)
#   facetrack bench --device cuda --batch 1,16,256 on the fp32 and the shipped INT8 model
#     ($OUT/bench-fp32.md, $OUT/bench-int8.md: faces/s per batch size, end to end on the video)
#   facetrack video VIDEO --device cuda --csv $OUT/video-cuda.csv --stats (float model), then
#     the same on the CPU and the difference between the two CSVs' points (mean, median, 99th, max)
# with ONNX Runtime's warnings (ORT_LOG=warning: whether a session left nodes to the CPU)
# and, from a verbose session of each model, the lines that say where its nodes were placed.
#
#   tools/gpu/infer.sh            (no arguments; settings below)
#
# Settings (environment):           default
#   DEVICE   cuda, or cpu to test the same steps on a machine without a GPU   cuda
#   STAGE    where parts and the unpacked payload stay between calls          /tmp/facetrack-gpu-infer
#   PARTS    the folder of the carried part folders                           .gpu-infer
#   BATCH    bench batch sizes                                                1,16,256
#   ITERS    bench repetitions                                                200
#   OUT      where results go                  $OUT of the device tool, else ./gpu-out
set -euo pipefail

DEVICE="${DEVICE:-cuda}"
STAGE="${STAGE:-/tmp/facetrack-gpu-infer}"
PARTS="${PARTS:-.gpu-infer}"
BATCH="${BATCH:-1,16,256}"
ITERS="${ITERS:-200}"
OUT="${OUT:-$PWD/gpu-out}"
PY="${PYTHON:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

mkdir -p "$OUT"
LOG="$OUT/infer.log"
: >"$LOG"
say() { echo "$*" | tee -a "$LOG"; }
die() { say "infer.sh: $*"; exit 1; }
case "$DEVICE" in cuda|cpu) ;; *) die "DEVICE=$DEVICE: cuda or cpu" ;; esac
t0=$(date +%s)

say "# facetrack on the GPU machine, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) memory; DEVICE=$DEVICE"
# fail fast, before anything is staged, where no GPU can be seen
if [ "$DEVICE" = cuda ]; then
  command -v nvidia-smi >/dev/null 2>&1 \
    || die "CUDA is not seen: no nvidia-smi on this machine (no NVIDIA driver); this script is for the GPU machine (DEVICE=cpu tests it elsewhere)"
  gpu="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -n 1)" \
    || die "CUDA is not seen: nvidia-smi failed: $gpu"
  say "gpu: $gpu"
fi

# ---- stage the parts this call carried
mapfile -t here < <(ls -d "$PARTS"/p[0-9][0-9] 2>/dev/null || true)
[ "${#here[@]}" -gt 0 ] || [ -f "$STAGE/payload/.complete" ] \
  || die "no part in $PARTS/ and nothing staged in $STAGE: carry $PARTS/p01 (made by tools/gpu/prepare_infer.sh)"
set +e
"$PY" "$HERE/parts.py" add "$STAGE" "${here[@]}" 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" = 10 ]; then
  say "staged in $(( $(date +%s) - t0 )) s; now carry the next part within 30 s (the machine keeps $STAGE only while warm)."
  exit 0
fi
# a part missing below the one carried: carried in order, the earlier ones were lost with a cold machine
[ "$rc" != 12 ] || die "a part carried earlier is gone (see above): carry the part it names next, then the rest in order"
[ "$rc" = 0 ] || die "staging the parts failed (exit $rc); see above"

P="$STAGE/payload"
FT="$P/bin/facetrack"
VIDEO="$(ls "$P"/media/* | head -n 1)"
sed 's/^/payload: /' "$P/VERSIONS" | tee -a "$LOG"

# ---- libraries: onnxruntime-gpu, this machine's CUDA (pip's nvidia-* packages), FFmpeg
libpath="$P/ort"
if [ "$DEVICE" = cuda ]; then
  nv="$("$PY" - <<'EOF'
import glob, os, site
dirs = set()
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    for lib in glob.glob(os.path.join(sp, "nvidia", "*", "lib", "lib*.so*")):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))
EOF
)" || die "python3 failed to list site-packages"
  [ -n "$nv" ] || die "CUDA's libraries are not seen: no nvidia/*/lib under $PY's site-packages (PyTorch's CUDA 13 install carries them)"
  libpath="$libpath:$nv"
  say "cuda libraries: $nv"
  if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/local/cuda/compat; do
      [ -e "$d/libcuda.so.1" ] && { libpath="$libpath:$d"; say "driver library: $d/libcuda.so.1"; break; }
    done
  fi
fi
# for the tracker only: python3 and PyTorch keep the machine's own libraries (zlib, expat, …)
FT_LD="$libpath:$P/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ft() { LD_LIBRARY_PATH="$FT_LD" "$FT" "$@"; }
export FACETRACK_ORT_LIB="$P/ort/libonnxruntime.so"
FP32="$ROOT/models/facetrack68-fp32.onnx"   # what --device cuda runs by default
INT8="$ROOT/models/facetrack68.onnx"        # the CPU's default
# ONNX Runtime's warnings in the log: among them whether a session left nodes to the CPU
export ORT_LOG="${ORT_LOG:-warning}"
# the default model where the tracker looks for it beside its binary (the payload has no
# models/; without this it would find one only at the path it was built in)
ln -sfn "$ROOT/models" "$P/models"
missing="$(LD_LIBRARY_PATH="$FT_LD" ldd "$FT" | grep 'not found' || true)"
[ -z "$missing" ] || die "the tracker's libraries are not all found ($(ldd --version | head -n 1); the payload $(grep '^needs:' "$P/VERSIONS")): $missing"
if [ "$DEVICE" = cuda ]; then
  missing="$(LD_LIBRARY_PATH="$FT_LD" ldd "$P/ort/libonnxruntime_providers_cuda.so" | grep 'not found' || true)"
  [ -z "$missing" ] || die "CUDA is not seen: the CUDA provider's libraries are not all found: $missing"
  cudnn=""
  for d in ${nv//:/ }; do [ -e "$d/libcudnn.so.9" ] && cudnn="$d"; done
  [ -n "$cudnn" ] || die "cuDNN 9 (libcudnn.so.9) is not in $nv: the CUDA provider needs it"
  cuda="$("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 | tail -n 1)" || true
  say "torch: $cuda"
  case "$cuda" in *"available True"*) ;; *) die "CUDA is not seen by PyTorch on this machine ($cuda)" ;; esac
fi
say "unpacked and checked in $(( $(date +%s) - t0 )) s"

run() { # name, file (or -), command...: log the command and its output (also into file); stop on failure
  local name="$1" file="$2"; shift 2
  say "## $name"
  if [ "$1" = ft ]; then say "\$ $FT ${*:2}"; else say "\$ $*"; fi
  local s; s=$(date +%s)
  set +e
  if [ "$file" = - ]; then
    "$@" 2>&1 | tee -a "$LOG"
  else
    "$@" 2>&1 | tee "$file" | tee -a "$LOG"
  fi
  local rc=${PIPESTATUS[0]}
  set -e
  say "($name: exit $rc after $(( $(date +%s) - s )) s)"
  if [ "$rc" != 0 ] && grep -qiE 'no kernel image|invalid device function|NO_BINARY_FOR_GPU' "$LOG" \
    && grep -q 'sm_[0-9]* only' "$P/VERSIONS"; then
    say "infer.sh: the CUDA provider found no kernel for this GPU: its other architectures were cut away here; run ARCH=all tools/gpu/prepare_infer.sh to carry it whole"
  fi
  [ "$rc" = 0 ] || die "$name failed (exit $rc); see above"
}
smi_pid=""
trap '[ -z "$smi_pid" ] || kill "$smi_pid" 2>/dev/null || true' EXIT
if [ "$DEVICE" = cuda ]; then
  # the GPU's load and memory twice a second while the tracker runs: proof that the model
  # ran there, not on a CPU fallback
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 >"$STAGE/smi.csv" 2>&1 &
  smi_pid=$!
fi
# the tracker's own choice of model for the device (--device cuda: the float file)
run info - ft info --device "$DEVICE"
# where each model's nodes run: ONNX Runtime's verbose log of one session, the placement lines
for m in "$FP32" "$INT8"; do
  say "## node placement, $(basename "$m") on $DEVICE"
  { ORT_LOG=verbose ft info --device "$DEVICE" --model "$m" 2>&1 || true; } \
    | grep -E 'placed on|Node placements|assigned to' | head -n 40 | tee -a "$LOG" || true
done
run "bench fp32" "$OUT/bench-fp32.md" ft bench --device "$DEVICE" --model "$FP32" \
  --batch "$BATCH" --iters "$ITERS" --video "$VIDEO"
# the 8-bit file on CUDA: its convolutions run in float between rounding steps and its
# integer output layer on the CPU (no CUDA kernel); measured to show what it would cost
run "bench int8" "$OUT/bench-int8.md" ft bench --device "$DEVICE" --model "$INT8" \
  --batch "$BATCH" --iters "$ITERS" --video "$VIDEO"
run "video $DEVICE" - ft video "$VIDEO" --device "$DEVICE" --model "$FP32" --csv "$OUT/video-$DEVICE.csv" --stats -y
# the same video and model on the CPU (with DEVICE=cpu: on one thread), and how far apart the points are
run "video cpu, for comparison" - ft video "$VIDEO" --device cpu --model "$FP32" --threads "$([ "$DEVICE" = cpu ] && echo 1 || echo 0)" \
  --csv "$STAGE/video-cpu-ref.csv" --stats -y
run "$DEVICE vs cpu" - "$PY" - "$OUT/video-$DEVICE.csv" "$STAGE/video-cpu-ref.csv" "$DEVICE" <<'EOF'
import csv, sys
def rows(p):
    with open(p) as f:
        return {(r["frame"], r["face_id"]): r for r in ({k.strip(): v for k, v in r.items()} for r in csv.DictReader(f))}
a, b = rows(sys.argv[1]), rows(sys.argv[2])
both = sorted(set(a) & set(b))
cols = [c for c in next(iter(a.values()), {}) if c[:2] in ("x_", "y_")]
diffs = sorted(abs(float(a[k][c]) - float(b[k][c])) for k in both for c in cols if a[k][c] and b[k][c])
print("faces (frame, face id): %s %d, cpu %d, in both %d; point coordinates compared: %d"
      % (sys.argv[3], len(a), len(b), len(both), len(diffs)))
if not diffs:
    sys.exit("no face tracked in both runs: nothing to compare")
if diffs:
    print("|%s - cpu| in pixels: mean %.4f, median %.4f, 99th %.4f, max %.4f"
          % (sys.argv[3], sum(diffs) / len(diffs), diffs[len(diffs) // 2], diffs[int(len(diffs) * 0.99)], diffs[-1]))
EOF
if [ -n "$smi_pid" ]; then
  kill "$smi_pid" 2>/dev/null || true
  smi_pid=""
  say "gpu while the tracker ran (nvidia-smi, every 0.5 s): $(awk -F', *' '$1+0 == $1 {n++; if ($1 > u) u = $1; if ($2 > m) m = $2; if ($1 > 0) busy++} END {printf "%d samples, %d with the GPU busy, highest utilization %d %%, highest memory used %d MiB", n, busy, u, m}' "$STAGE/smi.csv")"
fi
n=$(ls "$OUT" | wc -l)
[ "$n" -le 8 ] || die "$n files in $OUT: at most 8 come back"
say "results in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
say "done in $(( $(date +%s) - t0 )) s"
