// Discrete SAE: hand-written forward/backward over sgemm, Adam with unit-norm constraint.
// See sae.h for the model, the reference's choices and why.
#include "discovery/sae.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "ops/error.h"
#include "ops/matmul.h"

namespace cs {
namespace {

// Rows per reduction chunk. Per-chunk partial sums are added in chunk order, so sums do not
// depend on how many threads ran the chunks.
constexpr int64_t kChunk = 16;
// Rows encoded at once by codes(), bounding its scratch to (kEncodeBlock, n_features).
constexpr int64_t kEncodeBlock = 2048;

// The backward switches from dense GEMMs to sparse loops when fewer than this fraction of the
// (row, feature) activations are non-zero (auto mode); measured crossover, see bench/sae.cpp.
constexpr double kSparseBelow = 0.15;

// Loops over fewer elements than this run on one thread: a fork/join costs more than the work,
// and far more on a loaded machine. Results do not depend on it (fixed summation orders).
constexpr int64_t kParallelMin = 1 << 15;

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

// w[rows, cols]: scale each row to unit norm (torch F.normalize, eps 1e-12).
void normalise_rows(float* w, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < cols; ++j) ss += static_cast<double>(w[i * cols + j]) * w[i * cols + j];
    float s = static_cast<float>(1.0 / std::max(std::sqrt(ss), 1e-12));
    for (int64_t j = 0; j < cols; ++j) w[i * cols + j] *= s;
  }
}

void normalise_cols(float* w, int64_t rows, int64_t cols) {
  std::vector<double> ss(cols, 0.0);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) ss[j] += static_cast<double>(w[i * cols + j]) * w[i * cols + j];
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      w[i * cols + j] *= static_cast<float>(1.0 / std::max(std::sqrt(ss[j]), 1e-12));
}

// [begin, end) of part t of T over n items, cut on multiples of align.
struct Range {
  int64_t begin, end;
};
Range split(int64_t n, int t, int T, int64_t align) {
  int64_t blocks = (n + align - 1) / align;
  return {std::min(n, blocks * t / T * align), std::min(n, blocks * (t + 1) / T * align)};
}

// out[j] = sum_i a[i, j] over rows in order, for a (rows, cols); threads own column strips.
void colsum(const float* a, int64_t rows, int64_t cols, double* out) {
#pragma omp parallel if (rows * cols > kParallelMin)
  {
    Range c = split(cols, omp_get_thread_num(), omp_get_num_threads(), 16);
    for (int64_t j = c.begin; j < c.end; ++j) out[j] = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = a + i * cols;
#pragma omp simd
      for (int64_t j = c.begin; j < c.end; ++j) out[j] += row[j];
    }
  }
}

// torch.optim.Adam coefficients for step t (bias corrections folded in).
struct AdamCoef {
  float step_size, inv_sqrt_bc2;
  AdamCoef(float lr, int64_t t)
      : step_size(static_cast<float>(lr / (1.0 - std::pow(kBeta1, static_cast<double>(t))))),
        inv_sqrt_bc2(static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(kBeta2, static_cast<double>(t))))) {}
};

inline float adam_update(float w, float g, float& m, float& v, const AdamCoef& a) {
  m = kBeta1 * m + (1.0f - kBeta1) * g;
  v = kBeta2 * v + (1.0f - kBeta2) * g * g;
  return w - a.step_size * m / (std::sqrt(v) * a.inv_sqrt_bc2 + kAdamEps);
}

// Adam on w (n) with gradient g - k w; returns sum of the new w^2. Hand-vectorised: with
// errno semantics (GCC's default) the compiler keeps sqrt scalar, and this loop is a fair
// share of a sparse epoch. Same formula as adam_update.
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
    w[i] = adam_update(w[i], g[i] - k * w[i], m[i], v[i], a);
    nn += w[i] * w[i];
  }
  return nn;
}

void adam_plain(float* w, const float* g, float* m, float* v, int64_t n, const AdamCoef& a) {
  adam_run(w, g, 0.0f, m, v, n, a);
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
  const float nn = adam_run(w, g, k, m, v, n, a);
  const float s = 1.0f / std::max(std::sqrt(nn), 1e-12f);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) w[i] *= s;
}

