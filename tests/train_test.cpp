// Trainer: the loss of a tiny model falls on a fixed corpus, deterministically per seed; the
// schedule's shape; checkpoints resume.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include <set>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "model/backward.h"
#include "model/init.h"
#include "train/corpus.h"
#include "train/trainer.h"
#include "interp/task.h"

namespace cs {
namespace {

const Tokenizer& gpt2_tok() {
  static const Tokenizer t = Tokenizer::from_gpt2_files(CS_SOURCE_DIR "/data/gpt2-tokenizer/vocab.json",
                                                         CS_SOURCE_DIR "/data/gpt2-tokenizer/merges.txt");
  return t;
}

TrainConfig tiny_cfg() {
  TrainConfig c;
  c.seq_len = 64;
  c.batch = 8;
  c.steps = 60;
  c.warmup = 10;
  c.lr = 3e-3f;
  c.seed = 3;
  return c;
}

std::vector<std::vector<int>> fixed_docs() {
  CorpusOptions o;
  o.n_docs = 300;
  o.seed = 11;
  return make_corpus(gpt2_tok(), o).docs;
}

TEST(Train, LossFallsOnFixedCorpus) {
  const auto docs = fixed_docs();
  Model m = random_model(preset_config("gpt2-tiny"), 5);
  const std::vector<float> loss = train_on_docs(m, docs, gpt2_tok().eos_id(), tiny_cfg());
  ASSERT_EQ(loss.size(), 60u);
  float first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += loss[i] / 5, last += loss[55 + i] / 5;
  EXPECT_GT(first, 6.0f);         // ~ln(corpus vocab) at init
  EXPECT_LT(last, first - 2.0f);  // and it learns
  for (float l : loss) EXPECT_TRUE(std::isfinite(l));
}

TEST(Train, DeterministicPerSeed) {
  const auto docs = fixed_docs();
  TrainConfig c = tiny_cfg();
  c.steps = 8;
  Model a = random_model(preset_config("gpt2-tiny"), 5), b = random_model(preset_config("gpt2-tiny"), 5);
  const auto la = train_on_docs(a, docs, gpt2_tok().eos_id(), c);
  const auto lb = train_on_docs(b, docs, gpt2_tok().eos_id(), c);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(a.w.layers[1].W_qkv.data, b.w.layers[1].W_qkv.data);
  EXPECT_EQ(a.w.W_E.data, a.w.W_U.data);  // tied copy kept in step
}

// The trainer's softmax over the corpus ids plus one shared row (with log count added) must be
// the full-vocabulary softmax of the model it saves: the unseen ids all end up with that row.
TEST(Train, SharedUnseenRowGivesTheFullSoftmax) {
  const auto docs = fixed_docs();
  TrainConfig c = tiny_cfg();
  c.steps = 5;
  Model m = random_model(preset_config("gpt2-tiny"), 5);
  train_on_docs(m, docs, gpt2_tok().eos_id(), c);
  std::vector<int32_t> vocab = {gpt2_tok().eos_id()};
  for (const auto& d : docs) vocab.insert(vocab.end(), d.begin(), d.end());
  std::sort(vocab.begin(), vocab.end());
  vocab.erase(std::unique(vocab.begin(), vocab.end()), vocab.end());
  int32_t rep = 0;
  while (std::binary_search(vocab.begin(), vocab.end(), rep)) ++rep;
  const int64_t D = m.cfg.d_model;
  int64_t unseen = 0;
  for (int32_t id = 0; id < m.cfg.vocab_size; ++id) {
    if (std::binary_search(vocab.begin(), vocab.end(), id)) continue;
    ++unseen;
    for (int64_t d = 0; d < D; ++d) ASSERT_EQ(m.w.W_U.ptr()[id * D + d], m.w.W_U.ptr()[rep * D + d]) << "id " << id;
  }
  std::vector<int32_t> rows = vocab;
  rows.insert(std::upper_bound(rows.begin(), rows.end(), rep), rep);
  std::vector<float> log_count(rows.size(), 0.0f);
  log_count[static_cast<size_t>(std::lower_bound(rows.begin(), rows.end(), rep) - rows.begin())] =
      static_cast<float>(std::log(static_cast<double>(unseen)));
  const auto packed = pack_rows(docs, 32, gpt2_tok().eos_id());
  std::vector<std::vector<int>> in, tg;
  for (int b = 0; b < 3; ++b) {
    in.emplace_back(packed[b].begin(), packed[b].end() - 1);
    tg.emplace_back(packed[b].begin() + 1, packed[b].end());
  }
  Batch batch = Batch::from_sequences(in);
  std::vector<int32_t> targets(static_cast<size_t>(batch.B) * batch.T, -1);
  for (int b = 0; b < batch.B; ++b) std::copy(tg[b].begin(), tg[b].end(), targets.begin() + b * batch.T);
  const float full = train_step_loss_and_grad(m, batch, targets, {}, nullptr);
  const float shared = train_step_loss_and_grad(m, batch, targets, rows, nullptr, log_count);
  const float corpus_only = train_step_loss_and_grad(m, batch, targets, vocab, nullptr);
  EXPECT_NEAR(shared, full, 1e-4f * full);
  EXPECT_LT(corpus_only, full - 1e-3f);  // leaving the shared row out would not be the full softmax
}

TEST(Train, WarmupThenCosine) {
  TrainConfig c;
  c.steps = 100, c.warmup = 10, c.lr = 1.0f, c.min_lr_frac = 0.1f;
  EXPECT_FLOAT_EQ(lr_at(c, 0), 0.1f);
  EXPECT_FLOAT_EQ(lr_at(c, 9), 1.0f);
  EXPECT_NEAR(lr_at(c, 55), 0.55f, 1e-4);
  EXPECT_NEAR(lr_at(c, 100), 0.1f, 1e-6);
  for (int s = 10; s < 100; ++s) EXPECT_LE(lr_at(c, s + 1), lr_at(c, s));
}

// --ema: the weights left (and saved) are the moving average; after one step from w0 to w1 that
// is ema w0 + (1 - ema) w1, parameter by parameter, embedding included.
TEST(Train, WeightAverageAfterOneStep) {
  const std::vector<std::vector<int>> docs = fixed_docs();
  TrainConfig c = tiny_cfg();
  c.steps = 1;
  const Model w0 = random_model(preset_config("gpt2-tiny"), 5);
  Model w1 = w0;
  train_on_docs(w1, docs, gpt2_tok().eos_id(), c);
  c.ema = 0.75f;
  Model avg = w0;
  train_on_docs(avg, docs, gpt2_tok().eos_id(), c);
  const int id = docs[0][0];  // a corpus row of the embedding
  const int64_t D = w0.cfg.d_model;
  auto check = [&](const auto& a, const auto& b0, const auto& b1, int64_t from, int64_t n, const char* what) {
    double moved = 0;
    for (int64_t i = from; i < from + n; ++i) {
      EXPECT_NEAR(a.data[i], 0.75f * b0.data[i] + 0.25f * b1.data[i], 1e-6f) << what << " " << i;
      moved += std::abs(b1.data[i] - b0.data[i]);
    }
    EXPECT_GT(moved, 0) << what << ": the step moved nothing, so the test would prove nothing";
  };
  check(avg.w.layers[0].W_qkv, w0.w.layers[0].W_qkv, w1.w.layers[0].W_qkv, 0, w0.w.layers[0].W_qkv.numel(), "W_qkv");
  check(avg.w.lnf_w, w0.w.lnf_w, w1.w.lnf_w, 0, D, "ln_f");
  check(avg.w.W_E, w0.w.W_E, w1.w.W_E, id * D, D, "W_E row");
  for (int64_t d = 0; d < D; ++d) EXPECT_EQ(avg.w.W_U.data[id * D + d], avg.w.W_E.data[id * D + d]) << "tied W_U";
}

TEST(Train, CheckpointResumesToTheSameModel) {
  namespace fs = std::filesystem;
  // Per process: two checkouts' suites may run at once on one machine.
  const std::string dir = (fs::temp_directory_path() / ("cs_train_test." + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  TrainConfig c = tiny_cfg();
  c.preset = "gpt2-tiny";
  c.corpus.n_docs = 200;
  c.steps = 6, c.eval_n = 4, c.eval_every = 0, c.save_every = 3, c.log_every = 1;
  c.out = dir + "/full";
  const TrainResult full = train(c, gpt2_tok());
  EXPECT_EQ(full.steps_done, 6);
  // Same run stopped at step 3, then resumed from its checkpoint.
  TrainConfig h = c;
  h.out = dir + "/half";
  h.steps = 6;
  h.time_budget_s = 1e-9;  // stops after the first step; checkpoint at step 1
  const TrainResult half = train(h, gpt2_tok());
  EXPECT_EQ(half.steps_done, 1);
  TrainConfig r = c;
  r.out = dir + "/resumed";
  r.resume = dir + "/half/checkpoint";
  const TrainResult resumed = train(r, gpt2_tok());
  EXPECT_EQ(resumed.steps_done, 6);
  EXPECT_NEAR(resumed.final_loss, full.final_loss, 1e-4f);
  // --stop-after: same schedule, stopped at step 4, then resumed to the end.
  TrainConfig st = c;
  st.out = dir + "/stopped";
  st.stop_after = 4;
  const TrainResult stopped = train(st, gpt2_tok());
  EXPECT_EQ(stopped.steps_done, 4);
  TrainConfig r2 = c;
  r2.out = dir + "/resumed2";
  r2.resume = dir + "/stopped/checkpoint";
  const TrainResult resumed2 = train(r2, gpt2_tok());
  EXPECT_EQ(resumed2.steps_done, 6);
  EXPECT_NEAR(resumed2.final_loss, full.final_loss, 1e-4f);
  EXPECT_TRUE(fs::exists(dir + "/full/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/full/vocab.json"));
  // Rows start at a document start without BOS: the saved config says so (TransformerLens's key),
  // so discover and run do not prepend one by default.
  {
    std::ifstream in(dir + "/full/config.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    ASSERT_TRUE(j.contains("default_prepend_bos"));
    EXPECT_EQ(j["default_prepend_bos"], false);
  }
  // The held-out words, for `--task induction` on the saved model: exactly the evaluation's.
  const std::vector<int> words = own_induction_words(dir + "/full", gpt2_tok());
  EXPECT_EQ(std::set<int>(words.begin(), words.end()),
            [] { auto v = lexicon_pool_split(gpt2_tok(), true); return std::set<int>(v.begin(), v.end()); }());
  fs::remove_all(dir);
}

// The printed scores say what each is: the induction score is a top-1 accuracy over the
// repeated half, not the task's "answer beats one wrong token" of discover.
TEST(Train, ScoresSayWhatTheyMeasure) {
  const std::string s = TaskScores{}.str();
  EXPECT_NE(s.find("induction top-1 acc (argmax = the repeated word, second half)"), std::string::npos) << s;
  EXPECT_NE(s.find("ioi acc (IO above every other name)"), std::string::npos) << s;
  EXPECT_NE(s.find("docstring acc (answer above the other names)"), std::string::npos) << s;
}

}  // namespace
}  // namespace cs
