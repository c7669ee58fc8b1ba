// Path patching checked against a naive double-precision attention-only forward written out here
// (no hooks, no BLAS): the receiver's input is its clean residual with the sender's clean output
// swapped for its corrupted output, everything else recomputed from there. With MLPs, against a
// single hooked run fed that same hand-built input.
#include "interp/path_patching.h"

#include <gtest/gtest.h>

#include <cmath>

#include "interp/ablation.h"
#include "model/model.h"
#include "model/transformer.h"
#include "ops/error.h"

using namespace cs;

namespace {

const std::string kDir = std::string(CS_TEST_DATA) + "/gpt2-tiny";

// gpt2-tiny without MLPs, keeping its first n_layers layers.
Model attn_only(int n_layers) {
  Model m = load_model(kDir);
  m.cfg.attn_only = true;
  m.cfg.d_mlp = 0;
  m.cfg.n_layers = n_layers;
  m.w.layers.resize(n_layers);
  return m;
}

const Model& gpt2() {
  static Model m = load_model(kDir);
  return m;
}

const std::vector<std::vector<int>> kClean = {{464, 3290, 373, 257, 922, 1110, 13, 383},
                                              {40, 588, 284, 1100, 3835, 290, 4144, 383}};
const std::vector<std::vector<int>> kCorrupt = {{1870, 11, 612, 547, 1115, 7572, 2058, 383},
                                                {818, 262, 3726, 11, 612, 373, 257, 383}};

using Mat = std::vector<std::vector<double>>;  // [T][D]

Mat add(Mat a, const Mat& b, double s = 1.0) {
  for (size_t t = 0; t < a.size(); ++t)
    for (size_t d = 0; d < a[t].size(); ++d) a[t][d] += s * b[t][d];
  return a;
}

std::vector<double> layernorm(const std::vector<double>& x, const Tensor& w, const Tensor& b) {
  const size_t D = x.size();
  double mu = 0, var = 0;
  for (double v : x) mu += v;
  mu /= D;
  for (double v : x) var += (v - mu) * (v - mu);
  var /= D;
  std::vector<double> y(D);
  for (size_t d = 0; d < D; ++d) y[d] = (x[d] - mu) / std::sqrt(var + 1e-5) * w.data[d] + b.data[d];
  return y;
}

// One head's output z_h W_O[h] [T][D] when its query, key and value read the given residuals.
Mat head_result(const Model& m, int l, int h, const Mat& xq, const Mat& xk, const Mat& xv) {
  const LayerWeights& w = m.w.layers[l];
  const int T = static_cast<int>(xq.size()), D = m.cfg.d_model, H = m.cfg.n_heads,
            dh = m.cfg.d_head;
  const int W = 3 * H * dh;
  auto project = [&](const Mat& x, int col) {
    Mat out(T, std::vector<double>(dh, 0.0));
    for (int t = 0; t < T; ++t) {
      std::vector<double> n = layernorm(x[t], w.ln1_w, w.ln1_b);
      for (int j = 0; j < dh; ++j) {
        double s = w.b_qkv.data[col + j];
        for (int d = 0; d < D; ++d) s += n[d] * w.W_qkv.data[d * W + col + j];
        out[t][j] = s;
      }
    }
    return out;
  };
  Mat q = project(xq, h * dh), k = project(xk, (H + h) * dh), v = project(xv, (2 * H + h) * dh);
  Mat res(T, std::vector<double>(D, 0.0));
  for (int t = 0; t < T; ++t) {
    std::vector<double> s(t + 1);
    double mx = -1e300, z = 0;
    for (int u = 0; u <= t; ++u) {
      double dot = 0;
      for (int j = 0; j < dh; ++j) dot += q[t][j] * k[u][j];
      s[u] = dot / std::sqrt(static_cast<double>(dh));
      mx = std::max(mx, s[u]);
    }
    for (int u = 0; u <= t; ++u) z += (s[u] = std::exp(s[u] - mx));
    std::vector<double> zv(dh, 0.0);
    for (int u = 0; u <= t; ++u)
      for (int j = 0; j < dh; ++j) zv[j] += s[u] / z * v[u][j];
    for (int d = 0; d < D; ++d)
      for (int j = 0; j < dh; ++j) res[t][d] += zv[j] * w.W_O.data[(h * dh + j) * D + d];
  }
  return res;
}

// A clean run of the attention-only model: residual before each layer and every head's output.
struct NaiveRun {
  std::vector<Mat> resid_pre;       // [n_layers + 1]: the last is the final residual
  std::vector<std::vector<Mat>> r;  // [layer][head]
};

Mat embed(const Model& m, const std::vector<int>& tokens) {
  const int D = m.cfg.d_model;
  Mat x(tokens.size(), std::vector<double>(D));
  for (size_t t = 0; t < tokens.size(); ++t)
    for (int d = 0; d < D; ++d)
      x[t][d] = m.w.W_E.data[static_cast<size_t>(tokens[t]) * D + d] + m.w.W_pos.data[t * D + d];
  return x;
}

Mat bias_rows(const Model& m, int l, size_t T) {
  return Mat(T, std::vector<double>(m.w.layers[l].b_O.data.begin(), m.w.layers[l].b_O.data.end()));
}

NaiveRun naive_run(const Model& m, const std::vector<int>& tokens) {
  NaiveRun run;
  Mat x = embed(m, tokens);
  for (int l = 0; l < m.cfg.n_layers; ++l) {
    run.resid_pre.push_back(x);
    run.r.emplace_back();
    Mat next = add(x, bias_rows(m, l, x.size()));
    for (int h = 0; h < m.cfg.n_heads; ++h) {
      run.r[l].push_back(head_result(m, l, h, x, x, x));
      next = add(next, run.r[l][h]);
    }
    x = next;
  }
  run.resid_pre.push_back(x);
  return run;
}

// Logits at the last position from the final residual.
std::vector<double> unembed_last(const Model& m, const Mat& x) {
  std::vector<double> n = layernorm(x.back(), m.w.lnf_w, m.w.lnf_b);
  const int64_t V = m.cfg.vocab_size, D = m.cfg.d_model;
  std::vector<double> out(V);
  for (int64_t v = 0; v < V; ++v) {
    double s = m.w.b_U.empty() ? 0.0 : m.w.b_U.data[v];
    for (int64_t d = 0; d < D; ++d) s += n[d] * m.w.W_U.data[v * D + d];
    out[v] = s;
  }
  return out;
}

// Expected path-patched logits [B,V], computed from the naive runs.
Tensor naive_path_patch(const Model& m, std::pair<int, int> sender,
                        const std::vector<Receiver>& receivers) {
  const int64_t V = m.cfg.vocab_size;
  Tensor out({static_cast<int64_t>(kClean.size()), V});
  for (size_t b = 0; b < kClean.size(); ++b) {
    NaiveRun clean = naive_run(m, kClean[b]), corrupt = naive_run(m, kCorrupt[b]);
    const Mat& r_clean = clean.r[sender.first][sender.second];
    const Mat& r_corrupt = corrupt.r[sender.first][sender.second];
    // What the frozen run records at layer l: the clean residual with the sender swapped.
    auto frozen_resid = [&](int l) {
      return add(add(clean.resid_pre[l], r_clean, -1.0), r_corrupt);
    };
    std::vector<double> logits;
    if (receivers.empty()) {
      logits = unembed_last(m, frozen_resid(m.cfg.n_layers));
    } else {
      Mat x = embed(m, kClean[b]);
      for (int l = 0; l < m.cfg.n_layers; ++l) {
        Mat next = add(x, bias_rows(m, l, x.size()));
        for (int h = 0; h < m.cfg.n_heads; ++h) {
          Mat xq = x, xk = x, xv = x;
          for (const Receiver& r : receivers)
            if (r.layer == l && r.head == h)
              (r.input == QKV::Q ? xq : r.input == QKV::K ? xk : xv) = frozen_resid(l);
          next = add(next, head_result(m, l, h, xq, xk, xv));
        }
        x = next;
      }
      logits = unembed_last(m, x);
    }
    for (int64_t v = 0; v < V; ++v) out.data[b * V + v] = static_cast<float>(logits[v]);
  }
  return out;
}

double err(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  return rel_max_error(a.ptr(), b.ptr(), b.numel());
}

}  // namespace

