#include "sae/discover.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "sae/code_scores.h"
#include "attribution/eap.h"
#include "evaluation/head_edges.h"
#include "ops/error.h"

namespace cs {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

PositionChoice position_for(const TokenizedTask& task, const DiscoverOptions& o, bool negative) {
  PositionChoice p;
  p.mode = o.position;
  p.name = o.position == PositionReduce::Mean ? "mean" : o.position == PositionReduce::Last ? "last" : o.position_name;
  if (o.position == PositionReduce::Named) {
    auto it = task.positions.find(o.position_name);
    if (it == task.positions.end()) {
      std::string names;
      for (auto& [k, v] : task.positions) names += (names.empty() ? "" : ", ") + k;
      throw Error("task " + task.name + " has no position '" + o.position_name + "': use one of " + names);
    }
    p.index = it->second;
    (void)negative;  // builtin negatives share the clean layout (task.h)
  }
  return p;
}
}  // namespace

Level parse_level(const std::string& s) {
  if (s == "node") return Level::Node;
  if (s == "edge") return Level::Edge;
  throw UsageError("level '" + s + "': use node or edge");
}
const char* to_string(Level l) { return l == Level::Edge ? "edge" : "node"; }

SaeScore parse_sae_score(const std::string& s) {
  for (SaeScore x : {SaeScore::Paper, SaeScore::Null, SaeScore::Causal, SaeScore::Confirmed})
    if (s == to_string(x)) return x;
  throw UsageError("score '" + s + "': use paper, null, causal or confirmed");
}
const char* to_string(SaeScore s) {
  switch (s) {
    case SaeScore::Paper: return "paper";
    case SaeScore::Null: return "null";
    case SaeScore::Causal: return "causal";
    case SaeScore::Confirmed: return "confirmed";
  }
  return "";
}

std::vector<double> combine_ranks(const std::vector<double>& a, const std::vector<double>& b) {
  auto ranks = [](const std::vector<double>& v) {  // average rank in [0, 1], ties share a rank
    const size_t n = v.size();
    std::vector<size_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return v[x] < v[y]; });
    std::vector<double> r(n);
    for (size_t i = 0; i < n;) {
      size_t j = i;
      while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) ++j;
      for (size_t k = i; k <= j; ++k) r[idx[k]] = n > 1 ? (i + j) / 2.0 / (n - 1) : 0.0;
      i = j + 1;
    }
    return r;
  };
  std::vector<double> ra = ranks(a), rb = ranks(b), out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = (ra[i] + rb[i]) / 2;
  return out;
}

std::vector<bool> truth_labels(const GroundTruth& truth, const ModelConfig& c) {
  std::vector<bool> labels = head_labels(truth, c.n_layers, c.n_heads);
  if (std::none_of(labels.begin(), labels.end(), [](bool b) { return b; }) ||
      std::all_of(labels.begin(), labels.end(), [](bool b) { return b; }))
    throw Error("ground truth " + truth.name + " labels every head the same way for this model: check it names this model's heads");
  return labels;
}

