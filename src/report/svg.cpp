#include "report/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace cs {

namespace {

// Coordinates with one decimal: small files, sub-pixel precision is invisible.
std::string f1(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

// Tick and legend numbers: short, no trailing zeros.
std::string short_num(double v) {
  char b[32];
  if (std::abs(v) < 1e-12) v = 0;
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

// "Nice" tick step (1, 2 or 5 times a power of ten) giving about `target` intervals.
double nice_step(double range, int target) {
  if (!(range > 0)) return 1;
  const double raw = range / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  return mag * (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10);
}

// Data range widened to whole tick steps; a flat range gets a unit around it.
void auto_range(const std::vector<Series>& s, bool x, double& lo, double& hi) {
  lo = INFINITY, hi = -INFINITY;
  for (const Series& e : s)
    for (double v : x ? e.x : e.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  const double step = nice_step(hi - lo, 5);
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
}

std::vector<double> ticks(double lo, double hi) {
  const double step = nice_step(hi - lo, 5);
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(v);
  return t;
}

void open_svg(std::ostringstream& o, int w, int h, const std::string& cls) {
  // No xmlns: HTML5 puts inline <svg> in the SVG namespace itself, and the report holds no
  // URL at all (a check that it loads nothing from the network stays a plain text search).
  o << "<svg class=\"" << cls << "\" width=\"" << w
    << "\" height=\"" << h << "\" viewBox=\"0 0 " << w << ' ' << h
    << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
}

void text(std::ostringstream& o, double x, double y, const std::string& s, const char* anchor = "start",
          const std::string& extra = "") {
  o << "<text x=\"" << f1(x) << "\" y=\"" << f1(y) << "\" text-anchor=\"" << anchor << '"' << extra
    << '>' << xml_escape(s) << "</text>\n";
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&#39;"; break;
      default: r += c;
    }
  }
  return r;
}

std::string ramp_color(double t) {
  // viridis at 0, .25, .5, .75, 1 (matplotlib), linearly interpolated.
  static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 4;
  const int i = std::min(3, static_cast<int>(t));
  const double u = t - i;
  char b[8];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", static_cast<int>(std::lround(stops[i][0] + u * (stops[i + 1][0] - stops[i][0]))),
                static_cast<int>(std::lround(stops[i][1] + u * (stops[i + 1][1] - stops[i][1]))),
                static_cast<int>(std::lround(stops[i][2] + u * (stops[i + 1][2] - stops[i][2]))));
  return b;
}

std::string series_color(int i) {
  static const char* c[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#882255"};
  return c[((i % 8) + 8) % 8];
}

std::string series_dash(int i) {
  static const char* d[] = {"", "7 3", "2 2", "9 3 2 3", "", "4 4", "1 3", "9 3 2 3 2 3"};
  return d[((i % 8) + 8) % 8];
}

std::string svg_line_plot(const std::vector<Series>& series, const PlotAxes& a) {
  const double L = 58, R = 16, T = a.title.empty() ? 12 : 30, B = 44;
  const double pw = a.width - L - R, ph = a.height - T - B;
  size_t legend_chars = 0;
  for (const Series& s : series) legend_chars = std::max(legend_chars, s.label.size());
  const double legend_w = 34 + 6.2 * static_cast<double>(legend_chars);
  const int svg_w = a.legend_right && legend_chars > 0 ? a.width + static_cast<int>(std::ceil(legend_w)) + 8 : a.width;
  double x0 = a.x_lo, x1 = a.x_hi, y0 = a.y_lo, y1 = a.y_hi;
  if (!(x0 < x1)) auto_range(series, true, x0, x1);
  if (!(y0 < y1)) auto_range(series, false, y0, y1);
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return T + ph - (y - y0) / (y1 - y0) * ph; };

  std::ostringstream o;
  open_svg(o, svg_w, a.height, "plot");
  if (!a.title.empty()) text(o, a.width / 2.0, 18, a.title, "middle", " font-size=\"13\" font-weight=\"bold\"");
  for (double t : ticks(x0, x1)) {
    o << "<line x1=\"" << f1(px(t)) << "\" y1=\"" << f1(T) << "\" x2=\"" << f1(px(t)) << "\" y2=\"" << f1(T + ph)
      << "\" stroke=\"#eee\"/>\n";
    text(o, px(t), T + ph + 14, short_num(t), "middle");
  }
  for (double t : ticks(y0, y1)) {
    o << "<line x1=\"" << f1(L) << "\" y1=\"" << f1(py(t)) << "\" x2=\"" << f1(L + pw) << "\" y2=\"" << f1(py(t))
      << "\" stroke=\"#eee\"/>\n";
    text(o, L - 5, py(t) + 4, short_num(t), "end");
  }
  o << "<rect x=\"" << f1(L) << "\" y=\"" << f1(T) << "\" width=\"" << f1(pw) << "\" height=\"" << f1(ph)
    << "\" fill=\"none\" stroke=\"#888\"/>\n";
  text(o, L + pw / 2, a.height - 8, a.x_label, "middle");
  text(o, 14, T + ph / 2, a.y_label, "middle",
       " transform=\"rotate(-90 14 " + f1(T + ph / 2) + ")\"");
  if (a.diagonal) {
    const double lo = std::max(x0, y0), hi = std::min(x1, y1);
    if (lo < hi)
      o << "<line x1=\"" << f1(px(lo)) << "\" y1=\"" << f1(py(lo)) << "\" x2=\"" << f1(px(hi)) << "\" y2=\""
        << f1(py(hi)) << "\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n";
  }

  std::vector<std::pair<std::string, const Series*>> legend;
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const std::string col = s.color.empty() ? series_color(static_cast<int>(i)) : s.color;
    const std::string dash = !s.dash.empty() ? s.dash : s.dashed ? "6 4" : "";
    const size_t n = std::min(s.x.size(), s.y.size());
    o << "<polyline class=\"series\" fill=\"none\" stroke=\"" << col << "\" stroke-width=\"2\""
      << (dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"") << " points=\"";
    for (size_t k = 0; k < n; ++k)
      if (std::isfinite(s.x[k]) && std::isfinite(s.y[k])) o << f1(px(s.x[k])) << ',' << f1(py(s.y[k])) << ' ';
    o << "\"/>\n";
    if (s.markers)
      for (size_t k = 0; k < n; ++k)
        if (std::isfinite(s.x[k]) && std::isfinite(s.y[k]))
          o << "<circle cx=\"" << f1(px(s.x[k])) << "\" cy=\"" << f1(py(s.y[k])) << "\" r=\"2.5\" fill=\"" << col << "\"/>\n";
    if (!s.label.empty()) legend.push_back({col, &s});
  }
  for (size_t i = 0; i < a.vlines.size(); ++i) {
    const double x = a.vlines[i];
    if (!(x >= x0 && x <= x1)) continue;
    o << "<line class=\"vline\" x1=\"" << f1(px(x)) << "\" y1=\"" << f1(T) << "\" x2=\"" << f1(px(x)) << "\" y2=\""
      << f1(T + ph) << "\" stroke=\"#444\" stroke-width=\"1.2\" stroke-dasharray=\"3 3\"/>\n";
    if (i < a.vline_labels.size() && !a.vline_labels[i].empty())
      text(o, px(x) + (px(x) > L + pw * 0.7 ? -4 : 4), T + 12, a.vline_labels[i], px(x) > L + pw * 0.7 ? "end" : "start",
           " font-size=\"10\" fill=\"#444\"");
  }
  if (!legend.empty() && a.legend) {
    const double lw = legend_w, lh = 8 + 16.0 * static_cast<double>(legend.size());
    const double lx = a.legend_right ? L + pw + 12 : L + pw - lw - 6, ly = a.legend_right ? T : T + ph - lh - 6;
    o << "<g class=\"legend\"><rect x=\"" << f1(lx) << "\" y=\"" << f1(ly) << "\" width=\"" << f1(lw)
      << "\" height=\"" << f1(lh) << "\" fill=\"#fff\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n";
    for (size_t i = 0; i < legend.size(); ++i) {
      const double y = ly + 12 + 16.0 * static_cast<double>(i);
      o << "<line x1=\"" << f1(lx + 6) << "\" y1=\"" << f1(y) << "\" x2=\"" << f1(lx + 26) << "\" y2=\"" << f1(y)
        << "\" stroke=\"" << legend[i].first << "\" stroke-width=\"2\"";
      const Series& ls = *legend[i].second;
      const std::string dash = !ls.dash.empty() ? ls.dash : ls.dashed ? "6 4" : "";
      if (!dash.empty()) o << " stroke-dasharray=\"" << dash << "\"";
      o << "/>\n";
      text(o, lx + 30, y + 4, legend[i].second->label);
    }
    o << "</g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::string svg_heatmap(const HeatmapSpec& s) {
  const int rows = std::max(0, s.rows), cols = std::max(0, s.cols);
  const double cell = std::clamp(520.0 / std::max(1, cols), 10.0, 28.0);
  const double L = 52, T = s.title.empty() ? 30 : 54, barw = 12, R = 84;
  const double legend_w = (s.outlined_legend.empty() ? 0 : 30 + 6.2 * static_cast<double>(s.outlined_legend.size())) +
                          (s.marked_legend.empty() ? 0 : 15 + 6.2 * static_cast<double>(s.marked_legend.size()));
  const double w = std::max(L + cell * cols + R, L + legend_w + 8);
  const double legend_h = (s.outlined_legend.empty() && s.marked_legend.empty()) ? 0 : 22;
  const double h = T + cell * rows + 14 + legend_h;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : s.values)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  const double span = hi > lo ? hi - lo : 1;
  auto at = [&](const std::vector<bool>& v, size_t i) { return i < v.size() && v[i]; };
  const int col_every = cols > 32 ? 5 : cols > 16 ? 2 : 1, row_every = rows > 32 ? 4 : rows > 16 ? 2 : 1;

