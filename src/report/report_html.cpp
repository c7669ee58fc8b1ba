#include "report/report_html.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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
  // An empty header draws no header row.
  explicit Table(const std::vector<std::string>& header) {
    o << "<table>";
    if (!header.empty()) {
      o << "<tr>";
      for (const std::string& h : header) o << "<th>" << xml_escape(h) << "</th>";
      o << "</tr>";
    }
    o << "\n";
  }
  // Cells that are a number ("0.93", "12%", "0.90 ± 0.02") are right-aligned; text is not.
  static bool is_number(const std::string& c) {
    auto one = [](const std::string& t) {
      if (t.empty()) return false;
      char* end = nullptr;
      std::strtod(t.c_str(), &end);
      return end != t.c_str() && (*end == '\0' || (*end == '%' && end[1] == '\0'));
    };
    const size_t pm = c.find(" ± ");
    return pm == std::string::npos ? one(c) : one(c.substr(0, pm)) && one(c.substr(pm + std::string(" ± ").size()));
  }
  void row(const std::vector<std::string>& cells) {
    o << "<tr>";
    for (const std::string& c : cells) o << (is_number(c) ? "<td class=\"n\">" : "<td>") << xml_escape(c) << "</td>";
    o << "</tr>\n";
  }
  std::string str() { return o.str() + "</table>\n"; }
};

std::string pm(const std::vector<double>& v) {
  if (v.empty()) return "";
  MeanStd m = mean_std(v);
  return num(m.mean, "%.3f") + " ± " + num(m.std, "%.3f");
}

// What every section of the report reads: the run, and what is derived from it once.
struct View {
  const DiscoverResult& r;
  const RunInfo& info;
  int L = 0, H = 0, HT = 0, trials = 0;
  std::vector<bool> truth, in_circuit;
  bool edge_level = false, two_scores = false, sae = false;
  std::string level, model, ranking, paper;

  View(const DiscoverResult& r_, const RunInfo& info_) : r(r_), info(info_) {
    L = info.n_layers, H = info.n_heads;
    if (L <= 0 || H <= 0 || r.mean_scores.size() != static_cast<size_t>(L) * H)
      throw Error("report: the result has " + std::to_string(r.mean_scores.size()) + " head scores but the run says " +
                  std::to_string(L) + " layers x " + std::to_string(H) + " heads");
    HT = L * H;
    truth = report_truth_labels(info);
    in_circuit.assign(HT, false);
    for (int h : r.circuit)
      if (h >= 0 && h < HT) in_circuit[h] = true;
    edge_level = !r.mean_edge_U.empty();
    level = info.level.empty() ? (edge_level ? "edge" : "node") : info.level;
    model = info.model_family.empty() ? info.model_dir : info.model_family;
    trials = static_cast<int>(r.head_scores.size());
    ranking = info.ranking.empty() ? "score" : info.ranking;
    paper = info.paper_score.empty() ? "paper score" : info.paper_score;
    two_scores = !r.paper_scores.empty() && ranking != paper;
    sae = !r.trials.empty();
  }
  static double at(const std::vector<double>& v, int h) { return static_cast<size_t>(h) < v.size() ? v[h] : NAN; }
  std::string with_std(double m, double sd) const { return trials > 1 ? num(m) + " ± " + num(sd) : num(m); }
};

