#!/usr/bin/env bash
# Speed against MediaPipe FaceMesh (PyPI mediapipe==0.10.14, its legacy
# solutions.face_mesh, CPU/XNNPACK) at the resolutions users record, in one run:
#
#  1. video -> landmarks, whole processes, paired: facetrack's CLI writing a CSV against
#     bench/mediapipe_clip.py (OpenCV decoding + FaceMesh), alternating, 3 runs each:
#     frames/s, CPU seconds (user + system) per frame, peak resident memory; the medians.
#  2. per frame from Python on frames decoded beforehand (bench/python_frames.py):
#     facetrack's Tracker.process (RGB and BGR) against FaceMesh.process, in PY_ROUNDS
#     (default 4) alternating rounds; the ratio is the median of the rounds' own ratios.
#
# Both also run the optional slim model (models/facetrack68-slim.onnx: half the channels
# inside each residual block, 0.06-0.09 points of NME for about 0.6 ms a face): the rows
# "facetrack-slim" and "(rgb, max_faces=1, slim)".
#
# The clip is one test-split face rendered at 640x480, 30 fps (300 frames) and scaled by
# FFmpeg (libx264, yuv420p) to 1920x1080 (300 frames) and 3840x2160 (120 frames).
# Then video without a face (the rows "640x480-noface", "1920x1080-noface": FFmpeg's
# testsrc2 pattern, 300 frames), where both keep looking for one; NOFACE=0 leaves it out.
# MediaPipe goes into a throw-away venv (.deps/mediapipe-venv). dlib's figure is in
# bench/compare.sh.
#
#   bench/compare_speed.sh [DATA_DIR] [SIZES]     SIZES default: "640x480 1920x1080 3840x2160"
#   PY_ROUNDS=N (default 4): rounds of the Python comparison
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/../shared/data}"
SIZES="${2:-640x480 1920x1080 3840x2160}"
export PY_ROUNDS="${PY_ROUNDS:-4}"
[[ $PY_ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "PY_ROUNDS=$PY_ROUNDS: a whole number of rounds, 1 or more" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
VENV=.deps/mediapipe-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q mediapipe==0.10.14
fi
cargo build --release -q -p facetrack --bin facetrack --example render_clips
target/release/examples/render_clips "$DATA" "$WORK" 1 300 >/dev/null
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
  "$(grep -qw avx512_vnni /proc/cpuinfo && echo 'AVX-512 VNNI' || (grep -qw avx2 /proc/cpuinfo && echo 'AVX2, no VNNI' || echo 'no AVX2'))"
run() { # label size command...: appends "label size wall user sys maxrss_kb" if it succeeded
  local label="$1" size="$2"; shift 2
  if /usr/bin/time -o "$WORK/one.time" -f "$label $size %e %U %S %M" "$@" >/dev/null 2>>"$WORK/stderr.log"; then
    cat "$WORK/one.time" >>"$WORK/times.raw"
  else
    echo "failed (left out): $label $size: $*" >&2
  fi
}
SLIM=models/facetrack68-slim.onnx
for size in $SIZES; do
  clip="$WORK/clip-$size.mp4"
  frames=300
  [ "$size" = 3840x2160 ] && frames=120
  if [ "$size" = 640x480 ]; then
    ffmpeg -v error -y -i "$WORK/clip0.mp4" -frames:v "$frames" -c copy "$clip"
  else
    ffmpeg -v error -y -i "$WORK/clip0.mp4" -frames:v "$frames" -vf "scale=${size/x/:},setsar=1" \
      -c:v libx264 -pix_fmt yuv420p "$clip"
  fi
  echo "$size $frames" >>"$WORK/frames.txt"
  for i in 1 2 3; do
    run facetrack "$size" target/release/facetrack video "$clip" --csv "$WORK/ft.csv" --overwrite
    run facetrack-1thread "$size" target/release/facetrack video "$clip" --csv "$WORK/ft.csv" --overwrite --threads 1
    [ -f "$SLIM" ] && run facetrack-slim "$size" target/release/facetrack video "$clip" --csv "$WORK/ft.csv" --overwrite --model "$SLIM"
    run mediapipe "$size" "$VENV/bin/python" bench/mediapipe_clip.py "$clip"
  done
  if [ "$size" != 3840x2160 ]; then
    # PY_ROUNDS rounds, each running every setting once, MediaPipe in the middle and the
    # order reversed every other round: the ratio column is the median of the rounds' own
    # ratios (a slow spell of the machine falls on both sides of a round)
    py_step() {
      case $1 in
        0) .deps/venv/bin/python bench/python_frames.py facetrack "$clip" 150 rgb ;;
        1) .deps/venv/bin/python bench/python_frames.py facetrack "$clip" 150 bgr ;;
        2) "$VENV/bin/python" bench/python_frames.py mediapipe "$clip" 150 2>>"$WORK/stderr.log" ;;
        3) .deps/venv/bin/python bench/python_frames.py facetrack "$clip" 150 rgb 1 ;;
        4) [ ! -f "$SLIM" ] || .deps/venv/bin/python bench/python_frames.py facetrack "$clip" 150 rgb 1 "$SLIM" ;;
      esac
    }
    for ((i = 0; i < PY_ROUNDS; i++)); do
      for k in 0 1 2 3 4; do
        step=$((i % 2 ? 4 - k : k))
        # each result tagged with its round, so that a failed run leaves out only its own
        # pairs (as run() above, a failure is reported and the rest goes on)
        if out="$(py_step "$step")"; then
          grep '^{' <<<"$out" | sed "s/^{/{\"round\": $i, /" >>"$WORK/py.jsonl" || true
        else
          echo "failed (left out): python step $step, $size, round $((i + 1))" >&2
        fi
      done
    done
  fi
