// The discrete SAE's loss and gradients for one epoch (see sae_step.h for the threading).
//
// Kernels: the products that involve f are dense GEMMs while f is dense; once the l1 term has
// made f sparse (for the paper's settings ~1% active after a few dozen epochs) they become
// loops over the active (row, feature) pairs, leaving one GEMM (the encoder) per epoch.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>

#include "sae/sae_step.h"
#include "ops/matmul.h"

namespace cs::sae_detail {
namespace {

// Sparse kernels when fewer than this fraction of f is non-zero (kAuto). Measured (whole
// 500-epoch runs, 2 threads, thresholds 0.15 / 0.25 / 0.35 / 0.5): at (n, d, F) = (320, 128, 200)
// 0.25 is fastest by 1-2% on random, zoo and random-model activations (0.5 loses 2-5%); at
// (1440, 768, 200) 0.15 and 0.25 tie within noise.
constexpr double kSparseBelow = 0.25;
// Dims per register block in the sparse kernels: 4 AVX registers per accumulator.
constexpr int64_t kLanes = 32;

// out[j, e] = in[e, j] for rows j in [rows.begin, rows.end) of out (cols_in x ld_out), in tiles
// of 8 so that both sides touch whole cache-line pieces.
void transpose_rows(const float* in, int64_t ld_in, float* out, int64_t ld_out, Range rows,
                    int64_t n_cols) {
  for (int64_t e0 = 0; e0 < n_cols; e0 += 8) {
    const int64_t e1 = std::min(n_cols, e0 + 8);
    for (int64_t j = rows.begin; j < rows.end; ++j)
      for (int64_t e = e0; e < e1; ++e) out[j * ld_out + e] = in[e * ld_in + j];
  }
}

// f = relu(f) in place over one row (F); returns the row's sum and counts its non-zeros.
// Hand-vectorised: under GCC's default -ftrapping-math the compares stay scalar branches.
// max_ps(x, 0) is exactly `x > 0 ? x : 0` (so never -0), as in the tail.
float relu_row(float* f, int64_t F, int32_t* nnz) {
  int64_t j = 0;
  float sum = 0.0f;
  int32_t cnt = 0;
#ifdef __AVX2__
  __m256 acc = _mm256_setzero_ps();
  const __m256 zero = _mm256_setzero_ps();
  for (; j + 8 <= F; j += 8) {
    const __m256 v = _mm256_max_ps(_mm256_loadu_ps(f + j), zero);
    _mm256_storeu_ps(f + j, v);
    acc = _mm256_add_ps(acc, v);
    const int active = _mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ));
    cnt += __builtin_popcount(static_cast<unsigned>(active));
  }
  alignas(32) float lane[8];
  _mm256_store_ps(lane, acc);
  for (float x : lane) sum += x;
#endif
  for (; j < F; ++j) {
    f[j] = f[j] > 0.0f ? f[j] : 0.0f;
    sum += f[j];
    cnt += f[j] > 0.0f;
  }
  *nnz = cnt;
  return sum;
}

// Over the chunks of `rows`: residual(i) writes r_i (and whatever else the caller does per row);
// then r_i's squared norm is added to its chunk's chunk_sq and r_i to its chunk's column sums
// (chunk_colsum), both in row order.
template <class Residual>
void residual_rows(Range rows, SaeWorkspace& ws, Residual&& residual) {
  const int64_t d = ws.d;
  const Range ks = ws.chunks_of(rows);
  for (int64_t k = ks.begin; k < ks.end; ++k) {
    double acc = 0;
    double* col = ws.chunk_colsum.data() + k * d;
    std::fill(col, col + d, 0.0);
    for (int64_t i = ws.chunk(k).begin; i < ws.chunk(k).end; ++i) {
      residual(i);
      const float* ri = ws.r.data() + i * d;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t e = 0; e < d; ++e) {
        s += ri[e] * ri[e];
        col[e] += ri[e];
      }
      acc += s;
    }
    ws.chunk_sq[k] = acc;
  }
}

