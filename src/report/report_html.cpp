#include "report/report_html.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "ops/error.h"
#include "report/svg.h"

namespace cs {

namespace {

std::string num(double v, const char* f = "%.4g") {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string head_name(int i, int H) { return HeadId{i / H, i % H}.str(); }

const char* kCss = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.note{color:#666;font-size:13px}svg{max-width:100%;height:auto})";

struct Table {
  std::ostringstream o;
  explicit Table(const std::vector<std::string>& header) {
    o << "<table><tr>";
    for (const std::string& h : header) o << "<th>" << xml_escape(h) << "</th>";
    o << "</tr>\n";
  }
  // Cells starting with a digit, sign or dot are right-aligned numbers.
  void row(const std::vector<std::string>& cells) {
    o << "<tr>";
    for (const std::string& c : cells) {
      const bool n = !c.empty() && (std::isdigit(static_cast<unsigned char>(c[0])) || c[0] == '-' || c[0] == '.');
      o << (n ? "<td class=\"n\">" : "<td>") << xml_escape(c) << "</td>";
    }
    o << "</tr>\n";
  }
  std::string str() { return o.str() + "</table>\n"; }
};

std::string pm(const std::vector<double>& v) {
  if (v.empty()) return "";
  MeanStd m = mean_std(v);
  return num(m.mean, "%.3f") + " ± " + num(m.std, "%.3f");
}

}  // namespace

std::string report_html(const DiscoverResult& r, const RunInfo& info) {
  const int L = info.n_layers, H = info.n_heads;
  if (L <= 0 || H <= 0 || r.mean_scores.size() != static_cast<size_t>(L) * H)
    throw Error("report: the result has " + std::to_string(r.mean_scores.size()) + " head scores but the run says " +
                std::to_string(L) + " layers x " + std::to_string(H) + " heads");
  const int HT = L * H;
  const std::vector<bool> truth = report_truth_labels(info);
  std::vector<bool> in_circuit(HT, false);
  for (int h : r.circuit)
    if (h >= 0 && h < HT) in_circuit[h] = true;
  const bool edge_level = !r.mean_edge_U.empty();
  const std::string level = info.level.empty() ? (edge_level ? "edge" : "node") : info.level;
  const std::string model = info.model_family.empty() ? info.model_dir : info.model_family;
  const int trials = static_cast<int>(r.head_scores.size());

  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>"
    << xml_escape("circuitscan: " + info.task + " on " + model) << "</title>\n<style>" << kCss << "</style></head><body>\n";
  o << "<h1>" << xml_escape("Circuit for " + info.task + " in " + model) << "</h1>\n<p class=\"note\">"
    << xml_escape(info.method + " method, " + level + " level, " + std::to_string(trials) + " trial" +
                  (trials == 1 ? "" : "s") + ", " + std::to_string(r.circuit.size()) + " heads in the circuit")
    << "</p>\n";
  if (!info.command_line.empty()) o << "<pre>" << xml_escape(info.command_line) << "</pre>\n";

  // Summary and settings.
  o << "<h2>Run</h2>\n<div class=\"row\">";
  Table run({"", ""});
  run.row({"model", info.model_dir});
  if (!info.model_family.empty()) run.row({"architecture", info.model_family});
  run.row({"heads", std::to_string(L) + " layers × " + std::to_string(H) + " heads = " + std::to_string(HT)});
  run.row({"task", info.task});
  if (!info.metric_name.empty()) run.row({"metric", info.metric_name});
  const bool sae = !r.trials.empty();
  if (sae) run.row({"prompts", std::to_string(r.n_positive) + " positive, " + std::to_string(r.n_negative) + " negative"});
  run.row({"method", info.method + " (" + level + " level)"});
  run.row({"seed", std::to_string(info.seed) + (trials > 1 ? " (trial t uses seed + t)" : "")});
  run.row({"ground truth", info.truth_name.empty() ? "none" : info.truth_name});
  run.row({"circuit size", std::to_string(r.circuit.size())});
  if (r.mean_eval) {
    run.row({"ROC AUC (mean scores)", num(r.mean_eval->auc, "%.4f")});
    std::vector<double> auc;
    for (const TrialEval& e : r.evals) auc.push_back(e.auc);
    if (!auc.empty()) run.row({"ROC AUC over trials", pm(auc)});
    run.row({"precision / recall / F1 at k = " + std::to_string(r.mean_eval->at_k.tp + r.mean_eval->at_k.fn),
             num(r.mean_eval->at_k.precision, "%.3f") + " / " + num(r.mean_eval->at_k.recall, "%.3f") + " / " +
                 num(r.mean_eval->at_k.f1, "%.3f")});
    if (r.edge_auc)
      run.row({std::string("edge ROC AUC (") + (r.edge_auc_with_logits ? "head->head and head->logits" : "head->head") + ")",
               num(*r.edge_auc, "%.4f")});
  }
  if (r.faith) run.row({"circuit faithfulness", num(r.circuit_faithfulness, "%.3f") + " of the full metric"});
  o << run.str();
  if (!info.settings.empty()) {
    Table set({"setting", "value"});
    for (const auto& [k, v] : info.settings) set.row({k, v});
    o << set.str();
  }
  o << "</div>\n";

  // Heatmap of the mean scores.
  HeatmapSpec hm;
  hm.title = "Mean head score" + std::string(trials > 1 ? " over " + std::to_string(trials) + " trials" : "");
  hm.rows = L, hm.cols = H, hm.values = r.mean_scores, hm.outlined = in_circuit, hm.marked = truth;
  hm.outlined_legend = "in circuit";
  if (!truth.empty()) hm.marked_legend = "ground truth (" + info.truth_name + ")";
  for (int h = 0; h < HT; ++h) {
    std::string t = head_name(h, H) + ": " + num(r.mean_scores[h]);
    if (static_cast<size_t>(h) < r.std_scores.size() && trials > 1) t += " ± " + num(r.std_scores[h]);
    if (static_cast<size_t>(h) < r.mean_softmax.size()) t += ", softmax " + num(r.mean_softmax[h], "%.3g");
    hm.tooltips.push_back(t);
  }
  o << "<h2>Head scores</h2>\n" << svg_heatmap(hm);

  // ROC and faithfulness side by side.
  if (r.roc || r.faith) {
    o << "<h2>Evaluation</h2>\n<div class=\"row\">\n";
    if (r.roc) {
      PlotAxes ax;
      ax.title = "ROC vs " + info.truth_name;
      ax.x_label = "false positive rate", ax.y_label = "true positive rate";
      ax.x_lo = 0, ax.x_hi = 1, ax.y_lo = 0, ax.y_hi = 1, ax.diagonal = true;
      Series s;
      s.label = info.method + " (AUC " + num(r.roc->auc, "%.3f") + ")";
      s.x = r.roc->fpr, s.y = r.roc->tpr;
      o << svg_line_plot({s}, ax);
    }
    if (r.faith && !r.faith->size.empty()) {
      const FaithfulnessCurve& f = *r.faith;
      PlotAxes ax;
      ax.title = "Faithfulness";
      ax.x_label = "heads kept (rest ablated)";
      ax.y_label = "fraction of full " + (info.metric_name.empty() ? std::string("metric") : info.metric_name);
      std::vector<double> x(f.size.begin(), f.size.end());
      Series frac{"metric / full", x, f.fraction, "", false, true};
      Series norm{"(metric - empty) / (full - empty)", x, f.normalised, "", true, false};
      Series one{"", {x.front(), x.back()}, {1.0, 1.0}, "#999", true, false};
      o << svg_line_plot({frac, norm, one}, ax);
    }
    o << "</div>\n";
    if (r.faith)
      o << "<p class=\"note\">" << xml_escape("full model " + num(r.faith->full) + ", all heads ablated " + num(r.faith->empty) +
                                             "; CPR " + num(r.faith->cpr, "%.3f") + ", CMD " + num(r.faith->cmd, "%.3f") +
                                             " (areas over circuit size as a fraction of all heads)")
        << "</p>\n";
  }

  // Head graph.
  HeadGraphSpec g;
  g.title = edge_level ? "Circuit and top head pairs" : "Circuit heads";
  g.n_layers = L, g.n_heads = H, g.highlighted = in_circuit, g.marked = truth;
  g.highlighted_legend = "in circuit";
  if (!truth.empty()) g.marked_legend = "ground truth";
  const std::vector<HeadPair> pairs = top_head_pairs(r, std::min(info.top_edges, 60));
  for (const HeadPair& p : pairs) g.edges.push_back({p.from, p.to, p.score});
  o << "<h2>Graph</h2>\n" << svg_head_graph(g);
  if (edge_level)
    o << "<p class=\"note\">" << pairs.size()
      << " highest-scoring head pairs (code pairs seen only on positive prompts, mean over trials); line width by score.</p>\n";

  // Circuit table.
  o << "<h2>Circuit</h2>\n";
  std::vector<std::string> ch = {"rank", "head", "mean score", "std"};
  if (!r.mean_softmax.empty()) ch.push_back("softmax");
  ch.push_back("ground truth");
  Table ct(ch);
  for (size_t k = 0; k < r.circuit.size(); ++k) {
    const int h = r.circuit[k];
    if (h < 0 || h >= HT) continue;
    std::vector<std::string> row = {std::to_string(k + 1), head_name(h, H), num(r.mean_scores[h]),
                                    static_cast<size_t>(h) < r.std_scores.size() ? num(r.std_scores[h]) : ""};
    if (!r.mean_softmax.empty()) row.push_back(static_cast<size_t>(h) < r.mean_softmax.size() ? num(r.mean_softmax[h], "%.3g") : "");
    row.push_back(truth.empty() ? "" : truth[h] ? "yes" : "no");
    ct.row(row);
  }
  o << ct.str();

  // Per-trial table.
  o << "<h2>Trials</h2>\n";
  const bool ev = !r.evals.empty();
  std::vector<std::string> hdr = {"trial"};
  if (sae) hdr.insert(hdr.end(), {"seed", "SAE loss"});
  if (ev) hdr.insert(hdr.end(), {"AUC", "precision@k", "recall@k", "F1@k"});
  Table tt(hdr);
  std::vector<double> loss, auc, p, rc, f1;
  for (int t = 0; t < trials; ++t) {
    std::vector<std::string> row = {std::to_string(t)};
    if (static_cast<size_t>(t) < r.trials.size()) {
      row.push_back(std::to_string(r.trials[t].seed));
      row.push_back(num(r.trials[t].sae_loss));
      loss.push_back(r.trials[t].sae_loss);
    }
    if (ev && static_cast<size_t>(t) < r.evals.size()) {
      const TrialEval& e = r.evals[t];
      row.insert(row.end(), {num(e.auc, "%.4f"), num(e.at_k.precision, "%.3f"), num(e.at_k.recall, "%.3f"), num(e.at_k.f1, "%.3f")});
      auc.push_back(e.auc), p.push_back(e.at_k.precision), rc.push_back(e.at_k.recall), f1.push_back(e.at_k.f1);
    }
    tt.row(row);
  }
  if (trials > 1) {
    std::vector<std::string> row = {"mean ± std"};
    if (sae) row.insert(row.end(), {"", pm(loss)});
    if (ev) row.insert(row.end(), {pm(auc), pm(p), pm(rc), pm(f1)});
    tt.row(row);
  }
  o << tt.str();

  // Timings.
  o << "<h2>Timings</h2>\n";
  Table tm({"phase", "seconds", "share", "GFLOP", "GFLOP/s"});
  auto phase = [&](const std::string& name, double s, double flops) {
    const double share = r.seconds_total > 0 ? s / r.seconds_total : 0;
    tm.row({name, num(s, "%.3f"), num(100 * share, "%.1f") + "%", flops > 0 ? num(flops / 1e9, "%.3g") : "",
            flops > 0 && s > 0 ? num(flops / 1e9 / s, "%.3g") : ""});
  };
  if (sae) {
    phase("forward passes (head outputs)", r.seconds_collect, r.collect_flops);
    phase("SAE training", r.seconds_train, r.train_flops);
    phase("codes", r.seconds_codes, 0);
    phase("scores", r.seconds_scores, 0);
  } else {
    phase(info.method, r.seconds_scores, 0);
  }
  if (r.faith) phase("faithfulness", r.seconds_faithfulness, 0);
  phase("total", r.seconds_total, r.collect_flops + r.train_flops);
  o << tm.str();
  o << "<p class=\"note\">Written by circuitscan. Numbers: circuit.json beside this file.</p>\n</body></html>\n";
  return o.str();
}

}  // namespace cs
