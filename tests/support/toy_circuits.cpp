#include "support/toy_circuits.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "ops/error.h"
#include "ops/rng.h"

namespace cs {

namespace {

// Box-Muller on splitmix64 draws in (0, 1): the same numbers on every platform, which
// std::normal_distribution does not promise.
float normal(SplitMix64& rng) {
  auto open_uniform = [&rng] { return (static_cast<double>(rng.next() >> 11) + 0.5) * 0x1.0p-53; };
  const double kTwoPi = 6.283185307179586;
  return static_cast<float>(std::sqrt(-2.0 * std::log(open_uniform())) * std::cos(kTwoPi * open_uniform()));
}

// Attention scores of the hand-set heads: a match scores about 40 above a non-match, so the
// softmax puts all but ~1e-16 of the weight on the match.
constexpr float kQK0 = 2.0f;   // 0.0: layer-0 input is two one-hots, each scaled to sqrt(D/2)
constexpr float kQK1 = 2.8f;   // 1.1: layer-1 input holds about four unit vectors

// Random head (layer l, head h): q, k, v columns over every residual dim, then W_O rows.
void randomise_head(LayerWeights& lw, int H, int dh, int64_t D, int h, float out_scale, SplitMix64& rng) {
  const int64_t W = lw.W_qkv.dim(1);
  // RMSNorm makes |x|^2 = D, so entries N(0, qk^2) give q, k entries of std qk sqrt(D) = 1.7
  // and scores q.k / sqrt(dh) of std 1.7^2 ~ 2.9: patterns that depend on the tokens, far from
  // uniform, not one-hot (mean largest weight ~0.65). v entries: std 1.
  const float qk = 1.7f / std::sqrt(static_cast<float>(D));
  const float vs = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t d = 0; d < D; ++d)
    for (int j = 0; j < dh; ++j) {
      lw.W_qkv.data[d * W + h * dh + j] = qk * normal(rng);
      lw.W_qkv.data[d * W + (H + h) * dh + j] = qk * normal(rng);
      lw.W_qkv.data[d * W + (2 * H + h) * dh + j] = vs * normal(rng);
    }
  // z has norm ~sqrt(dh) when attention is sharp, so N(0, 1/(dh D)) gives output norm ~1.
  const float os = out_scale / std::sqrt(static_cast<float>(dh) * static_cast<float>(D));
  for (int j = 0; j < dh; ++j)
    for (int64_t d = 0; d < D; ++d) lw.W_O.data[(h * dh + j) * D + d] = os * normal(rng);
}

}  // namespace

