// Edge attribution patching (EAP, Syed et al. 2023, "Attribution Patching Outperforms Automated
// Circuit Discovery") and EAP with integrated gradients on the inputs (EAP-IG, Hanna et al. 2024,
// "Have Faith in Faithfulness"), on the edge graph of evaluation/ground_truth.h. The definitions
// follow Hanna et al.'s reference code (hannamw/EAP-IG, attribute.py / utils.py).
//
// Nodes. A sender u writes into the residual stream: "input" (hook_embed: the token embeddings;
// positions are the same on clean and corrupt prompts), "aL.H" (blocks.L.attn.hook_result[:,:,H]),
// "mL" (blocks.L.hook_mlp_out). A receiver v reads it: "aL.H.q/k/v" (blocks.L.hook_q_input/k_input/
// v_input[:,:,H]: the residual as that head's query/key/value reads it, before ln1), "mL"
// (blocks.L.hook_mlp_in), "output" (blocks.{L-1}.hook_resid_post, the input of ln_final).
//
// Edge score, summed over positions, averaged over prompts:
//   EAP     s(u -> v) = mean_b sum_t (a_u^abl - a_u^clean)[b,t] . dM/d(in_v)[b,t]   (clean run)
//   EAP-IG  the same with dM/d(in_v) averaged over m runs whose input embeddings are
//           e^abl + (k/m) (e^clean - e^abl), k = k0 .. k0 + m - 1. The reference code takes
//           k0 = 0 (a left Riemann sum: the corrupt end is included, the clean end never), so its
//           m = 1 is the gradient at the corrupt input, not EAP; k0 = 1 (right sum) makes m = 1
//           EAP exactly. Both tend to the path integral; the sum of the "input" node's edges then
//           tends to M(corrupt prompts) - M(clean prompts) (IG completeness). Other nodes get no
//           such guarantee: their scores integrate gradients along the input path, not their own.
// M is the mean task metric (interp/metric_grad.h: logit difference, probability difference;
// Accuracy tasks use their logit difference); a^abl is the sender's activation on the paired corrupt
// prompt (Resample), its per-position mean over the first n corrupt prompts, or clean prompts when
// the task has none (Mean: interp/ablation.h's; the reference's "mean-positional"), or 0 (Zero; for
// "input" the token embeddings only). EAP-IG interpolates from that ablated input. The signed
// score is the first-order estimate of M(edge patched) - M(clean); rankings use |s|.
// Since the residual stream is a sum, sum_v s(u -> v) = (a_u^abl - a_u^clean) . dM/d a_u: the
// node-level attribution patching estimate of ablating u, exact when M is linear in a_u.
//
// The graph's internal edges "aL.H.x" -> "aL.H" (ACDC's; not in EAP-IG's graph) get, as |score|,
// the largest |s| of the edges into "aL.H.x" (so a threshold keeps one iff it keeps an edge into
// that input, ACDC's rule), and as signed score the sum of those edges (patching the whole input).
// Parallel-residual models (NeoX): an MLP does not read its own layer's heads; those edges score 0.
//
// Cost per prompt batch: EAP 2 forwards (corrupt, clean) + 1 backward; EAP-IG 2 + m forwards and
// m backwards. Memory: the batch is sized so that sender differences and receiver gradients
// (about B T D (n_senders + 2 n_receivers) floats) stay under params "memory_mb" (default 1024).
#pragma once
#include <string>
#include <vector>

#include "evaluation/method.h"

namespace cs {

struct EdgeAttribution {
  std::vector<EdgeId> edges;        // full_graph_edges(L, H, !attn_only), internal edges included
  std::vector<double> edge_signed;  // [edges] signed score (see above)
  std::vector<double> edge_abs;     // [edges] ranking score (|s|; internal edges: max |s| in)
  std::vector<std::string> nodes;   // senders: "input", then per layer "aL.0".."aL.{H-1}", "mL"
  std::vector<double> node_signed;  // [nodes] sum_v s(u -> v): node attribution of u
  double clean_metric = 0;          // mean differentiable metric on the clean prompts
  int forward_passes = 0, backward_passes = 0, batches = 0;
};

// ig_steps = 0: EAP; m >= 1: EAP-IG with m steps. params: "batch" (prompts per batch; default from
// "memory_mb"), "memory_mb", "ig_k0" (first interpolation step, default 0 as the reference code;
// 1 gives the right Riemann sum, whose m = 1 is EAP exactly).
EdgeAttribution edge_attribution(const Model& m, const TokenizedTask& task,
                                 const MethodSettings& s, int ig_steps);

// MethodResults "eap" and "eap-ig" (steps = param "steps", default 5): edge_scores = edge_abs;
// head_scores by param "head_score": 0 (default) |node attribution| of the head, the estimate of
// activation patching's |delta|; 1 the sum of |s| over the edges into (q, k, v) and out of the head.
// stats: "mlp.L" = |node attribution| of MLP L, "input", "clean_metric", "forward_passes",
// "backward_passes", "steps".
MethodResult eap(const Model& m, const TokenizedTask& task, const MethodSettings& s);
MethodResult eap_ig(const Model& m, const TokenizedTask& task, const MethodSettings& s);

// The MethodResult of an attribution (head_scores per param "head_score", as above).
MethodResult to_method_result(const EdgeAttribution& a, const std::string& method, int n_layers,
                              int n_heads, const MethodSettings& s);

}  // namespace cs
