#include "report/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ops/error.h"
#include "report/svg.h"

namespace cs {

namespace {

using json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Mean of an array of numbers (nulls, i.e. NaN, skipped); NaN when none.
double mean_of(const json& m, const char* key) {
  if (!m.contains(key) || !m[key].is_array()) return kNaN;
  double s = 0;
  int n = 0;
  for (const json& x : m[key])
    if (x.is_number()) s += x.get<double>(), ++n;
  return n ? s / n : kNaN;
}

double number_at(const json& m, const char* a, const char* b = nullptr) {
  const json* x = &m;
  for (const char* k : {a, b}) {
    if (!k) break;
    if (!x->is_object() || !x->contains(k)) return kNaN;
    x = &(*x)[k];
  }
  return x->is_number() ? x->get<double>() : kNaN;
}

const json& method_entry(const json& j, const SweepOutcome& o) {
  if (j.contains("methods") && j["methods"].is_array())
    for (const json& m : j["methods"])
      if (m.value("method", "") == o.method) return m;
  throw Error(o.dir + "/compare.json: no entry for method " + o.method + "; delete the folder and run the sweep again");
}

std::string fmt(const char* f, double v) {
  if (std::isnan(v)) return "";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

const std::vector<std::string> kHeader = {"model", "task", "method", "seed", "status", "node AUC", "AUC of mean scores",
                                          "edge AUC", "precision@k", "faithfulness@k", "CPR", "CMD", "seconds"};

std::vector<std::string> cells(const SweepRow& r) {
  const SweepOutcome& o = *r.job;
  std::vector<std::string> c = {o.model, o.task, o.method, std::to_string(o.seed),
                                o.ok ? (o.reused ? "done (earlier run)" : "done") : "failed"};
  if (!o.ok) {
    c.resize(kHeader.size());
    return c;
  }
  for (double v : {r.node_auc, r.node_auc_of_mean, r.edge_auc, r.precision_at_k, r.faithfulness_at_k, r.cpr, r.cmd})
    c.push_back(fmt("%.3f", v));
  c.push_back(fmt("%.2f", r.seconds));
  return c;
}

struct MeanStd2 {
  double mean = kNaN, std = kNaN;
  int n = 0;
};
MeanStd2 over(const std::vector<double>& v) {
  MeanStd2 m;
  double s = 0;
  for (double x : v)
    if (!std::isnan(x)) s += x, ++m.n;
  if (!m.n) return m;
  m.mean = s / m.n;
  double q = 0;
  for (double x : v)
    if (!std::isnan(x)) q += (x - m.mean) * (x - m.mean);
  m.std = m.n > 1 ? std::sqrt(q / (m.n - 1)) : 0;
  return m;
}

std::string ms_cell(const std::vector<double>& v) {
  const MeanStd2 m = over(v);
  if (!m.n) return "";
  return m.n > 1 ? fmt("%.3f", m.mean) + " ± " + fmt("%.3f", m.std) : fmt("%.3f", m.mean);
}

// Per (model, task, method): node AUC, faithfulness@k and CPR over the seeds.
struct Group {
  std::string model, task, method;
  std::vector<double> auc, faith, cpr;
  int done = 0, failed = 0;
};
std::vector<Group> groups(const std::vector<SweepRow>& rows) {
  std::vector<Group> g;
  std::map<std::string, size_t> at;
  for (const SweepRow& r : rows) {
    const SweepOutcome& o = *r.job;
    const std::string key = o.model + '\n' + o.task + '\n' + o.method;
    if (!at.count(key)) at[key] = g.size(), g.push_back({o.model, o.task, o.method, {}, {}, {}, 0, 0});
    Group& x = g[at[key]];
    if (!o.ok) {
      ++x.failed;
      continue;
    }
    ++x.done;
    x.auc.push_back(r.node_auc), x.faith.push_back(r.faithfulness_at_k), x.cpr.push_back(r.cpr);
  }
  return g;
}

std::string md_row(const std::vector<std::string>& c) {
  std::string s = "|";
  for (const auto& x : c) s += " " + x + " |";
  return s + "\n";
}

int count_failed(const std::vector<SweepOutcome>& jobs) {
  int n = 0;
  for (const auto& o : jobs) n += !o.ok;
  return n;
}

}  // namespace

std::vector<SweepRow> sweep_rows(const std::vector<SweepOutcome>& jobs) {
  std::vector<SweepRow> rows;
  for (const SweepOutcome& o : jobs) {
    SweepRow r;
    r.job = &o;
    if (o.ok) {
      json j;
      try {
        j = json::parse(o.compare_json);
      } catch (const json::exception&) {
        throw Error(o.dir + "/compare.json: not valid JSON; delete the folder and run the sweep again");
      }
      const json& m = method_entry(j, o);
      r.node_auc = mean_of(m, "node_auc");
      r.node_auc_of_mean = number_at(m, "node_auc_of_mean_scores");
      r.edge_auc = mean_of(m, "edge_auc");
      r.precision_at_k = mean_of(m, "precision_at_k");
      r.faithfulness_at_k = mean_of(m, "faithfulness_at_k");
      r.cpr = number_at(m, "faithfulness_curve", "cpr");
      r.cmd = number_at(m, "faithfulness_curve", "cmd");
      r.seconds = mean_of(m, "seconds");
      r.k = m.value("k", 0);
      r.trials = m.contains("seconds") && m["seconds"].is_array() ? static_cast<int>(m["seconds"].size()) : 0;
    }
    rows.push_back(r);
  }
  return rows;
}

std::string sweep_markdown(const std::vector<SweepOutcome>& jobs, const std::string& plan) {
  const std::vector<SweepRow> rows = sweep_rows(jobs);
  std::string s = "# circuitscan sweep\n\nplan " + plan + ": " + std::to_string(jobs.size()) + " jobs, " +
                  std::to_string(jobs.size() - count_failed(jobs)) + " done, " + std::to_string(count_failed(jobs)) +
                  " failed. Each row is one `compare` run with one method; its numbers are that run's compare.json "
                  "(means over its trials; k = the truth's size; seconds per trial); an empty cell: the run has no such number "
                  "(its compare.md says why, e.g. a method that scores no edges).\n\n";
  s += md_row(kHeader) + "|";
  for (size_t i = 0; i < kHeader.size(); ++i) s += "---|";
  s += "\n";
  for (const SweepRow& r : rows) s += md_row(cells(r));
  s += "\n## Over seeds\n\nmean ± std over the finished seeds of each model, task and method.\n\n";
  s += md_row({"model", "task", "method", "seeds done", "seeds failed", "node AUC", "faithfulness@k", "CPR"});
  s += "|---|---|---|---|---|---|---|---|\n";
  for (const Group& g : groups(rows))
    s += md_row({g.model, g.task, g.method, std::to_string(g.done), std::to_string(g.failed), ms_cell(g.auc),
                 ms_cell(g.faith), ms_cell(g.cpr)});
  if (count_failed(jobs)) {
    s += "\n## Failed jobs\n\n";
    for (const SweepOutcome& o : jobs)
      if (!o.ok) s += "- " + o.model + " " + o.task + " " + o.method + " seed " + std::to_string(o.seed) + ": " + o.error + "\n";
  }
  return s;
}

std::string sweep_csv(const std::vector<SweepOutcome>& jobs) {
  std::string s =
      "model,task,method,seed,status,node_auc,node_auc_of_mean_scores,edge_auc,precision_at_k,faithfulness_at_k,cpr,cmd,"
      "seconds,k,trials,dir,error\n";
  for (const SweepRow& r : sweep_rows(jobs)) {
    const SweepOutcome& o = *r.job;
    std::vector<std::string> c = {o.model, o.task, o.method, std::to_string(o.seed), o.ok ? "done" : "failed"};
    for (double v : {r.node_auc, r.node_auc_of_mean, r.edge_auc, r.precision_at_k, r.faithfulness_at_k, r.cpr, r.cmd,
                     r.seconds})
      c.push_back(o.ok ? fmt("%.17g", v) : "");
    c.push_back(o.ok ? std::to_string(r.k) : "");
    c.push_back(o.ok ? std::to_string(r.trials) : "");
    c.push_back(o.dir);
    c.push_back(o.error);
    for (size_t i = 0; i < c.size(); ++i) s += (i ? "," : "") + csv_cell(c[i]);
    s += "\n";
  }
  return s;
}

std::string sweep_json(const std::vector<SweepOutcome>& jobs, const std::string& plan) {
  nlohmann::ordered_json j;
  j["plan"] = plan;
  j["jobs"] = nlohmann::ordered_json::array();
  auto num = [](double v) { return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v); };
  for (const SweepRow& r : sweep_rows(jobs)) {
    const SweepOutcome& o = *r.job;
    nlohmann::ordered_json x;
    x["model"] = o.model, x["task"] = o.task, x["method"] = o.method, x["seed"] = o.seed;
    x["status"] = o.ok ? "done" : "failed";
    x["dir"] = o.dir;
    if (o.ok) {
      x["reused"] = o.reused;
      x["node_auc"] = num(r.node_auc), x["node_auc_of_mean_scores"] = num(r.node_auc_of_mean);
      x["edge_auc"] = num(r.edge_auc), x["precision_at_k"] = num(r.precision_at_k);
      x["faithfulness_at_k"] = num(r.faithfulness_at_k), x["cpr"] = num(r.cpr), x["cmd"] = num(r.cmd);
      x["seconds"] = num(r.seconds), x["k"] = r.k, x["trials"] = r.trials;
    } else {
      x["error"] = o.error;
    }
    j["jobs"].push_back(x);
  }
  // An error line is a child's stderr: not always UTF-8.
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string sweep_html(const std::vector<SweepOutcome>& jobs, const std::string& plan) {
  const std::vector<SweepRow> rows = sweep_rows(jobs);
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>circuitscan sweep</title><style>"
       "body{font-family:system-ui,sans-serif;max-width:1200px;margin:24px auto;padding:0 16px;color:#222}"
       "h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd}table{border-collapse:collapse;font-size:13px}"
       "td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}th{background:#f4f4f4}"
       "td.fail{color:#b00}.note{color:#555;font-size:13px;max-width:70em}.row{display:flex;flex-wrap:wrap;gap:24px}"
       "svg{max-width:100%;height:auto}</style></head><body>\n";
  h << "<h1>circuitscan sweep</h1>\n<p class=\"note\">plan " << xml_escape(plan) << ": " << jobs.size() << " jobs, "
    << jobs.size() - count_failed(jobs) << " done, " << count_failed(jobs)
    << " failed. Each row is one <code>compare</code> run with one method; its numbers are that run's compare.json "
       "(means over its trials; seconds per trial). Numbers: sweep.json, sweep.csv.</p>\n";
  h << "<h2 id=\"summary\">Summary</h2>\n<table><tr>";
  for (const auto& c : kHeader) h << "<th>" << xml_escape(c) << "</th>";
  h << "</tr>\n";
  for (const SweepRow& r : rows) {
    h << "<tr>";
    for (const auto& c : cells(r)) h << (r.job->ok ? "<td>" : "<td class=\"fail\">") << xml_escape(c) << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n<h3 id=\"over-seeds\">Over seeds</h3>\n<p class=\"note\">mean ± std over the finished seeds.</p>\n<table><tr>";
  for (const char* c : {"model", "task", "method", "seeds done", "seeds failed", "node AUC", "faithfulness@k", "CPR"})
    h << "<th>" << c << "</th>";
  h << "</tr>\n";
  for (const Group& g : groups(rows)) {
    h << "<tr>";
    for (const std::string& c : {g.model, g.task, g.method, std::to_string(g.done), std::to_string(g.failed), ms_cell(g.auc),
                                 ms_cell(g.faith), ms_cell(g.cpr)})
      h << "<td>" << xml_escape(c) << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n";
  std::vector<std::string> tasks;
  for (const SweepOutcome& o : jobs)
    if (std::find(tasks.begin(), tasks.end(), o.task) == tasks.end()) tasks.push_back(o.task);
  for (const std::string& t : tasks) {
    std::vector<Series> roc, faith;
    double hi = 1, lo = 0, x_hi = 1;
    int i = 0;
    for (const SweepRow& r : rows) {
      const SweepOutcome& o = *r.job;
      if (o.task != t || !o.ok) continue;
      const json m = method_entry(json::parse(o.compare_json), o);
      const std::string name = o.method + ", " + o.model + ", seed " + std::to_string(o.seed);
      if (m.contains("roc")) {
        Series s;
        s.label = name + " (" + fmt("%.3f", r.node_auc_of_mean) + ")";
        s.x = m["roc"]["fpr"].get<std::vector<double>>(), s.y = m["roc"]["tpr"].get<std::vector<double>>();
        s.color = series_color(i), s.dash = series_dash(i);
        roc.push_back(s);
      }
      if (m.contains("faithfulness_curve")) {
        Series s;
        s.label = name + " (CPR " + fmt("%.2f", r.cpr) + ")";
        s.x = m["faithfulness_curve"]["size"].get<std::vector<double>>();
        for (const json& y : m["faithfulness_curve"]["normalised"]) s.y.push_back(y.is_number() ? y.get<double>() : kNaN);
        for (double y : s.y)
          if (std::isfinite(y)) lo = std::min(lo, y), hi = std::max(hi, y);
        for (double x : s.x) x_hi = std::max(x_hi, x);
        s.color = series_color(i), s.dash = series_dash(i);
        faith.push_back(s);
      }
      ++i;
    }
    h << "<h2 id=\"task-" << xml_escape(t) << "\">Task " << xml_escape(t) << "</h2>\n";
    if (roc.empty() && faith.empty()) {
      h << "<p class=\"note\">No finished job of this task has a ROC curve or a faithfulness curve.</p>\n";
      continue;
    }
    h << "<div class=\"row\">\n";
    if (!roc.empty()) {
      PlotAxes a;
      a.title = "Node ROC of each job's mean scores (legend: AUC)";
      a.x_label = "false positive rate", a.y_label = "true positive rate";
      a.x_lo = 0, a.x_hi = 1, a.y_lo = 0, a.y_hi = 1, a.diagonal = true, a.width = 520, a.height = 420, a.legend_right = true;
      h << svg_line_plot(roc, a);
    }
    if (!faith.empty()) {
      PlotAxes a;
      a.title = "Faithfulness along each job's ranking (legend: CPR)";
      a.x_label = "heads kept, best first (the rest ablated)", a.y_label = "(metric - ablated) / (full - ablated)";
      a.x_lo = 0, a.x_hi = x_hi, a.y_lo = std::floor(lo * 2) / 2, a.y_hi = std::ceil(hi * 2) / 2;
      a.width = 520, a.height = 420, a.legend_right = true;
      h << svg_line_plot(faith, a);
    }
    h << "</div>\n";
  }
  if (count_failed(jobs)) {
    h << "<h2 id=\"failed\">Failed jobs</h2>\n<ul>\n";
    for (const SweepOutcome& o : jobs)
      if (!o.ok)
        h << "<li>" << xml_escape(o.model + " " + o.task + " " + o.method + " seed " + std::to_string(o.seed)) << ": <code>"
          << xml_escape(o.error) << "</code></li>\n";
    h << "</ul>\n";
  }
  h << "<p class=\"note\">Written by circuitscan sweep. Each job's own compare.html is in its folder.</p>\n</body></html>\n";
  return h.str();
}

}  // namespace cs
