// Discrete SAE: initialisation, the training loop, encoding and codes. The epoch's loss and
// gradients are in sae_backward.cpp, the constrained Adam step in sae_adam.cpp, the threading
// in sae_step.h; sae.h has the model, the reference's choices and why.
#include "sae/sae.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "sae/sae_step.h"
#include "ops/cancel.h"
#include "ops/error.h"
#include "ops/matmul.h"
#include "ops/rng.h"

namespace cs {
namespace {

using sae_detail::adam_step;
using sae_detail::forward_backward;
using sae_detail::Grads;
using sae_detail::kParallelWork;
using sae_detail::Params;
using sae_detail::SaeWorkspace;

// Rows encoded at once by codes(), bounding its scratch to (kEncodeBlock, n_features), and
// rows per sgemm call in encode().
constexpr int64_t kEncodeBlock = 2048;
constexpr int64_t kEncodeRows = 256;
// N(0,1) by Box-Muller, both outputs used.
void fill_normal(std::vector<float>& v, SplitMix64& rng) {
  for (size_t i = 0; i < v.size(); i += 2) {
    double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();  // u1 in (0, 1]
    double r = std::sqrt(-2.0 * std::log(u1)), t = 2.0 * M_PI * u2;
    v[i] = static_cast<float>(r * std::cos(t));
    if (i + 1 < v.size()) v[i + 1] = static_cast<float>(r * std::sin(t));
  }
}

// w (rows, cols): each row, or each column, scaled to unit norm (torch F.normalize, eps 1e-12).
void normalise(float* w, int64_t rows, int64_t cols, bool by_row) {
  std::vector<double> ss(by_row ? rows : cols, 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      ss[by_row ? i : j] += static_cast<double>(w[i * cols + j]) * w[i * cols + j];
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      w[i * cols + j] *= static_cast<float>(1.0 / std::max(std::sqrt(ss[by_row ? i : j]), 1e-12));
}

void check_rows(const char* who, const float* X, int64_t n) {
  if (n <= 0)
    throw Error(std::string(who) + ": need at least one input row, got n = " + std::to_string(n));
  if (!X) throw Error(std::string(who) + ": input pointer is null");
}

}  // namespace

Sae::Sae(int64_t d_in, const SaeConfig& cfg) : d_in_(d_in), n_feat_(cfg.n_features), cfg_(cfg) {
  if (d_in <= 0) throw Error("Sae: input width d_in must be positive, got " + std::to_string(d_in));
  if (cfg.n_features <= 0)
    throw Error("Sae: n_features must be positive, got " + std::to_string(cfg.n_features));
  if (cfg.epochs < 0) throw Error("Sae: epochs must be >= 0, got " + std::to_string(cfg.epochs));
  if (!(cfg.lr > 0.0f) || !std::isfinite(cfg.lr))
    throw Error("Sae: learning rate must be a positive number, got " + std::to_string(cfg.lr));
  if (!(cfg.l1 >= 0.0f) || !std::isfinite(cfg.l1))
    throw Error("Sae: l1 coefficient must be >= 0, got " + std::to_string(cfg.l1));
  const int64_t d = d_in_, F = n_feat_;
  W_enc_.resize(F * d);
  b_enc_.resize(F);
  W_dec_.resize(d * F);
  b_pre_.assign(d, 0.0f);
  SplitMix64 rng(cfg.seed);
  fill_normal(W_enc_, rng);
  normalise(W_enc_.data(), F, d, /*by_row=*/true);
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  for (float& b : b_enc_) b = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  fill_normal(W_dec_, rng);
  normalise(W_dec_.data(), d, F, /*by_row=*/cfg.decoder_norm == SaeDecoderNorm::kRows);
  const int64_t n_params = 2 * F * d + F + d;
  adam_m_.assign(n_params, 0.0f);
  adam_v_.assign(n_params, 0.0f);
}

float Sae::train(const float* X_in, int64_t n) {
  check_rows("Sae::train", X_in, n);
  const int64_t d = d_in_, F = n_feat_;
  const AlignedVector<float> X_aligned(X_in, X_in + n * d);  // read 5 times per epoch
  const float* X = X_aligned.data();
  SaeWorkspace ws(n, d, F);
  AlignedVector<float> grad(adam_m_.size());  // carved [W_enc | b_enc | W_dec | b_pre]
  const Grads g{grad.data(), grad.data() + F * d, grad.data() + F * d + F,
                grad.data() + 2 * F * d + F};
  const Params p{W_enc_.data(), b_enc_.data(), W_dec_.data(), b_pre_.data()};
  const bool parallel = n * d * F >= kParallelWork;
  loss_history_.reserve(loss_history_.size() + cfg_.epochs);
  for (int e = 0; e < cfg_.epochs; ++e) {
    check_cancelled();
    const AdamStep<float> a(cfg_.lr, step_ + 1);  // torch.optim.Adam's defaults
#pragma omp parallel if (parallel)
    {
      forward_backward(X, cfg_.l1, cfg_.kernels, p, ws, g);
      if (std::isfinite(ws.loss))
        adam_step(W_enc_.data(), b_enc_.data(), W_dec_.data(), b_pre_.data(), grad.data(),
                  adam_m_.data(), adam_v_.data(), cfg_.decoder_norm, a, ws);
    }
    if (!std::isfinite(ws.loss))
      throw Error("Sae::train: loss became " + std::to_string(ws.loss) + " at epoch " +
                  std::to_string(e) +
                  "; check the activations for NaN/Inf or lower the learning rate");
    ++step_;
    sparse_steps_ += ws.sparse;
    loss_history_.push_back(static_cast<float>(ws.loss));
  }
  if (cfg_.epochs == 0) {
#pragma omp parallel if (parallel)
    forward_backward(X, cfg_.l1, cfg_.kernels, p, ws, g);
  }
  return static_cast<float>(ws.loss);
}

float Sae::loss_and_grad(const float* X, int64_t n, SaeGrads* grads) const {
  check_rows("Sae::loss_and_grad", X, n);
  const int64_t d = d_in_, F = n_feat_;
  SaeWorkspace ws(n, d, F);
  SaeGrads local;
  SaeGrads& out = grads ? *grads : local;
  out.W_enc.resize(F * d);
  out.b_enc.resize(F);
  out.W_dec.resize(d * F);
  out.b_pre.resize(d);
  const Params p{W_enc_.data(), b_enc_.data(), W_dec_.data(), b_pre_.data()};
  const Grads g{out.W_enc.data(), out.b_enc.data(), out.W_dec.data(), out.b_pre.data()};
#pragma omp parallel if (n * d * F >= kParallelWork)
  forward_backward(X, cfg_.l1, cfg_.kernels, p, ws, g);
  return static_cast<float>(ws.loss);
}

void Sae::encode(const float* X, int64_t n, float* Fout) const {
  check_rows("Sae::encode", X, n);
  const int64_t d = d_in_, F = n_feat_;
  std::vector<float> c(F);  // b_enc - W_enc b_pre
  for (int64_t j = 0; j < F; ++j) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t e = 0; e < d; ++e) acc += W_enc_[j * d + e] * b_pre_[e];
    c[j] = b_enc_[j] - acc;
  }
  // Fixed row blocks, one single-threaded sgemm each: the codes must not depend on the thread
  // count (see kBlockWork).
  const int64_t blocks = (n + kEncodeRows - 1) / kEncodeRows;
#pragma omp parallel if (n * d * F >= kParallelWork)
  {
    omp_set_num_threads(1);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t i0 = b * kEncodeRows, m = std::min(kEncodeRows, n - i0);
      float* out = Fout + i0 * F;
      sgemm(false, true, m, F, d, 1.0f, X + i0 * d, d, W_enc_.data(), d, 0.0f, out, F);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < F; ++j) {
          const float pre = out[i * F + j] + c[j];
          out[i * F + j] = pre > 0.0f ? pre : 0.0f;
        }
    }
  }
}

void Sae::codes(const float* X, int64_t n, int32_t* out) const {
  check_rows("Sae::codes", X, n);
  const int64_t d = d_in_, F = n_feat_;
  std::vector<float> f(std::min(n, kEncodeBlock) * F);  // (block, F)
  for (int64_t i0 = 0; i0 < n; i0 += kEncodeBlock) {
    const int64_t m = std::min(kEncodeBlock, n - i0);
    encode(X + i0 * d, m, f.data());
    for (int64_t i = 0; i < m; ++i) {
      const float* fi = f.data() + i * F;
      int32_t best = 0;
      for (int64_t j = 1; j < F; ++j)
        if (fi[j] > fi[best]) best = static_cast<int32_t>(j);  // strict: ties keep the lowest
      out[i0 + i] = best;
    }
  }
}

}  // namespace cs
