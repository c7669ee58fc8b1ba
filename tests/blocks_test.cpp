// The shared model blocks (model/blocks.h) against independent references: one head's attention
// on a sequence's last query row with rotary at that row's own position (ACDC's path) against the
// whole sequence in double precision; the MLP block for every activation against a double
// reference, and its taps; the unembedding on vocabulary and row subsets against the forward's
// whole-vocabulary logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/blocks.h"
#include "model/init.h"
#include "model/transformer.h"
#include "ops/activations.h"
#include "ops/attention.h"
#include "ops/error.h"
#include "ops/rotary.h"
#include "support/random_vectors.h"

using namespace cs;
using test::randv;

namespace {

Tensor rand_tensor(std::vector<int64_t> shape, uint32_t seed, float scale = 1.0f) {
  Tensor t(std::move(shape));
  const std::vector<float> v = randv(t.data.size(), seed, scale);
  std::copy(v.begin(), v.end(), t.data.begin());
  return t;
}

ModelConfig rotary_config() {
  ModelConfig c;
  c.n_layers = 1;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_model = 32;
  c.d_head = 8;
  c.rotary_dim = 8;
  c.positions = Positions::Rotary;
  return c;
}

}  // namespace

TEST(Blocks, AttentionOnTheLastRowAtItsPositionMatchesTheWholeSequence) {
  const ModelConfig c = rotary_config();
  const Attention attn(c, 0);
  EXPECT_EQ(attn.kv_head(0), 0);
  EXPECT_EQ(attn.kv_head(1), 0);
  EXPECT_EQ(attn.kv_head(3), 1);
  EXPECT_FLOAT_EQ(attn.scale(), 1.0f / std::sqrt(8.0f));
  const int T = 11, dh = 8;
  auto q = randv(T * dh, 1), k = randv(T * dh, 2), v = randv(T * dh, 3);
  // Reference: rotate every position, then the whole causal attention in double.
  auto qr = q, kr = k;
  rotary_forward(qr.data(), T, 1, dh, dh, dh, c.rope.theta);
  rotary_forward(kr.data(), T, 1, dh, dh, dh, c.rope.theta);
  std::vector<float> zref(T * dh), pref(T * T);
  attention_naive(zref.data(), pref.data(), qr.data(), kr.data(), v.data(), T, dh, attn.scale());
  for (int t : {0, 4, T - 1}) {
    std::vector<float> row(q.begin() + t * dh, q.begin() + (t + 1) * dh), keys = k;
    attn.rotate(row.data(), 1, 1, dh, t);           // the query alone, at position t
    attn.rotate(keys.data(), t + 1, 1, dh);         // keys 0..t
    std::vector<float> z(dh), p(t + 1);
    attn.head(z.data(), dh, p.data(), row.data(), dh, keys.data(), v.data(), dh, t + 1, t);
    for (int i = 0; i < dh; ++i) EXPECT_NEAR(z[i], zref[t * dh + i], 1e-5) << t << " " << i;
    for (int j = 0; j <= t; ++j) EXPECT_NEAR(p[j], pref[t * T + j], 1e-6) << t << " " << j;
  }
}

