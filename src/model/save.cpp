#include "model/save.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ops/error.h"

namespace cs {

namespace {

void check_savable(const Model& m) {
  const ModelConfig& c = m.cfg;
  if (c.model_type != "gpt2" && c.model_type != "circuitscan_attn_only")
    throw Error("saving model_type '" + c.model_type + "' is not supported (gpt2, circuitscan_attn_only)");
  if (m.w.processed)
    throw Error("refusing to save processed weights: load the model without weight processing to save it");
}

}  // namespace

void save_model(const Model& m, const std::string& dir, DType dtype) {
  check_savable(m);
  StagedDir out(dir);
  write_model_files(m, out.dir(), dtype);
  out.commit();
}

void write_model_files(const Model& m, const std::string& dir, DType dtype) {
  const ModelConfig& c = m.cfg;
  check_savable(m);

  nlohmann::json j;
  j["model_type"] = c.model_type;
  j["architectures"] = {c.model_type == "gpt2" ? "GPT2LMHeadModel" : "CircuitscanAttnOnly"};
  j["n_layer"] = c.n_layers;
  j["n_head"] = c.n_heads;
  j["n_embd"] = c.d_model;
  j["n_positions"] = c.n_ctx;
  j["vocab_size"] = c.vocab_size;
  j["layer_norm_epsilon"] = c.norm_eps;
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["bos_token_id"] = 50256;
  j["eos_token_id"] = 50256;
  if (c.model_type == "gpt2") {
    j["n_inner"] = c.d_mlp;
    j["activation_function"] = c.act == Activation::GeluNew ? "gelu_new" : c.act == Activation::GeluErf ? "gelu" : "relu";
    j["scale_attn_weights"] = true;
  } else {
    j["positional_embedding_type"] = "shortformer";
  }
  j["torch_dtype"] = dtype == DType::F16 ? "float16" : dtype == DType::BF16 ? "bfloat16" : "float32";

  std::vector<TensorSource> t;
  auto add = [&t](const std::string& name, const auto& x) {
    bool f32 = true;
    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Weight>) f32 = x.is_f32();
    if (f32 && static_cast<int64_t>(x.data.size()) != Tensor::numel_of(x.shape))
      throw Error("save: tensor " + name + " has shape " + x.shape_str() + " but " +
                  std::to_string(x.data.size()) + " elements");
    t.push_back({name, x.shape, [&x](int64_t b, int64_t n, float* out) {
                   if constexpr (std::is_same_v<std::decay_t<decltype(x)>, Weight>) x.elements_f32(b, n, out);
                   else std::memcpy(out, x.data.data() + b, static_cast<size_t>(n) * sizeof(float));
                 }});
  };
  add("transformer.wte.weight", m.w.W_E);
  add("transformer.wpe.weight", m.w.W_pos);
  std::vector<std::string> names;  // keep strings alive
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = m.w.layers[l];
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    add(h + "ln_1.weight", lw.ln1_w);
    add(h + "ln_1.bias", lw.ln1_b);
    add(h + "attn.c_attn.weight", lw.W_qkv);
    add(h + "attn.c_attn.bias", lw.b_qkv);
    add(h + "attn.c_proj.weight", lw.W_O);
    add(h + "attn.c_proj.bias", lw.b_O);
    if (!c.attn_only) {
      add(h + "ln_2.weight", lw.ln2_w);
      add(h + "ln_2.bias", lw.ln2_b);
      add(h + "mlp.c_fc.weight", lw.W_in);
      add(h + "mlp.c_fc.bias", lw.b_in);
      add(h + "mlp.c_proj.weight", lw.W_out);
      add(h + "mlp.c_proj.bias", lw.b_out);
    }
  }
  add("transformer.ln_f.weight", m.w.lnf_w);
  add("transformer.ln_f.bias", m.w.lnf_b);
  if (!c.tied_embeddings) add("lm_head.weight", m.w.W_U);
  write_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), t, dtype,
                    {{"format", "pt"}});
  write_file_atomic((std::filesystem::path(dir) / "config.json").string(), j.dump(2) + "\n");
}

}  // namespace cs
