// Generic decoder-only forward pass (GPT-2, GPT-NeoX, Llama, attention-only). Shapes in
// comments: B batch, T tokens, D d_model, H query heads, Hk key/value heads, dh d_head.
#include "model/transformer.h"

#include <cmath>
#include <cstring>

#include "ops/activations.h"
#include "ops/attention.h"
#include "ops/cancel.h"
#include "ops/error.h"
#include "ops/layernorm.h"
#include "ops/matmul.h"
#include "ops/rotary.h"

namespace cs {

namespace {

void hook(const Hooks* hooks, Hook h, int layer, Tensor& t) {
  if (hooks && hooks->active(h, layer)) hooks->run(h, layer, t);
}
bool hooked(const Hooks* hooks, Hook h, int layer) { return hooks && hooks->active(h, layer); }

void normalize(const ModelConfig& c, float* out, const float* inp, const Tensor& w,
               const Tensor& b, int64_t N) {
  if (c.norm == Norm::LayerNorm)
    layernorm_forward(out, nullptr, nullptr, inp, w.ptr(), b.empty() ? nullptr : b.ptr(), N,
                      c.d_model, c.norm_eps);
  else
    rmsnorm_forward(out, nullptr, inp, w.ptr(), N, c.d_model, c.norm_eps);
}

// q, k, v [B,T,H|Hk,dh] from the residual stream (and, for shortformer models, positions).
// When any split-input hook is active, each head reads its own copy of the residual
// ([B,T,H,D]) that the hook may patch; otherwise one GEMM computes all heads.
void project_qkv(const Model& m, int l, const Tensor& resid, const Tensor* pos, const Hooks* hooks,
                 Tensor& q, Tensor& k, Tensor& v) {
  const ModelConfig& c = m.cfg;
  const LayerWeights& lw = m.w.layers[l];
  const int64_t B = resid.dim(0), T = resid.dim(1), D = c.d_model, dh = c.d_head;
  const int64_t H = c.n_heads, Hk = c.n_kv_heads, BT = B * T, W = c.qkv_width();
  q = Tensor::uninit({B, T, H, dh});
  k = Tensor::uninit({B, T, Hk, dh});
  v = Tensor::uninit({B, T, Hk, dh});
  // Column offsets of each block inside W_qkv.
  const int64_t q_col = 0, k_col = H * dh, v_col = (H + Hk) * dh;

  Tensor qk_in_store;  // residual (+ positions) read by q and k
  const Tensor* qk_in = &resid;
  if (pos) {
    qk_in_store = resid;
    for (int64_t i = 0; i < qk_in_store.numel(); ++i) qk_in_store.data[i] += pos->data[i];
    qk_in = &qk_in_store;
  }

  const bool split = hooked(hooks, Hook::q_input, l) || hooked(hooks, Hook::k_input, l) ||
                     hooked(hooks, Hook::v_input, l);
  if (!split) {
    Tensor normed = Tensor::uninit({B, T, D});
    normalize(c, normed.ptr(), resid.ptr(), lw.ln1_w, lw.ln1_b, BT);
    hook(hooks, Hook::ln1_normalized, l, normed);
    Tensor qkv = Tensor::uninit({BT, W});
    if (pos) {
      Tensor normed_qk = Tensor::uninit({B, T, D});
      normalize(c, normed_qk.ptr(), qk_in->ptr(), lw.ln1_w, lw.ln1_b, BT);
      sgemm(false, false, BT, v_col, D, 1.0f, normed_qk.ptr(), D, lw.W_qkv.ptr(), W, 0.0f,
            qkv.ptr(), W);
      sgemm(false, false, BT, Hk * dh, D, 1.0f, normed.ptr(), D, lw.W_qkv.ptr() + v_col, W, 0.0f,
            qkv.ptr() + v_col, W);
    } else {
      sgemm(false, false, BT, W, D, 1.0f, normed.ptr(), D, lw.W_qkv.ptr(), W, 0.0f, qkv.ptr(), W);
    }
    const float* bias = lw.b_qkv.empty() ? nullptr : lw.b_qkv.ptr();
#pragma omp parallel for schedule(static) if (BT * W > 65536)
    for (int64_t r = 0; r < BT; ++r) {
      const float* src = qkv.ptr() + r * W;
      for (int64_t j = 0; j < H * dh; ++j) q.data[r * H * dh + j] = src[q_col + j] + (bias ? bias[q_col + j] : 0.f);
      for (int64_t j = 0; j < Hk * dh; ++j) {
        k.data[r * Hk * dh + j] = src[k_col + j] + (bias ? bias[k_col + j] : 0.f);
        v.data[r * Hk * dh + j] = src[v_col + j] + (bias ? bias[v_col + j] : 0.f);
      }
    }
    return;
  }

  // Split path: per-head residual copies, hooked, normalised and projected head by head.
  auto per_head = [&](Hook h, const Tensor& src, int64_t n, int64_t col, Tensor& out) {
    Tensor in = Tensor::uninit({B, T, n, D});
    for (int64_t r = 0; r < BT; ++r)
      for (int64_t hh = 0; hh < n; ++hh)
        std::memcpy(in.ptr() + (r * n + hh) * D, src.ptr() + r * D, D * sizeof(float));
    hook(hooks, h, l, in);
    Tensor normed = Tensor::uninit({B, T, n, D});
    normalize(c, normed.ptr(), in.ptr(), lw.ln1_w, lw.ln1_b, BT * n);
    for (int64_t hh = 0; hh < n; ++hh) {
      // out[:, hh, :] = normed[:, hh, :] @ W_qkv[:, col + hh*dh : +dh] + b
      sgemm(false, false, BT, dh, D, 1.0f, normed.ptr() + hh * D, n * D,
            lw.W_qkv.ptr() + col + hh * dh, W, 0.0f, out.ptr() + hh * dh, n * dh);
      if (!lw.b_qkv.empty())
        for (int64_t r = 0; r < BT; ++r)
          for (int64_t j = 0; j < dh; ++j)
            out.data[(r * n + hh) * dh + j] += lw.b_qkv.data[col + hh * dh + j];
    }
  };
  per_head(Hook::q_input, *qk_in, H, q_col, q);
  per_head(Hook::k_input, *qk_in, Hk, k_col, k);
  per_head(Hook::v_input, resid, Hk, v_col, v);
}

// Attention of one layer: resid [B,T,D] -> attn_out [B,T,D] (bias included).
Tensor attention_block(const Model& m, int l, const Tensor& resid, const Tensor* pos,
                       const Hooks* hooks, bool stop_at_z = false) {
  const ModelConfig& c = m.cfg;
  const LayerWeights& lw = m.w.layers[l];
  const int64_t B = resid.dim(0), T = resid.dim(1), D = c.d_model, dh = c.d_head;
  const int64_t H = c.n_heads, Hk = c.n_kv_heads, group = H / Hk;

  Tensor q, k, v;
  project_qkv(m, l, resid, pos, hooks, q, k, v);
  hook(hooks, Hook::q, l, q);
  hook(hooks, Hook::k, l, k);
  hook(hooks, Hook::v, l, v);
  if (c.positions == Positions::Rotary) {
    for (int64_t b = 0; b < B; ++b) {
      rotary_forward(q.ptr() + b * T * H * dh, T, H, dh, H * dh, c.rotary_dim, c.rope_theta);
      rotary_forward(k.ptr() + b * T * Hk * dh, T, Hk, dh, Hk * dh, c.rotary_dim, c.rope_theta);
    }
  }

  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  Tensor scores = Tensor::uninit({B, H, T, T});  // [B,H,T,T]
  Tensor z = Tensor::uninit({B, T, H, dh});
  const bool hook_scores = hooked(hooks, Hook::attn_scores, l);
  const bool hook_pattern = hooked(hooks, Hook::pattern, l);
  auto head_scores = [&](int64_t b, int64_t h) {
    attention_scores(scores.ptr() + (b * H + h) * T * T, q.ptr() + b * T * H * dh + h * dh,
                     H * dh, k.ptr() + b * T * Hk * dh + (h / group) * dh, Hk * dh, T, dh, scale);
  };
  auto head_values = [&](int64_t b, int64_t h) {
    attention_values(z.ptr() + b * T * H * dh + h * dh, H * dh, scores.ptr() + (b * H + h) * T * T,
                     v.ptr() + b * T * Hk * dh + (h / group) * dh, Hk * dh, T, dh);
  };
  // Threads only pay off once there is real work per head (tiny test models run faster serially).
  const bool par = B * H * T * T * dh > 32768;
  if (!hook_scores && !hook_pattern) {
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) {
        head_scores(b, h);
        causal_softmax(scores.ptr() + (b * H + h) * T * T, T);
        head_values(b, h);
      }
  } else {
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) head_scores(b, h);
    hook(hooks, Hook::attn_scores, l, scores);
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) causal_softmax(scores.ptr() + (b * H + h) * T * T, T);
    hook(hooks, Hook::pattern, l, scores);
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) head_values(b, h);
  }
  hook(hooks, Hook::z, l, z);
  if (stop_at_z) return {};

  const int64_t BT = B * T;
  Tensor attn_out = Tensor::uninit({B, T, D});
  if (hooked(hooks, Hook::result, l)) {
    Tensor result = Tensor::uninit({B, T, H, D});  // result[b,t,h] = z[b,t,h] @ W_O[h]
    for (int64_t h = 0; h < H; ++h)
      sgemm(false, false, BT, D, dh, 1.0f, z.ptr() + h * dh, H * dh, lw.W_O.ptr() + h * dh * D, D,
            0.0f, result.ptr() + h * D, H * D);
    hook(hooks, Hook::result, l, result);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < BT; ++r) {
      float* o = attn_out.ptr() + r * D;
      for (int64_t d = 0; d < D; ++d) o[d] = lw.b_O.empty() ? 0.0f : lw.b_O.data[d];
      for (int64_t h = 0; h < H; ++h) {
        const float* rr = result.ptr() + (r * H + h) * D;
        for (int64_t d = 0; d < D; ++d) o[d] += rr[d];
      }
    }
  } else {
    matmul(attn_out.ptr(), z.ptr(), lw.W_O.ptr(), lw.b_O.empty() ? nullptr : lw.b_O.ptr(), BT,
           H * dh, D);
  }
  hook(hooks, Hook::attn_out, l, attn_out);
  return attn_out;
}

