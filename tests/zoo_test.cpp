// The shipped zoo model: it loads, its held-out task scores are the ones its model card states,
// and each shipped reference circuit reproduces: with every other head resample-ablated it keeps
// >= 90% of the full model's metric on the prompts it was found with.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "evaluation/ground_truth.h"
#include "interp/faithfulness.h"
#include "interp/task_metric.h"
#include "model/tokenizer.h"
#include "train/trainer.h"

using namespace cs;
namespace fs = std::filesystem;

namespace {
const fs::path kZoo = fs::path(CS_SOURCE_DIR) / "models" / "toy-gpt2-4l";
}

TEST(Zoo, HeldOutScoresMatchTheModelCard) {
  ASSERT_TRUE(fs::is_regular_file(kZoo / "config.json")) << "the shipped model is missing: " << kZoo;
  std::ifstream in(kZoo / "scores.json");
  ASSERT_TRUE(in) << "the model card's scores.json is missing";
  nlohmann::json card = nlohmann::json::parse(in);
  Model m = load_model(kZoo.string());
  Tokenizer tok = Tokenizer::for_model_dir(kZoo.string());
  TaskScores s = evaluate_heldout(m, tok, card["n"].get<int>(), card["seed"].get<uint64_t>());
  EXPECT_NEAR(s.ioi_acc, card["ioi_acc"].get<double>(), 1e-9);
  // Means of float32 forward passes: equal to float rounding (relative 1e-5), not to the bit,
  // across kernel changes (vectorised reductions, libmvec's expf).
  EXPECT_NEAR(s.ioi_logit_diff, card["ioi_logit_diff"].get<double>(), 1e-5 * card["ioi_logit_diff"].get<double>());
  EXPECT_NEAR(s.gt_prob_diff, card["gt_prob_diff"].get<double>(), 1e-5);
  EXPECT_NEAR(s.docstring_acc, card["docstring_acc"].get<double>(), 1e-9);
  EXPECT_NEAR(s.induction_acc, card["induction_acc"].get<double>(), 1e-9);
  // The targets, which the model card claims as met.
  EXPECT_GE(s.induction_acc, 0.9);
  EXPECT_GE(s.ioi_acc, 0.95);
  EXPECT_GE(s.gt_prob_diff, 0.6);
  EXPECT_GE(s.docstring_acc, 0.8);
}

TEST(Zoo, ReferenceCircuitsReproduce) {
  ASSERT_TRUE(fs::is_regular_file(kZoo / "config.json")) << "the shipped model is missing: " << kZoo;
  Model m = load_model(kZoo.string());
  Tokenizer tok = Tokenizer::for_model_dir(kZoo.string());
  int checked = 0;
  for (const char* name : {"ioi", "greater-than", "docstring", "induction"}) {
    fs::path f = kZoo / "circuits" / (std::string(name) + ".json");
    // The model card promises all four: a missing one fails, it is not skipped.
    ASSERT_TRUE(fs::is_regular_file(f)) << "shipped reference circuit missing: " << f;
    GroundTruth g = load_ground_truth(f.string());
    // The prompts the reference-circuit command used (its defaults, recorded in the source).
    ASSERT_NE(g.source.find("reference-circuit"), std::string::npos);
    TaskOptions to;
    to.n = 1000;
    to.seed = 12345;
    // The model's own induction words, as reference-circuit reads them by default.
    if (std::string(name) == "induction") to.induction_pool = own_induction_words(kZoo.string(), tok);
    TokenizedTask task = make_task(name, tok, to);
    FaithfulnessOptions fo;
    fo.ablation = AblationKind::Resample;
    fo.n_prompts = 1000;
    AblationSource src = task_ablation_source(m, task, fo);
    HeadSet keep;
    for (const HeadId& h : g.heads) keep.heads.push_back({h.layer, h.head});
    const double full = model_metric(m, task, 1000);
    const double kept = circuit_metric(m, task, keep, src, 1000);
    EXPECT_GE(kept, 0.9 * full) << name << ": circuit of " << g.heads.size() << " heads";
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}