Model induction_toy_model(uint64_t seed, const InductionToyOptions& opts) {
  const int V = opts.vocab, P = opts.n_ctx;
  if (V < 4 || P < 4) throw Error("induction_toy_model: vocab and n_ctx must be at least 4");
  const int H = 2, dh = std::max(V, P);
  const int64_t D = 3 * static_cast<int64_t>(V) + P;
  const int64_t tok = 0, pos = V, scratch = V + P, out = 2 * V + P;  // region offsets

  Model m;
  ModelConfig& c = m.cfg;
  c.model_type = "toy_induction";
  c.family = "attention-only (hand-set induction circuit)";
  c.n_layers = 2;
  c.n_heads = c.n_kv_heads = H;
  c.d_model = static_cast<int>(D);
  c.d_head = dh;
  c.d_mlp = 0;
  c.n_ctx = P;
  c.vocab_size = V;
  c.norm = Norm::RMSNorm;
  c.norm_eps = 1e-5f;
  c.positions = Positions::Learned;
  c.attn_only = true;
  c.tied_embeddings = false;
  c.dtype_on_disk = "F32";

  Weights& w = m.w;
  w.W_E = Tensor({V, D});
  for (int t = 0; t < V; ++t) w.W_E.data[t * D + tok + t] = 1.0f;
  w.W_pos = Tensor({P, D});
  for (int p = 0; p < P; ++p) w.W_pos.data[p * D + pos + p] = 1.0f;
  const int64_t W = c.qkv_width();
  for (int l = 0; l < 2; ++l) {
    LayerWeights lw;
    lw.ln1_w = Tensor({D}, 1.0f);
    lw.W_qkv = Tensor({D, W});
    lw.W_O = Tensor({static_cast<int64_t>(H) * dh, D});
    w.layers.push_back(std::move(lw));
  }
  auto qkv = [&](int l, int64_t row, int64_t col) -> float& { return w.layers[l].W_qkv.data[row * W + col]; };
  auto wo = [&](int l, int64_t row, int64_t col) -> float& { return w.layers[l].W_O.data[row * D + col]; };
  const int64_t q0 = 0, k0 = H * dh, v0 = 2 * H * dh;  // column blocks of W_qkv

  // 0.0 previous token. Layer-0 input: e_tok + e_pos, RMS-normalised to entries sqrt(D/2).
  {
    const int h = kToyPrevTokenHead, l = kToyPrevTokenLayer;
    for (int p = 0; p < P; ++p) qkv(l, pos + p, q0 + h * dh + p) = kQK0;
    for (int j = 0; j + 1 < P; ++j) qkv(l, pos + j, k0 + h * dh + j + 1) = kQK0;
    for (int t = 0; t < V; ++t) {
      qkv(l, tok + t, v0 + h * dh + t) = 1.0f;
      wo(l, h * dh + t, scratch + t) = std::sqrt(2.0f / static_cast<float>(D));  // unit one-hot
    }
  }
  // 1.1 induction. Layer-1 input: e_tok + e_pos + e_prev + random 0.1 output (~4 unit vectors).
  {
    const int h = kToyInductionHead, l = kToyInductionLayer;
    for (int t = 0; t < V; ++t) {
      qkv(l, tok + t, q0 + h * dh + t) = kQK1;
      qkv(l, scratch + t, k0 + h * dh + t) = kQK1;
      qkv(l, tok + t, v0 + h * dh + t) = 1.0f;
      wo(l, h * dh + t, out + t) = std::sqrt(4.0f / static_cast<float>(D));  // about a unit one-hot
    }
  }
  SplitMix64 rng(seed, 0x70c1ull);
  randomise_head(w.layers[0], H, dh, D, 1, opts.random_scale, rng);
  randomise_head(w.layers[1], H, dh, D, 0, opts.random_scale, rng);

  w.lnf_w = Tensor({D}, 1.0f);
  w.W_U = Tensor({V, D});
  for (int t = 0; t < V; ++t) w.W_U.data[t * D + out + t] = 1.0f;
  w.b_U = Tensor({V});
  return m;
}

InductionToyPrompts induction_toy_prompts(int n_prompts, int half_len, uint64_t seed,
                                          const InductionToyOptions& opts) {
  const int V = opts.vocab, n = half_len;
  if (n_prompts < 1) throw Error("induction_toy_prompts: n_prompts must be at least 1");
  if (n < 2 || 2 * n + 2 > V || 2 * n + 1 > opts.n_ctx)
    throw Error("induction_toy_prompts: half_len " + std::to_string(n) + " needs 2 <= half_len, "
                "2 half_len + 2 <= vocab (" + std::to_string(V) + ") and 2 half_len + 1 <= n_ctx (" +
                std::to_string(opts.n_ctx) + ")");
  SplitMix64 rng(seed, 0x9e9ull);
  // k distinct non-BOS tokens in draw order: a partial Fisher-Yates shuffle of 1..V-1.
  auto distinct = [&](int k) {
    std::vector<int> ids(V - 1);
    std::iota(ids.begin(), ids.end(), 1);
    for (int i = 0; i < k; ++i) std::swap(ids[i], ids[i + rng.below(V - 1 - i)]);
    ids.resize(k);
    return ids;
  };
  InductionToyPrompts r;
  for (int i = 0; i < n_prompts; ++i) {
    std::vector<int> x = distinct(n + 1);  // x1..xn and the wrong token
    std::vector<int> clean = {kToyBos};
    for (int rep = 0; rep < 2; ++rep) clean.insert(clean.end(), x.begin(), x.begin() + n);
    r.clean.push_back(std::move(clean));
    r.answer.push_back(x[0]);
    r.wrong.push_back(x[n]);
    std::vector<int> negative = {kToyBos}, y = distinct(2 * n);
    negative.insert(negative.end(), y.begin(), y.end());
    r.negative.push_back(std::move(negative));
  }
  return r;
}

}  // namespace cs
