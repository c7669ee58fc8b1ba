#!/usr/bin/env bash
# The zoo recipe: trains models/toy-gpt2-4l from scratch on the generated corpus
# (src/train/corpus.h), keeps the best held-out checkpoint (F16, GPT-2 tokenizer files, the
# held-out induction words), scores it on 200 held-out prompts per task, and finds its reference
# circuits. Two stages: 6,000 steps of a cosine schedule, then a resume that stretches the
# schedule to 9,000 steps (the learning rate comes back up to ~1e-3 and decays again), because
# held-out induction was still climbing at step 6,000 (models/toy-gpt2-4l/README.md has the
# curve). About 50 minutes of training on an idle 2-core machine at ~5,500 tokens/s, then the
# scores and the reference circuits.
#   scripts/train_zoo.sh                 # fresh run
#   SKIP_TRAIN=1 scripts/train_zoo.sh    # only scores + circuits
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-models/toy-gpt2-4l}
CS="$BUILD/circuitscan"
cmake -G Ninja -B "$BUILD" -S . -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$BUILD" circuitscan >/dev/null
if [[ -z "${SKIP_TRAIN:-}" ]]; then
  mkdir -p "$OUT"
  STAGE1="$OUT/stage1"
  COMMON=(--preset toy-gpt2-4l --seed 0 --mix 0.25,0.10,0.15,0.25,0.15,0,0.10 --docs 400000 --seq-len 64
          --batch 32 --warmup 100 --lr 3e-3 --min-lr-frac 0.1 --init-std 0.1 --weight-decay 0.1 --clip 1.0
          --log-every 50 --eval-every 500 --eval-n 100 --save-every 500)
  "$CS" train "${COMMON[@]}" --out "$STAGE1" --steps 6000 | tee "$OUT/train_log_stage1.txt"
  "$CS" train "${COMMON[@]}" --out "$OUT" --steps 9000 --resume "$STAGE1/checkpoint" | tee "$OUT/train_log.txt"
  rm -rf "$STAGE1" "$OUT/checkpoint"  # F32 + optimizer state: for --resume only, not part of the zoo
fi
"$CS" train --evaluate "$OUT" --eval-n 200 --seed 7
mkdir -p "$OUT/circuits"
for task in ioi greater-than docstring induction; do
  "$CS" reference-circuit "$OUT" --task "$task" --out "$OUT/circuits/$task.json"
done
