#!/usr/bin/env bash
# The README's main job: build circuitscan and run discrete-SAE circuit discovery on the shipped
# model, writing out/TASK/{circuit.json,circuit.dot,report.html} and printing the AUC against the
# model's shipped reference circuit (MODEL/circuits/TASK.json). The default task is IOI;
# TASK=greater-than or TASK=docstring pick the other tasks the model ships circuits for.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cmake -G Ninja -B build -S . -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build circuitscan
MODEL=${MODEL:-models/toy-gpt2-4l}
TASK=${TASK:-ioi}
if [ ! -f "$MODEL/config.json" ]; then
  echo "demo: $MODEL is missing; falling back to the test checkpoint tests/data/gpt2-tiny (random weights)" >&2
  MODEL=tests/data/gpt2-tiny
fi
build/circuitscan discover "$MODEL" --task "$TASK" --out "out/$TASK" "$@"
