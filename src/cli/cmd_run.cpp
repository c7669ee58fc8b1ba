#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/precision_flag.h"
#include "cli/task_flags.h"
#include "interp/ablation.h"
#include "model/hook_list.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

namespace {

// --cache names and patterns matched against the points this model's forward visits, for a
// prompt of T tokens; each point once, in forward order.
std::vector<HookPoint> cache_points(const Args& a, const Model& m, int T) {
  std::vector<HookPoint> points;
  if (a.all("cache").empty()) return points;
  for (const std::string& h : a.all("cache")) {
    const HookPoint p = h.find_first_of("*?[") == std::string::npos ? HookPoint::parse(h) : HookPoint{};
    if (h.find_first_of("*?[") == std::string::npos && p.layer >= m.cfg.n_layers)
      throw Error("hook " + p.name() + ": the model has only " + std::to_string(m.cfg.n_layers) + " layers");
  }
  const std::vector<HookShape> all = hook_shapes(m, 1, T);
  for (const std::string& h : a.all("cache"))
    for (const HookPoint& p : match_hooks(h, all))
      if (std::find(points.begin(), points.end(), p) == points.end()) points.push_back(p);
  return points;
}

// Each cached activation's shape, mean, std, range and first values, in forward order.
void print_cache_stats(const std::vector<HookPoint>& points, const ActivationCache& cache) {
  for (const HookPoint& p : points) {
    const std::string name = p.name();
    if (!cache.count(name)) continue;
    const Tensor& t = cache.at(name);
    double s = 0, s2 = 0, lo = 1e300, hi = -1e300;
    for (float x : t.data) s += x, s2 += double(x) * x, lo = std::min<double>(lo, x), hi = std::max<double>(hi, x);
    const double n = static_cast<double>(t.numel());
    std::printf("\n%s %s mean %.5g std %.5g min %.5g max %.5g\n  first values:", name.c_str(),
                t.shape_str().c_str(), s / n, std::sqrt(std::max(0.0, s2 / n - s * s / n / n)), lo, hi);
    for (int64_t i = 0; i < std::min<int64_t>(8, t.numel()); ++i) std::printf(" %.5g", t.data[i]);
    std::printf("\n");
  }
}

}  // namespace

