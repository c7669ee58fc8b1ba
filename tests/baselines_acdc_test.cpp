// ACDC, HISP and subnetwork probing (baselines/acdc.h, hisp.h, subnetwork_probing.h):
//  - the bookkeeping of the edge graph: every receiver's clean input is the sum of its senders'
//    outputs plus biases, on every architecture the engine covers;
//  - ACDC's incremental engine against the slow reference (one hooked forward pass with ACDC's
//    receiver hooks), for the circuits it ends with, per ablation and metric;
//  - each method on a model whose circuit is known by construction.
//
// The known-circuit model is written here (tests/support/toy_circuits.h was not committed when this test
// was): the two-head induction circuit of Elhage et al. 2021 by hand, as toy_circuits.h describes
// it, but with attention that is confident and not saturated (score gaps of 6-7 rather than 40), so
// that gradients pass through the softmax and gradient methods (HISP) can see the previous-token
// head at all. Residual stream: token one-hot | position one-hot | scratch (previous token, written
// by 0.0) | output (predicted token, written by 1.1, read by W_U). Heads 0.1 and 1.0 are random.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "baselines/acdc.h"
#include "attribution/edge_patching.h"
#include "baselines/hisp.h"
#include "attribution/last_token_grad.h"
#include "baselines/subnetwork_probing.h"
#include "interp/metrics.h"
#include "interp/task_metric.h"
#include "model/init.h"
#include "model/transformer.h"
#include "ops/error.h"

using namespace cs;

