#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/discover_command.h"
#include "cli/precision_flag.h"
#include "cli/progress.h"
#include "cli/task_flags.h"
#include "attribution/edge_patching.h"
#include "sae/discover.h"
#include "interp/task_metric.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "ops/format.h"
#include "ops/error.h"
#include "ops/files.h"
#include "report/circuit_report.h"
#include "report/mib_submission.h"
#include "report/text_table.h"
#include "sae/code_scores.h"

namespace cs {

namespace {

std::string head_name(int idx, int H) { return HeadId{idx / H, idx % H}.str(); }

const std::vector<std::string> kOutputs = {"circuit.json", "circuit.dot", "report.html", "graph.json"};

// A score cell: counts as integers (one trial) or one decimal (a mean), other scores with three
// decimals (the baselines' with four significant digits); "mean ± std" over several trials.
std::string score_cell(double mean, double sd, int trials, bool count, bool sae) {
  const char* f = count ? (trials > 1 ? "%.1f" : "%.0f") : sae ? "%.3f" : "%.4g";
  return trials > 1 ? fmt(f, mean) + " ± " + fmt(f, sd) : fmt(f, mean);
}

void print_header(const Args& a, const DiscoverResult& r, const Model& m, const TokenizedTask& task, const MethodOptions& mo,
                  const RunLabels& l, const BosChoice& bos) {
  const DiscoverOptions& o = mo.discover;
  const std::string bos_s = std::string(bos.prepend ? "prepended" : "not prepended") + " (" + bos.why + ")";
  if (l.sae)
    std::printf("model %s (%s), task %s: %d positive / %d negative prompts, %d trial%s, %s level, position %s,\nBOS %s\n",
                a.str("MODEL").c_str(), m.cfg.family.c_str(), task.name.c_str(), r.n_positive, r.n_negative, o.trials,
                o.trials == 1 ? "" : "s", l.level.c_str(), a.str("position").c_str(), bos_s.c_str());
  else
    std::printf("model %s (%s), task %s: method %s, %zu prompts, %s ablation, %zu run%s,\nBOS %s\n", a.str("MODEL").c_str(),
                m.cfg.family.c_str(), task.name.c_str(), l.info.name, std::min<size_t>(mo.settings.n_prompts, task.size()),
                to_string(mo.settings.ablation).c_str(), r.head_scores.size(), r.head_scores.size() == 1 ? "" : "s",
                bos_s.c_str());
  std::printf("ranking: %s%s\n", ranking_description(o, l.info).c_str(), r.head_scores.size() > 1 ? " (mean over trials)" : "");
  std::printf("circuit size: %s\n", r.size_rule.c_str());
  if (const std::string note = post_norm_edge_note(m.cfg); l.info.edges && !note.empty())
    std::printf("note: %s\n", note.c_str());
}

// The ranking, the circuit, and what graph.json keeps.
void print_circuit(const DiscoverResult& r, const Model& m, const RunLabels& l, const GroundTruth* truth) {
  const int H = m.cfg.n_heads, trials = static_cast<int>(r.head_scores.size());
  const bool two = l.sae && l.ranking != l.paper;
  std::vector<std::string> header = {"rank", "head", l.ranking + (trials > 1 ? " (mean ± std)" : "")};
  if (two) header.push_back(l.paper);
  if (l.sae) header.push_back("softmax(" + l.paper + ")");
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
                                    score_cell(r.mean_scores[h], r.std_scores[h], trials, l.rank_counts, l.sae)};
    if (two) row.push_back(score_cell(r.paper_scores[h], r.paper_std[h], trials, l.paper_counts, true));
    if (l.sae) row.push_back(fmt("%.3g", r.paper_softmax[h]));
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
                r.boundary_ties == 1 ? "" : "s", r.boundary_ties == 1 ? "s" : "", l.ranking.c_str());
  if (r.graph) {
    int edges = 0, nodes = 0;
    for (char c : r.graph->edge_in_graph) edges += c;
    for (char c : r.graph->node_in_graph) nodes += c;
    std::printf("graph circuit: %d of %d edges, %d of %d nodes besides the logits (%s)\n", edges, r.graph->graph.n_edges(),
                nodes, r.graph->graph.n_senders(),
                l.info.id == MethodId::Acdc ? "ACDC's kept edges"
                : l.info.edges              ? "the best edges by |score|"
                                            : "every edge among the circuit's heads, the MLPs and the input");
  }
}

void print_evaluation(const DiscoverResult& r, const GroundTruth& truth) {
  const size_t k = truth.heads.size();
  const bool several = r.head_scores.size() > 1;
  std::printf("\nagainst %s (%zu heads; used for evaluation only):\n", truth.name.c_str(), k);
  std::printf("  ROC AUC %.3f (of the %s)\n", r.mean_eval->auc, several ? "mean ranking over trials" : "ranking");
  if (several) {
    std::vector<double> aucs;
    for (auto& e : r.evals) aucs.push_back(e.auc);
    const MeanStd ma = mean_std(aucs);
    std::printf("  ROC AUC per trial %.3f ± %.3f\n", ma.mean, ma.std);
  }
  std::printf("  the circuit (%zu heads): precision %.3f, recall %.3f, F1 %.3f\n", r.circuit.size(),
              r.circuit_eval->precision, r.circuit_eval->recall, r.circuit_eval->f1);
  std::printf("  at the truth's size (top %zu of the ranking): precision = recall = %.3f\n", k, r.mean_eval->at_k.precision);
  if (r.edge_auc)
    std::printf("  edge ROC AUC %.3f (over every head -> later head edge, q/k/v merged%s)\n", *r.edge_auc,
                r.edge_auc_with_logits ? ", and head -> logits edge" : "");
  if (r.graph_edge_auc)
    std::printf("  edge ROC AUC %.3f (over all %zu edges of the graph: input, MLP and logits edges included)\n",
                *r.graph_edge_auc, r.mean_edge_scores.size());
}

