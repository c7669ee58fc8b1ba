// Every optimised kernel against its naive reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ops/activations.h"
#include "ops/adam.h"
#include "ops/attention.h"
#include "ops/kl.h"
#include "ops/layernorm.h"
#include "ops/matmul.h"
#include "ops/position_mean.h"
#include "ops/rng.h"
#include "ops/rotary.h"
#include "ops/softcap.h"
#include "ops/simd_math.h"
#include "ops/tensor.h"
#include "support/random_vectors.h"

using namespace cs;

using test::randv;

TEST(Ops, MatmulMatchesNaive) {
  for (auto [M, K, N] : {std::tuple{1, 1, 1}, {7, 13, 5}, {64, 96, 33}, {128, 256, 512}}) {
    auto a = randv(M * K, 1), w = randv(K * N, 2), b = randv(N, 3);
    std::vector<float> out(M * N), ref(M * N);
    matmul(out.data(), a.data(), w.data(), b.data(), M, K, N);
    matmul_naive(ref.data(), a.data(), w.data(), b.data(), M, K, N);
    EXPECT_LE(rel_max_error(out.data(), ref.data(), M * N), 1e-5) << M << "x" << K << "x" << N;
  }
}

TEST(Ops, MatmulTransposedVariants) {
  const int M = 9, K = 17, N = 11;
  auto a = randv(M * K, 4), w = randv(K * N, 5);
  std::vector<float> wt(N * K), at(K * M), ref(M * N), out(M * N);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) wt[n * K + k] = w[k * N + n];
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) at[k * M + m] = a[m * K + k];
  matmul_naive(ref.data(), a.data(), w.data(), nullptr, M, K, N);
  matmul_nt(out.data(), a.data(), wt.data(), nullptr, M, K, N);
  EXPECT_LE(rel_max_error(out.data(), ref.data(), M * N), 1e-5);
  matmul_tn(out.data(), at.data(), w.data(), M, K, N);
  EXPECT_LE(rel_max_error(out.data(), ref.data(), M * N), 1e-5);
  matmul_tn(out.data(), at.data(), w.data(), M, K, N, /*accumulate=*/true);
  for (float& x : ref) x *= 2;
  EXPECT_LE(rel_max_error(out.data(), ref.data(), M * N), 1e-5);
}

TEST(Ops, LayerNormMatchesNaive) {
  const int N = 37, C = 768;
  auto x = randv(N * C, 6, 3.0f), w = randv(C, 7), b = randv(C, 8);
  for (int i = 0; i < N * C; ++i) x[i] += 5.0f;  // a large mean must not hurt precision
  std::vector<float> out(N * C), ref(N * C), mean(N), rstd(N);
  layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C, 1e-5f);
  layernorm_naive(ref.data(), x.data(), w.data(), b.data(), N, C, 1e-5f);
  EXPECT_LE(rel_max_error(out.data(), ref.data(), N * C), 1e-5);
  rmsnorm_forward(out.data(), nullptr, x.data(), w.data(), N, C, 1e-6f);
  rmsnorm_naive(ref.data(), x.data(), w.data(), N, C, 1e-6f);
  EXPECT_LE(rel_max_error(out.data(), ref.data(), N * C), 1e-5);
}