namespace {

// ---- A hand-set induction model -----------------------------------------------------------

constexpr int kV = 24, kP = 32, kHalf = 8;

Model soft_induction_model(uint64_t seed, float random_scale = 0.5f) {
  const int V = kV, P = kP, H = 2, dh = std::max(V, P);
  const int64_t D = 3 * V + P, tok = 0, pos = V, scratch = V + P, out = 2 * V + P;
  Model m;
  ModelConfig& c = m.cfg;
  c.model_type = "test_induction";
  c.n_layers = 2;
  c.n_heads = c.n_kv_heads = H;
  c.d_model = static_cast<int>(D);
  c.d_head = dh;
  c.n_ctx = P;
  c.vocab_size = V;
  c.norm = Norm::RMSNorm;
  c.positions = Positions::Learned;
  c.attn_only = true;
  c.tied_embeddings = false;
  const int64_t W = c.qkv_width();
  m.w.W_E = Tensor({V, D});
  for (int t = 0; t < V; ++t) m.w.W_E.data[t * D + tok + t] = 1;
  m.w.W_pos = Tensor({P, D});
  for (int p = 0; p < P; ++p) m.w.W_pos.data[p * D + pos + p] = 1;
  for (int l = 0; l < 2; ++l) {
    LayerWeights lw;
    lw.ln1_w = Tensor({D}, 1.0f);
    lw.W_qkv = Tensor({D, W});
    lw.W_O = Tensor({int64_t{H} * dh, D});
    m.w.layers.push_back(std::move(lw));
  }
  auto qkv = [&](int l, int64_t row, int64_t col) -> float& { return m.w.layers[l].W_qkv.data[row * W + col]; };
  auto wo = [&](int l, int64_t row, int64_t col) -> float& { return m.w.layers[l].W_O.data[row * D + col]; };
  const int64_t q0 = 0, k0 = H * dh, v0 = 2 * H * dh;
  // RMSNorm scales a sum of n unit one-hots to entries sqrt(D / n); a score gap g between the
  // matching key and the rest needs gain sqrt(g sqrt(dh)) / sqrt(D / n) on q and k.
  const float in0 = std::sqrt(D / 2.0f), in1 = std::sqrt(D / 3.2f);
  const float a0 = std::sqrt(7.0f * std::sqrt(float(dh))) / in0, a1 = std::sqrt(6.0f * std::sqrt(float(dh))) / in1;
  for (int p = 0; p < P; ++p) qkv(0, pos + p, q0 + p) = a0;                  // 0.0: q = position p
  for (int j = 0; j + 1 < P; ++j) qkv(0, pos + j, k0 + j + 1) = a0;          //      k = position j+1
  for (int t = 0; t < V; ++t) {
    qkv(0, tok + t, v0 + t) = 1;                                             //      v = token
    wo(0, t, scratch + t) = 1 / in0;                                         //      -> scratch
    qkv(1, tok + t, q0 + dh + t) = a1;                                       // 1.1: q = token
    qkv(1, scratch + t, k0 + dh + t) = a1;                                   //      k = previous token
    qkv(1, tok + t, v0 + dh + t) = 1;                                        //      v = token
    wo(1, dh + t, out + t) = 1 / in1;                                        //      -> output
  }
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto randomise = [&](int l, int h) {
    const float qk = 1.7f / std::sqrt(float(D)), vs = 1 / std::sqrt(float(D));
    const float os = random_scale / std::sqrt(float(dh) * float(D));
    for (int64_t d = 0; d < D; ++d)
      for (int j = 0; j < dh; ++j) {
        qkv(l, d, q0 + h * dh + j) = qk * normal(rng);
        qkv(l, d, k0 + h * dh + j) = qk * normal(rng);
        qkv(l, d, v0 + h * dh + j) = vs * normal(rng);
      }
    for (int j = 0; j < dh; ++j)
      for (int64_t d = 0; d < D; ++d) wo(l, h * dh + j, d) = os * normal(rng);
  };
  randomise(0, 1);
  randomise(1, 0);
  m.w.lnf_w = Tensor({D}, 1.0f);
  m.w.W_U = Tensor({V, D});
  for (int t = 0; t < V; ++t) m.w.W_U.data[t * D + out + t] = 1;
  m.w.b_U = Tensor({V});
  return m;
}

// Clean x1..xn x1..xn (answer x1), corrupt = 2n distinct tokens (nothing to copy).
TokenizedTask induction_task(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TokenizedTask t;
  t.name = "test-induction";
  t.metric = MetricKind::LogitDiff;
  for (int i = 0; i < n; ++i) {
    std::vector<int> ids(kV);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<int> clean(ids.begin(), ids.begin() + kHalf);
    clean.insert(clean.end(), ids.begin(), ids.begin() + kHalf);
    t.clean.push_back(clean);
    t.answer.push_back(ids[0]);
    t.wrong.push_back({ids[kHalf]});  // a token not in the prompt
    std::shuffle(ids.begin(), ids.end(), rng);
    t.corrupt.emplace_back(ids.begin(), ids.begin() + 2 * kHalf);
    t.positions["end"].push_back(2 * kHalf - 1);
  }
  return t;
}

bool top2_are_circuit(const std::vector<double>& s) {  // heads 0.0 (index 0) and 1.1 (index 3)
  std::vector<int> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return s[a] > s[b]; });
  return std::min(idx[0], idx[1]) == 0 && std::max(idx[0], idx[1]) == 3;
}

std::string scores_str(const std::vector<double>& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += " " + std::to_string(i / 2) + "." + std::to_string(i % 2) + "=" + std::to_string(s[i]);
  return r;
}

// ---- Small random models of every architecture the engine covers ----------------------------

