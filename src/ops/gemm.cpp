// Dtype-aware GEMM: OpenBLAS sgemm, oneDNN matmul (f32 and bf16), and widened bf16/f16 panels.
// See gemm.h for the contract; the per-shape choice below comes from bench/gemm.
#include "ops/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "ops/aligned.h"
#include "ops/error.h"
#include "ops/gemm_streamed.h"
#include "ops/matmul.h"

namespace cs {

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "exact"; }

bool precision_from_name(const std::string& s, Precision* out) {
  if (s == "exact") *out = Precision::Exact;
  else if (s == "bf16") *out = Precision::BF16;
  else return false;
  return true;
}

const char* gemm_path_name(GemmPath g) {
  switch (g) {
    case GemmPath::OpenBlasF32: return "openblas-f32";
    case GemmPath::OneDnnF32: return "onednn-f32";
    case GemmPath::WidenedPanels: return "widened-panels";
    case GemmPath::OneDnnBf16: return "onednn-bf16";
    case GemmPath::StreamedF32: return "streamed-f32";
    case GemmPath::StreamedBf16: return "streamed-bf16";
  }
  return "?";
}

namespace {

std::atomic<int> g_forced{-1};  // force_gemm_path, -1: per-shape choice

// ---- oneDNN ---------------------------------------------------------------------------------

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// One matmul primitive per shape, layout and dtype. Creating one costs far more than a small
// GEMM, so they are kept for the process's life (a forward pass uses a handful of shapes).
struct PrimKey {
  int64_t M, K, N, lda, ldb, ldc;
  bool trans, accumulate, bf16;
  auto tie() const { return std::tie(M, K, N, lda, ldb, ldc, trans, accumulate, bf16); }
  bool operator<(const PrimKey& o) const { return tie() < o.tie(); }
};

// One cache per thread: a oneDNN primitive's library-managed scratchpad belongs to the primitive,
// so one primitive executed by two threads at once (parallel_jobs running two forward passes,
// as the faithfulness curve does) let them overwrite each other's scratch and swap results.
const dnnl::matmul* primitive(const PrimKey& k) {
  thread_local std::map<PrimKey, std::unique_ptr<dnnl::matmul>> cache;
  auto it = cache.find(k);
  if (it != cache.end()) return it->second.get();
  using dt = dnnl::memory::data_type;
  const dt in = k.bf16 ? dt::bf16 : dt::f32;
  // A is packed contiguous for bf16 (converted into a scratch buffer), strided for f32.
  dnnl::memory::desc a({k.M, k.K}, in, dnnl::memory::dims{k.lda, 1});
  dnnl::memory::desc b({k.K, k.N}, in,
                       k.trans ? dnnl::memory::dims{1, k.ldb} : dnnl::memory::dims{k.ldb, 1});
  dnnl::memory::desc c({k.M, k.N}, dt::f32, dnnl::memory::dims{k.ldc, 1});
  dnnl::primitive_attr attr;
  if (k.accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  std::unique_ptr<dnnl::matmul> p;
  try {
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine());
    p = std::make_unique<dnnl::matmul>(pd);
  } catch (const dnnl::error&) {
    p = nullptr;  // no implementation for this shape/layout: the caller falls back
  }
  return cache.emplace(k, std::move(p)).first->second.get();
}

// C = A @ B (+ C) through oneDNN; false if oneDNN has no implementation for it.
bool onednn_gemm(float* C, int64_t ldc, const void* A, int64_t lda, int64_t M, const MatRef& B,
                 bool accumulate, bool bf16) {
  const PrimKey key{M, B.rows, B.cols, lda, B.ld, ldc, B.trans, accumulate, bf16};
  const dnnl::matmul* p = primitive(key);
  if (!p) return false;
  using dt = dnnl::memory::data_type;
  const dt in = bf16 ? dt::bf16 : dt::f32;
  dnnl::memory::desc a({M, B.rows}, in, dnnl::memory::dims{lda, 1});
  dnnl::memory::desc b({B.rows, B.cols}, in,
                       B.trans ? dnnl::memory::dims{1, B.ld} : dnnl::memory::dims{B.ld, 1});
  dnnl::memory::desc c({M, B.cols}, dt::f32, dnnl::memory::dims{ldc, 1});
  dnnl::memory am(a, engine(), const_cast<void*>(A));
  dnnl::memory bm(b, engine(), const_cast<void*>(B.p));
  dnnl::memory cm(c, engine(), C);
  thread_local dnnl::stream s(engine());
  p->execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
  s.wait();
  return true;
}

// ---- widened panels -----------------------------------------------------------------------

void widen(float* dst, const void* src, DType dt, int64_t n) {
  if (dt == DType::BF16) widen_bf16(dst, static_cast<const uint16_t*>(src), n);
  else widen_f16(dst, static_cast<const uint16_t*>(src), n);
}

// Columns per panel: a panel of K x nb f32 values stays near 256 KiB (in L2 while sgemm reads
// it), at least 16 columns, and wide enough that the sgemm per panel is not dominated by A's
// re-reads when M is large.
int64_t panel_width(int64_t M, int64_t K, int64_t N) {
  int64_t nb = std::max<int64_t>(65536 / std::max<int64_t>(K, 1), M / 4);
  nb = std::clamp<int64_t>((nb + 15) / 16 * 16, 16, 512);
  return std::min(nb, N);
}

// C = A @ B (+ C), B half: each thread widens a panel of B's columns and runs a one-thread
// sgemm on it. Panels are independent, so results do not depend on the thread count.
void widened_gemm(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, const MatRef& B,
                  bool accumulate) {
  const int64_t K = B.rows, N = B.cols, nb = panel_width(M, K, N);
  const int64_t panels = (N + nb - 1) / nb;
  const float beta = accumulate ? 1.0f : 0.0f;
  const int64_t esize = dtype_size(B.dtype);
  const char* base = static_cast<const char*>(B.p);
  const bool par = panels > 1 && M * K * N > (1 << 18);
#pragma omp parallel if (par)
  {
    thread_local std::vector<float, AlignedAllocator<float>> buf;
    buf.resize(static_cast<size_t>(K * nb));
#pragma omp for schedule(static)
    for (int64_t pi = 0; pi < panels; ++pi) {
      const int64_t n0 = pi * nb, w = std::min(nb, N - n0);
      if (B.trans) {  // stored rows n0..n0+w, each K contiguous: buf [w, K]
        for (int64_t j = 0; j < w; ++j) widen(buf.data() + j * K, base + ((n0 + j) * B.ld) * esize, B.dtype, K);
        sgemm(false, true, M, w, K, 1.0f, A, lda, buf.data(), K, beta, C + n0, ldc);
      } else {        // rows k of columns n0..n0+w: buf [K, w]
        for (int64_t k = 0; k < K; ++k) widen(buf.data() + k * w, base + (k * B.ld + n0) * esize, B.dtype, w);
        sgemm(false, false, M, w, K, 1.0f, A, lda, buf.data(), w, beta, C + n0, ldc);
      }
    }
  }
}

}  // namespace

