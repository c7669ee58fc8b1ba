// bench/sae_variants: node ROC AUC (mean ± std over trials) and wall time of the discrete-SAE
// method's variants on every task of a model that ships reference circuits (MODEL/circuits/
// TASK.json): the paper's scoring with mean and last positions, the edge variant, the
// null-corrected score, the null-corrected score confirmed by one attribution pass, and the
// paper's score confirmed the same way.
//   bench/sae_variants [MODEL] [TRIALS] [SCORES]   (default models/toy-gpt2-4l, 5 trials, every
//   variant; SCORES: comma-separated score names to keep, e.g. paper,confirmed)
#include <cstdio>
#include <filesystem>
#include <string>

#include "sae/discover.h"
#include "model/tokenizer.h"
#include "bench_util.h"
#include "ops/process_setup.h"
#include "ops/timer.h"

using namespace cs;

int main(int argc, char** argv) {
  cs::setup_process(argv);
  const std::string model_dir = argc > 1 ? argv[1] : std::string(CS_SOURCE_DIR) + "/models/toy-gpt2-4l";
  const int trials = argc > 2 ? static_cast<int>(bench::int_arg(argv[2], "trials", 1, 1000)) : 5;
  const std::string keep = argc > 3 ? "," + std::string(argv[3]) + "," : "";
  Model m = load_model(model_dir, {.process_weights = true});
  Tokenizer tok = Tokenizer::for_model_dir(model_dir);
  struct Variant { const char* name; const char* score; PositionReduce pos; Level level; };
  const Variant variants[] = {
      {"paper (mean pos)", "paper", PositionReduce::Mean, Level::Node},
      {"paper (last pos)", "paper", PositionReduce::Last, Level::Node},
      {"paper edge->node", "paper", PositionReduce::Mean, Level::Edge},
      {"null-corrected", "null", PositionReduce::Mean, Level::Node},
      {"null (last pos)", "null", PositionReduce::Last, Level::Node},
      {"causal (null+attr)", "causal", PositionReduce::Mean, Level::Node},
      {"confirmed (paper+attr)", "confirmed", PositionReduce::Mean, Level::Node},
  };
  std::printf("model %s, %d trials per cell; node ROC AUC mean ± std, seconds per discover run\n\n", model_dir.c_str(), trials);
  std::printf("| task | variant | AUC | precision@k | seconds |\n|---|---|---|---|---|\n");
  for (const char* task_name : {"ioi", "greater-than", "docstring", "induction"}) {
    auto truth_path = std::filesystem::path(model_dir) / "circuits" / (std::string(task_name) + ".json");
    if (!std::filesystem::exists(truth_path)) {
      std::printf("| %s | (no reference circuit at %s) | | | |\n", task_name, truth_path.c_str());
      continue;
    }
    GroundTruth truth = load_ground_truth(truth_path.string());
    TaskOptions to;
    to.n = 250;
    if (std::string(task_name) == "induction") to.induction_pool = own_induction_words(model_dir, tok);  // as the CLI
    TokenizedTask task = make_task(task_name, tok, to);
    for (const Variant& v : variants) {
      if (!keep.empty() && keep.find("," + std::string(v.score) + ",") == std::string::npos) continue;
      DiscoverOptions o;
      o.trials = trials;
      o.score = parse_sae_score(v.score);
      o.position = v.pos;
      o.level = v.level;
      o.faithfulness = false;
      o.sae.l1 = std::string(task_name) == "docstring" ? 0.05f : 0.02f;
      const Timer timer;
      DiscoverResult r = discover(m, task, o, &truth);
      double s = timer.seconds();
      std::vector<double> aucs, prec;
      for (auto& e : r.evals) aucs.push_back(e.auc), prec.push_back(e.at_k.precision);
      MeanStd a = mean_std(aucs), p = mean_std(prec);
      std::printf("| %s | %s | %.3f ± %.3f | %.3f ± %.3f | %.2f |\n", task_name, v.name, a.mean, a.std,
                  p.mean, p.std, s / trials);
      std::fflush(stdout);
    }
  }
  return 0;
}