// The run's summary (and its evaluation's headline numbers) beside the settings it used.
void run_section(std::ostringstream& o, const View& v) {
  const DiscoverResult& r = v.r;
  const RunInfo& info = v.info;
  o << "<h2 id=\"run\">Run</h2>\n<div class=\"row\">";
  Table run({});
  run.row({"model", info.model_dir});
  if (!info.model_family.empty()) run.row({"architecture", info.model_family});
  run.row({"heads", std::to_string(v.L) + " layers × " + std::to_string(v.H) + " heads = " + std::to_string(v.HT)});
  run.row({"task", info.task});
  if (!info.metric_name.empty()) run.row({"metric", info.metric_name});
  if (v.sae) run.row({"prompts", std::to_string(r.n_positive) + " positive, " + std::to_string(r.n_negative) + " negative"});
  run.row({"method", info.method + " (" + v.level + " level)"});
  run.row({"ranking", v.ranking});
  run.row({"seed", std::to_string(info.seed) + (v.trials > 1 ? " (trial t uses seed + t)" : "")});
  run.row({"ground truth", info.truth_name.empty() ? "none" : info.truth_name + " (evaluation only)"});
  run.row({"circuit size", std::to_string(r.circuit.size()) + (r.size_rule.empty() ? "" : ": " + r.size_rule)});
  if (r.mean_eval) {
    run.row({"ROC AUC of the " + std::string(v.trials > 1 ? "mean ranking" : "ranking"), num(r.mean_eval->auc, "%.4f")});
    std::vector<double> auc;
    for (const TrialEval& e : r.evals) auc.push_back(e.auc);
    if (auc.size() > 1) run.row({"ROC AUC per trial", pm(auc)});
    if (r.circuit_eval)
      run.row({"the circuit: precision / recall / F1", num(r.circuit_eval->precision, "%.3f") + " / " +
                                                           num(r.circuit_eval->recall, "%.3f") + " / " +
                                                           num(r.circuit_eval->f1, "%.3f")});
    run.row({"at the truth's size (top " + std::to_string(r.mean_eval->at_k.tp + r.mean_eval->at_k.fn) + "): precision = recall",
             num(r.mean_eval->at_k.precision, "%.3f")});
    if (r.edge_auc)
      run.row({std::string("edge ROC AUC (") + (r.edge_auc_with_logits ? "head->head and head->logits" : "head->head") + ")",
               num(*r.edge_auc, "%.4f")});
  }
  if (r.faith) run.row({"circuit faithfulness", num(r.circuit_faithfulness, "%.3f") + " of the full metric"});
  if (r.mib_faith)
    run.row({"MIB faithfulness (edge level): CPR / CMD", num(r.mib_faith->cpr, "%.3f") + " / " + num(r.mib_faith->cmd, "%.3f")});
  o << run.str();
  if (!info.settings.empty()) {
    Table set({"setting", "value"});
    for (const auto& [k, val] : info.settings) set.row({k, val});
    o << "<div id=\"settings\">" << set.str() << "</div>";
  }
  o << "</div>\n";
}

// Heatmaps: the ranking, and the paper's score beside it when they differ.
void scores_section(std::ostringstream& o, const View& v) {
  const DiscoverResult& r = v.r;
  auto heatmap = [&](const std::string& what, const std::vector<double>& mean) {
    HeatmapSpec hm;
    hm.title = what + (v.trials > 1 ? " (mean over " + std::to_string(v.trials) + " trials)" : "");
    hm.rows = v.L, hm.cols = v.H, hm.values = mean, hm.outlined = v.in_circuit, hm.marked = v.truth;
    hm.outlined_legend = "in circuit";
    if (!v.truth.empty()) hm.marked_legend = "ground truth (" + v.info.truth_name + ")";
    for (int h = 0; h < v.HT; ++h) {
      std::string t = head_name(h, v.H) + ": " + v.ranking + " " + v.with_std(View::at(r.mean_scores, h), View::at(r.std_scores, h));
      if (v.two_scores) t += ", " + v.paper + " " + v.with_std(View::at(r.paper_scores, h), View::at(r.paper_std, h));
      if (!r.paper_softmax.empty()) t += ", softmax(" + v.paper + ") " + num(View::at(r.paper_softmax, h), "%.3g");
      hm.tooltips.push_back(t);
    }
    return svg_heatmap(hm);
  };
  o << "<h2 id=\"scores\">Head scores</h2>\n<div class=\"row\">" << heatmap(v.ranking, r.mean_scores);
  if (v.two_scores) o << heatmap(v.paper + " (sizes the circuit)", r.paper_scores);
  o << "</div>\n";
}

