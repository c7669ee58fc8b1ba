// The dtype-aware GEMM (ops/gemm.h) against its naive double-accumulation reference, on every
// path (OpenBLAS f32, oneDNN f32, widened bf16/f16 panels, oneDNN bf16, the streamed f32 and bf16
// kernels), both storage orders,
// blocks of larger matrices, and accumulation; plus thread-count determinism.
#include <gtest/gtest.h>
#include <omp.h>

#include <random>
#include <vector>

#include "ops/error.h"
#include "ops/gemm.h"
#include "ops/gemm_streamed.h"

using namespace cs;

namespace {

struct Mat {
  std::vector<float> f32;
  std::vector<uint16_t> half;
  int64_t rows, cols;
};

// A random [rows, cols] matrix stored in `dt` (values exactly representable there), either
// row-major or as its transpose, inside a buffer with `pad` extra columns per stored row.
struct Stored {
  DType dt;
  bool trans;
  int64_t pad;
  std::vector<float> f32;
  std::vector<uint16_t> half;
  MatRef ref;
};

Stored make(int64_t rows, int64_t cols, DType dt, bool trans, int64_t pad, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Stored s{dt, trans, pad, {}, {}, {}};
  const int64_t srows = trans ? cols : rows, scols = (trans ? rows : cols) + pad;
  const size_t count = static_cast<size_t>(srows * scols);
  if (dt == DType::F32) {
    s.f32.resize(count);
    for (float& x : s.f32) x = n(g);
    s.ref = {dt, s.f32.data(), rows, cols, scols, trans};
  } else {
    s.half.resize(count);
    for (uint16_t& x : s.half) x = dt == DType::BF16 ? f32_to_bf16(n(g)) : f32_to_f16(n(g));
    s.ref = {dt, s.half.data(), rows, cols, scols, trans};
  }
  return s;
}

std::vector<float> random_f32(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

// max |ours - ref| / max |ref|
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  return rel_max_error(a.data(), b.data(), static_cast<int64_t>(b.size()));
}

void check(int64_t M, int64_t K, int64_t N, DType dt, bool trans, Precision p, bool accumulate,
           double tol, GemmPath expect) {
  SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N) +
               " " + dtype_name(dt) + (trans ? " trans" : "") + " " + precision_name(p) +
               (accumulate ? " accumulate" : ""));
  Stored B = make(K, N, dt, trans, 3, 11);
  EXPECT_EQ(gemm_path(M, B.ref, p), expect);
  const int64_t lda = K + 5, ldc = N + 2;
  std::vector<float> A = random_f32(static_cast<size_t>(M * lda), 5);
  std::vector<float> C = random_f32(static_cast<size_t>(M * ldc), 7), R = C;
  gemm(C.data(), ldc, A.data(), lda, M, B.ref, accumulate, p);
  gemm_naive(R.data(), ldc, A.data(), lda, M, B.ref, accumulate, p);
  EXPECT_LE(rel_err(C, R), tol);
}

}  // namespace

TEST(Gemm, F32PathsMatchTheNaiveReference) {
  for (bool trans : {false, true})
    for (bool acc : {false, true}) {
      check(16, 96, 200, DType::F32, trans, Precision::Exact, acc, 1e-6, GemmPath::OneDnnF32);
      check(300, 64, 80, DType::F32, trans, Precision::Exact, acc, 1e-6, GemmPath::OpenBlasF32);
      // BF16 precision leaves an f32 weight exact.
      check(16, 96, 200, DType::F32, trans, Precision::BF16, acc, 1e-6, GemmPath::OneDnnF32);
    }
}

