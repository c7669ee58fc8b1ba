#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "model/save.h"
#include "model/data_dir.h"
#include "model/tokenizer.h"
#include "cli/commands.h"
#include "ops/error.h"
#include "ops/files.h"
#include "train/trainer.h"

namespace cs {

int cmd_train(int argc, char** argv) {
  Args a("train",
         "Train a small GPT-2 from scratch on the generated task + filler corpus (src/train/corpus.h):\n"
         "AdamW, warmup + cosine, clipping, held-out task evaluation, Hugging Face checkpoints.\n"
         "OUT gets the best model so far (F16, tokenizer files); OUT/checkpoint the latest (F32 +\n"
         "trainer_state.bin, for --resume).");
  TrainConfig d;
  constexpr int64_t kMaxSteps = 100000000;
  a.choice_flag("preset", d.preset, {"toy-gpt2-4l", "gpt2-tiny", "gpt2-small"}, "model shape (init.h presets with tied embeddings)")
      .flag("out", "", "output directory (required)")
      .flag("resume", "", "continue from a checkpoint directory (OUT/checkpoint of an earlier run)")
      .int_flag("seed", "0", 0, kMaxSeed, "seed of the init, corpus and data order")
      .real_flag("init-std", "0.02", RealRange::positive(), "standard deviation of the normal init of the weight matrices")
      .int_flag("docs", std::to_string(d.corpus.n_docs), 1, 10000000, "corpus documents")
      .flag("mix", "0.25,0.15,0.15,0.15,0.30",
            "corpus fractions of ioi, greater-than, docstring, induction, filler and (optional sixth\n"
            "                            to eighth) word-list, recap and recap-tail documents")
      .int_flag("seq-len", std::to_string(d.seq_len), 2, 8192, "tokens per training row (at most the model's context)")
      .int_flag("batch", std::to_string(d.batch), 1, 4096, "rows per step")
      .int_flag("steps", std::to_string(d.steps), 1, kMaxSteps, "optimizer steps (the cosine schedule's length)")
      .int_flag("stop-after", "0", 0, kMaxSteps, "stop after this step, keeping the schedule of --steps (0: run to --steps);\n"
                "                            then --resume OUT/checkpoint, e.g. with another --mix")
      .int_flag("warmup", std::to_string(d.warmup), 0, kMaxSteps, "linear warmup steps")
      .real_flag("lr", "3e-3", RealRange::positive(), "peak learning rate")
      .real_flag("min-lr-frac", "0.1", RealRange::closed(0, 1), "final learning rate as a fraction of --lr")
      .real_flag("weight-decay", "0.1", RealRange::non_negative(), "AdamW decay of the layers' weight matrices")
      .real_flag("clip", "1.0", RealRange::non_negative(), "max global gradient norm (0: off)")
      .real_flag("ema", "0", {0, 1, false, true}, "evaluate and save a moving average of the weights with this decay per step\n"
                 "                            (e.g. 0.998; 0: off); checkpoints keep the raw weights")
      .int_flag("log-every", std::to_string(d.log_every), 1, kMaxSteps, "steps between progress lines")
      .int_flag("eval-every", std::to_string(d.eval_every), 0, kMaxSteps, "steps between held-out evaluations (0: end only)")
      .int_flag("eval-n", std::to_string(d.eval_n), 1, 100000, "prompts per task in an evaluation")
      .int_flag("save-every", std::to_string(d.save_every), 0, kMaxSteps, "steps between checkpoints (0: end only)")
      .real_flag("time-budget-min", "0", RealRange::non_negative(), "stop early after this many minutes of wall time (0: none)")
      .flag("evaluate", "", "only evaluate this model directory on the held-out tasks (--eval-n prompts,\n"
            "                            --seed) and write DIR/scores.json; no training");
  if (!a.parse(argc, argv)) return 0;
  if (!a.str("evaluate").empty()) {
    const std::string dir = a.str("evaluate");
    Model m = load_model(dir);
    check_output_file(dir + "/scores.json", "--evaluate");
    Tokenizer tok = Tokenizer::for_model_dir(dir);
    const int n = a.integer("eval-n");
    const uint64_t seed = a.seed("seed");
    TaskScores s = evaluate_heldout(m, tok, n, seed);
    nlohmann::json j = {{"n", n}, {"seed", seed}, {"ioi_acc", s.ioi_acc}, {"ioi_logit_diff", s.ioi_logit_diff},
                        {"gt_prob_diff", s.gt_prob_diff}, {"docstring_acc", s.docstring_acc},
                        {"induction_acc", s.induction_acc}, {"induction_acc_train_words", s.induction_acc_train},
                        {"definitions",
                         {{"ioi_acc", "IO's logit above every other IOI name's"},
                          {"ioi_logit_diff", "logit(IO) - logit(S)"},
                          {"gt_prob_diff", "sum p(years > YY) - sum p(years <= YY)"},
                          {"docstring_acc", "the answer's logit above every other :param name's"},
                          {"induction_acc", "top-1: argmax = the repeated word, over the second half, held-out words"}}}};
    write_file_atomic(dir + "/scores.json", j.dump(2) + "\n");
    std::printf("%s: held-out IOI accuracy (IO above every other name) %.3f (logit diff IO - S %.3f), greater-than prob "
                "diff %.3f, docstring accuracy (answer above the other names) %.3f, induction top-1 accuracy (argmax = the "
                "repeated word) %.3f (%d prompts per task, seed %llu)\n",
                dir.c_str(), s.ioi_acc, s.ioi_logit_diff, s.gt_prob_diff, s.docstring_acc, s.induction_acc, n,
                static_cast<unsigned long long>(seed));
    return 0;
  }
  TrainConfig c;
  c.preset = a.str("preset");
  c.out = a.str("out");
  if (c.out.empty()) throw UsageError("train: --out DIR is required");
  check_output_dir(c.out, "--out", {"config.json", "model.safetensors", "vocab.json", "merges.txt"});
  c.resume = a.str("resume");
  c.seed = a.seed("seed");
  c.init_std = static_cast<float>(a.number("init-std"));
  c.corpus.n_docs = a.integer("docs");
  {
    const std::string mix = a.str("mix");
    std::vector<double> f;
    size_t at = 0;
    while (at <= mix.size()) {
      const size_t comma = std::min(mix.find(',', at), mix.size());
      const std::string part = mix.substr(at, comma - at);
      char* end = nullptr;
      const double v = std::strtod(part.c_str(), &end);
      if (part.empty() || end != part.c_str() + part.size() || !(v >= 0) || !std::isfinite(v))
        throw UsageError("train: --mix wants non-negative numbers separated by commas (ioi,greater-than,"
                         "docstring,induction,filler[,word-list[,recap[,recap-tail]]]), got '" + mix + "'");
      f.push_back(v);
      at = comma + 1;
    }
    while (f.size() >= 5 && f.size() < CorpusOptions::kKinds) f.push_back(0.0);
    double sum = 0;
    for (double v : f) sum += v;
    if (f.size() != CorpusOptions::kKinds || sum <= 0)
      throw UsageError("train: --mix wants 5 to 8 non-negative numbers with a positive sum (ioi,greater-than,"
                       "docstring,induction,filler[,word-list[,recap[,recap-tail]]]), got '" + mix + "'");
    for (int k = 0; k < CorpusOptions::kKinds; ++k) c.corpus.mix[k] = f[static_cast<size_t>(k)];
  }
  c.seq_len = a.integer("seq-len");
  c.batch = a.integer("batch");
  c.steps = a.integer("steps");
  c.warmup = a.integer("warmup");
  c.stop_after = a.integer("stop-after");
  c.lr = static_cast<float>(a.number("lr"));
  c.min_lr_frac = static_cast<float>(a.number("min-lr-frac"));
  c.weight_decay = static_cast<float>(a.number("weight-decay"));
  c.clip = static_cast<float>(a.number("clip"));
  c.ema = static_cast<float>(a.number("ema"));
  if (!(c.ema < 1)) throw UsageError("train: --ema " + a.str("ema") + " rounds to 1 in float: use a decay below 0.9999999");
  c.log_every = a.integer("log-every");
  c.eval_every = a.integer("eval-every");
  c.eval_n = a.integer("eval-n");
  c.save_every = a.integer("save-every");
  c.time_budget_s = 60.0 * a.number("time-budget-min");
  const Tokenizer tok = Tokenizer::for_model_dir(c.resume.empty() ? data_dir() + "/gpt2-tokenizer" : c.resume);
  const TrainResult r = train(c, tok, [](const std::string& s) {
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
  });
  std::printf("done: %d steps, %lld tokens, %.0f s, loss %.4f -> %.4f; best (step %d): %s\n", r.steps_done,
              static_cast<long long>(r.tokens), r.wall_s, r.first_loss, r.final_loss, r.best_step,
              r.best_scores.str().c_str());
  return 0;
}

}  // namespace cs
