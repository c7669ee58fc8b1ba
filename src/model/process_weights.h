// TransformerLens's default weight processing (from_pretrained's fold_ln, center_writing_weights,
// center_unembed, fold_value_biases). It leaves the output distribution unchanged and changes
// per-head quantities like hook_result, which the discrete-SAE paper's numbers were made on.
#pragma once
#include "model/model.h"

namespace cs {

// In place; sets m.w.processed. For RMSNorm models only the norm scales are folded (no centering),
// as TransformerLens does. The processed matrices of a bf16/f16 model are exact f32 under exact
// precision and rounded back to the model's dtype under bf16 precision (m.precision).
void process_weights(Model& m);

// The same model with grouped-query attention undone: every query head gets its own copy of
// the key/value head it shares (W_qkv's k and v blocks, and b_qkv's, repeated per group), so
// n_kv_heads == n_heads. Outputs are unchanged; hook_k/hook_v (and their split inputs) become
// per query head, which is what the per-head edge graph of ACDC and the per-head q/k/v masks of
// subnetwork probing need. A model without GQA is returned as is.
Model expand_kv_heads(const Model& m);

}  // namespace cs