Model small_random(const std::string& arch, uint64_t seed, int vocab = 50) {
  ModelConfig c = preset_config("gpt2-tiny");  // 3 layers, 4 heads, d_model 64
  c.vocab_size = vocab;
  c.n_ctx = 16;
  if (arch == "attn-only") {
    c.attn_only = true;
    c.d_mlp = 0;
    c.positions = Positions::Shortformer;
    c.tied_embeddings = false;
  } else if (arch == "neox") {
    c.positions = Positions::Rotary;
    c.rotary_dim = 8;
    c.parallel_residual = true;
    c.act = Activation::GeluErf;
    c.tied_embeddings = false;
  } else if (arch == "llama" || arch == "gemma2") {
    c.norm = Norm::RMSNorm;
    c.act = arch == "llama" ? Activation::SwiGLU : Activation::GeGLU;
    c.positions = Positions::Rotary;
    c.rotary_dim = c.d_head;
    c.tied_embeddings = false;
  }
  if (arch == "gemma2") {  // norms after attention and MLP, both soft-caps, a sliding window
    c.post_norms = true;
    c.attn_softcap = 50.0f;
    c.final_softcap = 30.0f;
    c.layer_window = {4, 0, 4};
  }
  Model m = random_model(c, seed);
  // GPT-2 init is nearly silent (uniform attention, flat logits): scale it up until heads attend
  // and the metric moves, and give every bias a value so the bookkeeping of b_O is tested.
  std::mt19937_64 rng(seed + 7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto scale = [](auto& t, float k) { for (float& x : t.data) x *= k; };
  auto noise = [&](Tensor& t, float k) { for (float& x : t.data) x = k * normal(rng); };
  scale(m.w.W_E, 50);
  if (!m.w.W_pos.empty()) scale(m.w.W_pos, 25);
  for (LayerWeights& lw : m.w.layers) {
    scale(lw.W_qkv, 20);
    scale(lw.W_O, 30);
    noise(lw.b_qkv, 0.3f);
    noise(lw.b_O, 0.3f);
    if (!lw.ln1_b.empty()) noise(lw.ln1_b, 0.1f);
    if (!c.attn_only) {
      scale(lw.W_in, 20);
      scale(lw.W_out, 10);
      if (!lw.b_in.empty()) noise(lw.b_in, 0.3f);
      if (!lw.b_out.empty()) noise(lw.b_out, 0.3f);
      if (!lw.ln2_b.empty()) noise(lw.ln2_b, 0.1f);
    }
    for (Tensor* w : {&lw.ln1_post_w, &lw.ln2_post_w})
      for (float& x : w->data) x = 1.0f + 0.3f * normal(rng);
  }
  m.w.W_U = m.w.W_E;
  scale(m.w.W_U, 0.4f);
  return m;
}

TokenizedTask random_task(int n, int T, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> tok(0, vocab - 1);
  TokenizedTask t;
  t.name = "random";
  t.metric = MetricKind::LogitDiff;
  for (int i = 0; i < n; ++i) {
    std::vector<int> a(T), b(T);
    for (int j = 0; j < T; ++j) {
      a[j] = tok(rng);
      b[j] = j < T / 2 ? a[j] : tok(rng);  // corrupt: same start, different end
    }
    t.clean.push_back(a);
    t.corrupt.push_back(b);
    t.answer.push_back(tok(rng));
    t.wrong.push_back({(t.answer.back() + 1) % vocab});
    t.positions["end"].push_back(T - 1);
  }
  return t;
}

const char* kArchs[] = {"gpt2", "attn-only", "neox", "llama"};

}  // namespace

TEST(EdgeGraph, AcdcOrder) {
  const Model m = small_random("gpt2", 1);
  const Graph g(m.cfg);
  // Senders into a head input of layer 2: m1, a1.0..a1.3, m0, a0.0..a0.3, input.
  std::vector<std::string> from;
  for (int e : acdc_edge_order(g, g.head_receiver(2, 1, QKV::Q))) from.push_back(g.sender_name(g.edge_sender(e)));
  EXPECT_EQ(from, (std::vector<std::string>{"m1", "a1.h0", "a1.h1", "a1.h2", "a1.h3", "m0", "a0.h0",
                                            "a0.h1", "a0.h2", "a0.h3", "input"}));
  from.clear();  // an MLP reads its own layer's heads first
  for (int e : acdc_edge_order(g, g.mlp_receiver(1))) from.push_back(g.sender_name(g.edge_sender(e)));
  EXPECT_EQ(from.front(), "a1.h0");
  EXPECT_EQ(from.back(), "input");
  EXPECT_EQ(from.size(), 1u + 4 + 1 + 4u);
}

