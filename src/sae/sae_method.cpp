#include "sae/sae_method.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "sae/code_null.h"
#include "sae/code_scores.h"
#include "ops/error.h"

namespace cs {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
// Deterministic sample of k of n indices (partial Fisher-Yates on splitmix64 draws).
std::vector<int> sample_indices(int n, int k, uint64_t seed) {
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  auto next = [&] {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (int i = 0; i < k; ++i) {
    int j = i + static_cast<int>(next() % static_cast<uint64_t>(n - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}
}  // namespace

SaeTrial run_sae_trial(const Tensor& pos, const Tensor& neg, int heads_per_layer,
                       const SaeMethodOptions& opts, uint64_t seed) {
  if (pos.ndim() != 3 || neg.ndim() != 3 || pos.dim(1) != neg.dim(1) || pos.dim(2) != neg.dim(2))
    throw Error("SAE method: positive and negative head outputs must both be [n, heads, d_model]");
  const int64_t Np = pos.dim(0), Nn = neg.dim(0), HT = pos.dim(1), D = pos.dim(2);
  if (Np == 0 || Nn == 0) throw Error("SAE method needs positive and negative prompts");
  const int n_train = std::min<int>(opts.train_prompts, static_cast<int>(Np + Nn));
  if (n_train < 1) throw Error("--train-prompts must be at least 1");

  SaeTrial r;
  r.seed = seed;
  r.train_rows = sample_indices(static_cast<int>(Np + Nn), n_train, seed);
  std::vector<float> X(static_cast<size_t>(n_train) * HT * D);
  for (int i = 0; i < n_train; ++i) {
    const int p = r.train_rows[i];
    const float* src = p < Np ? pos.ptr() + p * HT * D : neg.ptr() + (p - Np) * HT * D;
    std::copy(src, src + HT * D, X.begin() + static_cast<size_t>(i) * HT * D);
  }

  SaeConfig cfg = opts.sae;
  cfg.seed = seed;
  Sae sae(D, cfg);
  auto t0 = std::chrono::steady_clock::now();
  r.sae_loss = sae.train(X.data(), static_cast<int64_t>(n_train) * HT);
  r.seconds_train = seconds_since(t0);
  // forward: 2 GEMMs (encode, decode); backward: 3 (dW_dec, df, dW_enc) of rows x d x features.
  r.train_flops = 10.0 * n_train * HT * D * cfg.n_features * cfg.epochs;

  t0 = std::chrono::steady_clock::now();
  r.pos_codes.resize(Np * HT);
  r.neg_codes.resize(Nn * HT);
  sae.codes(pos.ptr(), Np * HT, r.pos_codes.data());
  sae.codes(neg.ptr(), Nn * HT, r.neg_codes.data());
  r.seconds_codes = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  r.node_raw = node_scores(r.pos_codes.data(), Np, r.neg_codes.data(), Nn, HT, opts.normalise);
  r.node_softmax = softmax(r.node_raw);
  r.node_null = node_scores_null_corrected(r.pos_codes.data(), Np, r.neg_codes.data(), Nn, HT,
                                           opts.null_rounds, seed);
  if (opts.edges) {
    r.edge_U = edge_scores(r.pos_codes.data(), Np, r.neg_codes.data(), Nn, HT, opts.normalise);
    int64_t k = opts.edge_k >= 0 ? opts.edge_k : reference_edge_k(heads_per_layer);
    r.edge_node = edge_to_node_scores(r.edge_U, HT, k);
  }
  r.seconds_scores = seconds_since(t0);
  return r;
}

}  // namespace cs