// Both sizes: the threaded loop (over 65536 elements) and the single-thread one.
TEST(Ops, ActivationsMatchNaive) {
  for (int n : {100000, 1003}) {
    SCOPED_TRACE(n);
    auto x = randv(n, 9, 4.0f);
    std::vector<float> out(x.size()), up = randv(x.size(), 10);
    gelu_new_forward(out.data(), x.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(out[i], gelu_new_naive(x[i]), 1e-5 * (1 + std::abs(x[i])));
    gelu_erf_forward(out.data(), x.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(out[i], gelu_erf_naive(x[i]), 1e-5 * (1 + std::abs(x[i])));
    swiglu_forward(out.data(), x.data(), up.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(out[i], silu_naive(x[i]) * up[i], 1e-5 * (1 + std::abs(x[i] * up[i])));
    geglu_forward(out.data(), x.data(), up.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(out[i], gelu_new_naive(x[i]) * up[i], 1e-5 * (1 + std::abs(x[i] * up[i])));
  }
}

TEST(Ops, AttentionMatchesNaive) {
  const int T = 19, dh = 16, H = 3;
  // strided q/k/v: [T, H, dh], take head 1
  auto q = randv(T * H * dh, 11), k = randv(T * H * dh, 12), v = randv(T * H * dh, 13);
  std::vector<float> qc(T * dh), kc(T * dh), vc(T * dh);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < dh; ++d) {
      qc[t * dh + d] = q[(t * H + 1) * dh + d];
      kc[t * dh + d] = k[(t * H + 1) * dh + d];
      vc[t * dh + d] = v[(t * H + 1) * dh + d];
    }
  const float scale = 0.25f;
  std::vector<float> p(T * T), z(T * H * dh, 7.0f), zref(T * dh), pref(T * T);
  attention_scores(p.data(), q.data() + dh, H * dh, k.data() + dh, H * dh, T, dh, scale);
  EXPECT_TRUE(std::isinf(p[1]) && p[1] < 0);  // masked above the diagonal
  causal_softmax(p.data(), T);
  attention_values(z.data() + dh, H * dh, p.data(), v.data() + dh, H * dh, T, dh);
  attention_naive(zref.data(), pref.data(), qc.data(), kc.data(), vc.data(), T, dh, scale);
  EXPECT_LE(rel_max_error(p.data(), pref.data(), T * T), 1e-5);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < dh; ++d) {
      EXPECT_NEAR(z[(t * H + 1) * dh + d], zref[t * dh + d], 1e-5);
      EXPECT_EQ(z[(t * H + 0) * dh + d], 7.0f);  // other heads untouched
    }
}

// The query rows q0..T-1 alone (ACDC's last-token path) against the naive whole-matrix reference.
TEST(Ops, AttentionOnTrailingQueryRowsMatchesNaive) {
  const int T = 13, dh = 8;
  auto q = randv(T * dh, 21), k = randv(T * dh, 22), v = randv(T * dh, 23);
  std::vector<float> zref(T * dh), pref(T * T);
  attention_naive(zref.data(), pref.data(), q.data(), k.data(), v.data(), T, dh, 0.3f);
  for (int q0 : {0, 5, T - 1}) {
    const int R = T - q0;
    std::vector<float> p(R * T), z(R * dh);
    attention_scores(p.data(), q.data() + q0 * dh, dh, k.data(), dh, T, dh, 0.3f, q0);
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < T; ++j) EXPECT_EQ(std::isinf(p[i * T + j]), j > q0 + i) << q0 << " " << i << " " << j;
    causal_softmax(p.data(), T, q0);
    attention_values(z.data(), dh, p.data(), v.data(), dh, T, dh, q0);
    EXPECT_LE(rel_max_error(p.data(), pref.data() + q0 * T, R * T), 1e-5) << q0;
    EXPECT_LE(rel_max_error(z.data(), zref.data() + q0 * dh, R * dh), 1e-5) << q0;
  }
}

// Rotating rows at positions pos0.. equals rotating the whole sequence and keeping those rows.
TEST(Ops, RotaryFromAnOffsetMatchesTheWholeSequence) {
  const int T = 9, n = 2, dh = 8, pos0 = 6;
  auto x = randv(T * n * dh, 15);
  auto whole = x;
  rotary_forward(whole.data(), T, n, dh, n * dh, dh, 10000.0f);
  std::vector<float> tail(x.begin() + pos0 * n * dh, x.end());
  rotary_forward(tail.data(), T - pos0, n, dh, n * dh, dh, 10000.0f, pos0);
  for (size_t i = 0; i < tail.size(); ++i) EXPECT_EQ(tail[i], whole[pos0 * n * dh + i]) << i;
  rotary_backward(tail.data(), T - pos0, n, dh, n * dh, dh, 10000.0f, pos0);
  EXPECT_LE(rel_max_error(tail.data(), x.data() + pos0 * n * dh, tail.size()), 1e-5);
}

TEST(Ops, RotaryIsARotationAndInvertible) {
  const int T = 8, n = 2, dh = 16, rot = 8;
  auto x = randv(T * n * dh, 14);
  auto y = x;
  rotary_forward(y.data(), T, n, dh, n * dh, rot, 10000.0f);
  // position 0 is unchanged; dims past rot_dim unchanged; norms preserved
  for (int d = 0; d < dh; ++d) EXPECT_FLOAT_EQ(y[d], x[d]);
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < n; ++h) {
      double nx = 0, ny = 0;
      for (int d = 0; d < dh; ++d) {
        const int i = (t * n + h) * dh + d;
        nx += x[i] * x[i];
        ny += y[i] * y[i];
        if (d >= rot) {
          EXPECT_EQ(y[i], x[i]);
        }
      }
      EXPECT_NEAR(nx, ny, 1e-4 * nx);
    }
  // naive: pair (i, i+rot/2) rotated by t * theta^(-2i/rot)
  const int t = 5, i = 1;
  double ang = t * std::pow(10000.0, -2.0 * i / rot);
  const float* xr = x.data() + (t * n + 0) * dh;
  EXPECT_NEAR(y[(t * n) * dh + i], xr[i] * std::cos(ang) - xr[i + rot / 2] * std::sin(ang), 1e-5);
  rotary_backward(y.data(), T, n, dh, n * dh, rot, 10000.0f);
  EXPECT_LE(rel_max_error(y.data(), x.data(), x.size()), 1e-5);
}

