// bench/discover_methods: `discover --method eap` and `--method eap-ig` (compare/methods.h
// discover_with, as the CLI runs them, faithfulness off) on the GPT-2-small shape (random
// weights, 12 x 12 heads, d_model 768, MLP edges: 32,491 edges) on IOI prompts, with the dense
// matmul FLOPs of the run and their share of this machine's sgemm peak, measured in the same run.
//   discover_methods [--prompts N] [--quick]     (default 100 IOI prompts; --quick: toy-gpt2-4l shape)
// FLOPs counted (per token, per layer): q/k/v 6 D^2, W_O 2 D^2, MLP 4 D d_mlp, attention 4 D t
// over the t <= T keys of a causal row; a backward pass twice its forward; EAP's scores one GEMM
// per backward pass of 2 D x (edges) per token (each receiver's input gradient against every
// sender upstream of it). The unembedding (the metric's few columns) and elementwise work are
// left out, so the percentage is a lower bound on the machine's use.
#include <cstdio>
#include <string>

#include "bench_util.h"
#include "compare/methods.h"
#include "model/init.h"
#include "model/process_weights.h"
#include "model/tokenizer.h"
#include "ops/process_setup.h"

using namespace cs;

namespace {

// Dense matmul FLOPs of one forward pass over the prompts.
double forward_flops(const ModelConfig& c, const TokenizedTask& task, size_t n) {
  const double D = c.d_model, F = c.d_mlp;
  double f = 0;
  for (size_t i = 0; i < n; ++i) {
    const double T = static_cast<double>(task.clean[i].size());
    f += c.n_layers * (T * (8 * D * D + 4 * D * F) + 4 * D * T * (T + 1) / 2);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  int n = 100;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--prompts" && i + 1 < argc) n = static_cast<int>(bench::int_arg(argv[++i], "--prompts", 1, 100000));
    else {
      std::fprintf(stderr, "error: unknown argument '%s' (use --prompts N, --quick)\n", a.c_str());
      return 2;
    }
  }
  const std::string preset = quick ? "toy-gpt2-4l" : "gpt2-small";
  Model m = random_model(preset_config(preset), 1);
  process_weights(m);
  const Tokenizer tok = Tokenizer::for_model_dir(std::string(CS_SOURCE_DIR) + "/data/gpt2-tokenizer");
  TaskOptions to;
  to.n = n;
  const TokenizedTask task = make_task("ioi", tok, to);
  const Graph g(m.cfg);
  size_t tokens = 0;
  for (int i = 0; i < n; ++i) tokens += task.clean[i].size();

  const double peak = bench::sgemm_peak_gflops();
  std::printf("%s shape, random weights: %d x %d heads, d_model %d, %d edges (MLP edges included); %d IOI prompts,\n"
              "%zu tokens; resample ablation; sgemm peak now %.0f GFLOP/s\n\n",
              preset.c_str(), m.cfg.n_layers, m.cfg.n_heads, m.cfg.d_model, g.n_edges(), n, tokens, peak);
  std::printf("| method | wall s | CPU s | forwards | backwards | GFLOP (dense) | GFLOP/s | %% of sgemm peak |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  const double fwd = forward_flops(m.cfg, task, n);
  for (MethodId id : {MethodId::Eap, MethodId::EapIg}) {
    MethodOptions mo;
    mo.settings.n_prompts = n;
    mo.settings.ablation = AblationKind::Resample;
    mo.discover.faithfulness = false;
    const Timer timer;
    const DiscoverResult r = discover_with(id, m, task, mo, nullptr);
    const double wall = timer.seconds(), cpu = timer.cpu_seconds();
    // Passes over the whole prompt set: EAP corrupt + clean forward, one backward; EAP-IG corrupt
    // and clean forward, then per step one forward and one backward.
    const int steps = id == MethodId::Eap ? 0 : mo.eap.steps;
    const double fw = id == MethodId::Eap ? 2 : 2 + steps, bw = id == MethodId::Eap ? 1 : steps;
    const double flops = fw * fwd + bw * (2 * fwd + 2.0 * static_cast<double>(tokens) * m.cfg.d_model * g.n_edges());
    auto stat = [&](const char* k) { auto it = r.stats.find(k); return it == r.stats.end() ? 0.0 : it->second; };
    std::printf("| %s | %.2f | %.2f | %.0f | %.0f | %.1f | %.1f | %.0f%% |\n", method_info(id).name, wall, cpu,
                stat("forward_passes"), stat("backward_passes"), flops / 1e9, flops / 1e9 / wall,
                100 * flops / 1e9 / wall / peak);
    std::fflush(stdout);
  }
  std::printf("\nforwards / backwards: passes counted by the method, per batch of prompts. One run each; the\n"
              "machine may be shared, so read the percentages beside the peak measured above.\n");
  return 0;
}
