// Beyond the paper: a label-aware node score with a null from positive/positive splits.
// |P \ N| rewards any head whose codes are diverse on positives: a head that reads the one token
// in which positives and negatives differ (greater-than's YY vs "01") emits many positive-only
// codes whether or not it matters downstream. Comparing against the same count between two
// halves of the positives removes that: a head scores only by how much more its positive codes
// differ from the negatives' than from other positives'.
#pragma once
#include <cstdint>
#include <vector>

namespace cs {

// Mean over `rounds` random splits of |PA \ NB| - |PA \ PB|, where PA and PB are disjoint
// random subsets of the positive prompts and NB a random subset of the negatives, all of size
// m = min(n_pos / 2, n_neg). Codes are [n, n_heads] row-major. Deterministic per seed.
std::vector<double> node_scores_null_corrected(const int32_t* pos, int64_t n_pos, const int32_t* neg,
                                               int64_t n_neg, int64_t n_heads, int rounds,
                                               uint64_t seed);

}  // namespace cs
