// bench/gemm: GFLOP/s of each GEMM path of ops/gemm.h at the shapes a forward pass uses
// (M = batch x tokens rows, K x N weights of GPT-2 small and Llama-3.2-1B), measured
// interleaved in one run: OpenBLAS f32, oneDNN f32, the streamed kernels (ops/gemm_streamed.h:
// f32, M <= 16), bf16 weights widened panel by panel (exact), oneDNN bf16, the streamed bf16
// kernels (bf16 precision, M <= 16). The per-shape choice
// in gemm.cpp (gemm_path) comes from this table. The weights stay in cache here except the
// unembedding's; bench/forward shows the GEMMs on weights that come from memory.
//   usage: gemm [--quick]
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "ops/gemm.h"
#include "ops/gemm_streamed.h"
#include "ops/process_setup.h"

using namespace cs;

int main(int argc, char** argv) {
  cs::setup_process(argv);
  bench::check_flags(argc, argv, "gemm [--quick]", {"--quick"});
  const bool quick = argc > 1;
  struct Shape { const char* what; int64_t K, N; bool trans; };
  std::vector<Shape> shapes = {{"gpt2 W_qkv", 768, 2304, false}, {"gpt2 W_O", 768, 768, false},
                               {"gpt2 W_in", 768, 3072, false},  {"gpt2 W_out", 3072, 768, false},
                               {"gpt2 W_U^T", 768, 50257, true}};
  if (!quick) {
    shapes.push_back({"llama-1b W_qkv", 2048, 3072, true});
    shapes.push_back({"llama-1b W_gate", 2048, 8192, true});
    shapes.push_back({"llama-1b W_out", 8192, 2048, true});
  }
  std::vector<int64_t> Ms = quick ? std::vector<int64_t>{16, 128, 512}
                                  : std::vector<int64_t>{16, 32, 64, 128, 256, 512, 1024};
  std::printf("GFLOP/s, median of 5 interleaved rounds (2 threads). Weights stored [K,N] or, for\n"
              "trans, [N,K] as nn.Linear keeps them.\n\n");
  std::printf("| weight | K | N | M | OpenBLAS f32 | oneDNN f32 | streamed f32 | bf16 widened (exact) | oneDNN bf16 | streamed bf16 | exact picks | bf16 picks |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::mt19937 g(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const Shape& s : shapes) {
    std::vector<float> W32(static_cast<size_t>(s.K * s.N));
    for (float& x : W32) x = nd(g);
    std::vector<uint16_t> W16(W32.size());
    narrow_to_bf16(W16.data(), W32.data(), static_cast<int64_t>(W32.size()));
    const int64_t ld = s.trans ? s.K : s.N;
    const MatRef b32{DType::F32, W32.data(), s.K, s.N, ld, s.trans};
    const MatRef b16{DType::BF16, W16.data(), s.K, s.N, ld, s.trans};
    for (int64_t M : Ms) {
      if (s.N > 10000 && M > 256) continue;  // the unembedding runs at the last positions only
      std::vector<float> A(static_cast<size_t>(M * s.K), 0.5f), C(static_cast<size_t>(M * s.N));
      const double flops = 2.0 * M * s.K * s.N;
      const bool streamed = M <= kStreamedMaxRows;  // rows the streamed kernels take
      // 0 OpenBLAS, 1 oneDNN, 2 streamed, 3 widened, 4 oneDNN bf16, 5 streamed bf16
      auto run = [&](int which) {
        if (which == 0) force_gemm_path(GemmPath::OpenBlasF32);
        if (which == 4) force_gemm_path(GemmPath::OneDnnBf16);
        if (which == 1) force_gemm_path(GemmPath::OneDnnF32);
        if (which == 2) force_gemm_path(GemmPath::StreamedF32);
        const MatRef& b = which < 3 ? b32 : b16;
        const Precision p = which >= 4 ? Precision::BF16 : Precision::Exact;
        gemm(C.data(), s.N, A.data(), s.K, M, b, false, p);
        force_gemm_path(GemmPath::WidenedPanels);
      };
      constexpr int kPaths = 6;
      std::vector<std::vector<double>> t(kPaths);
      for (int w = 0; w < kPaths; ++w) run(w);  // warm-up (primitive creation)
      const int rounds = 5, reps = M * s.K * s.N > 2e8 ? 2 : 10;
      for (int r = 0; r < rounds; ++r)
        for (int w = 0; w < kPaths; ++w) {
          if ((w == 2 || w == 5) && !streamed) continue;
          const Timer timer;
          for (int i = 0; i < reps; ++i) run(w);
          t[w].push_back(timer.seconds() / reps);
        }
      std::string gf[kPaths];
      for (int w = 0; w < kPaths; ++w) {
        if (t[w].empty()) { gf[w] = "-"; continue; }
        std::sort(t[w].begin(), t[w].end());
        gf[w] = std::to_string(static_cast<long>(flops / t[w][rounds / 2] / 1e9 + 0.5));
      }
      std::printf("| %s | %lld | %lld | %lld | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.what,
                  (long long)s.K, (long long)s.N, (long long)M, gf[0].c_str(), gf[1].c_str(),
                  gf[2].c_str(), gf[3].c_str(), gf[4].c_str(), gf[5].c_str(),
                  gemm_path_name(gemm_path(M, b32, Precision::Exact)),
                  gemm_path_name(gemm_path(M, b16, Precision::BF16)));
      std::fflush(stdout);
    }
  }
  return 0;
}