done
if [ "${NOFACE:-1}" != 0 ]; then
  for size in 640x480 1920x1080; do
    clip="$WORK/noface-$size.mp4"
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=$size:rate=30" -frames:v 300 \
      -c:v libx264 -pix_fmt yuv420p "$clip"
    echo "$size-noface 300" >>"$WORK/frames.txt"
    for i in 1 2 3; do
      run facetrack "$size-noface" target/release/facetrack video "$clip" --csv "$WORK/ft.csv" --overwrite
      run mediapipe "$size-noface" "$VENV/bin/python" bench/mediapipe_clip.py "$clip"
    done
  done
fi
grep -E '^(facetrack|facetrack-1thread|facetrack-slim|mediapipe) ' "$WORK/times.raw" >"$WORK/times.txt" || true
python3 - "$WORK/times.txt" "$WORK/frames.txt" "$WORK/py.jsonl" <<'PY'
import json, os, statistics, sys
frames = dict(l.split() for l in open(sys.argv[2]))
rows = {}
for line in open(sys.argv[1]):
    label, size, *v = line.split()
    rows.setdefault((size, label), []).append(tuple(map(float, v)))
print("\n### video -> landmarks, whole processes (median of 3 paired runs)\n")
print("| clip | system | frames/s | CPU ms per frame | peak memory MiB | frames/s ÷ MediaPipe's | CPU ÷ MediaPipe's |")
print("|---|---|---:|---:|---:|---:|---:|")
for size in frames:
    n = int(frames[size])
    med = {}
    for label in ("facetrack", "facetrack-1thread", "facetrack-slim", "mediapipe"):
        v = rows.get((size, label))
        if v:
            med[label] = (n / statistics.median(r[0] for r in v),
                          1000 * statistics.median(r[1] + r[2] for r in v) / n,
                          statistics.median(r[3] for r in v) / 1024)
    mp = med.get("mediapipe")
    for label, (fps, cpu, mem) in med.items():
        ratio = f"{fps / mp[0]:.2f}×" if mp and label != "mediapipe" else ""
        cratio = f"{cpu / mp[1]:.2f}" if mp and label != "mediapipe" else ""
        print(f"| {size}, {n} frames | {label} | {fps:.0f} | {cpu:.2f} | {mem:.0f} | {ratio} | {cratio} |")
if os.path.getsize(sys.argv[3]) if os.path.exists(sys.argv[3]) else 0:
    py = {}
    for line in open(sys.argv[3]):
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        faces = "" if d.get("max_faces", 4) == 4 else f", max_faces={d['max_faces']}"
        if d.get("model", "default") not in ("default", "face_mesh"):
            faces += ", " + os.path.basename(d["model"]).removeprefix("facetrack68-").removesuffix(".onnx")
        key = (d["size"], d["system"] + ("" if d["system"] == "mediapipe" else f" ({d['order']}{faces})"))
        py.setdefault(key, []).append(d)
    rounds = int(os.environ.get("PY_ROUNDS", "4"))
    print(f"\n### per frame from Python, frames decoded beforehand ({rounds} alternating rounds)\n")
    print("| frame | system | ms per frame (median) | frames/s | ÷ MediaPipe's frames/s: median of the rounds' ratios (range) |")
    print("|---|---|---:|---:|---:|")
    for size in dict.fromkeys(k[0] for k in py):
        mp = {d["round"]: d for d in py.get((size, "mediapipe"), [])}
        for (s, system), v in py.items():
            if s != size:
                continue
            ms = statistics.median(d["ms_per_frame"] for d in v)
            # a setting's run against MediaPipe's run of the same round
            r = [mp[d["round"]]["ms_per_frame"] / d["ms_per_frame"] for d in v if d["round"] in mp]
            ratio = (f"{statistics.median(r):.2f}× ({min(r):.2f}-{max(r):.2f})"
                     if r and system != "mediapipe" else "")
            if system != "mediapipe" and len(r) < rounds:
                ratio += f" ({len(r)} of {rounds} rounds)"
            elif system == "mediapipe" and len(v) < rounds:
                ratio = f"({len(v)} of {rounds} rounds)"
            print(f"| {size} | {system} | {ms:.2f} | {1000 / ms:.0f} | {ratio} |")
PY