// The residual stream is a sum: each receiver's clean input (the forward's own hook value) equals
// the sum of its senders' cached outputs plus the attention biases before it.
TEST(EdgeGraph, ReceiverInputIsSumOfSenders) {
  for (const char* arch : kArchs) {
    SCOPED_TRACE(arch);
    const Model m = small_random(arch, 2);
    const TokenizedTask task = random_task(6, 9, m.cfg.vocab_size, 3);
    const Graph g(m.cfg);
    const Batch clean = clean_batch(task, 0, 6), corrupt = corrupt_batch(task, 0, 6);
    const EdgeActivations act = collect_edge_activations(m, g, clean, &corrupt, AblationKind::Resample);
    for (int r = 0; r < g.n_receivers(); ++r) {
      const std::vector<float> sum = sum_of_senders(m, g, act, r);
      EXPECT_LT(rel_max_error(sum.data(), act.input(residual_site(g, r)), act.BT() * act.D), 1e-5)
          << "receiver " << g.receiver_name(r);
    }
  }
}

TEST(EdgePatching, AllKeptIsCleanNoneKeptIsCorrupt) {
  for (const char* arch : kArchs) {
    SCOPED_TRACE(arch);
    const Model m = small_random(arch, 4);
    const TokenizedTask task = random_task(5, 8, m.cfg.vocab_size, 5);
    const Graph g(m.cfg);
    const Batch clean = clean_batch(task, 0, 5), corrupt = corrupt_batch(task, 0, 5);
    const EdgeActivations act = collect_edge_activations(m, g, clean, &corrupt, AblationKind::Resample);
    const Tensor all = edge_patched_logits(m, g, act, clean, std::vector<char>(g.n_edges(), 1));
    EXPECT_LT(rel_max_error(all.ptr(), act.clean_logits.ptr(), all.numel()), 1e-5);
    const Tensor all_switches = edge_patched_logits(m, g, act, clean, std::vector<char>(g.n_edges(), 1),
                                                    std::vector<char>(n_qkv_switches(g), 1));
    EXPECT_LT(rel_max_error(all_switches.ptr(), act.clean_logits.ptr(), all.numel()), 1e-5);
    const Tensor none = edge_patched_logits(m, g, act, clean, std::vector<char>(g.n_edges(), 0),
                                            std::vector<char>(n_qkv_switches(g), 0));
    const Tensor ref = forward(m, corrupt, nullptr, {LogitsAt::Last});
    EXPECT_LT(rel_max_error(none.ptr(), ref.ptr(), ref.numel()), 1e-4);
  }
}

// The engine's metric for the circuit it ends with equals the reference patched forward pass.
TEST(Acdc, EngineMatchesPatchedForward) {
  struct Case { const char* arch; AblationKind abl; bool kl; double tau; };
  const Case cases[] = {
      {"gpt2", AblationKind::Resample, true, 0.1},  {"gpt2", AblationKind::Zero, true, 0.05},
      {"gpt2", AblationKind::Mean, false, 0.05},    {"attn-only", AblationKind::Resample, true, 0.2},
      {"neox", AblationKind::Resample, true, 0.1},  {"llama", AblationKind::Resample, false, 0.05},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(std::string(cs.arch) + " " + to_string(cs.abl) + (cs.kl ? " kl" : " task"));
    const Model m = small_random(cs.arch, 6);
    const TokenizedTask task = random_task(8, 8, m.cfg.vocab_size, 7);
    MethodSettings s;
    s.n_prompts = 8;
    s.ablation = cs.abl;
    const AcdcResult r = acdc_run(m, task, s, AcdcOptions{.tau = cs.tau, .metric_kl = cs.kl});
    int kept = 0, kept_qkv = 0;
    for (char k : r.kept) kept += k;
    for (char k : r.kept_qkv) kept_qkv += k;
    // A useful check needs a circuit that is neither empty nor everything.
    EXPECT_GT(kept, 5);
    EXPECT_LT(kept, static_cast<int>(r.kept.size()) / 2);
    EXPECT_LT(kept_qkv, static_cast<int>(r.kept_qkv.size()));
    EXPECT_GT(r.evaluations, 20);
    const Graph g(m.cfg);
    const Batch clean = clean_batch(task, 0, 8), corrupt = corrupt_batch(task, 0, 8);
    const EdgeActivations act = collect_edge_activations(m, g, clean, &corrupt, cs.abl);
    const Tensor logits = edge_patched_logits(m, g, act, clean, r.kept, r.kept_qkv);
    const double ref = cs.kl ? mean(kl_div(act.clean_logits, logits)) : -mean(task_metric(task, logits));
    EXPECT_NEAR(r.final_metric, ref, 1e-4 * std::max(1.0, std::fabs(ref))) << "kept " << kept;
    EXPECT_NEAR(r.initial_metric, cs.kl ? 0.0 : -mean(task_metric(task, act.clean_logits)), 1e-4);
  }
}

