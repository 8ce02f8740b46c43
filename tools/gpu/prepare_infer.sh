#!/usr/bin/env bash
# tools/gpu/prepare_infer.sh: make, on this (CPU) machine, what the GPU machine needs to run
# the tracker through ONNX Runtime's CUDA provider (issue 27, part 3), cut into parts that
# each fit one device command next to the working tree. In .gpu-infer/ (ignored by git):
#
#   payload/  what travels: bin/facetrack (built here, stripped), lib/ (the FFmpeg and
#             libheif libraries it links, with their dependencies, from this machine:
#             the GPU machine has none), ort/ (onnxruntime-gpu's libonnxruntime.so and its
#             CUDA provider; with ARCH=90 the provider keeps only the H200's sm_90
#             kernels, tools/gpu/fatbin_keep.py), media/ (the test video), VERSIONS
#   p01/ p02/ ... the payload as one xz archive in parts, each with manifest.json
#             (SHA-256 of every part, of the archive and of every file): carry one per call
#   cache/    the downloaded wheel
#
# tools/gpu/infer.sh runs there, one call per part (tools/gpu/README.md gives the calls).
#
#   tools/gpu/prepare_infer.sh              build, fetch, pack; print the calls
#   ARCH=all tools/gpu/prepare_infer.sh     carry the whole CUDA provider (every GPU; more calls)
#   VIDEO=clip.mp4 tools/gpu/prepare_infer.sh   another test video (it is carried, never committed)
#   PART_MIB=20 tools/gpu/prepare_infer.sh  parts of at most 20 MiB (default: what the tree leaves)
#   NO_BUILD=1 tools/gpu/prepare_infer.sh   use target/release/facetrack as it is
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
ORT_GPU_VERSION="${ORT_GPU_VERSION:-1.31.1}"  # CUDA 13 build (its wheel needs nvidia-cuda-runtime ~=13.0), as setup.sh --gpu
ARCH="${ARCH:-90}"
VIDEO="${VIDEO:-/usr/share/doc/opencv-doc/examples/data/Megamind.avi}"
CARRY=.gpu-infer
PAY="$CARRY/payload"
CACHE="$CARRY/cache"
LIMIT=$((64 * 1024 * 1024))
MARGIN=$((4 * 1024 * 1024))   # the manifests, and room for small changes to the tree
PY="${PYTHON:-python3}"

die() { echo "prepare_infer.sh: $*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
case "$ARCH" in all|[0-9]*) ;; *) die "ARCH=$ARCH: a GPU architecture number (90 for the H200) or all" ;; esac
[ -f "$VIDEO" ] || die "no test video at $VIDEO (set VIDEO=...; Debian's opencv-doc has Megamind.avi)"
for t in "$PY" unzip ldd strip readelf objdump; do command -v "$t" >/dev/null || die "$t is missing"; done
mkdir -p "$CACHE"

# ---- the tracker and the libraries it links that the GPU machine lacks
if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "==> building the tracker (cargo build --release -p facetrack --bin facetrack)"
  cargo build --release -p facetrack --bin facetrack