int cmd_run(int argc, char** argv) {
  Args a("run", "Run one prompt: print its tokens and the next-token distribution; optionally\n"
                "cache hooked activations (TransformerLens names) and save them as safetensors.");
  a.positional("MODEL", kModelHelp)
      .positional("PROMPT", "the prompt text")
      .int_flag("top-k", "10", 1, 1000000, "how many next tokens to print (at most the vocabulary)")
      .toggle("json", "print JSON instead of a table")
      .repeated("cache", "hook point to cache, e.g. blocks.0.attn.hook_z; '*' matches any run of characters\n"
                "                            (blocks.*.attn.hook_z: every layer's); `circuitscan hooks MODEL` lists them")
      .repeated("ablate", "zero-ablate head LAYER.HEAD (its slice of blocks.LAYER.attn.hook_z), e.g. 1.2")
      .flag("save", "", "write the cached activations to this .safetensors file")
      .toggle("process-weights", "apply TransformerLens weight processing (fold LN etc.)")
      .toggle("prepend-bos", kPrependBosHelp)
      .toggle("no-prepend-bos", kNoPrependBosHelp);
  precision_flag(a);
  if (!a.parse(argc, argv)) return 0;
  if (!a.str("save").empty() && a.all("cache").empty())
    throw UsageError("run: --save needs at least one --cache HOOK");
  for (const std::string& h : a.all("cache"))
    if (h.find_first_of("*?[") == std::string::npos) HookPoint::parse(h);  // a malformed name fails before loading
  if (!a.str("save").empty()) check_output_file(a.str("save"), "--save");

  Model m = load_model(a.str("MODEL"), {.process_weights = a.on("process-weights"),
                                        .precision = precision_from_flag(a)});
  Tokenizer tok = Tokenizer::for_model_dir(m.dir);
  std::vector<int> ids = tok.encode(a.str("PROMPT"));
  const BosChoice bos = bos_from_flags(a, m.dir, tok);
  if (bos.prepend) {
    if (tok.bos_id() < 0) throw Error("--prepend-bos: this tokenizer has no BOS token");
    ids.insert(ids.begin(), tok.bos_id());
  }
  if (ids.empty()) throw Error("the prompt is empty after tokenization: give some text");
  const std::vector<HookPoint> points = cache_points(a, m, static_cast<int>(ids.size()));

  Hooks hooks;
  HeadSet ablate;
  for (const std::string& s : a.all("ablate")) {
    int layer = -1, head = -1;
    char end = 0;
    if (std::sscanf(s.c_str(), "%d.%d%c", &layer, &head, &end) != 2)
      throw UsageError("run: --ablate takes LAYER.HEAD, e.g. 1.2, got '" + s + "'");
    ablate.heads.push_back({layer, head});
  }
  const AblationSource zero = make_ablation_source(m, AblationKind::Zero, nullptr);
  if (!ablate.heads.empty()) add_ablation_hooks(hooks, m, zero, ablate);  // before the caches: they see it
  ActivationCache cache;
  for (const HookPoint& p : points) hooks.cache(p, &cache);
  Batch batch = Batch::from_sequences({ids});
  Tensor logits = forward(m, batch, &hooks, {LogitsAt::Last});

  const int64_t V = m.cfg.vocab_size;
  // A model whose vocabulary is larger than its tokenizer's (random presets read with the bundled
  // GPT-2 tokenizer) predicts ids the tokenizer cannot show.
  auto text_of = [&tok](int id) { return id < tok.vocab_size() ? tok.token_text(id) : "<id " + std::to_string(id) + ">"; };
  std::vector<double> prob(V);
  double mx = *std::max_element(logits.data.begin(), logits.data.end()), sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += prob[v] = std::exp(logits.data[v] - mx);
  std::vector<int> order(V);
  for (int64_t v = 0; v < V; ++v) order[v] = static_cast<int>(v);
  const int k = std::clamp<int>(a.integer("top-k"), 1, static_cast<int>(V));
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int x, int y) { return logits.data[x] > logits.data[y]; });

  if (!a.str("save").empty()) {
    std::vector<std::pair<std::string, const Tensor*>> t;
    for (const HookPoint& p : points)  // in forward order
      if (cache.count(p.name())) t.push_back({p.name(), &cache.at(p.name())});
    // Header strings must be UTF-8: a prompt that is not keeps its text with U+FFFD.
    const std::string prompt = nlohmann::json::parse(nlohmann::json(a.str("PROMPT")).dump(
                                                         -1, ' ', false, nlohmann::json::error_handler_t::replace))
                                   .get<std::string>();
    write_safetensors(a.str("save"), t, DType::F32, {{"prompt", prompt}});
  }

  if (a.on("json")) {
    // A token may be part of a UTF-8 character (byte-level BPE splits them): such text is shown
    // with U+FFFD, as Hugging Face's decode does; "tokens" keeps the exact ids.
    nlohmann::json j;
    j["bos"] = bos.prepend;
    j["tokens"] = ids;
    for (int id : ids) j["token_text"].push_back(tok.token_text(id));
    for (int i = 0; i < k; ++i)
      j["top"].push_back({{"id", order[i]}, {"text", text_of(order[i])},
                          {"logit", logits.data[order[i]]}, {"prob", prob[order[i]] / sum}});
    for (auto& [name, t] : cache) j["cache"][name] = {{"shape", t.shape}, {"values", t.data}};
    std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("BOS %s (%s)\n", bos.prepend ? "prepended" : "not prepended", bos.why.c_str());
  std::printf("%zu tokens:", ids.size());
  for (int id : ids) std::printf(" %d:'%s'", id, tok.token_text(id).c_str());
  std::printf("\n\n%-6s %-8s %-10s %-9s %s\n", "rank", "id", "logit", "prob", "token");
  for (int i = 0; i < k; ++i)
    std::printf("%-6d %-8d %-10.4f %-9.5f '%s'\n", i + 1, order[i], logits.data[order[i]],
                prob[order[i]] / sum, text_of(order[i]).c_str());
  print_cache_stats(points, cache);
  if (!a.str("save").empty()) std::printf("\nsaved %zu activations to %s\n", cache.size(), a.str("save").c_str());
  return 0;
}

}  // namespace cs