  std::ostringstream o;
  open_svg(o, static_cast<int>(std::ceil(w)), static_cast<int>(std::ceil(h)), "heatmap");
  if (!s.title.empty()) text(o, w / 2, 18, s.title, "middle", " font-size=\"13\" font-weight=\"bold\"");
  text(o, L + cell * cols / 2, T - 20, s.col_label, "middle");
  text(o, 12, T + cell * rows / 2, s.row_label, "middle",
       " transform=\"rotate(-90 12 " + f1(T + cell * rows / 2) + ")\"");
  for (int c = 0; c < cols; c += col_every) text(o, L + cell * (c + 0.5), T - 5, std::to_string(c), "middle");
  for (int r = 0; r < rows; r += row_every) text(o, L - 5, T + cell * (r + 0.5) + 4, std::to_string(r), "end");
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r) * cols + c;
      const double v = i < s.values.size() ? s.values[i] : NAN;
      o << "<rect class=\"cell\" x=\"" << f1(L + cell * c) << "\" y=\"" << f1(T + cell * r) << "\" width=\""
        << f1(cell) << "\" height=\"" << f1(cell) << "\" fill=\"" << (std::isfinite(v) ? ramp_color((v - lo) / span) : "#ccc")
        << "\" stroke=\"#fff\" stroke-width=\"0.5\">";
      if (i < s.tooltips.size()) o << "<title>" << xml_escape(s.tooltips[i]) << "</title>";
      o << "</rect>\n";
    }
  // Marks on top of all cells, so a neighbour's fill never covers an outline.
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r) * cols + c;
      if (at(s.outlined, i)) {
        // Black on white, so the outline shows on dark and light cells alike.
        o << "<rect x=\"" << f1(L + cell * c + 1.5) << "\" y=\"" << f1(T + cell * r + 1.5) << "\" width=\""
          << f1(cell - 3) << "\" height=\"" << f1(cell - 3) << "\" fill=\"none\" stroke=\"#fff\" stroke-width=\"3\"/>\n";
        o << "<rect class=\"outline\" x=\"" << f1(L + cell * c + 1) << "\" y=\"" << f1(T + cell * r + 1)
          << "\" width=\"" << f1(cell - 2) << "\" height=\"" << f1(cell - 2)
          << "\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.6\"/>\n";
      }
      if (at(s.marked, i))
        o << "<circle class=\"mark\" cx=\"" << f1(L + cell * (c + 0.5)) << "\" cy=\"" << f1(T + cell * (r + 0.5))
          << "\" r=\"" << f1(std::max(2.0, cell * 0.15)) << "\" fill=\"#fff\" stroke=\"#000\" stroke-width=\"0.8\"/>\n";
    }
  // Colour bar: 20 steps, max at the top.
  const double bx = L + cell * cols + 12, bh = std::max(60.0, cell * rows);
  for (int k = 0; k < 20; ++k)
    o << "<rect x=\"" << f1(bx) << "\" y=\"" << f1(T + bh * k / 20) << "\" width=\"" << f1(barw) << "\" height=\""
      << f1(bh / 20 + 0.5) << "\" fill=\"" << ramp_color(1 - (k + 0.5) / 20) << "\"/>\n";
  text(o, bx + barw + 4, T + 9, short_num(hi));
  text(o, bx + barw + 4, T + bh, short_num(lo));
  if (legend_h > 0) {
    double x = L, y = T + cell * rows + 22;
    if (!s.outlined_legend.empty()) {
      o << "<rect x=\"" << f1(x) << "\" y=\"" << f1(y - 9) << "\" width=\"10\" height=\"10\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/>\n";
      text(o, x + 15, y, s.outlined_legend);
      x += 30 + 6.2 * static_cast<double>(s.outlined_legend.size());
    }
    if (!s.marked_legend.empty()) {
      o << "<circle cx=\"" << f1(x + 5) << "\" cy=\"" << f1(y - 4) << "\" r=\"3\" fill=\"#fff\" stroke=\"#000\"/>\n";
      text(o, x + 15, y, s.marked_legend);
    }
  }
  o << "</svg>\n";
  return o.str();
}