void force_gemm_path(GemmPath g) {
  g_forced = g == GemmPath::WidenedPanels ? -1 : static_cast<int>(g);
}

GemmPath gemm_path(int64_t M, const MatRef& B, Precision p) {
  // At M <= 16 against a weight of 1 MB or more (a forward reads it from memory, not cache), the
  // streamed kernels beat oneDNN on cold weights inside a forward (README, "Speed"): f32 by
  // 1.3-1.6x; bf16 took GPT-2's (1,16) forward from 21-23 ms to 17-18 ms. In cache the f32 ones
  // run at 0.7-1.0x of oneDNN (bench/gemm).
  const bool streamed_shape = M <= kStreamedMaxRows && B.rows * B.cols >= (int64_t{1} << 18);
  const int forced = g_forced.load();
  if (B.dtype == DType::BF16 && p == Precision::BF16)
    return streamed_shape && streamed_bf16_gemm_available() &&
                   forced != static_cast<int>(GemmPath::OneDnnBf16)
               ? GemmPath::StreamedBf16
               : GemmPath::OneDnnBf16;
  if (B.dtype != DType::F32) return GemmPath::WidenedPanels;
  if (forced >= 0 && forced != static_cast<int>(GemmPath::OneDnnBf16))
    return static_cast<GemmPath>(forced);
  if (streamed_shape && streamed_gemm_available()) return GemmPath::StreamedF32;
  // From bench/gemm on this machine (2 cores, Zen 4): oneDNN's f32 brgemm beats OpenBLAS by
  // 1.3-2x at the few-row shapes of a short forward pass (M <= 64), and ties or loses above.
  return M <= 64 ? GemmPath::OneDnnF32 : GemmPath::OpenBlasF32;
}