// Same for every column of w (rows, cols); scratch: 3 * cols floats.
void adam_unit_cols(float* w, const float* g, float* m, float* v, int64_t rows, int64_t cols,
                    const AdamCoef& a, float* scratch) {
  float* gw = scratch;
  float* ww = scratch + cols;
  float* nn = scratch + 2 * cols;
#pragma omp parallel if (rows * cols > kParallelMin)
  {
    const Range c = split(cols, omp_get_thread_num(), omp_get_num_threads(), 8);
    const int64_t j0 = c.begin, j1 = c.end;
    for (int64_t j = j0; j < j1; ++j) gw[j] = ww[j] = nn[j] = 0.0f;
    for (int64_t i = 0; i < rows; ++i) {
      const float* gi = g + i * cols;
      const float* wi = w + i * cols;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        gw[j] += gi[j] * wi[j];
        ww[j] += wi[j] * wi[j];
      }
    }
    for (int64_t j = j0; j < j1; ++j) gw[j] = ww[j] > 0.0f ? gw[j] / ww[j] : 0.0f;
    for (int64_t i = 0; i < rows; ++i) {
      float* wi = w + i * cols;
      const float* gi = g + i * cols;
      float* mi = m + i * cols;
      float* vi = v + i * cols;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        wi[j] = adam_update(wi[j], gi[j] - gw[j] * wi[j], mi[j], vi[j], a);
        nn[j] += wi[j] * wi[j];
      }
    }
    for (int64_t j = j0; j < j1; ++j) nn[j] = 1.0f / std::max(std::sqrt(nn[j]), 1e-12f);
    for (int64_t i = 0; i < rows; ++i) {
      float* wi = w + i * cols;
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) wi[j] *= nn[j];
    }
  }
}

// c = b_enc - W_enc b_pre (F): the encoder's effective bias, so X - b_pre is never formed.
void encoder_bias(const float* W_enc, const float* b_enc, const float* b_pre, int64_t d,
                  int64_t F, float* c) {
#pragma omp parallel for schedule(static) if (F * d > kParallelMin)
  for (int64_t i = 0; i < F; ++i) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < d; ++j) s += W_enc[i * d + j] * b_pre[j];
    c[i] = b_enc[i] - s;
  }
}

void check_rows(const char* who, const float* X, int64_t n) {
  if (n <= 0) throw Error(std::string(who) + ": need at least one input row, got n = " + std::to_string(n));
  if (!X) throw Error(std::string(who) + ": input pointer is null");
}

}  // namespace

struct SaeWorkspace {
  std::vector<float> f;            // (n, F) pre-activation, then f = relu(pre)
  std::vector<float> r;            // (n, d) x_hat - x
  std::vector<float> df;           // (n, F) dL/dpre
  std::vector<float> c;            // (F) b_enc - W_enc b_pre
  std::vector<double> chunk_sq;    // (n_chunks) sum of r^2 per row chunk
  std::vector<double> chunk_l1;    // (n_chunks) sum of f per row chunk
  std::vector<int64_t> chunk_nnz;  // (n_chunks) active (row, feature) pairs per row chunk
  std::vector<double> colsum_r;    // (d)
  std::vector<double> colsum_df;   // (F)
  std::vector<float> scratch;      // (3 * max(d, F)) column-wise Adam
  // Sparse kernels only.
  std::vector<int32_t> row_feat;   // (n, F) active features of row i in row_feat[i*F, +row_cnt[i])
  std::vector<int32_t> row_cnt;    // (n)
  std::vector<int32_t> feat_rows;  // (n * F) rows where feature j is active, grouped by j
  std::vector<int64_t> feat_start; // (F + 1) feature j: feat_rows[feat_start[j], feat_start[j+1])
  std::vector<int64_t> feat_fill;  // (F)
  std::vector<float> W_decT;       // (F, d) decoder atoms as rows
  std::vector<float> gW_decT;      // (F, d)
  bool last_sparse = false;        // which kernels the last call used

