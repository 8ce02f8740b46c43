#!/usr/bin/env bash
# One-command setup for facetrack: system packages, ONNX Runtime, libtorch, demo media.
# Idempotent: every step checks what is already there (versions included) and skips it.
#
#   ./setup.sh           CPU setup (ONNX Runtime CPU + CPU libtorch cut from the torch wheel)
#   ./setup.sh --gpu     also fetch onnxruntime-gpu (CUDA execution provider) into .deps/onnxruntime-gpu
#   ./setup.sh --no-apt  skip the Debian packages (when you installed them yourself)
#   ./setup.sh --no-python  skip the Python package (venv in .deps/venv, wheel in target/wheels)
set -euo pipefail

ORT_VERSION=1.32.0
ORT_GPU_VERSION=1.31.1        # newest onnxruntime-gpu on PyPI (there is no 1.32.0); built for CUDA 13,
                              # and ort's api-31 feature needs at least 1.31
TORCH_VERSION=2.11.0          # tch 0.24 checks for exactly this version
CUDART_VERSION=13.0.96        # libcudart.so.13 that libtorch_cpu.so links (cuda-toolkit 13.0.2)
CUPTI_VERSION=13.0.85         # libcupti.so.13, likewise
APT_PACKAGES=(build-essential pkg-config libclang1-14 libclang-common-14-dev libclang-dev nasm
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libheif-dev
  xvfb x11-apps xdotool imagemagick opencv-doc ffmpeg python3-pip python3-venv unzip)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPS="$ROOT/.deps"
WHEELS="$DEPS/wheels"
GPU=0
APT=1
PYTHON_PKG=1
MATURIN_VERSION=1.16.0
RAY_VERSION=2.60.0
# tools/quantize.py (INT8 models) reads and writes ONNX with it
ONNX_VERSION=1.23.2
for arg in "$@"; do
  case "$arg" in
    --gpu) GPU=1 ;;
    --no-apt) APT=0 ;;
    --no-python) PYTHON_PKG=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

step=""
fail() { echo "setup.sh: step '$step' failed: $*" >&2; exit 1; }
trap 'rc=$?; [ $rc -ne 0 ] && echo "setup.sh: step \"$step\" failed (exit $rc); see the messages above" >&2' EXIT
say() { echo "==> $*"; }

PY=python3
command -v "$PY" >/dev/null || PY=python

# Run a download command up to three times: a registry or its proxy now and then hands over
# a truncated or mismatched file (pip then reports "do not match the hashes"), and a second
# fetch, past pip's cache, gets the right one. PIP_NO_CACHE_DIR is set for the retries.
with_retries() { # command...
  local try
  for try in 1 2 3; do
    if [ "$try" -gt 1 ]; then
      echo "setup.sh: attempt $((try - 1)) of step '$step' failed; retrying" >&2
      sleep $((try * 5))
      if PIP_NO_CACHE_DIR=1 "$@"; then return 0; fi
    elif "$@"; then
      return 0
    fi
  done
  return 1
}

# Download one wheel (no dependencies) into the cache, unless it is already there.
fetch_wheel() { # name version
  local name="$1" version="$2" norm
  norm="$(echo "$name" | tr '-' '_')"
  if ls "$WHEELS/${norm}-${version}"-*.whl >/dev/null 2>&1; then return 0; fi
  mkdir -p "$WHEELS"
  with_retries "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_25_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$WHEELS" "${name}==${version}" || fail "pip could not download ${name}==${version}"
}
wheel_path() { local norm; norm="$(echo "$1" | tr '-' '_')"; ls "$WHEELS/${norm}-${2}"-*.whl | head -n 1; }

