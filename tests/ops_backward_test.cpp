// Every backward kernel against central finite differences of a double-precision reference forward
// (eps 1e-4 in double, so the differences are exact to ~1e-8 and the tolerance measures the float
// kernel alone).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "ops/activations.h"
#include "ops/activations_backward.h"
#include "ops/attention.h"
#include "ops/attention_backward.h"
#include "ops/cross_entropy_backward.h"
#include "ops/error.h"
#include "ops/layernorm.h"
#include "ops/layernorm_backward.h"
#include "ops/matmul_backward.h"
#include "ops/tensor.h"
#include "support/random_vectors.h"

using namespace cs;

namespace {

using test::randv;

using Vec = std::vector<double>;
Vec to_double(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

// d f / d x[i] for every i by central differences; f is a scalar function of x (double).
std::vector<float> numeric_grad(Vec x, const std::function<double(const Vec&)>& f,
                                double eps = 1e-4) {
  std::vector<float> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + eps;
    const double fp = f(x);
    x[i] = x0 - eps;
    const double fm = f(x);
    x[i] = x0;
    g[i] = static_cast<float>((fp - fm) / (2 * eps));
  }
  return g;
}

// Double reference forwards.
Vec layernorm_ref(const Vec& x, const Vec& w, const Vec& b, int N, int C, double eps, bool rms) {
  Vec out(x.size());
  for (int i = 0; i < N; ++i) {
    double m = 0, v = 0;
    if (!rms) {
      for (int c = 0; c < C; ++c) m += x[i * C + c];
      m /= C;
    }
    for (int c = 0; c < C; ++c) v += (x[i * C + c] - m) * (x[i * C + c] - m);
    const double s = 1.0 / std::sqrt(v / C + eps);
    for (int c = 0; c < C; ++c) out[i * C + c] = (x[i * C + c] - m) * s * w[c] + (rms ? 0 : b[c]);
  }
  return out;
}

// z [T,dh] = causal_softmax(scale q k^T) v, contiguous rows.
Vec attention_ref(const Vec& q, const Vec& k, const Vec& v, int T, int dh, double scale, Vec* p_out = nullptr) {
  Vec z(T * dh, 0.0), p(T * T, 0.0);
  for (int i = 0; i < T; ++i) {
    double mx = -1e300;
    for (int j = 0; j <= i; ++j) {
      double s = 0;
      for (int d = 0; d < dh; ++d) s += q[i * dh + d] * k[j * dh + d];
      p[i * T + j] = s * scale;
      mx = std::max(mx, p[i * T + j]);
    }
    double sum = 0;
    for (int j = 0; j <= i; ++j) sum += (p[i * T + j] = std::exp(p[i * T + j] - mx));
    for (int j = 0; j <= i; ++j) p[i * T + j] /= sum;
    for (int d = 0; d < dh; ++d)
      for (int j = 0; j <= i; ++j) z[i * dh + d] += p[i * T + j] * v[j * dh + d];
  }
  if (p_out) *p_out = p;
  return z;
}

}  // namespace

TEST(OpsBackward, LayerNormAndRmsNorm) {
  const int N = 5, C = 24;
  for (bool rms : {false, true}) {
    auto x = randv(N * C, 1, 2.0f, 3.0f), w = randv(C, 2, 0.5f, 1.0f), b = randv(C, 3);
    auto dout = randv(N * C, 4);
    std::vector<float> out(N * C), mean(N), rstd(N);
    // Gradients accumulate: start from non-zero buffers and subtract the start afterwards.
    std::vector<float> dx(N * C, 0.5f), dw(C, 0.25f), db(C, -0.25f);
    if (rms) {
      rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-5f);
      rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), N, C);
    } else {
      layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C, 1e-5f);
      layernorm_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(),
                         mean.data(), rstd.data(), N, C);
    }
    for (float& g : dx) g -= 0.5f;
    for (float& g : dw) g -= 0.25f;
    for (float& g : db) g += 0.25f;
    const Vec X = to_double(x), Wt = to_double(w), Bs = to_double(b), G = to_double(dout);
    auto loss = [&](const Vec& xx, const Vec& ww, const Vec& bb) {
      Vec y = layernorm_ref(xx, ww, bb, N, C, 1e-5, rms);
      double s = 0;
      for (size_t i = 0; i < y.size(); ++i) s += G[i] * y[i];
      return s;
    };
    auto gx = numeric_grad(X, [&](const Vec& v) { return loss(v, Wt, Bs); });
    auto gw = numeric_grad(Wt, [&](const Vec& v) { return loss(X, v, Bs); });
    EXPECT_LE(rel_max_error(dx.data(), gx.data(), N * C), 1e-4) << (rms ? "rms" : "ln") << " dx";
    EXPECT_LE(rel_max_error(dw.data(), gw.data(), C), 1e-4) << (rms ? "rms" : "ln") << " dw";
    if (!rms) {
      auto gb = numeric_grad(Bs, [&](const Vec& v) { return loss(X, Wt, v); });
      EXPECT_LE(rel_max_error(db.data(), gb.data(), C), 1e-4) << "ln db";
    }
  }
}

