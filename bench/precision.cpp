// bench/precision: the discrete-SAE method under bf16 precision against exact, on every task of
// a model that ships reference circuits (default the zoo model): node ROC AUC (mean ± std over
// trials) under each precision, and how far the head rankings agree (Spearman correlation of the
// mean scores, overlap of the top-k heads with k the reference circuit's size). bf16 is the
// model's f32 weights rounded to bf16 and every weight matmul reading bf16-rounded inputs
// (ops/gemm.h); the SAEs themselves train in f32 either way.
//   bench/precision [MODEL] [TRIALS] [SCORES]   (default models/toy-gpt2-4l, 5, paper,confirmed)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <sstream>
#include <string>

#include "bench_util.h"
#include "model/tokenizer.h"
#include "ops/process_setup.h"
#include "ops/timer.h"
#include "evaluation/roc.h"
#include "sae/discover.h"

using namespace cs;

namespace {

std::vector<int> top(const std::vector<double>& x, size_t k) {
  std::vector<int> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return x[a] > x[b]; });
  idx.resize(std::min(k, idx.size()));
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace

int main(int argc, char** argv) {
  cs::setup_process(argv);
  const std::string model_dir = argc > 1 ? argv[1] : std::string(CS_SOURCE_DIR) + "/models/toy-gpt2-4l";
  const int trials = argc > 2 ? static_cast<int>(bench::int_arg(argv[2], "trials", 1, 1000)) : 5;
  std::vector<std::string> scores;
  std::stringstream ss(argc > 3 ? argv[3] : "paper,confirmed");
  for (std::string s; std::getline(ss, s, ',');) scores.push_back(s);
  Model exact = load_model(model_dir, {.process_weights = true, .precision = Precision::Exact});
  Model bf16 = load_model(model_dir, {.process_weights = true, .precision = Precision::BF16});
  Tokenizer tok = Tokenizer::for_model_dir(model_dir);
  std::printf("model %s, %d trials per cell (same seeds under both precisions); node ROC AUC mean ± std\n\n",
              model_dir.c_str(), trials);
  std::printf("| task | score | AUC exact | AUC bf16 | Spearman of mean scores | top-k overlap (k = truth size) | seconds exact / bf16 |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const char* task_name : {"ioi", "greater-than", "docstring", "induction"}) {
    auto truth_path = std::filesystem::path(model_dir) / "circuits" / (std::string(task_name) + ".json");
    if (!std::filesystem::exists(truth_path)) continue;
    GroundTruth truth = load_ground_truth(truth_path.string());
    TaskOptions to;
    to.n = 250;
    if (std::string(task_name) == "induction") to.induction_pool = own_induction_words(model_dir, tok);
    TokenizedTask task = make_task(task_name, tok, to);
    for (const std::string& score : scores) {
      DiscoverOptions o;
      o.trials = trials;
      o.score = parse_sae_score(score);
      o.faithfulness = false;
      o.sae.l1 = std::string(task_name) == "docstring" ? 0.05f : 0.02f;
      DiscoverResult r[2];
      double secs[2];
      for (int i = 0; i < 2; ++i) {
        const Timer timer;
        r[i] = discover(i == 0 ? exact : bf16, task, o, &truth);
        secs[i] = timer.seconds();
      }
      MeanStd a[2];
      for (int i = 0; i < 2; ++i) {
        std::vector<double> aucs;
        for (auto& e : r[i].evals) aucs.push_back(e.auc);
        a[i] = mean_std(aucs);
      }
      int k = 0;
      for (bool x : head_labels(truth, exact.cfg.n_layers, exact.cfg.n_heads)) k += x;
      const std::vector<int> te = top(r[0].mean_scores, k), tb = top(r[1].mean_scores, k);
      std::vector<int> common;
      std::set_intersection(te.begin(), te.end(), tb.begin(), tb.end(), std::back_inserter(common));
      std::printf("| %s | %s | %.3f ± %.3f | %.3f ± %.3f | %.3f | %zu / %d | %.2f / %.2f |\n", task_name,
                  score.c_str(), a[0].mean, a[0].std, a[1].mean, a[1].std,
                  spearman(r[0].mean_scores, r[1].mean_scores), common.size(), k, secs[0] / trials,
                  secs[1] / trials);
      std::fflush(stdout);
    }
  }
  return 0;
}
