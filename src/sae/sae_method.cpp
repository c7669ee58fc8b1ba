#include "sae/sae_method.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "sae/code_null.h"
#include "sae/code_scores.h"
#include "ops/error.h"
#include "ops/rng.h"
#include "ops/timer.h"

namespace cs {

namespace {
// Deterministic sample of k of n indices (partial Fisher-Yates on splitmix64 draws).
std::vector<int> sample_indices(int n, int k, uint64_t seed) {
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  SplitMix64 rng(seed * SplitMix64::kGamma + 0x632BE59BD9B4E019ull);
  for (int i = 0; i < k; ++i) {  // the draw next() % (n - i), kept so that a seed picks the same rows
    int j = i + static_cast<int>(rng.next() % static_cast<uint64_t>(n - i));
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
  Timer phase;
  r.sae_loss = sae.train(X.data(), static_cast<int64_t>(n_train) * HT);
  r.seconds_train = phase.seconds();
  // forward: 2 GEMMs (encode, decode); backward: 3 (dW_dec, df, dW_enc) of rows x d x features.
  r.train_flops = 10.0 * n_train * HT * D * cfg.n_features * cfg.epochs;

  phase.restart();
  r.pos_codes.resize(Np * HT);
  r.neg_codes.resize(Nn * HT);
  sae.codes(pos.ptr(), Np * HT, r.pos_codes.data());
  sae.codes(neg.ptr(), Nn * HT, r.neg_codes.data());
  r.seconds_codes = phase.seconds();

  phase.restart();
  r.node_raw = node_scores(r.pos_codes.data(), Np, r.neg_codes.data(), Nn, HT, opts.normalise);
  r.node_softmax = softmax(r.node_raw);
  r.node_null = node_scores_null_corrected(r.pos_codes.data(), Np, r.neg_codes.data(), Nn, HT,
                                           opts.null_rounds, seed);
  if (opts.edges) {
    r.edge_U = edge_scores(r.pos_codes.data(), Np, r.neg_codes.data(), Nn, HT, opts.normalise);
    int64_t k = opts.edge_k >= 0 ? opts.edge_k : reference_edge_k(heads_per_layer);
    r.edge_node = edge_to_node_scores(r.edge_U, HT, k);
  }
  r.seconds_scores = phase.seconds();
  return r;
}

}  // namespace cs