// ROC and faithfulness side by side.
void evaluation_section(std::ostringstream& o, const View& v) {
  const DiscoverResult& r = v.r;
  if (!r.roc && !r.faith) return;
  o << "<h2 id=\"evaluation\">Evaluation</h2>\n<div class=\"row\">\n";
  if (r.roc) {
    PlotAxes ax;
    ax.title = "ROC vs " + v.info.truth_name;
    ax.x_label = "false positive rate", ax.y_label = "true positive rate";
    ax.x_lo = 0, ax.x_hi = 1, ax.y_lo = 0, ax.y_hi = 1, ax.diagonal = true;
    Series s;
    s.label = v.ranking + " (AUC " + num(r.roc->auc, "%.3f") + ")";
    s.x = r.roc->fpr, s.y = r.roc->tpr;
    o << svg_line_plot({s}, ax);
  }
  if (r.faith && !r.faith->size.empty()) {
    const FaithfulnessCurve& f = *r.faith;
    PlotAxes ax;
    ax.title = "Faithfulness along the ranking";
    ax.x_label = "heads kept, best first (the rest ablated)";
    ax.y_label = "fraction of the full model's metric";
    ax.x_lo = 0, ax.x_hi = v.HT;
    ax.vlines = {static_cast<double>(r.circuit.size())};
    ax.vline_labels = {"circuit: " + std::to_string(r.circuit.size()) + " heads"};
    std::vector<double> x(f.size.begin(), f.size.end());
    Series frac{"metric / full", x, f.fraction, "", false, true};
    Series norm{"(metric - ablated) / (full - ablated)", x, f.normalised, "", true, false};
    Series one{"", {0.0, static_cast<double>(v.HT)}, {1.0, 1.0}, "#999", true, false};
    o << svg_line_plot({frac, norm, one}, ax);
  }
  o << "</div>\n";
  if (r.faith)
    o << "<p class=\"note\">" << xml_escape("Metric: " + (v.info.metric_name.empty() ? std::string("the task's") : v.info.metric_name) +
                                           ". Full model " + num(r.faith->full) + ", all heads ablated " + num(r.faith->empty) +
                                           "; CPR " + num(r.faith->cpr, "%.3f") + ", CMD " + num(r.faith->cmd, "%.3f") +
                                           " (areas over circuit size as a fraction of all heads).")
      << "</p>\n";
}

// The head graph: the circuit's heads, and at edge level the best head pairs.
void graph_section(std::ostringstream& o, const View& v) {
  HeadGraphSpec g;
  g.title = v.edge_level ? "Circuit and top head pairs" : "Circuit heads";
  g.n_layers = v.L, g.n_heads = v.H, g.highlighted = v.in_circuit, g.marked = v.truth;
  g.highlighted_legend = "in circuit";
  if (!v.truth.empty()) g.marked_legend = "ground truth";
  const std::vector<HeadPair> pairs = top_head_pairs(v.r, v.H, std::min(v.info.top_edges, 40));
  for (const HeadPair& p : pairs) g.edges.push_back({p.from, p.to, p.score});
  g.edge_legend = "code pair seen only on positives (earlier → later layer)";
  o << "<h2 id=\"graph\">Graph</h2>\n" << svg_head_graph(g);
  if (v.edge_level)
    o << "<p class=\"note\">" << pairs.size()
      << " highest-scoring pairs of heads in different layers (code pairs seen only on positive prompts, mean over "
         "trials), drawn from the earlier head to the later, which is the only way information can flow; pairs within "
         "one layer are left out. Line width by score.</p>\n";
}

void circuit_section(std::ostringstream& o, const View& v) {
  const DiscoverResult& r = v.r;
  o << "<h2 id=\"circuit\">Circuit</h2>\n";
  std::vector<std::string> ch = {"rank", "head", v.ranking + (v.trials > 1 ? " (mean ± std)" : "")};
  if (v.two_scores) ch.push_back(v.paper + (v.trials > 1 ? " (mean ± std)" : ""));
  if (!r.paper_softmax.empty()) ch.push_back("softmax(" + v.paper + ")");
  ch.push_back("ground truth");
  Table ct(ch);
  for (size_t k = 0; k < r.circuit.size(); ++k) {
    const int h = r.circuit[k];
    if (h < 0 || h >= v.HT) continue;
    std::vector<std::string> row = {std::to_string(k + 1), head_name(h, v.H), v.with_std(r.mean_scores[h], View::at(r.std_scores, h))};
    if (v.two_scores) row.push_back(v.with_std(View::at(r.paper_scores, h), View::at(r.paper_std, h)));
    if (!r.paper_softmax.empty()) row.push_back(num(View::at(r.paper_softmax, h), "%.3g"));
    row.push_back(v.truth.empty() ? "" : v.truth[h] ? "yes" : "no");
    ct.row(row);
  }
  o << ct.str();
  if (r.boundary_ties > 0)
    o << "<p class=\"note\">" << r.boundary_ties << " more head" << (r.boundary_ties == 1 ? "" : "s")
      << " tie the last circuit head's score; the lower head indices were kept.</p>\n";
}

