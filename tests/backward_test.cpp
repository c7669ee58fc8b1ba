// The backward pass: golden gradients vs Hugging Face (PyTorch autograd in float64), and central
// finite differences of the real (float) forward on tiny random models of every architecture
// variant, for parameters and for hook points (with and without patching hooks).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "golden_fixture.h"
#include "model/backward.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "ops/error.h"

using namespace cs;

namespace {

// ---- golden: Hugging Face checkpoints with reference.safetensors --------------------------------

struct Golden : GoldenFixture {
  using GoldenFixture::GoldenFixture;
  // metric = sum_b logits[b,-1,tok0] - logits[b,-1,tok1]; returns it and fills dmetric/dlogits.
  float metric(const Tensor& logits, Tensor* dlogits) const {
    const std::vector<int64_t> mt = ref.read_i64("metric_tokens");
    const int64_t T = batch.T, V = logits.dim(2);
    *dlogits = Tensor(logits.shape);
    double s = 0;
    for (int64_t b = 0; b < batch.B; ++b) {
      const int64_t row = (b * T + T - 1) * V;
      s += static_cast<double>(logits.data[row + mt[2 * b]]) - logits.data[row + mt[2 * b + 1]];
      dlogits->data[row + mt[2 * b]] += 1.0f;
      dlogits->data[row + mt[2 * b + 1]] -= 1.0f;
    }
    return static_cast<float>(s);
  }
};

template <class T>
double max_abs(const T& t) {
  double m = 0;
  for (float x : t.data) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}


// Runs the golden comparison: metric, grad_z.l for every layer, and grad.<name> for `params`.
using TopParam = std::function<Tensor(const Weights&)>;
using LayerParam = std::function<Tensor(const LayerWeights&)>;
void golden_check(const std::string& dir, const std::vector<std::pair<std::string, TopParam>>& top,
                  const std::vector<std::tuple<std::string, int, LayerParam>>& layer,
                  double logits_tol = 1e-4) {
  // A fixture that does not load fails the test: the fixtures are shipped with the repository.
  std::unique_ptr<Golden> g;
  try {
    g = std::make_unique<Golden>(dir);
  } catch (const Error& e) {
    FAIL() << "cannot load the shipped fixture " << dir << ": " << e.what();
  }
  const Model& m = g->model;
  ForwardRecord rec;
  Tensor logits = forward_record(m, g->batch, &rec);
  const Tensor ref_logits = g->ref.read_f32("logits");
  expect_close(logits, ref_logits, "logits", logits_tol);
  Tensor dlogits;
  const float metric = g->metric(logits, &dlogits);
  EXPECT_NEAR(metric, g->ref.read_f32("metric").data[0], logits_tol * max_abs(ref_logits));

  BackwardRequest req;
  for (int l = 0; l < m.cfg.n_layers; ++l) req.points.push_back({Hook::z, l});
  ActivationCache hg;
  Gradients grads;
  backward(m, rec, dlogits, &grads, req, &hg);
  for (int l = 0; l < m.cfg.n_layers; ++l)
    expect_close(hg.at("blocks." + std::to_string(l) + ".attn.hook_z"),
                 g->ref.read_f32("grad_z." + std::to_string(l)), "grad_z." + std::to_string(l), 1e-3);
  for (const auto& [name, field] : top)
    expect_close(field(grads.w), g->ref.read_f32("grad." + name), "grad." + name, 1e-3);
  for (const auto& [name, l, field] : layer)
    expect_close(field(grads.w.layers[l]), g->ref.read_f32("grad." + name), "grad." + name, 1e-3);
}

// ---- tiny random models -----------------------------------------------------------------------

enum class Variant { Gpt2, AttnOnly, AttnOnlyShortformer, NeoX, Llama, Gemma, Gemma2 };

Model tiny_model(Variant v, uint32_t seed = 1) {
  ModelConfig c;
  c.model_type = "test";
  c.n_layers = 2;
  c.n_heads = 2;
  c.n_kv_heads = 2;
  c.d_model = 16;
  c.d_head = 8;
  c.d_mlp = 32;
  c.n_ctx = 8;
  c.vocab_size = 23;
  switch (v) {
    case Variant::Gpt2: break;
    case Variant::AttnOnly:
      c.attn_only = true;
      c.d_mlp = 0;
      break;
    case Variant::AttnOnlyShortformer:
      c.attn_only = true;
      c.d_mlp = 0;
      c.positions = Positions::Shortformer;
      break;
    case Variant::NeoX:
      c.positions = Positions::Rotary;
      c.rotary_dim = 4;
      c.parallel_residual = true;
      c.act = Activation::GeluErf;
      c.tied_embeddings = false;
      break;
    case Variant::Llama:
    case Variant::Gemma:   // GeGLU and multi-query attention
    case Variant::Gemma2:  // and norms after attention and MLP
      c.n_heads = 4;
      c.n_kv_heads = v == Variant::Llama ? 2 : 1;
      c.d_head = 4;
      c.norm = Norm::RMSNorm;
      c.act = v == Variant::Llama ? Activation::SwiGLU : Activation::GeGLU;
      c.post_norms = v == Variant::Gemma2;
      c.positions = Positions::Rotary;
      c.rotary_dim = 4;
      c.tied_embeddings = false;
      break;
  }
  const bool bias = c.norm == Norm::LayerNorm, ln_bias = c.norm == Norm::LayerNorm;
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto rnd = [&](std::vector<int64_t> shape, float scale, float shift = 0.0f) {
    Tensor t(std::move(shape));
    for (float& x : t.data) x = shift + scale * nd(gen);
    return t;
  };
  const int64_t D = c.d_model, F = c.d_mlp, V = c.vocab_size, W = c.qkv_width();
  const float s = 1.0f / std::sqrt(static_cast<float>(D));
  Model m;
  m.cfg = c;
  m.w.W_E = rnd({V, D}, 1.0f);
  if (c.positions != Positions::Rotary) m.w.W_pos = rnd({c.n_ctx, D}, 0.5f);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.ln1_w = rnd({D}, 0.2f, 1.0f);
    if (ln_bias) lw.ln1_b = rnd({D}, 0.2f);
    lw.W_qkv = rnd({D, W}, 1.5f * s);
    if (bias) lw.b_qkv = rnd({W}, 0.2f);
    lw.W_O = rnd({c.n_heads * c.d_head, D}, s);
    if (bias) lw.b_O = rnd({D}, 0.2f);
    if (!c.attn_only) {
      lw.ln2_w = rnd({D}, 0.2f, 1.0f);
      if (ln_bias) lw.ln2_b = rnd({D}, 0.2f);
      lw.W_in = rnd({D, F}, s);
      if (bias) lw.b_in = rnd({F}, 0.2f);
      if (gated(c.act)) lw.W_gate = rnd({D, F}, s);
      lw.W_out = rnd({F, D}, 1.0f / std::sqrt(static_cast<float>(F)));
      if (bias) lw.b_out = rnd({D}, 0.2f);
    }
    if (c.post_norms) {
      lw.ln1_post_w = rnd({D}, 0.2f, 1.0f);
      lw.ln2_post_w = rnd({D}, 0.2f, 1.0f);
    }
    m.w.layers.push_back(std::move(lw));
  }
  m.w.lnf_w = rnd({D}, 0.2f, 1.0f);
  if (ln_bias) m.w.lnf_b = rnd({D}, 0.2f);
  m.w.W_U = c.tied_embeddings ? m.w.W_E : rnd({V, D}, 1.0f);
  m.w.b_U = rnd({V}, 0.2f);
  return m;
}

