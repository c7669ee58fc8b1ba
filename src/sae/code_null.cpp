#include "sae/code_null.h"

#include <algorithm>
#include <numeric>
#include <unordered_set>

#include "ops/error.h"
#include "ops/rng.h"

namespace cs {

namespace {
// Fisher-Yates (the draw next() % i, kept so that a seed gives the same halves as before).
void shuffle(std::vector<int>& v, SplitMix64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.next() % i]);
}

// |A \ B| for the codes of head h over rows a and rows b.
int64_t set_minus(const int32_t* A, const std::vector<int>& a, const int32_t* B,
                  const std::vector<int>& b, int64_t n_heads, int64_t h) {
  std::unordered_set<int32_t> in_b;
  for (int r : b) in_b.insert(B[r * n_heads + h]);
  std::unordered_set<int32_t> only_a;
  for (int r : a) {
    int32_t c = A[r * n_heads + h];
    if (!in_b.count(c)) only_a.insert(c);
  }
  return static_cast<int64_t>(only_a.size());
}
}  // namespace

std::vector<double> node_scores_null_corrected(const int32_t* pos, int64_t n_pos, const int32_t* neg,
                                               int64_t n_neg, int64_t n_heads, int rounds,
                                               uint64_t seed) {
  const int64_t m = std::min(n_pos / 2, n_neg);
  if (m < 1) throw Error("the null-corrected score needs at least 2 positive and 1 negative prompt");
  if (rounds < 1) rounds = 1;
  std::vector<double> score(n_heads, 0.0);
  SplitMix64 rng(seed ^ 0xA5A5A5A5DEADBEEFull);
  std::vector<int> p(n_pos), q(n_neg);
  std::iota(p.begin(), p.end(), 0);
  std::iota(q.begin(), q.end(), 0);
  for (int r = 0; r < rounds; ++r) {
    shuffle(p, rng);
    shuffle(q, rng);
    std::vector<int> pa(p.begin(), p.begin() + m), pb(p.begin() + m, p.begin() + 2 * m),
        nb(q.begin(), q.begin() + m);
    for (int64_t h = 0; h < n_heads; ++h)
      score[h] += static_cast<double>(set_minus(pos, pa, neg, nb, n_heads, h) -
                                      set_minus(pos, pa, pos, pb, n_heads, h)) / rounds;
  }
  return score;
}

}  // namespace cs