// Row-local dense products for one block of rows: r = f W_dec^T + b_pre - X (with squared
// error per chunk) and dL/dpre = (alpha r W_dec + l1/n) * [f > 0].
void dense_rows(const float* X, const Params& p, float alpha, float l1n, Range rows,
                SaeWorkspace& ws) {
  const int64_t d = ws.d, F = ws.F, m = rows.size();
  if (m == 0) return;
  float* f = ws.f.data() + rows.begin * F;
  float* r = ws.r.data() + rows.begin * d;
  float* df = ws.df.data() + rows.begin * F;
  const float* b_pre = p.b_pre;
  sgemm(false, true, m, d, F, 1.0f, f, F, p.W_dec, F, 0.0f, r, d);
  residual_rows(rows, ws, [&](int64_t i) {
    float* ri = ws.r.data() + i * d;
    const float* xi = X + i * d;
#pragma omp simd
    for (int64_t e = 0; e < d; ++e) ri[e] = ri[e] + b_pre[e] - xi[e];
  });
  sgemm(false, false, m, F, d, alpha, r, d, p.W_dec, F, 0.0f, df, F);
  // A bit mask rather than `f > 0 ? df + l1n : 0`: under GCC's default -ftrapping-math the
  // conditional add stays a branch and the loop does not vectorise. f >= 0, so f > 0 iff its
  // bits are non-zero (relu never yields -0).
#pragma omp simd
  for (int64_t e = 0; e < m * F; ++e) {
    const uint32_t keep = std::bit_cast<uint32_t>(f[e]) != 0 ? ~0u : 0u;
    df[e] = std::bit_cast<float>(std::bit_cast<uint32_t>(df[e] + l1n) & keep);
  }
}

// Weight gradients from the dense products, for dims block e: gW_dec = alpha r^T f (d, F) and
// gT = gW_enc^T + b_pre gb_enc^T = X^T dpre (d, F) (X - b_pre is never formed).
void dense_weight_grads(const float* X, float alpha, Range e, SaeWorkspace& ws, const Grads& g) {
  const int64_t n = ws.n, d = ws.d, F = ws.F;
  if (e.size() == 0) return;
  sgemm(true, false, e.size(), F, n, alpha, ws.r.data() + e.begin, d, ws.f.data(), F, 0.0f,
        g.W_dec + e.begin * F, F);
  sgemm(true, false, e.size(), F, n, 1.0f, X + e.begin, d, ws.df.data(), F, 0.0f,
        ws.gT.data() + e.begin * F, F);
}

// Indices of the active (> 0) entries of fi (F) into feats, in order; returns their count.
// A movemask per 8 features, so a row with few active features costs F/8 compares.
int32_t active_features(const float* fi, int64_t F, int32_t* feats) {
  int32_t cnt = 0;
  int64_t j = 0;
#ifdef __AVX2__
  const __m256 zero = _mm256_setzero_ps();
  for (; j + 8 <= F; j += 8) {
    auto m = static_cast<unsigned>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(fi + j), zero, _CMP_GT_OQ)));
    for (; m != 0; m &= m - 1) feats[cnt++] = static_cast<int32_t>(j + std::countr_zero(m));
  }
#endif
  for (; j < F; ++j) {  // branch-free compaction
    feats[cnt] = static_cast<int32_t>(j);
    cnt += fi[j] > 0.0f;
  }
  return cnt;
}

// One term of a weighted sum of rows.
struct Term {
  float w;
  const float* row;
};

// out[e] = (plus[e] - minus[e], or 0 without them) + sum_t term(t).w * term(t).row[e] for e in
// dims, one fma per term in t order: every element gets the same bits whichever dims range (so
// thread) computes it. Register blocks of kLanes dims, then of 8, then scalar; the running sums
// stay in registers instead of a load and store of out per term.
#ifdef __AVX2__
template <int V, class Terms>
void weighted_sum_block(float* out, int64_t e0, int32_t count, const Terms& term,
                        const float* plus, const float* minus) {
  __m256 acc[V];
  for (int v = 0; v < V; ++v)
    acc[v] = plus ? _mm256_sub_ps(_mm256_loadu_ps(plus + e0 + 8 * v),
                                  _mm256_loadu_ps(minus + e0 + 8 * v))
                  : _mm256_setzero_ps();
  for (int32_t t = 0; t < count; ++t) {
    const Term x = term(t);
    const __m256 w = _mm256_set1_ps(x.w);
    for (int v = 0; v < V; ++v)
      acc[v] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x.row + e0 + 8 * v), acc[v]);
  }
  for (int v = 0; v < V; ++v) _mm256_storeu_ps(out + e0 + 8 * v, acc[v]);
}
#endif
template <class Terms>
void weighted_sum(float* out, Range dims, int32_t count, const Terms& term,
                  const float* plus = nullptr, const float* minus = nullptr) {
  int64_t e = dims.begin;
#ifdef __AVX2__
  for (; e + kLanes <= dims.end; e += kLanes)
    weighted_sum_block<kLanes / 8>(out, e, count, term, plus, minus);
  for (; e + 8 <= dims.end; e += 8) weighted_sum_block<1>(out, e, count, term, plus, minus);
#endif
  for (; e < dims.end; ++e) {
    float acc = plus ? plus[e] - minus[e] : 0.0f;
    for (int32_t t = 0; t < count; ++t) {
      const Term x = term(t);
      acc = std::fma(x.w, x.row[e], acc);
    }
    out[e] = acc;
  }
}

