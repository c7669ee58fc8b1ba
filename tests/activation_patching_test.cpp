// Activation patching (baselines/activation_patching.h) starts each trial from the clean run's
// residual stream entering the ablated node's layer. Checked against the naive reference below,
// which runs the whole forward from the embedding with the node ablated (run_with_nodes_ablated),
// for every head and MLP of every layer, on GPT-2, Llama (grouped-query), NeoX (parallel
// residual) and attention-only shapes, with the three ablations and with prompts in several
// chunks of different lengths. Same arithmetic, same order: the deltas must be equal bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "baselines/activation_patching.h"
#include "interp/ablation.h"
#include "interp/task.h"
#include "interp/task_metric.h"
#include "model/init.h"
#include "model/transformer.h"
#include "support/small_models.h"

using namespace cs;

namespace {

// A preset's architecture at test size. init_std 0.3 (not GPT-2's 0.02) so that ablating a node
// moves the metric well above float noise.
Model small_model(const std::string& preset, int kv_heads, uint64_t seed) {
  return random_model(small_preset(preset, 4, kv_heads), seed, 0.3f);
}

// Prompts of 7 to 10 tokens (padding inside every batch), clean and corrupt of equal length.
TokenizedTask ragged_task(int n, int V) {
  TokenizedTask t = random_token_task(n, 10, V, 3, 17);
  for (int i = 0; i < n; ++i) {
    t.clean[i].resize(10 - i % 4);
    t.corrupt[i].resize(10 - i % 4);
  }
  return t;
}

double metric_sum(const TokenizedTask& task, const Tensor& logits, size_t first) {
  double sum = 0;
  for (double v : task_metric(task, logits, first)) sum += v;
  return sum;
}

// The naive reference: for each chunk of `batch` prompts, the clean metric sum, and for every
// node the whole forward with that node ablated; deltas summed over chunks, divided by n.
NodePatching naive_patching(const Model& m, const TokenizedTask& task, AblationKind kind, size_t n,
                            size_t batch) {
  const ModelConfig& c = m.cfg;
  NodePatching r;
  r.head_delta.assign(static_cast<size_t>(c.n_layers) * c.n_heads, 0.0);
  if (!c.attn_only) r.mlp_delta.assign(c.n_layers, 0.0);
  const Batch all_corrupt = corrupt_batch(task, 0, n);
  const AblationSource mean_src = make_ablation_source(m, kind == AblationKind::Mean ? kind : AblationKind::Zero,
                                                       &all_corrupt);
  double clean_sum = 0;
  for (size_t first = 0; first < n; first += batch) {
    const size_t nb = std::min(batch, n - first);
    const Batch clean = clean_batch(task, first, nb), corrupt = corrupt_batch(task, first, nb);
    const AblationSource src = kind == AblationKind::Resample ? make_ablation_source(m, kind, &corrupt) : mean_src;
    const double base = metric_sum(task, forward(m, clean, nullptr, {LogitsAt::Last}), first);
    clean_sum += base;
    for (int l = 0; l < c.n_layers; ++l) {
      for (int h = 0; h < c.n_heads; ++h)
        r.head_delta[static_cast<size_t>(l) * c.n_heads + h] +=
            metric_sum(task, run_with_nodes_ablated(m, clean, src, NodeSet{{{l, h}}, {}}), first) - base;
      if (!c.attn_only)
        r.mlp_delta[l] += metric_sum(task, run_with_nodes_ablated(m, clean, src, NodeSet{{}, {l}}), first) - base;
    }
  }
  const double inv = 1.0 / static_cast<double>(n);
  for (double& d : r.head_delta) d *= inv;
  for (double& d : r.mlp_delta) d *= inv;
  r.clean_metric = clean_sum * inv;
  return r;
}

struct Shape {
  const char* preset;
  int kv_heads;
};

}  // namespace

TEST(ActivationPatching, StartingFromTheCleanResidualEqualsWholeForwards) {
  const int n = 7;
  for (const Shape& sh : {Shape{"gpt2-small", 4}, Shape{"llama-1b", 2}, Shape{"pythia-160m", 4},
                          Shape{"attn-only-4l", 4}}) {
    const Model m = small_model(sh.preset, sh.kv_heads, 3);
    const TokenizedTask task = ragged_task(n, m.cfg.vocab_size);
    for (AblationKind kind : {AblationKind::Resample, AblationKind::Mean, AblationKind::Zero}) {
      for (int batch : {0, 3}) {
        const std::string what = std::string(sh.preset) + ", " + to_string(kind) + ", batch " + std::to_string(batch);
        MethodSettings s;
        s.n_prompts = n;
        s.ablation = kind;
        const NodePatching fast = node_patching(m, task, s, PatchingOptions{.batch = batch});
        const NodePatching naive = naive_patching(m, task, kind, n, batch > 0 ? batch : n);
        ASSERT_EQ(fast.head_delta.size(), naive.head_delta.size()) << what;
        ASSERT_EQ(fast.mlp_delta.size(), naive.mlp_delta.size()) << what;
        double big = 0;
        for (size_t i = 0; i < naive.head_delta.size(); ++i) {
          EXPECT_EQ(fast.head_delta[i], naive.head_delta[i]) << what << ", head " << i / 4 << "." << i % 4;
          big = std::max(big, std::fabs(naive.head_delta[i]));
        }
        for (size_t l = 0; l < naive.mlp_delta.size(); ++l)
          EXPECT_EQ(fast.mlp_delta[l], naive.mlp_delta[l]) << what << ", MLP " << l;
        EXPECT_EQ(fast.clean_metric, naive.clean_metric) << what;
        EXPECT_GT(big, 1e-3) << what << ": ablating a head should move the metric";
        // The path kept as the benchmark's peer gives the same numbers.
        const NodePatching whole = node_patching(m, task, s, PatchingOptions{.batch = batch, .reuse_clean_residual = false});
        EXPECT_EQ(whole.head_delta, naive.head_delta) << what;
        EXPECT_EQ(whole.mlp_delta, naive.mlp_delta) << what;
      }
    }
  }
}

// The cost: a trial of layer l runs L - l layers; with the source and clean passes, per chunk of
// prompts L (source, Resample) + L (clean) + sum_l (L - l) (H + 1) layers for a model with MLPs.
TEST(ActivationPatching, TrialsRunOnlyTheLayersFromTheAblatedNode) {
  const Model m = small_model("gpt2-small", 4, 3);
  const TokenizedTask task = ragged_task(6, m.cfg.vocab_size);
  MethodSettings s;
  s.n_prompts = 6;
  const int L = 4, H = 4;
  const NodePatching fast = node_patching(m, task, s, PatchingOptions{.batch = 3});
  const NodePatching whole = node_patching(m, task, s, PatchingOptions{.batch = 3, .reuse_clean_residual = false});
  EXPECT_EQ(fast.forward_passes, 2 * (2 + L * (H + 1)));
  EXPECT_EQ(whole.forward_passes, fast.forward_passes);
  EXPECT_EQ(whole.layer_passes, 2 * L * (2 + L * (H + 1)));
  EXPECT_EQ(fast.layer_passes, 2 * (2 * L + (4 + 3 + 2 + 1) * (H + 1)));
}