void trials_section(std::ostringstream& o, const View& v) {
  const DiscoverResult& r = v.r;
  o << "<h2 id=\"trials\">Trials</h2>\n";
  const bool ev = !r.evals.empty();
  std::vector<std::string> hdr = {"trial"};
  if (v.sae) hdr.insert(hdr.end(), {"seed", "SAE loss"});
  if (ev) hdr.insert(hdr.end(), {"ROC AUC", "precision = recall at the truth's size"});
  Table tt(hdr);
  std::vector<double> loss, auc, p;
  for (int t = 0; t < v.trials; ++t) {
    std::vector<std::string> row = {std::to_string(t)};
    if (static_cast<size_t>(t) < r.trials.size()) {
      row.push_back(std::to_string(r.trials[t].seed));
      row.push_back(num(r.trials[t].sae_loss));
      loss.push_back(r.trials[t].sae_loss);
    }
    if (ev && static_cast<size_t>(t) < r.evals.size()) {
      const TrialEval& e = r.evals[t];
      row.insert(row.end(), {num(e.auc, "%.4f"), num(e.at_k.precision, "%.3f")});
      auc.push_back(e.auc), p.push_back(e.at_k.precision);
    }
    tt.row(row);
  }
  if (v.trials > 1) {
    std::vector<std::string> row = {"mean ± std"};
    if (v.sae) row.insert(row.end(), {"", pm(loss)});
    if (ev) row.insert(row.end(), {pm(auc), pm(p)});
    tt.row(row);
  }
  o << tt.str();
}

void timings_section(std::ostringstream& o, const View& v) {
  const DiscoverResult& r = v.r;
  o << "<h2 id=\"timings\">Timings</h2>\n";
  Table tm({"phase", "seconds", "share", "GFLOP", "GFLOP/s"});
  auto phase = [&](const std::string& name, double s, double flops) {
    const double share = r.seconds_total > 0 ? s / r.seconds_total : 0;
    tm.row({name, num(s, "%.3f"), num(100 * share, "%.1f") + "%", flops > 0 ? num(flops / 1e9, "%.3g") : "",
            flops > 0 && s > 0 ? num(flops / 1e9 / s, "%.3g") : ""});
  };
  if (v.sae) {
    phase("forward passes (head outputs)", r.seconds_collect, r.collect_flops);
    phase("SAE training", r.seconds_train, r.train_flops);
    phase("codes", r.seconds_codes, 0);
    phase("scores", r.seconds_scores, 0);
  } else {
    phase(v.info.method, r.seconds_scores, 0);
  }
  if (r.faith) phase("faithfulness", r.seconds_faithfulness, 0);
  phase("total", r.seconds_total, r.collect_flops + r.train_flops);
  o << tm.str();
}

}  // namespace

std::string report_html(const DiscoverResult& r, const RunInfo& info) {
  const View v(r, info);
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>"
    << xml_escape("circuitscan: " + info.task + " on " + v.model) << "</title>\n<style>" << kCss << "</style></head><body>\n";
  o << "<h1>" << xml_escape("Circuit for " + info.task + " in " + v.model) << "</h1>\n<p class=\"note\">"
    << xml_escape(info.method + " method, " + v.level + " level, " + std::to_string(v.trials) + " trial" +
                  (v.trials == 1 ? "" : "s") + ", " + std::to_string(r.circuit.size()) + " heads in the circuit")
    << "</p>\n";
  if (!info.command_line.empty()) o << "<pre>" << xml_escape(info.command_line) << "</pre>\n";
  run_section(o, v);
  scores_section(o, v);
  evaluation_section(o, v);
  graph_section(o, v);
  circuit_section(o, v);
  trials_section(o, v);
  timings_section(o, v);
  o << "<p class=\"note\">Written by circuitscan. Numbers: circuit.json beside this file.</p>\n</body></html>\n";
  return o.str();
}

}  // namespace cs