// Row-local sparse products, this thread's rows: active features per row;
// r_i = b_pre - x_i + sum_j f_ij atom_j; dL/dpre_ij = alpha r_i . atom_j + l1/n on active j (only
// those entries of df are written: the sparse weight gradients read no others).
void sparse_rows(const float* X, const Params& p, float alpha, float l1n, Range rows,
                 SaeWorkspace& ws) {
  const int64_t d = ws.d, F = ws.F;
  const float* atoms = ws.W_decT.data();
  residual_rows(rows, ws, [&](int64_t i) {
    const float* fi = ws.f.data() + i * F;
    int32_t* feats = ws.row_feat.data() + i * F;
    const int32_t cnt = ws.row_cnt[i] = active_features(fi, F, feats);
    float* ri = ws.r.data() + i * d;
    weighted_sum(
        ri, {0, d}, cnt,
        [&](int32_t t) { return Term{fi[feats[t]], atoms + feats[t] * d}; }, p.b_pre, X + i * d);
    float* gi = ws.df.data() + i * F;
    for (int32_t t = 0; t < cnt; ++t) {
      const float* a = atoms + feats[t] * d;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t e = 0; e < d; ++e) dot += ri[e] * a[e];
      gi[feats[t]] = alpha * dot + l1n;
    }
  });
}

// Rows of each feature in ascending order (counting sort over the row lists; O(nnz + n + F)).
void group_rows_by_feature(SaeWorkspace& ws) {
  const int64_t n = ws.n, F = ws.F;
  int64_t* start = ws.feat_start.data();
  std::fill(start, start + F + 1, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int32_t t = 0; t < ws.row_cnt[i]; ++t) ++start[ws.row_feat[i * F + t] + 1];
  for (int64_t j = 0; j < F; ++j) start[j + 1] += start[j];
  for (int64_t i = 0; i < n; ++i)
    for (int32_t t = 0; t < ws.row_cnt[i]; ++t) {
      const int32_t j = ws.row_feat[i * F + t];
      ws.feat_rows[start[j]++] = static_cast<int32_t>(i);
    }
  for (int64_t j = F; j > 0; --j) start[j] = start[j - 1];  // undo the fill's advance
  start[0] = 0;
}

// Encoder gradients of feature j from the sparse products:
// gb_enc[j] = sum_i dpre_ij;
// gW_enc[j] = sum_i dpre_ij (x_i - b_pre) = sum_i dpre_ij x_i - gb_enc[j] b_pre.
void sparse_encoder_grads(const float* X, const Params& p, int64_t j, SaeWorkspace& ws,
                          const Grads& g) {
  const int64_t d = ws.d, F = ws.F;
  const float* df = ws.df.data();
  const int32_t* rows = ws.feat_rows.data() + ws.feat_start[j];
  const auto cnt = static_cast<int32_t>(ws.feat_start[j + 1] - ws.feat_start[j]);
  float* ge = g.W_enc + j * d;
  weighted_sum(ge, {0, d}, cnt,
               [&](int32_t t) { return Term{df[rows[t] * F + j], X + rows[t] * d}; });
  double sb = 0;
  for (int32_t t = 0; t < cnt; ++t) sb += df[rows[t] * F + j];
  const float gb = g.b_enc[j] = static_cast<float>(sb);
  if (gb == 0.0f) return;  // ge - 0 * b_pre == ge
#pragma omp simd
  for (int64_t e = 0; e < d; ++e) ge[e] -= gb * p.b_pre[e];
}

