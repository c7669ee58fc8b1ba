// Trainer: the loss of a tiny model falls on a fixed corpus, deterministically per seed; the
// schedule's shape; checkpoints resume.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "model/init.h"
#include "train/corpus.h"
#include "train/trainer.h"

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
  c.neg_samples = 64;
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

TEST(Train, WarmupThenCosine) {
  TrainConfig c;
  c.steps = 100, c.warmup = 10, c.lr = 1.0f, c.min_lr_frac = 0.1f;
  EXPECT_FLOAT_EQ(lr_at(c, 0), 0.1f);
  EXPECT_FLOAT_EQ(lr_at(c, 9), 1.0f);
  EXPECT_NEAR(lr_at(c, 55), 0.55f, 1e-4);
  EXPECT_NEAR(lr_at(c, 100), 0.1f, 1e-6);
  for (int s = 10; s < 100; ++s) EXPECT_LE(lr_at(c, s + 1), lr_at(c, s));
}

TEST(Train, CheckpointResumesToTheSameModel) {
  namespace fs = std::filesystem;
  const std::string dir = (fs::temp_directory_path() / "cs_train_test").string();
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
  EXPECT_TRUE(fs::exists(dir + "/full/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/full/vocab.json"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cs
