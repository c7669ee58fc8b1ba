// bench/discover_methods: the methods `discover --method eap`, `--method eap-ig` and `--method
// patching` run (compare/methods.h run_method: the scores, without the circuit files) on the
// GPT-2-small shape (random weights, 12 x 12 heads, d_model 768; MLP edges: 32,491 edges) on IOI
// prompts, each beside its peer measured in the same run, the runs interleaved (A, B, A, B, ...):
//   eap, eap-ig   with MLP nodes (the graph `discover` scores) and without (EapOptions::mlp_nodes
//                 = false: heads, input and logits only), and their wall-time ratio (issue 21:
//                 MLP edges may cost at most 20% more);
//   patching      each trial from the clean run's residual entering its layer, and the naive
//                 path (PatchingOptions::reuse_clean_residual = false: every trial a whole
//                 forward), and their ratio; the same scores.
// Each row: median wall time of the repetitions, the dense matmul FLOPs of one run and their
// share of this machine's sgemm peak, measured in the same run.
//   discover_methods [--prompts N] [--patching-prompts N] [--reps R] [--quick]
//     defaults: 100 IOI prompts (patching: the same), 1 repetition; --quick: toy-gpt2-4l shape
// FLOPs counted (per token, per layer): q/k/v 6 D^2, W_O 2 D^2, MLP 4 D d_mlp, attention 4 D t
// over the t <= T keys of a causal row; a backward pass twice its forward; EAP's scores one GEMM
// per backward pass of 2 D x (edges) per token (each receiver's input gradient against every
// sender upstream of it). Patching: the layers its trials run (layer_passes), and the
// whole-vocabulary unembedding of each prompt's last row (2 D V) in every pass with logits (all
// but the Resample source's). EAP's unembedding (the metric's few columns) and elementwise work
// are left out, so its percentage is a lower bound on the machine's use.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "compare/methods.h"
#include "model/init.h"
#include "model/process_weights.h"
#include "model/tokenizer.h"
#include "ops/process_setup.h"

using namespace cs;

