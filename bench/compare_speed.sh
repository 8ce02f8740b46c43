#!/usr/bin/env bash
# Whole-process speed, facetrack against MediaPipe FaceMesh (PyPI mediapipe==0.10.14, its
# legacy solutions.face_mesh, CPU/XNNPACK), on the same rendered 10 s, 640x480, 30 fps
# clip of one test-split face, in one run: wall time, frames/s and CPU seconds (user +
# system) per 300 frames, the median of 3 paired runs. MediaPipe goes into a throw-away
# venv (.deps/mediapipe-venv). dlib's figure is in bench/compare.sh.
#
#   bench/compare_speed.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/../shared/data}"
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
CLIP="$WORK/clip0.mp4"
run() { # label command...: prints "label wall user sys"
  local label="$1"; shift
  /usr/bin/time -f "$label %e %U %S" "$@" >/dev/null 2>>"$WORK/times.txt" || true
}
for i in 1 2 3; do
  run facetrack target/release/facetrack video "$CLIP" --csv "$WORK/ft.csv" --overwrite
  run facetrack-1thread target/release/facetrack video "$CLIP" --csv "$WORK/ft1.csv" --overwrite --threads 1
  run mediapipe "$VENV/bin/python" bench/mediapipe_clip.py "$CLIP"
done
python3 - "$WORK/times.txt" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 4 and p[0] in ("facetrack", "facetrack-1thread", "mediapipe"):
        rows.setdefault(p[0], []).append(tuple(map(float, p[1:])))
print("| system (whole process, 300 frames) | frames/s | CPU s per 300 frames |")
print("|---|---:|---:|")
for k, v in rows.items():
    wall = statistics.median(r[0] for r in v)
    cpu = statistics.median(r[1] + r[2] for r in v)
    print(f"| {k} | {300 / wall:.0f} | {cpu:.2f} |")
PY