// Decoder gradient on input dims `dims`: gW_dec[dims, j] = alpha sum_i f_ij r_i[dims] for every
// feature j (rows of gW_dec in dims). Features active nowhere have a zero column, so the rows
// are zeroed first and only active features are summed (into tmp, then down their column).
void sparse_decoder_grads(float alpha, Range dims, SaeWorkspace& ws, const Grads& g, float* tmp) {
  const int64_t d = ws.d, F = ws.F;
  if (dims.size() == 0) return;
  const float* f = ws.f.data();
  const float* r = ws.r.data();
  std::fill(g.W_dec + dims.begin * F, g.W_dec + dims.end * F, 0.0f);
  for (int64_t j = 0; j < F; ++j) {
    const int32_t* rows = ws.feat_rows.data() + ws.feat_start[j];
    const auto cnt = static_cast<int32_t>(ws.feat_start[j + 1] - ws.feat_start[j]);
    if (cnt == 0) continue;
    weighted_sum(tmp - dims.begin, dims, cnt,
                 [&](int32_t t) { return Term{alpha * f[rows[t] * F + j], r + rows[t] * d}; });
    for (int64_t e = dims.begin; e < dims.end; ++e) g.W_dec[e * F + j] = tmp[e - dims.begin];
  }
}

// Column sums of r per GEMM block of rows, from its chunks in order (blocks of this thread):
// the gb_pre step then reads one row of sums per block from the other threads, not one per chunk.
void sum_block_colsums(Range blocks, SaeWorkspace& ws) {
  const int64_t d = ws.d;
  for (int64_t b = blocks.begin; b < blocks.end; ++b) {
    double* out = ws.block_colsum.data() + b * d;
    std::fill(out, out + d, 0.0);
    const Range ks = ws.chunks_of(ws.blocks.rows(b));
    for (int64_t k = ks.begin; k < ks.end; ++k) {
      const double* ck = ws.chunk_colsum.data() + k * d;
#pragma omp simd
      for (int64_t e = 0; e < d; ++e) out[e] += ck[e];
    }
  }
}

}  // namespace

void forward_backward(const float* X, float l1, SaeKernels kernels, const Params& p,
                      SaeWorkspace& ws, const Grads& g) {
  const int64_t n = ws.n, d = ws.d, F = ws.F;
  // dMSE/dx_hat = alpha r; dL1/df = l1/n.
  const float alpha = 2.0f / static_cast<float>(static_cast<double>(n) * d);
  const float l1n = static_cast<float>(static_cast<double>(l1) / n);
  const Share s = my_share(ws.blocks, F);
  omp_set_num_threads(1);  // this task's ICV only: sgemm calls in here stay on this thread

  // c = b_enc - W_enc b_pre, so pre = (X - b_pre) W_enc^T + b_enc = X W_enc^T + c; atoms as rows.
  const float* b_pre = p.b_pre;
  float* c = ws.c.data();
  for (int64_t j = s.feats.begin; j < s.feats.end; ++j) {
    const float* w = p.W_enc + j * d;
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t e = 0; e < d; ++e) acc += w[e] * b_pre[e];
    c[j] = p.b_enc[j] - acc;
  }
  transpose_rows(p.W_dec, F, ws.W_decT.data(), d, s.feats, d);  // this thread's atoms as rows
#pragma omp barrier

  // f = relu(X W_enc^T + c), this thread's rows; l1 and active count per chunk. The product is
  // accumulated onto rows preset to c (beta = 1): the same bits as adding c afterwards, and
  // OpenBLAS skips its zeroing pass over the output (8% of this GEMM's time, measured).
  for (int64_t b = s.blocks.begin; b < s.blocks.end; ++b) {
    const Range rows = ws.blocks.rows(b);
    if (rows.size() == 0) continue;
    for (int64_t i = rows.begin; i < rows.end; ++i) std::copy(c, c + F, ws.f.data() + i * F);
    sgemm(false, true, rows.size(), F, d, 1.0f, X + rows.begin * d, d, p.W_enc, d, 1.0f,
          ws.f.data() + rows.begin * F, F);
  }
  const Range ks = ws.chunks_of(s.rows);
  for (int64_t k = ks.begin; k < ks.end; ++k) {
    double acc = 0;
    int64_t nnz = 0;
    for (int64_t i = ws.chunk(k).begin; i < ws.chunk(k).end; ++i) {
      int32_t cnt;
      acc += relu_row(ws.f.data() + i * F, F, &cnt);
      nnz += cnt;
    }
    ws.chunk_l1[k] = acc;
    ws.chunk_nnz[k] = nnz;
  }
