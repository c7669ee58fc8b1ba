#include "ops/matmul.h"

#include <cblas.h>

namespace cs {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(M),
              static_cast<blasint>(N), static_cast<blasint>(K), alpha, A,
              static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
              static_cast<blasint>(ldc));
}

static void add_bias_rows(float* out, const float* bias, int64_t M, int64_t N, bool accumulate) {
  if (!bias) return;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) out[i * N + j] += bias[j];
  (void)accumulate;
}

void matmul(float* out, const float* inp, const float* w, const float* bias, int64_t M,
            int64_t K, int64_t N, bool accumulate) {
  sgemm(false, false, M, N, K, 1.0f, inp, K, w, N, accumulate ? 1.0f : 0.0f, out, N);
  add_bias_rows(out, bias, M, N, accumulate);
}

void matmul_nt(float* out, const float* inp, const float* w, const float* bias, int64_t M,
               int64_t K, int64_t N, bool accumulate) {
  sgemm(false, true, M, N, K, 1.0f, inp, K, w, K, accumulate ? 1.0f : 0.0f, out, N);
  add_bias_rows(out, bias, M, N, accumulate);
}

void matmul_tn(float* out, const float* a, const float* b, int64_t M, int64_t K, int64_t N,
               bool accumulate) {
  sgemm(true, false, M, N, K, 1.0f, a, M, b, N, accumulate ? 1.0f : 0.0f, out, N);
}

void matmul_naive(float* out, const float* inp, const float* w, const float* bias, int64_t M,
                  int64_t K, int64_t N) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = bias ? bias[j] : 0.0;
      for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(inp[i * K + k]) * w[k * N + j];
      out[i * N + j] = static_cast<float>(acc);
    }
}

}  // namespace cs
