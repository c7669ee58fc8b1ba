// bench/forward: forward-pass throughput (tokens/s) and achieved GFLOP/s for random models of
// real shapes, next to this machine's sgemm peak and (when python3-torch is installed) PyTorch.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "bench_util.h"
#include "model/init.h"
#include "model/transformer.h"
#include "ops/process_setup.h"

using namespace cs;

namespace {

// Matmul FLOPs of one forward at (B,T) with logits at every position.
double forward_flops(const ModelConfig& c, int B, int T) {
  const double N = static_cast<double>(B) * T, D = c.d_model, dh = c.d_head;
  const double H = c.n_heads, W = static_cast<double>(c.qkv_width());
  double per_layer = 2 * N * D * W + 2 * N * H * dh * D + 2 * 2 * B * H * double(T) * T * dh;
  if (!c.attn_only) per_layer += 2 * N * D * c.d_mlp * (gated(c.act) ? 3 : 2);
  return c.n_layers * per_layer + 2 * N * D * c.vocab_size;
}

Batch random_batch(int B, int T, int V, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<std::vector<int>> seqs(B, std::vector<int>(T));
  for (auto& s : seqs)
    for (int& t : s) t = static_cast<int>(g() % V);
  return Batch::from_sequences(seqs);
}

double torch_tokens_per_s(int B, int T) {
  return bench::command_number(std::string("/usr/bin/python3 ") + CS_SOURCE_DIR +
                               "/bench/torch_gpt2_forward.py " + std::to_string(B) + " " + std::to_string(T));
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const double peak = bench::sgemm_peak_gflops();
  std::printf("sgemm peak on this machine: %.1f GFLOP/s (2048^3, median of 5)\n\n", peak);
  std::printf("| model | B | T | ms/forward | tokens/s | GFLOP/s | %% of sgemm peak | PyTorch tokens/s | speedup |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  struct Row { const char* preset; int B, T; };
  std::vector<Row> rows = {{"gpt2-small", 1, 16}, {"gpt2-small", 8, 16}, {"gpt2-small", 32, 16},
                           {"gpt2-small", 8, 128}};
  if (!quick) {
    rows.push_back({"pythia-160m", 8, 16});
    rows.push_back({"pythia-160m", 32, 16});
    rows.push_back({"llama-1b", 1, 16});
    rows.push_back({"llama-1b", 8, 16});
  }
  std::string loaded;
  Model m;
  for (const Row& r : rows) {
    if (loaded != r.preset) {
      m = random_model(preset_config(r.preset), 1);
      loaded = r.preset;
    }
    Batch b = random_batch(r.B, r.T, m.cfg.vocab_size, 7);
    const int reps = r.B * r.T >= 256 || m.cfg.n_layers > 12 ? 5 : 11;
    double s = bench::median_seconds([&] { forward(m, b); }, reps);
    double gflops = forward_flops(m.cfg, r.B, r.T) / s / 1e9;
    double toks = r.B * r.T / s;
    std::string torch_col = "-", speed_col = "-";
    if (std::string(r.preset) == "gpt2-small") {
      double tt = torch_tokens_per_s(r.B, r.T);
      if (tt > 0) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.0f", tt);
        torch_col = buf;
        std::snprintf(buf, sizeof buf, "%.2fx", toks / tt);
        speed_col = buf;
      } else {
        torch_col = "(python3-torch not installed)";
      }
    }
    std::printf("| %s | %d | %d | %.2f | %.0f | %.1f | %.0f%% | %s | %s |\n", r.preset, r.B, r.T,
                s * 1e3, toks, gflops, 100 * gflops / peak, torch_col.c_str(), speed_col.c_str());
    std::fflush(stdout);
  }
  return 0;
}
