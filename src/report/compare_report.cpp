#include "report/compare_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "report/svg.h"
#include "ops/format.h"
#include "report/text_table.h"

namespace cs {

namespace {

// "0.912" for one value, "0.912 ± 0.011" over several; "" for none.
std::string ms(const std::vector<double>& v, int prec = 3) {
  if (v.empty()) return "";
  const MeanStd s = mean_std(v);
  char buf[64];
  if (v.size() > 1) std::snprintf(buf, sizeof buf, "%.*f ± %.*f", prec, s.mean, prec, s.std);
  else std::snprintf(buf, sizeof buf, "%.*f", prec, s.mean);
  return buf;
}

std::string head_name(int i, int H) { return std::to_string(i / H) + "." + std::to_string(i % H); }

// Heads by mean score, best first; ties to the lower index (as every selection does).
std::vector<int> ranking(const MethodRow& r) {
  std::vector<int> order(r.mean_head_scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return r.mean_head_scores[a] > r.mean_head_scores[b]; });
  return order;
}

// The marks an edge AUC cell can carry instead of (or beside) a number.
constexpr const char* kNodesOnly = "nodes only";
constexpr const char* kNoTruthEdge = "no truth edge";
constexpr const char* kTruthHasNone = "truth has none";
constexpr const char* kPairsOnly = " (pairs)";

std::string edge_cell(const MethodRow& r, const CompareInfo& info) {
  if (!r.has_edges) return kNodesOnly;
  if (r.edge_auc.empty()) return info.truth_head_edges == 0 ? kTruthHasNone : kNoTruthEdge;
  return ms(r.edge_auc) + (r.edges_to_logits ? "" : kPairsOnly);
}

// The graph-wide edge AUC cell: the number, or why there is none (MethodRow::graph_edge_why up to
// its ':'; compare_notes gives the whole reason).
std::string graph_edge_cell(const MethodRow& r) {
  if (!r.has_edges) return kNodesOnly;
  if (!r.graph_edge_auc.empty()) return ms(r.graph_edge_auc);
  return "n/a: " + r.graph_edge_why.substr(0, r.graph_edge_why.find(':'));
}

bool any_trials(const std::vector<MethodRow>& rows) {
  for (const MethodRow& r : rows)
    if (r.seconds.size() > 1) return true;
  return false;
}

struct Cells {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

Cells cells(const std::vector<MethodRow>& rows, const CompareInfo& info) {
  Cells c;
  const bool truth = !info.truth.empty();
  const bool faith = std::any_of(rows.begin(), rows.end(), [](const MethodRow& r) { return r.faith.has_value(); });
  if (truth) {
    const std::string k = std::to_string(rows.empty() ? 0 : rows.front().k);
    c.header = {"method", "node AUC", "AUC of mean scores", "head-edge AUC", "graph edge AUC", "precision@" + k};
    if (faith) c.header.insert(c.header.end(), {"faithfulness@" + k, "CPR", "CMD"});
  } else {
    c.header = {"method"};
    if (faith) c.header.insert(c.header.end(), {"CPR", "CMD"});
  }
  c.header.push_back("seconds");
  if (!truth) c.header.push_back("top heads, best first");
  for (const MethodRow& r : rows) {
    std::vector<std::string> x = {r.method};
    if (truth) {
      x.push_back(ms(r.node_auc));
      x.push_back(r.roc ? fmt("%.3f", r.roc->auc) : "");
      x.push_back(edge_cell(r, info));
      x.push_back(graph_edge_cell(r));
      x.push_back(ms(r.precision));
      if (faith) x.push_back(ms(r.faithfulness));
    }
    if (faith) {
      x.push_back(r.faith ? fmt("%.3f", r.faith->cpr) : "");
      x.push_back(r.faith ? fmt("%.3f", r.faith->cmd) : "");
    }
    x.push_back(ms(r.seconds, 2));
    if (!truth) {
      std::string top;
      const std::vector<int> order = ranking(r);
      for (size_t i = 0; i < std::min<size_t>(8, order.size()); ++i) top += (i ? " " : "") + head_name(order[i], info.n_heads);
      x.push_back(top);
    }
    c.rows.push_back(x);
  }
  return c;
}

}  // namespace

std::string compare_table(const std::vector<MethodRow>& rows, const CompareInfo& info, bool md) {
  const Cells c = cells(rows, info);
  if (!md) {
    TextTable t(c.header);
    for (const auto& r : c.rows) t.row(r);
    return t.str();
  }
  std::string out = "|";
  for (const auto& h : c.header) out += " " + h + " |";
  out += "\n|";
  for (size_t i = 0; i < c.header.size(); ++i) out += "---|";
  out += "\n";
  for (const auto& r : c.rows) {
    out += "|";
    for (const auto& x : r) out += " " + x + " |";
    out += "\n";
  }
  return out;
}

namespace {

// What the graph edge AUC column means, and each "n/a" in it (once per reason, the first
// method's full text: for another model's truth it names the edge that is missing).
void graph_edge_notes(const std::vector<MethodRow>& rows, const CompareInfo& info, std::vector<std::string>& notes) {
  if (std::none_of(rows.begin(), rows.end(), [](const MethodRow& r) { return r.has_edges; })) return;
  notes.push_back("graph edge AUC: ROC AUC of each run's |edge score| over all " + std::to_string(info.graph_edges) +
                  " edges of the model's graph (input, head q/k/v, MLP and logits edges) against " + info.truth +
                  "'s edges, as discover reports it.");
  std::vector<std::string> seen;
  for (const MethodRow& r : rows) {
    if (!r.has_edges || !r.graph_edge_auc.empty()) continue;
    const std::string mark = r.graph_edge_why.substr(0, r.graph_edge_why.find(':'));
    if (std::find(seen.begin(), seen.end(), mark) != seen.end()) continue;
    seen.push_back(mark);
    std::string why = r.graph_edge_why;
    if (mark == "not every edge scored")
      why = "the method scores only some of the graph's edges (the SAE rows: head -> later-head pairs), so there is no "
            "AUC over all of them";
    else if (mark == "truth lists no edges")
      why = info.truth + " lists heads only";
    else if (mark == "every edge in the truth")
      why = "every edge of the graph is in " + info.truth + ", so the AUC is undefined";
    notes.push_back("\"n/a: " + mark + "\": " + why + ".");
  }
}

}  // namespace

std::string compare_notes(const std::vector<MethodRow>& rows, const CompareInfo& info) {
  std::vector<std::string> notes;
  const bool truth = !info.truth.empty();
  const bool faith = std::any_of(rows.begin(), rows.end(), [](const MethodRow& r) { return r.faith.has_value(); });
  if (truth) {
    const int k = rows.empty() ? 0 : rows.front().k;
    notes.push_back("node AUC: ROC AUC of each run's head scores against " + info.truth +
                    (any_trials(rows) ? ", mean ± std over the trials of the stochastic methods" : "") +
                    "; AUC of mean scores: of the scores averaged over trials (the ROC plots' curves), which can differ.");
    notes.push_back("@" + std::to_string(k) + ": the top " + std::to_string(k) + " heads, k = the truth's size (so precision = recall = F1).");
    if (faith)
      notes.push_back("faithfulness@" + std::to_string(k) + ": the metric (" + info.metric + ") with every other head " +
                      info.faith_ablation + "-ablated, as a fraction of the full model's.");
  }
  if (faith)
    notes.push_back("CPR, CMD: areas under the normalised faithfulness curve along each method's mean ranking and under its "
                    "distance from 1, over circuit size as a fraction of all heads (" + info.faith_ablation +
                    " ablation; higher CPR, lower CMD are better).");
  bool nodes_only = false, no_truth_edge = false, truth_has_none = false, pairs = false, any_edge = false;
  for (const MethodRow& r : rows) {
    if (!truth) break;
    const std::string e = edge_cell(r, info);
    nodes_only |= e == kNodesOnly;
    no_truth_edge |= e == kNoTruthEdge;
    truth_has_none |= e == kTruthHasNone;
    pairs |= e.size() > std::string(kPairsOnly).size() && e.ends_with(kPairsOnly);
    any_edge |= r.has_edges && !r.edge_auc.empty();
  }
  if (any_edge || no_truth_edge)
    notes.push_back("head-edge AUC: against the truth's edges, over every head -> later-head edge (q/k/v merged) and every "
                    "head -> logits edge the method scores.");
  if (truth) graph_edge_notes(rows, info, notes);
  if (pairs) notes.push_back("\"(pairs)\": the method scores no head -> logits edge; its AUC is over head -> head pairs only.");
  if (no_truth_edge)
    notes.push_back("\"no truth edge\": none of the truth's edges is among the edges the method scores (the SAE rows score "
                    "head -> later-head pairs only; a truth whose edges all go to the logits has none of those).");
  if (truth_has_none)
    notes.push_back("\"truth has none\": " + info.truth + " lists no head -> head or head -> logits edge, so no edge AUC.");
  if (nodes_only) notes.push_back("\"nodes only\": the method scores heads, not edges (no edge AUC of either kind).");
  if (any_trials(rows))
    notes.push_back("±: mean ± sample std over " + std::to_string(info.trials) + " trials (seeds seed..seed+" +
                    std::to_string(info.trials - 1) + ") of the stochastic methods; the others run once.");
  if (!info.method_ablation.empty())
    notes.push_back("The baselines ablate by " + info.method_ablation + "; faithfulness uses " + info.faith_ablation +
                    " ablation for every method, as discover does by default.");
  std::string out;
  for (const std::string& n : notes) out += n + "\n";
  return out;
}

std::string compare_rankings(const std::vector<MethodRow>& rows, const CompareInfo& info, int top) {
  size_t w = 0;
  for (const MethodRow& r : rows) w = std::max(w, r.method.size());
  std::string out;
  for (const MethodRow& r : rows) {
    out += r.method + ":" + std::string(w - r.method.size() + 1, ' ');
    const std::vector<int> order = ranking(r);
    for (size_t i = 0; i < std::min<size_t>(static_cast<size_t>(top), order.size()); ++i)
      out += (i ? " " : "") + head_name(order[i], info.n_heads);
    out += "\n";
  }
  return out;
}

std::string compare_json(const std::vector<MethodRow>& rows, const CompareInfo& info) {
  nlohmann::ordered_json j;
  j["model"] = info.model;
  j["task"] = info.task;
  j["truth"] = info.truth;
  j["metric"] = info.metric;
  j["method_ablation"] = info.method_ablation;
  j["faithfulness_ablation"] = info.faith_ablation;
  j["bos"] = info.bos;
  j["methods"] = nlohmann::ordered_json::array();
  for (const MethodRow& r : rows) {
    nlohmann::ordered_json x;
    x["method"] = r.method;
    x["k"] = r.k;
    x["node_auc"] = r.node_auc;
    if (r.roc) x["node_auc_of_mean_scores"] = r.roc->auc;
    x["edge_auc"] = r.edge_auc;
    x["graph_edge_auc"] = r.graph_edge_auc;
    if (!info.truth.empty() && r.graph_edge_auc.empty())
      x["graph_edge_auc_missing"] = r.has_edges ? r.graph_edge_why : std::string("no edge scores (nodes only)");
    x["edges"] = !r.has_edges ? "none (nodes only)"
                 : r.edges_to_logits ? "head->head (q/k/v merged) and head->logits"
                                     : "head->head (q/k/v merged)";
    x["precision_at_k"] = r.precision;
    x["recall_at_k"] = r.recall;
    x["f1_at_k"] = r.f1;
    x["faithfulness_at_k"] = r.faithfulness;
    x["seconds"] = r.seconds;
    x["mean_head_scores"] = r.mean_head_scores;
    std::vector<std::string> order;
    for (int h : ranking(r)) order.push_back(head_name(h, info.n_heads));
    x["ranking"] = order;
    if (r.roc) x["roc"] = {{"fpr", r.roc->fpr}, {"tpr", r.roc->tpr}, {"auc", r.roc->auc}};
    if (r.faith)
      x["faithfulness_curve"] = {{"size", r.faith->size}, {"fraction", r.faith->fraction},
                                 {"normalised", r.faith->normalised}, {"full", r.faith->full},
                                 {"empty", r.faith->empty}, {"cpr", r.faith->cpr}, {"cmd", r.faith->cmd}};
    j["methods"].push_back(x);
  }
  return j.dump(2) + "\n";
}

namespace {

const char* kCss = R"(body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1200px;margin:24px auto;padding:0 16px;color:#222}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}.note{color:#555;font-size:13px;max-width:70em}
.grid{display:flex;flex-wrap:wrap;gap:8px}.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
b.t{color:#b35900}svg{max-width:100%;height:auto})";

bool is_number(const std::string& c) {
  return !c.empty() && (std::isdigit(static_cast<unsigned char>(c[0])) ||
                        (c[0] == '-' && c.size() > 1 && std::isdigit(static_cast<unsigned char>(c[1]))));
}

// One style per method, the same in every plot: colour and dash pattern by the method's position.
void style(Series& s, size_t i) {
  s.color = series_color(static_cast<int>(i));
  s.dash = series_dash(static_cast<int>(i));
}

// The ROC of each method's mean scores: all methods in one plot, then one small plot each.
void roc_section(std::ostringstream& h, const std::vector<MethodRow>& rows) {
  std::vector<Series> all;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].roc) {
      Series s;
      s.label = rows[i].method + " (" + fmt("%.3f", rows[i].roc->auc) + ")";
      s.x = rows[i].roc->fpr, s.y = rows[i].roc->tpr;
      style(s, i);
      all.push_back(s);
    }
  if (!all.empty()) {
    PlotAxes ax;
    ax.title = "Node ROC of the mean scores (legend: AUC of mean scores)";
    ax.x_label = "false positive rate", ax.y_label = "true positive rate";
    ax.x_lo = 0, ax.x_hi = 1, ax.y_lo = 0, ax.y_hi = 1, ax.diagonal = true;
    ax.width = 560, ax.height = 460, ax.legend_right = true;
    h << "<h2 id=\"roc\">ROC curves</h2>\n" << svg_line_plot(all, ax);
    h << "<h3 id=\"roc-per-method\">One plot per method</h3>\n<div class=\"grid\">\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!rows[i].roc) continue;
      Series s;
      s.label = "mean scores: AUC " + fmt("%.3f", rows[i].roc->auc);
      s.x = rows[i].roc->fpr, s.y = rows[i].roc->tpr;
      style(s, i);
      std::vector<Series> one = {s};
      if (rows[i].node_auc.size() > 1) one.push_back({"per trial: " + ms(rows[i].node_auc), {}, {}, "#fff"});
      PlotAxes a;
      a.title = rows[i].method;
      a.x_label = "false positive rate", a.y_label = "true positive rate";
      a.x_lo = 0, a.x_hi = 1, a.y_lo = 0, a.y_hi = 1, a.diagonal = true;
      a.width = 280, a.height = 240;
      h << svg_line_plot(one, a);
    }
    h << "</div>\n";
  }
}