fi
BIN=target/release/facetrack
[ -x "$BIN" ] || die "no $BIN"
rm -rf "$PAY.tmp" && mkdir -p "$PAY.tmp/bin" "$PAY.tmp/lib" "$PAY.tmp/ort" "$PAY.tmp/media"
strip -o "$PAY.tmp/bin/facetrack" "$BIN"
# everything ldd resolves except the C and C++ runtimes, which the GPU machine's own
# (newer) ones replace: FFmpeg 5.1 and libheif from this Debian 12 with all they pull in
if ldd "$BIN" | grep -q 'not found'; then ldd "$BIN" | grep 'not found' >&2; die "$BIN has unresolved libraries here"; fi
ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' \
  | grep -vE '^(libc|libm|libpthread|libdl|librt|libresolv|libutil|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so' \
  | while read -r name path; do cp -L "$path" "$PAY.tmp/lib/$name"; done
echo "==> $(ls "$PAY.tmp/lib" | wc -l) libraries of FFmpeg and libheif: $(mib "$(du -sb "$PAY.tmp/lib" | cut -f1)")"

# ---- onnxruntime-gpu: the library and its CUDA provider
WHL="$(ls "$CACHE"/onnxruntime_gpu-"$ORT_GPU_VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$WHL" ]; then
  echo "==> downloading onnxruntime-gpu $ORT_GPU_VERSION (Python 3.12, manylinux x86-64; about 256 MB)"
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$CACHE" "onnxruntime-gpu==$ORT_GPU_VERSION" \
    || die "pip could not download onnxruntime-gpu==$ORT_GPU_VERSION"
  WHL="$(ls "$CACHE"/onnxruntime_gpu-"$ORT_GPU_VERSION"-*.whl | head -n 1)"
fi
unzip -p "$WHL" '*/METADATA' | grep -q 'nvidia-cuda-runtime~=13' \
  || die "$WHL is not a CUDA 13 build (its METADATA names no nvidia-cuda-runtime~=13)"
unzip -q -o -j "$WHL" "onnxruntime/capi/libonnxruntime.so.$ORT_GPU_VERSION" \
  'onnxruntime/capi/libonnxruntime_providers_shared.so' 'onnxruntime/capi/libonnxruntime_providers_cuda.so' \
  -d "$PAY.tmp/ort" || die "unzip of $WHL failed"
mv "$PAY.tmp/ort/libonnxruntime.so.$ORT_GPU_VERSION" "$PAY.tmp/ort/libonnxruntime.so"
if [ "$ARCH" != all ]; then
  echo "==> keeping only the sm_$ARCH kernels of the CUDA provider"
  "$PY" tools/gpu/fatbin_keep.py "$PAY.tmp/ort/libonnxruntime_providers_cuda.so" \
    "$PAY.tmp/ort/libonnxruntime_providers_cuda.so" --sm "$ARCH"
fi
cp "$VIDEO" "$PAY.tmp/media/"
{
  echo "facetrack $(git describe --always --dirty 2>/dev/null || echo unknown), built $(date -u '+%Y-%m-%d %H:%M UTC') on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "onnxruntime-gpu $ORT_GPU_VERSION ($(basename "$WHL")), CUDA provider kernels: $([ "$ARCH" = all ] && echo 'all architectures' || echo "sm_$ARCH only")"
  echo "video: $(basename "$VIDEO") ($(stat -c %s "$VIDEO") bytes)"
  # what the carried code needs of the machine's C and C++ runtimes
  for f in "$PAY.tmp"/bin/* "$PAY.tmp"/lib/* "$PAY.tmp"/ort/*; do objdump -T "$f" 2>/dev/null; done \
    | grep -oE 'GLIBC_2\.[0-9]+|GLIBCXX_3\.4\.[0-9]+' | sort -u -t. -k1,1 -k2,2n -k3,3n \
    | awk -F. '{last[$1] = $0} END {printf "needs: glibc %s, libstdc++ %s or newer\n", last["GLIBC_2"], last["GLIBCXX_3"]}'
} >"$PAY.tmp/VERSIONS"
rm -rf "$PAY" && mv "$PAY.tmp" "$PAY"

# ---- parts that fit one device command each, next to the tree
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
untracked=$(git ls-files -z -o --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
room=$((LIMIT - tracked - untracked - MARGIN))
part=$room
[ -n "${PART_MIB:-}" ] && part=$((PART_MIB * 1024 * 1024))
[ "$part" -le "$room" ] || die "PART_MIB=$PART_MIB is over the $(mib "$room") the tree leaves"
[ "$part" -ge $((4 * 1024 * 1024)) ] || die "the tree leaves only $(mib "$room") of 64 MiB for a part: remove untracked files"
echo "==> packing (xz -9, single-threaded: a few minutes) into parts of $(mib "$part")"
"$PY" tools/gpu/parts.py pack "$PAY" "$CARRY" --part-bytes "$part"
n=$(ls -d "$CARRY"/p[0-9][0-9] | wc -l)
big=$(find "$CARRY"/p01 -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
echo "==> sizes: wheel $(mib "$(stat -c %s "$WHL")"), payload $(mib "$(du -sb --exclude=.complete "$PAY" | cut -f1)") (CUDA provider $(mib "$(stat -c %s "$PAY/ort/libonnxruntime_providers_cuda.so")")), archive in $n parts"
echo "==> a device command carries at most $(mib $((tracked + untracked + big))) of 64 MiB: tracked $(mib "$tracked"), untracked $(mib "$untracked"), one part $(mib "$big")"
echo "ready: $n back-to-back calls of the device tool (tools/gpu/README.md, 'Inference on the GPU'):"
for i in $(seq -f %02g 1 "$n"); do
  echo "  run(carry=[\"$CARRY/p$i\"], timeout_s=$([ "$i" = "$(printf %02d "$n")" ] && echo 420 || echo 120), command=\"bash tools/gpu/infer.sh\")"
done