TEST(Ops, RopeInvFreqWithLlama3ScalingMatchesTorch) {
  // Expected values: PyTorch 1.13 float32, running transformers' _compute_default_rope_parameters
  // and _compute_llama3_parameters formulas (modeling_rope_utils.py) transcribed line by line.
  // Llama 3.1's own settings at head_dim 64: low, medium (interpolated) and high frequencies.
  Rope r(500000.0f);
  r.factor = 8.0f, r.low_freq_factor = 1.0f, r.high_freq_factor = 4.0f, r.original_max_position = 8192.0f;
  const std::vector<float> f = rope_inv_freq(64, r), plain = rope_inv_freq(64, Rope(500000.0f));
  const std::vector<std::pair<int, double>> want = {
      {0, 1.0}, {10, 0.0165604409}, {14, 0.00321144611}, {15, 0.00137189368}, {16, 0.000524846022},
      {17, 0.000178507791}, {18, 7.78465546e-05}, {20, 3.42810235e-05}, {31, 3.7673226e-07}};
  for (auto [i, v] : want) EXPECT_NEAR(f[i], v, 2e-7 * v) << "inv_freq[" << i << "]";
  EXPECT_NEAR(plain[15], 0.0021311196, 2e-7 * 0.0021311196);  // unscaled
  // A small non-default case: theta 10000, dim 16, factor 4, original context 32.
  Rope s(10000.0f);
  s.factor = 4.0f, s.original_max_position = 32.0f;
  const std::vector<double> small = {1, 0.127323955, 0.0250000004, 0.00790569466, 0.00249999994,
                                     0.000790569466, 0.000250000012, 7.90569466e-05};
  const std::vector<float> g = rope_inv_freq(16, s);
  for (size_t i = 0; i < small.size(); ++i) EXPECT_NEAR(g[i], small[i], 2e-7 * small[i]) << i;
}

TEST(Ops, SoftcapAndItsBackwardMatchTanhAndFiniteDifferences) {
  const float cap = 5.0f;
  auto x = randv(3 * 8, 21, 10.0f);  // values well past the cap, so the cap bends them
  auto y = x;
  softcap_forward(y.data(), 3, 7, 8, cap);  // the 8th column of each row is left alone
  for (int r = 0; r < 3; ++r) {
    for (int j = 0; j < 7; ++j) {
      const double want = cap * std::tanh(static_cast<double>(x[r * 8 + j]) / cap);
      EXPECT_NEAR(y[r * 8 + j], want, 1e-5) << r << "," << j;
      EXPECT_LT(std::fabs(y[r * 8 + j]), cap);
    }
    EXPECT_EQ(y[r * 8 + 7], x[r * 8 + 7]);
  }
  std::vector<float> d(x.size(), 1.0f);
  softcap_backward(d.data(), y.data(), 3, 7, 8, cap);
  for (int i : {0, 5, 9, 17}) {
    const double h = 1e-3, xp = x[i] + h, xm = x[i] - h;
    const double num = (cap * std::tanh(xp / cap) - cap * std::tanh(xm / cap)) / (2 * h);
    EXPECT_NEAR(d[i], num, 1e-3) << i;
  }
}

