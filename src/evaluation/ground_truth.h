// Ground-truth circuits: a JSON file format, its loader, and the generators that wrote the
// edge lists we ship under data/truth/.
//
// Node names (the graph of ACDC, Conmy et al. 2023: q/k/v-split head inputs, MLPs as nodes;
// layers and heads 0-based):
//   "input"     embeddings (TransformerLens blocks.0.hook_resid_pre)
//   "output"    final residual stream (blocks.{L-1}.hook_resid_post)
//   "a9.9"      output of head 9 in layer 9 (blocks.9.attn.hook_result[:, :, 9])
//   "a9.9.q"    query input of that head (blocks.9.hook_q_input[:, :, 9]); ".k", ".v" alike
//   "m3"        the MLP of layer 3 (blocks.3.hook_mlp_in -> blocks.3.hook_mlp_out)
// An edge {from, to} is one path through the residual stream from a sender ("input", "aL.H",
// "mL") to a receiver ("output", "aL.H.q/k/v", "mL"), always forward: a head feeds the MLP of
// its own layer and anything in later layers; an MLP feeds later layers only. The edge
// "aL.H.q" -> "aL.H" is the head's internal q path; ACDC counts these (one per used input
// letter), so our edge counts match theirs (GPT-2 small: 32,923 edges in the full graph).
//
// File format (data/truth/*.json):
//   { "name": "gpt2-small-ioi", "model": "gpt2-small", "task": "ioi",
//     "source": "paper / code the circuit comes from", "notes": "optional free text",
//     ("source" and "notes" may also be arrays of lines, joined with newlines on load)
//     "heads": [ {"layer": 9, "head": 9, "class": "name mover"}, ... ],   // class optional
//     "mlps": [0, 1, 2],                                                  // optional
//     "edges": [ ["input", "a0.1.q"], ["a0.1", "a7.3.k"], ... ] }          // optional
#pragma once
#include <compare>
#include <map>
#include <string>
#include <vector>

namespace cs {

struct HeadId {
  int layer = 0, head = 0;
  auto operator<=>(const HeadId&) const = default;  // orders by layer, then head
  std::string str() const;                          // "9.9"
};

// Parses "9.9"; throws cs::Error on anything else.
HeadId parse_head(const std::string& s);

struct EdgeId {
  std::string from, to;
  auto operator<=>(const EdgeId&) const = default;
};

struct GroundTruth {
  std::string name, model, task, source, notes;
  std::vector<HeadId> heads;                        // in file order
  std::map<std::string, std::string> head_class;    // "9.9" -> "name mover"; heads with a class
  std::vector<int> mlps;                            // layers whose MLP is in the circuit
  std::vector<EdgeId> edges;                        // empty when only nodes are known
};

// Loads and validates a ground-truth file: JSON syntax, known keys only, required keys
// (name, model, task, source, heads), layer/head integers >= 0, no duplicate heads or edges,
// well-formed forward edges (see the naming above). Errors are cs::Error naming the file and
// the offending entry.
GroundTruth load_ground_truth(const std::string& path);
// The same from the file's text (`path` names it in messages); the truth fuzz target's entry.
GroundTruth ground_truth_from_text(const std::string& text, const std::string& path);

// Loads data_dir() "/truth/<name>.json"; an unknown name lists the available ones.
GroundTruth ground_truth_by_name(const std::string& name);

// Names (file stems) of the shipped ground truths, sorted.
std::vector<std::string> list_ground_truths();

// Writes the file format above, one head / edge per line; load_ground_truth reads it back.
// Use it to save a discovered circuit in the same format as the ground truths.
std::string ground_truth_to_json(const GroundTruth& g);

// Node labels for ROC: element layer * n_heads + head is true for ground-truth heads.
// Throws cs::Error when a ground-truth head does not exist in an n_layers x n_heads model.
std::vector<bool> head_labels(const GroundTruth& g, int n_layers, int n_heads);

// Every edge of the full graph of an n_layers x n_heads model (with or without MLP nodes),
// internal q/k/v edges included, sorted by receiver then sender in forward-pass order.
// GPT-2 small (12 x 12, MLPs): 32,923 edges, ACDC's count; attn-only-4l (4 x 8): 1,377.
std::vector<EdgeId> full_graph_edges(int n_layers, int n_heads, bool with_mlps);

// Edge labels for edge-level ROC: element i is true when edges[i] is in g.edges. Throws
// cs::Error when g has no edges or lists an edge missing from `edges` (wrong model).
std::vector<bool> edge_labels(const GroundTruth& g, const std::vector<EdgeId>& edges);

// True for a head's internal edge "aL.H.q" -> "aL.H" (also .k/.v). Methods that score only
// residual-stream paths can drop these before comparing with a ground truth.
bool is_head_internal_edge(const EdgeId& e);

// IOI edge-level circuit from head classes (Wang et al. 2022; the rules are ACDC's, listed in
// docs/tasks.md), usable for any model whose IOI heads carry these class names:
// "name mover", "backup name mover", "negative name mover", "S-inhibition", "induction",
// "duplicate token", "previous token". `mlps` are the MLP layers kept in the circuit (all of
// them for GPT-2 small, none for attention-only models). Rules:
//   input -> previous token, duplicate token (q, k, v);  input -> S-inhibition (q);
//   input -> every name mover kind (k, v);  previous token -> induction (k, v);
//   induction, duplicate token -> S-inhibition (k, v);  S-inhibition -> name movers (q);
//   name movers -> output;  every forward MLP edge among input, kept MLPs, circuit heads
//   (any of q, k, v) and output;  input -> output;  internal q/k/v edge of each circuit head
//   for every input letter that receives an edge.
// Edges go forward only; the result is sorted (receiver, then sender, in model order) and
// free of duplicates. Throws cs::Error for a head without a class or an unknown class.
std::vector<EdgeId> ioi_edges_from_classes(const std::vector<HeadId>& heads,
                                           const std::map<std::string, std::string>& head_class,
                                           const std::vector<int>& mlps);

// Greater-than edge-level circuit of ACDC for GPT-2 small (Hanna et al. 2023's circuit as
// ACDC encodes it; 262 edges). ACDC builds it from rules, not a stored list; these are them:
//   groups: early heads 0.1, 0.3, 0.5; early MLPs m0-m3; mid heads 5.5 6.1 6.9 7.10 8.11
//   9.1; late MLPs m8-m11.
//   input -> early heads (q, k, v) and early MLPs;  mid heads, late MLPs -> output;
//   forward MLP edges within early MLPs and within late MLPs;  0.1 -> early MLPs;
//   early heads, early MLPs -> mid heads (q, k, v);  mid heads -> late MLPs;
//   every forward MLP edge among m0-m8 and every m_j -> q of a mid head in a later layer
//   (Hanna et al. leave the mid heads' queries clean, so all MLPs below them stay);
//   internal q/k/v edge of each head for every letter that receives an edge.
// Note the last rule brings m4-m7 into the edge circuit though the node ground truth lists
// MLPs 0-3 and 8-11 only.
std::vector<EdgeId> greater_than_edges_acdc();

}  // namespace cs