// The faithfulness curve along each method's mean ranking: all in one plot, then one each.
void faithfulness_section(std::ostringstream& h, const std::vector<MethodRow>& rows, const CompareInfo& info) {
  const int HT = info.n_layers * info.n_heads;
  std::vector<Series> curves;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].faith && !rows[i].faith->size.empty()) {
      Series s;
      s.label = rows[i].method + " (CPR " + fmt("%.2f", rows[i].faith->cpr) + ")";
      s.x.assign(rows[i].faith->size.begin(), rows[i].faith->size.end());
      s.y = rows[i].faith->normalised;
      style(s, i);
      curves.push_back(s);
    }
  if (!curves.empty()) {
    const int k = rows.empty() ? 0 : rows.front().k;
    // One y range for every faithfulness plot, so the small ones compare at a glance.
    double lo = 0, hi = 1;
    for (const Series& s : curves)
      for (double y : s.y)
        if (std::isfinite(y)) lo = std::min(lo, y), hi = std::max(hi, y);
    lo = std::floor(lo * 2) / 2, hi = std::ceil(hi * 2) / 2;
    auto axes = [&](const std::string& title, int w, int ht, bool small) {
      PlotAxes a;
      a.title = title;
      a.x_label = small ? "heads kept (rest ablated)" : "heads kept, best first (the rest " + info.faith_ablation + "-ablated)";
      a.y_label = small ? "normalised metric" : "(metric - ablated) / (full - ablated)";
      a.x_lo = 0, a.x_hi = HT, a.y_lo = lo, a.y_hi = hi, a.width = w, a.height = ht;
      a.legend_right = !small;
      if (k > 0) a.vlines = {static_cast<double>(k)}, a.vline_labels = {"k = " + std::to_string(k) + " (truth)"};
      return a;
    };
    h << "<h2 id=\"faithfulness\">Faithfulness</h2>\n<p class=\"note\">"
      << xml_escape("The metric (" + info.metric + ") with only the top heads of each method's mean ranking kept, "
                    "normalised: 0 = every head ablated, 1 = the full model.")
      << "</p>\n"
      << svg_line_plot(curves, axes("Faithfulness along each ranking (legend: CPR)", 560, 460, false));
    h << "<h3 id=\"faithfulness-per-method\">One plot per method</h3>\n<div class=\"grid\">\n";
    for (Series s : curves) {
      const std::string name = s.label.substr(0, s.label.find(" (CPR"));
      s.label = s.label.substr(name.size() + 2, s.label.size() - name.size() - 3);
      s.markers = true;
      Series one{"", {0.0, static_cast<double>(HT)}, {1.0, 1.0}, "#999", true, false};
      h << svg_line_plot({s, one}, axes(name, 280, 240, true));
    }
    h << "</div>\n";
  }

}