TEST(PathPatching, NaiveReferenceMatchesForward) {
  Model m = attn_only(2);
  Tensor logits = forward(m, Batch::from_sequences(kClean), nullptr, {LogitsAt::Last});
  const int64_t V = m.cfg.vocab_size;
  for (size_t b = 0; b < kClean.size(); ++b) {
    std::vector<double> want = unembed_last(m, naive_run(m, kClean[b]).resid_pre.back());
    std::vector<float> wf(want.begin(), want.end());
    EXPECT_LE(rel_max_error(logits.ptr() + b * V, wf.data(), V), 1e-5);
  }
}

TEST(PathPatching, TwoLayerAttentionOnlyMatchesHandComputation) {
  Model m = attn_only(2);
  Batch clean = Batch::from_sequences(kClean), corrupt = Batch::from_sequences(kCorrupt);
  PathPatchCache cache = cache_for_path_patching(m, clean, corrupt);
  const std::vector<std::vector<Receiver>> cases = {
      {{1, 2, QKV::Q}}, {{1, 2, QKV::K}}, {{1, 2, QKV::V}}, {{1, 0, QKV::Q}, {1, 3, QKV::V}}, {}};
  for (const auto& receivers : cases) {
    Tensor got = path_patch(m, clean, cache, {0, 1}, receivers);
    Tensor want = naive_path_patch(m, {0, 1}, receivers);
    EXPECT_LE(err(got, want), 1e-5) << receivers.size() << " receivers";
    EXPECT_GT(err(got, cache.clean_logits), 1e-4) << "patch had no effect";
  }
}

