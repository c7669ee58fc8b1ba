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
  a.choice_flag("preset", "gpt2-small", {"gpt2-small", "gpt2-tiny", "toy-gpt2-4l", "attn-only-4l"}, "model shape")
      .flag("out", "", "output directory (created)")
      .int_flag("seed", "0", 0, kMaxSeed, "random seed")
      .choice_flag("dtype", "f32", {"f32", "f16", "bf16"}, "dtype on disk");
  if (!a.parse(argc, argv)) return 0;
  if (a.str("out").empty()) throw UsageError("init-random: --out DIR is required");
  check_output_dir(a.str("out"), "--out", {"config.json", "model.safetensors"});
  const std::string dt = a.str("dtype");
  const DType dtype = dt == "f32" ? DType::F32 : dt == "f16" ? DType::F16 : DType::BF16;
  Model m = random_model(preset_config(a.str("preset")), a.seed("seed"));
  save_model(m, a.str("out"), dtype);
  std::printf("wrote %s (%s, %.2fM parameters)\n", a.str("out").c_str(), a.str("preset").c_str(),
              m.parameter_count() / 1e6);
  return 0;
}

}  // namespace cs
