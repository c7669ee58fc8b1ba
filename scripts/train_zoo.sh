#!/usr/bin/env bash
# The zoo recipe: trains models/toy-gpt2-4l from scratch on the generated corpus
# (src/train/corpus.h) and keeps the best held-out checkpoint (F16, GPT-2 tokenizer files).
# Sized for a 2-core CPU and ~35 minutes of wall time (a shared 2-core machine managed ~300 tokens/s); on a bigger machine raise --steps.
#   scripts/train_zoo.sh            # fresh run
#   scripts/train_zoo.sh --resume models/toy-gpt2-4l/checkpoint   # continue a stopped run
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-models/toy-gpt2-4l}
cmake -G Ninja -B "$BUILD" -S . >/dev/null
ninja -C "$BUILD" circuitscan >/dev/null
mkdir -p "$OUT"
"$BUILD/circuitscan" train --preset toy-gpt2-4l --out "$OUT" --seed 0 \
  --docs 40000 --seq-len 128 --batch 8 --steps 600 --warmup 40 --lr 3e-3 --min-lr-frac 0.1 \
  --weight-decay 0.1 --clip 1.0 --neg-samples 256 --log-every 20 --eval-every 150 --eval-n 100 \
  --save-every 100 --time-budget-min "${TIME_BUDGET_MIN:-36}" "$@" | tee "$OUT/train_log.txt"