const char* variant_name(Variant v) {
  switch (v) {
    case Variant::Gpt2: return "gpt2";
    case Variant::AttnOnly: return "attn-only";
    case Variant::AttnOnlyShortformer: return "attn-only-shortformer";
    case Variant::NeoX: return "neox";
    case Variant::Llama: return "llama";
    case Variant::Gemma: return "gemma";
    case Variant::Gemma2: return "gemma2";
  }
  return "?";
}

Batch tiny_batch(int V) {
  return Batch::from_sequences({{1, 5, 7, 2, 9, 5}, {3, 3, 11, 0, V - 1, 4}});
}

// The f32 elements of one parameter, a Tensor (norms, biases) or an f32 Weight (matrices).
struct ParamRef {
  std::vector<int64_t>& shape;
  std::vector<float, DefaultInitAllocator<float>>& data;
  bool empty() const { return data.empty(); }
  int64_t numel() const { return static_cast<int64_t>(data.size()); }
};

std::vector<std::pair<std::string, ParamRef>> named_params(Weights& w) {
  std::vector<std::pair<std::string, ParamRef>> r;
  auto add = [&r](const std::string& n, auto& t) { r.push_back({n, ParamRef{t.shape, t.data}}); };
  add("W_E", w.W_E), add("W_pos", w.W_pos), add("lnf_w", w.lnf_w), add("lnf_b", w.lnf_b);
  add("W_U", w.W_U), add("b_U", w.b_U);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    LayerWeights& x = w.layers[l];
    const std::string p = std::to_string(l) + ".";
    add(p + "ln1_w", x.ln1_w), add(p + "ln1_b", x.ln1_b), add(p + "W_qkv", x.W_qkv);
    add(p + "b_qkv", x.b_qkv), add(p + "W_O", x.W_O), add(p + "b_O", x.b_O);
    add(p + "ln2_w", x.ln2_w), add(p + "ln2_b", x.ln2_b), add(p + "W_in", x.W_in);
    add(p + "b_in", x.b_in), add(p + "W_gate", x.W_gate), add(p + "W_out", x.W_out);
    add(p + "b_out", x.b_out), add(p + "ln1_post_w", x.ln1_post_w), add(p + "ln2_post_w", x.ln2_post_w);
  }
  return r;
}

// sum(G * logits) in double, from the float forward.
double linear_loss(const Model& m, const Batch& b, const Tensor& G, const Hooks* hooks = nullptr) {
  Tensor logits = forward(m, b, hooks);
  double s = 0;
  for (int64_t i = 0; i < logits.numel(); ++i) s += static_cast<double>(G.data[i]) * logits.data[i];
  return s;
}

