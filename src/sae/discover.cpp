#include "sae/discover.h"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <numeric>

#include "sae/code_scores.h"
#include "attribution/eap.h"
#include "evaluation/head_edges.h"
#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

namespace {

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
    // "end" is every prompt's own last token, the negatives' included (a JSONL task's negative
    // prompts may be longer or shorter than their prompts): the Last reduction.
    if (o.position_name == "end") {
      p.mode = PositionReduce::Last;
      return p;
    }
    // Other named positions index the prompt's layout, which a negative shares only when it has
    // the prompt's length (the builtin tasks' do: task.h).
    const auto& prompts = negative ? task.negative : task.clean;
    for (size_t i = 0; negative && i < prompts.size() && i < task.clean.size(); ++i)
      if (prompts[i].size() != task.clean[i].size())
        throw Error("--position " + o.position_name + ": negative prompt " + std::to_string(i + 1) + " of " + task.name +
                    " is " + std::to_string(prompts[i].size()) + " tokens, its prompt " +
                    std::to_string(task.clean[i].size()) + ", so the position does not carry over; use mean, last or end");
    p.index = it->second;
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

std::string paper_score_label(const DiscoverOptions& o) {
  if (o.level == Level::Edge) return "edge count";
  return o.normalise ? "|P\\N| / |P u N|" : "|P\\N|";
}

std::string ranking_label(const DiscoverOptions& o) {
  if (o.level == Level::Edge || o.score == SaeScore::Paper) return paper_score_label(o);
  if (o.score == SaeScore::Null) return "null-corrected |P\\N|";
  return std::string(to_string(o.score)) + " (rank mean)";
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
  const Timer total;
  DiscoverResult r;
  r.method = opts.score == SaeScore::Paper ? "sae-paper" : "sae";
  const int H = m.cfg.n_heads, HT = m.cfg.n_heads_total();
  if (task.negative.empty())
    throw Error("task " + task.name + " has no negative prompts: the SAE method needs them (add \"negative\" to each line of the task file)");
  if (opts.trials < 1) throw Error("--trials must be at least 1");
  // Preconditions in the terms of what the user asked for, checked before any work (the scores'
  // own checks would name internals: the null-corrected score, EAP).
  if (task.size() < 2 || task.negative.size() < 1)
    throw Error("task " + task.name + " has " + std::to_string(task.size()) +
                " prompt(s): the SAE method needs at least 2 positive prompts (its scores compare codes across prompts)");
  const bool confirm = opts.score == SaeScore::Causal || opts.score == SaeScore::Confirmed;
  if (confirm && opts.level == Level::Node && !task.corrupt.empty()) {
    const size_t n = std::min<size_t>(100, task.size());  // the attribution pass's prompts, below
    for (size_t i = 0; i < n; ++i)
      if (task.corrupt[i].size() != task.clean[i].size())
        throw Error("--score " + std::string(to_string(opts.score)) + " confirms the ranking with one attribution-patching pass, which pairs each "
                    "corrupt prompt with its prompt token by token, but prompt " + std::to_string(i + 1) + " of " +
                    task.name + " is " + std::to_string(task.clean[i].size()) + " tokens and its corrupt version " +
                    std::to_string(task.corrupt[i].size()) + ": make them equal, or use --score paper");
  }
  if (truth) truth_labels(*truth, m.cfg);

  auto report = [&](const std::string& phase, double f) { if (opts.progress) opts.progress(phase, f); };
  Timer phase;
  report("forward passes", 0);
  Tensor pos = collect_head_outputs(m, task.clean, position_for(task, opts, false));
  report("forward passes", 0.5);
  Tensor neg = collect_head_outputs(m, task.negative, position_for(task, opts, true));
  report("forward passes", 1);
  r.seconds_collect = phase.seconds();
  r.collect_flops = collect_head_outputs_flops(m.cfg, task.clean) + collect_head_outputs_flops(m.cfg, task.negative);
  r.n_positive = static_cast<int>(pos.dim(0));
  r.n_negative = static_cast<int>(neg.dim(0));

  SaeMethodOptions so = opts;
  so.edges = opts.level == Level::Edge || opts.pair_scores;
  for (int t = 0; t < opts.trials; ++t) {
    report("SAE trials", double(t) / opts.trials);
    SaeTrial trial = run_sae_trial(pos, neg, H, so, opts.seed + t);
    r.seconds_train += trial.seconds_train;
    r.seconds_codes += trial.seconds_codes;
    r.seconds_scores += trial.seconds_scores;
    r.train_flops += trial.train_flops;
    const bool paper = opts.score == SaeScore::Paper || opts.score == SaeScore::Confirmed;
    r.head_scores.push_back(opts.level == Level::Edge ? trial.edge_node : paper ? trial.node_raw : trial.node_null);
    if (confirm && opts.level == Level::Node) {
      if (r.attribution.empty()) {
        // One gradient pass: |first-order estimate of the metric change when the head is
        // patched to its corrupted (or zero) output|, EAP's node attribution.
        MethodSettings ms;
        ms.n_prompts = std::min<int>(100, static_cast<int>(task.size()));
        ms.ablation = task.corrupt.empty() ? AblationKind::Zero : AblationKind::Resample;
        const Timer attribution;
        r.attribution = eap(m, task, ms).head_scores;
        r.seconds_scores += attribution.seconds();
      }
      r.head_scores.back() = combine_ranks(r.head_scores.back(), r.attribution);
    }
    r.trials.push_back(std::move(trial));
  }
  report("SAE trials", 1);

  if (so.edges) {
    std::vector<double> U(static_cast<size_t>(HT) * HT, 0.0);
    for (auto& tr : r.trials)
      for (size_t i = 0; i < tr.edge_U.size(); ++i) U[i] += tr.edge_U[i] / opts.trials;
    // On the graph: U[a, b] on every input of b, for heads a before b; other edges unscored.
    const Graph g(m.cfg);
    r.mean_edge_scores.assign(g.n_edges(), std::nan(""));
    for (int a = 0; a < HT; ++a)
      for (int b = (a / H + 1) * H; b < HT; ++b)
        for (QKV x : {QKV::Q, QKV::K, QKV::V})
          r.mean_edge_scores[g.edge_index(g.head_sender(a / H, a % H), g.head_receiver(b / H, b % H, x))] =
              U[static_cast<size_t>(a) * HT + b];
    if (opts.level == Level::Edge) r.mean_edge_U = std::move(U);
  }
  // The paper's score, mean and std over trials: it sizes the circuit for every ranking (the
  // confirmed and causal rankings are rank means: about half the heads are above any mean, and
  // their softmax is near flat); the ranking then picks which heads.
  const bool edge = opts.level == Level::Edge;
  r.paper_scores.assign(HT, 0.0);
  r.paper_std.assign(HT, 0.0);
  for (int h = 0; h < HT; ++h) {
    std::vector<double> v;
    for (const SaeTrial& t : r.trials) v.push_back(edge ? t.edge_node[h] : t.node_raw[h]);
    const MeanStd ms = mean_std(v);
    r.paper_scores[h] = ms.mean;
    r.paper_std[h] = ms.std;
  }
  r.paper_softmax = softmax(r.paper_scores);
  // A count of 0 (no code, or no code pair, seen only on positive prompts) is no evidence for a
  // head: such heads never fill a circuit when the ranking is that count.
  finish_discover(m, task, opts, truth, {r.paper_scores, paper_score_label(opts), true, opts.score == SaeScore::Paper || edge, ranking_label(opts)}, r);
  r.seconds_total = total.seconds();
  return r;
}

void finish_discover(const Model& m, const TokenizedTask& task, const DiscoverOptions& opts, const GroundTruth* truth,
                     const CircuitSizeScores& size, DiscoverResult& r) {
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
  std::vector<bool> labels;
  if (truth) {
    labels = truth_labels(*truth, m.cfg);
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
    if (!r.mean_edge_scores.empty()) r.graph_edge_auc = graph_edge_auc(r.mean_edge_scores, *truth, g);
  }

  // The circuit: top-k, or a threshold on the size scores (on their softmax for the SAE's
  // paper score), or (default) as many heads as have a size score above its mean over heads; the
  // ranking (the mean scores) then picks which heads. The ground truth plays no part: its size
  // would leak the answer into precision and recall.
  std::vector<int> order(HT);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return r.mean_scores[a] > r.mean_scores[b]; });
  const std::string& pname = size.label;
  char rule[200];
  int k;
  if (opts.top_k >= 0) {
    k = std::min(opts.top_k, HT);
    std::snprintf(rule, sizeof rule, "--top-k %d", opts.top_k);
  } else if (opts.threshold >= 0) {
    const std::vector<double> sm = size.softmax_threshold ? softmax(size.scores) : size.scores;
    k = static_cast<int>(std::count_if(sm.begin(), sm.end(), [&](double s) { return s >= opts.threshold; }));
    if (size.softmax_threshold) std::snprintf(rule, sizeof rule, "heads with softmax(%s) >= %g", pname.c_str(), opts.threshold);
    else std::snprintf(rule, sizeof rule, "heads with %s >= %g", pname.c_str(), opts.threshold);
  } else {
    const double mu = std::accumulate(size.scores.begin(), size.scores.end(), 0.0) / HT;
    k = static_cast<int>(std::count_if(size.scores.begin(), size.scores.end(), [&](double s) { return s > mu; }));
    std::snprintf(rule, sizeof rule, "heads with %s above its mean over heads (%.3g)", pname.c_str(), mu);
  }
  r.size_rule = rule;
  if (size.zero_is_no_evidence) {
    const int nonzero = static_cast<int>(std::count_if(r.mean_scores.begin(), r.mean_scores.end(), [](double s) { return s > 0; }));
    if (k > nonzero) {
      r.size_rule += "; cut to the " + std::to_string(nonzero) + " heads with a nonzero " + size.ranking + " (" +
                     std::to_string(k) + " asked for)";
      k = nonzero;
    }
  }
  r.circuit.assign(order.begin(), order.begin() + k);
  if (k > 0 && k < HT)
    for (int i = k; i < HT && r.mean_scores[order[i]] == r.mean_scores[order[k - 1]]; ++i) ++r.boundary_ties;
  if (truth) {
    std::vector<double> in(HT, 0.0);
    for (int h : r.circuit) in[h] = 1;
    r.circuit_eval = confusion_at_threshold(in, labels, 1.0);
  }

  if (opts.faithfulness && !task.corrupt.empty()) {
    const Timer phase;
    report("faithfulness", 0);
    r.faith = faithfulness_curve(m, task, r.mean_scores, opts.faith);
    AblationSource src = task_ablation_source(m, task, opts.faith);
    HeadSet keep;
    for (int h : r.circuit) keep.heads.push_back({h / H, h % H});
    double kept = circuit_metric(m, task, keep, src, opts.faith.n_prompts);
    r.circuit_faithfulness = r.faith->full != 0 ? kept / r.faith->full : 0;
    r.seconds_faithfulness = phase.seconds();
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