# ---------------------------------------------------------------- Debian packages
step="debian packages"
if [ "$APT" = 1 ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    with_retries $SUDO apt-get update -qq || fail "apt-get update failed"
    with_retries $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || fail "apt-get install ${missing[*]} failed"
  else
    say "Debian packages: all present"
  fi
fi

# ---------------------------------------------------------------- ONNX Runtime (CPU)
step="onnxruntime"
ORT_DIR="$DEPS/onnxruntime"
if [ "$(cat "$ORT_DIR/VERSION" 2>/dev/null)" != "$ORT_VERSION" ]; then
  say "fetching ONNX Runtime $ORT_VERSION from the PyPI onnxruntime wheel"
  fetch_wheel onnxruntime "$ORT_VERSION"
  rm -rf "$ORT_DIR.tmp" && mkdir -p "$ORT_DIR.tmp"
  unzip -q -o -j "$(wheel_path onnxruntime "$ORT_VERSION")" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" \
    "onnxruntime/capi/libonnxruntime_providers_shared.so" -d "$ORT_DIR.tmp" || fail "unzip of the onnxruntime wheel failed"
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR.tmp/libonnxruntime.so"
  echo "$ORT_VERSION" > "$ORT_DIR.tmp/VERSION"
  rm -rf "$ORT_DIR" && mv "$ORT_DIR.tmp" "$ORT_DIR"
else
  say "ONNX Runtime $ORT_VERSION: present"
fi

# ---------------------------------------------------------------- ONNX Runtime (GPU, optional)
if [ "$GPU" = 1 ]; then
  step="onnxruntime-gpu"
  GDIR="$DEPS/onnxruntime-gpu"
  if [ "$(cat "$GDIR/VERSION" 2>/dev/null)" != "$ORT_GPU_VERSION" ]; then
    say "fetching onnxruntime-gpu $ORT_GPU_VERSION (CUDA execution provider)"
    fetch_wheel onnxruntime-gpu "$ORT_GPU_VERSION"
    rm -rf "$GDIR.tmp" && mkdir -p "$GDIR.tmp"
    unzip -q -o -j "$(wheel_path onnxruntime-gpu "$ORT_GPU_VERSION")" 'onnxruntime/capi/libonnxruntime*.so*' -d "$GDIR.tmp" \
      || fail "unzip of the onnxruntime-gpu wheel failed"
    ln -sf "libonnxruntime.so.$ORT_GPU_VERSION" "$GDIR.tmp/libonnxruntime.so"
    echo "$ORT_GPU_VERSION" > "$GDIR.tmp/VERSION"
    rm -rf "$GDIR" && mv "$GDIR.tmp" "$GDIR"
  else
    say "onnxruntime-gpu $ORT_GPU_VERSION: present"
  fi
fi

# ---------------------------------------------------------------- libtorch (CPU cut of the torch wheel)
step="libtorch"
LT="$DEPS/libtorch"
LT_STAMP="torch-$TORCH_VERSION cudart-$CUDART_VERSION cupti-$CUPTI_VERSION"
if [ "$(cat "$LT/VERSION" 2>/dev/null)" != "$LT_STAMP" ]; then
  say "cutting a CPU libtorch $TORCH_VERSION out of the PyPI torch wheel (about 530 MB download)"
  fetch_wheel torch "$TORCH_VERSION"
  fetch_wheel nvidia-cuda-runtime "$CUDART_VERSION"
  fetch_wheel nvidia-cuda-cupti "$CUPTI_VERSION"
  tmp="$DEPS/libtorch.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp/x" "$tmp/lib"
  unzip -q -o "$(wheel_path torch "$TORCH_VERSION")" 'torch/include/*' 'torch/lib/libtorch_cpu.so' \
    'torch/lib/libc10.so' 'torch/lib/libgomp.so.1' 'torch/lib/libtorch.so' -d "$tmp/x" \
    || fail "unzip of the torch wheel failed"
  mv "$tmp/x/torch/include" "$tmp/include"
  mv "$tmp/x/torch/lib/"* "$tmp/lib/"
  unzip -q -o -j "$(wheel_path nvidia-cuda-runtime "$CUDART_VERSION")" 'nvidia/cu13/lib/libcudart.so.13' -d "$tmp/lib" \
    || fail "unzip of the CUDA runtime wheel failed"
  unzip -q -o -j "$(wheel_path nvidia-cuda-cupti "$CUPTI_VERSION")" 'nvidia/cu13/lib/libcupti.so.13' -d "$tmp/lib" \
    || fail "unzip of the CUPTI wheel failed"
  # The wheel's libraries find each other through an RPATH into the pip tree; ours sit together.
  echo "$TORCH_VERSION" > "$tmp/build-version"
  echo "$LT_STAMP" > "$tmp/VERSION"
  rm -rf "$tmp/x" "$LT" && mv "$tmp" "$LT"
else
  say "libtorch $TORCH_VERSION: present"
fi

# ---------------------------------------------------------------- demo media
step="demo media"
MEGAMIND=/usr/share/doc/opencv-doc/examples/data/Megamind.avi
if [ "$APT" = 1 ] && [ ! -f "$MEGAMIND" ]; then fail "$MEGAMIND is missing although opencv-doc is installed"; fi
mkdir -p "$DEPS/media"
for f in Megamind.avi Megamind_bugy.avi; do
  src="/usr/share/doc/opencv-doc/examples/data/$f"
  [ -f "$src" ] && ln -sf "$src" "$DEPS/media/$f"
done

# ---------------------------------------------------------------- Python package
# The `facetrack` module (python/, PyO3 + maturin) built into a wheel and installed in
# the project's own virtual environment, with the onnxruntime wheel fetched above.
if [ "$PYTHON_PKG" = 1 ]; then
  step="python package"
  VENV="$DEPS/venv"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the Python environment .deps/venv"
    "$PY" -m venv "$VENV" || fail "python3 -m venv failed (install python3-venv)"
  fi
  if ! "$VENV/bin/python" -c "import maturin, numpy, pytest, pandas, pyarrow, ray, onnxruntime, onnx" 2>/dev/null \
     || [ "$("$VENV/bin/maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ]; then
    say "installing maturin, numpy, pytest, pandas, pyarrow, ray, onnxruntime and onnx into .deps/venv"
    with_retries "$VENV/bin/pip" install --quiet "maturin==$MATURIN_VERSION" numpy pytest pandas pyarrow "ray==$RAY_VERSION" "onnx==$ONNX_VERSION" \
      "$(wheel_path onnxruntime "$ORT_VERSION")" || fail "pip install into .deps/venv failed"
  fi
  say "building the facetrack Python wheel"
  cp "$ROOT/models/facetrack68.onnx" "$ROOT/python/facetrack/facetrack68.onnx"
  cp "$ROOT/models/facetrack68-slim.onnx" "$ROOT/python/facetrack/facetrack68-slim.onnx"
  rm -f "$ROOT"/target/wheels/facetrack-*.whl
  (cd "$ROOT/python" && CARGO_TARGET_DIR="$ROOT/target" "$VENV/bin/maturin" build --quiet --release \
     --auditwheel skip -i "$VENV/bin/python" -o "$ROOT/target/wheels") || fail "maturin build failed"
  "$VENV/bin/pip" install --quiet --force-reinstall --no-deps "$ROOT"/target/wheels/facetrack-*.whl \
    || fail "installing the facetrack wheel failed"
fi

step="done"
trap - EXIT
say "setup complete: ONNX Runtime in .deps/onnxruntime, libtorch in .deps/libtorch, demo videos in .deps/media, Python package in .deps/venv"
