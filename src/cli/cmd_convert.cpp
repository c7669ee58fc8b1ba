#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/model.h"
#include "model/save.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

int cmd_convert(int argc, char** argv) {
  Args a("convert", "Rewrite a model directory's weights in another dtype (e.g. F32 -> F16 to ship a\n"
                    "small checkpoint). GPT-2-layout models (gpt2, circuitscan_attn_only).");
  a.positional("MODEL", kModelHelp)
      .flag("out", "", "output directory")
      .choice_flag("dtype", "f16", {"f32", "f16", "bf16"}, "dtype on disk");
  if (!a.parse(argc, argv)) return 0;
  if (a.str("out").empty()) throw UsageError("convert: --out DIR is required");
  check_output_dir(a.str("out"), "--out", {"config.json", "model.safetensors"});
  const std::string dt = a.str("dtype");
  const DType dtype = dt == "f32" ? DType::F32 : dt == "f16" ? DType::F16 : DType::BF16;
  Model m = load_model(a.str("MODEL"));
  save_model(m, a.str("out"), dtype);
  std::printf("wrote %s (%s)\n", a.str("out").c_str(), dt.c_str());
  return 0;
}

}  // namespace cs
