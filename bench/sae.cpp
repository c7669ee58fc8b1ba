// SAE training speed: wall time of a full run (500 epochs, full batch) on random activations
// at the paper's sizes, GEMM FLOP/s achieved, and the fraction of a nominal sgemm peak; once
// with the default kernels (sparse backward once f is sparse) and once with dense GEMMs only.
// Usage: sae [epochs] [peak_gflops]   (defaults 500, 190: this 2-core machine's sgemm peak)
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "sae/sae.h"
#include "ops/matmul.h"
#include "bench_util.h"
#include "ops/process_setup.h"
#include "ops/timer.h"

namespace {

// Measured sgemm rate on a large square product, for context.
double square_sgemm_gflops(int64_t m) {
  std::vector<float> a(m * m, 0.5f), b(m * m, 0.25f), c(m * m);
  cs::sgemm(false, false, m, m, m, 1.0f, a.data(), m, b.data(), m, 0.0f, c.data(), m);
  const int reps = 5;
  const cs::Timer timer;
  for (int r = 0; r < reps; ++r)
    cs::sgemm(false, false, m, m, m, 1.0f, a.data(), m, b.data(), m, 0.0f, c.data(), m);
  return 2.0 * m * m * m * reps / timer.seconds() / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  const int epochs = argc > 1 ? static_cast<int>(cs::bench::int_arg(argv[1], "epochs", 1, 1000000)) : 500;
  const double peak = argc > 2 ? cs::bench::real_arg(argv[2], "peak GFLOP/s", 1e-3, 1e9) : 190.0;
  struct Case {
    const char* what;
    int64_t n, d, features;
  };
  const Case cases[] = {{"gpt2-small 10 prompts x 144 heads", 1440, 768, 200},
                        {"attn-only 10 prompts x 32 heads", 320, 128, 200}};

  const char* wait = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  std::printf("threads %d, OMP_WAIT_POLICY %s, GOMP_SPINCOUNT %s, epochs %d, nominal peak %.0f GFLOP/s\n",
              omp_get_max_threads(), wait ? wait : "(default)", spin ? spin : "(default)", epochs, peak);
  // of_sgemm: against a 2048^3 sgemm timed just before the row, so a loaded machine shows.
  std::printf("%-34s %5s %4s %4s %-7s %8s %9s %7s %8s %8s %8s %8s\n", "case", "n", "d", "feat",
              "kernels", "time_s", "ms/epoch", "sparse", "GFLOP", "GFLOP/s", "of_peak",
              "of_sgemm");
  for (const Case& c : cases) {
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> X(c.n * c.d);
    for (float& x : X) x = dist(rng);
    for (cs::SaeKernels k : {cs::SaeKernels::kAuto, cs::SaeKernels::kDense}) {
      cs::SaeConfig cfg;
      cfg.n_features = static_cast<int>(c.features);
      cfg.epochs = epochs;
      cfg.kernels = k;
      cs::Sae sae(c.d, cfg);
      const double sgemm_rate = square_sgemm_gflops(2048);
      const cs::Timer timer;
      sae.train(X.data(), c.n);
      const double t = timer.seconds();
      // GEMM-equivalent work: five GEMMs of 2*n*d*F flops per epoch (forward 2, backward 3;
      // the pre-encoder bias's input-side gradient is a GEMV, see sae_backward.cpp). Sparse epochs do
      // one GEMM plus ~8*nnz*d flops, so auto mode can exceed the machine's peak here.
      const double gflop = 5.0 * 2.0 * c.n * c.d * c.features * epochs / 1e9;
      std::printf("%-34s %5ld %4ld %4ld %-7s %8.3f %9.3f %7ld %8.1f %8.1f %7.0f%% %7.0f%%\n",
                  c.what, (long)c.n, (long)c.d, (long)c.features,
                  k == cs::SaeKernels::kAuto ? "auto" : "dense", t, 1e3 * t / epochs,
                  (long)sae.sparse_steps(), gflop, gflop / t, 100.0 * gflop / t / peak,
                  100.0 * gflop / t / sgemm_rate);
    }
  }
  return 0;
}