TEST(Ops, SlidingWindowKeepsTheLastWindowKeys) {
  // Window 3 over 6 positions: query i keeps keys i-2..i; the softmax of a row sums to one over
  // the kept keys and gives the others exactly 0.
  const int T = 6, W = 3, dh = 4;
  const std::vector<float> q = randv(T * dh, 1), k = randv(T * dh, 2);
  std::vector<float> s(T * T);
  attention_scores(s.data(), q.data(), dh, k.data(), dh, T, dh, 1.0f);
  mask_outside_window(s.data(), T, T, T, 0, W);
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < T; ++j) {
      const bool keep = j <= i && j > i - W;
      EXPECT_EQ(std::isinf(s[i * T + j]), !keep) << "query " << i << " key " << j;
    }
  causal_softmax(s.data(), T);
  for (int i = 0; i < T; ++i) {
    double sum = 0;
    for (int j = 0; j < T; ++j) {
      sum += s[i * T + j];
      if (j <= i - W) {
        EXPECT_EQ(s[i * T + j], 0.0f);
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  // Rows from position q0 on (a block of the last rows): the same rule at their positions.
  std::vector<float> blk(2 * T, 0.0f);
  mask_outside_window(blk.data(), 2, T, T, 4, W);
  for (int j = 0; j < T; ++j) EXPECT_EQ(std::isinf(blk[j]), j <= 4 - W);
}

// splitmix64's published first outputs for state 0 (Vigna's reference splitmix64.c).
TEST(Ops, SplitMix64MatchesTheReferenceSequence) {
  SplitMix64 r(0);
  EXPECT_EQ(r.next(), 0xe220a8397b1dcdafull);
  EXPECT_EQ(r.next(), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(r.next(), 0x06c45d188009454full);
  SplitMix64 s(7, 3), t(7 * SplitMix64::kGamma ^ 3);  // a stream is a starting state
  EXPECT_EQ(s.next(), t.next());
  std::vector<int> hits(5, 0);
  for (int i = 0; i < 50000; ++i) ++hits[SplitMix64(i, 1).below(5)];
  for (int h : hits) EXPECT_NEAR(h, 10000, 400);
  std::vector<int> d = SplitMix64(1, 2).distinct(10, 10);
  std::sort(d.begin(), d.end());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(d[i], i);
}

// AdamStep against Kingma & Ba's algorithm written out in double (bias-corrected moments).
TEST(Ops, AdamStepMatchesThePaper) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  double w = 0.5, m = 0, v = 0, wr = 0.5, mr = 0, vr = 0;
  float wf = 0.5f, mf = 0, vf = 0;
  for (int t = 1; t <= 50; ++t) {
    const double g = std::sin(0.7 * t) + 0.3 * w;
    mr = b1 * mr + (1 - b1) * g;
    vr = b2 * vr + (1 - b2) * g * g;
    wr -= lr * (mr / (1 - std::pow(b1, t))) / (std::sqrt(vr / (1 - std::pow(b2, t))) + eps);
    w = AdamStep<double>(lr, t).update(w, std::sin(0.7 * t) + 0.3 * w, m, v);
    wf = AdamStep<float>(lr, t).update(wf, static_cast<float>(std::sin(0.7 * t) + 0.3 * wf), mf, vf);
    ASSERT_NEAR(w, wr, 1e-12) << t;
    ASSERT_NEAR(wf, wr, 1e-5) << t;
  }
}

TEST(Ops, PositionMeanMatchesNaive) {
  const int B = 4, T = 5, F = 3;
  const int lengths[B] = {5, 2, 3, 1};
  auto x = randv(B * T * F, 31);
  std::vector<float> mean(T * F), fallback(F);
  position_mean(mean.data(), fallback.data(), x.data(), B, T, F, lengths);
  for (int j = 0; j < F; ++j) {
    double all = 0;
    int n_all = 0;
    for (int t = 0; t < T; ++t) {
      double s = 0;
      int n = 0;
      for (int b = 0; b < B; ++b)
        if (t < lengths[b]) s += x[(b * T + t) * F + j], ++n, all += x[(b * T + t) * F + j], ++n_all;
      EXPECT_NEAR(mean[t * F + j], s / n, 1e-6) << t << " " << j;
    }
    EXPECT_NEAR(fallback[j], all / n_all, 1e-6) << j;
  }
}

TEST(Ops, ExpfNonpositiveMatchesExp) {
  for (float x = -90.0f; x <= 0.0f; x += 0.0137f) {
    const double ref = std::exp(static_cast<double>(x));
    if (ref < 1.2e-38) EXPECT_LE(expf_nonpositive(x), 1.2e-38f) << x;
    else EXPECT_LE(std::abs(expf_nonpositive(x) - ref), 2e-7 * ref) << x;
  }
}

// The fast KL against the naive double one, and its gradient against softmax(z) - p in double.
TEST(Ops, KlToSoftmaxMatchesNaive) {
  const int V = 5000;
  auto a = randv(V, 41, 3.0f), b = randv(V, 42, 3.0f);
  std::vector<float> p(V), dz(V);
  const double negent = reference_distribution(p.data(), a.data(), V);
  const double kl = kl_to_softmax(p.data(), negent, b.data(), V, dz.data(), 0.5);
  EXPECT_NEAR(kl, kl_naive(a.data(), b.data(), V), 1e-5 * kl);
  EXPECT_NEAR(kl_to_softmax(p.data(), negent, a.data(), V), 0.0, 1e-6);  // KL(p || p)
  std::vector<double> lq(V);
  log_softmax(lq.data(), b.data(), V);
  for (int v = 0; v < V; ++v) ASSERT_NEAR(dz[v], 0.5 * (std::exp(lq[v]) - p[v]), 1e-7) << v;
}
