// Trainer for the zoo's small GPT-2 models (no pretrained weights can be downloaded here).
//
// AdamW (Loshchilov & Hutter 2019) with linear warmup and cosine decay to min_lr_frac * lr,
// global gradient-norm clipping, seeded data order (a permutation of the packed rows per epoch,
// so step s always sees the same rows), periodic held-out task evaluation, checkpoints in
// Hugging Face format plus trainer_state.bin (optimizer moments) for resume.
//
// Speed on CPU: every token id that never occurs in the corpus (never an input, never a
// target) shares one embedding row, so the softmax needs only the corpus's ids plus that one
// row with log(count) added to its logit: the exact full-vocabulary softmax of the saved model,
// at the cost of ~2,000 columns instead of 50,257. Only embedding rows in the step's softmax
// are updated ("lazy" Adam for the embedding); the shared row is copied out to every unseen id
// before each evaluation and save. The saved model is a normal GPT-2 checkpoint with the full
// 50257-token vocabulary. Tied embeddings: the W_E and W_U gradients are summed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/backward.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "train/corpus.h"

namespace cs {

struct TrainConfig {
  std::string preset = "toy-gpt2-4l";
  std::string out;            // output dir ("" = no files): best model (F16) + checkpoint/
  std::string resume;         // a checkpoint dir written by a previous run ("" = fresh start)
  uint64_t seed = 0;          // model init, corpus, data order
  float init_std = 0.02f;     // normal init of the weight matrices (GPT-2's 0.02; residual projections / sqrt(2L))
  CorpusOptions corpus;       // corpus.seed is set from seed
  int seq_len = 128;          // T (at most n_ctx)
  int batch = 16;             // rows per step
  int steps = 2000;
  int warmup = 100;
  int stop_after = 0;         // > 0: stop after this step (the schedule is still that of `steps`),
                              // so a run can change its corpus mix and --resume (a curriculum)
  float lr = 3e-3f, min_lr_frac = 0.1f;
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.1f;  // on the layers' weight matrices only (not embeddings, norms, biases)
  float clip = 1.0f;          // max global gradient norm (0 = off)
  int log_every = 20;
  int eval_every = 250;       // 0 = only at the end
  int eval_n = 100;           // prompts per task
  int save_every = 250;       // checkpoint/ (0 = only at the end)
  double time_budget_s = 0;   // > 0: stop early after this much wall time (checkpoint kept)
  float ema = 0;              // > 0: evaluate and save (as the best model) an exponential moving
                              // average of the weights with this decay per step (Polyak
                              // averaging); checkpoints keep the raw weights, and the average
                              // starts again from them at a resume
};

// Task scores on prompts built from held-out words (holdout.h) only.
struct TaskScores {
  double ioi_acc = 0;         // IO's logit above every other IOI name (IO and S held out)
  double ioi_logit_diff = 0;  // logit(IO) - logit(S)
  double gt_prob_diff = 0;    // greater-than, held-out nouns, full-vocabulary softmax
  double docstring_acc = 0;   // C (held out) above the 14 other names
  double induction_acc = 0;   // argmax == the repeated token on the second half, held-out words
  double induction_acc_train = 0;  // the same on train words (a diagnostic: copying before transfer)
  int n_ioi = 0, n_gt = 0, n_docstring = 0, n_induction = 0;
  // min over tasks of score / target (targets 0.95, 0.6, 0.8, 0.9): >= 1 when all are met.
  double target_ratio() const;
  // Mean over tasks of min(1, score / target), plus 1e-3 x the mean raw score to break ties: the
  // trainer keeps the checkpoint that maximises it (unlike target_ratio it rewards progress on any
  // task while another is still at zero).
  double progress() const;
  std::string str() const;
};

TaskScores evaluate_heldout(const Model& m, const Tokenizer& tok, int n, uint64_t seed);

struct TrainLogLine {
  int step = 0;
  float loss = 0, lr = 0, grad_norm = 0;
  double tokens_per_s = 0, elapsed_s = 0;
  int64_t tokens = 0;  // target tokens seen so far
};

struct TrainResult {
  int steps_done = 0;
  int64_t tokens = 0;
  double wall_s = 0;
  float first_loss = 0, final_loss = 0;  // mean over the first / last log interval
  TaskScores final_scores, best_scores;
  int best_step = -1;
  std::vector<TrainLogLine> log;
  int64_t corpus_docs = 0, corpus_tokens = 0, vocab_rows = 0;
};

// lr at step s (0-based): linear warmup over `warmup` steps, then cosine to min_lr_frac * lr.
float lr_at(const TrainConfig& c, int step);

// Runs training. `print` receives one line per log/eval/save event (nullptr = silent).
TrainResult train(const TrainConfig& cfg, const Tokenizer& tok,
                  const std::function<void(const std::string&)>& print = nullptr);

// Training on given documents with a given model (tests and benchmarks): no evaluation, no
// files. Returns the per-step losses.
std::vector<float> train_on_docs(Model& m, const std::vector<std::vector<int>>& docs, int eos,
                                 const TrainConfig& cfg);

}  // namespace cs
