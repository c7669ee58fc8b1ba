#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/init.h"
#include "model/save.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

int cmd_init_random(int argc, char** argv) {
  Args a("init-random",
         "Write a random-weight checkpoint in Hugging Face format (config.json + model.safetensors),\n"
         "for speed benchmarks: no pretrained weights can be downloaded here.");
  a.choice_flag("preset", "gpt2-small", preset_list(), "model shape")
      .flag("out", "", "output directory (created)")
      .int_flag("seed", "0", 0, kMaxSeed, "random seed")
      .choice_flag("dtype", "", {"f32", "f16", "bf16"},
                   "dtype on disk (default: bf16 for the qwen2.5, gemma-2 and llama-3 presets, else f32)");
  if (!a.parse(argc, argv)) return 0;
  if (a.str("out").empty()) throw UsageError("init-random: --out DIR is required");
  check_output_dir(a.str("out"), "--out", {"config.json", "model.safetensors"});
  const ModelConfig cfg = preset_config(a.str("preset"));
  const bool llama_layout = cfg.model_type == "llama" || cfg.model_type == "qwen2" || cfg.model_type == "gemma2";
  const std::string dt = a.given("dtype") ? a.str("dtype") : llama_layout ? "bf16" : "f32";
  const DType dtype = dt == "f32" ? DType::F32 : dt == "f16" ? DType::F16 : DType::BF16;
  if (llama_layout) {  // streamed: the larger presets do not fit in memory as f32
    write_random_checkpoint(cfg, a.str("out"), dtype, a.seed("seed"));
    std::printf("wrote %s (%s, %s)\n", a.str("out").c_str(), a.str("preset").c_str(), dt.c_str());
    return 0;
  }
  Model m = random_model(cfg, a.seed("seed"));
  save_model(m, a.str("out"), dtype);
  std::printf("wrote %s (%s, %.2fM parameters)\n", a.str("out").c_str(), a.str("preset").c_str(),
              m.parameter_count() / 1e6);
  return 0;
}

}  // namespace cs
