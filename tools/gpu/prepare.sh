#!/usr/bin/env bash
# tools/gpu/prepare.sh: make, on this (CPU) machine, what a GPU machine's command carries:
# .gpu/train (the trainer, built here and stripped; it links libtorch dynamically and uses
# the GPU machine's own torch) and .gpu/300w.ftpack (the 300-W training faces cut small,
# the test split left out). .gpu/ is ignored by git: the data's licence keeps it out.
# Then it checks that the working tree plus .gpu/ fit the device tool's 64 MiB.
#
#   tools/gpu/prepare.sh                   build, pack ../shared/data/300w, check the sizes
#   DATA=path/to/300w tools/gpu/prepare.sh pack another copy of the data
#   PACK_ARGS="--quality 85" tools/gpu/prepare.sh   other pack settings (see train pack --help)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DATA="${DATA:-$ROOT/../shared/data/300w}"
CARRY=.gpu
LIMIT=$((64 * 1024 * 1024))

[ -d "$DATA" ] || { echo "prepare.sh: no dataset at $DATA (set DATA=...)" >&2; exit 1; }
mkdir -p "$CARRY"
echo "==> building the trainer (cargo build --release -p train --bin train)"
cargo build --release -p train --bin train
strip -o "$CARRY/train.tmp" target/release/train && mv "$CARRY/train.tmp" "$CARRY/train"
if ! readelf -d "$CARRY/train" | grep -q 'libtorch_cpu.so'; then
  echo "prepare.sh: $CARRY/train does not link libtorch_cpu.so dynamically" >&2; exit 1
fi
echo "==> packing $DATA"
# shellcheck disable=SC2086
"$CARRY/train" pack "$DATA" --out "$CARRY/300w.ftpack" --overwrite ${PACK_ARGS:-}

# what a device command carries: tracked files, untracked files git does not ignore, .gpu/
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
untracked=$(git ls-files -z -o --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
carried=$(find "$CARRY" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
total=$((tracked + untracked + carried))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "==> a device command carries $(mib "$total") of 64 MiB: tracked $(mib "$tracked"), untracked $(mib "$untracked"), $CARRY/ $(mib "$carried")"
ls -l "$CARRY"
if [ "$total" -gt "$LIMIT" ]; then
  echo "prepare.sh: over the device tool's 64 MiB; pack smaller (PACK_ARGS='--quality 80' or '--crop-px 128') or remove untracked files" >&2
  exit 1
fi
echo "ready: run tools/gpu/train.sh there with carry [\"$CARRY\"] (tools/gpu/README.md)"
