// The compare page: the table and the ROC curves of every method in one plot.
#include "compare/compare.h"
#include "report/svg.h"

namespace cs {

std::string compare_html(const std::vector<MethodRow>& rows, const std::string& model,
                         const std::string& task, const std::string& truth) {
  std::string h = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>circuitscan compare: " +
                  xml_escape(task) + "</title><style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
                  "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>"
                  "</head><body>";
  h += "<h1>Circuit discovery methods compared</h1><p>model <b>" + xml_escape(model) + "</b>, task <b>" +
       xml_escape(task) + "</b>, ground truth <b>" + xml_escape(truth.empty() ? "none" : truth) + "</b></p>";
  h += "<table><tr><th>method</th><th>node AUC</th><th>edge AUC</th><th>precision@k</th>"
       "<th>recall@k</th><th>F1@k</th><th>faithfulness@k</th><th>seconds</th></tr>";
  std::string md = compare_table(rows, true);
  // Reuse the markdown rows: skip the header and separator lines.
  size_t pos = md.find('\n', md.find('\n') + 1) + 1;
  while (pos < md.size()) {
    size_t end = md.find('\n', pos);
    std::string line = md.substr(pos, end - pos);
    h += "<tr>";
    size_t a = line.find('|') + 1;
    while (a < line.size()) {
      size_t b = line.find('|', a);
      if (b == std::string::npos) break;
      h += "<td>" + xml_escape(line.substr(a + 1, b - a - 2)) + "</td>";
      a = b + 1;
    }
    h += "</tr>";
    pos = end + 1;
  }
  h += "</table>";
  std::vector<Series> series;
  for (const MethodRow& r : rows)
    if (r.roc) {
      Series s;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s (AUC %.3f)", r.method.c_str(), r.roc->auc);
      s.label = buf;
      s.x = r.roc->fpr;
      s.y = r.roc->tpr;
      series.push_back(s);
    }
  if (!series.empty()) {
    PlotAxes ax;
    ax.title = "Node ROC (mean head scores over trials)";
    ax.x_label = "false positive rate";
    ax.y_label = "true positive rate";
    ax.x_lo = 0, ax.x_hi = 1, ax.y_lo = 0, ax.y_hi = 1;
    ax.diagonal = true;
    ax.width = 560, ax.height = 420;
    h += "<h2>ROC curves</h2>" + svg_line_plot(series, ax);
  }
  h += "<p>k = the ground truth's number of heads; faithfulness = task metric with every head outside the "
       "top-k ablated, as a fraction of the full model's. Stochastic methods (sae, sp) show mean ± std over trials.</p>";
  return h + "</body></html>\n";
}

}  // namespace cs
