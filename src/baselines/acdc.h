// ACDC, Automatic Circuit DisCovery (Conmy et al. 2023, "Towards Automated Circuit Discovery for
// Mechanistic Interpretability"), following the reference code (ArthurConmy/Automatic-Circuit-
// Discovery, acdc/TLACDCExperiment.py and TLACDCCorrespondence.py) on the circuit graph
// (interp/graph.h: q/k/v-split head inputs, MLPs as nodes) plus ACDC's internal edges, the heads'
// q/k/v switches of attribution/edge_patching.h.
//
// The sweep. Start from the full graph, metric M = M(full graph). Visit the receivers in reverse
// topological order: "logits"; then for each layer from the top, its MLP, then the heads' internal
// edges (q/k/v switches: v, k, q; heads H-1..0), then the heads' v, k, q inputs (heads H-1..0). For each receiver,
// for each sender in ACDC's order (latest layer first, MLP before heads, heads ascending, input
// last), tentatively remove the edge and measure M'; effect = M' - M is the edge's score. If
// effect < tau the edge stays removed and M = M'; otherwise it is put back. A node whose outputs
// have all been removed is disconnected: ACDC removes its incoming edges without measuring them
// (so do we; their effect is 0 and they count as not evaluated), and a head input whose internal
// edge was removed is disconnected likewise.
//
// Post-norm models (Gemma 2; attribution/edge_patching.h's convention): a head's output enters
// its layer's norm whether or not any edge out of it is kept, so a head without edges out is not
// disconnected; and a switched-off head input is not the same as its edges removed there, while
// the circuit ACDC reports is its edges. So the sweep keeps every switch and measures every head
// input's edges like any other; the MLPs, whose edges are exact, are pruned as above.
//
// M (ACDC always minimises): AcdcOptions::metric_kl (default): mean over prompts of
// KL(clean || patched) at the last position, full vocabulary (M(full graph) = 0). Else:
// minus the mean task metric (the effect is then the metric's drop); Accuracy tasks use their
// logit difference against the wrong tokens (interp/metric_grad.h).
//
// Ablation: settings.ablation, as in edge_patching.h (Resample: corrupt prompts, ACDC's default;
// Zero: ACDC's --zero-ablation; Mean: per-position means of the corrupt prompts).
//
// The engine. Clean and ablated outputs of every sender (hook_result per head, mlp_out, the
// embedding) are cached once (attribution/edge_patching.h); a receiver's input is its current input
// plus the changes of its senders (the residual stream is a sum; under post-norms the heads'
// changes enter through their layer's norm, and a removed edge from a head subtracts its pre-norm
// change). Removing an edge s -> r changes
// r's input by ablated(s) - online(s); only r's node and what lies downstream of it are recomputed,
// node by node with the forward's blocks (model/blocks.h: one head's q/k/v projection, attention
// and W_O; one MLP; the final norm and unembedding), and only where an input actually changed through an edge still present, so a
// sparse circuit costs little per evaluation. A receiver's new input adds the changes of its
// present changed senders, or (when most are present) a running sum of all changes minus the
// absent ones. The last layer runs on each prompt's last token only (the metric reads nothing
// else; keys and values still use every token). Accepted removals keep the trial's activations as
// the current ones. The result equals ACDC's patched forward pass (edge_patched_logits), which the
// tests check on every architecture and ablation. Memory: clean + ablated sender outputs, 2 x
// (1 + L (H + 1)) x B T D floats (GPT-2 small, 100 IOI prompts: 1.4 GB), plus the current inputs
// of the receivers changed so far.
//
// Cost per evaluation (one core, 100 IOI prompts of 15 tokens, bench/acdc): the KL over 50,257
// tokens is a floor of ~25 ms (toy-gpt2-4l) / ~125 ms (GPT-2 small); an edge into layer 0 with the
// whole graph still present costs ~1.4 forward passes. Candidate edges are not batched: on a CPU
// batching saves no arithmetic, and each decision changes the state the next one is measured in.
//
// Scores: edge_scores = effect (0 for edges never evaluated), the value compared with tau, so
// thresholding the scores at tau gives back this run's circuit. head_scores = the largest effect
// over the head's edges (into its q/k/v inputs, its internal edges, out of it): a head has a
// kept edge iff its score >= tau; mlp_scores likewise over the MLP's edges. A ROC curve in the
// paper's sense sweeps tau: AcdcOptions::tau_sweep = n > 1 runs ACDC at n thresholds log-spaced
// over [tau_min, tau_max] (defaults 1e-4, 0.3), and a head's (an edge's) score is then the largest threshold at which it is still
// in the circuit (0: never), so thresholding the scores is exactly the sweep.
#pragma once
#include <vector>

#include "evaluation/method.h"
#include "interp/graph.h"

namespace cs {

// The edges into receiver r in the order ACDC tests them (TLACDCCorrespondence.setup_from_model
// inserts parents layer by layer from the top, MLP before heads; the experiment walks head indices
// in reverse of insertion, i.e. ascending): latest layer first, its MLP, then its heads 0..H-1;
// the input last.
std::vector<int> acdc_edge_order(const Graph& g, int r);

struct AcdcResult {
  // The graph's edges (Graph(m.cfg), in its order) and the heads' q/k/v switches (ACDC's internal
  // edges; edge_patching.h's qkv_switch), each:
  std::vector<char> kept, kept_qkv;            // in the final circuit
  std::vector<char> evaluated, evaluated_qkv;  // measured (false: removed as disconnected)
  std::vector<double> effect, effect_qkv;      // M(removed) - M(before), 0 if not evaluated
  double initial_metric = 0, final_metric = 0;
  int evaluations = 0;           // edges and switches measured (= partial forward passes)
  int forward_passes = 0;        // full forward passes (activation collection, checks)
  double seconds_setup = 0, seconds_sweep = 0;
  double cpu_seconds_sweep = 0;  // process CPU time of the sweep, all threads
};

struct AcdcOptions {
  double tau = 0.01;         // keep an edge whose removal raises M by tau or more
  bool metric_kl = true;     // M = KL(clean || patched); false: minus the task metric
  int tau_sweep = 0;         // n > 1: the paper's ROC, n runs at thresholds over [tau_min, tau_max]
  double tau_min = 1e-4, tau_max = 0.3;
  // For timing on big models: stop measuring after this many evaluations (the remaining edges
  // stay kept, not evaluated; -1: no limit), and start the sweep at this layer's receivers,
  // leaving the edges into the logits and later layers kept and not evaluated (-1: the last
  // layer, i.e. the whole sweep).
  int max_evaluations = -1;
  int top_layer = -1;
};

// One sweep at o.tau (o.tau_sweep is acdc()'s).
AcdcResult acdc_run(const Model& m, const TokenizedTask& task, const MethodSettings& s, const AcdcOptions& o = {});

// MethodResult "acdc": edge_scores = effect, head_scores and mlp_scores as above; stats "tau",
// "edges_kept" (graph edges), "qkv_kept" (switches), "edges_evaluated" (both), "forward_passes",
// "ms_per_evaluation" (wall), "cpu_ms_per_evaluation" (process CPU time, all threads),
// "seconds_setup", "initial_metric", "final_metric".
MethodResult acdc(const Model& m, const TokenizedTask& task, const MethodSettings& s, const AcdcOptions& o = {});

}  // namespace cs
