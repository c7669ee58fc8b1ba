// The GEMM entry point for weights of any dtype, in one of two compute precisions.
//
//   Exact: f32 products and f32 sums, whatever the weight's storage: an f32 weight goes to
//          OpenBLAS sgemm, oneDNN's f32 matmul or, for at most 16 rows against a large weight,
//          the streamed kernels of gemm_streamed.h (chosen per shape, see gemm_path); a bf16/f16 weight is widened to f32 one column panel at a time inside
//          the GEMM (each thread widens the panel it multiplies; the whole weight is never
//          widened).
//   BF16:  the activations are rounded to bf16 and multiplied by the bf16 weight with f32
//          accumulation (oneDNN's bf16 matmul, AVX512-BF16 where the CPU has it, or for at most
//          16 rows against a large weight the streamed kernels' bf16 form), as transformers
//          runs a bf16 checkpoint. Applies to BF16 weights; an F32 or F16 weight
//          is multiplied exactly (load_model narrows a model's weights to bf16 for this mode).
// Every path is deterministic for a given shape and thread count.
#pragma once
#include <cstdint>
#include <string>

#include "ops/weight.h"

namespace cs {

enum class Precision { Exact, BF16 };
const char* precision_name(Precision p);              // "exact", "bf16"
bool precision_from_name(const std::string& s, Precision* out);

// C[M,N] (+)= A[M,K] @ B[K,N], B = any MatRef (any dtype, either storage order, a block of a
// larger matrix). A and C are f32 with row strides lda and ldc. accumulate adds to C.
void gemm(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, const MatRef& B,
          bool accumulate, Precision p);

// out[M,N] (+)= inp[M,K] @ W[K,N] (+ bias[N]), rows contiguous.
void matmul(float* out, const float* inp, const MatRef& W, const float* bias, int64_t M,
            Precision p, bool accumulate = false);

// Which implementation gemm() uses for this shape (for tests and benchmarks).
enum class GemmPath { OpenBlasF32, OneDnnF32, WidenedPanels, OneDnnBf16, StreamedF32, StreamedBf16 };
const char* gemm_path_name(GemmPath g);
GemmPath gemm_path(int64_t M, const MatRef& B, Precision p);
// Benchmarks only: force GEMMs through one path. OpenBlasF32, OneDnnF32 or StreamedF32 (where it
// applies, oneDNN elsewhere): every exact GEMM on an f32 weight; OneDnnBf16: every bf16-precision
// GEMM on a bf16 weight (never the streamed bf16 kernels). WidenedPanels restores the per-shape
// choice.
void force_gemm_path(GemmPath g);

// Reference: C = A @ B (+ C) accumulated in double, after rounding A to bf16 when the BF16 path
// would (so BF16 results can be checked at f32-accumulation tolerance).
void gemm_naive(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, const MatRef& B,
                bool accumulate, Precision p);

}  // namespace cs