// Each method's top 16 heads, truth heads in bold.
void rankings_section(std::ostringstream& h, const std::vector<MethodRow>& rows, const CompareInfo& info) {
  const bool truth = !info.truth.empty();
  h << "<h2 id=\"rankings\">Rankings</h2>\n<p class=\"note\">Each method's heads by mean score, best first"
    << (truth && !info.truth_heads.empty() ? "; ground-truth heads in bold" : "") << ".</p>\n<table><tr><th>method</th><th>heads</th></tr>\n";
  for (const MethodRow& r : rows) {
    h << "<tr><td>" << xml_escape(r.method) << "</td><td>";
    const std::vector<int> order = ranking(r);
    for (size_t i = 0; i < std::min<size_t>(16, order.size()); ++i) {
      const bool t = static_cast<size_t>(order[i]) < info.truth_heads.size() && info.truth_heads[order[i]];
      h << (i ? " " : "") << (t ? "<b class=\"t\">" : "") << head_name(order[i], info.n_heads) << (t ? "</b>" : "");
    }
    h << (order.size() > 16 ? " …" : "") << "</td></tr>\n";
  }
  h << "</table>\n";
}

}  // namespace

std::string compare_html(const std::vector<MethodRow>& rows, const CompareInfo& info) {
  const bool truth = !info.truth.empty();
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>circuitscan compare: "
    << xml_escape(info.task) << "</title><style>" << kCss << "</style></head><body>\n";
  h << "<h1>Circuit discovery methods compared</h1>\n<p class=\"note\">model <b>" << xml_escape(info.model)
    << "</b>, task <b>" << xml_escape(info.task) << "</b> (metric: " << xml_escape(info.metric) << "), ground truth <b>"
    << xml_escape(truth ? info.truth : "none") << "</b>";
  if (!info.bos.empty()) h << ", BOS " << xml_escape(info.bos);
  h << "</p>\n";

  const Cells c = cells(rows, info);
  h << "<h2 id=\"table\">Table</h2>\n<table><tr>";
  for (const auto& x : c.header) h << "<th>" << xml_escape(x) << "</th>";
  h << "</tr>\n";
  for (const auto& r : c.rows) {
    h << "<tr>";
    for (const auto& x : r) h << (is_number(x) ? "<td class=\"n\">" : "<td>") << xml_escape(x) << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n";
  std::istringstream notes(compare_notes(rows, info));
  for (std::string line; std::getline(notes, line);) h << "<p class=\"note\">" << xml_escape(line) << "</p>\n";

  if (truth) roc_section(h, rows);
  faithfulness_section(h, rows, info);
  rankings_section(h, rows, info);
  h << "<p class=\"note\">Written by circuitscan. Numbers: compare.json beside this file.</p>\n</body></html>\n";
  return h.str();
}

}  // namespace cs