Tensor random_tensor(std::vector<int64_t> shape, uint32_t seed) {
  Tensor t(std::move(shape));
  std::mt19937 gen(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& x : t.data) x = nd(gen);
  return t;
}

constexpr double kEps = 1e-2;  // central differences of the float forward
// |numeric - analytic| <= kTol * max|analytic over the tensor| (+ a floor for the float noise).
constexpr double kTol = 1e-2;

// Coordinates to probe in a tensor: the largest-gradient one and a few random ones.
template <class T>
std::vector<int64_t> probe_coords(const T& grad, uint32_t seed, int n_random = 4) {
  std::vector<int64_t> idx;
  int64_t best = 0;
  for (int64_t i = 1; i < grad.numel(); ++i)
    if (std::fabs(grad.data[i]) > std::fabs(grad.data[best])) best = i;
  idx.push_back(best);
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> u(0, grad.numel() - 1);
  for (int k = 0; k < n_random; ++k) {
    int64_t i = u(gen);
    for (int tries = 0; tries < 20 && grad.data[i] == 0.0f; ++tries) i = u(gen);  // prefer live ones
    idx.push_back(i);
  }
  return idx;
}


void check_param_grads(Variant v) {
  Model m = tiny_model(v);
  const Batch batch = tiny_batch(m.cfg.vocab_size);
  const Tensor G = random_tensor({batch.B, batch.T, m.cfg.vocab_size}, 7);
  ForwardRecord rec;
  Tensor logits = forward_record(m, batch, &rec);
  Tensor ref = forward(m, batch);
  ASSERT_EQ(logits.data, ref.data) << "forward_record must return forward's logits";
  Gradients grads;
  backward(m, rec, G, &grads);

  auto params = named_params(m.w);
  auto gparams = named_params(grads.w);
  uint32_t seed = 100;
  for (size_t p = 0; p < params.size(); ++p) {
    ParamRef& w = params[p].second;
    const ParamRef& g = gparams[p].second;
    ASSERT_EQ(w.shape, g.shape) << params[p].first;
    if (w.empty()) continue;
    const double scale = max_abs(g);
    EXPECT_GT(scale, 0.0) << variant_name(v) << " " << params[p].first << ": all-zero gradient";
    for (int64_t i : probe_coords(g, ++seed)) {
      const float w0 = w.data[i];
      w.data[i] = w0 + static_cast<float>(kEps);
      const double lp = linear_loss(m, batch, G);
      w.data[i] = w0 - static_cast<float>(kEps);
      const double lm = linear_loss(m, batch, G);
      w.data[i] = w0;
      const double num = (lp - lm) / (2 * kEps);
      EXPECT_NEAR(g.data[i], num, kTol * scale + 1e-3)
          << variant_name(v) << " " << params[p].first << "[" << i << "]";
    }
  }
}

// Every hook point the architecture passes through.
std::vector<HookPoint> all_points(const ModelConfig& c) {
  std::vector<HookPoint> r = {{Hook::embed, -1}, {Hook::ln_final_normalized, -1}};
  if (c.positions != Positions::Rotary) r.push_back({Hook::pos_embed, -1});
  for (int l = 0; l < c.n_layers; ++l) {
    for (Hook h : {Hook::resid_pre, Hook::ln1_normalized, Hook::q_input, Hook::k_input,
                   Hook::v_input, Hook::q, Hook::k, Hook::v, Hook::attn_scores, Hook::pattern,
                   Hook::z, Hook::result, Hook::attn_out, Hook::resid_post})
      r.push_back({h, l});
    if (c.post_norms) r.push_back({Hook::ln1_post_normalized, l});
    if (c.attn_only) continue;
    if (!c.parallel_residual) r.push_back({Hook::resid_mid, l});
    for (Hook h : {Hook::mlp_in, Hook::ln2_normalized, Hook::mlp_pre, Hook::mlp_post, Hook::mlp_out})
      r.push_back({h, l});
    if (c.post_norms) r.push_back({Hook::ln2_post_normalized, l});
  }
  return r;
}

// d loss / d activation at each point, against central differences taken by a hook that nudges
// one coordinate (after any hooks in `base`, which stay active in both passes).
void check_hook_grads(const Model& m, const std::vector<HookPoint>& points, const Hooks& base,
                      const std::string& what) {
  const Batch batch = tiny_batch(m.cfg.vocab_size);
  const Tensor G = random_tensor({batch.B, batch.T, m.cfg.vocab_size}, 8);
  ForwardRecord rec;
  forward_record(m, batch, &rec, &base);
  ActivationCache hg;
  backward(m, rec, G, nullptr, {points}, &hg);
  uint32_t seed = 200;
  for (const HookPoint& p : points) {
    ASSERT_TRUE(hg.count(p.name())) << what << ": no gradient for " << p.name();
    const Tensor& g = hg.at(p.name());
    const double scale = max_abs(g);
    EXPECT_GT(scale, 0.0) << what << " " << p.name();
    for (int64_t i : probe_coords(g, ++seed, 3)) {
      auto loss_at = [&](float delta) {
        Hooks h = base;
        h.add(p, [i, delta](const HookPoint&, Tensor& t) { t.data[i] += delta; });
        return linear_loss(m, batch, G, &h);
      };
      const double num = (loss_at(kEps) - loss_at(-kEps)) / (2 * kEps);
      EXPECT_NEAR(g.data[i], num, kTol * scale + 1e-3) << what << " " << p.name() << "[" << i << "]";
    }
  }
}

}  // namespace

