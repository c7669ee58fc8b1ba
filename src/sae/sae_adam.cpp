// The discrete SAE's optimiser step: torch.optim.Adam with the reference's unit-norm
// constraint (gradient projected off each constrained vector, then renormalised; sae.h).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "sae/sae_step.h"

namespace cs::sae_detail {
namespace {

// Adam on w (n) with gradient g - k w; returns sum of the new w^2. Hand-vectorised: with
// errno semantics (GCC's default) the compiler keeps sqrt scalar, and this loop is a fair
// share of a sparse epoch.
float adam_run(float* w, const float* g, float k, float* m, float* v, int64_t n,
               const AdamStep<float>& a) {
  int64_t i = 0;
  float nn = 0.0f;
#ifdef __AVX2__
  // AdamStep::update's fmas, 8 lanes at a time; the tail below calls it, so an element gets the
  // same bits whichever path handles it (which elements fall in a tail depends on the thread split).
  const __m256 b1 = _mm256_set1_ps(a.beta1), c1 = _mm256_set1_ps(1.0f - a.beta1);
  const __m256 b2 = _mm256_set1_ps(a.beta2), c2 = _mm256_set1_ps(1.0f - a.beta2);
  const __m256 step = _mm256_set1_ps(a.step_size), inv = _mm256_set1_ps(a.inv_sqrt_bc2);
  const __m256 eps = _mm256_set1_ps(a.eps), kk = _mm256_set1_ps(k);
  __m256 acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 wi = _mm256_loadu_ps(w + i);
    const __m256 gi = _mm256_fnmadd_ps(kk, wi, _mm256_loadu_ps(g + i));
    const __m256 mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(c1, gi));
    const __m256 vi =
        _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    const __m256 den = _mm256_fmadd_ps(_mm256_sqrt_ps(vi), inv, eps);
    wi = _mm256_fnmadd_ps(step, _mm256_div_ps(mi, den), wi);
    _mm256_storeu_ps(w + i, wi);
    acc = _mm256_fmadd_ps(wi, wi, acc);
  }
  alignas(32) float lane[8];
  _mm256_store_ps(lane, acc);
  for (float x : lane) nn += x;
#endif
  for (; i < n; ++i) {
    w[i] = a.update(w[i], std::fma(-k, w[i], g[i]), m[i], v[i]);
    nn += w[i] * w[i];
  }
  return nn;
}

// One constrained step on a unit vector w (n): drop the gradient component along w (the
// reference's backward hook), Adam, renormalise (the reference's forward).
void adam_unit_vector(float* w, const float* g, float* m, float* v, int64_t n, const AdamStep<float>& a) {
  float gw = 0.0f, ww = 0.0f;
#pragma omp simd reduction(+ : gw, ww)
  for (int64_t i = 0; i < n; ++i) {
    gw += g[i] * w[i];
    ww += w[i] * w[i];
  }
  const float k = ww > 0.0f ? gw / ww : 0.0f;
  const float s = 1.0f / std::max(std::sqrt(adam_run(w, g, k, m, v, n, a)), 1e-12f);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) w[i] *= s;
}

// The same for columns [c.begin, c.end) of w (rows, cols); scratch: 3 * cols floats.
void adam_unit_cols(float* w, const float* g, float* m, float* v, int64_t rows, int64_t cols,
                    Range c, const AdamStep<float>& a, float* scratch) {
  float* gw = scratch;
  float* ww = scratch + cols;
  float* nn = scratch + 2 * cols;
  for (int64_t j = c.begin; j < c.end; ++j) gw[j] = ww[j] = nn[j] = 0.0f;
  // Column ranges depend on the thread split: explicit fma keeps vector and scalar code equal.
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = c.begin; j < c.end; ++j) {
      gw[j] = std::fma(g[i * cols + j], w[i * cols + j], gw[j]);
      ww[j] = std::fma(w[i * cols + j], w[i * cols + j], ww[j]);
    }
  for (int64_t j = c.begin; j < c.end; ++j) gw[j] = ww[j] > 0.0f ? gw[j] / ww[j] : 0.0f;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = c.begin; j < c.end; ++j) {
      const int64_t e = i * cols + j;
      w[e] = a.update(w[e], std::fma(-gw[j], w[e], g[e]), m[e], v[e]);
      nn[j] = std::fma(w[e], w[e], nn[j]);
    }
  for (int64_t j = c.begin; j < c.end; ++j) nn[j] = 1.0f / std::max(std::sqrt(nn[j]), 1e-12f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = c.begin; j < c.end; ++j) w[i * cols + j] *= nn[j];
}

}  // namespace

void adam_step(float* W_enc, float* b_enc, float* W_dec, float* b_pre, const float* grad,
               float* m, float* v, SaeDecoderNorm norm, const AdamStep<float>& a, SaeWorkspace& ws) {
  const int64_t d = ws.d, F = ws.F;
  const int64_t o_be = F * d, o_Wd = o_be + F, o_bp = o_Wd + d * F;
  const Share s = my_share(ws.blocks, F);
  for (int64_t j = s.feats.begin; j < s.feats.end; ++j)
    adam_unit_vector(W_enc + j * d, grad + j * d, m + j * d, v + j * d, d, a);
  if (norm == SaeDecoderNorm::kRows) {
    for (int64_t e = s.dims.begin; e < s.dims.end; ++e)
      adam_unit_vector(W_dec + e * F, grad + o_Wd + e * F, m + o_Wd + e * F, v + o_Wd + e * F,
                       F, a);
  } else {
    adam_unit_cols(W_dec, grad + o_Wd, m + o_Wd, v + o_Wd, d, F, s.feats, a, ws.scratch.data());
  }
  const int64_t fb = s.feats.begin, eb = s.dims.begin;
  adam_run(b_enc + fb, grad + o_be + fb, 0.0f, m + o_be + fb, v + o_be + fb, s.feats.size(), a);
  adam_run(b_pre + eb, grad + o_bp + eb, 0.0f, m + o_bp + eb, v + o_bp + eb, s.dims.size(), a);
#pragma omp barrier
}

}  // namespace cs::sae_detail
