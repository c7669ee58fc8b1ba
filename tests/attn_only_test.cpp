// Attention-only models (model_type "circuitscan_attn_only", docs/attn-only-format.md): a tiny
// random checkpoint written here, loaded through load_model, and checked against a naive
// double-precision forward written from the definition (shortformer: q and k read
// LN(resid + pos), v reads LN(resid), the residual stream never receives pos).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "model/model.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "ops/error.h"

using namespace cs;
namespace fs = std::filesystem;

namespace {

// d_head (6) deliberately differs from n_embd / n_head (5).
constexpr int L = 2, H = 4, D = 20, dh = 6, NCTX = 16, V = 50;

struct Checkpoint {
  std::map<std::string, Tensor> t;
};

Tensor randn(std::vector<int64_t> shape, std::mt19937& rng, float scale, float mean = 0.0f) {
  Tensor r(std::move(shape));
  std::normal_distribution<float> n(mean, scale);
  for (float& x : r.data) x = n(rng);
  return r;
}

Checkpoint make_checkpoint(uint32_t seed) {
  std::mt19937 rng(seed);
  Checkpoint c;
  c.t["wte.weight"] = randn({V, D}, rng, 1.0f);
  c.t["wpe.weight"] = randn({NCTX, D}, rng, 1.0f);
  for (int l = 0; l < L; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    c.t[h + "ln_1.weight"] = randn({D}, rng, 0.2f, 1.0f);
    c.t[h + "ln_1.bias"] = randn({D}, rng, 0.1f);
    c.t[h + "attn.c_attn.weight"] = randn({D, 3 * H * dh}, rng, 0.4f);
    c.t[h + "attn.c_attn.bias"] = randn({3 * H * dh}, rng, 0.1f);
    c.t[h + "attn.c_proj.weight"] = randn({H * dh, D}, rng, 0.3f);
    c.t[h + "attn.c_proj.bias"] = randn({D}, rng, 0.1f);
  }
  c.t["ln_f.weight"] = randn({D}, rng, 0.2f, 1.0f);
  c.t["ln_f.bias"] = randn({D}, rng, 0.1f);
  c.t["lm_head.weight"] = randn({V, D}, rng, 0.5f);
  c.t["lm_head.bias"] = randn({V}, rng, 0.1f);
  return c;
}

std::string write_checkpoint(const std::string& name, const Checkpoint& ck, nlohmann::json cfg) {
  const std::string dir = testing::TempDir() + "/cs_attn_only_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  std::vector<std::pair<std::string, const Tensor*>> list;
  for (const auto& [n, t] : ck.t) list.emplace_back(n, &t);
  write_safetensors(dir + "/model.safetensors", list, DType::F32);
  return dir;
}

nlohmann::json base_config() {
  return {{"model_type", "circuitscan_attn_only"}, {"n_layer", L}, {"n_head", H}, {"n_embd", D},
          {"d_head", dh}, {"n_positions", NCTX}, {"vocab_size", V}, {"layer_norm_epsilon", 1e-5},
          {"positional_embedding_type", "shortformer"}};
}

// Naive reference, double precision. Outputs [B,T,V] logits plus per-layer resid_pre, pattern, z.
struct Reference {
  std::vector<double> logits;
  std::vector<std::vector<double>> resid_pre, pattern, z;
};

std::vector<double> layer_norm(const std::vector<double>& x, const Tensor& w, const Tensor& b) {
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= x.size();
  for (double v : x) var += (v - mean) * (v - mean);
  var /= x.size();
  std::vector<double> r(x.size());
  for (size_t d = 0; d < x.size(); ++d) r[d] = (x[d] - mean) / std::sqrt(var + 1e-5) * w.data[d] + b.data[d];
  return r;
}

Reference reference_forward(const Checkpoint& ck, const std::vector<std::vector<int>>& toks, bool shortformer) {
  const int B = static_cast<int>(toks.size()), T = static_cast<int>(toks[0].size());
  const Tensor& WE = ck.t.at("wte.weight");
  const Tensor& WP = ck.t.at("wpe.weight");
  auto at = [](int b, int t, int T_, int n) { return (static_cast<size_t>(b) * T_ + t) * n; };
  std::vector<double> resid(static_cast<size_t>(B) * T * D);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t)
      for (int d = 0; d < D; ++d)
        resid[at(b, t, T, D) + d] = WE.data[toks[b][t] * D + d] + (shortformer ? 0.0 : WP.data[t * D + d]);
  Reference ref;
  const int W = 3 * H * dh;
  for (int l = 0; l < L; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    const Tensor &Wqkv = ck.t.at(h + "attn.c_attn.weight"), &bqkv = ck.t.at(h + "attn.c_attn.bias");
    const Tensor &WO = ck.t.at(h + "attn.c_proj.weight"), &bO = ck.t.at(h + "attn.c_proj.bias");
    ref.resid_pre.push_back(resid);
    std::vector<double> q(static_cast<size_t>(B) * T * H * dh), k(q.size()), v(q.size());
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) {
        std::vector<double> x(resid.begin() + at(b, t, T, D), resid.begin() + at(b, t, T, D) + D), xp = x;
        if (shortformer)
          for (int d = 0; d < D; ++d) xp[d] += WP.data[t * D + d];
        std::vector<double> n_qk = layer_norm(xp, ck.t.at(h + "ln_1.weight"), ck.t.at(h + "ln_1.bias"));
        std::vector<double> n_v = layer_norm(x, ck.t.at(h + "ln_1.weight"), ck.t.at(h + "ln_1.bias"));
        for (int c = 0; c < H * dh; ++c) {
          double sq = bqkv.data[c], sk = bqkv.data[H * dh + c], sv = bqkv.data[2 * H * dh + c];
          for (int d = 0; d < D; ++d) {
            sq += n_qk[d] * Wqkv.data[d * W + c];
            sk += n_qk[d] * Wqkv.data[d * W + H * dh + c];
            sv += n_v[d] * Wqkv.data[d * W + 2 * H * dh + c];
          }
          q[at(b, t, T, H * dh) + c] = sq;
          k[at(b, t, T, H * dh) + c] = sk;
          v[at(b, t, T, H * dh) + c] = sv;
        }
      }
    std::vector<double> pattern(static_cast<size_t>(B) * H * T * T, 0.0), z(q.size(), 0.0);
    for (int b = 0; b < B; ++b)
      for (int hh = 0; hh < H; ++hh)
        for (int t = 0; t < T; ++t) {
          std::vector<double> s(t + 1);
          double mx = -1e300, sum = 0;
          for (int u = 0; u <= t; ++u) {
            double dot = 0;
            for (int j = 0; j < dh; ++j)
              dot += q[at(b, t, T, H * dh) + hh * dh + j] * k[at(b, u, T, H * dh) + hh * dh + j];
            s[u] = dot / std::sqrt(static_cast<double>(dh));
            mx = std::max(mx, s[u]);
          }
          for (int u = 0; u <= t; ++u) sum += (s[u] = std::exp(s[u] - mx));
          for (int u = 0; u <= t; ++u) {
            const double p = s[u] / sum;
            pattern[((static_cast<size_t>(b) * H + hh) * T + t) * T + u] = p;
            for (int j = 0; j < dh; ++j)
              z[at(b, t, T, H * dh) + hh * dh + j] += p * v[at(b, u, T, H * dh) + hh * dh + j];
          }
        }
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t)
        for (int d = 0; d < D; ++d) {
          double o = bO.data[d];
          for (int c = 0; c < H * dh; ++c) o += z[at(b, t, T, H * dh) + c] * WO.data[c * D + d];
          resid[at(b, t, T, D) + d] += o;
        }
    ref.pattern.push_back(pattern);
    ref.z.push_back(z);
  }
  const Tensor &WU = ck.t.at("lm_head.weight"), &bU = ck.t.at("lm_head.bias");
  ref.logits.resize(static_cast<size_t>(B) * T * V);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      std::vector<double> x(resid.begin() + at(b, t, T, D), resid.begin() + at(b, t, T, D) + D);
      std::vector<double> n = layer_norm(x, ck.t.at("ln_f.weight"), ck.t.at("ln_f.bias"));
      for (int vv = 0; vv < V; ++vv) {
        double s = bU.data[vv];
        for (int d = 0; d < D; ++d) s += n[d] * WU.data[vv * D + d];
        ref.logits[at(b, t, T, V) + vv] = s;
      }
    }
  return ref;
}

