// Matrix products over OpenBLAS sgemm, row-major, with explicit dims.
#pragma once
#include <cstdint>

namespace cs {

// out[M,N] (+)= inp[M,K] @ w[K,N] (+ bias[N]). accumulate=false overwrites out.
void matmul(float* out, const float* inp, const float* w, const float* bias,
            int64_t M, int64_t K, int64_t N, bool accumulate = false);
// out[M,N] (+)= inp[M,K] @ w[N,K]^T (+ bias[N]): for weights stored [out,in] (nn.Linear).
void matmul_nt(float* out, const float* inp, const float* w, const float* bias,
               int64_t M, int64_t K, int64_t N, bool accumulate = false);
// out[M,N] (+)= a[K,M]^T @ b[K,N]: weight gradients.
void matmul_tn(float* out, const float* a, const float* b, int64_t M, int64_t K, int64_t N,
               bool accumulate = false);
// General strided sgemm: C = alpha*op(A)@op(B) + beta*C, row-major with leading dims.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// Naive references (triple loop, double accumulation) for tests.
void matmul_naive(float* out, const float* inp, const float* w, const float* bias,
                  int64_t M, int64_t K, int64_t N);

}  // namespace cs