std::string svg_head_graph(const HeadGraphSpec& s) {
  const int Ln = std::max(0, s.n_layers), H = std::max(1, s.n_heads);
  const double dx = std::clamp(600.0 / H, 14.0, 56.0), dy = std::clamp(560.0 / std::max(1, Ln), 16.0, 64.0);
  const double rad = std::min(std::min(dx, dy) * 0.3, 15.0), L = 56, T = s.title.empty() ? 36 : 54;
  // Legend entries, wrapped onto as many lines as the width needs.
  struct Entry { int kind; std::string text; };  // 0 filled, 1 ring, 2 arrow
  std::vector<Entry> entries;
  if (!s.highlighted_legend.empty()) entries.push_back({0, s.highlighted_legend});
  if (!s.marked_legend.empty()) entries.push_back({1, s.marked_legend});
  if (!s.edges.empty()) entries.push_back({2, s.edge_legend.empty() ? "edge" : s.edge_legend});
  const double w = std::max(L + dx * H + 16, 360.0);
  std::vector<std::pair<double, int>> placed;  // (x, line) per entry
  {
    double x = L;
    int line = 0;
    for (const Entry& e : entries) {
      const double ew = (e.kind == 2 ? 30 : 15) + 6.2 * static_cast<double>(e.text.size()) + 15;
      if (x > L && x + ew > w) x = L, ++line;
      placed.push_back({x, line});
      x += ew;
    }
  }
  const double legend_h = entries.empty() ? 0 : 20.0 * (placed.back().second + 1) + 4;
  const double h = T + dy * Ln + legend_h + 4;
  auto cx = [&](int node) { return L + dx * (node % H + 0.5); };
  auto cy = [&](int node) { return T + dy * (node / H + 0.5); };
  auto at = [&](const std::vector<bool>& v, int i) { return i >= 0 && static_cast<size_t>(i) < v.size() && v[i]; };
  const int n = Ln * H;
  // "L.H" inside each circle where it fits (about 5.5 px per character at this size).
  const double label_px = std::min(10.0, rad * 0.9);
  const bool labels = rad >= 8;

  std::ostringstream o;
  open_svg(o, static_cast<int>(std::ceil(w)), static_cast<int>(std::ceil(h)), "graph");
  // Arrowheads sized to the stroke; the line ends at the target circle's rim.
  o << "<defs><marker id=\"cs-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" "
       "markerUnits=\"userSpaceOnUse\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#d55e00\"/></marker></defs>\n";
  if (!s.title.empty()) text(o, w / 2, 18, s.title, "middle", " font-size=\"13\" font-weight=\"bold\"");
  const int row_every = Ln > 32 ? 4 : Ln > 16 ? 2 : 1, col_every = H > 32 ? 5 : H > 16 ? 2 : 1;
  for (int l = 0; l < Ln; l += row_every) text(o, L - 8, T + dy * (l + 0.5) + 4, std::string("L").append(std::to_string(l)), "end");
  text(o, L + dx * H / 2, T - 20, "head", "middle");
  for (int c = 0; c < H; c += col_every) text(o, L + dx * (c + 0.5), T - 6, std::to_string(c), "middle");
  double wmax = 0;
  for (const GraphEdge& e : s.edges) wmax = std::max(wmax, e.weight);
  for (const GraphEdge& e : s.edges) {
    if (e.from < 0 || e.to < 0 || e.from >= n || e.to >= n || e.from == e.to) continue;
    const double sw = 0.6 + 3.4 * (wmax > 0 ? e.weight / wmax : 1);
    const double x1 = cx(e.from), y1 = cy(e.from), x2 = cx(e.to), y2 = cy(e.to);
    o << "<path class=\"edge\" fill=\"none\" stroke=\"#d55e00\" stroke-opacity=\"0.6\" stroke-width=\"" << f1(sw)
      << "\" marker-end=\"url(#cs-arrow)\" d=\"M" << f1(x1) << ',' << f1(y1);
    // A quadratic curve: above the row within one layer; across layers bent a little to one
    // side, so an edge does not run straight through the heads of the layers it skips. It ends
    // on the target's rim, where the arrowhead sits.
    double qx, qy;
    if (e.from / H == e.to / H) {
      qx = (x1 + x2) / 2, qy = y1 - dy * 0.6;
    } else {
      const double len = std::hypot(x2 - x1, y2 - y1);
      qx = (x1 + x2) / 2 + (y2 - y1) / len * 0.12 * len, qy = (y1 + y2) / 2 - (x2 - x1) / len * 0.12 * len;
    }
    const double ex = x2 - qx, ey = y2 - qy, elen = std::max(1e-9, std::hypot(ex, ey));
    o << " Q" << f1(qx) << ',' << f1(qy) << ' ' << f1(x2 - ex / elen * (rad + 1)) << ',' << f1(y2 - ey / elen * (rad + 1));
    o << "\"><title>" << e.from / H << '.' << e.from % H << " \u2192 " << e.to / H << '.' << e.to % H << ": "
      << short_num(e.weight) << "</title></path>\n";
  }
  for (int i = 0; i < n; ++i) {
    const bool hi = at(s.highlighted, i);
    if (at(s.marked, i))
      o << "<circle class=\"mark\" cx=\"" << f1(cx(i)) << "\" cy=\"" << f1(cy(i)) << "\" r=\"" << f1(rad + 2.5)
        << "\" fill=\"none\" stroke=\"#e69f00\" stroke-width=\"2\"/>\n";
    const std::string name = std::to_string(i / H) + "." + std::to_string(i % H);
    o << "<circle class=\"" << (hi ? "node in-circuit" : "node") << "\" cx=\"" << f1(cx(i)) << "\" cy=\"" << f1(cy(i))
      << "\" r=\"" << f1(rad) << "\" fill=\"" << (hi ? "#0072b2" : "#eee") << "\" stroke=\"" << (hi ? "#004c7a" : "#bbb")
      << "\"><title>" << name << "</title></circle>\n";
    if (labels)
      text(o, cx(i), cy(i) + label_px * 0.35, name, "middle",
           " class=\"head-label\" font-size=\"" + f1(label_px) + "\" fill=\"" + (hi ? "#fff" : "#555") + "\" pointer-events=\"none\"");
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const double x = placed[i].first, y = T + dy * Ln + 18 + 20.0 * placed[i].second;
    if (entries[i].kind == 0)
      o << "<circle cx=\"" << f1(x + 5) << "\" cy=\"" << f1(y - 4) << "\" r=\"5\" fill=\"#0072b2\"/>\n";
    else if (entries[i].kind == 1)
      o << "<circle cx=\"" << f1(x + 5) << "\" cy=\"" << f1(y - 4) << "\" r=\"6\" fill=\"none\" stroke=\"#e69f00\" stroke-width=\"2\"/>\n";
    else
      o << "<line x1=\"" << f1(x) << "\" y1=\"" << f1(y - 4) << "\" x2=\"" << f1(x + 20) << "\" y2=\"" << f1(y - 4)
        << "\" stroke=\"#d55e00\" stroke-width=\"2\" marker-end=\"url(#cs-arrow)\"/>\n";
    text(o, x + (entries[i].kind == 2 ? 30 : 15), y, entries[i].text);
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace cs
