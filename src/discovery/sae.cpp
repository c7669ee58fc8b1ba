// Discrete SAE: hand-written forward/backward over sgemm, Adam with unit-norm constraint.
// See sae.h for the model, the reference's choices and why.
//
// Threading: one OpenMP parallel region per epoch. Every thread runs the same phases on its own
// share (rows of X for the row-local products; features or input dims for weight gradients
// and Adam), with a barrier between dependent phases; sgemm calls inside the region run
// single-threaded on that share. Shares are sets of output elements and every sum over rows
// runs in fixed chunks added in order, so results do not depend on the thread count. (Fewer
// barriers than fork/joins around each step, and two half-size single-threaded GEMMs beat
// one two-threaded GEMM at these shapes.)
//
// Kernels: the products that involve f are dense GEMMs while f is dense; once the l1 term has
// made f sparse (for the paper's settings ~1% active after a few dozen epochs) they become
// loops over the active (row, feature) pairs, leaving one GEMM (the encoder) per epoch.
#include "discovery/sae.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>

#include "ops/aligned.h"
#include "ops/error.h"
#include "ops/matmul.h"

namespace cs {
namespace {

// Rows per reduction chunk: per-chunk partial sums are added in chunk order.
constexpr int64_t kChunk = 16;
// Rows encoded at once by codes(), bounding its scratch to (kEncodeBlock, n_features), and
// rows per sgemm call in encode().
constexpr int64_t kEncodeBlock = 2048;
constexpr int64_t kEncodeRows = 256;
// Sparse kernels when fewer than this fraction of f is non-zero (kAuto). Measured (whole
// 500-epoch runs, 2 threads, thresholds 0.15 / 0.25 / 0.35 / 0.5): at (n, d, F) = (320, 128, 200)
// 0.25 is fastest by 1-2% on random, zoo and random-model activations (0.5 loses 2-5%); at
// (1440, 768, 200) 0.15 and 0.25 tie within noise.
constexpr double kSparseBelow = 0.25;
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

// Dims per register block in the sparse kernels: 4 AVX registers per accumulator.
constexpr int64_t kLanes = 32;

constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kAdamEps = 1e-8f;

// splitmix64 (Steele et al. 2014): small, seedable, good enough for weight init.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

// N(0,1) by Box-Muller, both outputs used.
void fill_normal(std::vector<float>& v, Rng& rng) {
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

// [begin, end) of part t of T over n items, cut on multiples of align.
struct Range {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};
Range split(int64_t n, int t, int T, int64_t align) {
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
Share my_share(const Blocks& bl, int64_t F) {
  const int t = omp_get_thread_num(), T = omp_get_num_threads();
  const Range b = split(bl.count, t, T, 1);
  if (b.size() == 0) return {b, {0, 0}, {0, 0}, split(F, t, T, 1)};
  return {b, {bl.rows(b.begin).begin, bl.rows(b.end - 1).end},
          {bl.dims(b.begin).begin, bl.dims(b.end - 1).end}, split(F, t, T, 1)};
}

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

// torch.optim.Adam coefficients for step t (bias corrections folded in).
struct AdamCoef {
  float step_size, inv_sqrt_bc2;
  AdamCoef(float lr, int64_t t)
      : step_size(static_cast<float>(lr / (1.0 - std::pow(kBeta1, static_cast<double>(t))))),
        inv_sqrt_bc2(static_cast<float>(
            1.0 / std::sqrt(1.0 - std::pow(kBeta2, static_cast<double>(t))))) {}
};

// One torch.optim.Adam element update. Explicit fma, in the order of the AVX2 path below, so
// an element gets the same bits whichever path (vector body or tail) handles it; which
// elements fall in a tail depends on the thread split.
inline float adam_update(float w, float g, float& m, float& v, const AdamCoef& a) {
  m = std::fma(kBeta1, m, (1.0f - kBeta1) * g);
  v = std::fma(kBeta2, v, ((1.0f - kBeta2) * g) * g);
  return std::fma(-a.step_size, m / std::fma(std::sqrt(v), a.inv_sqrt_bc2, kAdamEps), w);
}

// Adam on w (n) with gradient g - k w; returns sum of the new w^2. Hand-vectorised: with
// errno semantics (GCC's default) the compiler keeps sqrt scalar, and this loop is a fair
// share of a sparse epoch.
float adam_run(float* w, const float* g, float k, float* m, float* v, int64_t n,
               const AdamCoef& a) {
  int64_t i = 0;
  float nn = 0.0f;
#ifdef __AVX2__
  const __m256 b1 = _mm256_set1_ps(kBeta1), c1 = _mm256_set1_ps(1.0f - kBeta1);
  const __m256 b2 = _mm256_set1_ps(kBeta2), c2 = _mm256_set1_ps(1.0f - kBeta2);
  const __m256 step = _mm256_set1_ps(a.step_size), inv = _mm256_set1_ps(a.inv_sqrt_bc2);
  const __m256 eps = _mm256_set1_ps(kAdamEps), kk = _mm256_set1_ps(k);
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
    w[i] = adam_update(w[i], std::fma(-k, w[i], g[i]), m[i], v[i], a);
    nn += w[i] * w[i];
  }
  return nn;
}

// One constrained step on a unit vector w (n): drop the gradient component along w (the
// reference's backward hook), Adam, renormalise (the reference's forward).
void adam_unit_vector(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoef& a) {
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
                    Range c, const AdamCoef& a, float* scratch) {
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
      w[e] = adam_update(w[e], std::fma(-gw[j], w[e], g[e]), m[e], v[e], a);
      nn[j] = std::fma(w[e], w[e], nn[j]);
    }
  for (int64_t j = c.begin; j < c.end; ++j) nn[j] = 1.0f / std::max(std::sqrt(nn[j]), 1e-12f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = c.begin; j < c.end; ++j) w[i * cols + j] *= nn[j];
}

void check_rows(const char* who, const float* X, int64_t n) {
  if (n <= 0)
    throw Error(std::string(who) + ": need at least one input row, got n = " + std::to_string(n));
  if (!X) throw Error(std::string(who) + ": input pointer is null");
}

struct Params {
  const float *W_enc, *b_enc, *W_dec, *b_pre;  // (F, d), (F), (d, F), (d)
};
struct Grads {
  float *W_enc, *b_enc, *W_dec, *b_pre;
};

}  // namespace

struct SaeWorkspace {
  int64_t n, d, F;
  Blocks blocks;                   // the GEMM cut
  AlignedVector<float> f;            // (n, F) pre-activation, then f = relu(pre)
  AlignedVector<float> r;            // (n, d) x_hat - x
  AlignedVector<float> df;           // (n, F) dL/dpre
  AlignedVector<float> c;            // (F) b_enc - W_enc b_pre
  AlignedVector<double> chunk_sq;    // (n_chunks) sum of r^2 per row chunk
  AlignedVector<double> chunk_l1;    // (n_chunks) sum of f per row chunk
  AlignedVector<int64_t> chunk_nnz;  // (n_chunks) active (row, feature) pairs per row chunk
  AlignedVector<double> chunk_colsum;  // (n_chunks, d) sum of r over each row chunk
  AlignedVector<double> block_colsum;  // (blocks, d) sum of r over each GEMM block's chunks
  AlignedVector<double> colsum_r;      // (d) sum of r over all rows, from the block sums
  AlignedVector<double> colsum_df;   // (F) sum of dL/dpre over rows
  AlignedVector<float> scratch;      // (3 * F) column-wise Adam
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

namespace {

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
  const Range ks = ws.chunks_of(rows);
  for (int64_t k = ks.begin; k < ks.end; ++k) {
    double acc = 0;
    double* col = ws.chunk_colsum.data() + k * d;
    std::fill(col, col + d, 0.0);
    for (int64_t i = ws.chunk(k).begin; i < ws.chunk(k).end; ++i) {
      float* ri = ws.r.data() + i * d;
      const float* xi = X + i * d;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t e = 0; e < d; ++e) {
        const float v = ri[e] + b_pre[e] - xi[e];
        ri[e] = v;
        s += v * v;
        col[e] += v;
      }
      acc += s;
    }
    ws.chunk_sq[k] = acc;
  }
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
  const Range ks = ws.chunks_of(rows);
  for (int64_t k = ks.begin; k < ks.end; ++k) {
    double acc = 0;
    double* col = ws.chunk_colsum.data() + k * d;
    std::fill(col, col + d, 0.0);
    for (int64_t i = ws.chunk(k).begin; i < ws.chunk(k).end; ++i) {
      const float* fi = ws.f.data() + i * F;
      const int32_t* feats = ws.row_feat.data() + i * F;
      const int32_t cnt = ws.row_cnt[i] = active_features(fi, F, ws.row_feat.data() + i * F);
      float* ri = ws.r.data() + i * d;
      weighted_sum(ri, {0, d}, cnt, [&](int32_t t) { return Term{fi[feats[t]], atoms + feats[t] * d}; },
                   p.b_pre, X + i * d);
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t e = 0; e < d; ++e) {
        s += ri[e] * ri[e];
        col[e] += ri[e];
      }
      acc += s;
      float* gi = ws.df.data() + i * F;
      for (int32_t t = 0; t < cnt; ++t) {
        const float* a = atoms + feats[t] * d;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int64_t e = 0; e < d; ++e) dot += ri[e] * a[e];
        gi[feats[t]] = alpha * dot + l1n;
      }
    }
    ws.chunk_sq[k] = acc;
  }
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
// gb_enc[j] = sum_i dpre_ij; gW_enc[j] = sum_i dpre_ij (x_i - b_pre) = sum_i dpre_ij x_i - gb_enc[j] b_pre.
void sparse_encoder_grads(const float* X, const Params& p, int64_t j, SaeWorkspace& ws,
                          const Grads& g) {
  const int64_t d = ws.d, F = ws.F;
  const float* df = ws.df.data();
  const int32_t* rows = ws.feat_rows.data() + ws.feat_start[j];
  const auto cnt = static_cast<int32_t>(ws.feat_start[j + 1] - ws.feat_start[j]);
  float* ge = g.W_enc + j * d;
  weighted_sum(ge, {0, d}, cnt, [&](int32_t t) { return Term{df[rows[t] * F + j], X + rows[t] * d}; });
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

// Loss and raw gradients at p for X (n, d), into g (shapes as the params) and ws.loss.
// Called by every thread of a parallel region.
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

// One constrained Adam step of every parameter; called by every thread of a parallel region.
// grad, m, v carved [W_enc | b_enc | W_dec | b_pre].
void adam_step(float* W_enc, float* b_enc, float* W_dec, float* b_pre, const float* grad,
               float* m, float* v, SaeDecoderNorm norm, const AdamCoef& a, SaeWorkspace& ws) {
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
  Rng rng{cfg.seed};
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
    const AdamCoef a(cfg_.lr, step_ + 1);
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
