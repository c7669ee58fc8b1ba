// bench/forward: forward-pass throughput (tokens/s) and achieved GFLOP/s for random models of
// real shapes, in exact and bf16 precision, next to this machine's sgemm peak and (when
// python3-torch is installed) PyTorch in the same dtype, measured in the same run.
//   usage: forward [--quick | --rows PREC:BxT,...]   (--quick: the GPT-2-small rows only;
//          --rows: only these GPT-2-small rows, e.g. --rows exact:1x16,bf16:8x16,bf16:32x16)
#include <algorithm>
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

// Bytes of the weight matrices one forward reads whole: every layer's and the unembedding.
size_t matrix_bytes(const Model& m) {
  size_t b = m.w.W_U.storage_bytes();
  for (const LayerWeights& lw : m.w.layers)
    for (const Weight* w : {&lw.W_qkv, &lw.W_O, &lw.W_in, &lw.W_gate, &lw.W_out}) b += w->storage_bytes();
  return b;
}

Batch random_batch(int B, int T, int V, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<std::vector<int>> seqs(B, std::vector<int>(T));
  for (auto& s : seqs)
    for (int& t : s) t = static_cast<int>(g() % V);
  return Batch::from_sequences(seqs);
}

double torch_tokens_per_s(int B, int T, Precision p) {
  return bench::command_number(std::string("/usr/bin/python3 ") + CS_SOURCE_DIR +
                               "/bench/torch_gpt2_forward.py " + std::to_string(B) + " " +
                               std::to_string(T) + (p == Precision::BF16 ? " bf16" : " f32"));
}

}  // namespace

// Rows: (model, precision, B, T). exact rows of gpt2-small sit beside PyTorch in float32, bf16
// rows (the same random model with its weights rounded to bf16) beside PyTorch in bfloat16. Each
// row alternates ours and PyTorch's median three times and reports the median of the three
// ratios, so a machine that drifts between fast and slow states moves both sides alike.
int main(int argc, char** argv) {
  cs::setup_process(argv);
  bench::check_flags(argc, argv, "forward [--quick | --rows PREC:BxT,...]", {"--quick"}, {"--rows"});
  bool quick = false;
  const char* row_list = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--quick") quick = true;
    else row_list = argv[++i];  // --rows (check_flags let nothing else through)
  }
  const bool chosen = row_list != nullptr;
  const double peak = bench::sgemm_peak_gflops();
  const double bandwidth = bench::read_bandwidth_gbs();
  std::printf("sgemm peak on this machine: %.1f GFLOP/s (2048^3, best of 5); memory read bandwidth:\n"
              "%.1f GB/s (a 1 GiB array summed by every thread, best of 5). floor = the larger of the\n"
              "matmul FLOPs at the sgemm peak and the weight matrices' bytes at that bandwidth (a forward\n"
              "reads each once); bf16 rows: the bytes alone (bf16 products beat the f32 peak).\n\n", peak, bandwidth);
  std::printf("| model | precision | B | T | ms/forward | floor ms | tokens/s | GFLOP/s | %% of sgemm peak | PyTorch tokens/s (same dtype) | speedup (median of 3 pairs) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  struct Row { const char* preset; Precision p; int B, T; };
  const Precision E = Precision::Exact, H = Precision::BF16;
  std::vector<Row> rows = {{"gpt2-small", E, 1, 16},  {"gpt2-small", E, 8, 16},
                           {"gpt2-small", E, 32, 16}, {"gpt2-small", E, 8, 128},
                           {"gpt2-small", H, 1, 16},  {"gpt2-small", H, 8, 16},
                           {"gpt2-small", H, 32, 16}, {"gpt2-small", H, 8, 128}};
  if (chosen) {  // PREC:BxT items, comma-separated
    rows.clear();
    std::string list = row_list;
    for (size_t at = 0; at <= list.size();) {
      const size_t end = std::min(list.find(',', at), list.size());
      const std::string item = list.substr(at, end - at);
      const size_t colon = item.find(':'), x = item.find('x', colon == std::string::npos ? 0 : colon);
      if (colon == std::string::npos || x == std::string::npos ||
          (item.substr(0, colon) != "exact" && item.substr(0, colon) != "bf16")) {
        std::fprintf(stderr, "error: --rows items are exact:BxT or bf16:BxT, got '%s'\n", item.c_str());
        return 2;
      }
      const int B = static_cast<int>(bench::int_arg(item.substr(colon + 1, x - colon - 1).c_str(), "B", 1, 4096));
      const int T = static_cast<int>(bench::int_arg(item.substr(x + 1).c_str(), "T", 1, 1024));
      rows.push_back({"gpt2-small", item.substr(0, colon) == "bf16" ? H : E, B, T});
      at = end + 1;
    }
  }
  if (!quick && !chosen) {
    rows.push_back({"pythia-160m", E, 8, 16});
    rows.push_back({"pythia-160m", E, 32, 16});
    rows.push_back({"llama-1b", E, 1, 16});
    rows.push_back({"llama-1b", E, 8, 16});
    rows.push_back({"llama-1b", H, 8, 16});
  }
  std::string loaded;
  Precision loaded_p = E;
  Model m;
  for (const Row& r : rows) {
    if (loaded != r.preset || loaded_p != r.p) {
      m = random_model(preset_config(r.preset), 1);
      set_precision(m, r.p);
      loaded = r.preset;
      loaded_p = r.p;
    }
    Batch b = random_batch(r.B, r.T, m.cfg.vocab_size, 7);
    const int reps = r.B * r.T >= 256 || m.cfg.n_layers > 12 ? 5 : 11;
    const bool torch = std::string(r.preset) == "gpt2-small";
    std::vector<double> ours, theirs, ratio;
    for (int pair = 0; pair < (torch ? 3 : 1); ++pair) {
      ours.push_back(bench::median_seconds([&] { forward(m, b); }, reps));
      if (!torch) break;
      const double tt = torch_tokens_per_s(r.B, r.T, r.p);
      if (tt <= 0) break;
      theirs.push_back(tt);
      ratio.push_back(r.B * r.T / ours.back() / tt);
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double s = median(ours);
    const double gflops = forward_flops(m.cfg, r.B, r.T) / s / 1e9, toks = r.B * r.T / s;
    const double bytes_s = static_cast<double>(matrix_bytes(m)) / (bandwidth * 1e9);
    const double floor_s = r.p == Precision::BF16 ? bytes_s : std::max(forward_flops(m.cfg, r.B, r.T) / (peak * 1e9), bytes_s);
    std::string torch_col = "-", speed_col = "-";
    char buf[64];
    if (!theirs.empty()) {
      std::snprintf(buf, sizeof buf, "%.0f", median(theirs));
      torch_col = buf;
      std::snprintf(buf, sizeof buf, "%.2fx", median(ratio));
      speed_col = buf;
    } else if (torch) {
      torch_col = "(python3-torch not installed)";
    }
    std::printf("| %s | %s | %d | %d | %.2f | %.2f | %.0f | %.1f | %.0f%% | %s | %s |\n", r.preset,
                precision_name(r.p), r.B, r.T, s * 1e3, floor_s * 1e3, toks, gflops, 100 * gflops / peak,
                torch_col.c_str(), speed_col.c_str());
    std::fflush(stdout);
  }
  return 0;
}
