// Edge-level patching on the graph of evaluation/ground_truth.h (ACDC's graph, Conmy et al. 2023):
// index tables for its nodes and edges, the activations every edge-level method needs, and a
// reference forward pass of the model with only some edges kept.
//
// Senders write into the residual stream, receivers read it:
//   sender s:    0 = "input" (blocks.0.hook_resid_pre), then per layer l the heads "al.h"
//                (hook_result[:, :, h]) and, with MLPs, "ml" (hook_mlp_out)
//   receiver r:  per layer l the head inputs "al.h.q/k/v" (hook_q/k/v_input[:, :, h], the
//                residual before ln1; shortformer positions are added on top for q and k),
//                "ml" (hook_mlp_in), and last "output" (the input of ln_final)
// Since the residual stream is a sum, a receiver's input is the sum of the outputs of the senders
// before it plus the attention biases b_O (hook_result has no bias). An edge s -> r is removed by
// replacing s's contribution to r's input, and to nothing else, with s's ablated output:
//   input(r) = clean input(r) + sum over removed s -> r of (ablated(s) - online(s))
// where online(s) is s's output in the same patched forward pass (ACDC's receiver hooks,
// TLACDCExperiment.receiver_hook). The internal edge "al.h.x" -> "al.h" is removed by replacing
// the head's hook_x (its q, k or v) with the ablated hook_x.
//
// Ablated values (AblationKind):
//   Resample  the paired corrupt prompt's activations (row b <- row b)
//   Mean      their per-position mean over the corrupt prompts (prompts shorter than t excluded)
//   Zero      sender outputs 0; hook_q/k/v from a run with every sender output zeroed (ACDC's
//             zero ablation: only the biases remain in the residual stream)
#pragma once
#include <cstdint>
#include <vector>

#include "evaluation/ground_truth.h"
#include "interp/ablation.h"
#include "model/batch.h"
#include "model/model.h"
#include "ops/tensor.h"

namespace cs {

struct EdgeGraph {
  int n_layers = 0, n_heads = 0;
  int mlps = 0;             // 1 if the model has MLP nodes, else 0
  bool parallel = false;    // parallel residual: mL reads resid_pre, not layer L's heads
  std::vector<EdgeId> edges;  // full_graph_edges(n_layers, n_heads, mlps), in that order
  // Per edge. Internal edges "aL.H.x" -> "aL.H": sender = the head, receiver = its input x.
  std::vector<int> sender, receiver;
  std::vector<char> internal;
  // false for "aL.H" -> "mL" in parallel-residual models: no such path exists in the model.
  std::vector<char> real;
  std::vector<std::vector<int>> into;   // [receivers] residual edges into r, in ACDC's test order
  std::vector<std::vector<int>> out_of; // [senders] residual edges out of s
  std::vector<int> internal_edge;       // [(l * n_heads + h) * 3 + x], x = 0 q, 1 k, 2 v

  int n_senders() const { return 1 + n_layers * (n_heads + mlps); }
  int n_receivers() const { return n_layers * (3 * n_heads + mlps) + 1; }
  int head_sender(int l, int h) const { return 1 + l * (n_heads + mlps) + h; }
  int mlp_sender(int l) const { return 1 + l * (n_heads + mlps) + n_heads; }
  int head_receiver(int l, int h, int x) const { return l * (3 * n_heads + mlps) + 3 * h + x; }
  int mlp_receiver(int l) const { return l * (3 * n_heads + mlps) + 3 * n_heads; }
  int output_receiver() const { return n_layers * (3 * n_heads + mlps); }
  // Residual site a receiver reads: 2l (heads of layer l: resid_pre), 2l + 1 (mlp_in), 2L (final).
  int site(int r) const;
  int n_sites() const { return 2 * n_layers + 1; }
};

// The graph of a model. Throws cs::Error for grouped-query attention (K/V inputs are shared by
// several heads, so the per-head k/v receivers of the graph do not exist): callers run on
// expand_kv_heads(m) (model/process_weights.h), as acdc() does.
EdgeGraph edge_graph(const ModelConfig& c);

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
// clean batch with every sender zeroed. `corrupt` may be null for Zero.
EdgeActivations collect_edge_activations(const Model& m, const EdgeGraph& g, const Batch& clean,
                                         const Batch* corrupt, AblationKind kind);

// The residual a receiver reads, rebuilt as the sum of the clean outputs of the senders before it
// plus the b_O of the attention layers before it: [B*T, D]. Equals act.input(g.site(r)) up to
// rounding: the bookkeeping every edge-level method rests on.
std::vector<float> sum_of_senders(const Model& m, const EdgeGraph& g, const EdgeActivations& act,
                                  int r);

// Logits [B, V] at each prompt's last token of the model in which only the edges with
// kept[e] != 0 carry their sender's online output (every removed edge carries the ablated output):
// one forward pass with ACDC's receiver hooks on the split q/k/v inputs, hook_q/k/v, mlp_in and
// the final residual. The slow reference for acdc()'s incremental engine, and the way to evaluate
// an edge-level circuit.
Tensor edge_patched_logits(const Model& m, const EdgeGraph& g, const EdgeActivations& act,
                           const Batch& clean, const std::vector<char>& kept);

}  // namespace cs
