// ACDC, HISP and subnetwork probing speed (baselines/acdc.h, hisp.h, subnetwork_probing.h): full
// ACDC sweeps on toy-gpt2-4l-shaped models (the shipped models/toy-gpt2-4l if present, and random
// weights) on greater-than prompts (the task the small zoo model shows most of), and the time of
// single edge evaluations on GPT-2-small-shaped random weights on IOI prompts (no full sweep:
// 32,491 edges and 432 q/k/v switches). Prints one table.
//   acdc [--quick | --gpt2] [--prompts N]     --quick skips GPT-2 small, --gpt2 runs only it
// Times are wall clock; the machine's load and OMP_NUM_THREADS matter (run with the threads the
// machine really has free).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench_util.h"
#include "baselines/acdc.h"
#include "baselines/hisp.h"
#include "baselines/subnetwork_probing.h"
#include "model/init.h"
#include "model/process_weights.h"
#include "model/tokenizer.h"
#include "ops/process_setup.h"

using namespace cs;

namespace {

// One table row; cpu = process CPU seconds of the run (all threads).
void row(const char* model, const std::string& what, const MethodResult& r, double cpu) {
  auto st = [&](const char* k) { return r.stats.count(k) ? r.stats.at(k) : 0.0; };
  const double evals = st("edges_evaluated");
  std::printf("| %-28s | %-38s | %6.0f | %5.0f | %8.4f | %8.2f | %8.2f | %8.2f |\n", model, what.c_str(),
              evals, st("edges_kept"), st("final_metric"), r.seconds, cpu,
              st("cpu_ms_per_evaluation"));
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  bool quick = false, only_gpt2 = false;
  int n = 100;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--gpt2") only_gpt2 = true;
    else if (a == "--prompts" && i + 1 < argc) n = static_cast<int>(bench::int_arg(argv[++i], "--prompts", 1, 100000));
  }
  Tokenizer tok = Tokenizer::for_model_dir(std::string(CS_SOURCE_DIR) + "/data/gpt2-tokenizer");
  TaskOptions to;
  to.n = n;
  to.variant = "acdc";  // ACDC's IOI dataset: template 1, ABBA
  const TokenizedTask ioi = make_task("ioi", tok, to);
  TaskOptions tg;
  tg.n = n;
  const TokenizedTask gt = make_task("greater-than", tok, tg);
  std::printf("%d prompts (greater-than: %zu tokens, IOI: %zu tokens), KL metric, resample ablation\n", n,
              gt.clean[0].size(), ioi.clean[0].size());
  std::printf("cpu s: process CPU seconds of the run (all threads); ms/eval: ACDC sweep CPU ms per edge evaluation\n");
  std::printf("| %-28s | %-38s | %6s | %5s | %8s | %8s | %8s | %8s |\n", "model", "run", "evals",
              "kept", "final KL", "wall s", "cpu s", "ms/eval");
  std::printf("|------------------------------|----------------------------------------|--------|-------|----------|----------|----------|----------|\n");

  MethodSettings s;
  s.n_prompts = n;
  auto sweep = [&](const char* name, const Model& m) {
    for (double tau : {0.01, 0.001, -1e9}) {  // -1e9: nothing removed, every edge evaluated
      AcdcOptions t;
      t.tau = tau;
      const Timer timer;
      const MethodResult r = acdc(m, gt, s, t);
      const std::string ts = tau < -1 ? "-inf (worst)" : std::to_string(tau).substr(0, 6);
      row(name, "greater-than: ACDC, tau " + ts, r, timer.cpu_seconds());
    }
    Timer timer;
    const MethodResult h = hisp(m, gt, s);
    row(name, "greater-than: HISP (1 fwd + 1 bwd)", h, timer.cpu_seconds());
    SpOptions sp;
    sp.steps = 10;
    timer.restart();
    const MethodResult p = subnetwork_probing(m, gt, s, sp);
    row(name, "greater-than: SP, 10 of 200 steps", p, timer.cpu_seconds());
  };
  const std::string zoo = std::string(CS_SOURCE_DIR) + "/models/toy-gpt2-4l";
  if (!only_gpt2 && std::filesystem::exists(zoo + "/config.json")) sweep("models/toy-gpt2-4l (trained)", load_model(zoo, {.process_weights = true}));
  if (!only_gpt2) {
    Model small = random_model(preset_config("toy-gpt2-4l"), 1);
    process_weights(small);
    sweep("toy-gpt2-4l random weights", small);
  }
  if (!quick) {
    Model g = random_model(preset_config("gpt2-small"), 1);
    process_weights(g);
    AcdcOptions q;
    q.tau = 0.01;
    q.max_evaluations = 10;
    Timer timer;
    MethodResult r = acdc(g, ioi, s, q);
    row("gpt2-small random weights", "IOI: 10 edges into output", r, timer.cpu_seconds());
    for (int top : {11, 6, 0}) {  // tau -inf: every edge kept, everything downstream recomputed
      q.tau = -1e9;
      q.top_layer = top;
      timer.restart();
      r = acdc(g, ioi, s, q);
      row("gpt2-small random weights", "IOI: 10 edges into m" + std::to_string(top) + ", all alive", r, timer.cpu_seconds());
    }
  }
  return 0;
}
