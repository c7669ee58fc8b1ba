// Model shapes at test size, shared by the method tests.
#pragma once
#include <string>

#include "model/config.h"
#include "model/init.h"

namespace cs {

// A preset's architecture (norm, activation, positions, residual layout) at test size:
// n_layers x 4 heads with kv_heads key/value heads, d_model 32, d_head 8, d_mlp 64 (none for
// attention-only models), rotary_dim 8 (rotary models), vocabulary 64, context 16.
inline ModelConfig small_preset(const std::string& preset, int n_layers, int kv_heads) {
  ModelConfig c = preset_config(preset);
  c.n_layers = n_layers;
  c.n_heads = 4;
  c.n_kv_heads = kv_heads;
  c.d_model = 32;
  c.d_head = 8;
  if (!c.attn_only) c.d_mlp = 64;
  if (c.positions == Positions::Rotary) c.rotary_dim = 8;
  c.vocab_size = 64;
  c.n_ctx = 16;
  return c;
}

}  // namespace cs