void expect_close(const Tensor& ours, const std::vector<double>& ref, const std::string& what,
                  double tol = 1e-5) {
  ASSERT_EQ(static_cast<size_t>(ours.numel()), ref.size()) << what;
  std::vector<float> r(ref.begin(), ref.end());
  EXPECT_LE(rel_max_error(ours.ptr(), r.data(), ours.numel()), tol) << what;
}

const std::vector<std::vector<int>> kTokens = {{3, 17, 42, 8, 8, 29, 1, 49, 0, 12, 17},
                                               {44, 2, 2, 31, 7, 13, 26, 5, 38, 19, 6}};

void check_against_reference(bool shortformer) {
  Checkpoint ck = make_checkpoint(shortformer ? 1 : 2);
  nlohmann::json cfg = base_config();
  cfg["positional_embedding_type"] = shortformer ? "shortformer" : "standard";
  Model m = load_model(write_checkpoint(shortformer ? "short" : "standard", ck, cfg));
  EXPECT_TRUE(m.cfg.attn_only);
  EXPECT_EQ(m.cfg.positions, shortformer ? Positions::Shortformer : Positions::Learned);
  EXPECT_EQ(m.cfg.d_head, dh);

  Hooks hooks;
  ActivationCache cache;
  for (int l = 0; l < L; ++l) {
    hooks.cache({Hook::resid_pre, l}, &cache);
    hooks.cache({Hook::pattern, l}, &cache);
    hooks.cache({Hook::z, l}, &cache);
  }
  Tensor logits = forward(m, Batch::from_sequences(kTokens), &hooks);
  Reference ref = reference_forward(ck, kTokens, shortformer);
  expect_close(logits, ref.logits, "logits");
  for (int l = 0; l < L; ++l) {
    const std::string s = std::to_string(l);
    expect_close(cache.at("blocks." + s + ".hook_resid_pre"), ref.resid_pre[l], "resid_pre." + s);
    expect_close(cache.at("blocks." + s + ".attn.hook_pattern"), ref.pattern[l], "pattern." + s);
    expect_close(cache.at("blocks." + s + ".attn.hook_z"), ref.z[l], "z." + s);
  }
}