TEST(Blocks, MlpMatchesADoubleReferenceForEveryActivation) {
  for (Activation act : {Activation::GeluNew, Activation::GeluErf, Activation::Relu,
                         Activation::SwiGLU, Activation::GeGLU}) {
    for (Norm norm : {Norm::LayerNorm, Norm::RMSNorm}) {
      ModelConfig c;
      c.d_model = 8;
      c.d_mlp = 12;
      c.act = act;
      c.norm = norm;
      const int64_t N = 5, D = 8, F = 12;
      LayerWeights lw;
      lw.ln2_w = rand_tensor({D}, 10);
      if (norm == Norm::LayerNorm) lw.ln2_b = rand_tensor({D}, 11);
      lw.W_in = rand_tensor({D, F}, 12, 0.5f);
      lw.b_in = rand_tensor({F}, 13);
      if (gated(act)) lw.W_gate = rand_tensor({D, F}, 14, 0.5f);
      lw.W_out = rand_tensor({F, D}, 15, 0.5f);
      lw.b_out = rand_tensor({D}, 16);
      const std::vector<float> x = randv(N * D, 17, 2.0f);

      std::vector<float> normed(N * D), pre(N * F), up(N * F), post(N * F), out(N * D);
      mlp(c, lw, x.data(), N, {normed.data(), pre.data(), up.data(), post.data()}, out.data(),
          Precision::Exact);

      for (int64_t r = 0; r < N; ++r) {
        const float* xr = x.data() + r * D;
        double mean = 0, ss = 0;
        if (norm == Norm::LayerNorm)
          for (int64_t d = 0; d < D; ++d) mean += xr[d] / static_cast<double>(D);
        for (int64_t d = 0; d < D; ++d) ss += (xr[d] - mean) * (xr[d] - mean) / D;
        std::vector<double> n(D), h(F);
        for (int64_t d = 0; d < D; ++d)
          n[d] = (xr[d] - mean) / std::sqrt(ss + c.norm_eps) * lw.ln2_w.data[d] +
                 (lw.ln2_b.empty() ? 0.0 : lw.ln2_b.data[d]);
        for (int64_t f = 0; f < F; ++f) {
          double a = lw.b_in.data[f], g = 0;
          for (int64_t d = 0; d < D; ++d) {
            a += n[d] * lw.W_in.data[d * F + f];
            if (gated(act)) g += n[d] * lw.W_gate.data[d * F + f];
          }
          switch (act) {
            case Activation::GeluNew: h[f] = gelu_new_naive(a); break;
            case Activation::GeluErf: h[f] = gelu_erf_naive(a); break;
            case Activation::Relu: h[f] = a > 0 ? a : 0; break;
            case Activation::SwiGLU: h[f] = silu_naive(g) * a; break;
            case Activation::GeGLU: h[f] = gelu_new_naive(g) * a; break;
          }
        }
        for (int64_t d = 0; d < D; ++d) {
          double o = lw.b_out.data[d];
          for (int64_t f = 0; f < F; ++f) o += h[f] * lw.W_out.data[f * D + d];
          EXPECT_NEAR(out[r * D + d], o, 1e-4 * (1 + std::abs(o)))
              << static_cast<int>(act) << " " << static_cast<int>(norm) << " row " << r;
        }
      }

      // Taps run in order and a change made in one is what the next stage reads.
      std::vector<Hook> seen;
      mlp(c, lw, x.data(), N, {normed.data(), pre.data(), up.data(), post.data()}, out.data(),
          Precision::Exact,
          [&](Hook h) {
            seen.push_back(h);
            if (h == Hook::mlp_post) std::fill(post.begin(), post.end(), 0.0f);
          });
      EXPECT_EQ(seen, (std::vector<Hook>{Hook::ln2_normalized, Hook::mlp_pre, Hook::mlp_post}));
      for (int64_t r = 0; r < N; ++r)
        for (int64_t d = 0; d < D; ++d) EXPECT_EQ(out[r * D + d], lw.b_out.data[d]);
    }
  }
}

TEST(Blocks, UnembeddingOnRowAndVocabularySubsetsMatchesTheFullLogits) {
  Model m = random_model(preset_config("gpt2-tiny"), 5);
  m.w.b_U = rand_tensor({m.cfg.vocab_size}, 6);
  const Batch b = Batch::from_sequences({{5, 9, 200, 3000}, {7, 7}, {40000, 1, 2}});
  Hooks hooks;
  ActivationCache cache;
  hooks.cache({Hook::resid_post, m.cfg.n_layers - 1}, &cache);
  const Tensor full = forward(m, b, &hooks);  // [B,T,V]
  const Tensor& resid = cache.begin()->second;
  const int64_t V = m.cfg.vocab_size;
  const std::vector<int64_t> rows = {b.T * 0 + 3, b.T * 1 + 1, b.T * 2 + 0};
  for (const std::vector<int32_t>& ids : {std::vector<int32_t>{}, std::vector<int32_t>{50256, 3, 40000, 3}}) {
    const Unembedding u(m, ids);
    const int64_t K = u.columns();
    EXPECT_EQ(K, ids.empty() ? V : 4);
    std::vector<float> logits(rows.size() * K);
    u.logits_at(logits.data(), resid.ptr(), rows);
    for (size_t i = 0; i < rows.size(); ++i)
      for (int64_t j = 0; j < K; ++j) {
        const float ref = full.data[rows[i] * V + (ids.empty() ? j : ids[j])];
        ASSERT_NEAR(logits[i * K + j], ref, 1e-5 * (1 + std::abs(ref))) << i << " " << j;
      }
  }
  EXPECT_THROW(Unembedding(m, {3, static_cast<int32_t>(V)}), Error);
}