// ---- golden ---------------------------------------------------------------------------------------

TEST(BackwardGolden, Gpt2MetricGradients) {
  golden_check(std::string(CS_TEST_DATA) + "/gpt2-tiny",
               {{"transformer.ln_f.weight", [](const Weights& w) { return w.lnf_w; }},
                {"transformer.wpe.weight", [](const Weights& w) { return w.W_pos.to_tensor(); }}},
               {{"transformer.h.0.attn.c_attn.weight", 0, [](const LayerWeights& w) { return w.W_qkv.to_tensor(); }},
                {"transformer.h.2.mlp.c_fc.weight", 2, [](const LayerWeights& w) { return w.W_in.to_tensor(); }}});
}

TEST(BackwardGolden, NeoXMetricGradients) {
  golden_check(std::string(CS_TEST_DATA) + "/neox-tiny",
               {{"gpt_neox.final_layer_norm.weight", [](const Weights& w) { return w.lnf_w; }}}, {});
}

TEST(BackwardGolden, LlamaMetricGradients) {
  // The reference rounded RoPE's frequencies to bf16 (see llama_golden_test.cpp); our exact float32
  // frequencies move the logits by ~5e-4 of their range, well inside the gradients' 1e-3.
  golden_check(std::string(CS_TEST_DATA) + "/llama-tiny", {{"model.norm.weight", [](const Weights& w) { return w.lnf_w; }}}, {},
               1e-3);
}

TEST(BackwardGolden, GemmaMetricGradients) {
  // HF stores the final norm as w and applies 1 + w; we store 1 + w: the gradient is the same.
  golden_check(std::string(CS_TEST_DATA) + "/gemma-tiny", {{"model.norm.weight", [](const Weights& w) { return w.lnf_w; }}}, {});
}

// ---- finite differences -----------------------------------------------------------------------

class BackwardFD : public ::testing::TestWithParam<Variant> {};

TEST_P(BackwardFD, ParameterGradients) { check_param_grads(GetParam()); }

TEST_P(BackwardFD, HookPointGradients) {
  const Model m = tiny_model(GetParam());
  check_hook_grads(m, all_points(m.cfg), Hooks(), variant_name(GetParam()));
}

// A hook on one split input makes the forward split q/k/v for that layer; the record then holds the
// per-head inputs and the backward must follow them.
TEST_P(BackwardFD, HookPointGradientsOnSplitForward) {
  const Model m = tiny_model(GetParam());
  Hooks base;
  base.add({Hook::k_input, 1}, [](const HookPoint&, Tensor&) {});
  std::vector<HookPoint> points = all_points(m.cfg);  // a split layer has no ln1.hook_normalized
  std::erase(points, HookPoint{Hook::ln1_normalized, 1});
  check_hook_grads(m, points, base, std::string(variant_name(GetParam())) + " split");
}

INSTANTIATE_TEST_SUITE_P(Variants, BackwardFD,
                         ::testing::Values(Variant::Gpt2, Variant::AttnOnly,
                                           Variant::AttnOnlyShortformer, Variant::NeoX,
                                           Variant::Llama, Variant::Gemma, Variant::Gemma2),
                         [](const auto& info) {
                           std::string n = variant_name(info.param);
                           for (char& ch : n) ch = ch == '-' ? '_' : ch;
                           return n;
                         });

// Gradients under patching hooks (EAP-IG interpolates activations): at points downstream of every
// patch they are the derivatives of the patched forward. (Upstream of a patch the backward is
// straight-through, by design: a hook is the identity in the backward.)
TEST(BackwardHooks, GradientsThroughPatchingHooks) {
  const Model m = tiny_model(Variant::Gpt2);
  const Tensor other = random_tensor({2, 6, 16}, 9);
  Hooks patch;
  patch.add({Hook::resid_pre, 1}, [&other](const HookPoint&, Tensor& t) {  // interpolate
    for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = 0.3f * t.data[i] + 0.7f * other.data[i];
  });
  patch.add({Hook::z, 0}, [](const HookPoint&, Tensor& z) {  // zero-ablate head 0 of layer 0
    for (int64_t bt = 0; bt < z.dim(0) * z.dim(1); ++bt)
      for (int64_t j = 0; j < z.dim(3); ++j) z.data[bt * z.dim(2) * z.dim(3) + j] = 0.0f;
  });
  std::vector<HookPoint> downstream = {{Hook::resid_pre, 1}, {Hook::q_input, 1}, {Hook::v_input, 1},
                                       {Hook::z, 1},         {Hook::result, 1},  {Hook::mlp_out, 1},
                                       {Hook::ln_final_normalized, -1}};
  check_hook_grads(m, downstream, patch, "patched");
}