// Three layers: the path 0.3 -> 2.1 must exclude 0.3 -> layer 1 -> 2.1, which only freezing
// layer 1 at its clean values achieves.
TEST(PathPatching, ThreeLayerPathsExcludeIntermediateHeads) {
  Model m = attn_only(3);
  Batch clean = Batch::from_sequences(kClean), corrupt = Batch::from_sequences(kCorrupt);
  PathPatchCache cache = cache_for_path_patching(m, clean, corrupt);
  for (const auto& receivers :
       std::vector<std::vector<Receiver>>{{{2, 1, QKV::K}}, {{1, 0, QKV::V}, {2, 1, QKV::Q}}, {}}) {
    Tensor got = path_patch(m, clean, cache, {0, 3}, receivers);
    EXPECT_LE(err(got, naive_path_patch(m, {0, 3}, receivers)), 1e-5);
  }
  // The convenience overload builds the same cache.
  Tensor a = path_patch(m, clean, corrupt, {0, 3}, {{2, 1, QKV::K}});
  EXPECT_EQ(err(a, path_patch(m, clean, cache, {0, 3}, {{2, 1, QKV::K}})), 0.0);
}

// With MLPs: the receiver's recorded input is the clean residual with the sender's hook_result
// swapped (MLPs frozen clean); feed that to one hooked clean run.
TEST(PathPatching, Gpt2WithMlpsMatchesHandBuiltReceiverInput) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean), corrupt = Batch::from_sequences(kCorrupt);
  const int Ls = 0, Hs = 2, Lr = 2, Hr = 3;
  ActivationCache cc, cx;
  Hooks hc, hx;
  hc.cache({Hook::result, Ls}, &cc);
  hc.cache({Hook::resid_pre, Lr}, &cc);
  hx.cache({Hook::result, Ls}, &cx);
  forward(m, clean, &hc);
  forward(m, corrupt, &hx);
  const Tensor& rc = cc.at("blocks.0.attn.hook_result");  // [B,T,H,D]
  const Tensor& rx = cx.at("blocks.0.attn.hook_result");
  const Tensor& resid = cc.at("blocks.2.hook_resid_pre");  // [B,T,D]
  const int64_t BT = clean.B * clean.T, H = m.cfg.n_heads, D = m.cfg.d_model;
  for (QKV input : {QKV::Q, QKV::K, QKV::V}) {
    Hooks patch;
    patch.add({input == QKV::Q   ? Hook::q_input
               : input == QKV::K ? Hook::k_input
                                 : Hook::v_input,
               Lr},
              [&](const HookPoint&, Tensor& in) {  // [B,T,H,D]
                for (int64_t r = 0; r < BT; ++r)
                  for (int64_t d = 0; d < D; ++d)
                    in.data[(r * H + Hr) * D + d] = resid.data[r * D + d] -
                                                    rc.data[(r * H + Hs) * D + d] +
                                                    rx.data[(r * H + Hs) * D + d];
              });
    Tensor want = forward(m, clean, &patch, {LogitsAt::Last});
    Tensor got = path_patch(m, clean, corrupt, {Ls, Hs}, {{Lr, Hr, input}});
    EXPECT_LE(err(got, want), 1e-5) << to_string(input);
  }
}

// In an attention-only model a last-layer sender reaches the logits only directly: sender ->
// logits equals resample-ablating that one head. (With MLPs it does not: the direct path excludes
// the sender's own layer's MLP.)
TEST(PathPatching, LastLayerSenderToLogitsIsResampleAblation) {
  Model m = attn_only(3);
  Batch clean = Batch::from_sequences(kClean), corrupt = Batch::from_sequences(kCorrupt);
  AblationSource src = make_ablation_source(m, AblationKind::Resample, &corrupt);
  Tensor want = run_with_heads_ablated(m, clean, src, HeadSet{{{2, 1}}});
  EXPECT_LE(err(path_patch(m, clean, corrupt, {2, 1}, {}), want), 1e-5);
  AblationSource gpt2_src = make_ablation_source(gpt2(), AblationKind::Resample, &corrupt);
  Tensor with_mlp = run_with_heads_ablated(gpt2(), clean, gpt2_src, HeadSet{{{2, 1}}});
  EXPECT_GT(err(path_patch(gpt2(), clean, corrupt, {2, 1}, {}), with_mlp), 1e-3);
}

TEST(PathPatching, BadInputsThrow) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean), corrupt = Batch::from_sequences(kCorrupt);
  EXPECT_THROW(path_patch(m, clean, corrupt, {1, 0}, {{1, 2, QKV::Q}}), Error);  // same layer
  EXPECT_THROW(path_patch(m, clean, corrupt, {0, 4}, {}), Error);
  EXPECT_THROW(path_patch(m, clean, corrupt, {0, 0}, {{3, 0, QKV::Q}}), Error);
  Batch shorter = Batch::from_sequences({kCorrupt[0]});
  EXPECT_THROW(path_patch(m, clean, shorter, {0, 0}, {}), Error);
}
