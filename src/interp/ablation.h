// Ablation of attention heads (and MLPs) through hooks: a head's whole contribution to the
// residual stream goes through its slice of blocks.L.attn.hook_z ([B,T,H,dh]), an MLP's through
// blocks.L.hook_mlp_out ([B,T,D]); replacing those slices removes the node.
//   Zero      z := 0 (the head writes only its share of b_O, which is not per-head)
//   Mean      z := mean over a reference set of prompts at the same position (ACDC,
//             TransformerLens), falling back to the mean over all positions beyond the
//             reference's longest prompt
//   Resample  z := z of the corrupted prompt paired with each clean prompt (row b <- row b)
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "model/batch.h"
#include "model/hooks.h"
#include "model/model.h"
#include "model/transformer.h"

namespace cs {

enum class AblationKind { Zero, Mean, Resample };
AblationKind parse_ablation_kind(const std::string& s);  // "zero" | "mean" | "resample"
std::string to_string(AblationKind k);

struct HeadSet {
  std::vector<std::pair<int, int>> heads;  // (layer, head)
};
// Heads and MLPs (by layer): the nodes of a circuit that includes MLPs (greater-than).
struct NodeSet {
  std::vector<std::pair<int, int>> heads;  // (layer, head)
  std::vector<int> mlps;                   // layer
};

// Reference activations an ablation writes. Keys are the hook names, "blocks.L.attn.hook_z" and
// (models with MLPs) "blocks.L.hook_mlp_out", for every layer.
//   Resample: z [B,T,H,dh], mlp_out [B,T,D] of the corrupted batch.
//   Mean:     z [T_ref,H,dh], mlp_out [T_ref,D]: at each position t, the mean over the
//             reference prompts longer than t; *_fallback z [H,dh] / mlp_out [D]: the mean over
//             every real position of every reference prompt, used at positions >= T_ref.
//   Zero:     empty.
struct AblationSource {
  AblationKind kind = AblationKind::Zero;
  ActivationCache z;
  ActivationCache mlp_out;
  ActivationCache z_fallback;
  ActivationCache mlp_out_fallback;
};

// One forward pass over `reference` (nothing for Zero). Resample: the corrupted batch, same B and
// T as the clean batches it will be used with. Mean: the reference prompts (any B, any lengths).
AblationSource make_ablation_source(const Model& m, AblationKind kind, const Batch* reference);

// Adds hooks that overwrite the listed nodes at the listed positions (empty = all positions)
// with the source's values. `src` must outlive every forward run with these hooks. Throws
// cs::Error for a head, layer or position out of range, and (at run time) for a Resample source
// whose batch shape differs from the batch being run.
void add_ablation_hooks(Hooks& hooks, const Model& m, const AblationSource& src,
                        const NodeSet& nodes, const std::vector<int>& positions = {});
void add_ablation_hooks(Hooks& hooks, const Model& m, const AblationSource& src,
                        const HeadSet& heads, const std::vector<int>& positions = {});

// Logits with `ablate` ablated: [B,V] for LogitsAt::Last, [B,T,V] for All. For faithfulness,
// pass complement(m, circuit) to run the circuit alone.
Tensor run_with_heads_ablated(const Model& m, const Batch& batch, const AblationSource& src,
                              const HeadSet& ablate, LogitsAt at = LogitsAt::Last);
Tensor run_with_nodes_ablated(const Model& m, const Batch& batch, const AblationSource& src,
                              const NodeSet& ablate, LogitsAt at = LogitsAt::Last);

// Every head (and, for NodeSet, every MLP) of the model not in `keep`, in (layer, head) order.
HeadSet complement(const Model& m, const HeadSet& keep);
NodeSet complement(const Model& m, const NodeSet& keep);
// All heads of the model, in (layer, head) order.
HeadSet all_heads(const Model& m);

}  // namespace cs