void gemm(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, const MatRef& B,
          bool accumulate, Precision p) {
  const int64_t K = B.rows, N = B.cols;
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill_n(C + i * ldc, N, 0.0f);
    return;
  }
  switch (gemm_path(M, B, p)) {
    case GemmPath::OneDnnBf16: {
      thread_local std::vector<uint16_t> a16;
      a16.resize(static_cast<size_t>(M * K));
      for (int64_t i = 0; i < M; ++i) narrow_to_bf16(a16.data() + i * K, A + i * lda, K);
      if (onednn_gemm(C, ldc, a16.data(), K, M, B, accumulate, true)) return;
      break;  // no bf16 implementation: exact, widened
    }
    case GemmPath::StreamedBf16: {
      const uint16_t* b = static_cast<const uint16_t*>(B.p);
      if (B.trans) streamed_bf16_gemm_nk(C, ldc, A, lda, M, b, B.ld, K, N, accumulate);
      else streamed_bf16_gemm_kn(C, ldc, A, lda, M, b, B.ld, K, N, accumulate);
      return;
    }
    case GemmPath::StreamedF32:
      if (M <= kStreamedMaxRows && streamed_gemm_available()) {
        const float* b = static_cast<const float*>(B.p);
        if (B.trans) streamed_gemm_nk(C, ldc, A, lda, M, b, B.ld, K, N, accumulate);
        else streamed_gemm_kn(C, ldc, A, lda, M, b, B.ld, K, N, accumulate);
        return;
      }
      [[fallthrough]];  // forced onto a shape it does not take
    case GemmPath::OneDnnF32:
      if (onednn_gemm(C, ldc, A, lda, M, B, accumulate, false)) return;
      [[fallthrough]];
    case GemmPath::OpenBlasF32:
      sgemm(false, B.trans, M, N, K, 1.0f, A, lda, static_cast<const float*>(B.p), B.ld,
            accumulate ? 1.0f : 0.0f, C, ldc);
      return;
    case GemmPath::WidenedPanels:
      break;
  }
  if (B.dtype == DType::F32) {
    sgemm(false, B.trans, M, N, K, 1.0f, A, lda, static_cast<const float*>(B.p), B.ld,
          accumulate ? 1.0f : 0.0f, C, ldc);
    return;
  }
  widened_gemm(C, ldc, A, lda, M, B, accumulate);
}

void matmul(float* out, const float* inp, const MatRef& W, const float* bias, int64_t M,
            Precision p, bool accumulate) {
  const int64_t N = W.cols;
  gemm(out, N, inp, W.rows, M, W, accumulate, p);
  if (!bias) return;
#pragma omp parallel for schedule(static) if (M * N > 65536)
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) out[i * N + j] += bias[j];
}

void gemm_naive(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, const MatRef& B,
                bool accumulate, Precision p) {
  const bool round_a = p == Precision::BF16 && B.dtype == DType::BF16;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < B.cols; ++j) {
      double acc = accumulate ? C[i * ldc + j] : 0.0;
      for (int64_t k = 0; k < B.rows; ++k) {
        const float a = round_a ? bf16_to_f32(f32_to_bf16(A[i * lda + k])) : A[i * lda + k];
        acc += static_cast<double>(a) * B.at(k, j);
      }
      C[i * ldc + j] = static_cast<float>(acc);
    }
}

}  // namespace cs