namespace {

// Dense matmul FLOPs of one forward pass over the first n prompts.
double forward_flops(const ModelConfig& c, const TokenizedTask& task, size_t n) {
  const double D = c.d_model, F = c.d_mlp;
  double f = 0;
  for (size_t i = 0; i < n; ++i) {
    const double T = static_cast<double>(task.clean[i].size());
    f += c.n_layers * (T * (8 * D * D + 4 * D * F) + 4 * D * T * (T + 1) / 2);
  }
  return f;
}

size_t tokens_of(const TokenizedTask& task, size_t n) {
  size_t t = 0;
  for (size_t i = 0; i < n; ++i) t += task.clean[i].size();
  return t;
}

double stat(const MethodResult& r, const char* k) {
  auto it = r.stats.find(k);
  return it == r.stats.end() ? 0.0 : it->second;
}

// One row of the table: a method with its options, and the FLOPs of a run given its result.
struct Row {
  std::string method, variant;
  MethodId id;
  MethodOptions options;
  std::function<double(const MethodResult&)> flops;
  std::vector<double> wall, cpu;
  MethodResult last;
};

Row eap_row(MethodId id, bool mlp_nodes, const Model& m, const TokenizedTask& task, int n) {
  Row row{method_info(id).name, mlp_nodes ? "with MLP edges" : "without MLP edges", id, {}, nullptr, {}, {}, {}};
  row.options.settings.n_prompts = n;
  row.options.settings.ablation = AblationKind::Resample;
  row.options.eap.mlp_nodes = mlp_nodes;
  const double fwd = forward_flops(m.cfg, task, n), tokens = static_cast<double>(tokens_of(task, n));
  const double edges = eap_graph(m.cfg, row.options.eap).n_edges(), D = m.cfg.d_model;
  // Passes over the whole prompt set: EAP corrupt + clean forward, one backward; EAP-IG corrupt
  // and clean forward, then per step one forward and one backward.
  const int steps = id == MethodId::Eap ? 0 : row.options.eap.steps;
  const double fw = 2 + steps, bw = id == MethodId::Eap ? 1 : steps;
  row.flops = [=](const MethodResult&) { return fw * fwd + bw * (2 * fwd + 2.0 * tokens * D * edges); };
  return row;
}

Row patching_row(bool reuse, const Model& m, const TokenizedTask& task, int n) {
  Row row{"patching", reuse ? "from the clean residual" : "whole forwards (naive)", MethodId::Patching, {}, nullptr,
          {}, {}, {}};
  row.options.settings.n_prompts = n;
  row.options.settings.ablation = AblationKind::Resample;
  row.options.patching.reuse_clean_residual = reuse;
  const double layer = forward_flops(m.cfg, task, n) / m.cfg.n_layers;
  const double unembed = 2.0 * n * m.cfg.d_model * m.cfg.vocab_size;
  row.flops = [=](const MethodResult& r) {
    return stat(r, "layer_passes") * layer + (stat(r, "forward_passes") - 1) * unembed;
  };
  return row;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs the rows of one group interleaved, reps times, and prints them and the ratios of the
// first row's median wall and CPU times to the second's (CPU time: steadier on a shared machine).
void run_group(std::vector<Row>& rows, const Model& m, const TokenizedTask& task, int reps, double peak) {
  for (int rep = 0; rep < reps; ++rep)
    for (Row& row : rows) {
      const Timer timer;
      row.last = run_method(row.id, m, task, row.options, 1);
      row.wall.push_back(timer.seconds());
      row.cpu.push_back(timer.cpu_seconds());
    }
  for (const Row& row : rows) {
    const double wall = median(row.wall), f = row.flops(row.last);
    const std::string layers = row.id == MethodId::Patching ? std::to_string(int64_t(stat(row.last, "layer_passes"))) : "-";
    std::printf("| %s | %s | %d | %.2f | %.2f | %.0f | %.0f | %s | %.1f | %.1f | %.0f%% |\n", row.method.c_str(),
                row.variant.c_str(), row.options.settings.n_prompts, wall, median(row.cpu),
                stat(row.last, "forward_passes"), stat(row.last, "backward_passes"), layers.c_str(), f / 1e9,
                f / 1e9 / wall, 100 * f / 1e9 / wall / peak);
  }
  std::printf("|  | ratio %s / %s: wall %.3f, CPU %.3f |  |  |  |  |  |  |  |  |  |\n", rows[0].variant.c_str(),
              rows[1].variant.c_str(), median(rows[0].wall) / median(rows[1].wall),
              median(rows[0].cpu) / median(rows[1].cpu));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  int n = 100, np = -1, reps = 1;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--prompts" && i + 1 < argc) n = static_cast<int>(bench::int_arg(argv[++i], "--prompts", 1, 100000));
    else if (a == "--patching-prompts" && i + 1 < argc)
      np = static_cast<int>(bench::int_arg(argv[++i], "--patching-prompts", 0, 100000));
    else if (a == "--reps" && i + 1 < argc) reps = static_cast<int>(bench::int_arg(argv[++i], "--reps", 1, 100));
    else {
      std::fprintf(stderr, "error: unknown argument '%s' (use --prompts N, --patching-prompts N, --reps R, --quick)\n",
                   a.c_str());
      return 2;
    }
  }
  if (np < 0) np = n;
  const std::string preset = quick ? "toy-gpt2-4l" : "gpt2-small";
  Model m = random_model(preset_config(preset), 1);
  process_weights(m);
  const Tokenizer tok = Tokenizer::for_model_dir(std::string(CS_SOURCE_DIR) + "/data/gpt2-tokenizer");
  TaskOptions to;
  to.n = std::max(n, np);
  const TokenizedTask task = make_task("ioi", tok, to);

  const double peak = bench::sgemm_peak_gflops();
  std::printf("%s shape, random weights: %d x %d heads, d_model %d, %d edges (%d without MLP nodes); IOI prompts\n"
              "(%zu tokens in the first %d); resample ablation; %d interleaved repetition(s), medians; sgemm peak now\n"
              "%.0f GFLOP/s\n\n",
              preset.c_str(), m.cfg.n_layers, m.cfg.n_heads, m.cfg.d_model, Graph(m.cfg).n_edges(),
              eap_graph(m.cfg, EapOptions{.mlp_nodes = false}).n_edges(), tokens_of(task, n), n, reps, peak);
  std::printf("| method | graph / path | prompts | wall s | CPU s | forwards | backwards | layer passes | GFLOP (dense) "
              "| GFLOP/s | %% of sgemm peak |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (MethodId id : {MethodId::Eap, MethodId::EapIg}) {
    std::vector<Row> rows = {eap_row(id, true, m, task, n), eap_row(id, false, m, task, n)};
    run_group(rows, m, task, reps, peak);
  }
  if (np > 0) {
    std::vector<Row> rows = {patching_row(false, m, task, np), patching_row(true, m, task, np)};
    run_group(rows, m, task, reps, peak);
  }
  std::printf("\nforwards / backwards: passes counted by the method (patching: whole or partial forwards), per\n"
              "batch of prompts; layer passes: the layers patching's forwards ran. The machine may be shared: read\n"
              "the percentages beside the peak measured above, and the ratios, measured interleaved.\n");
  return 0;
}