TEST(BackwardHooks, ResultGradientIsAttnOutGradientPerHead) {
  const Model m = tiny_model(Variant::Gpt2);
  const Batch batch = tiny_batch(m.cfg.vocab_size);
  ForwardRecord rec;
  Tensor logits = forward_record(m, batch, &rec);
  ActivationCache hg;
  backward(m, rec, random_tensor(logits.shape, 3), nullptr,
           {{{Hook::result, 0}, {Hook::attn_out, 0}}}, &hg);
  const Tensor& r = hg.at("blocks.0.attn.hook_result");
  const Tensor& a = hg.at("blocks.0.hook_attn_out");
  ASSERT_EQ(r.shape, (std::vector<int64_t>{2, 6, 2, 16}));
  for (int64_t i = 0; i < 12; ++i)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t d = 0; d < 16; ++d) ASSERT_EQ(r.data[(i * 2 + h) * 16 + d], a.data[i * 16 + d]);
}

// Requesting a few points (no parameter gradients) skips the layers below them; values unchanged.
TEST(BackwardHooks, PartialRequestMatchesFullRequest) {
  const Model m = tiny_model(Variant::NeoX);
  const Batch batch = tiny_batch(m.cfg.vocab_size);
  ForwardRecord rec;
  Tensor logits = forward_record(m, batch, &rec);
  const Tensor G = random_tensor(logits.shape, 5);
  ActivationCache full, part;
  backward(m, rec, G, nullptr, {all_points(m.cfg)}, &full);
  const std::vector<HookPoint> few = {{Hook::v_input, 1}, {Hook::ln_final_normalized, -1}};
  backward(m, rec, G, nullptr, {few}, &part);
  ASSERT_EQ(part.size(), 2u);
  for (const HookPoint& p : few) EXPECT_EQ(part.at(p.name()).data, full.at(p.name()).data) << p.name();
}

TEST(BackwardHooks, Deterministic) {
  const Model m = tiny_model(Variant::Llama);
  const Batch batch = tiny_batch(m.cfg.vocab_size);
  ForwardRecord rec;
  Tensor logits = forward_record(m, batch, &rec);
  const Tensor G = random_tensor(logits.shape, 4);
  Gradients a, b;
  backward(m, rec, G, &a);
  backward(m, rec, G, &b);
  auto pa = named_params(a.w), pb = named_params(b.w);
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].second.data, pb[i].second.data) << pa[i].first;
  // accumulation: a second backward into the same Gradients doubles them
  backward(m, rec, G, &a);
  EXPECT_FLOAT_EQ(a.w.layers[0].W_qkv.data[5], 2 * b.w.layers[0].W_qkv.data[5]);
}

TEST(BackwardErrors, BadInputsSayWhatIsWrong) {
  const Model m = tiny_model(Variant::Gpt2);
  const Batch batch = tiny_batch(m.cfg.vocab_size);
  ForwardRecord rec;
  ActivationCache hg;
  EXPECT_THROW(backward(m, rec, Tensor({1}), nullptr), Error);  // empty record
  forward_record(m, batch, &rec);
  EXPECT_THROW(backward(m, rec, Tensor({2, 6, 5}), nullptr), Error);  // wrong dlogits shape
  EXPECT_THROW(backward(m, rec, Tensor({2, 6, 23}), nullptr, {{{Hook::z, 0}}}, nullptr), Error);
  EXPECT_THROW(backward(m, rec, Tensor({2, 6, 23}), nullptr, {{{Hook::z, 2}}}, &hg), Error);
  EXPECT_THROW(backward(tiny_model(Variant::AttnOnly), rec, Tensor({2, 6, 23}), nullptr,
                        {{{Hook::mlp_out, 0}}}, &hg),
               Error);
  EXPECT_THROW(forward_record(m, batch, &rec, nullptr, {3, 2}), Error);  // not sorted
  std::vector<int32_t> targets(12, 4);
  EXPECT_THROW(train_step_loss_and_grad(m, batch, targets, {1, 2, 3}, nullptr), Error);  // 4 missing
  EXPECT_THROW(train_step_loss_and_grad(m, batch, std::vector<int32_t>(12, -1), {}, nullptr), Error);
}

// ---- training step ------------------------------------------------------------------------------