// A few rows against a large weight, stored [N, K] or [K, N]: the streamed kernels, f32 in exact
// precision and bf16 in bf16 precision, at every row count up to 16 (4-row tiles and single rows;
// 4-, 8- and 16-row sums), K off their steps (16 floats, 32 bf16; odd K, which ends the bf16
// [K, N] kernel's k pairs on a zero; 32-row chunks; the 128-row prefetch distance), N off their
// blocks (4 rows, the padded last rows; 128 columns in 16-column tiles), padded strides, a block
// of a larger matrix, and shapes too short to prefetch.
TEST(Gemm, StreamedPathsMatchTheNaiveReference) {
  ASSERT_TRUE(streamed_gemm_available()) << "this project's machines have AVX-512F";
  ASSERT_TRUE(streamed_bf16_gemm_available()) << "this project's machines have AVX512-BF16";
  struct Kind { DType dt; Precision p; double tol; GemmPath path; };
  for (const Kind& kd : {Kind{DType::F32, Precision::Exact, 1e-6, GemmPath::StreamedF32},
                         Kind{DType::BF16, Precision::BF16, 1e-5, GemmPath::StreamedBf16}}) {
    SCOPED_TRACE(gemm_path_name(kd.path));
    for (bool trans : {true, false})
      for (bool acc : {false, true}) {
        for (int64_t M = 1; M <= 16; ++M) check(M, 517, 1003, kd.dt, trans, kd.p, acc, kd.tol, kd.path);
        check(16, 768, 1000, kd.dt, trans, kd.p, acc, kd.tol, kd.path);
        check(7, 1029, 301, kd.dt, trans, kd.p, acc, kd.tol, kd.path);
        check(5, 8200, 34, kd.dt, trans, kd.p, acc, kd.tol, kd.path);
        check(12, 100, 2700, kd.dt, trans, kd.p, acc, kd.tol, kd.path);
        check(3, 33, 8000, kd.dt, trans, kd.p, acc, kd.tol, kd.path);
      }
    for (bool trans : {true, false}) {
      Stored W = make(700, 900, kd.dt, trans, 0, 4);
      const MatRef blk = W.ref.block(3, 600, 17, 500);  // row stride 700 or 900, not 600 or 500
      EXPECT_EQ(gemm_path(9, blk, kd.p), kd.path);
      std::vector<float> A = random_f32(9 * 600, 6), C(9 * 500), R(9 * 500);
      gemm(C.data(), 500, A.data(), 600, 9, blk, false, kd.p);
      gemm_naive(R.data(), 500, A.data(), 600, 9, blk, false, kd.p);
      EXPECT_LE(rel_err(C, R), kd.tol) << (trans ? "[N, K]" : "[K, N]");
      // Up to 16 rows only, large weights only.
      const GemmPath other = kd.dt == DType::F32 ? GemmPath::OneDnnF32 : GemmPath::OneDnnBf16;
      EXPECT_EQ(gemm_path(17, W.ref, kd.p), other);
      EXPECT_EQ(gemm_path(16, W.ref.block(0, 64, 0, 64), kd.p), other);
    }
  }
}

TEST(Gemm, ForcedLibrariesAgree) {
  for (GemmPath g : {GemmPath::OpenBlasF32, GemmPath::OneDnnF32}) {
    force_gemm_path(g);
    check(16, 96, 200, DType::F32, true, Precision::Exact, false, 1e-6, g);
    check(300, 64, 80, DType::F32, false, Precision::Exact, true, 1e-6, g);
  }
  // oneDNN's bf16 matmul in place of the streamed bf16 kernels; f32 weights keep their choice.
  force_gemm_path(GemmPath::OneDnnBf16);
  check(16, 768, 1000, DType::BF16, true, Precision::BF16, false, 1e-5, GemmPath::OneDnnBf16);
  check(16, 768, 1000, DType::F32, true, Precision::Exact, false, 1e-6, GemmPath::StreamedF32);
  force_gemm_path(GemmPath::WidenedPanels);
  EXPECT_EQ(gemm_path(16, make(8, 8, DType::F32, false, 0, 1).ref, Precision::Exact), GemmPath::OneDnnF32);
  EXPECT_EQ(gemm_path(16, make(768, 1000, DType::BF16, true, 0, 1).ref, Precision::BF16),
            GemmPath::StreamedBf16);
}

TEST(Gemm, HalfWeightsWidenedPanelByPanelAreExact) {
  // The widened path multiplies the exact f32 values of the half weights: f32 rounding only.
  for (DType dt : {DType::BF16, DType::F16})
    for (bool trans : {false, true})
      for (bool acc : {false, true}) {
        check(1, 40, 33, dt, trans, Precision::Exact, acc, 1e-6, GemmPath::WidenedPanels);
        check(16, 768, 1000, dt, trans, Precision::Exact, acc, 1e-6, GemmPath::WidenedPanels);
        check(130, 200, 77, dt, trans, Precision::Exact, acc, 1e-6, GemmPath::WidenedPanels);
      }
  // F16 weights under BF16 precision are multiplied exactly too.
  check(16, 64, 64, DType::F16, false, Precision::Exact, false, 1e-6, GemmPath::WidenedPanels);
  check(16, 64, 64, DType::F16, true, Precision::BF16, false, 1e-6, GemmPath::WidenedPanels);
}

TEST(Gemm, Bf16PrecisionRoundsTheActivationsOnly) {
  // The reference rounds A to bf16 and accumulates exactly: oneDNN's f32 accumulation differs
  // from it by f32 rounding.
  for (bool trans : {false, true})
    for (bool acc : {false, true}) {
      check(16, 768, 300, DType::BF16, trans, Precision::BF16, acc, 1e-5, GemmPath::OneDnnBf16);
      check(257, 96, 130, DType::BF16, trans, Precision::BF16, acc, 1e-5, GemmPath::OneDnnBf16);
    }
}

