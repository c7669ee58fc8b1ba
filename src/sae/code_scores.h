// Head and head-pair scores from discrete SAE codes (O'Neill & Bui 2024, arXiv 2405.12522;
// spec: docs/method.md). A head scores when it emits codes on positive prompts
// that it never emits on negative prompts. Semantics follow the authors' reference code
// (github.com/charlieoneill11/sae-circuits, src/node.py, src/edge.py, src/main.py); the
// comments below say where we differ and why.
//
// Codes are int32 matrices (n_prompts, n_heads), row-major: one row per prompt, one column per
// head in the caller's head order (GPT-2: index = layer * n_head + head).
#pragma once
#include <cstdint>
#include <vector>

namespace cs {

// (n_heads): for head h, P = codes on positives, N = codes on negatives (as sets);
// score = |P \ N|, or |P \ N| / |P u N| when normalise (0 when P u N is empty).
std::vector<double> node_scores(const int32_t* pos, int64_t n_pos, const int32_t* neg,
                                int64_t n_neg, int64_t n_heads, bool normalise);

// exp(s - max s) / sum: the paper turns raw counts into a distribution over heads.
std::vector<double> softmax(const std::vector<double>& s);

// (n_heads * n_heads): U[h1 * n_heads + h2] for ordered pairs h1 != h2 (diagonal 0).
// Pp = set of code pairs (code(h1), code(h2)) over positive prompts, Np over negatives.
// U = |Pp \ Np|; normalise divides by |Pp| + |Np| (the reference adds the two sides'
// distinct-pair counts, so a pair seen on both sides counts twice; 0 when both are empty).
// The reference also rescales co-occurrence counts to frequencies first; that cannot change
// which pairs are > 0, so it is not needed here.
std::vector<double> edge_scores(const int32_t* pos, int64_t n_pos, const int32_t* neg,
                                int64_t n_neg, int64_t n_heads, bool normalise);

// Reduces pair scores to head scores as the reference's edge_circuit_prediction does: sort all
// n_heads^2 flat indices of U by value, descending (including the zero diagonal); write the
// pairs out as one flat list h1, h2, h1', h2', ...; take its first k ENTRIES (so k/2 pairs)
// and count how often each head occurs in them (as h1 or as h2). Returns the counts; the
// reference then applies softmax.
// Ties: the reference uses numpy argsort(...)[::-1] (unstable quicksort, reversed), so its tie
// order is unspecified; we break ties by ascending flat index, deterministically.
// k < 0 means k = n_heads^2 / 2. NOTE: the reference's main.py passes
// k = len(set(head indices within a layer))^2 // 2, i.e. heads PER LAYER (12 for GPT-2 small:
// k = 72 entries = 36 pairs), not total heads; pass reference_edge_k(heads_per_layer) to
// reproduce its numbers.
std::vector<double> edge_to_node_scores(const std::vector<double>& U, int64_t n_heads,
                                        int64_t k = -1);

// The k the reference code uses in edge_to_node_scores (see above).
inline int64_t reference_edge_k(int64_t heads_per_layer) {
  return heads_per_layer * heads_per_layer / 2;
}

}  // namespace cs
