#include "model/init.h"

#include <cmath>
#include <random>

#include "ops/error.h"

namespace cs {

namespace {
ModelConfig gpt2_shape(int layers, int heads, int d_model, int n_ctx) {
  ModelConfig c;
  c.model_type = "gpt2";
  c.family = "GPT-2";
  c.n_layers = layers;
  c.n_heads = c.n_kv_heads = heads;
  c.d_model = d_model;
  c.d_head = d_model / heads;
  c.d_mlp = 4 * d_model;
  c.n_ctx = n_ctx;
  c.vocab_size = 50257;
  return c;
}

// The Llama-layout presets of the models the field studies now, at their published shapes
// (config.json of Qwen/Qwen2.5-0.5B, google/gemma-2-2b, meta-llama/Llama-3.2-1B and
// meta-llama/Llama-3.1-8B).
ModelConfig llama_shape(const char* type, int layers, int heads, int kv, int d_model, int d_head,
                        int d_mlp, int vocab, int n_ctx, float theta, float eps, bool tied) {
  ModelConfig c;
  c.model_type = type;
  c.family = type;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv;
  c.d_model = d_model;
  c.d_head = d_head;
  c.d_mlp = d_mlp;
  c.vocab_size = vocab;
  c.n_ctx = n_ctx;
  c.norm = Norm::RMSNorm;
  c.norm_eps = eps;
  c.act = Activation::SwiGLU;
  c.positions = Positions::Rotary;
  c.rotary_dim = d_head;
  c.rope.theta = theta;
  c.tied_embeddings = tied;
  return c;
}

}  // namespace

std::vector<std::string> preset_list() {
  return {"gpt2-small",   "gpt2-tiny",  "toy-gpt2-4l",  "attn-only-4l", "pythia-160m",
          "llama-1b",     "qwen2.5-0.5b", "gemma-2-2b", "llama-3.2-1b", "llama-3.1-8b"};
}

std::string preset_names() {
  std::string s;
  for (const std::string& n : preset_list()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

ModelConfig preset_config(const std::string& name) {
  if (name == "gpt2-small") return gpt2_shape(12, 12, 768, 1024);
  if (name == "gpt2-tiny") return gpt2_shape(3, 4, 64, 64);
  if (name == "toy-gpt2-4l") return gpt2_shape(4, 8, 128, 128);
  if (name == "attn-only-4l") {
    ModelConfig c = gpt2_shape(4, 8, 512, 2048);
    c.model_type = "circuitscan_attn_only";
    c.family = "attention-only";
    c.attn_only = true;
    c.d_mlp = 0;
    c.positions = Positions::Shortformer;
    c.vocab_size = 48262;
    c.tied_embeddings = false;
    return c;
  }
  if (name == "pythia-160m") {
    ModelConfig c = gpt2_shape(12, 12, 768, 2048);
    c.model_type = "gpt_neox";
    c.family = "GPT-NeoX";
    c.vocab_size = 50304;
    c.positions = Positions::Rotary;
    c.rotary_dim = 16;
    c.parallel_residual = true;
    c.act = Activation::GeluErf;
    c.tied_embeddings = false;
    return c;
  }
  if (name == "llama-1b") {
    ModelConfig c;
    c.model_type = "llama";
    c.family = "Llama";
    c.n_layers = 16;
    c.n_heads = 32;
    c.n_kv_heads = 8;
    c.d_model = 2048;
    c.d_head = 64;
    c.d_mlp = 8192;
    c.n_ctx = 131072;
    c.vocab_size = 128256;
    c.norm = Norm::RMSNorm;
    c.norm_eps = 1e-5f;
    c.act = Activation::SwiGLU;
    c.positions = Positions::Rotary;
    c.rotary_dim = 64;
    c.rope.theta = 500000.0f;
    c.tied_embeddings = true;
    return c;
  }
  if (name == "qwen2.5-0.5b") {
    ModelConfig c = llama_shape("qwen2", 24, 14, 2, 896, 64, 4864, 151936, 32768, 1e6f, 1e-6f, true);
    c.family = "Qwen2";
    return c;
  }
  if (name == "gemma-2-2b") {
    ModelConfig c = llama_shape("gemma2", 26, 8, 4, 2304, 256, 9216, 256000, 8192, 10000.0f, 1e-6f, true);
    c.family = "Gemma 2";
    c.act = Activation::GeGLU;
    c.embed_scale = std::sqrt(2304.0f);
    c.attn_scale = 1.0f / 16.0f;  // query_pre_attn_scalar 256
    c.attn_softcap = 50.0f;
    c.final_softcap = 30.0f;
    c.post_norms = true;
    c.layer_window.assign(c.n_layers, 0);
    for (int l = 0; l < c.n_layers; l += 2) c.layer_window[l] = 4096;
    return c;
  }
  if (name == "llama-3.2-1b" || name == "llama-3.1-8b") {
    const bool big = name == "llama-3.1-8b";
    ModelConfig c = big ? llama_shape("llama", 32, 32, 8, 4096, 128, 14336, 128256, 131072, 500000.0f, 1e-5f, false)
                        : llama_shape("llama", 16, 32, 8, 2048, 64, 8192, 128256, 131072, 500000.0f, 1e-5f, true);
    c.family = "Llama";
    c.rope.factor = big ? 8.0f : 32.0f;
    c.rope.low_freq_factor = 1.0f;
    c.rope.high_freq_factor = 4.0f;
    c.rope.original_max_position = 8192.0f;
    return c;
  }
  throw Error("unknown preset '" + name + "': choose one of " + preset_names());
}

Model random_model(const ModelConfig& c, uint64_t seed, float init_std) {
  if (!(init_std > 0)) throw Error("random_model: the init standard deviation must be > 0");
  Model m;
  m.cfg = c;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, init_std);
  const float proj_std = init_std / std::sqrt(2.0f * c.n_layers);
  std::normal_distribution<float> normal_proj(0.0f, proj_std);
  auto rand = [&](std::vector<int64_t> shape, bool proj = false) {
    Tensor t(std::move(shape));
    for (float& x : t.data) x = proj ? normal_proj(rng) : normal(rng);
    return t;
  };
  auto ones = [](int64_t n) { return Tensor({n}, 1.0f); };
  const int64_t D = c.d_model, F = c.d_mlp, V = c.vocab_size, W = c.qkv_width();
  const bool ln = c.norm == Norm::LayerNorm;
  m.w.W_E = rand({V, D});
  if (c.positions != Positions::Rotary) m.w.W_pos = rand({c.n_ctx, D});
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.ln1_w = ones(D);
    if (ln) lw.ln1_b = Tensor({D});
    lw.W_qkv = rand({D, W});
    lw.b_qkv = Tensor({W});
    lw.W_O = rand({static_cast<int64_t>(c.n_heads) * c.d_head, D}, true);
    lw.b_O = Tensor({D});
    if (!c.attn_only) {
      lw.ln2_w = ones(D);
      if (ln) lw.ln2_b = Tensor({D});
      lw.W_in = rand({D, F});
      if (gated(c.act)) lw.W_gate = rand({D, F});
      else lw.b_in = Tensor({F});
      lw.W_out = rand({F, D}, true);
      if (!gated(c.act)) lw.b_out = Tensor({D});
    }
    if (c.post_norms) {  // Gemma 2's norms after attention and MLP
      lw.ln1_post_w = ones(D);
      if (!c.attn_only) lw.ln2_post_w = ones(D);
    }
    m.w.layers.push_back(std::move(lw));
  }
  m.w.lnf_w = ones(D);
  if (ln) m.w.lnf_b = Tensor({D});
  m.w.W_U = c.tied_embeddings ? m.w.W_E : rand({V, D});
  m.w.b_U = Tensor({V});
  return m;
}

}  // namespace cs
