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
#include "ops/files.h"
#include "report/circuit_report.h"
#include "report/text_table.h"
#include "sae/code_scores.h"

namespace cs {

namespace {

std::string head_name(int idx, int H) { return std::to_string(idx / H) + "." + std::to_string(idx % H); }

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// A score cell: counts as integers (one trial) or one decimal (a mean), other scores with three
// decimals; "mean ± std" over several trials.
std::string score_cell(double mean, double sd, int trials, bool count) {
  const char* f = count ? (trials > 1 ? "%.1f" : "%.0f") : "%.3f";
  return trials > 1 ? fmt(f, mean) + " ± " + fmt(f, sd) : fmt(f, mean);
}

}  // namespace

int cmd_discover(int argc, char** argv) {
  Args a = discover_args();
  if (!a.parse(argc, argv)) return 0;
  check_discover_flags(a);
  if (!a.str("out").empty()) check_output_dir(a.str("out"), "--out", {"circuit.json", "circuit.dot", "report.html"});

  Model m = load_model(a.str("MODEL"), {.process_weights = discover_processes_weights(a)});
  Tokenizer tok = Tokenizer::for_model_dir(m.dir);
  DiscoverPlan plan = plan_discover(a, m, tok);
  const TokenizedTask& task = plan.task;
  print_warnings(task.warnings);
  const std::optional<GroundTruth>& truth = plan.truth;
  const BosChoice& bos = plan.bos;
  DiscoverOptions& o = plan.options;
  const std::string level = a.str("level"), pos = a.str("position");
  ProgressBar bar;
  o.progress = [&](const std::string& phase, double f) { bar.update(phase, f); };

  DiscoverResult r = discover(m, task, o, truth ? &*truth : nullptr);
  bar.finish();

  const int H = m.cfg.n_heads;
  const std::string rank_name = ranking_label(o), paper_name = paper_score_label(o);
  const bool ranking_is_paper = rank_name == paper_name;
  const bool rank_counts = ranking_is_paper && !o.sae.normalise, paper_counts = !o.sae.normalise || o.level == Level::Edge;
  const std::string metric = metric_label(task);
  std::printf("model %s (%s), task %s: %d positive / %d negative prompts, %d trial%s, %s level, position %s,\n"
              "BOS %s (%s)\n",
              a.str("MODEL").c_str(), m.cfg.family.c_str(), task.name.c_str(), r.n_positive, r.n_negative, o.trials,
              o.trials == 1 ? "" : "s", level.c_str(), pos.c_str(), bos.prepend ? "prepended" : "not prepended", bos.why.c_str());
  std::printf("ranking: %s%s\n", ranking_description(o).c_str(), o.trials > 1 ? " (mean over trials)" : "");
  std::printf("circuit size: %s\n", r.size_rule.c_str());

  std::vector<std::string> header = {"rank", "head", rank_name + (o.trials > 1 ? " (mean ± std)" : "")};
  if (!ranking_is_paper) header.push_back(paper_name);
  header.push_back("softmax(" + paper_name + ")");
  if (truth) header.push_back("in truth");
  header.push_back("in circuit");
  TextTable table(header);
  std::vector<bool> labels, in_circuit(r.mean_scores.size(), false);
  if (truth) labels = head_labels(*truth, m.cfg.n_layers, H);
  for (int h : r.circuit) in_circuit[h] = true;
  std::vector<int> order(r.mean_scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return r.mean_scores[x] > r.mean_scores[y]; });
  const int show = std::min<int>(static_cast<int>(order.size()), std::max<int>(20, static_cast<int>(r.circuit.size()) + 5));
  for (int i = 0; i < show; ++i) {
    const int h = order[i];
    std::vector<std::string> row = {std::to_string(i + 1), head_name(h, H),
                                    score_cell(r.mean_scores[h], r.std_scores[h], o.trials, rank_counts)};
    if (!ranking_is_paper) row.push_back(score_cell(r.paper_scores[h], r.paper_std[h], o.trials, paper_counts));
    row.push_back(fmt("%.3g", r.paper_softmax[h]));
    if (truth) row.push_back(labels[h] ? "yes" : "-");
    row.push_back(in_circuit[h] ? "yes" : "-");
    table.row(row);
  }
  std::printf("\n%s", table.str().c_str());
  if (show < static_cast<int>(order.size())) std::printf("(%zu more heads; all of them in circuit.json)\n", order.size() - show);
  std::printf("\ncircuit (%zu heads):", r.circuit.size());
  for (int h : r.circuit) std::printf(" %s", head_name(h, H).c_str());
  std::printf("\n");
  if (r.boundary_ties > 0)
    std::printf("note: %d more head%s tie%s the last circuit head's %s; the lower head indices were kept\n", r.boundary_ties,
                r.boundary_ties == 1 ? "" : "s", r.boundary_ties == 1 ? "s" : "", rank_name.c_str());
  if (truth) {
    const size_t k = truth->heads.size();
    std::printf("\nagainst %s (%zu heads; used for evaluation only):\n", truth->name.c_str(), k);
    std::printf("  ROC AUC %.3f (of the %s)\n", r.mean_eval->auc, o.trials > 1 ? "mean ranking over trials" : "ranking");
    if (o.trials > 1) {
      std::vector<double> aucs;
      for (auto& e : r.evals) aucs.push_back(e.auc);
      const MeanStd ma = mean_std(aucs);
      std::printf("  ROC AUC per trial %.3f ± %.3f\n", ma.mean, ma.std);
    }
    std::printf("  the circuit (%zu heads): precision %.3f, recall %.3f, F1 %.3f\n", r.circuit.size(),
                r.circuit_eval->precision, r.circuit_eval->recall, r.circuit_eval->f1);
    std::printf("  at the truth's size (top %zu of the ranking): precision = recall = %.3f\n", k, r.mean_eval->at_k.precision);
  }
  if (r.faith) {
    std::printf("\nfaithfulness (%s ablation of the heads outside the circuit; metric: %s):\n"
                "  full model %.4g, all heads ablated %.4g; the circuit (%zu heads) keeps %.1f%% of the full metric;\n"
                "  CPR %.3f, CMD %.3f (over circuit sizes along the ranking)\n",
                to_string(o.faith.ablation).c_str(), metric.c_str(), r.faith->full, r.faith->empty, r.circuit.size(),
                100 * r.circuit_faithfulness, r.faith->cpr, r.faith->cmd);
  } else if (o.faithfulness) {
    std::printf("\nfaithfulness: not computed (task %s has no corrupt prompts)\n", task.name.c_str());
  }
  std::printf("\ntime: forward passes %.3f s, SAE training %.3f s, codes %.3f s, scores %.3f s, faithfulness %.3f s, total %.3f s\n",
              r.seconds_collect, r.seconds_train, r.seconds_codes, r.seconds_scores, r.seconds_faithfulness, r.seconds_total);

  if (!a.str("out").empty()) {
    std::ostringstream cl;
    cl << "circuitscan discover";
    for (int i = 0; i < argc; ++i) cl << " " << argv[i];
    write_outputs(a.str("out"), r, discover_run_info(a, m, plan, r, cl.str()));
    std::printf("wrote %s/{circuit.json,circuit.dot,report.html}\n", a.str("out").c_str());
  }
  return 0;
}

}  // namespace cs
