// report.html: one self-contained page per discovery run (inline CSS and SVG, no scripts, no
// fonts or images from anywhere), readable offline and attachable to an issue or a paper draft.
#pragma once
#include <string>

#include "sae/discover.h"
#include "report/circuit_report.h"

namespace cs {

// Sections: title and command line; model / task / run summary; settings; layer x head
// heatmap of the mean scores (circuit heads outlined, ground-truth heads dotted); ROC curve of
// the mean scores with its AUC (with a truth); faithfulness curve (fraction of the full-model
// metric vs heads kept, when computed); head graph (layers as rows, circuit heads filled, top
// head pairs as lines at edge level); circuit table; per-trial table; timings.
// Throws cs::Error when the result does not match info.n_layers x info.n_heads.
std::string report_html(const DiscoverResult& r, const RunInfo& info);

}  // namespace cs
