// Exact edge patching on the circuit graph (interp/graph.h): the activations every edge-level
// method needs, and a reference forward pass of the model with only some edges kept.
//
// Senders write into the residual stream, receivers read it (graph.h has the indices):
//   senders:    "input" (blocks.0.hook_resid_pre), the heads "a{l}.h{h}" (hook_result[:, :, h]),
//               the MLPs "m{l}" (hook_mlp_out)
//   receivers:  the head inputs "a{l}.h{h}<q|k|v>" (hook_q/k/v_input[:, :, h], the residual before
//               ln1; shortformer positions are added on top for q and k), "m{l}" (hook_mlp_in),
//               "logits" (the input of ln_final)
// Since the residual stream is a sum, a receiver's input is the sum of the outputs of the senders
// before it plus the attention biases b_O (hook_result has no bias). An edge s -> r is removed by
// replacing s's contribution to r's input, and to nothing else, with s's ablated output:
//   input(r) = clean input(r) + sum over removed s -> r of (ablated(s) - online(s))
// where online(s) is s's output in the same patched forward pass (ACDC's receiver hooks,
// TLACDCExperiment.receiver_hook).
//
// Norms after attention and MLP (Gemma 2, c.post_norms): the residual stream receives
// ln1_post(sum of the heads' outputs), which is not a sum over heads. The edge-level methods then
// follow EAP-IG's and MIB's convention (their TransformerLens graph takes a head's output at
// hook_result): a head's edge carries its output before the norm, and removing it adds
// ablated(s) - online(s) of that pre-norm output to the receiver's input, a first-order account
// of the edge through the norm. The MLPs' outputs are after their norm (hook_mlp_out), exact. The
// graph with every edge kept is the model, and with every edge removed the corrupted run (then
// every sender's online output is its ablated one, layer by layer); in between, removing some of
// a layer's head edges into a receiver moves its input by their pre-norm changes, where the
// model's norm would rescale them with the rest of the layer's heads.
//
// Besides the graph's edges, ACDC (Conmy et al. 2023) switches each head input as a whole: its
// internal edge "a{l}.h{h}<x> -> a{l}.h{h}", which the graph does not have. Switch p =
// (l H + h) 3 + x (x = 0 q, 1 k, 2 v) off replaces the head's hook_q/k/v with the ablated value.
//
// Ablated values (AblationKind):
//   Resample  the paired corrupt prompt's activations (row b <- row b)
//   Mean      their per-position mean over the corrupt prompts (prompts shorter than t excluded)
//   Zero      sender outputs 0; hook_q/k/v from a run with every sender output zeroed (ACDC's
//             zero ablation: only the biases remain in the residual stream)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "interp/ablation.h"
#include "interp/graph.h"
#include "model/batch.h"
#include "model/model.h"
#include "ops/tensor.h"

namespace cs {

// For a model with post-norms, the one line that says which convention its edges follow (above);
// empty for every other model.
std::string post_norm_edge_note(const ModelConfig& c);

// The q/k/v switch of head (l, h)'s input x, and how many a graph has.
inline int qkv_switch(const Graph& g, int l, int h, QKV x) {
  return (l * g.n_heads() + h) * 3 + static_cast<int>(x);
}
inline int n_qkv_switches(const Graph& g) { return g.n_layers() * g.n_heads() * 3; }

// The residual site a receiver reads: 2l (the heads of layer l: resid_pre), 2l + 1 (mlp_in of
// layer l), 2L (the logits: the final residual).
int residual_site(const Graph& g, int r);
inline int n_residual_sites(const Graph& g) { return 2 * g.n_layers() + 1; }

// Activations of one clean batch and its ablated counterpart, flat (llm.c style).
struct EdgeActivations {
  int B = 0, T = 0;
  int64_t D = 0, dh = 0;
  std::vector<int> lengths;       // [B]
  std::vector<float> clean_out;   // [n_senders, B*T, D] sender outputs on the clean prompts
  std::vector<float> abl_out;     // [n_senders, B*T, D] ablated sender outputs
  std::vector<float> clean_in;    // [n_sites, B*T, D] residual read at each site (no positions)
  std::vector<float> pos;         // [B*T, D] shortformer positions (added to q, k inputs); else empty
  std::vector<float> clean_qkv;   // [n_layers, n_heads, 3, B*T, dh] hook_q/k/v (before rotary)
  std::vector<float> abl_qkv;     // [n_layers, n_heads, 3, B*T, dh] ablated hook_q/k/v
  Tensor clean_logits;            // [B, V] at each prompt's last token

  int64_t BT() const { return int64_t{B} * T; }
  const float* clean(int s) const { return clean_out.data() + s * BT() * D; }
  const float* ablated(int s) const { return abl_out.data() + s * BT() * D; }
  const float* input(int site) const { return clean_in.data() + site * BT() * D; }
  const float* qkv(bool ablated, int l, int h, int x, int n_heads) const {
    return (ablated ? abl_qkv : clean_qkv).data() + ((int64_t{l} * n_heads + h) * 3 + x) * BT() * dh;
  }
};

// Two or three forward passes: clean (every sender output, residual sites, q/k/v, last-position
// logits), and for Resample/Mean the corrupt batch (same B, T and lengths as clean), for Zero the
// clean batch with every sender zeroed. `corrupt` may be null for Zero. g is Graph(m.cfg).
// Throws cs::Error for grouped-query attention (the K/V inputs are shared by several heads, so
// the graph's per-head k/v receivers are not hook points of the model): callers run on
// expand_kv_heads(m) (model/process_weights.h), the model TransformerLens runs with
// ungroup_grouped_query_attention, as acdc() and eap() do.
EdgeActivations collect_edge_activations(const Model& m, const Graph& g, const Batch& clean,
                                         const Batch* corrupt, AblationKind kind);

// The residual a receiver reads, rebuilt as the sum of the clean outputs of the senders before it
// plus the b_O of the attention layers before it: [B*T, D]. Equals act.input(residual_site(g, r))
// up to rounding: the bookkeeping every edge-level method rests on. (Not for post-norm models,
// whose residual holds the norm of the heads' sum.)
std::vector<float> sum_of_senders(const Model& m, const Graph& g, const EdgeActivations& act, int r);

// Logits [B, V] at each prompt's last token of the model in which only the edges with
// kept[e] != 0 ([g.n_edges()]) carry their sender's online output (every removed edge carries the
// ablated output), and only the heads' inputs with kept_qkv[p] != 0 ([n_qkv_switches(g)]; empty:
// all) their own q/k/v: one forward pass with ACDC's receiver hooks on the split q/k/v inputs,
// hook_q/k/v, mlp_in and the final residual. The slow reference for acdc()'s incremental engine,
// and the way to evaluate an edge-level circuit.
Tensor edge_patched_logits(const Model& m, const Graph& g, const EdgeActivations& act, const Batch& clean,
                           const std::vector<char>& kept, const std::vector<char>& kept_qkv = {});

}  // namespace cs
