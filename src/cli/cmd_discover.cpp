#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/discover_command.h"
#include "cli/progress.h"
#include "cli/task_flags.h"
#include "sae/discover.h"
#include "interp/task_metric.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "ops/error.h"
#include "report/circuit_report.h"

namespace cs {

namespace {

std::string head_name(int idx, int H) { return std::to_string(idx / H) + "." + std::to_string(idx % H); }

}  // namespace

int cmd_discover(int argc, char** argv) {
  Args a = discover_args();
  if (!a.parse(argc, argv)) return 0;
  check_discover_flags(a);

  Model m = load_model(a.str("MODEL"), {.process_weights = discover_processes_weights(a)});
  Tokenizer tok = Tokenizer::for_model_dir(m.dir);
  DiscoverPlan plan = plan_discover(a, m, tok);
  const TokenizedTask& task = plan.task;
  for (const std::string& w : task.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const std::optional<GroundTruth>& truth = plan.truth;
  DiscoverOptions& o = plan.options;
  const std::string level = a.str("level"), pos = a.str("position");
  ProgressBar bar;
  o.progress = [&](const std::string& phase, double f) { bar.update(phase, f); };

  DiscoverResult r = discover(m, task, o, truth ? &*truth : nullptr);
  bar.finish();

  const int H = m.cfg.n_heads;
  std::printf("model %s (%s), task %s: %d positive / %d negative prompts, %d trial(s), %s level, position %s\n",
              a.str("MODEL").c_str(), m.cfg.family.c_str(), task.name.c_str(), r.n_positive, r.n_negative,
              o.trials, level.c_str(), pos.c_str());
  std::printf("\n%-5s %-6s %-16s %-12s %s\n", "rank", "head", o.level == Level::Edge ? "edge count" : "|P\\N|", "softmax", truth ? "in truth" : "");
  std::vector<bool> labels;
  if (truth) labels = head_labels(*truth, m.cfg.n_layers, H);
  std::vector<int> order(r.mean_scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return r.mean_scores[x] > r.mean_scores[y]; });
  const int show = std::min<int>(static_cast<int>(order.size()), std::max<int>(20, static_cast<int>(r.circuit.size())));
  for (int i = 0; i < show; ++i) {
    int h = order[i];
    char score[64];
    if (o.trials > 1) std::snprintf(score, sizeof score, "%.2f ± %.2f", r.mean_scores[h], r.std_scores[h]);
    else std::snprintf(score, sizeof score, "%.0f", r.mean_scores[h]);
    std::printf("%-5d %-6s %-16s %-12.4g %s\n", i + 1, head_name(h, H).c_str(), score, r.mean_softmax[h],
                truth ? (labels[h] ? "yes" : "-") : "");
  }
  std::printf("\ncircuit (%zu heads):", r.circuit.size());
  for (int h : r.circuit) std::printf(" %s", head_name(h, H).c_str());
  std::printf("\n");
  if (truth) {
    std::printf("\nagainst %s (%zu heads):\n", truth->name.c_str(), truth->heads.size());
    if (o.trials > 1) {
      std::vector<double> aucs, prec, rec;
      for (auto& e : r.evals) aucs.push_back(e.auc), prec.push_back(e.at_k.precision), rec.push_back(e.at_k.recall);
      MeanStd ma = mean_std(aucs), mp = mean_std(prec), mr = mean_std(rec);
      std::printf("  per-trial ROC AUC %.3f ± %.3f, precision@%zu %.3f ± %.3f, recall %.3f ± %.3f\n", ma.mean, ma.std,
                  truth->heads.size(), mp.mean, mp.std, mr.mean, mr.std);
    }
    std::printf("  ROC AUC %.3f (%s scores), precision@%zu %.3f, recall %.3f, F1 %.3f\n", r.mean_eval->auc,
                o.trials > 1 ? "mean" : "trial", truth->heads.size(), r.mean_eval->at_k.precision,
                r.mean_eval->at_k.recall, r.mean_eval->at_k.f1);
  }
  if (r.faith) {
    std::printf("\nfaithfulness (%s ablation of the other heads, %s): full model %.4g, no heads %.4g,\n"
                "  circuit keeps %.1f%% of the full metric; CPR %.3f, CMD %.3f\n",
                to_string(o.faith.ablation).c_str(), metric_name(task.metric), r.faith->full, r.faith->empty,
                100 * r.circuit_faithfulness, r.faith->cpr, r.faith->cmd);
  }
  std::printf("\ntime: forward passes %.3f s, SAE training %.3f s, codes %.3f s, scores %.3f s, faithfulness %.3f s, total %.3f s\n",
              r.seconds_collect, r.seconds_train, r.seconds_codes, r.seconds_scores, r.seconds_faithfulness, r.seconds_total);

  if (!a.str("out").empty()) {
    std::ostringstream cl;
    cl << "circuitscan discover";
    for (int i = 0; i < argc; ++i) cl << " " << argv[i];
    write_outputs(a.str("out"), r, discover_run_info(a, m, plan, cl.str()));
    std::printf("wrote %s/{circuit.json,circuit.dot,report.html}\n", a.str("out").c_str());
  }
  return 0;
}

}  // namespace cs