// Post-norms (Gemma 2): the engine follows edge_patching.h's convention, in which the heads'
// changes reach the residual through their layer's norm, and ACDC keeps every q/k/v switch (a
// switched-off input is not removing its edges there, and the circuit is its edges: acdc.h). At
// every threshold the engine's final metric equals the patched forward pass of the kept edges,
// including circuits where a head lost every edge out (it is still recomputed and its inputs still
// measured: its output enters the norm) and where nothing is kept, under resample and zero ablation.
TEST(Acdc, PostNormEngineMatchesPatchedForwardAtEveryThreshold) {
  const Model m = small_random("gemma2", 6);
  const TokenizedTask task = random_task(8, 8, m.cfg.vocab_size, 7);
  const Graph g(m.cfg);
  const Batch clean = clean_batch(task, 0, 8), corrupt = corrupt_batch(task, 0, 8);
  int dead_heads = 0, kept_min = g.n_edges(), kept_max = 0;
  for (AblationKind abl : {AblationKind::Resample, AblationKind::Zero}) {
    const EdgeActivations act = collect_edge_activations(m, g, clean, &corrupt, abl);
    MethodSettings s;
    s.n_prompts = 8;
    s.ablation = abl;
    for (double tau : {0.02, 0.1, 0.3, 1.0, 100.0}) {
      SCOPED_TRACE(to_string(abl) + " tau " + std::to_string(tau));
      const AcdcResult r = acdc_run(m, task, s, AcdcOptions{.tau = tau, .metric_kl = true});
      EXPECT_EQ(std::count(r.kept_qkv.begin(), r.kept_qkv.end(), 0), 0) << "no switch is turned off";
      const Tensor logits = edge_patched_logits(m, g, act, clean, r.kept);
      const double ref = mean(kl_div(act.clean_logits, logits));
      EXPECT_NEAR(r.final_metric, ref, 1e-4 * std::max(1.0, std::fabs(ref)));
      const int kept = static_cast<int>(std::count(r.kept.begin(), r.kept.end(), 1));
      kept_min = std::min(kept_min, kept), kept_max = std::max(kept_max, kept);
      for (int l = 0; l < m.cfg.n_layers; ++l)
        for (int h = 0; h < m.cfg.n_heads; ++h) {
          bool out = false;
          for (int e : g.edges_out_of(g.head_sender(l, h))) out = out || r.kept[e];
          dead_heads += !out;  // still recomputed: its output enters the norm
        }
    }
  }
  EXPECT_EQ(kept_min, 0) << "the largest threshold removes everything";
  EXPECT_GT(kept_max, 5);
  EXPECT_GT(dead_heads, 0) << "no circuit had a head without edges out";
}

