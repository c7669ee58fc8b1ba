// Weights in one canonical layout shared by every architecture (close to TransformerLens).
// Each architecture's loader maps its Hugging Face names into this; the forward reads only this.
// Matrices are Weights (ops/weight.h): in the checkpoint's dtype, bf16/f16 ones memory-mapped
// where the file's layout allows (then stored transposed for nn.Linear's [out, in]); norm scales
// and biases are small f32 Tensors.
#pragma once
#include <vector>

#include "model/config.h"
#include "ops/tensor.h"
#include "ops/weight.h"

namespace cs {

struct LayerWeights {
  Tensor ln1_w, ln1_b;   // [D]  (b empty for RMSNorm)
  Weight W_qkv;          // [D, (H + 2 Hkv) dh]: q heads, then k heads, then v heads;
                         // each head's dh columns contiguous (GPT-2 Conv1D c_attn layout)
  Tensor b_qkv;          // [(H + 2 Hkv) dh]
  Weight W_O;            // [H dh, D]: rows h*dh..(h+1)*dh are head h's W_O
  Tensor b_O;            // [D]
  Tensor ln2_w, ln2_b;   // [D]
  Weight W_in;           // [D, d_mlp]  (SwiGLU: the "up" projection)
  Tensor b_in;           // [d_mlp]
  Weight W_gate;         // [D, d_mlp] gated MLPs only
  Weight W_out;          // [d_mlp, D]
  Tensor b_out;          // [D]
  // Gemma 2's norms after the attention and after the MLP (empty elsewhere): RMSNorm scales
  // applied to attn_out and mlp_out before they join the residual stream.
  Tensor ln1_post_w, ln2_post_w;  // [D]
};

struct Weights {
  Weight W_E;            // [V, D]  (the residual's input is W_E[token] * cfg.embed_scale)
  Weight W_pos;          // [n_ctx, D] (empty for rotary models)
  std::vector<LayerWeights> layers;
  Tensor lnf_w, lnf_b;   // [D]
  Weight W_U;            // [V, D]: logits = x W_U^T + b_U (a copy of W_E when tied; the same
                         // mapped bytes when W_E is a view)
  Tensor b_U;            // [V] (zeros unless weights were processed)
  bool processed = false;
};

}  // namespace cs
