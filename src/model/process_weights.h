// TransformerLens's default weight processing (from_pretrained's fold_ln, center_writing_weights,
// center_unembed, fold_value_biases). It leaves the output distribution unchanged and changes
// per-head quantities like hook_result, which the discrete-SAE paper's numbers were made on.
#pragma once
#include "model/model.h"

namespace cs {

// In place; sets m.w.processed. For RMSNorm models only the norm scales are folded (no centering),
// as TransformerLens does.
void process_weights(Model& m);

}  // namespace cs