TEST(Gemm, BlocksOfALargerMatrix) {
  // Column and row blocks (a head's W_Q columns, a head's W_O rows) of both storage orders.
  for (DType dt : {DType::F32, DType::BF16})
    for (bool trans : {false, true})
      for (Precision p : {Precision::Exact, Precision::BF16}) {
        Stored W = make(64, 96, dt, trans, 0, 3);
        const MatRef blk = W.ref.block(16, 32, 40, 24);
        std::vector<float> A = random_f32(5 * 32, 1), C(5 * 24), R(5 * 24);
        gemm(C.data(), 24, A.data(), 32, 5, blk, false, p);
        gemm_naive(R.data(), 24, A.data(), 32, 5, blk, false, p);
        EXPECT_LE(rel_err(C, R), 1e-5) << dtype_name(dt) << (trans ? " trans" : "");
        for (int64_t k = 0; k < 32; ++k)
          for (int64_t n = 0; n < 24; ++n) ASSERT_EQ(blk.at(k, n), W.ref.at(16 + k, 40 + n));
        // The transpose view reads the same elements.
        EXPECT_EQ(W.ref.t().at(7, 9), W.ref.at(9, 7));
      }
}

TEST(Gemm, SameBitsOnOneAndTwoThreads) {
  const int keep = omp_get_max_threads();
  for (DType dt : {DType::F32, DType::BF16})
    for (Precision p : {Precision::Exact, Precision::BF16})
      for (int64_t M : {int64_t{16}, int64_t{200}}) {
        Stored B = make(512, 700, dt, true, 0, 9);
        std::vector<float> A = random_f32(static_cast<size_t>(M * 512), 2);
        std::vector<float> C1(static_cast<size_t>(M * 700)), C2(C1.size());
        omp_set_num_threads(1);
        gemm(C1.data(), 700, A.data(), 512, M, B.ref, false, p);
        omp_set_num_threads(2);
        gemm(C2.data(), 700, A.data(), 512, M, B.ref, false, p);
        EXPECT_EQ(C1, C2) << dtype_name(dt) << " " << precision_name(p) << " M=" << M;
      }
  for (DType dt : {DType::F32, DType::BF16})  // the streamed kernels: one fixed sum per element
    for (bool trans : {true, false}) {
      const Precision p = dt == DType::F32 ? Precision::Exact : Precision::BF16;
      Stored B = make(1000, 700, dt, trans, 0, 9);
      ASSERT_EQ(gemm_path(16, B.ref, p),
                dt == DType::F32 ? GemmPath::StreamedF32 : GemmPath::StreamedBf16);
      std::vector<float> A = random_f32(16 * 1000, 2), C1(16 * 700), C2(C1.size());
      omp_set_num_threads(1);
      gemm(C1.data(), 700, A.data(), 1000, 16, B.ref, false, p);
      omp_set_num_threads(2);
      gemm(C2.data(), 700, A.data(), 1000, 16, B.ref, false, p);
      EXPECT_EQ(C1, C2) << "streamed " << dtype_name(dt) << (trans ? " [N, K]" : " [K, N]");
    }
  omp_set_num_threads(keep);
}

TEST(Gemm, MatmulAddsTheBias) {
  Stored W = make(48, 20, DType::BF16, true, 0, 4);
  std::vector<float> x = random_f32(3 * 48, 8), bias = random_f32(20, 9), y(3 * 20), r(3 * 20);
  matmul(y.data(), x.data(), W.ref, bias.data(), 3, Precision::Exact);
  gemm_naive(r.data(), 20, x.data(), 48, 3, W.ref, false, Precision::Exact);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 20; ++j) r[i * 20 + j] += bias[j];
  EXPECT_LE(rel_err(y, r), 1e-6);
}

TEST(Weight, HalfWeightsReadTheirRowsAndRefuseF32Pointers) {
  std::vector<uint16_t> bits(6);
  for (int i = 0; i < 6; ++i) bits[i] = f32_to_bf16(static_cast<float>(i + 1));
  // Stored [3,2] transposed: logical [2,3], element (r, c) = bits[c * 2 + r].
  Weight w = Weight::half(DType::BF16, {2, 3}, true, bits.data(), nullptr);
  EXPECT_EQ(w.numel(), 6);
  EXPECT_FALSE(w.empty());
  Tensor t = w.to_tensor();
  EXPECT_EQ(t.data, (std::vector<float, DefaultInitAllocator<float>>{1, 3, 5, 2, 4, 6}));
  EXPECT_THROW(w.ptr(), Error);
  Weight f(Tensor({2, 2}, 3.0f));
  EXPECT_EQ(f.ptr()[3], 3.0f);
  Weight n = Weight::narrowed(Tensor({2, 2}, 1.00390625f), DType::BF16);  // 1 + 2^-8 -> 1
  EXPECT_EQ(n.to_tensor().data[0], 1.0f);
}