DiscoverResult discover(const Model& m, const TokenizedTask& task, const DiscoverOptions& opts,
                        const GroundTruth* truth) {
  auto t_all = Clock::now();
  DiscoverResult r;
  r.method = opts.score == SaeScore::Paper ? "sae-paper" : "sae";
  const int H = m.cfg.n_heads, HT = m.cfg.n_heads_total();
  if (task.negative.empty())
    throw Error("task " + task.name + " has no negative prompts: the SAE method needs them (add \"negative\" to each line of the task file)");
  if (opts.trials < 1) throw Error("--trials must be at least 1");
  if (truth) truth_labels(*truth, m.cfg);

  auto report = [&](const std::string& phase, double f) { if (opts.progress) opts.progress(phase, f); };
  auto t0 = Clock::now();
  report("forward passes", 0);
  Tensor pos = collect_head_outputs(m, task.clean, position_for(task, opts, false));
  report("forward passes", 0.5);
  Tensor neg = collect_head_outputs(m, task.negative, position_for(task, opts, true));
  report("forward passes", 1);
  r.seconds_collect = since(t0);
  r.collect_flops = collect_head_outputs_flops(m.cfg, task.clean) + collect_head_outputs_flops(m.cfg, task.negative);
  r.n_positive = static_cast<int>(pos.dim(0));
  r.n_negative = static_cast<int>(neg.dim(0));

  SaeMethodOptions so = opts;
  so.edges = opts.level == Level::Edge;
  for (int t = 0; t < opts.trials; ++t) {
    report("SAE trials", double(t) / opts.trials);
    SaeTrial trial = run_sae_trial(pos, neg, H, so, opts.seed + t);
    r.seconds_train += trial.seconds_train;
    r.seconds_codes += trial.seconds_codes;
    r.seconds_scores += trial.seconds_scores;
    r.train_flops += trial.train_flops;
    const bool confirm = opts.score == SaeScore::Causal || opts.score == SaeScore::Confirmed;
    const bool paper = opts.score == SaeScore::Paper || opts.score == SaeScore::Confirmed;
    r.head_scores.push_back(opts.level == Level::Edge ? trial.edge_node : paper ? trial.node_raw : trial.node_null);
    if (confirm && opts.level == Level::Node) {
      if (r.attribution.empty()) {
        // One gradient pass: |first-order estimate of the metric change when the head is
        // patched to its corrupted (or zero) output|, EAP's node attribution.
        MethodSettings ms;
        ms.n_prompts = std::min<int>(100, static_cast<int>(task.size()));
        ms.ablation = task.corrupt.empty() ? AblationKind::Zero : AblationKind::Resample;
        auto ta = Clock::now();
        r.attribution = eap(m, task, ms).head_scores;
        r.seconds_scores += since(ta);
      }
      r.head_scores.back() = combine_ranks(r.head_scores.back(), r.attribution);
    }
    r.trials.push_back(std::move(trial));
  }
  report("SAE trials", 1);

  if (opts.level == Level::Edge) {
    r.mean_edge_U.assign(static_cast<size_t>(HT) * HT, 0.0);
    for (auto& tr : r.trials)
      for (size_t i = 0; i < tr.edge_U.size(); ++i) r.mean_edge_U[i] += tr.edge_U[i] / opts.trials;
    // On the graph: U[a, b] on every input of b, for heads a before b; other edges unscored.
    const Graph g(m.cfg);
    r.mean_edge_scores.assign(g.n_edges(), std::nan(""));
    for (int a = 0; a < HT; ++a)
      for (int b = (a / H + 1) * H; b < HT; ++b)
        for (QKV x : {QKV::Q, QKV::K, QKV::V})
          r.mean_edge_scores[g.edge_index(g.head_sender(a / H, a % H), g.head_receiver(b / H, b % H, x))] =
              r.mean_edge_U[static_cast<size_t>(a) * HT + b];
  }
  // Sizes come from the paper's score for every ranking: the confirmed and causal rankings are
  // rank averages (about half the heads above any mean, and a near-flat softmax); the ranking
  // then picks which heads.
  std::vector<double> paper(HT, 0.0);
  for (const SaeTrial& t : r.trials)
    for (int h = 0; h < HT; ++h) paper[h] += (opts.level == Level::Edge ? t.edge_node[h] : t.node_raw[h]) / r.trials.size();
  finish_discover(m, task, opts, truth, paper, true, r);
  r.mean_softmax = softmax(r.mean_scores);
  r.seconds_total = since(t_all);
  return r;
}

