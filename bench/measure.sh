#!/usr/bin/env bash
# A quick check of the README's main figures in one go on an otherwise idle machine:
# stage timings, video -> CSV speed, live mode under Xvfb, and held-out accuracy (the
# comparisons with dlib and MediaPipe are bench/compare.sh and bench/compare_speed.sh).
#   bench/measure.sh [DATA_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/../shared/data}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; [ -n "${XPID:-}" ] && kill "$XPID" 2>/dev/null' EXIT
cd "$ROOT"
. bench/xvfb.sh
cargo build --release -q -p facetrack --bin facetrack --example render_clips
FT=target/release/facetrack
echo "## facetrack bench"
$FT bench
echo
echo "## video -> CSV, 640x480 30 fps, one face (rendered, 300 frames)"
target/release/examples/render_clips "$DATA" "$WORK" 1 300 >/dev/null
$FT video "$WORK/clip0.mp4" --csv "$WORK/out.csv" --stats
echo
echo "## live --source (same clip) under Xvfb"
start_xvfb 800x600x24
env -u WAYLAND_DISPLAY -u WAYLAND_SOCKET DISPLAY=":$D" $FT live --source "$WORK/clip0.mp4" --recordings "$WORK" --stats
echo
echo "## the test split of 300-W faces (never trained on, never used for a choice)"
$FT eval --data "$DATA/300w" --split test --boxes tracked
$FT eval --data "$DATA/300w" --split test
$FT eval --data "$DATA/300w" --split test --boxes detector