// The last-token passes (one unembedded row per prompt) give the logits and gradients of the
// plain path through [B,T,V] logits.
TEST(LastTokenGrad, MatchesFullLogits) {
  for (const char* arch : {"gpt2", "llama"}) {
    SCOPED_TRACE(arch);
    const Model m = small_random(arch, 8, 300);  // V 300 > D 64
    const TokenizedTask task = random_task(4, 7, 300, 9);
    const Batch b = clean_batch(task, 0, 4);
    LastTokenPass pass = forward_last_token(m, b, nullptr, {});
    const Tensor ref_logits = forward(m, b, nullptr, {LogitsAt::Last});
    EXPECT_LT(rel_max_error(pass.logits.ptr(), ref_logits.ptr(), ref_logits.numel()), 1e-5);
    Tensor dlast(pass.logits.shape);
    std::mt19937_64 rng(1);
    std::normal_distribution<float> normal;
    for (float& x : dlast.data) x = normal(rng);
    const BackwardRequest req{{{Hook::q, 0}, {Hook::v, 1}, {Hook::mlp_out, 0}, {Hook::z, 2}}};
    ActivationCache got, want;
    backward_last_token(m, pass, dlast, req, &got);
    ForwardRecord rec;
    const Tensor logits = forward_record(m, b, &rec);
    Tensor dlogits(logits.shape);
    for (int i = 0; i < b.B; ++i)
      std::copy_n(dlast.ptr() + i * 300, 300, dlogits.ptr() + (int64_t{i} * b.T + b.last(i)) * 300);
    backward(m, rec, dlogits, nullptr, req, &want);
    for (const HookPoint& p : req.points) {
      const Tensor& g = got.at(p.name());
      const Tensor& w = want.at(p.name());
      ASSERT_EQ(g.shape, w.shape) << p.name();
      EXPECT_LT(rel_max_error(g.ptr(), w.ptr(), w.numel()), 1e-4) << p.name();
    }
    ForwardRecord bad;
    EXPECT_THROW(forward_record(m, b, &bad, nullptr, {}, {0, 0}), cs::Error);  // a row twice
    EXPECT_THROW(forward_record(m, b, &bad, nullptr, {}, {int64_t{b.B} * b.T}), cs::Error);
  }
}

// ---- The known circuit ------------------------------------------------------------------------

TEST(KnownCircuit, ModelSolvesInductionThroughItsCircuit) {
  const Model m = soft_induction_model(1);
  const TokenizedTask task = induction_task(100, 2);
  const Tensor logits = forward(m, clean_batch(task, 0, 100), nullptr, {LogitsAt::Last});
  EXPECT_GT(mean(accuracy(logits, task.answer, {})), 0.95);
  EXPECT_GT(mean(task_metric(task, logits)), 2.0);
  // Ablating either circuit head breaks it; ablating a random head does not.
  const Batch cor = corrupt_batch(task, 0, 100);
  const AblationSource src = make_ablation_source(m, AblationKind::Resample, &cor);
  const Batch clean = clean_batch(task, 0, 100);
  for (auto [l, h, broken] : {std::tuple{0, 0, true}, {1, 1, true}, {0, 1, false}, {1, 0, false}}) {
    const double ld = mean(task_metric(task, run_with_heads_ablated(m, clean, src, HeadSet{{{l, h}}})));
    if (broken) EXPECT_LT(ld, 1.0) << l << "." << h;
    else EXPECT_GT(ld, 2.0) << l << "." << h;
  }
}

TEST(KnownCircuit, AcdcKeepsTheInductionEdges) {
  const Model m = soft_induction_model(1);
  const TokenizedTask task = induction_task(100, 2);
  const MethodResult r = acdc(m, task, MethodSettings{}, AcdcOptions{.tau = 0.01});
  const Graph g(m.cfg);
  auto kept = [&](const std::string& edge) {
    const int e = g.find(parse_edge(edge));
    return e >= 0 && r.edge_scores[e] >= 0.01;
  };
  EXPECT_TRUE(kept("a0.h0->a1.h1<k>"));
  EXPECT_TRUE(kept("a1.h1->logits"));
  EXPECT_TRUE(kept("input->a1.h1<v>"));  // the copied token
  EXPECT_TRUE(top2_are_circuit(r.head_scores)) << scores_str(r.head_scores);
  EXPECT_LT(r.stats.at("edges_kept"), 20);
  EXPECT_LT(r.stats.at("final_metric"), 0.2);  // the circuit alone behaves like the model
}

