// Small inline-SVG plots for self-contained HTML reports: a line plot of several series (ROC
// curves of several methods, faithfulness curves), a layer x head heatmap, and a head graph.
// Every function returns one <svg> element as text, with no scripts, fonts or external
// references, so a report opens the same offline as online. The elements carry no xmlns: they
// are meant to be inlined in HTML5; a standalone .svg file needs
// xmlns="http://www.w3.org/2000/svg" added to the root.
#pragma once
#include <string>
#include <vector>

namespace cs {

// Escapes & < > " ' for XML/HTML text and attribute values.
std::string xml_escape(const std::string& s);

// A colour for t in [0, 1] on a perceptually ordered ramp (viridis, 5-stop approximation),
// as "#rrggbb". t is clamped.
std::string ramp_color(double t);

// Colours for the i-th series of a plot: distinct, colour-blind safe (Okabe-Ito, with Tol's
// wine for its yellow, which is unreadable as a thin line on white). Eight, then repeating.
std::string series_color(int i);
// Dash patterns (SVG stroke-dasharray, "" = solid) for the i-th series, so that series of one
// colour, or a reader without colour, still tell them apart. series_dash(i) differs for the
// eight series that series_color tells apart as well.
std::string series_dash(int i);

struct Series {
  std::string label;          // shown in the legend; "" leaves it out of the legend
  std::vector<double> x, y;   // same length; points joined in order
  std::string color;          // "" takes series_color(index)
  bool dashed = false;        // "6 4" dashes (when dash is empty)
  bool markers = false;       // a dot on each point
  std::string dash;           // explicit stroke-dasharray, e.g. series_dash(i); wins over dashed
};

struct PlotAxes {
  std::string title, x_label, y_label;
  // Axis ranges; when lo >= hi the range is taken from the data (with nice rounded ends).
  double x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
  bool diagonal = false;      // dashed y = x line (chance level of a ROC plot)
  int width = 440, height = 330;
  // Vertical reference lines (e.g. the chosen circuit size) at these x, each labelled at its top.
  std::vector<double> vlines;
  std::vector<std::string> vline_labels;
  bool legend = true;         // false: no legend box
  bool legend_right = false;  // the legend beside the frame (the SVG grows by its width), not over
                              // the curves: for plots of many series
};

// Line plot of several series in one frame with ticks, labels and a legend (bottom right).
// ROC of several methods: one Series per method, diagonal = true.
std::string svg_line_plot(const std::vector<Series>& series, const PlotAxes& axes);

struct HeatmapSpec {
  std::string title, row_label = "layer", col_label = "head";
  int rows = 0, cols = 0;
  std::vector<double> values;             // (rows * cols) row-major; NaN draws grey
  std::vector<bool> outlined;             // (rows * cols) or empty: thick black border
  std::vector<bool> marked;               // (rows * cols) or empty: a white dot in the cell
  std::vector<std::string> tooltips;      // (rows * cols) or empty: <title> of each cell
  std::string outlined_legend, marked_legend;  // legend text ("" leaves it out)
};

// One <rect class="cell"> per value, row 0 at the top, a colour bar with the value range.
std::string svg_heatmap(const HeatmapSpec& spec);

struct GraphEdge {
  int from = 0, to = 0;  // node indices (layer * n_heads + head)
  double weight = 0;     // line width scales with weight / max weight
};

struct HeadGraphSpec {
  std::string title;
  int n_layers = 0, n_heads = 0;
  std::vector<bool> highlighted;         // (n_layers * n_heads): filled circles
  std::vector<bool> marked;              // (n_layers * n_heads) or empty: ring around the circle
  std::vector<GraphEdge> edges;
  std::string highlighted_legend, marked_legend, edge_legend;
};

// Layers as rows (layer 0 at the top), heads as circles labelled "L.H" (where they fit; head
// numbers head the columns in any case), edges as arrows from `from` to `to` (curved within one
// layer so they do not run through the heads between).
std::string svg_head_graph(const HeadGraphSpec& spec);

}  // namespace cs