void finish_discover(const Model& m, const TokenizedTask& task, const DiscoverOptions& opts, const GroundTruth* truth,
                     const std::vector<double>& size_scores, bool softmax_threshold, DiscoverResult& r) {
  const int L = m.cfg.n_layers, H = m.cfg.n_heads, HT = m.cfg.n_heads_total();
  auto report = [&](const std::string& phase, double f) { if (opts.progress) opts.progress(phase, f); };
  r.mean_scores.assign(HT, 0.0);
  r.std_scores.assign(HT, 0.0);
  for (int h = 0; h < HT; ++h) {
    std::vector<double> v;
    for (auto& s : r.head_scores) v.push_back(s[h]);
    MeanStd ms = mean_std(v);
    r.mean_scores[h] = ms.mean;
    r.std_scores[h] = ms.std;
  }
  const Graph g(m.cfg);
  if (truth) {
    const std::vector<bool> labels = truth_labels(*truth, m.cfg);
    const int64_t k = static_cast<int64_t>(truth->heads.size());
    for (const std::vector<double>& s : r.head_scores) r.evals.push_back({roc_auc(s, labels), confusion_top_k(s, labels, k)});
    r.roc = roc_curve(r.mean_scores, labels);
    r.mean_eval = TrialEval{r.roc->auc, confusion_top_k(r.mean_scores, labels, k)};
    if (!r.mean_edge_scores.empty()) {
      bool logits = false;
      const std::vector<double> es = head_edge_scores(r.mean_edge_scores, g, &logits);
      const double auc = head_edge_auc(es, head_edge_labels(*truth, L, H), L, H, logits);
      if (!std::isnan(auc)) r.edge_auc = auc, r.edge_auc_with_logits = logits;
    }
  }

  // The circuit: top-k, or a threshold, or (default) the ground truth's size, or (no truth) as
  // many heads as have a size score above its mean over heads.
  std::vector<int> order(HT);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return r.mean_scores[a] > r.mean_scores[b]; });
  int k;
  if (opts.top_k >= 0) k = std::min(opts.top_k, HT);
  else if (opts.threshold >= 0) {
    const std::vector<double> sm = softmax_threshold ? softmax(size_scores) : size_scores;
    k = static_cast<int>(std::count_if(sm.begin(), sm.end(), [&](double s) { return s >= opts.threshold; }));
  } else if (truth) k = static_cast<int>(truth->heads.size());
  else {
    const double mu = std::accumulate(size_scores.begin(), size_scores.end(), 0.0) / HT;
    k = static_cast<int>(std::count_if(size_scores.begin(), size_scores.end(), [&](double s) { return s > mu; }));
  }
  r.circuit.assign(order.begin(), order.begin() + k);

  if (opts.faithfulness && !task.corrupt.empty()) {
    const auto t0 = Clock::now();
    report("faithfulness", 0);
    r.faith = faithfulness_curve(m, task, r.mean_scores, opts.faith);
    AblationSource src = task_ablation_source(m, task, opts.faith);
    double kept = circuit_metric(m, task, top_k_heads(r.mean_scores, H, k), src, opts.faith.n_prompts);
    r.circuit_faithfulness = r.faith->full != 0 ? kept / r.faith->full : 0;
    r.seconds_faithfulness = since(t0);
    report("faithfulness", 1);
  }

  ScoredGraph sg(g, m.cfg.d_model);
  std::vector<char> nodes(g.n_senders(), 0);
  nodes[0] = 1;
  for (int l = 0; l < L; ++l) {
    if (g.has_mlps()) nodes[g.mlp_sender(l)] = 1;
    if (g.has_mlps() && !r.mean_mlp_scores.empty()) sg.node_scores[g.mlp_sender(l)] = r.mean_mlp_scores[l];
    for (int h = 0; h < H; ++h) sg.node_scores[g.head_sender(l, h)] = r.mean_scores[l * H + h];
  }
  for (int h : r.circuit) nodes[g.head_sender(h / H, h % H)] = 1;
  for (size_t e = 0; e < r.mean_edge_scores.size(); ++e)
    if (!std::isnan(r.mean_edge_scores[e])) sg.edge_scores[e] = r.mean_edge_scores[e];
  keep_edges_among_nodes(sg, nodes);
  r.graph = std::move(sg);
}

}  // namespace cs
