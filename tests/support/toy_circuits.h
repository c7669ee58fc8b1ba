// Toy models whose circuit is known by construction, for testing circuit-discovery methods
// (SAE, ACDC, EAP, patching, ...) end to end: a method must find the heads we planted.
//
// induction_toy_model: a 2-layer, 2-heads-per-layer attention-only transformer (RMSNorm,
// learned absolute positions) with hand-set weights for the two-head induction circuit of
// Elhage et al. 2021 ("A Mathematical Framework for Transformer Circuits"), plus two heads with
// random weights that do nothing useful but write prompt-dependent output everywhere.
//
// Residual stream, D = 3V + P dims, in four regions (V tokens, P = n_ctx positions):
//   [0, V)            token one-hot           (W_E)
//   [V, V+P)          position one-hot        (W_pos)
//   [V+P, 2V+P)       scratch: previous token (written by head 0.0)
//   [2V+P, 3V+P)      output: predicted token (written by head 1.1; W_U reads only this)
// Heads (d_head = max(V, P); dims a head does not use stay zero):
//   0.0  previous-token head. q = position p, k = position j+1: attends from p to p-1 (position
//        0 to itself). v = token one-hot; W_O writes it into the scratch region.
//   1.1  induction head. q = current token, k = scratch (previous token): attends from a token
//        to the position right after its earlier occurrence. v = token one-hot; W_O writes it
//        into the output region, so the logits predict the token that followed last time.
//   0.1, 1.0  random: q, k, v and W_O weights normal (seeded), scaled so that the attention
//        patterns are far from uniform and the head's output has about the norm of the
//        circuit heads' outputs. 1.0 writes into the output region too, but too weakly to
//        change the argmax on induction prompts.
// The circuit for the induction task is therefore {0.0, 1.1}; its edges: input -> 0.0 (q, k,
// v), 0.0 -> 1.1 (k), input -> 1.1 (q, v), 1.1 -> output. Checked in
// tests/discover_known_circuit_test.cpp (defaults, n = 12): argmax accuracy 1.00 at every
// second-half position; with 0.0 or 1.1 zeroed ~0.04 (chance 1/31); with both random heads
// zeroed 1.00. That file also records how the discrete-SAE method ranks the heads.
// Defaults: V = 32, P = 48, so D = 144 and d_head = 48.
//
// Prompts (induction_toy_prompts): clean = BOS x1..xn x1..xn (n distinct tokens, repeated);
// the answer at the last position is x1 (xn was followed by x1 the first time). Negative = BOS
// and 2n distinct tokens, no repetition: same length, nothing to copy, the model cannot predict
// the next token. This is the layout of the builtin "induction" task (interp/task_induction.cpp)
// with a BOS. Token 0 is BOS and never appears elsewhere: without it, position 0 (which has no
// previous token) would copy its own token into the scratch region, and the second x1 would
// half-attend to position 0 instead of to x2.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace cs {

struct InductionToyOptions {
  int vocab = 32;               // V
  int n_ctx = 48;               // P: positions (prompts are at most this long)
  // Multiplies the random heads' W_O. 1: their outputs are about as large as the circuit
  // heads' (a method that ranks heads by output size alone cannot pass); 0 mutes them.
  float random_scale = 1.0f;
};

// The heads of the planted circuit (layer, head): previous-token head and induction head.
inline constexpr int kToyPrevTokenLayer = 0, kToyPrevTokenHead = 0;
inline constexpr int kToyInductionLayer = 1, kToyInductionHead = 1;

inline constexpr int kToyBos = 0;

// Deterministic per seed (the seed only draws the random heads).
Model induction_toy_model(uint64_t seed, const InductionToyOptions& opts = {});

struct InductionToyPrompts {
  std::vector<std::vector<int>> clean;     // (n_prompts, 1 + 2 half_len): BOS x1..xn x1..xn
  std::vector<std::vector<int>> negative;  // (n_prompts, 1 + 2 half_len): BOS, 2n distinct tokens
  std::vector<int> answer;                 // (n_prompts): x1, the induction prediction at the end
  std::vector<int> wrong;                  // (n_prompts): a token that is not in the clean prompt
};

// Requires 2 <= half_len, 2 half_len + 2 <= vocab and 2 half_len + 1 <= n_ctx. Deterministic
// per seed.
InductionToyPrompts induction_toy_prompts(int n_prompts, int half_len, uint64_t seed,
                                          const InductionToyOptions& opts = {});

}  // namespace cs
