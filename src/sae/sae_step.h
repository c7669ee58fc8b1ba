// Internals of the discrete SAE's training step (sae.cpp, sae_backward.cpp, sae_adam.cpp): the
// thread shares, the per-run workspace, and the two phases of an epoch. Not part of the API.
//
// Threading: one OpenMP parallel region per epoch (Sae::train). Every thread runs the same
// phases on its own share (rows of X for the row-local products; features or input dims for
// weight gradients and Adam), with a barrier between dependent phases; sgemm calls inside the
// region run single-threaded on that share. Shares are sets of output elements and every sum
// over rows runs in fixed chunks added in order, so results do not depend on the thread count.
// (Fewer barriers than fork/joins around each step, and two half-size single-threaded GEMMs
// beat one two-threaded GEMM at these shapes.)
#pragma once
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "sae/sae.h"
#include "ops/adam.h"
#include "ops/aligned.h"

namespace cs::sae_detail {

// Rows per reduction chunk: per-chunk partial sums are added in chunk order.
constexpr int64_t kChunk = 16;
// Problems with fewer multiply-adds per GEMM than this train on one thread: the barriers
// would cost more than the work.
constexpr int64_t kParallelWork = int64_t{1} << 21;
// Every GEMM is cut into blocks (of rows of X, or of input dims), each one single-threaded
// sgemm call, and threads take whole blocks. OpenBLAS's sums depend on the call's shape (the
// same product split in two calls differs in the last bits), so the cut depends on the problem
// size only, never on the thread count: about kBlockWork multiply-adds per block, 2 to 16
// blocks. Smaller blocks lose to repacking and short kernels (measured, 1 thread: at
// (320, 128, 200) 16 blocks run at half the rate of 1; at (1440, 768, 200) 16 cost ~5%).
constexpr int64_t kBlockWork = int64_t{1} << 22;
constexpr int64_t kMaxBlocks = 16;


// [begin, end) of part t of T over n items, cut on multiples of align.
struct Range {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};
inline Range split(int64_t n, int t, int T, int64_t align) {
  int64_t blocks = (n + align - 1) / align;
  return {std::min(n, blocks * t / T * align), std::min(n, blocks * (t + 1) / T * align)};
}

// The GEMM cut for a problem (see kBlockWork), and block b of its n rows (chunk-aligned) or
// d input dims.
struct Blocks {
  int64_t n, d, count;
  Blocks(int64_t n_, int64_t d_, int64_t F)
      : n(n_), d(d_), count(std::clamp(n_ * d_ * F / kBlockWork, int64_t{2}, kMaxBlocks)) {}
  Range rows(int64_t b) const { return split(n, static_cast<int>(b), parts(), kChunk); }
  Range dims(int64_t b) const { return split(d, static_cast<int>(b), parts(), 16); }
  int parts() const { return static_cast<int>(count); }
};

// This thread's share: whole GEMM blocks, the rows and dims they cover, and features.
struct Share {
  Range blocks, rows, dims, feats;
};
inline Share my_share(const Blocks& bl, int64_t F) {
  const int t = omp_get_thread_num(), T = omp_get_num_threads();
  const Range b = split(bl.count, t, T, 1);
  if (b.size() == 0) return {b, {0, 0}, {0, 0}, split(F, t, T, 1)};
  return {b, {bl.rows(b.begin).begin, bl.rows(b.end - 1).end},
          {bl.dims(b.begin).begin, bl.dims(b.end - 1).end}, split(F, t, T, 1)};
}

// The parameters, and the raw loss gradients in the same shapes.
struct Params {
  const float *W_enc, *b_enc, *W_dec, *b_pre;  // (F, d), (F), (d, F), (d)
};
struct Grads {
  float *W_enc, *b_enc, *W_dec, *b_pre;
};

// Buffers of one training run (n rows, d inputs, F features), allocated once by Sae::train.
struct SaeWorkspace {
  int64_t n, d, F;
  Blocks blocks;                      // the GEMM cut
  AlignedVector<float> f;             // (n, F) pre-activation, then f = relu(pre)
  AlignedVector<float> r;             // (n, d) x_hat - x
  AlignedVector<float> df;            // (n, F) dL/dpre
  AlignedVector<float> c;             // (F) b_enc - W_enc b_pre
  AlignedVector<double> chunk_sq;     // (n_chunks) sum of r^2 per row chunk
  AlignedVector<double> chunk_l1;     // (n_chunks) sum of f per row chunk
  AlignedVector<int64_t> chunk_nnz;   // (n_chunks) active (row, feature) pairs per row chunk
  AlignedVector<double> chunk_colsum;  // (n_chunks, d) sum of r over each row chunk
  AlignedVector<double> block_colsum;  // (blocks, d) sum of r over each GEMM block's chunks
  AlignedVector<double> colsum_r;     // (d) sum of r over all rows, from the block sums
  AlignedVector<double> colsum_df;    // (F) sum of dL/dpre over rows
  AlignedVector<float> scratch;       // (3 * F) column-wise Adam
  // Sparse kernels.
  AlignedVector<float> W_decT;        // (F, d) decoder atoms as rows
  AlignedVector<float> gT;            // (d, F) gW_enc^T in dense epochs
  AlignedVector<float> dec_col;       // (d) one feature's decoder gradient, each thread its dims
  AlignedVector<int32_t> row_feat;    // (n, F) row i's active features: row_feat[i*F, +row_cnt[i])
  AlignedVector<int32_t> row_cnt;     // (n)
  AlignedVector<int32_t> feat_rows;   // (n * F) rows where feature j is active, grouped by j
  AlignedVector<int64_t> feat_start;  // (F + 1) feature j: feat_rows[feat_start[j], feat_start[j+1])
  // Results of the last forward_backward.
  double loss = 0;
  bool sparse = false;

  SaeWorkspace(int64_t n_, int64_t d_, int64_t F_)
      : n(n_), d(d_), F(F_), blocks(n, d, F), f(n * F), r(n * d), df(n * F), c(F),
        chunk_sq((n + kChunk - 1) / kChunk), chunk_l1(chunk_sq.size()),
        chunk_nnz(chunk_sq.size()), chunk_colsum(chunk_sq.size() * d),
        block_colsum(blocks.count * d), colsum_r(d), colsum_df(F), scratch(3 * F),
        W_decT(F * d), gT(F * d), dec_col(d),
        row_feat(n * F), row_cnt(n), feat_rows(n * F), feat_start(F + 1) {}

  int64_t n_chunks() const { return static_cast<int64_t>(chunk_sq.size()); }
  // Rows of chunk k.
  Range chunk(int64_t k) const { return {k * kChunk, std::min(n, (k + 1) * kChunk)}; }
  // Chunks that lie in a chunk-aligned row range.
  Range chunks_of(Range rows) const {
    return {rows.begin / kChunk, (rows.end + kChunk - 1) / kChunk};
  }
};

// Loss and raw gradients at p for X (n, d), into g (shapes as the params) and ws.loss /
// ws.sparse. Called by every thread of a parallel region (sae_backward.cpp).
void forward_backward(const float* X, float l1, SaeKernels kernels, const Params& p,
                      SaeWorkspace& ws, const Grads& g);

// One constrained Adam step of every parameter; grad, m, v carved [W_enc | b_enc | W_dec |
// b_pre]. Called by every thread of a parallel region (sae_adam.cpp).
void adam_step(float* W_enc, float* b_enc, float* W_dec, float* b_pre, const float* grad,
               float* m, float* v, SaeDecoderNorm norm, const AdamStep<float>& a,
               SaeWorkspace& ws);

}  // namespace cs::sae_detail