// The tau sweep (the paper's ROC): scores are the largest threshold that keeps a head, so the
// circuit heads, kept up to high thresholds, come first; each run's circuit is a threshold cut.
TEST(KnownCircuit, AcdcTauSweepScoresAreTheLargestKeepingThreshold) {
  const Model m = soft_induction_model(1);
  const TokenizedTask task = induction_task(100, 2);
  const MethodResult r = acdc(m, task, MethodSettings{}, AcdcOptions{.tau_sweep = 4, .tau_min = 1e-3, .tau_max = 1.0});
  EXPECT_TRUE(top2_are_circuit(r.head_scores)) << scores_str(r.head_scores);
  EXPECT_EQ(r.stats.at("tau_sweep"), 4);
  const std::vector<double> taus = {1e-3, 1e-2, 1e-1, 1.0};
  for (double x : r.head_scores) {
    bool on_grid = x == 0.0;
    for (double t : taus) on_grid |= std::fabs(x - t) < 1e-9;
    EXPECT_TRUE(on_grid) << x;
  }
  // At tau = 0.01 the sweep's cut is the single run's circuit.
  const MethodResult single = acdc(m, task, MethodSettings{}, AcdcOptions{.tau = 0.01});
  const Graph g(m.cfg);
  ASSERT_EQ(r.edge_scores.size(), static_cast<size_t>(g.n_edges()));
  for (int e = 0; e < g.n_edges(); ++e)
    EXPECT_EQ(r.edge_scores[e] >= 0.01 - 1e-9, single.edge_scores[e] >= 0.01) << g.edge_name(e);
}

TEST(KnownCircuit, HispRanksTheCircuitHeadsFirst) {
  const Model m = soft_induction_model(1);
  const TokenizedTask task = induction_task(100, 2);
  const MethodResult r = hisp(m, task, MethodSettings{});
  EXPECT_TRUE(top2_are_circuit(r.head_scores)) << scores_str(r.head_scores);
  const MethodResult rz = hisp(m, task, MethodSettings{}, HispOptions{.qkv = false});  // one mask per head on hook_z
  EXPECT_TRUE(top2_are_circuit(rz.head_scores)) << scores_str(rz.head_scores);
}

TEST(KnownCircuit, SubnetworkProbingRanksTheCircuitHeadsFirst) {
  const Model m = soft_induction_model(1);
  const TokenizedTask task = induction_task(100, 2);
  MethodSettings s;
  s.seed = 3;
  const MethodResult r = subnetwork_probing(m, task, s);
  EXPECT_TRUE(top2_are_circuit(r.head_scores)) << scores_str(r.head_scores);
  EXPECT_LT(r.stats.at("expected_l0"), 0.9);  // the regulariser pruned something
}

TEST(KnownCircuit, SubnetworkProbingIsDeterministic) {
  const Model m = soft_induction_model(1);
  const TokenizedTask task = induction_task(20, 2);
  MethodSettings s;
  s.n_prompts = 20;
  s.seed = 5;
  const SpOptions o{.steps = 3};
  const std::vector<double> first = subnetwork_probing(m, task, s, o).head_scores;
  EXPECT_EQ(first, subnetwork_probing(m, task, s, o).head_scores);
  s.seed = 6;
  EXPECT_NE(first, subnetwork_probing(m, task, s, o).head_scores);
}

// The three methods on three more models (model seeds 2-4, their own prompts): the circuit heads
// are the top two every time, so the checks above (model seed 1) do not rest on one lucky seed.
TEST(KnownCircuit, EveryMethodFindsTheCircuitOnThreeMoreModelSeeds) {
  for (uint64_t seed = 2; seed <= 4; ++seed) {
    SCOPED_TRACE("model seed " + std::to_string(seed));
    const Model m = soft_induction_model(seed);
    const TokenizedTask task = induction_task(100, seed + 10);
    MethodSettings s;
    s.seed = seed;
    const MethodResult a = acdc(m, task, s), h = hisp(m, task, s), sp = subnetwork_probing(m, task, s);
    EXPECT_TRUE(top2_are_circuit(a.head_scores)) << "acdc " << scores_str(a.head_scores);
    EXPECT_TRUE(top2_are_circuit(h.head_scores)) << "hisp " << scores_str(h.head_scores);
    EXPECT_TRUE(top2_are_circuit(sp.head_scores)) << "sp " << scores_str(sp.head_scores);
  }
}