Tensor log_softmax_rows(Tensor t, int64_t n) {
  for (int64_t i = 0; i < t.numel() / n; ++i) {
    float* r = t.ptr() + i * n;
    double mx = r[0], s = 0;
    for (int64_t v = 0; v < n; ++v) mx = std::max<double>(mx, r[v]);
    for (int64_t v = 0; v < n; ++v) s += std::exp(r[v] - mx);
    for (int64_t v = 0; v < n; ++v) r[v] = static_cast<float>(r[v] - mx - std::log(s));
  }
  return t;
}

}  // namespace

TEST(AttnOnly, ShortformerForwardMatchesNaiveReference) { check_against_reference(true); }

TEST(AttnOnly, StandardPositionsForwardMatchesNaiveReference) { check_against_reference(false); }

TEST(AttnOnly, ResidualNeverReceivesPositions) {
  Checkpoint ck = make_checkpoint(1);
  Model m = load_model(write_checkpoint("short_embed", ck, base_config()));
  Hooks hooks;
  ActivationCache cache;
  hooks.cache({Hook::resid_pre, 0}, &cache);
  hooks.cache({Hook::pos_embed, -1}, &cache);
  forward(m, Batch::from_sequences(kTokens), &hooks);
  const Tensor& r = cache.at("blocks.0.hook_resid_pre");
  for (size_t b = 0; b < kTokens.size(); ++b)
    for (size_t t = 0; t < kTokens[b].size(); ++t)
      for (int d = 0; d < D; ++d)
        ASSERT_EQ(r.data[(b * kTokens[b].size() + t) * D + d], ck.t["wte.weight"].data[kTokens[b][t] * D + d]);
  EXPECT_EQ(cache.at("hook_pos_embed").shape, (std::vector<int64_t>{2, 11, D}));
}

TEST(AttnOnly, SplitQkvInputsAndProcessingKeepOutput) {
  Checkpoint ck = make_checkpoint(3);
  const std::string dir = write_checkpoint("split", ck, base_config());
  Model m = load_model(dir);
  const Batch batch = Batch::from_sequences(kTokens);
  Tensor plain = forward(m, batch);

  Hooks hooks;  // the per-head path must add positions to q and k inputs only, as the fused one
  hooks.add({Hook::q_input, 1}, [](const HookPoint&, Tensor&) {});
  hooks.add({Hook::v_input, 0}, [](const HookPoint&, Tensor&) {});
  Tensor split = forward(m, batch, &hooks);
  EXPECT_LE(rel_max_error(split.ptr(), plain.ptr(), plain.numel()), 1e-5);

  Model processed = load_model(dir, {.process_weights = true});
  Tensor a = log_softmax_rows(plain, V), b = log_softmax_rows(forward(processed, batch), V);
  EXPECT_LE(rel_max_error(b.ptr(), a.ptr(), a.numel()), 1e-5);
}

TEST(AttnOnly, TiedUnembedWithoutLmHead) {
  Checkpoint ck = make_checkpoint(4);
  ck.t.erase("lm_head.weight");
  ck.t.erase("lm_head.bias");
  nlohmann::json cfg = base_config();
  cfg["tie_word_embeddings"] = true;
  Model m = load_model(write_checkpoint("tied", ck, cfg));
  EXPECT_EQ(m.w.W_U.data, m.w.W_E.data);
  for (float x : m.w.b_U.data) EXPECT_EQ(x, 0.0f);
  Tensor logits = forward(m, Batch::from_sequences(kTokens));
  EXPECT_EQ(logits.shape, (std::vector<int64_t>{2, 11, V}));
}

TEST(AttnOnly, ErrorsNameTheProblem) {
  Checkpoint ck = make_checkpoint(5);
  ck.t["h.1.attn.c_proj.weight"] = Tensor({D, D});  // config says [H*dh, D] = [24, 20]
  try {
    load_model(write_checkpoint("bad_shape", ck, base_config()));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("h.1.attn.c_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[24,20]"), std::string::npos) << msg;
  }
  nlohmann::json cfg = base_config();
  cfg["positional_embedding_type"] = "rotary";
  EXPECT_THROW(load_model(write_checkpoint("bad_pos", make_checkpoint(5), cfg)), Error);
  Model m = load_model(write_checkpoint("ctx", make_checkpoint(5), base_config()));
  std::vector<int> too_long(NCTX + 1, 1);
  EXPECT_THROW(forward(m, Batch::from_sequences({too_long})), Error);
}
