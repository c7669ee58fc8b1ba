// Ground-truth circuits: a JSON file format, its loader, and the generators that wrote the
// edge lists we ship under data/truth/.
//
// Nodes and edges are those of the circuit graph (interp/graph.h, EAP-IG's and MIB's names):
// nodes "input", "a9.h9" (head 9 of layer 9, 0-based), "m3" (the MLP of layer 3), "logits";
// edges "a7.h3->a9.h9<q>" (into the query input of head 9.9), "m3->logits", ... A ground truth
// is written without a model, so its edges are checked only for being forward; edge_labels
// checks them against a model's graph.
//
// File format (data/truth/*.json):
//   { "name": "gpt2-small-ioi", "model": "gpt2-small", "task": "ioi",
//     "source": "paper / code the circuit comes from", "notes": "optional free text",
//     ("source" and "notes" may also be arrays of lines, joined with newlines on load)
//     "heads": [ {"layer": 9, "head": 9, "class": "name mover"}, ... ],   // class optional
//     "mlps": [0, 1, 2],                                                  // optional
//     "edges": [ "input->a0.h1<q>", "a0.h1->a7.h3<k>", ... ] }             // optional
// Edges may also be given as ACDC-style pairs, ["a0.1", "a7.3.k"] (receivers "aL.H.q/k/v",
// "mL", "output"), as files written before the graph took EAP-IG's names were; a pair that is a
// head's internal edge ["a7.3.k", "a7.3"] is skipped (ACDC lists one for each head input that
// receives an edge, so it adds nothing). The writer writes the names above only.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "interp/graph.h"

namespace cs {

struct GroundTruth {
  std::string name, model, task, source, notes;
  std::vector<HeadId> heads;                        // in file order
  std::map<HeadId, std::string> head_class;         // 9.9 -> "name mover"; heads with a class
  std::vector<int> mlps;                            // layers whose MLP is in the circuit
  std::vector<Edge> edges;                          // in file order; empty when only nodes are known
};

// Loads and validates a ground-truth file: JSON syntax, known keys only, required keys
// (name, model, task, source, heads), layer/head integers >= 0, no duplicate heads or edges,
// forward edges with well-formed names (see above). Errors are cs::Error naming the file and
// the offending entry.
GroundTruth load_ground_truth(const std::string& path);
// The same from the file's text (`path` names it in messages); the truth fuzz target's entry.
GroundTruth ground_truth_from_text(const std::string& text, const std::string& path);

// Loads CS_SOURCE_DIR "/data/truth/<name>.json"; an unknown name lists the available ones.
GroundTruth ground_truth_by_name(const std::string& name);

// Names (file stems) of the shipped ground truths, sorted.
std::vector<std::string> list_ground_truths();

// Writes the file format above, one head / edge per line; load_ground_truth reads it back.
// Use it to save a discovered circuit in the same format as the ground truths.
std::string ground_truth_to_json(const GroundTruth& g);

// Node labels for ROC: element layer * n_heads + head is true for ground-truth heads.
// Throws cs::Error when a ground-truth head does not exist in an n_layers x n_heads model.
std::vector<bool> head_labels(const GroundTruth& g, int n_layers, int n_heads);

// Edge labels for edge-level ROC: element e is true when graph edge e is in g.edges. Throws
// cs::Error when g has no edges or lists an edge missing from the graph (wrong model).
std::vector<bool> edge_labels(const GroundTruth& g, const Graph& graph);

// IOI edge-level circuit from head classes (Wang et al. 2022; the rules are ACDC's, listed in
// docs/tasks.md), usable for any model whose IOI heads carry these class names:
// "name mover", "backup name mover", "negative name mover", "S-inhibition", "induction",
// "duplicate token", "previous token". `mlps` are the MLP layers kept in the circuit (all of
// them for GPT-2 small, none for attention-only models). Rules:
//   input -> previous token, duplicate token (q, k, v);  input -> S-inhibition (q);
//   input -> every name mover kind (k, v);  previous token -> induction (k, v);
//   induction, duplicate token -> S-inhibition (k, v);  S-inhibition -> name movers (q);
//   name movers -> logits;  every forward MLP edge among input, kept MLPs, circuit heads
//   (any of q, k, v) and logits;  input -> logits.
// ACDC adds an internal q/k/v edge of each circuit head for every input that receives an edge
// (78 of its 1,041 edges); the graph has none. Edges go forward only; the result is sorted
// (Edge's order: receiver, then sender) and free of duplicates. Throws cs::Error for a head
// without a class or an unknown class.
std::vector<Edge> ioi_edges_from_classes(const std::vector<HeadId>& heads,
                                         const std::map<HeadId, std::string>& head_class,
                                         const std::vector<int>& mlps);

// Greater-than edge-level circuit of ACDC for GPT-2 small (Hanna et al. 2023's circuit as
// ACDC encodes it; 262 edges with its 27 internal ones, 235 here). ACDC builds it from rules,
// not a stored list; these are them:
//   groups: early heads 0.1, 0.3, 0.5; early MLPs m0-m3; mid heads 5.5 6.1 6.9 7.10 8.11
//   9.1; late MLPs m8-m11.
//   input -> early heads (q, k, v) and early MLPs;  mid heads, late MLPs -> logits;
//   forward MLP edges within early MLPs and within late MLPs;  0.1 -> early MLPs;
//   early heads, early MLPs -> mid heads (q, k, v);  mid heads -> late MLPs;
//   every forward MLP edge among m0-m8 and every m_j -> q of a mid head in a later layer
//   (Hanna et al. leave the mid heads' queries clean, so all MLPs below them stay).
// Note the last rule brings m4-m7 into the edge circuit though the node ground truth lists
// MLPs 0-3 and 8-11 only.
std::vector<Edge> greater_than_edges_acdc();

}  // namespace cs
