// bench/baselines_grad: wall time of the node-level activation patching, EAP and EAP-IG baselines
// on a random-token logit-difference task (n prompts of T tokens, corrupt = clean with a third of
// the tokens resampled), for gpt2-tiny (tests/data) and random models of preset shapes.
// Usage: baselines_grad [n_prompts] [T] [preset ...]   (default 32 16 gpt2-tiny toy-gpt2-4l)
#include <cstdio>
#include <string>
#include <vector>

#include "bench_util.h"
#include "baselines/activation_patching.h"
#include "attribution/eap.h"
#include "interp/graph.h"
#include "model/init.h"
#include "ops/process_setup.h"

using namespace cs;

int main(int argc, char** argv) {
  cs::setup_process(argv);
  const int n = argc > 1 ? static_cast<int>(bench::int_arg(argv[1], "prompts", 1, 100000)) : 32;
  const int T = argc > 2 ? static_cast<int>(bench::int_arg(argv[2], "tokens", 2, 4096)) : 16;
  std::vector<std::string> presets;
  for (int i = 3; i < argc; ++i) presets.push_back(argv[i]);
  if (presets.empty()) presets = {"gpt2-tiny", "toy-gpt2-4l"};

  std::printf("| model | layers x heads | d_model | edges | method | wall s | CPU s | forwards | backwards |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string& p : presets) {
    const Model m = p == "gpt2-tiny" ? load_model(std::string(CS_SOURCE_DIR) + "/tests/data/gpt2-tiny")
                                     : random_model(preset_config(p), 1);
    const TokenizedTask task = random_token_task(n, T, m.cfg.vocab_size, T / 3, 7);
    MethodSettings s;
    s.n_prompts = n;
    using Fn = MethodResult (*)(const Model&, const TokenizedTask&, const MethodSettings&);
    struct Method { const char* name; Fn fn; };
    const Fn patching = [](const Model& m, const TokenizedTask& t, const MethodSettings& s) { return activation_patching(m, t, s); };
    const Fn eap1 = [](const Model& m, const TokenizedTask& t, const MethodSettings& s) { return eap(m, t, s); };
    const Fn eap_ig5 = [](const Model& m, const TokenizedTask& t, const MethodSettings& s) { return eap_ig(m, t, s); };
    for (const Method& meth : {Method{"activation patching", patching}, Method{"EAP", eap1},
                               Method{"EAP-IG (5 steps)", eap_ig5}}) {
      MethodResult r;
      double cpu = 0;  // process CPU seconds of the median run: stable on a shared machine
      const int reps = m.cfg.n_layers * m.cfg.n_heads > 64 ? 1 : 3;
      const double sec = bench::median_seconds([&] {
        const Timer timer;
        r = meth.fn(m, task, s);
        cpu = timer.cpu_seconds();
      }, reps);
      const auto get = [&](const char* k) { auto it = r.stats.find(k); return it == r.stats.end() ? 0.0 : it->second; };
      std::printf("| %s | %d x %d | %d | %zu | %s | %.3f | %.3f | %.0f | %.0f |\n", p.c_str(), m.cfg.n_layers,
                  m.cfg.n_heads, m.cfg.d_model, static_cast<size_t>(Graph(m.cfg).n_edges()),
                  meth.name, sec, cpu, get("forward_passes"), get("backward_passes"));
      std::fflush(stdout);
    }
  }
  std::printf("\n%d prompts x %d tokens, resample ablation, logit-difference metric; wall s is the median\n"
              "of 3 runs (1 for models over 64 heads), CPU s the process CPU time of the last run\n", n, T);
  return 0;
}
