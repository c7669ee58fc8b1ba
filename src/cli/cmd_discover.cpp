#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/method_flags.h"
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

std::string head_name(int idx, int H) { return HeadId{idx / H, idx % H}.str(); }

void declare_flags(Args& a) {
  a.positional("MODEL", "Hugging Face model directory")
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file of prompts")
      .flag("method", "sae", "discovery method:\n" + method_help(30))
      .flag("level", "node", "SAE methods: node (head scores |P\\N|) or edge (head-pair code scores reduced to heads)")
      .flag("features", "200", "SAE features")
      .flag("l1", "", "SAE L1 coefficient (default 0.05 for docstring, else 0.02, as the paper)")
      .flag("lr", "0.001", "SAE Adam learning rate")
      .flag("epochs", "500", "SAE full-batch epochs")
      .flag("train-prompts", "10", "prompts (pooled positives+negatives) the SAE is trained on")
      .flag("prompts", "250", "positive prompts, and as many negative prompts")
      .flag("trials", "1", "independent trials of a stochastic method (sae, sae-paper, sp; different seeds): mean ± std")
      .flag("seed", "0", "seed of the task prompts and of trial 0 (trial t uses seed+t)")
      .flag("position", "mean", "SAE head output reduction: mean (paper), last, or a task position (e.g. S2)")
      .flag("score", "confirmed", "method sae's node ranking: confirmed (paper's |P\\N| + one attribution pass; the default: higher AUC on every zoo task), paper (O'Neill & Bui's |P\\N| alone, = --method sae-paper), null (null-corrected), causal (null + one attribution pass)")
      .toggle("normalise", "divide |P\\N| by |P u N| (the paper's normalised variant)")
      .flag("top-k", "", "circuit = the K best heads")
      .flag("threshold", "", "circuit size = heads whose softmax of the paper's |P\\N| is >= X (the ranking picks which); other methods: heads scoring >= X")
      .flag("top-edges", "", "eap, eap-ig: graph.json's circuit = the N best edges (default: as many as the head circuit's graph)")
      .flag("truth", "", "ground truth: name (data/truth), file, or none; default MODEL/circuits/TASK.json if present")
      .flag("method-ablation", "resample", "ablation of the methods other than the SAE's: resample, mean or zero");
  add_method_flags(a)
      .flag("ablation", "mean", "faithfulness ablation: mean (over corrupted prompts), resample, zero")
      .flag("faith-prompts", "100", "prompts for the faithfulness curve")
      .toggle("no-faithfulness", "skip the faithfulness curve")
      .toggle("no-process-weights", "use raw weights (the paper used TransformerLens-processed weights)")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", "prepend BOS to every prompt")
      .flag("out", "", "write circuit.json, circuit.dot, report.html and graph.json here");
}

MethodOptions options_from_flags(const Args& a, const TokenizedTask& task, SaeScore score, Level level) {
  MethodOptions mo;
  method_options_from_flags(a, mo);
  mo.settings.ablation = parse_ablation_kind(a.str("method-ablation"));
  mo.settings.seed = static_cast<uint64_t>(a.integer("seed"));
  DiscoverOptions& o = mo.discover;
  o.sae.n_features = a.integer("features");
  o.sae.l1 = static_cast<float>(a.given("l1") ? a.number("l1") : task.name == "docstring" ? 0.05 : 0.02);
  o.sae.lr = static_cast<float>(a.number("lr"));
  o.sae.epochs = a.integer("epochs");
  o.train_prompts = a.integer("train-prompts");
  o.normalise = a.on("normalise");
  o.trials = a.integer("trials");
  o.score = score;
  o.seed = static_cast<uint64_t>(a.integer("seed"));
  o.level = level;
  const std::string pos = a.str("position");
  o.position = pos == "mean" ? PositionReduce::Mean : pos == "last" ? PositionReduce::Last : PositionReduce::Named;
  o.position_name = pos;
  if (a.given("top-k")) o.top_k = a.integer("top-k");
  if (a.given("threshold")) o.threshold = a.number("threshold");
  if (a.given("top-edges")) o.top_edges = a.integer("top-edges");
  o.faithfulness = !a.on("no-faithfulness");
  o.faith.ablation = parse_ablation_kind(a.str("ablation"));
  o.faith.n_prompts = a.integer("faith-prompts");
  return mo;
}

