// report.html: one self-contained page per discovery run (inline CSS and SVG, no scripts, no
// fonts or images from anywhere), readable offline and attachable to an issue or a paper draft.
#pragma once
#include <string>

#include "sae/discover.h"
#include "report/circuit_report.h"

namespace cs {

// Sections (each <h2> with an id: run, scores, evaluation, graph, circuit, trials, timings):
// title and command line; model / task / run summary; the effective settings (id settings);
// layer x head heatmap of the ranking (circuit heads outlined, ground-truth heads dotted), and of
// the paper's score when the ranking is another; ROC curve of the mean ranking with its AUC (with
// a truth); faithfulness curve (fraction of the full-model metric vs heads kept along the
// ranking, x from 0 to the head count, the circuit's size marked; when computed); head graph
// (layers as rows, heads labelled, circuit heads filled, top head pairs of different layers as
// arrows at edge level); circuit table; per-trial table; timings.
// Throws cs::Error when the result does not match info.n_layers x info.n_heads.
std::string report_html(const DiscoverResult& r, const RunInfo& info);

}  // namespace cs