TEST(OpsBackward, PointwiseActivations) {
  const int n = 257;
  auto x = randv(n, 5, 2.0f), up = randv(n, 6), dout = randv(n, 7);
  for (float& v : x)
    if (std::fabs(v) < 1e-2f) v = 0.5f;  // relu's kink
  std::vector<float> dx(n), dup(n), num(n), num_up(n);
  auto check = [&](const char* what, auto deriv, auto f) {
    deriv();
    for (int i = 0; i < n; ++i) {
      const double e = 1e-4;
      num[i] = static_cast<float>(dout[i] * (f(x[i] + e) - f(x[i] - e)) / (2 * e));
    }
    EXPECT_LE(rel_max_error(dx.data(), num.data(), n), 1e-5) << what;
  };
  check("gelu_new", [&] { gelu_new_backward(dx.data(), x.data(), dout.data(), n); },
        [](double v) { return gelu_new_naive(v); });
  check("gelu_erf", [&] { gelu_erf_backward(dx.data(), x.data(), dout.data(), n); },
        [](double v) { return gelu_erf_naive(v); });
  check("relu", [&] { relu_backward(dx.data(), x.data(), dout.data(), n); },
        [](double v) { return v > 0 ? v : 0.0; });
  swiglu_backward(dx.data(), dup.data(), x.data(), up.data(), dout.data(), n);
  for (int i = 0; i < n; ++i) {
    const double e = 1e-4;
    num[i] = static_cast<float>(dout[i] * up[i] * (silu_naive(x[i] + e) - silu_naive(x[i] - e)) / (2 * e));
    num_up[i] = static_cast<float>(dout[i] * silu_naive(x[i]));
  }
  EXPECT_LE(rel_max_error(dx.data(), num.data(), n), 1e-5) << "swiglu dgate";
  EXPECT_LE(rel_max_error(dup.data(), num_up.data(), n), 1e-6) << "swiglu dup";
  geglu_backward(dx.data(), dup.data(), x.data(), up.data(), dout.data(), n);
  for (int i = 0; i < n; ++i) {
    const double e = 1e-4;
    num[i] = static_cast<float>(dout[i] * up[i] * (gelu_new_naive(x[i] + e) - gelu_new_naive(x[i] - e)) / (2 * e));
    num_up[i] = static_cast<float>(dout[i] * gelu_new_naive(x[i]));
  }
  EXPECT_LE(rel_max_error(dx.data(), num.data(), n), 1e-5) << "geglu dgate";
  EXPECT_LE(rel_max_error(dup.data(), num_up.data(), n), 1e-6) << "geglu dup";
  // the forward kernels agree with the references the differences were taken of
  std::vector<float> y(n);
  gelu_new_forward(y.data(), x.data(), n);
  for (int i = 0; i < n; ++i) EXPECT_NEAR(y[i], gelu_new_naive(x[i]), 1e-5);
}