// MLP of one layer: the residual it reads [B,T,D] -> mlp_out [B,T,D].
Tensor mlp_block(const Model& m, int l, Tensor mlp_in, const Hooks* hooks) {
  const ModelConfig& c = m.cfg;
  const LayerWeights& lw = m.w.layers[l];
  const int64_t B = mlp_in.dim(0), T = mlp_in.dim(1), D = c.d_model, F = c.d_mlp, BT = B * T;
  hook(hooks, Hook::mlp_in, l, mlp_in);
  Tensor normed = Tensor::uninit({B, T, D});
  normalize(c, normed.ptr(), mlp_in.ptr(), lw.ln2_w, lw.ln2_b, BT);
  hook(hooks, Hook::ln2_normalized, l, normed);
  Tensor pre = Tensor::uninit({B, T, F}), post = Tensor::uninit({B, T, F});
  const float* b_in = lw.b_in.empty() ? nullptr : lw.b_in.ptr();
  if (gated(c.act)) {
    Tensor up = Tensor::uninit({B, T, F});
    matmul(pre.ptr(), normed.ptr(), lw.W_gate.ptr(), nullptr, BT, D, F);
    matmul(up.ptr(), normed.ptr(), lw.W_in.ptr(), b_in, BT, D, F);
    hook(hooks, Hook::mlp_pre, l, pre);
    if (c.act == Activation::SwiGLU) swiglu_forward(post.ptr(), pre.ptr(), up.ptr(), BT * F);
    else geglu_forward(post.ptr(), pre.ptr(), up.ptr(), BT * F);
  } else {
    matmul(pre.ptr(), normed.ptr(), lw.W_in.ptr(), b_in, BT, D, F);
    hook(hooks, Hook::mlp_pre, l, pre);
    if (c.act == Activation::GeluNew) gelu_new_forward(post.ptr(), pre.ptr(), BT * F);
    else if (c.act == Activation::GeluErf) gelu_erf_forward(post.ptr(), pre.ptr(), BT * F);
    else
      for (int64_t i = 0; i < BT * F; ++i) post.data[i] = pre.data[i] > 0 ? pre.data[i] : 0.0f;
  }
  hook(hooks, Hook::mlp_post, l, post);
  Tensor out = Tensor::uninit({B, T, D});
  matmul(out.ptr(), post.ptr(), lw.W_out.ptr(), lw.b_out.empty() ? nullptr : lw.b_out.ptr(), BT,
         F, D);
  hook(hooks, Hook::mlp_out, l, out);
  return out;
}