void print_faithfulness_and_time(const DiscoverResult& r, const DiscoverOptions& o, const TokenizedTask& task,
                                 const RunLabels& l) {
  if (r.faith) {
    std::printf("\nfaithfulness (%s ablation of the heads outside the circuit; metric: %s):\n"
                "  full model %.4g, all heads ablated %.4g; the circuit (%zu heads) keeps %.1f%% of the full metric;\n"
                "  CPR %.3f, CMD %.3f (over circuit sizes along the ranking)\n",
                to_string(o.faith.ablation).c_str(), metric_label(task).c_str(), r.faith->full, r.faith->empty,
                r.circuit.size(), 100 * r.circuit_faithfulness, r.faith->cpr, r.faith->cmd);
  } else if (o.faithfulness) {
    std::printf("\nfaithfulness: not computed (task %s has no corrupt prompts)\n", task.name.c_str());
  }
  if (r.mib_faith) {
    const MibFaithfulness& f = *r.mib_faith;
    std::printf("MIB faithfulness (edge level, as MIB's circuit track: the best floor(p x %d) edges kept for\n"
                "  p = 0.001, ..., 1, every other edge patched from the corrupt prompt; f = (M - M(no edge)) /\n"
                "  (M(all) - M(no edge)), %d prompts): CPR %.3f, CMD %.3f (areas over p)\n",
                f.edges.back(), f.n_prompts, f.cpr, f.cmd);
  } else if (!r.mib_faith_note.empty()) {
    std::printf("MIB faithfulness: not computed (%s)\n", r.mib_faith_note.c_str());
  }
  if (l.sae)
    std::printf("\ntime: forward passes %.3f s, SAE training %.3f s, codes %.3f s, scores %.3f s, faithfulness %.3f s, total %.3f s\n",
                r.seconds_collect, r.seconds_train, r.seconds_codes, r.seconds_scores, r.seconds_faithfulness, r.seconds_total);
  else
    std::printf("\ntime: %s %.3f s, faithfulness %.3f s, total %.3f s\n", l.info.name, r.seconds_scores,
                r.seconds_faithfulness, r.seconds_total);
}

void write_run(const Args& a, int argc, char** argv, const DiscoverResult& r, const Model& m, const DiscoverPlan& p) {
  std::ostringstream cl;
  cl << "circuitscan discover";
  for (int i = 0; i < argc; ++i) cl << " " << argv[i];
  write_outputs(a.str("out"), r, discover_run_info(a, m, p, r, cl.str()));
  std::printf("wrote %s/{circuit.json,circuit.dot,report.html,graph.json}\n", a.str("out").c_str());
}

}  // namespace

int cmd_discover(int argc, char** argv) {
  Args a = discover_args();
  if (!a.parse(argc, argv)) return 0;
  check_discover_flags(a);
  if (!a.str("out").empty()) check_output_dir(a.str("out"), "--out", kOutputs);

  Model m = load_model(a.str("MODEL"), {.process_weights = discover_processes_weights(a),
                                        .precision = precision_from_flag(a)});
  Tokenizer tok = Tokenizer::for_model_dir(m.dir);
  DiscoverPlan plan = plan_discover(a, m, tok);
  print_warnings(plan.task.warnings);
  const GroundTruth* truth = plan.truth ? &*plan.truth : nullptr;
  const std::string mib_model = a.str("mib-model").empty() ? mib_model_name(a.str("MODEL")) : a.str("mib-model");
  const std::string mib_dir = a.str("mib").empty() ? "" : a.str("mib") + "/" + mib_folder_name(plan.task.name, mib_model);
  const MibForm mib_form = a.on("mib-circuits") ? MibForm::Circuits : MibForm::Importances;
  if (!mib_dir.empty()) {
    check_output_dir(mib_dir, "--mib", mib_files(mib_form));
    check_mib_folder(mib_dir, mib_form);
  }
  DiscoverOptions& o = plan.options.discover;
  ProgressBar bar;
  o.progress = [&](const std::string& phase, double f) { bar.update(phase, f); };
  DiscoverResult r = run_discover(m, plan);
  bar.finish();

  const RunLabels l = labels_of(plan.method.id, o);
  print_header(a, r, m, plan.task, plan.options, l, plan.bos);
  print_circuit(r, m, l, truth);
  if (truth) print_evaluation(r, *truth);
  print_faithfulness_and_time(r, o, plan.task, l);
  if (!a.str("out").empty()) write_run(a, argc, argv, r, m, plan);
  if (!mib_dir.empty() && r.graph) {
    write_mib_submission(a.str("mib"), plan.task.name, mib_model, *r.graph, mib_form);
    if (mib_form == MibForm::Importances)
      std::printf("wrote %s/importances.json (MIB circuit-track submission)\n", mib_dir.c_str());
    else
      std::printf("wrote %s/circuit_0.001.json ... circuit_0.5.json (MIB circuit-track submission: %zu circuits, at most "
                  "0.1 ... 50 %% of the %d edges)\n", mib_dir.c_str(), mib_circuit_fractions().size(), r.graph->graph.n_edges());
  }
  return 0;
}

}  // namespace cs