// Gemma 2's attention rules in the block: the score soft-cap (before the mask), the sliding
// window and a query_pre_attn_scalar scale, forward and backward, against attention written out
// in double (cap tanh(s / cap), window keys j > i - W) and its central differences.
TEST(Blocks, SoftCappedSlidingWindowAttentionAndItsBackwardMatchADoubleReference) {
  ModelConfig c = rotary_config();
  c.attn_scale = 0.6f;     // not 1/sqrt(d_head)
  c.attn_softcap = 1.5f;   // small enough to bend most scores
  c.layer_window = {3};
  const Attention attn(c, 0);
  EXPECT_EQ(attn.window(), 3);
  EXPECT_FLOAT_EQ(attn.scale(), 0.6f);
  const int T = 9, dh = 8, W = 3;
  const double cap = 1.5;
  auto q = randv(T * dh, 31, 1.5f), k = randv(T * dh, 32, 1.5f), v = randv(T * dh, 33);
  const auto g = randv(T * dh, 34);
  auto reference = [&](const std::vector<double>& Q, const std::vector<double>& K,
                       const std::vector<double>& V, std::vector<double>* P) {
    std::vector<double> z(T * dh, 0.0), p(T * T, 0.0);
    for (int i = 0; i < T; ++i) {
      double mx = -1e300, sum = 0;
      for (int j = std::max(0, i - W + 1); j <= i; ++j) {
        double s = 0;
        for (int d = 0; d < dh; ++d) s += Q[i * dh + d] * K[j * dh + d];
        p[i * T + j] = cap * std::tanh(0.6 * s / cap);
        mx = std::max(mx, p[i * T + j]);
      }
      for (int j = std::max(0, i - W + 1); j <= i; ++j) sum += p[i * T + j] = std::exp(p[i * T + j] - mx);
      for (int j = std::max(0, i - W + 1); j <= i; ++j) {
        p[i * T + j] /= sum;
        for (int d = 0; d < dh; ++d) z[i * dh + d] += p[i * T + j] * V[j * dh + d];
      }
    }
    if (P) *P = p;
    return z;
  };
  auto dbl = [](const std::vector<float>& x) { return std::vector<double>(x.begin(), x.end()); };
  std::vector<double> pref;
  const std::vector<double> zref = reference(dbl(q), dbl(k), dbl(v), &pref);
  std::vector<float> z(T * dh), p(T * T);
  attn.head(z.data(), dh, p.data(), q.data(), dh, k.data(), v.data(), dh, T);
  for (int i = 0; i < T * dh; ++i) EXPECT_NEAR(z[i], zref[i], 1e-5) << i;
  for (int i = 0; i < T * T; ++i) EXPECT_NEAR(p[i], pref[i], 1e-6) << i;  // 0 outside the window
  // The last row alone (ACDC's path) applies the same window and cap at its position.
  std::vector<float> zl(dh), pl(T);
  attn.head(zl.data(), dh, pl.data(), q.data() + (T - 1) * dh, dh, k.data(), v.data(), dh, T, T - 1);
  for (int d = 0; d < dh; ++d) EXPECT_NEAR(zl[d], zref[(T - 1) * dh + d], 1e-5);

  std::vector<float> dq(T * dh), dk(T * dh, 0.0f), dv(T * dh, 0.0f), dp(T * T), ds(T * T),
      scratch(2 * T * T);
  attn.backward(dq.data(), dk.data(), dv.data(), dp.data(), ds.data(), scratch.data(), g.data(), dh,
                p.data(), q.data(), dh, k.data(), v.data(), dh, T);
  auto loss = [&](const std::vector<double>& Q, const std::vector<double>& K, const std::vector<double>& V) {
    const std::vector<double> zz = reference(Q, K, V, nullptr);
    double s = 0;
    for (int i = 0; i < T * dh; ++i) s += g[i] * zz[i];
    return s;
  };
  auto numeric = [&](int which) {
    std::vector<double> Q = dbl(q), K = dbl(k), V = dbl(v), out(T * dh);
    std::vector<double>& x = which == 0 ? Q : which == 1 ? K : V;
    for (int i = 0; i < T * dh; ++i) {
      const double x0 = x[i], e = 1e-5;
      x[i] = x0 + e;
      const double lp = loss(Q, K, V);
      x[i] = x0 - e;
      const double lm = loss(Q, K, V);
      x[i] = x0;
      out[i] = (lp - lm) / (2 * e);
    }
    return std::vector<float>(out.begin(), out.end());
  };
  EXPECT_LE(rel_max_error(dq.data(), numeric(0).data(), T * dh), 1e-4) << "dq";
  EXPECT_LE(rel_max_error(dk.data(), numeric(1).data(), T * dh), 1e-4) << "dk";
  EXPECT_LE(rel_max_error(dv.data(), numeric(2).data(), T * dh), 1e-4) << "dv";
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < T; ++j) {
      ASSERT_TRUE(std::isfinite(ds[i * T + j])) << i << " " << j;
      if (j <= i - W || j > i) {
        EXPECT_EQ(ds[i * T + j], 0.0f) << i << " " << j;
      }
    }
}
