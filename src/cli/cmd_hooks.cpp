// `circuitscan hooks MODEL`: every hook point of the model's forward pass, in the order the
// forward visits them, with its activation's shape (TransformerLens names, for `run --cache`).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/hook_list.h"
#include "model/model.h"
#include "ops/error.h"
#include "report/text_table.h"

namespace cs {

int cmd_hooks(int argc, char** argv) {
  Args a("hooks",
         "List every hook point of a model (TransformerLens names), in forward order, with the shape\n"
         "of its activation for a batch of --batch prompts of --seq-len tokens: the names `run --cache`\n"
         "takes (with '*' wildcards, e.g. blocks.*.attn.hook_z). Found by running that forward once.");
  a.positional("MODEL", kModelHelp)
      .int_flag("seq-len", "16", 1, 1 << 20, "tokens per prompt (T)")
      .int_flag("batch", "1", 1, 1 << 16, "prompts in the batch (B)")
      .toggle("json", "print JSON: [{\"name\", \"shape\"}]");
  if (!a.parse(argc, argv)) return 0;
  const int T = a.integer("seq-len"), B = a.integer("batch");
  Model m = load_model(a.str("MODEL"));
  if (T > m.cfg.n_ctx && m.cfg.n_ctx > 0)
    throw UsageError("hooks: --seq-len " + std::to_string(T) + " is longer than the model's context (" +
                     std::to_string(m.cfg.n_ctx) + ")");
  const std::vector<HookShape> all = hook_shapes(m, B, T);
  auto shape = [](const std::vector<int64_t>& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
  };
  if (a.on("json")) {
    nlohmann::json j = nlohmann::json::array();
    for (const HookShape& h : all) j.push_back({{"name", h.point.name()}, {"shape", h.shape}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s: %zu hook points, shapes for B = %d prompt%s of T = %d tokens (H = %d heads, Hkv = %d key/value heads,\n"
              "dh = %d, D = %d%s)\n\n",
              a.str("MODEL").c_str(), all.size(), B, B == 1 ? "" : "s", T, m.cfg.n_heads, m.cfg.n_kv_heads, m.cfg.d_head,
              m.cfg.d_model, m.cfg.d_mlp > 0 ? (", d_mlp = " + std::to_string(m.cfg.d_mlp)).c_str() : "");
  TextTable t({"hook", "shape"});
  for (const HookShape& h : all) t.row({h.point.name(), shape(h.shape)});
  std::printf("%s", t.str().c_str());
  return 0;
}

}  // namespace cs