void add_inplace(Tensor& a, const Tensor& b) {
  float* pa = a.ptr();
  const float* pb = b.ptr();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) pa[i] += pb[i];
}

}  // namespace

Tensor forward(const Model& m, const Batch& batch, const Hooks* hooks, const ForwardOptions& opts) {
  const ModelConfig& c = m.cfg;
  const int64_t B = batch.B, T = batch.T, D = c.d_model, V = c.vocab_size;
  if (B <= 0 || T <= 0) throw Error("forward: empty batch");
  // n_ctx bounds rotary models too: their training context, or a sliding window (Mistral).
  if (T > c.n_ctx)
    throw Error("prompt of " + std::to_string(T) + " tokens is longer than the model's context (" +
                std::to_string(c.n_ctx) + "): shorten the prompt");
  for (int32_t t : batch.tokens)
    if (t < 0 || t >= V)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary (size " +
                  std::to_string(V) + "): the tokenizer does not match the model");

  const int first_layer = opts.start_at_layer;
  if (first_layer < 0 || first_layer >= c.n_layers)
    throw Error("forward: start_at_layer " + std::to_string(first_layer) + " is outside 0.." +
                std::to_string(c.n_layers - 1));
  if (first_layer > 0 && (!opts.start_resid || opts.start_resid->shape != std::vector<int64_t>{B, T, D}))
    throw Error("forward: start_at_layer needs the residual stream [B,T,D] entering that layer");
  Tensor resid = Tensor::uninit({B, T, D});
  if (first_layer == 0) {
    for (int64_t i = 0; i < B * T; ++i)
      std::memcpy(resid.ptr() + i * D, m.w.W_E.ptr() + static_cast<int64_t>(batch.tokens[i]) * D,
                  D * sizeof(float));
    hook(hooks, Hook::embed, -1, resid);
  } else {
    std::memcpy(resid.ptr(), opts.start_resid->ptr(), B * T * D * sizeof(float));
  }
  Tensor pos;
  if (c.positions != Positions::Rotary) {
    pos = Tensor::uninit({B, T, D});
    for (int64_t b = 0; b < B; ++b)
      std::memcpy(pos.ptr() + b * T * D, m.w.W_pos.ptr(), T * D * sizeof(float));
    if (first_layer == 0) {
      hook(hooks, Hook::pos_embed, -1, pos);
      if (c.positions == Positions::Learned) add_inplace(resid, pos);
    }
  }
  const Tensor* qk_pos = c.positions == Positions::Shortformer ? &pos : nullptr;

  int last_layer = opts.stop_after_layer >= 0 ? std::min(opts.stop_after_layer, c.n_layers - 1)
                                              : c.n_layers - 1;
  if (opts.stop_at_z && opts.stop_after_layer < 0)
    throw Error("forward: stop_at_z needs stop_after_layer (the layer whose hook_z ends the pass)");
  for (int l = first_layer; l <= last_layer; ++l) {
    check_cancelled();
    hook(hooks, Hook::resid_pre, l, resid);
    if (opts.stop_at_z && l == last_layer) {
      attention_block(m, l, resid, qk_pos, hooks, /*stop_at_z=*/true);
      return {};
    }
    Tensor attn_out = attention_block(m, l, resid, qk_pos, hooks);
    if (c.attn_only) {
      add_inplace(resid, attn_out);
    } else if (c.parallel_residual) {
      Tensor mlp_out = mlp_block(m, l, resid, hooks);
      add_inplace(resid, attn_out);
      add_inplace(resid, mlp_out);
    } else {
      add_inplace(resid, attn_out);
      hook(hooks, Hook::resid_mid, l, resid);
      Tensor mlp_out = mlp_block(m, l, resid, hooks);
      add_inplace(resid, mlp_out);
    }
    hook(hooks, Hook::resid_post, l, resid);
  }
  if (opts.stop_after_layer >= 0 && opts.stop_after_layer < c.n_layers - 1) return {};

  // Final norm and unembedding, only at the rows whose logits are wanted.
  if (opts.logits == LogitsAt::None && !hooked(hooks, Hook::ln_final_normalized, -1)) return {};
  Tensor normed = Tensor::uninit({B, T, D});
  normalize(c, normed.ptr(), resid.ptr(), m.w.lnf_w, m.w.lnf_b, B * T);
  hook(hooks, Hook::ln_final_normalized, -1, normed);
  if (opts.logits == LogitsAt::None) return {};
  const float* b_U = m.w.b_U.empty() ? nullptr : m.w.b_U.ptr();
  if (opts.logits == LogitsAt::All) {
    Tensor logits = Tensor::uninit({B, T, V});
    matmul_nt(logits.ptr(), normed.ptr(), m.w.W_U.ptr(), b_U, B * T, D, V);
    return logits;
  }
  Tensor rows = Tensor::uninit({B, D});
  for (int64_t b = 0; b < B; ++b)
    std::memcpy(rows.ptr() + b * D, normed.ptr() + (b * T + batch.last(b)) * D, D * sizeof(float));
  if (opts.vocab_columns) {
    const std::vector<int>& cols = *opts.vocab_columns;
    const int64_t K = static_cast<int64_t>(cols.size());
    Tensor w = Tensor::uninit({K, D}), bias = Tensor::uninit({K});
    for (int64_t k = 0; k < K; ++k) {
      if (cols[k] < 0 || cols[k] >= V)
        throw Error("forward: vocabulary column " + std::to_string(cols[k]) + " is outside the vocabulary");
      std::memcpy(w.ptr() + k * D, m.w.W_U.ptr() + static_cast<int64_t>(cols[k]) * D, D * sizeof(float));
      bias.ptr()[k] = b_U ? b_U[cols[k]] : 0.0f;
    }
    Tensor logits = Tensor::uninit({B, K});
    matmul_nt(logits.ptr(), rows.ptr(), w.ptr(), bias.ptr(), B, D, K);
    return logits;
  }
  Tensor logits = Tensor::uninit({B, V});
  matmul_nt(logits.ptr(), rows.ptr(), m.w.W_U.ptr(), b_U, B, D, V);
  return logits;
}

}  // namespace cs