// The ranking, the circuit, and what graph.json keeps.
void print_circuit(const DiscoverResult& r, const Model& m, MethodId id, Level level, const GroundTruth* truth) {
  const int H = m.cfg.n_heads;
  const MethodInfo& info = method_info(id);
  const bool sae = r.method == "sae" || r.method == "sae-paper";
  const char* score_label = !sae ? "score" : level == Level::Edge ? "edge count" : "|P\\N|";
  std::printf("\n%-5s %-6s %-16s %-12s %s\n", "rank", "head", score_label, sae ? "softmax" : "", truth ? "in truth" : "");
  std::vector<bool> labels;
  if (truth) labels = head_labels(*truth, m.cfg.n_layers, H);
  std::vector<int> order(r.mean_scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return r.mean_scores[x] > r.mean_scores[y]; });
  const int show = std::min<int>(static_cast<int>(order.size()), std::max<int>(20, static_cast<int>(r.circuit.size())));
  for (int i = 0; i < show; ++i) {
    int h = order[i];
    char score_s[64], soft[32] = "";
    if (r.head_scores.size() > 1) std::snprintf(score_s, sizeof score_s, "%.4g ± %.2g", r.mean_scores[h], r.std_scores[h]);
    else std::snprintf(score_s, sizeof score_s, sae ? "%.0f" : "%.4g", r.mean_scores[h]);
    if (sae) std::snprintf(soft, sizeof soft, "%.4g", r.mean_softmax[h]);
    std::printf("%-5d %-6s %-16s %-12s %s\n", i + 1, head_name(h, H).c_str(), score_s, soft,
                truth ? (labels[h] ? "yes" : "-") : "");
  }
  std::printf("\ncircuit (%zu heads):", r.circuit.size());
  for (int h : r.circuit) std::printf(" %s", head_name(h, H).c_str());
  std::printf("\n");
  if (r.graph) {
    int edges = 0, nodes = 0;
    for (char c : r.graph->edge_in_graph) edges += c;
    for (char c : r.graph->node_in_graph) nodes += c;
    std::printf("graph circuit: %d of %d edges, %d of %d nodes besides the logits (%s)\n", edges, r.graph->graph.n_edges(),
                nodes, r.graph->graph.n_senders(),
                id == MethodId::Acdc ? "ACDC's kept edges" : info.edges ? "the best edges by |score|" : "every edge among the circuit's heads, the MLPs and the input");
  }
}

void print_evaluation(const DiscoverResult& r, const GroundTruth* truth) {
  std::printf("\nagainst %s (%zu heads):\n", truth->name.c_str(), truth->heads.size());
  if (r.head_scores.size() > 1) {
    std::vector<double> aucs, prec, rec;
    for (auto& e : r.evals) aucs.push_back(e.auc), prec.push_back(e.at_k.precision), rec.push_back(e.at_k.recall);
    MeanStd ma = mean_std(aucs), mp = mean_std(prec), mr = mean_std(rec);
    std::printf("  per-trial ROC AUC %.3f ± %.3f, precision@%zu %.3f ± %.3f, recall %.3f ± %.3f\n", ma.mean, ma.std,
                truth->heads.size(), mp.mean, mp.std, mr.mean, mr.std);
  }
  std::printf("  ROC AUC %.3f (%s scores), precision@%zu %.3f, recall %.3f, F1 %.3f\n", r.mean_eval->auc,
              r.head_scores.size() > 1 ? "mean" : "trial", truth->heads.size(), r.mean_eval->at_k.precision,
              r.mean_eval->at_k.recall, r.mean_eval->at_k.f1);
  if (r.edge_auc)
    std::printf("  edge ROC AUC %.3f (over every head -> later head edge, q/k/v merged%s)\n", *r.edge_auc,
                r.edge_auc_with_logits ? ", and head -> logits edge" : "");
}

void write_run(const Args& a, int argc, char** argv, const DiscoverResult& r, const Model& m, const TokenizedTask& task,
               const std::string& level_name, const GroundTruth* truth) {
  RunInfo run;
  run.model_dir = a.str("MODEL");
  run.model_family = m.cfg.family;
  run.task = task.name;
  run.method = r.method;
  run.level = level_name;
  run.settings = a.values();
  run.seed = static_cast<uint64_t>(a.integer("seed"));
  run.n_layers = m.cfg.n_layers;
  run.n_heads = m.cfg.n_heads;
  run.truth_name = truth ? truth->name : "";
  if (truth) run.truth_heads = truth->heads;
  run.metric_name = metric_name(task.metric);
  std::ostringstream cl;
  cl << "circuitscan discover";
  for (int i = 0; i < argc; ++i) cl << " " << argv[i];
  run.command_line = cl.str();
  write_outputs(a.str("out"), r, run);
  std::printf("wrote %s/{circuit.json,circuit.dot,report.html,graph.json}\n", a.str("out").c_str());
}

}  // namespace