TEST(OpsBackward, CausalSoftmax) {
  const int T = 7;
  auto s = randv(T * T, 8, 2.0f), g = randv(T * T, 9);
  std::vector<float> p = s, ds(T * T);
  causal_softmax(p.data(), T);
  causal_softmax_backward(ds.data(), p.data(), g.data(), T);
  auto num = numeric_grad(to_double(s), [&](const Vec& v) {
    double tot = 0;
    for (int i = 0; i < T; ++i) {
      double mx = -1e300, sum = 0;
      for (int j = 0; j <= i; ++j) mx = std::max(mx, v[i * T + j]);
      for (int j = 0; j <= i; ++j) sum += std::exp(v[i * T + j] - mx);
      for (int j = 0; j <= i; ++j) tot += g[i * T + j] * std::exp(v[i * T + j] - mx) / sum;
    }
    return tot;
  });
  EXPECT_LE(rel_max_error(ds.data(), num.data(), T * T), 1e-5);
  for (int i = 0; i < T; ++i)
    for (int j = i + 1; j < T; ++j) EXPECT_EQ(ds[i * T + j], 0.0f);
}

// One head on strided rows (as inside [T,H,dh] buffers), with dk/dv accumulation checked.
TEST(OpsBackward, AttentionHead) {
  const int T = 9, dh = 5, ld = 3 * dh;  // rows of 3 heads; we use the middle one
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  auto Q = randv(T * ld, 10, 1.5f), K = randv(T * ld, 11, 1.5f), Vv = randv(T * ld, 12);
  auto dZ = randv(T * ld, 13);
  auto col = [&](const std::vector<float>& a) {  // contiguous copy of the middle head
    Vec r(T * dh);
    for (int t = 0; t < T; ++t)
      for (int d = 0; d < dh; ++d) r[t * dh + d] = a[t * ld + dh + d];
    return r;
  };
  const Vec q = col(Q), k = col(K), v = col(Vv), g = col(dZ);
  // forward with the production kernels, saving the pattern
  std::vector<float> p(T * T), z(T * ld, 0.0f);
  attention_scores(p.data(), Q.data() + dh, ld, K.data() + dh, ld, T, dh, scale);
  causal_softmax(p.data(), T);
  attention_values(z.data() + dh, ld, p.data(), Vv.data() + dh, ld, T, dh);

  std::vector<float> dQ(T * ld, 7.0f), dK(T * ld, 0.5f), dV(T * ld, -0.5f), dp(T * T), ds(T * T);
  attention_backward(dQ.data() + dh, dK.data() + dh, dV.data() + dh, dp.data(), ds.data(),
                     dZ.data() + dh, ld, p.data(), Q.data() + dh, ld, K.data() + dh, Vv.data() + dh,
                     ld, T, dh, scale);
  auto loss = [&](const Vec& qq, const Vec& kk, const Vec& vv) {
    Vec zz = attention_ref(qq, kk, vv, T, dh, scale);
    double s = 0;
    for (int i = 0; i < T * dh; ++i) s += g[i] * zz[i];
    return s;
  };
  auto nq = numeric_grad(q, [&](const Vec& x) { return loss(x, k, v); });
  auto nk = numeric_grad(k, [&](const Vec& x) { return loss(q, x, v); });
  auto nv = numeric_grad(v, [&](const Vec& x) { return loss(q, k, x); });
  std::vector<float> gq(T * dh), gk(T * dh), gv(T * dh);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < dh; ++d) {
      gq[t * dh + d] = dQ[t * ld + dh + d];
      gk[t * dh + d] = dK[t * ld + dh + d] - 0.5f;
      gv[t * dh + d] = dV[t * ld + dh + d] + 0.5f;
      EXPECT_EQ(dQ[t * ld + d], 7.0f);  // other heads untouched
      EXPECT_EQ(dK[t * ld + 2 * dh + d], 0.5f);
    }
  EXPECT_LE(rel_max_error(gq.data(), nq.data(), T * dh), 1e-4) << "dq";
  EXPECT_LE(rel_max_error(gk.data(), nk.data(), T * dh), 1e-4) << "dk";
  EXPECT_LE(rel_max_error(gv.data(), nv.data(), T * dh), 1e-4) << "dv";
  // dp: z is linear in the pattern, d loss / d p[i,j] = g_i . v_j (masked entries included)
  std::vector<float> ref_dp(T * T);
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < T; ++j) {
      double s = 0;
      for (int d = 0; d < dh; ++d) s += g[i * dh + d] * v[j * dh + d];
      ref_dp[i * T + j] = static_cast<float>(s);
    }
  EXPECT_LE(rel_max_error(dp.data(), ref_dp.data(), T * T), 1e-5) << "dpattern";
  // ds: d loss / d scores (masked entries: 0, the forward ignores them)
  std::vector<float> s0(T * T);
  attention_scores(s0.data(), Q.data() + dh, ld, K.data() + dh, ld, T, dh, scale);
  for (float& x : s0) x = std::isfinite(x) ? x : 0.0f;
  auto nds = numeric_grad(to_double(s0), [&](const Vec& S) {
    double tot = 0;
    for (int i = 0; i < T; ++i) {
      double mx = -1e300, sum = 0;
      for (int j = 0; j <= i; ++j) mx = std::max(mx, S[i * T + j]);
      for (int j = 0; j <= i; ++j) sum += std::exp(S[i * T + j] - mx);
      for (int j = 0; j <= i; ++j)
        for (int d = 0; d < dh; ++d)
          tot += g[i * dh + d] * std::exp(S[i * T + j] - mx) / sum * v[j * dh + d];
    }
    return tot;
  });
  EXPECT_LE(rel_max_error(ds.data(), nds.data(), T * T), 1e-4) << "dscores";
}

