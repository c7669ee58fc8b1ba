#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
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
  Args a("discover",
         "Find a task's circuit with the discrete sparse-autoencoder method (O'Neill & Bui 2024):\n"
         "head outputs on positive and negative prompts, one SAE over all heads, integer codes,\n"
         "heads scored by the codes that appear only on positive prompts.");
  a.positional("MODEL", kModelHelp)
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file of prompts")
      .flag("method", "sae", "discovery method (sae)")
      .flag("level", "node", "node: head scores |P\\N|; edge: head-pair code scores reduced to heads")
      .flag("features", "200", "SAE features")
      .flag("l1", "", "SAE L1 coefficient (default 0.05 for docstring, else 0.02, as the paper)")
      .flag("lr", "0.001", "SAE Adam learning rate")
      .flag("epochs", "500", "SAE full-batch epochs")
      .flag("train-prompts", "10", "prompts (pooled positives+negatives) the SAE is trained on")
      .flag("prompts", "250", "positive prompts, and as many negative prompts")
      .flag("trials", "1", "independent trials (different SAE prompts and seeds): mean ± std")
      .flag("seed", "0", "seed of the task prompts and of trial 0 (trial t uses seed+t)")
      .flag("position", "mean", "head output reduction: mean (paper), last, or a task position (e.g. S2)")
      .flag("score", "confirmed", "node ranking: confirmed (paper's |P\\N| + one attribution pass; the default: higher AUC on every zoo task), paper (O'Neill & Bui's |P\\N| alone), null (null-corrected), causal (null + one attribution pass)")
      .toggle("normalise", "divide |P\\N| by |P u N| (the paper's normalised variant)")
      .flag("top-k", "", "circuit = the K best heads")
      .flag("threshold", "", "circuit size = heads whose softmax of the paper's |P\\N| is >= X (the ranking picks which)")
      .flag("truth", "", "ground truth: name (data/truth), file, or none; default MODEL/circuits/TASK.json if present")
      .flag("ablation", "mean", "faithfulness ablation: mean (over corrupted prompts), resample, zero")
      .flag("faith-prompts", "100", "prompts for the faithfulness curve")
      .toggle("no-faithfulness", "skip the faithfulness curve")
      .toggle("no-process-weights", "use raw weights (the paper used TransformerLens-processed weights)")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", "prepend BOS to every prompt")
      .flag("out", "", "write circuit.json, circuit.dot and report.html here");
  if (!a.parse(argc, argv)) return 0;
  if (a.str("method") != "sae") throw UsageError("discover: unknown --method '" + a.str("method") + "' (sae; the baselines are in `compare`)");
  if (a.given("top-k") && a.given("threshold")) throw UsageError("discover: give --top-k or --threshold, not both");

  Model m = load_model(a.str("MODEL"), {.process_weights = !a.on("no-process-weights")});
  Tokenizer tok = Tokenizer::for_model_dir(m.dir);
  TokenizedTask task = task_from_flags(a, tok, m.dir);
  for (const std::string& w : task.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  std::optional<GroundTruth> truth = resolve_truth(a.str("truth"), m.dir, task.name);

  DiscoverOptions o;
  o.sae.sae.n_features = a.integer("features");
  o.sae.sae.l1 = static_cast<float>(a.given("l1") ? a.number("l1") : task.name == "docstring" ? 0.05 : 0.02);
  o.sae.sae.lr = static_cast<float>(a.number("lr"));
  o.sae.sae.epochs = a.integer("epochs");
  o.sae.train_prompts = a.integer("train-prompts");
  o.sae.normalise = a.on("normalise");
  o.trials = a.integer("trials");
  o.score = a.str("score");
  if (o.score != "paper" && o.score != "null" && o.score != "causal" && o.score != "confirmed")
    throw UsageError("discover: --score must be paper, null, causal or confirmed");
  o.seed = static_cast<uint64_t>(a.integer("seed"));
  const std::string level = a.str("level");
  if (level != "node" && level != "edge") throw UsageError("discover: --level must be node or edge");
  o.level = level == "edge" ? Level::Edge : Level::Node;
  const std::string pos = a.str("position");
  o.position = pos == "mean" ? PositionReduce::Mean : pos == "last" ? PositionReduce::Last : PositionReduce::Named;
  o.position_name = pos;
  if (a.given("top-k")) o.top_k = a.integer("top-k");
  if (a.given("threshold")) o.threshold = a.number("threshold");
  o.faithfulness = !a.on("no-faithfulness");
  o.faith.ablation = parse_ablation_kind(a.str("ablation"));
  o.faith.n_prompts = a.integer("faith-prompts");
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
    RunInfo info;
    info.model_dir = m.dir;
    info.model_family = m.cfg.family;
    info.task = task.name;
    info.method = "sae";
    info.level = level;
    info.settings = a.values();
    info.seed = o.seed;
    info.n_layers = m.cfg.n_layers;
    info.n_heads = H;
    info.truth_name = truth ? truth->name : "";
    if (truth) info.truth_heads = truth->heads;
    info.metric_name = metric_name(task.metric);
    std::ostringstream cl;
    cl << "circuitscan discover";
    for (int i = 0; i < argc; ++i) cl << " " << argv[i];
    info.command_line = cl.str();
    write_outputs(a.str("out"), r, info);
    std::printf("wrote %s/{circuit.json,circuit.dot,report.html}\n", a.str("out").c_str());
  }
  return 0;
}

}  // namespace cs
