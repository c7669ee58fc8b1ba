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

  std::vector<std::pair<std::string, const Tensor*>> t;
  t.push_back({"transformer.wte.weight", &m.w.W_E});
  t.push_back({"transformer.wpe.weight", &m.w.W_pos});
  std::vector<std::string> names;  // keep strings alive
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = m.w.layers[l];
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    t.push_back({h + "ln_1.weight", &lw.ln1_w});
    t.push_back({h + "ln_1.bias", &lw.ln1_b});
    t.push_back({h + "attn.c_attn.weight", &lw.W_qkv});
    t.push_back({h + "attn.c_attn.bias", &lw.b_qkv});
    t.push_back({h + "attn.c_proj.weight", &lw.W_O});
    t.push_back({h + "attn.c_proj.bias", &lw.b_O});
    if (!c.attn_only) {
      t.push_back({h + "ln_2.weight", &lw.ln2_w});
      t.push_back({h + "ln_2.bias", &lw.ln2_b});
      t.push_back({h + "mlp.c_fc.weight", &lw.W_in});
      t.push_back({h + "mlp.c_fc.bias", &lw.b_in});
      t.push_back({h + "mlp.c_proj.weight", &lw.W_out});
      t.push_back({h + "mlp.c_proj.bias", &lw.b_out});
    }
  }
  t.push_back({"transformer.ln_f.weight", &m.w.lnf_w});
  t.push_back({"transformer.ln_f.bias", &m.w.lnf_b});
  if (!c.tied_embeddings) t.push_back({"lm_head.weight", &m.w.W_U});
  write_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), t, dtype,
                    {{"format", "pt"}});
  write_file_atomic((std::filesystem::path(dir) / "config.json").string(), j.dump(2) + "\n");
}

}  // namespace cs
