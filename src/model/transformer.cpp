// Generic decoder-only forward pass (GPT-2, GPT-NeoX, Llama, Gemma 1/2, attention-only). Shapes in
// comments: B batch, T tokens, D d_model, H query heads, Hk key/value heads, dh d_head.
#include "model/transformer.h"

#include <algorithm>
#include <cstring>

#include "model/blocks.h"
#include "ops/cancel.h"
#include "ops/error.h"
#include "ops/gemm.h"

namespace cs {

namespace {

void hook(const Hooks* hooks, Hook h, int layer, Tensor& t) {
  if (hooks && hooks->active(h, layer)) hooks->run(h, layer, t);
}
bool hooked(const Hooks* hooks, Hook h, int layer) { return hooks && hooks->active(h, layer); }
// The tap norm_rows_tapped runs at a norm's hook_normalized (t is the buffer it writes); none
// when the point is not hooked.
std::function<void()> tap(const Hooks* hooks, Hook h, int layer, Tensor& t) {
  if (!hooked(hooks, h, layer)) return nullptr;
  return [hooks, h, layer, &t] { hooks->run(h, layer, t); };
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
  const int64_t q_col = 0, k_col = qkv_column(c, Qkv::K, 0), v_col = qkv_column(c, Qkv::V, 0);

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
    norm_rows_tapped(c, normed.ptr(), resid.ptr(), lw.ln1_w, lw.ln1_b, BT,
                     tap(hooks, Hook::ln1_normalized, l, normed));
    Tensor qkv = Tensor::uninit({BT, W});
    if (pos) {
      Tensor normed_qk = Tensor::uninit({B, T, D});
      norm_rows(c, normed_qk.ptr(), qk_in->ptr(), lw.ln1_w, lw.ln1_b, BT);
      const MatRef Wqkv = lw.W_qkv.mat();
      gemm(qkv.ptr(), W, normed_qk.ptr(), D, BT, Wqkv.block(0, D, 0, v_col), false, m.precision);
      gemm(qkv.ptr() + v_col, W, normed.ptr(), D, BT, Wqkv.block(0, D, v_col, Hk * dh), false,
           m.precision);
    } else {
      gemm(qkv.ptr(), W, normed.ptr(), D, BT, lw.W_qkv.mat(), false, m.precision);
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
  auto per_head = [&](Hook h, const Tensor& src, int64_t n, Qkv part, Tensor& out) {
    Tensor in = Tensor::uninit({B, T, n, D});
    for (int64_t r = 0; r < BT; ++r)
      for (int64_t hh = 0; hh < n; ++hh)
        std::memcpy(in.ptr() + (r * n + hh) * D, src.ptr() + r * D, D * sizeof(float));
    hook(hooks, h, l, in);
    Tensor normed = Tensor::uninit({B, T, n, D});
    norm_rows(c, normed.ptr(), in.ptr(), lw.ln1_w, lw.ln1_b, BT * n);
    for (int64_t hh = 0; hh < n; ++hh)
      head_projection(c, lw, part, hh, normed.ptr() + hh * D, n * D, BT, out.ptr() + hh * dh, n * dh,
                      m.precision);
  };
  per_head(Hook::q_input, *qk_in, H, Qkv::Q, q);
  per_head(Hook::k_input, *qk_in, Hk, Qkv::K, k);
  per_head(Hook::v_input, resid, Hk, Qkv::V, v);
}

// Attention of one layer: resid [B,T,D] -> attn_out [B,T,D] (bias included).
Tensor attention_block(const Model& m, int l, const Tensor& resid, const Tensor* pos,
                       const Hooks* hooks, bool stop_at_z = false) {
  const ModelConfig& c = m.cfg;
  const LayerWeights& lw = m.w.layers[l];
  const int64_t B = resid.dim(0), T = resid.dim(1), D = c.d_model, dh = c.d_head;
  const int64_t H = c.n_heads, Hk = c.n_kv_heads;
  const Attention attn(c, l);

  Tensor q, k, v;
  project_qkv(m, l, resid, pos, hooks, q, k, v);
  hook(hooks, Hook::q, l, q);
  hook(hooks, Hook::k, l, k);
  hook(hooks, Hook::v, l, v);
  for (int64_t b = 0; b < B; ++b) {
    attn.rotate(q.ptr() + b * T * H * dh, T, H, H * dh);
    attn.rotate(k.ptr() + b * T * Hk * dh, T, Hk, Hk * dh);
  }

  Tensor scores = Tensor::uninit({B, H, T, T});  // [B,H,T,T]
  Tensor z = Tensor::uninit({B, T, H, dh});
  const bool hook_scores = hooked(hooks, Hook::attn_scores, l);
  const bool hook_pattern = hooked(hooks, Hook::pattern, l);
  // Head h of sequence b: its rows of q and z, its kv head's rows of k and v, its [T,T] scores.
  auto qz = [&](int64_t b, int64_t h) { return b * T * H * dh + h * dh; };
  auto kv = [&](int64_t b, int64_t h) { return b * T * Hk * dh + attn.kv_head(h) * dh; };
  auto sc = [&](int64_t b, int64_t h) { return scores.ptr() + (b * H + h) * T * T; };
  // Threads only pay off once there is real work per head (tiny test models run faster serially).
  const bool par = B * H * T * T * dh > 32768;
  if (!hook_scores && !hook_pattern) {
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        attn.head(z.ptr() + qz(b, h), H * dh, sc(b, h), q.ptr() + qz(b, h), H * dh,
                  k.ptr() + kv(b, h), v.ptr() + kv(b, h), Hk * dh, T);
  } else {
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        attn.scores(sc(b, h), q.ptr() + qz(b, h), H * dh, k.ptr() + kv(b, h), Hk * dh, T);
    hook(hooks, Hook::attn_scores, l, scores);
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h) attn.softmax(sc(b, h), T);
    hook(hooks, Hook::pattern, l, scores);
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        attn.values(z.ptr() + qz(b, h), H * dh, sc(b, h), v.ptr() + kv(b, h), Hk * dh, T);
  }
  hook(hooks, Hook::z, l, z);
  if (stop_at_z) return {};

  const int64_t BT = B * T;
  Tensor attn_out = Tensor::uninit({B, T, D});
  if (hooked(hooks, Hook::result, l)) {
    Tensor result = Tensor::uninit({B, T, H, D});  // result[b,t,h] = z[b,t,h] @ W_O[h]
    for (int64_t h = 0; h < H; ++h)
      head_output(c, lw, h, z.ptr() + h * dh, H * dh, BT, result.ptr() + h * D, H * D, m.precision);
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
    matmul(attn_out.ptr(), z.ptr(), lw.W_O.mat(), lw.b_O.empty() ? nullptr : lw.b_O.ptr(), BT,
           m.precision);
  }
  post_norm(c, lw.ln1_post_w, attn_out.ptr(), BT,  // Gemma 2's ln1_post, before hook_attn_out
            tap(hooks, Hook::ln1_post_normalized, l, attn_out));
  hook(hooks, Hook::attn_out, l, attn_out);
  return attn_out;
}

// MLP of one layer: the residual it reads [B,T,D] -> mlp_out [B,T,D].
Tensor mlp_block(const Model& m, int l, Tensor mlp_in, const Hooks* hooks) {
  const ModelConfig& c = m.cfg;
  const int64_t B = mlp_in.dim(0), T = mlp_in.dim(1), D = c.d_model, F = c.d_mlp;
  hook(hooks, Hook::mlp_in, l, mlp_in);
  Tensor normed = Tensor::uninit({B, T, D});
  Tensor pre = Tensor::uninit({B, T, F}), post = Tensor::uninit({B, T, F}), up;
  if (gated(c.act)) up = Tensor::uninit({B, T, F});
  Tensor out = Tensor::uninit({B, T, D});
  const bool tapped = hooked(hooks, Hook::ln2_normalized, l) || hooked(hooks, Hook::mlp_pre, l) ||
                      hooked(hooks, Hook::mlp_post, l) || hooked(hooks, Hook::ln2_post_normalized, l);
  auto buffer = [&](Hook h) -> Tensor& {
    return h == Hook::ln2_normalized ? normed : h == Hook::mlp_pre ? pre : h == Hook::mlp_post ? post : out;
  };
  mlp(c, m.w.layers[l], mlp_in.ptr(), B * T, {normed.ptr(), pre.ptr(), up.ptr(), post.ptr()},
      out.ptr(), m.precision,
      tapped ? std::function<void(Hook)>([&](Hook h) { hook(hooks, h, l, buffer(h)); }) : nullptr);
  hook(hooks, Hook::mlp_out, l, out);
  return out;
}

void add_inplace(Tensor& a, const Tensor& b) {
  float* pa = a.ptr();
  const float* pb = b.ptr();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (parallel: n > 65536)
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
    for (int64_t i = 0; i < B * T; ++i) {
      float* row = resid.ptr() + i * D;
      m.w.W_E.rows_f32(batch.tokens[i], 1, row);  // any dtype
      if (c.embed_scale != 1.0f)
        for (int64_t d = 0; d < D; ++d) row[d] *= c.embed_scale;
    }
    hook(hooks, Hook::embed, -1, resid);
  } else {
    std::memcpy(resid.ptr(), opts.start_resid->ptr(), B * T * D * sizeof(float));
  }
  Tensor pos;
  if (c.positions != Positions::Rotary) {
    pos = Tensor::uninit({B, T, D});
    m.w.W_pos.rows_f32(0, T, pos.ptr());
    for (int64_t b = 1; b < B; ++b) std::memcpy(pos.ptr() + b * T * D, pos.ptr(), T * D * sizeof(float));
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
  const bool hook_final = hooked(hooks, Hook::ln_final_normalized, -1);
  if (opts.logits == LogitsAt::None && !hook_final) return {};
  const Unembedding unembed(m, opts.logits == LogitsAt::Last && opts.vocab_columns
                                   ? *opts.vocab_columns : std::vector<int32_t>{});
  const int64_t K = unembed.columns();
  Tensor normed;
  if (hook_final || opts.logits == LogitsAt::All) {
    normed = Tensor::uninit({B, T, D});
    norm_rows_tapped(c, normed.ptr(), resid.ptr(), m.w.lnf_w, m.w.lnf_b, B * T,
                     tap(hooks, Hook::ln_final_normalized, -1, normed));
  }
  if (opts.logits == LogitsAt::None) return {};
  if (opts.logits == LogitsAt::All) {
    Tensor logits = Tensor::uninit({B, T, K});
    unembed.logits(logits.ptr(), normed.ptr(), B * T);
    return logits;
  }
  Tensor logits = Tensor::uninit({B, K});  // [B,V] or [B,K]: each sequence's last real token
  if (hook_final) {
    Tensor rows = Tensor::uninit({B, D});
    gather_rows(rows.ptr(), normed.ptr(), batch.last_positions(), D);
    unembed.logits(logits.ptr(), rows.ptr(), B);
  } else {
    unembed.logits_at(logits.ptr(), resid.ptr(), batch.last_positions());
  }
  return logits;
}

}  // namespace cs