TEST(TrainStep, LossAndGradientsOverVocabularySubset) {
  Model m = tiny_model(Variant::Gpt2);
  const Batch batch = tiny_batch(m.cfg.vocab_size);
  const std::vector<int32_t> vocab = {0, 1, 2, 3, 4, 5, 7, 9, 11, 22};
  std::vector<int32_t> targets(batch.B * batch.T);
  for (int b = 0; b < batch.B; ++b)
    for (int t = 0; t < batch.T; ++t)
      targets[b * batch.T + t] = t + 1 < batch.T ? batch.row(b)[t + 1] : -1;  // next token

  // Reference loss: the full forward restricted to the subset, in double.
  auto ref_loss = [&](const Model& mm) {
    Tensor logits = forward(mm, batch);
    const int64_t V = mm.cfg.vocab_size;
    double tot = 0;
    int n = 0;
    for (int64_t i = 0; i < batch.B * batch.T; ++i) {
      if (targets[i] < 0) continue;
      double mx = -1e300, s = 0;
      for (int32_t v : vocab) mx = std::max<double>(mx, logits.data[i * V + v]);
      for (int32_t v : vocab) s += std::exp(logits.data[i * V + v] - mx);
      tot += std::log(s) + mx - logits.data[i * V + targets[i]];
      ++n;
    }
    return tot / n;
  };
  Gradients grads;
  const float loss = train_step_loss_and_grad(m, batch, targets, vocab, &grads);
  EXPECT_NEAR(loss, ref_loss(m), 1e-5);
  // grads are overwritten, not accumulated, by a second step
  EXPECT_FLOAT_EQ(train_step_loss_and_grad(m, batch, targets, vocab, &grads), loss);

  // W_U rows outside the subset get nothing
  for (int64_t v = 0; v < m.cfg.vocab_size; ++v)
    if (!std::binary_search(vocab.begin(), vocab.end(), static_cast<int32_t>(v))) {
      for (int64_t d = 0; d < m.cfg.d_model; ++d) ASSERT_EQ(grads.w.W_U.data[v * m.cfg.d_model + d], 0.0f);
    }

  auto params = named_params(m.w);
  auto gparams = named_params(grads.w);
  uint32_t seed = 300;
  for (size_t p = 0; p < params.size(); ++p) {
    ParamRef& w = params[p].second;
    const ParamRef& g = gparams[p].second;
    if (w.empty()) continue;
    const double scale = max_abs(g);
    for (int64_t i : probe_coords(g, ++seed, 2)) {
      const float w0 = w.data[i];
      w.data[i] = w0 + static_cast<float>(kEps);
      const double lp = ref_loss(m);
      w.data[i] = w0 - static_cast<float>(kEps);
      const double lm = ref_loss(m);
      w.data[i] = w0;
      EXPECT_NEAR(g.data[i], (lp - lm) / (2 * kEps), kTol * scale + 1e-4) << params[p].first << "[" << i << "]";
    }
  }

  // Whole vocabulary: the same as the subset machinery with every id listed.
  std::vector<int32_t> all(m.cfg.vocab_size);
  for (int i = 0; i < m.cfg.vocab_size; ++i) all[i] = i;
  Gradients g_all, g_listed;
  const float l_all = train_step_loss_and_grad(m, batch, targets, {}, &g_all);
  const float l_listed = train_step_loss_and_grad(m, batch, targets, all, &g_listed);
  EXPECT_NEAR(l_all, l_listed, 1e-6);
  EXPECT_LE(rel_max_error(g_listed.w.W_U.ptr(), g_all.w.W_U.ptr(), g_all.w.W_U.numel()), 1e-5);
  EXPECT_LE(rel_max_error(g_listed.w.layers[0].W_qkv.ptr(), g_all.w.layers[0].W_qkv.ptr(),
                          g_all.w.layers[0].W_qkv.numel()), 1e-5);
}

// The q and k thirds of W_qkv carry far smaller gradients than v in a random model, so the
// whole-tensor probes above could miss an error there: check each third's largest coordinate
// against central differences, relative to that third's own scale.
TEST(TrainStep, QueryKeyValueGradientsEachMatchFiniteDifferences) {
  Model m = tiny_model(Variant::Gpt2);
  const Batch batch = tiny_batch(m.cfg.vocab_size);
  std::vector<int32_t> targets(batch.B * batch.T);
  for (int b = 0; b < batch.B; ++b)
    for (int t = 0; t < batch.T; ++t) targets[b * batch.T + t] = t + 1 < batch.T ? batch.row(b)[t + 1] : -1;
  auto loss_at = [&](const Model& mm) { return train_step_loss_and_grad(mm, batch, targets, {}, nullptr); };
  Gradients grads;
  train_step_loss_and_grad(m, batch, targets, {}, &grads);
  const int64_t D = m.cfg.d_model, HD = int64_t{m.cfg.n_heads} * m.cfg.d_head;
  for (size_t l = 0; l < m.w.layers.size(); ++l) {
    Weight& w = m.w.layers[l].W_qkv;
    const Weight& g = grads.w.layers[l].W_qkv;
    const int64_t W = w.dim(1);
    for (int part = 0; part < 3; ++part) {  // q, k, v columns
      int64_t best = -1;
      double scale = 0;
      for (int64_t r = 0; r < D; ++r)
        for (int64_t c = part * HD; c < (part + 1) * HD; ++c)
          if (std::fabs(g.data[r * W + c]) > scale) scale = std::fabs(g.data[r * W + c]), best = r * W + c;
      ASSERT_GT(scale, 0.0) << "layer " << l << " part " << part << " has an all-zero gradient";
      const float w0 = w.data[best];
      const float eps = 1e-2f;
      w.data[best] = w0 + eps;
      const double lp = loss_at(m);
      w.data[best] = w0 - eps;
      const double lm = loss_at(m);
      w.data[best] = w0;
      EXPECT_NEAR(g.data[best], (lp - lm) / (2 * eps), 0.05 * scale + 1e-4)
          << "layer " << l << " part " << "qkv"[part];
    }
  }
}