  SaeWorkspace(int64_t n, int64_t d, int64_t F)
      : f(n * F), r(n * d), df(n * F), c(F), chunk_sq((n + kChunk - 1) / kChunk),
        chunk_l1(chunk_sq.size()), chunk_nnz(chunk_sq.size()), colsum_r(d), colsum_df(F),
        scratch(3 * std::max(d, F)), row_feat(n * F), row_cnt(n), feat_rows(n * F),
        feat_start(F + 1), feat_fill(F), W_decT(F * d), gW_decT(F * d) {}
};

namespace {

// out (cols, rows) = in (rows, cols)^T
void transpose(const float* in, int64_t rows, int64_t cols, float* out) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (int64_t j = 0; j < cols; ++j)
    for (int64_t i = 0; i < rows; ++i) out[j * rows + i] = in[i * cols + j];
}

// The four products that involve f, as dense GEMMs (4 * 2ndF flops). Writes r (with the
// per-chunk squared error), df, gW_dec, gW_enc (complete) and gb_enc.
void dense_products(const float* X, int64_t n, int64_t d, int64_t F, float alpha, float l1n,
                    const float* W_dec, const float* b_pre, SaeWorkspace& ws, float* gW_enc,
                    float* gb_enc, float* gW_dec) {
  const int64_t n_chunks = static_cast<int64_t>(ws.chunk_sq.size());
  const float* f = ws.f.data();
  float* r = ws.r.data();
  float* df = ws.df.data();
  // r = f W_dec^T + b_pre - X (n, d)
  sgemm(false, true, n, d, F, 1.0f, f, F, W_dec, F, 0.0f, r, d);
#pragma omp parallel for schedule(static) if (n * d > kParallelMin)
  for (int64_t k = 0; k < n_chunks; ++k) {
    double acc = 0;
    for (int64_t i = k * kChunk; i < std::min(n, (k + 1) * kChunk); ++i) {
      float* ri = r + i * d;
      const float* xi = X + i * d;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < d; ++j) {
        float v = ri[j] + b_pre[j] - xi[j];
        ri[j] = v;
        s += v * v;
      }
      acc += s;
    }
    ws.chunk_sq[k] = acc;
  }
  // dL/dpre = (alpha r W_dec + l1/n) * [pre > 0]  (n, F)
  sgemm(false, false, n, F, d, alpha, r, d, W_dec, F, 0.0f, df, F);
#pragma omp parallel for schedule(static) if (n * F > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float* gi = df + i * F;
    const float* fi = f + i * F;
#pragma omp simd
    for (int64_t j = 0; j < F; ++j) gi[j] = fi[j] > 0.0f ? gi[j] + l1n : 0.0f;
  }
  // gW_dec = alpha r^T f (d, F); gW_enc = dpre^T (X - b_pre) = dpre^T X - gb_enc b_pre^T (F, d)
  sgemm(true, false, d, F, n, alpha, r, d, f, F, 0.0f, gW_dec, F);
  sgemm(true, false, F, d, n, 1.0f, df, F, X, d, 0.0f, gW_enc, d);
  colsum(df, n, F, ws.colsum_df.data());
  for (int64_t i = 0; i < F; ++i) gb_enc[i] = static_cast<float>(ws.colsum_df[i]);
#pragma omp parallel for schedule(static) if (F * d > kParallelMin)
  for (int64_t i = 0; i < F; ++i) {
    const float gi = gb_enc[i];
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) gW_enc[i * d + j] -= gi * b_pre[j];
  }
}

