#include "ops/attention_backward.h"

#include "ops/matmul.h"

namespace cs {

void causal_softmax_backward(float* ds, const float* p, const float* dp, int64_t T) {
  for (int64_t i = 0; i < T; ++i) {
    const float* pr = p + i * T;
    const float* dpr = dp + i * T;
    float dot = 0.0f;
    for (int64_t j = 0; j <= i; ++j) dot += pr[j] * dpr[j];
    float* dsr = ds + i * T;
    for (int64_t j = 0; j <= i; ++j) dsr[j] = pr[j] * (dpr[j] - dot);
    for (int64_t j = i + 1; j < T; ++j) dsr[j] = 0.0f;
  }
}

void attention_backward(float* dq, float* dk, float* dv, float* dp, float* ds, const float* dz,
                        int64_t ldz, const float* p, const float* q, int64_t ldq, const float* k,
                        const float* v, int64_t ldkv, int64_t T, int64_t dh, float scale) {
  sgemm(false, true, T, T, dh, 1.0f, dz, ldz, v, ldkv, 0.0f, dp, T);       // dp = dz v^T
  sgemm(true, false, T, dh, T, 1.0f, p, T, dz, ldz, 1.0f, dv, ldkv);       // dv += P^T dz
  causal_softmax_backward(ds, p, dp, T);
  sgemm(false, false, T, dh, T, scale, ds, T, k, ldkv, 0.0f, dq, ldq);     // dq = s ds k
  sgemm(true, false, T, dh, T, scale, ds, T, q, ldq, 1.0f, dk, ldkv);      // dk += s ds^T q
}

void attention_backward_softcap(float* dq, float* dk, float* dv, float* dp, float* ds, float* ds0,
                                const float* dz, int64_t ldz, const float* p, const float* y,
                                float cap, const float* q, int64_t ldq, const float* k,
                                const float* v, int64_t ldkv, int64_t T, int64_t dh, float scale) {
  sgemm(false, true, T, T, dh, 1.0f, dz, ldz, v, ldkv, 0.0f, dp, T);       // dp = dz v^T
  sgemm(true, false, T, dh, T, 1.0f, p, T, dz, ldz, 1.0f, dv, ldkv);       // dv += P^T dz
  causal_softmax_backward(ds, p, dp, T);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) {
      // masked entries (above the diagonal, outside a window) have ds = 0 and may hold -inf in y
      const float g = j <= i ? ds[i * T + j] : 0.0f, t = g != 0.0f ? y[i * T + j] / cap : 0.0f;
      ds0[i * T + j] = g * (1.0f - t * t);
    }
  sgemm(false, false, T, dh, T, scale, ds0, T, k, ldkv, 0.0f, dq, ldq);    // dq = s ds0 k
  sgemm(true, false, T, dh, T, scale, ds0, T, q, ldq, 1.0f, dk, ldkv);     // dk += s ds0^T q
}

}  // namespace cs
