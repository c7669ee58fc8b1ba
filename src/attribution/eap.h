// Edge attribution patching (EAP, Syed et al. 2023, "Attribution Patching Outperforms Automated
// Circuit Discovery") and EAP with integrated gradients on the inputs (EAP-IG, Hanna et al. 2024,
// "Have Faith in Faithfulness"), on the circuit graph (interp/graph.h, EAP-IG's own). The
// definitions follow Hanna et al.'s reference code (hannamw/EAP-IG, attribute.py / utils.py).
//
// Nodes. A sender u writes into the residual stream: "input" (hook_embed: the token embeddings;
// positions are the same on clean and corrupt prompts), "aL.hH" (blocks.L.attn.hook_result[:,:,H]),
// "mL" (blocks.L.hook_mlp_out). A receiver v reads it: "aL.hH<q|k|v>" (blocks.L.hook_q_input/
// k_input/v_input[:,:,H]: the residual as that head's query/key/value reads it, before ln1), "mL"
// (blocks.L.hook_mlp_in), "logits" (blocks.{L-1}.hook_resid_post, the input of ln_final).
// Grouped-query models: every query head has its own k and v input (as EAP-IG requires,
// TransformerLens's ungroup_grouped_query_attention), so the method runs on expand_kv_heads(m)
// (model/process_weights.h), whose K/V weights are repeated per query head; an edge into
// "aL.hH<k>" then moves only head H's keys.
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
// node-level attribution patching estimate of ablating u, exact when M is linear in a_u. (Not for
// a head of a post-norm model, Gemma 2: its sender is the pre-norm hook_result, whose gradient
// goes through ln1_post; edge_patching.h.)
//
// Parallel-residual models (NeoX): an MLP does not read its own layer's heads; the graph has no
// such edges.
//
// Cost per prompt batch: EAP 2 forwards (corrupt, clean) + 1 backward; EAP-IG 2 + m forwards and
// m backwards. Memory: the batch is sized so that sender differences and receiver gradients
// (about B T D (n_senders + 2 n_receivers) floats) stay under EapOptions::memory_mb (1024).
#pragma once
#include <string>
#include <vector>

#include "evaluation/method.h"
#include "interp/graph.h"

namespace cs {

struct EdgeAttribution {
  std::vector<double> edge_signed;  // [edges of eap_graph(m.cfg, o)] signed score s (see above)
  std::vector<double> node_signed;  // [senders] sum_v s(u -> v): node attribution of u
  double clean_metric = 0;          // mean differentiable metric on the clean prompts
  int forward_passes = 0, backward_passes = 0, batches = 0;
};

// How eap() and eap_ig() turn the attribution into head scores.
enum class EapHeadScore {
  NodeAttribution,  // |node attribution| of the head: the estimate of activation patching's |delta|
  EdgeSum,          // the sum of |s| over the edges into (q, k, v) and out of the head
};

struct EapOptions {
  int steps = 5;            // EAP-IG's integration steps m (eap() ignores it)
  int ig_k0 = 0;            // first interpolation step: 0 as the reference code; 1 gives the right
                            // Riemann sum, whose m = 1 is EAP exactly
  int batch = 0;            // prompts per batch; 0: as many as memory_mb allows
  double memory_mb = 1024;
  EapHeadScore head_score = EapHeadScore::NodeAttribution;
  // false: score the graph without MLP nodes (heads, input and logits; the MLPs stay in the
  // model, inside the paths between nodes), the graph before issue 21. For measuring what MLP
  // edges cost (bench/discover_methods); the results are then on eap_graph's edges.
  bool mlp_nodes = true;
};

// The graph edge_attribution scores: Graph(c), or Graph(c) without its MLP nodes when
// !o.mlp_nodes.
Graph eap_graph(const ModelConfig& c, const EapOptions& o);

// ig_steps = 0: EAP; m >= 1: EAP-IG with m steps (o.steps is eap_ig()'s).
EdgeAttribution edge_attribution(const Model& m, const TokenizedTask& task, const MethodSettings& s,
                                 int ig_steps, const EapOptions& o = {});

// MethodResults "eap" and "eap-ig": edge_scores = |s|; head_scores per o.head_score; mlp_scores =
// |node attribution| of each MLP. stats: "input" (|node attribution| of the input),
// "clean_metric", "forward_passes", "backward_passes", "steps".
MethodResult eap(const Model& m, const TokenizedTask& task, const MethodSettings& s, const EapOptions& o = {});
MethodResult eap_ig(const Model& m, const TokenizedTask& task, const MethodSettings& s, const EapOptions& o = {});

// The MethodResult of an attribution.
MethodResult to_method_result(const EdgeAttribution& a, const std::string& method, const Graph& g,
                              EapHeadScore head_score);

}  // namespace cs
