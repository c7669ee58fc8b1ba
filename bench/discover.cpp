// bench/discover: wall time and achieved GFLOP/s of each phase of `discover` with the paper's
// settings (250 + 250 IOI prompts, 10 SAE training prompts, 200 features, 500 full-batch epochs),
// next to each phase's time at this machine's sgemm peak; on GPT-2-small-shaped random weights
// and on the shipped zoo model when it is present. With python3-torch installed, also our SAE
// training against a faithful PyTorch port on the same data shape, in interleaved pairs (ours,
// port, ours, port, ...) so that both sides of each ratio see the same machine state.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_util.h"
#include "sae/discover.h"
#include "sae/sae_method.h"
#include "interp/head_outputs.h"
#include "model/init.h"
#include "model/process_weights.h"
#include "model/tokenizer.h"
#include "ops/process_setup.h"

using namespace cs;

namespace {

void row(const char* phase, double s, double flops, double peak) {
  if (flops > 0)
    std::printf("| %s | %.3f | %.1f | %.0f%% | %.3f |\n", phase, s, flops / s / 1e9,
                100 * flops / s / 1e9 / peak, flops / (peak * 1e9));
  else
    std::printf("| %s | %.3f | - | - | - |\n", phase, s);
}

void bench_model(const std::string& label, const Model& m, const TokenizedTask& task, double peak,
                 int epochs) {
  DiscoverOptions o;
  o.sae.epochs = epochs;
  o.score = SaeScore::Paper;  // the paper's pipeline, as the table's label says
  o.faithfulness = false;
  DiscoverResult r = discover(m, task, o, nullptr);
  std::printf("\n%s: %d layers x %d heads, d_model %d; %d+%d prompts, %d SAE epochs\n\n", label.c_str(),
              m.cfg.n_layers, m.cfg.n_heads, m.cfg.d_model, r.n_positive, r.n_negative, epochs);
  std::printf("| phase | seconds | GFLOP/s | %% of sgemm peak | seconds at peak |\n|---|---|---|---|---|\n");
  row("forward passes", r.seconds_collect, r.collect_flops, peak);
  row("SAE training", r.seconds_train, r.train_flops, peak);
  row("codes", r.seconds_codes, 0, peak);
  row("scores", r.seconds_scores, 0, peak);
  row("total", r.seconds_total, r.collect_flops + r.train_flops, peak);
  std::fflush(stdout);
}

double torch_sae_seconds(int rows, int d) {
  // In PyTorch's own default environment, not the OpenMP spin setting setup_process gave us.
  return bench::command_number("env -u GOMP_SPINCOUNT -u CS_NO_REEXEC /usr/bin/python3 " + std::string(CS_SOURCE_DIR) + "/bench/torch_sae_train.py " +
                               std::to_string(rows) + " " + std::to_string(d));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// One SAE training trial of ours (discover's trial: 10 training prompts, the paper's settings)
// then one run of the PyTorch port on the same shape, `pairs` times; the per-pair ratios and
// their median.
void sae_against_torch(const Model& m, const TokenizedTask& task, int pairs) {
  const Tensor pos = collect_head_outputs(m, task.clean, PositionChoice{});
  const Tensor neg = collect_head_outputs(m, task.negative, PositionChoice{});
  SaeMethodOptions so;
  so.edges = false;
  const int rows = so.train_prompts * m.cfg.n_heads_total();
  std::printf("\nSAE training, one trial (%d rows x %d dims, %d features, %d epochs): ours and the "
              "PyTorch port (bench/torch_sae_train.py), interleaved\n\n",
              rows, m.cfg.d_model, so.sae.n_features, so.sae.epochs);
  std::vector<double> ours, port, ratio;
  for (int i = 0; i < pairs; ++i) {
    const double s = run_sae_trial(pos, neg, m.cfg.n_heads, so, i).seconds_train;
    const double t = torch_sae_seconds(rows, m.cfg.d_model);
    if (t <= 0) {
      std::printf("PyTorch port: python3-torch not installed, comparison skipped\n");
      return;
    }
    if (i == 0) std::printf("| pair | ours (s) | PyTorch port (s) | ratio |\n|---|---|---|---|\n");
    std::printf("| %d | %.3f | %.3f | %.1fx |\n", i + 1, s, t, t / s);
    std::fflush(stdout);
    ours.push_back(s), port.push_back(t), ratio.push_back(t / s);
  }
  std::printf("| median | %.3f | %.3f | %.1fx |\n", median(ours), median(port), median(ratio));
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  bench::check_flags(argc, argv, "discover [--quick]", {"--quick"});
  const bool quick = argc > 1;
  const double peak = bench::sgemm_peak_gflops();
  std::printf("sgemm peak on this machine: %.1f GFLOP/s (2048^3, best of 5)\n", peak);
  Tokenizer tok = Tokenizer::for_model_dir(std::string(CS_SOURCE_DIR) + "/data/gpt2-tokenizer");
  TaskOptions to;
  to.n = 250;
  TokenizedTask ioi = make_task("ioi", tok, to);

  const std::string zoo = std::string(CS_SOURCE_DIR) + "/models/toy-gpt2-4l";
  if (std::filesystem::exists(zoo + "/config.json")) {
    Model z = load_model(zoo, {.process_weights = true});
    const Timer timer;
    bench_model("shipped model models/toy-gpt2-4l", z, ioi, peak, 500);
    std::printf("(whole discover on the zoo model, no faithfulness: %.3f s)\n", timer.seconds());
  }
  {
    Model small = random_model(preset_config("toy-gpt2-4l"), 1);
    process_weights(small);
    bench_model("toy-gpt2-4l-shaped random weights", small, ioi, peak, 500);
    sae_against_torch(small, ioi, 5);
  }
  if (!quick) {
    Model g = random_model(preset_config("gpt2-small"), 1);
    process_weights(g);
    bench_model("GPT-2-small-shaped random weights", g, ioi, peak, 500);
  }
  return 0;
}