int cmd_discover(int argc, char** argv) {
  Args a("discover",
         "Find a task's circuit. The default method is the discrete sparse-autoencoder method (O'Neill &\n"
         "Bui 2024): head outputs on positive and negative prompts, one SAE over all heads, integer codes,\n"
         "heads scored by the codes that appear only on positive prompts. --method runs any other method\n"
         "on the same prompts; each writes the same four files and, with a truth, its evaluation.");
  declare_flags(a);
  if (!a.parse(argc, argv)) return 0;
  const MethodId id = parse_method(a.str("method"));
  const MethodInfo& info = method_info(id);
  const bool sae = id == MethodId::Sae || id == MethodId::SaePaper;
  if (a.given("top-k") && a.given("threshold")) throw UsageError("discover: give --top-k or --threshold, not both");
  const SaeScore given_score = parse_sae_score(a.str("score"));
  if (a.given("score") && !(id == MethodId::Sae || (id == MethodId::SaePaper && given_score == SaeScore::Paper)))
    throw UsageError("discover: --score is method sae's ranking (--method " + std::string(info.name) + " has its own)");
  const SaeScore score = id == MethodId::SaePaper ? SaeScore::Paper : given_score;
  const Level level = parse_level(a.str("level"));
  if (a.given("level") && !sae) throw UsageError("discover: --level is the SAE methods' (--method sae or sae-paper)");

  Model m = load_model(a.str("MODEL"), {.process_weights = !a.on("no-process-weights")});
  Tokenizer tok = Tokenizer::for_model_dir(a.str("MODEL"));
  TokenizedTask task = task_from_flags(a, tok, a.str("MODEL"));
  for (const std::string& w : task.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  std::optional<GroundTruth> truth = resolve_truth(a.str("truth"), a.str("MODEL"), task.name);

  MethodOptions mo = options_from_flags(a, task, score, level);
  DiscoverOptions& o = mo.discover;
  ProgressBar bar;
  o.progress = [&](const std::string& phase, double f) { bar.update(phase, f); };

  DiscoverResult r = discover_with(id, m, task, mo, truth ? &*truth : nullptr);
  bar.finish();

  const std::string level_name = info.edges ? "edge" : sae ? to_string(level) : "node";
  if (sae)
    std::printf("model %s (%s), task %s: %d positive / %d negative prompts, %d trial(s), %s level, position %s\n",
                a.str("MODEL").c_str(), m.cfg.family.c_str(), task.name.c_str(), r.n_positive, r.n_negative,
                o.trials, level_name.c_str(), a.str("position").c_str());
  else
    std::printf("model %s (%s), task %s: method %s, %zu prompts, %s ablation, %zu run(s)\n", a.str("MODEL").c_str(),
                m.cfg.family.c_str(), task.name.c_str(), info.name, std::min<size_t>(mo.settings.n_prompts, task.size()),
                to_string(mo.settings.ablation).c_str(), r.head_scores.size());
  print_circuit(r, m, id, level, truth ? &*truth : nullptr);
  if (truth) print_evaluation(r, &*truth);
  if (r.faith) {
    std::printf("\nfaithfulness (%s ablation of the other heads, %s): full model %.4g, no heads %.4g,\n"
                "  circuit keeps %.1f%% of the full metric; CPR %.3f, CMD %.3f\n",
                to_string(o.faith.ablation).c_str(), metric_name(task.metric), r.faith->full, r.faith->empty,
                100 * r.circuit_faithfulness, r.faith->cpr, r.faith->cmd);
  }
  if (sae)
    std::printf("\ntime: forward passes %.3f s, SAE training %.3f s, codes %.3f s, scores %.3f s, faithfulness %.3f s, total %.3f s\n",
                r.seconds_collect, r.seconds_train, r.seconds_codes, r.seconds_scores, r.seconds_faithfulness, r.seconds_total);
  else
    std::printf("\ntime: %s %.3f s, faithfulness %.3f s, total %.3f s\n", info.name, r.seconds_scores,
                r.seconds_faithfulness, r.seconds_total);

  if (!a.str("out").empty()) write_run(a, argc, argv, r, m, task, level_name, truth ? &*truth : nullptr);
  return 0;
}

}  // namespace cs
