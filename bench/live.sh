#!/usr/bin/env bash
# Live mode's figures (the README's "Live" table): a clip played as a 30 fps camera,
# `facetrack live --source CLIP --stats`, in a window under Xvfb, at 640x480, 1280x720
# and 1920x1080, with one face and without one, RUNS runs each (default 2), alternating
# the clips. The face: one test-split face rendered at 640x480 (300 frames, the clip of
# bench/compare_speed.sh) and scaled by FFmpeg; no face: FFmpeg's testsrc2 pattern, 10 s.
# The targets (issue 33): 30 fps shown, at most 1 % of the frames dropped, a
# capture-to-display p95 of at most 25 ms.
#   bench/live.sh [DATA_DIR] [RUNS]
# Exits 1 if a run failed (its row says so, and its last lines are printed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/../shared/data}"
RUNS="${2:-2}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a whole number from 1: $RUNS" >&2; exit 2; }
for tool in Xvfb ffmpeg; do
    command -v "$tool" >/dev/null || { echo "bench/live.sh needs $tool" >&2; exit 1; }
done
WORK="$(mktemp -d)"
XPID=""
trap 'rm -rf "$WORK"; [ -n "$XPID" ] && kill "$XPID" 2>/dev/null' EXIT
cd "$ROOT"
. bench/xvfb.sh
cargo build --release -q -p facetrack --bin facetrack --example render_clips
FT="$ROOT/target/release/facetrack"

SIZES="640x480 1280x720 1920x1080"
target/release/examples/render_clips "$DATA" "$WORK" 1 300 >/dev/null
for s in $SIZES; do
    if [ "$s" = 640x480 ]; then
        cp "$WORK/clip0.mp4" "$WORK/face-$s.mp4"
    else
        ffmpeg -v error -y -i "$WORK/clip0.mp4" -vf "scale=${s/x/:},setsar=1" -c:v libx264 \
            -preset veryfast -pix_fmt yuv420p "$WORK/face-$s.mp4"
    fi
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=$s:rate=30" -t 10 -c:v libx264 \
        -preset veryfast -pix_fmt yuv420p "$WORK/noface-$s.mp4"
done

# a free X display with room for a 1080p window
start_xvfb 2000x1200x24
failed=0

echo "| source | run | shown | fps | dropped | capture-to-display p50 / p95 | model a face |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for run in $(seq 1 "$RUNS"); do
    for kind in face noface; do
        for s in $SIZES; do
            log="$WORK/live-$kind-$s-$run.log"
            DISPLAY=":$D" timeout 120 "$FT" live --source "$WORK/$kind-$s.mp4" --stats \
                >"$log" 2>&1 || true
            line="$(grep '^live:' "$log" | tail -1 || true)"
            if [ -z "$line" ]; then
                echo "| $s $kind | $run | the run failed | | | | |"
                tail -5 "$log" | sed 's/^/    /' >&2
                failed=1
                continue
            fi
            # live: 300 frames captured, 300 displayed in 10.0 s (...), dropped 0 (0.00%),
            # capture-to-display latency p50 7.8 ms p95 11.5 ms, model 3.40 ms/face
            shown="$(sed -E 's/.* ([0-9]+) displayed.*/\1/' <<<"$line")"
            fps="$(sed -E 's/.*\(([0-9.]+) fps of.*/\1/' <<<"$line")"
            captured="$(sed -E 's/^live: ([0-9]+) frames captured.*/\1/' <<<"$line")"
            dropped="$(sed -E 's/.*dropped ([0-9]+ \([0-9.]+%\)).*/\1/' <<<"$line")"
            p50="$(sed -E 's/.*p50 ([0-9.]+) ms.*/\1/' <<<"$line")"
            p95="$(sed -E 's/.*p95 ([0-9.]+) ms.*/\1/' <<<"$line")"
            model="$(sed -E 's/.*model ([0-9.]+) ms\/face.*/\1/' <<<"$line")"
            [ "$kind" = noface ] && model="–" || model="$model ms"
            echo "| $s $kind | $run | $shown of $captured | $fps | $dropped | $p50 / $p95 ms | $model |"
        done
    done
done
exit "$failed"