#pragma omp barrier

  // Every thread sums the chunks in the same order, so all take the same branch.
  double l1sum = 0;
  int64_t nnz = 0;
  for (int64_t k = 0; k < ws.n_chunks(); ++k) {
    l1sum += ws.chunk_l1[k];
    nnz += ws.chunk_nnz[k];
  }
  const bool sparse =
      kernels == SaeKernels::kSparse ||
      (kernels == SaeKernels::kAuto && static_cast<double>(nnz) < kSparseBelow * n * F);

  if (sparse) {
    sparse_rows(X, p, alpha, l1n, s.rows, ws);
    sum_block_colsums(s.blocks, ws);
#pragma omp barrier
#pragma omp single
    group_rows_by_feature(ws);
    // Each thread: the encoder gradients of its features and the decoder gradient on its
    // input dims, the shares its Adam step updates (so they stay in this core's cache).
    for (int64_t j = s.feats.begin; j < s.feats.end; ++j) sparse_encoder_grads(X, p, j, ws, g);
    sparse_decoder_grads(alpha, s.dims, ws, g, ws.dec_col.data() + s.dims.begin);
#pragma omp barrier
  } else {
    for (int64_t b = s.blocks.begin; b < s.blocks.end; ++b)
      dense_rows(X, p, alpha, l1n, ws.blocks.rows(b), ws);
    sum_block_colsums(s.blocks, ws);
#pragma omp barrier
    for (int64_t b = s.blocks.begin; b < s.blocks.end; ++b)
      dense_weight_grads(X, alpha, ws.blocks.dims(b), ws, g);
    double* sb = ws.colsum_df.data();  // per feature, over rows in order
    std::fill(sb + s.feats.begin, sb + s.feats.end, 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const float* gi = ws.df.data() + i * F;
      for (int64_t j = s.feats.begin; j < s.feats.end; ++j) sb[j] += gi[j];
    }
    for (int64_t j = s.feats.begin; j < s.feats.end; ++j) g.b_enc[j] = static_cast<float>(sb[j]);
#pragma omp barrier
    for (int64_t j = s.feats.begin; j < s.feats.end; ++j)
      for (int64_t e = 0; e < d; ++e)
        g.W_enc[j * d + e] = ws.gT[e * F + j] - g.b_enc[j] * p.b_pre[e];
  }

  // gb_pre = alpha colsum(r) - W_enc^T gb_enc (output side minus input side), this thread's dims;
  // colsum(r) from the per-block sums, in block order.
  if (s.dims.size() > 0) {
    const Range e = s.dims;
    float* gp = g.b_pre;
    double* col = ws.colsum_r.data();
    std::fill(col + e.begin, col + e.end, 0.0);
    for (int64_t b = 0; b < ws.blocks.count; ++b) {
      const double* cb = ws.block_colsum.data() + b * d;
#pragma omp simd
      for (int64_t q = e.begin; q < e.end; ++q) col[q] += cb[q];
    }
    for (int64_t q = e.begin; q < e.end; ++q) gp[q] = static_cast<float>(alpha * col[q]);
    for (int64_t j = 0; j < F; ++j) {
      const float gb = g.b_enc[j];
      if (gb == 0.0f) continue;  // fma(-w, 0, gp) == gp
      const float* w = p.W_enc + j * d;
#pragma omp simd
      for (int64_t q = e.begin; q < e.end; ++q) gp[q] = std::fma(-w[q], gb, gp[q]);
    }
  }
#pragma omp master
  {
    double sq = 0;
    for (int64_t k = 0; k < ws.n_chunks(); ++k) sq += ws.chunk_sq[k];
    ws.loss = sq / (static_cast<double>(n) * d) + static_cast<double>(l1) * l1sum / n;
    ws.sparse = sparse;
  }
#pragma omp barrier
}

}  // namespace cs::sae_detail
