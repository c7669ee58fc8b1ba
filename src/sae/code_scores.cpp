// Node and edge scores over discrete codes; see code_scores.h for the definitions and sources.
#include "sae/code_scores.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>

#include "ops/error.h"

namespace cs {
namespace {

void check_codes(const char* who, const int32_t* pos, int64_t n_pos, const int32_t* neg,
                 int64_t n_neg, int64_t n_heads) {
  if (n_heads <= 0)
    throw Error(std::string(who) + ": n_heads must be positive, got " + std::to_string(n_heads));
  if (n_pos < 0 || n_neg < 0)
    throw Error(std::string(who) + ": prompt counts must be >= 0, got " + std::to_string(n_pos) +
                " positive and " + std::to_string(n_neg) + " negative");
  if ((n_pos > 0 && !pos) || (n_neg > 0 && !neg))
    throw Error(std::string(who) + ": code matrix pointer is null");
}

void sort_unique(std::vector<int64_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// |a \ b| for sorted, duplicate-free a and b.
int64_t count_difference(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  int64_t count = 0;
  size_t j = 0;
  for (int64_t x : a) {
    while (j < b.size() && b[j] < x) ++j;
    if (j == b.size() || b[j] != x) ++count;
  }
  return count;
}

// Sorted distinct codes of head h.
void column_set(const int32_t* codes, int64_t n, int64_t n_heads, int64_t h,
                std::vector<int64_t>& out) {
  out.resize(n);
  for (int64_t i = 0; i < n; ++i) out[i] = codes[i * n_heads + h];
  sort_unique(out);
}

// Sorted distinct code pairs of heads (h1, h2), each packed into one 64-bit key.
void pair_set(const int32_t* codes, int64_t n, int64_t n_heads, int64_t h1, int64_t h2,
              std::vector<int64_t>& out) {
  out.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t c1 = static_cast<uint32_t>(codes[i * n_heads + h1]);
    uint64_t c2 = static_cast<uint32_t>(codes[i * n_heads + h2]);
    out[i] = static_cast<int64_t>((c1 << 32) | c2);
  }
  sort_unique(out);
}

}  // namespace

std::vector<double> node_scores(const int32_t* pos, int64_t n_pos, const int32_t* neg,
                                int64_t n_neg, int64_t n_heads, bool normalise) {
  check_codes("node_scores", pos, n_pos, neg, n_neg, n_heads);
  std::vector<double> score(n_heads, 0.0);
  std::vector<int64_t> P, N;
  for (int64_t h = 0; h < n_heads; ++h) {
    column_set(pos, n_pos, n_heads, h, P);
    column_set(neg, n_neg, n_heads, h, N);
    const int64_t only_pos = count_difference(P, N);
    if (!normalise) {
      score[h] = static_cast<double>(only_pos);
    } else {
      const int64_t uni = static_cast<int64_t>(N.size()) + only_pos;  // |P u N|
      score[h] = uni > 0 ? static_cast<double>(only_pos) / uni : 0.0;
    }
  }
  return score;
}

std::vector<double> softmax(const std::vector<double>& s) {
  std::vector<double> p(s.size());
  if (s.empty()) return p;
  const double mx = *std::max_element(s.begin(), s.end());
  double sum = 0;
  for (size_t i = 0; i < s.size(); ++i) sum += (p[i] = std::exp(s[i] - mx));
  for (double& x : p) x /= sum;
  return p;
}

// Largest code-pair table (entries) edge_scores indexes directly; bigger pairs use sorting.
constexpr int64_t kPairTableMax = int64_t{1} << 20;

std::vector<double> edge_scores(const int32_t* pos, int64_t n_pos, const int32_t* neg,
                                int64_t n_neg, int64_t n_heads, bool normalise) {
  check_codes("edge_scores", pos, n_pos, neg, n_neg, n_heads);
  // Per head, codes renumbered 0..K[h)-1 over both sides, so a code pair indexes a K1*K2 table.
  std::vector<int32_t> rpos(n_pos * n_heads), rneg(n_neg * n_heads);
  std::vector<int64_t> K(n_heads);
  int64_t table = 0;
  {
    std::vector<int64_t> vals;
    for (int64_t h = 0; h < n_heads; ++h) {
      vals.clear();
      for (int64_t i = 0; i < n_pos; ++i) vals.push_back(pos[i * n_heads + h]);
      for (int64_t i = 0; i < n_neg; ++i) vals.push_back(neg[i * n_heads + h]);
      sort_unique(vals);
      K[h] = static_cast<int64_t>(vals.size());
      auto rank = [&](int32_t c) {
        return static_cast<int32_t>(std::lower_bound(vals.begin(), vals.end(), c) - vals.begin());
      };
      for (int64_t i = 0; i < n_pos; ++i) rpos[i * n_heads + h] = rank(pos[i * n_heads + h]);
      for (int64_t i = 0; i < n_neg; ++i) rneg[i * n_heads + h] = rank(neg[i * n_heads + h]);
    }
    for (int64_t h1 = 0; h1 < n_heads; ++h1)
      for (int64_t h2 = 0; h2 < n_heads; ++h2)
        if (h1 != h2 && K[h1] * K[h2] <= kPairTableMax) table = std::max(table, K[h1] * K[h2]);
  }
  std::vector<double> U(n_heads * n_heads, 0.0);
  // Rows of U are independent: parallel over h1, each thread with its own table.
#pragma omp parallel
  {
    // mark[key] for the current pair g: 3g+1 seen on positives, 3g+2 on both, 3g+3 negatives only.
    std::vector<uint32_t> mark(table, 0);
    uint32_t g = 0;
    std::vector<int64_t> P, N;
#pragma omp for schedule(dynamic)
    for (int64_t h1 = 0; h1 < n_heads; ++h1)
      for (int64_t h2 = 0; h2 < n_heads; ++h2) {
        if (h1 == h2) continue;
        int64_t n_p = 0, n_n = 0, both = 0;
        const int64_t K2 = K[h2];
        if (K[h1] * K2 <= kPairTableMax) {
          if (g >= (UINT32_MAX - 3) / 3) std::fill(mark.begin(), mark.end(), 0u), g = 0;
          ++g;
          const uint32_t on_pos = 3 * g + 1, on_both = 3 * g + 2, on_neg = 3 * g + 3;
          for (int64_t i = 0; i < n_pos; ++i) {
            uint32_t& m = mark[rpos[i * n_heads + h1] * K2 + rpos[i * n_heads + h2]];
            if (m != on_pos) m = on_pos, ++n_p;
          }
          for (int64_t i = 0; i < n_neg; ++i) {
            uint32_t& m = mark[rneg[i * n_heads + h1] * K2 + rneg[i * n_heads + h2]];
            if (m == on_pos) m = on_both, ++n_n, ++both;
            else if (m != on_both && m != on_neg) m = on_neg, ++n_n;
          }
        } else {
          pair_set(pos, n_pos, n_heads, h1, h2, P);
          pair_set(neg, n_neg, n_heads, h1, h2, N);
          n_p = static_cast<int64_t>(P.size());
          n_n = static_cast<int64_t>(N.size());
          both = n_p - count_difference(P, N);
        }
        const int64_t only_pos = n_p - both;
        double u = static_cast<double>(only_pos);
        if (normalise) u = n_p + n_n > 0 ? u / static_cast<double>(n_p + n_n) : 0.0;
        U[h1 * n_heads + h2] = u;
      }
  }
  return U;
}

std::vector<double> edge_to_node_scores(const std::vector<double>& U, int64_t n_heads, int64_t k) {
  if (n_heads <= 0)
    throw Error("edge_to_node_scores: n_heads must be positive, got " + std::to_string(n_heads));
  const int64_t n_pairs = n_heads * n_heads;
  if (static_cast<int64_t>(U.size()) != n_pairs)
    throw Error("edge_to_node_scores: pair scores have " + std::to_string(U.size()) +
                " entries, expected n_heads^2 = " + std::to_string(n_pairs));
  for (double u : U)
    if (!std::isfinite(u)) throw Error("edge_to_node_scores: pair scores contain NaN or Inf");
  if (k < 0) k = n_pairs / 2;
  k = std::min(k, 2 * n_pairs);  // the flat list has two entries per pair
  std::vector<int64_t> order(n_pairs);
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return U[a] > U[b]; });
  std::vector<double> count(n_heads, 0.0);
  for (int64_t e = 0; e < k; ++e) {
    const int64_t pair = order[e / 2];
    const int64_t head = (e % 2 == 0) ? pair / n_heads : pair % n_heads;
    count[head] += 1.0;
  }
  return count;
}

}  // namespace cs