TEST(OpsBackward, CrossEntropy) {
  const int N = 4, V = 13;
  auto logits = randv(N * V, 14, 3.0f);
  std::vector<int32_t> targets = {3, -1, 0, 12};
  std::vector<float> losses(N), dl(N * V, 9.0f);
  const float dloss = 1.0f / 3;
  cross_entropy_forward_backward(losses.data(), dl.data(), logits.data(), targets.data(), N, V, dloss);
  auto ce = [&](const Vec& x) {
    double tot = 0;
    for (int n = 0; n < N; ++n) {
      if (targets[n] < 0) continue;
      double mx = -1e300, s = 0;
      for (int v = 0; v < V; ++v) mx = std::max(mx, x[n * V + v]);
      for (int v = 0; v < V; ++v) s += std::exp(x[n * V + v] - mx);
      tot += std::log(s) + mx - x[n * V + targets[n]];
    }
    return tot;
  };
  const Vec X = to_double(logits);
  double total = 0;
  for (float l : losses) total += l;
  EXPECT_NEAR(total, ce(X), 1e-5);
  EXPECT_EQ(losses[1], 0.0f);
  auto num = numeric_grad(X, [&](const Vec& x) { return dloss * ce(x); });
  EXPECT_LE(rel_max_error(dl.data(), num.data(), N * V), 1e-4);
  for (int v = 0; v < V; ++v) EXPECT_EQ(dl[1 * V + v], 0.0f);
  // forward only, and a bad target
  std::vector<float> l2(N);
  cross_entropy_forward_backward(l2.data(), nullptr, logits.data(), targets.data(), N, V, 1.0f);
  EXPECT_EQ(l2, losses);
  targets[0] = V;
  EXPECT_THROW(cross_entropy_forward_backward(l2.data(), nullptr, logits.data(), targets.data(),
                                              N, V, 1.0f),
               Error);
}

TEST(OpsBackward, MatmulAndBias) {
  const int M = 6, K = 5, N = 70;  // N > 64 spans two column blocks of bias_backward
  auto x = randv(M * K, 15), w = randv(K * N, 16), g = randv(M * N, 17);
  std::vector<float> dx(M * K, 1.0f), dw(K * N, 1.0f), db(N, 1.0f);
  matmul_backward(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(), M, K, N);
  std::vector<float> rx(M * K, 1.0f), rw(K * N, 1.0f), rb(N, 1.0f);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      rb[j] += g[i * N + j];
      for (int k = 0; k < K; ++k) {
        rx[i * K + k] += g[i * N + j] * w[k * N + j];
        rw[k * N + j] += x[i * K + k] * g[i * N + j];
      }
    }
  EXPECT_LE(rel_max_error(dx.data(), rx.data(), M * K), 1e-5);
  EXPECT_LE(rel_max_error(dw.data(), rw.data(), K * N), 1e-5);
  EXPECT_LE(rel_max_error(db.data(), rb.data(), N), 1e-5);
}