TEST(BackwardGolden, Llama3MetricGradients) {
  // Llama 3.1 (llama3 rope scaling), Llama 3.2 (tied), Qwen2.5 (q/k/v biases), bf16 weights used
  // in place (tests/data/make_plain_torch_fixtures.py).
  for (const char* name : {"llama3.1-tiny", "llama3.2-tiny", "qwen2.5-tiny"}) {
    SCOPED_TRACE(name);
    golden_check(std::string(CS_TEST_DATA) + "/" + name,
                 {{"model.norm.weight", [](const Weights& w) { return w.lnf_w; }}}, {});
  }
}

TEST(BackwardGolden, Gemma2MetricGradients) {
  // Gemma 2: gradients through both soft-caps (scores at 5, logits at 10), the sliding window, the
  // norms after attention and MLP and the query_pre_attn_scalar scale, bf16 weights in place
  // (tests/data/make_plain_torch_fixtures.py).
  golden_check(std::string(CS_TEST_DATA) + "/gemma2-tiny",
               {{"model.norm.weight", [](const Weights& w) { return w.lnf_w; }}}, {});
}

// ---- TransformerLens's hook_normalized ------------------------------------------------------

namespace {

// x / scale per row of x [N,D] in double: LayerNorm centres first; scale = sqrt(mean square + eps).
std::vector<double> normalized_ref(const float* x, int64_t N, int64_t D, bool layernorm, double eps) {
  std::vector<double> out(static_cast<size_t>(N * D));
  for (int64_t i = 0; i < N; ++i) {
    double mean = 0, ss = 0;
    if (layernorm)
      for (int64_t d = 0; d < D; ++d) mean += x[i * D + d] / static_cast<double>(D);
    for (int64_t d = 0; d < D; ++d) ss += (x[i * D + d] - mean) * (x[i * D + d] - mean);
    const double scale = std::sqrt(ss / D + eps);
    for (int64_t d = 0; d < D; ++d) out[i * D + d] = (x[i * D + d] - mean) / scale;
  }
  return out;
}

void expect_near_ref(const Tensor& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size()) << what;
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(got.data[i] - want[i]));
  EXPECT_LT(worst, 2e-5) << what;
}

}  // namespace

// A norm's hook_normalized holds what TransformerLens's does: the input centred (LayerNorm) and
// divided by its scale, before the weight and bias (on unprocessed weights, where they differ);
// Gemma 2's ln1_post/ln2_post points hold the attention's and MLP's outputs so normalized. The
// inputs are taken from other hook points and normalized by a double reference.
TEST(HookNormalized, IsTheInputOverItsScaleBeforeWeightAndBias) {
  for (Variant v : {Variant::Gpt2, Variant::Llama, Variant::Gemma2}) {
    SCOPED_TRACE(variant_name(v));
    const Model m = tiny_model(v);
    const ModelConfig& c = m.cfg;
    const Batch batch = tiny_batch(c.vocab_size);
    const int64_t N = int64_t{batch.B} * batch.T, D = c.d_model, H = c.n_heads;
    const bool ln = c.norm == Norm::LayerNorm;
    Hooks hooks;
    ActivationCache cache;
    for (int h = 0; h < static_cast<int>(Hook::count); ++h) {
      const Hook hk = static_cast<Hook>(h);  // not the split inputs: they bypass ln1.hook_normalized
      if (hk == Hook::q_input || hk == Hook::k_input || hk == Hook::v_input) continue;
      for (int l = -1; l < c.n_layers; ++l) hooks.cache({hk, l}, &cache);
    }
    forward(m, batch, &hooks);
    auto at = [&](const std::string& n) -> const Tensor& { return cache.at(n); };
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string b = "blocks." + std::to_string(l) + ".";
      expect_near_ref(at(b + "ln1.hook_normalized"),
                      normalized_ref(at(b + "hook_resid_pre").ptr(), N, D, ln, c.norm_eps), b + "ln1");
      expect_near_ref(at(b + "ln2.hook_normalized"),
                      normalized_ref(at(b + "hook_resid_mid").ptr(), N, D, ln, c.norm_eps), b + "ln2");
      EXPECT_EQ(cache.count(b + "ln1_post.hook_normalized"), c.post_norms ? 1u : 0u);
      if (!c.post_norms) continue;
      // ln1_post's input: the heads' outputs summed (these models have no b_O).
      const Tensor& result = at(b + "attn.hook_result");
      Tensor attn_raw({N, D});
      for (int64_t i = 0; i < N; ++i)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < D; ++d) attn_raw.data[i * D + d] += result.data[(i * H + h) * D + d];
      const std::vector<double> want1 = normalized_ref(attn_raw.ptr(), N, D, false, c.norm_eps);
      expect_near_ref(at(b + "ln1_post.hook_normalized"), want1, b + "ln1_post");
      // ... and hook_attn_out is it times ln1_post's weight.
      std::vector<double> weighted(want1.size());
      for (size_t i = 0; i < want1.size(); ++i) weighted[i] = want1[i] * m.w.layers[l].ln1_post_w.data[i % D];
      expect_near_ref(at(b + "hook_attn_out"), weighted, b + "attn_out");
      // ln2_post's input: mlp.hook_post @ W_out.
      const Tensor& post = at(b + "mlp.hook_post");
      const Tensor W_out = m.w.layers[l].W_out.to_tensor();
      const int64_t F = c.d_mlp;
      Tensor mlp_raw({N, D});
      for (int64_t i = 0; i < N; ++i)
        for (int64_t f = 0; f < F; ++f)
          for (int64_t d = 0; d < D; ++d) mlp_raw.data[i * D + d] += post.data[i * F + f] * W_out.data[f * D + d];
      expect_near_ref(at(b + "ln2_post.hook_normalized"), normalized_ref(mlp_raw.ptr(), N, D, false, c.norm_eps),
                      b + "ln2_post");
    }
    expect_near_ref(at("ln_final.hook_normalized"),
                    normalized_ref(at("blocks." + std::to_string(c.n_layers - 1) + ".hook_resid_post").ptr(),
                                   N, D, ln, c.norm_eps), "ln_final");
  }
}