// The same products over the active (row, feature) pairs only: 8 * nnz * d flops. After the
// first few epochs the l1 term leaves ~1% of f non-zero, so this replaces 4 of the 5 GEMMs.
void sparse_products(const float* X, int64_t n, int64_t d, int64_t F, float alpha, float l1n,
                     const float* W_dec, const float* b_pre, SaeWorkspace& ws, float* gW_enc,
                     float* gb_enc, float* gW_dec) {
  const int64_t n_chunks = static_cast<int64_t>(ws.chunk_sq.size());
  const float* f = ws.f.data();
  float* r = ws.r.data();
  float* df = ws.df.data();
  int32_t* row_feat = ws.row_feat.data();
  int32_t* row_cnt = ws.row_cnt.data();
  float* atoms = ws.W_decT.data();  // (F, d)
  transpose(W_dec, d, F, atoms);
  // Per row: active features; r_i = b_pre - x_i + sum_j f_ij atom_j; df_ij = alpha r_i.atom_j + l1/n.
#pragma omp parallel for schedule(static) if (n * d > kParallelMin)
  for (int64_t k = 0; k < n_chunks; ++k) {
    double acc = 0;
    for (int64_t i = k * kChunk; i < std::min(n, (k + 1) * kChunk); ++i) {
      const float* fi = f + i * F;
      int32_t* feats = row_feat + i * F;
      int32_t cnt = 0;
      for (int64_t j = 0; j < F; ++j)
        if (fi[j] > 0.0f) feats[cnt++] = static_cast<int32_t>(j);
      row_cnt[i] = cnt;
      float* ri = r + i * d;
      const float* xi = X + i * d;
#pragma omp simd
      for (int64_t e = 0; e < d; ++e) ri[e] = b_pre[e] - xi[e];
      for (int32_t t = 0; t < cnt; ++t) {
        const float* a = atoms + feats[t] * d;
        const float fv = fi[feats[t]];
#pragma omp simd
        for (int64_t e = 0; e < d; ++e) ri[e] += fv * a[e];
      }
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t e = 0; e < d; ++e) s += ri[e] * ri[e];
      acc += s;
      float* gi = df + i * F;
      std::fill(gi, gi + F, 0.0f);
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
  // Rows per feature, ascending (counting sort; serial, O(nnz + F)).
  int64_t* start = ws.feat_start.data();
  int64_t* fill = ws.feat_fill.data();
  std::fill(start, start + F + 1, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int32_t t = 0; t < row_cnt[i]; ++t) ++start[row_feat[i * F + t] + 1];
  for (int64_t j = 0; j < F; ++j) start[j + 1] += start[j];
  for (int64_t j = 0; j < F; ++j) fill[j] = start[j];
  for (int64_t i = 0; i < n; ++i)
    for (int32_t t = 0; t < row_cnt[i]; ++t) ws.feat_rows[fill[row_feat[i * F + t]]++] = static_cast<int32_t>(i);
  // Per feature j: gW_dec[:, j] = alpha sum_i f_ij r_i; gW_enc[j] = sum_i df_ij (x_i - b_pre).
  float* gatoms = ws.gW_decT.data();  // (F, d)
#pragma omp parallel for schedule(dynamic, 4) if (n * d > kParallelMin)
  for (int64_t j = 0; j < F; ++j) {
    float* gd = gatoms + j * d;
    float* ge = gW_enc + j * d;
    std::fill(gd, gd + d, 0.0f);
    std::fill(ge, ge + d, 0.0f);
    double sb = 0;
    for (int64_t p = start[j]; p < start[j + 1]; ++p) {
      const int64_t i = ws.feat_rows[p];
      const float a = alpha * f[i * F + j], g = df[i * F + j];
      const float* ri = r + i * d;
      const float* xi = X + i * d;
#pragma omp simd
      for (int64_t e = 0; e < d; ++e) {
        gd[e] += a * ri[e];
        ge[e] += g * xi[e];
      }
      sb += g;
    }
    gb_enc[j] = static_cast<float>(sb);
    const float g = gb_enc[j];
#pragma omp simd
    for (int64_t e = 0; e < d; ++e) ge[e] -= g * b_pre[e];
  }
  transpose(gatoms, F, d, gW_dec);
}

// Loss and raw gradients at the given parameters; X (n, d). Gradient outputs as the params:
// gW_enc (F, d), gb_enc (F), gW_dec (d, F), gb_pre (d).
double forward_backward(const float* X, int64_t n, int64_t d, int64_t F, float l1,
                        SaeKernels kernels, const float* W_enc, const float* b_enc,
                        const float* W_dec, const float* b_pre, SaeWorkspace& ws,
                        float* gW_enc, float* gb_enc, float* gW_dec, float* gb_pre) {
  const float alpha = 2.0f / static_cast<float>(static_cast<double>(n) * d);  // dMSE/dx_hat = alpha r
  const float l1n = static_cast<float>(static_cast<double>(l1) / n);         // dL1/df
  const int64_t n_chunks = static_cast<int64_t>(ws.chunk_sq.size());
  float* f = ws.f.data();
  const float* c = ws.c.data();

  // pre = (X - b_pre) W_enc^T + b_enc = X W_enc^T + c; f = relu(pre). Always a dense GEMM.
  encoder_bias(W_enc, b_enc, b_pre, d, F, ws.c.data());
  sgemm(false, true, n, F, d, 1.0f, X, d, W_enc, d, 0.0f, f, F);
#pragma omp parallel for schedule(static) if (n * F > kParallelMin)
  for (int64_t k = 0; k < n_chunks; ++k) {
    double acc = 0;
    int64_t nnz = 0;
    for (int64_t i = k * kChunk; i < std::min(n, (k + 1) * kChunk); ++i) {
      float* fi = f + i * F;
      float s = 0.0f;
      int32_t cnt = 0;
#pragma omp simd reduction(+ : s, cnt)
      for (int64_t j = 0; j < F; ++j) {
        float v = std::max(fi[j] + c[j], 0.0f);
        fi[j] = v;
        s += v;
        cnt += v > 0.0f;
      }
      acc += s;
      nnz += cnt;
    }
    ws.chunk_l1[k] = acc;
    ws.chunk_nnz[k] = nnz;
  }
  double l1sum = 0;
  int64_t nnz = 0;
  for (int64_t k = 0; k < n_chunks; ++k) {
    l1sum += ws.chunk_l1[k];
    nnz += ws.chunk_nnz[k];
  }
  const double density = static_cast<double>(nnz) / (static_cast<double>(n) * F);
  ws.last_sparse = kernels == SaeKernels::kSparse ||
                   (kernels == SaeKernels::kAuto && density < kSparseBelow);
  if (ws.last_sparse)
    sparse_products(X, n, d, F, alpha, l1n, W_dec, b_pre, ws, gW_enc, gb_enc, gW_dec);
  else
    dense_products(X, n, d, F, alpha, l1n, W_dec, b_pre, ws, gW_enc, gb_enc, gW_dec);

  // gb_pre = alpha colsum(r) - W_enc^T gb_enc  (output side minus input side); threads own
  // column strips, so the sums do not depend on the thread count.
  colsum(ws.r.data(), n, d, ws.colsum_r.data());
#pragma omp parallel if (F * d > kParallelMin)
  {
    Range cols = split(d, omp_get_thread_num(), omp_get_num_threads(), 16);
    for (int64_t j = cols.begin; j < cols.end; ++j)
      gb_pre[j] = static_cast<float>(alpha * ws.colsum_r[j]);
    for (int64_t i = 0; i < F; ++i) {
      const float gi = gb_enc[i];
#pragma omp simd
      for (int64_t j = cols.begin; j < cols.end; ++j) gb_pre[j] -= W_enc[i * d + j] * gi;
    }
  }

  double sq = 0;
  for (int64_t k = 0; k < n_chunks; ++k) sq += ws.chunk_sq[k];
  return sq / (static_cast<double>(n) * d) + static_cast<double>(l1) * l1sum / n;
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
  normalise_rows(W_enc_.data(), F, d);
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  for (float& b : b_enc_) b = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  fill_normal(W_dec_, rng);
  if (cfg.decoder_norm == SaeDecoderNorm::kRows)
    normalise_rows(W_dec_.data(), d, F);
  else
    normalise_cols(W_dec_.data(), d, F);
  const int64_t n_params = 2 * F * d + F + d;
  adam_m_.assign(n_params, 0.0f);
  adam_v_.assign(n_params, 0.0f);
}

void Sae::adam_step(const float* grad, SaeWorkspace& ws) {
  const int64_t d = d_in_, F = n_feat_;
  const AdamCoef a(cfg_.lr, ++step_);
  const int64_t o_We = 0, o_be = F * d, o_Wd = o_be + F, o_bp = o_Wd + d * F;
  float* m = adam_m_.data();
  float* v = adam_v_.data();
#pragma omp parallel for schedule(static) if (F * d > kParallelMin)
  for (int64_t i = 0; i < F; ++i)
    adam_unit_vector(W_enc_.data() + i * d, grad + o_We + i * d, m + o_We + i * d,
                     v + o_We + i * d, d, a);
  if (cfg_.decoder_norm == SaeDecoderNorm::kRows) {
#pragma omp parallel for schedule(static) if (d * F > kParallelMin)
    for (int64_t j = 0; j < d; ++j)
      adam_unit_vector(W_dec_.data() + j * F, grad + o_Wd + j * F, m + o_Wd + j * F,
                       v + o_Wd + j * F, F, a);
  } else {
    adam_unit_cols(W_dec_.data(), grad + o_Wd, m + o_Wd, v + o_Wd, d, F, a, ws.scratch.data());
  }
  adam_plain(b_enc_.data(), grad + o_be, m + o_be, v + o_be, F, a);
  adam_plain(b_pre_.data(), grad + o_bp, m + o_bp, v + o_bp, d, a);
}

float Sae::train(const float* X, int64_t n) {
  check_rows("Sae::train", X, n);
  const int64_t d = d_in_, F = n_feat_;
  SaeWorkspace ws(n, d, F);
  std::vector<float> grad(adam_m_.size());  // carved [W_enc | b_enc | W_dec | b_pre]
  float* gWe = grad.data();
  float* gbe = gWe + F * d;
  float* gWd = gbe + F;
  float* gbp = gWd + d * F;
  auto loss_now = [&] {
    return forward_backward(X, n, d, F, cfg_.l1, cfg_.kernels, W_enc_.data(), b_enc_.data(),
                            W_dec_.data(), b_pre_.data(), ws, gWe, gbe, gWd, gbp);
  };
  loss_history_.reserve(loss_history_.size() + cfg_.epochs);
  double loss = 0;
  for (int e = 0; e < cfg_.epochs; ++e) {
    loss = loss_now();
    if (!std::isfinite(loss))
      throw Error("Sae::train: loss became " + std::to_string(loss) + " at epoch " +
                  std::to_string(e) +
                  "; check the activations for NaN/Inf or lower the learning rate");
    loss_history_.push_back(static_cast<float>(loss));
    sparse_steps_ += ws.last_sparse;
    adam_step(grad.data(), ws);
  }
  if (cfg_.epochs == 0) loss = loss_now();
  return static_cast<float>(loss);
}

float Sae::loss_and_grad(const float* X, int64_t n, SaeGrads* grads) const {
  check_rows("Sae::loss_and_grad", X, n);
  const int64_t d = d_in_, F = n_feat_;
  SaeWorkspace ws(n, d, F);
  SaeGrads local;
  SaeGrads& g = grads ? *grads : local;
  g.W_enc.resize(F * d);
  g.b_enc.resize(F);
  g.W_dec.resize(d * F);
  g.b_pre.resize(d);
  const double loss =
      forward_backward(X, n, d, F, cfg_.l1, cfg_.kernels, W_enc_.data(), b_enc_.data(),
                       W_dec_.data(), b_pre_.data(), ws, g.W_enc.data(), g.b_enc.data(),
                       g.W_dec.data(), g.b_pre.data());
  return static_cast<float>(loss);
}

void Sae::encode(const float* X, int64_t n, float* Fout) const {
  check_rows("Sae::encode", X, n);
  const int64_t d = d_in_, F = n_feat_;
  std::vector<float> c(F);
  encoder_bias(W_enc_.data(), b_enc_.data(), b_pre_.data(), d, F, c.data());
  sgemm(false, true, n, F, d, 1.0f, X, d, W_enc_.data(), d, 0.0f, Fout, F);
#pragma omp parallel for schedule(static) if (n * F > kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < F; ++j) Fout[i * F + j] = std::max(Fout[i * F + j] + c[j], 0.0f);
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
