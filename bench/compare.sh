#!/usr/bin/env bash
# facetrack vs dlib (HOG detector + 68-point shape predictor) on the same images and clips,
# in one run, on this machine. Installs dlib-bin into a throw-away venv (.deps/dlib-venv)
# and dlib's model from Debian's libdlib-data. Prints one table.
#
#   bench/compare.sh [DATA_DIR]      (default ../shared/data)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/../shared/data}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"

MODEL_DAT=/usr/share/dlib/shape_predictor_68_face_landmarks.dat
if [ ! -f "$MODEL_DAT" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get install -y -qq libdlib-data >/dev/null
fi
[ -f "$MODEL_DAT" ] || MODEL_DAT="$(dpkg -L libdlib-data | grep 'shape_predictor_68_face_landmarks.dat' | head -n1)"
if [ -f "$MODEL_DAT.bz2" ] && [ ! -f "$MODEL_DAT" ]; then bunzip2 -k "$MODEL_DAT.bz2"; fi
VENV=.deps/dlib-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q dlib-bin==20.0.1.post1 numpy pillow
fi

cargo build --release -q -p facetrack --bin facetrack --example render_clips
FT=target/release/facetrack
target/release/examples/render_clips "$DATA" "$WORK/clips" 4 >/dev/null

# images: the fixed test split of 300-W subjects (never trained on, never used for a choice)
t0=$(date +%s.%N)
$FT eval --data "$DATA/300w" --split test --json "$WORK/ft_img.json" --per-face "$WORK/faces.csv" --boxes detector --threads 2 >/dev/null
$FT eval --data "$DATA/300w" --split test --json "$WORK/ft_img_gt.json" --threads 2 >/dev/null
# the most accurate setting: each face also run mirrored (twice the model time)
$FT eval --data "$DATA/300w" --split test --json "$WORK/ft_img_flip.json" --boxes detector --flip --threads 2 >/dev/null
$FT eval --data "$DATA/300w" --split test --json "$WORK/ft_img_gt_flip.json" --flip --threads 2 >/dev/null
t1=$(date +%s.%N)
$FT eval --clips "$WORK/clips" --json "$WORK/ft_clips.json" --threads 2 >/dev/null
t2=$(date +%s.%N)
frames=$(cat "$WORK"/clips/*.gt.csv | grep -vc '^frame')
"$VENV/bin/python" bench/compare_dlib.py "$MODEL_DAT" "$WORK/faces.csv" "$WORK/clips" > "$WORK/dlib.json"

python3 - "$WORK" "$t0" "$t1" "$t2" "$frames" <<'PY'
import json, sys
w, t0, t1, t2, frames = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5])
fi, fg, fc, ff, ffg = (json.load(open(f"{w}/{n}.json")) for n in ("ft_img", "ft_img_gt", "ft_clips", "ft_img_flip", "ft_img_gt_flip"))
d = json.load(open(f"{w}/dlib.json"))
di, dc = d["images"], d["clips"]
pct = lambda x: "-" if x is None else f"{100*x:.2f} %"
both = lambda m, md: "-" if m is None else f"{100*m:.2f} % / {100*md:.2f} %"
num = lambda x: "-" if x is None else f"{x:.3f}"  # (eval's JSON: null where nothing was measured)
print(f"Same {fi['faces']} test-split 300-W faces and {frames} frames of 4 rendered clips, this machine, one run.\n")
print("| pipeline | images: NME mean / median (detector boxes) | images: NME mean / median (true boxes) | missed faces | clips: frames/s | clips: NME | clips: found | clips: flicker |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
print(f"| facetrack | {both(fi['nme_mean'], fi['nme_median'])} | {both(fg['nme_mean'], fg['nme_median'])} | {fi['missed']} | {frames/(t2-t1):.1f} (incl. model load) | {pct(fc['nme_mean'])} | {100*fc['success_rate']:.1f} % | {num(fc['flicker'])} |")
print(f"| facetrack `--flip` | {both(ff['nme_mean'], ff['nme_median'])} | {both(ffg['nme_mean'], ffg['nme_median'])} | {ff['missed']} | - | - | - | - |")
print(f"| dlib HOG + shape predictor | {both(di['dlib_hog_nme_mean'], di['dlib_hog_nme_median'])} | {both(di['dlib_gtbox_nme_mean'], di['dlib_gtbox_nme_median'])} | {di['dlib_hog_missed']} | {dc['hog']['frames_per_s']:.1f} | {pct(dc['hog']['nme_mean'])} | {100*dc['hog']['success_rate']:.1f} % | {dc['hog']['flicker']:.3f} |")
print(f"| dlib, box from previous landmarks | - | - | - | {dc['track']['frames_per_s']:.1f} | {pct(dc['track']['nme_mean'])} | {100*dc['track']['success_rate']:.1f} % | {dc['track']['flicker']:.3f} |")
r = dc['hog']['frames_per_s']
print(f"\nclips speed ratio facetrack / dlib HOG: {frames/(t2-t1)/r:.2f}x")
PY