// Editing hook_normalized edits the value the norm's weight and bias then apply to, as in
// TransformerLens: doubling ln_final.hook_normalized gives logits (2 n w + b) W_U + b_U.
TEST(HookNormalized, AnEditIsThenWeightedAndBiased) {
  const Model m = tiny_model(Variant::Gpt2);
  const ModelConfig& c = m.cfg;
  const Batch batch = tiny_batch(c.vocab_size);
  const int64_t N = int64_t{batch.B} * batch.T, D = c.d_model, V = c.vocab_size;
  Hooks hooks;
  Tensor n;
  hooks.add({Hook::ln_final_normalized, -1}, [&n](const HookPoint&, Tensor& t) {
    n = t;
    for (float& x : t.data) x *= 2.0f;
  });
  const Tensor logits = forward(m, batch, &hooks);
  const Tensor W_U = m.w.W_U.to_tensor();  // [V, D]
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t v = 0; v < V; ++v) {
      double want = m.w.b_U.data[v];
      for (int64_t d = 0; d < D; ++d)
        want += (2.0 * n.data[i * D + d] * m.w.lnf_w.data[d] + m.w.lnf_b.data[d]) * W_U.data[v * D + d];
      worst = std::max(worst, std::fabs(logits.data[i * V + v] - want));
      scale = std::max(scale, std::fabs(want));
    }
  EXPECT_LT(worst, 1e-5 * scale + 1e-5);
}

// The norm weight's gradient under a hook that edits its hook_normalized: y = edit(n) w + b, so
// dw = sum dy * edit(n), not the unedited n. One edit per run, at the last layer (or the final
// norm), so nothing downstream of the weight passes another edit and central differences of the
// hooked forward are the exact reference.
TEST(HookNormalized, NormWeightGradientsReadTheEditedValue) {
  struct Case { Variant v; HookPoint at; std::vector<std::string> params; };
  const std::vector<Case> cases = {
      {Variant::Gpt2, {Hook::ln_final_normalized, -1}, {"lnf_w", "lnf_b"}},
      {Variant::Gpt2, {Hook::ln2_normalized, 1}, {"1.ln2_w", "1.ln2_b"}},
      {Variant::Gpt2, {Hook::ln1_normalized, 1}, {"1.ln1_w", "1.ln1_b"}},
      {Variant::Gemma2, {Hook::ln1_post_normalized, 1}, {"1.ln1_post_w"}},
      {Variant::Gemma2, {Hook::ln2_post_normalized, 1}, {"1.ln2_post_w"}},
      {Variant::Gemma2, {Hook::ln1_normalized, 1}, {"1.ln1_w"}},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(std::string(variant_name(cs.v)) + " " + cs.at.name());
    Model m = tiny_model(cs.v);
    const Batch batch = tiny_batch(m.cfg.vocab_size);
    const Tensor G = random_tensor({batch.B, batch.T, m.cfg.vocab_size}, 7);
    Hooks edit;  // an affine edit with a position-dependent shift
    edit.add(cs.at, [](const HookPoint&, Tensor& t) {
      for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = 1.7f * t.data[i] + 0.3f * static_cast<float>(i % 5) - 0.6f;
    });
    ForwardRecord rec;
    forward_record(m, batch, &rec, &edit);
    Gradients grads;
    backward(m, rec, G, &grads);
    auto params = named_params(m.w);
    auto gparams = named_params(grads.w);
    for (const std::string& name : cs.params) {
      size_t p = 0;
      while (p < params.size() && params[p].first != name) ++p;
      ASSERT_LT(p, params.size()) << name;
      ParamRef& w = params[p].second;
      const ParamRef& g = gparams[p].second;
      ASSERT_FALSE(w.empty()) << name;
      const double scale = max_abs(g);
      for (int64_t i = 0; i < w.numel(); ++i) {  // every coordinate: D of them
        const float w0 = w.data[i];
        w.data[i] = w0 + static_cast<float>(kEps);
        const double lp = linear_loss(m, batch, G, &edit);
        w.data[i] = w0 - static_cast<float>(kEps);
        const double lm = linear_loss(m, batch, G, &edit);
        w.data[i] = w0;
        EXPECT_NEAR(g.data[i], (lp - lm) / (2 * kEps), kTol * scale + 1e-3) << name << "[" << i << "]";
      }
    }
  }
}
