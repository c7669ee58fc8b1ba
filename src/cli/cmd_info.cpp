#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/precision_flag.h"
#include "cli/task_flags.h"
#include "model/model.h"
#include "model/tokenizer.h"

namespace cs {

int cmd_info(int argc, char** argv) {
  Args a("info", "Print a model's architecture, sizes, on-disk dtype and parameter count.");
  a.positional("MODEL", "Hugging Face model directory (config.json + *.safetensors)");
  precision_flag(a);
  if (!a.parse(argc, argv)) return 0;
  Model m = load_model(a.str("MODEL"), {.precision = precision_from_flag(a)});
  std::printf("model: %s\n%s\nparameters: %lld (%.2fM)\nprecision: %s\n", a.str("MODEL").c_str(),
              m.cfg.describe().c_str(), static_cast<long long>(m.parameter_count()),
              m.parameter_count() / 1e6, precision_name(m.precision));
  const Tokenizer tok = Tokenizer::for_model_dir(a.str("MODEL"));
  const BosChoice bos = bos_from_flags(a, a.str("MODEL"), tok);
  std::printf("prompts: BOS %s by default (%s; the commands' --prepend-bos / --no-prepend-bos change it)\n",
              bos.prepend ? "prepended" : "not prepended", bos.why.c_str());
  return 0;
}

}  // namespace cs
