// Weights in one canonical layout shared by every architecture (close to TransformerLens).
// Each architecture's loader maps its Hugging Face names into this; the forward reads only this.
#pragma once
#include <vector>

#include "model/config.h"
#include "ops/tensor.h"

namespace cs {

struct LayerWeights {
  Tensor ln1_w, ln1_b;   // [D]  (b empty for RMSNorm)
  Tensor W_qkv, b_qkv;   // [D, (H + 2 Hkv) dh], [(H + 2 Hkv) dh]: q heads, then k heads, then v heads;
                         // each head's dh columns contiguous (GPT-2 Conv1D c_attn layout)
  Tensor W_O, b_O;       // [H dh, D], [D]: rows h*dh..(h+1)*dh are head h's W_O
  Tensor ln2_w, ln2_b;   // [D]
  Tensor W_in, b_in;     // [D, d_mlp], [d_mlp]  (SwiGLU: the "up" projection)
  Tensor W_gate;         // [D, d_mlp] SwiGLU gate only
  Tensor W_out, b_out;   // [d_mlp, D], [D]
};

struct Weights {
  Tensor W_E;            // [V, D]
  Tensor W_pos;          // [n_ctx, D] (empty for rotary models)
  std::vector<LayerWeights> layers;
  Tensor lnf_w, lnf_b;   // [D]
  Tensor W_U;            // [V, D]: logits = x W_U^T + b_U (a copy of W_E when tied)
  Tensor b_U;            // [V] (zeros unless weights were processed)
  bool processed = false;
};

}  // namespace cs
