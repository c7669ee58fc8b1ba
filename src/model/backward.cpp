// Backward pass of transformer.cpp's forward, block by block in reverse (llm.c's gpt2_backward,
// generalised to the architectures ModelConfig describes). Shapes in comments: B batch, T tokens,
// D d_model, H query heads, Hk key/value heads, dh d_head, F d_mlp, W = (H + 2 Hk) dh, V' logits.
#include "model/backward.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "model/blocks.h"
#include "model/transformer.h"
#include "ops/attention_backward.h"
#include "ops/cancel.h"
#include "ops/cross_entropy_backward.h"
#include "ops/error.h"
#include "ops/gemm.h"
#include "ops/matmul.h"
#include "ops/matmul_backward.h"

namespace cs {

namespace {

float* opt(Tensor& t) { return t.empty() ? nullptr : t.ptr(); }
const float* opt(const Tensor& t) { return t.empty() ? nullptr : t.ptr(); }

// fn(x) for every parameter, x a Weight& (matrices) or a Tensor& (norms, biases).
template <class Fn>
void for_each_tensor(Weights& w, Fn fn) {
  for (Weight* t : {&w.W_E, &w.W_pos, &w.W_U}) fn(*t);
  for (Tensor* t : {&w.lnf_w, &w.lnf_b, &w.b_U}) fn(*t);
  for (LayerWeights& l : w.layers) {
    for (Weight* t : {&l.W_qkv, &l.W_O, &l.W_in, &l.W_gate, &l.W_out}) fn(*t);
    for (Tensor* t : {&l.ln1_w, &l.ln1_b, &l.b_qkv, &l.b_O, &l.ln2_w, &l.ln2_b, &l.b_in, &l.b_out,
                      &l.ln1_post_w, &l.ln2_post_w})
      fn(*t);
  }
}

// Backward of out[M,N] = inp[M,K] @ W[K,N] + bias (W any dtype): dinp += dout W^T (in the
// model's precision); dW (f32 weights only: the trainer's) and dbias as matmul_backward.
void linear_backward(float* dinp, float* dW, float* dbias, const float* dout, const float* inp,
                     const Weight& W, int64_t M, Precision prec) {
  const int64_t K = W.dim(0), N = W.dim(1);
  if (dinp) gemm(dinp, K, dout, N, M, W.mat().t(), true, prec);
  matmul_backward(nullptr, dW, dbias, dout, inp, nullptr, M, K, N);
}

void add_into(float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (parallel: n > 65536)
  for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

struct Dims {
  int64_t B, T, BT, D, H, Hk, dh, F, W;
  Dims(const ModelConfig& c, int b, int t)
      : B(b), T(t), BT(int64_t{b} * t), D(c.d_model), H(c.n_heads), Hk(c.n_kv_heads),
        dh(c.d_head), F(c.d_mlp), W(c.qkv_width()) {}
};

// Whether the forward of model c runs hook point p (ignoring the split q/k/v inputs' effect).
bool passes_through(const ModelConfig& c, const HookPoint& p) {
  switch (p.hook) {
    case Hook::embed:
    case Hook::ln_final_normalized: return p.layer == -1;
    case Hook::pos_embed: return p.layer == -1 && c.positions != Positions::Rotary;
    default: break;
  }
  if (p.layer < 0 || p.layer >= c.n_layers) return false;
  switch (p.hook) {
    case Hook::resid_mid: return !c.attn_only && !c.parallel_residual;
    case Hook::ln1_post_normalized: return c.post_norms;
    case Hook::ln2_post_normalized: return c.post_norms && !c.attn_only;
    case Hook::mlp_in:
    case Hook::ln2_normalized:
    case Hook::mlp_pre:
    case Hook::mlp_post:
    case Hook::mlp_out: return !c.attn_only;
    default: return true;
  }
}

// The requested hook points; gradients are copied out only for those.
class HookGrads {
 public:
  HookGrads(const ModelConfig& c, const BackwardRequest& req, ActivationCache* out) : out_(out) {
    want_.insert(req.points.begin(), req.points.end());
    if (!want_.empty() && !out)
      throw Error("backward: hook points were requested but no ActivationCache was given");
    for (const HookPoint& p : want_)
      if (!passes_through(c, p))
        throw Error("backward: the forward of this model has no hook point " + p.name() + " (" +
                    std::to_string(c.n_layers) + " layers" + (c.attn_only ? ", attention only" : "") +
                    (c.parallel_residual ? ", parallel residual" : "") + ")");
  }
  bool wants(Hook h, int l) const { return want_.count({h, l}) > 0; }
  // The lowest layer whose backward a requested point needs (-1: the embeddings too).
  int lowest_layer(int n_layers) const {
    int r = n_layers;
    for (const HookPoint& p : want_) {
      if (p.hook == Hook::ln_final_normalized) continue;
      if (p.layer < 0) return -1;
      r = std::min(r, p.layer);
    }
    return r;
  }
  void put(Hook h, int l, std::vector<int64_t> shape, const float* data) const {
    if (!wants(h, l)) return;
    Tensor t(std::move(shape));
    std::memcpy(t.ptr(), data, t.numel() * sizeof(float));
    (*out_)[HookPoint{h, l}.name()] = std::move(t);
  }
  // A norm's hook_normalized, which the norm's weight w [D] multiplies: d/d(normalized) =
  // d/d(output) * w, from dout [B,T,D] = d/d(output).
  void put_normalized(Hook h, int l, std::vector<int64_t> shape, const float* dout,
                      const Tensor& w) const {
    if (!wants(h, l)) return;
    Tensor t(std::move(shape));
    const int64_t D = w.numel();
    for (int64_t i = 0; i < t.numel(); ++i) t.data[i] = dout[i] * w.data[i % D];
    (*out_)[HookPoint{h, l}.name()] = std::move(t);
  }

 private:
  std::set<HookPoint> want_;
  ActivationCache* out_;
};

// norm_rows of the forward on N rows of x [N,D] -> [N,D].
Tensor norm_forward(const ModelConfig& c, const float* x, const Tensor& w, const Tensor& b, int64_t N) {
  Tensor out = Tensor::uninit({N, c.d_model});
  norm_rows(c, out.ptr(), x, w, b, N);
  return out;
}

// Gemma 2's post-norm on a block's output y = norm(x W + b), x [N,K] as recorded: d/d(x W + b)
// [N,D] from dout = d/dy (the norm's input is recomputed, one GEMM); dw [D] += (null: skipped),
// from normalized [N,D] if given (the value a hook left at its hook_normalized).
Tensor through_post_norm(const Model& m, const float* x, const Weight& W, const Tensor& b,
                         const Tensor& norm_w, float* dw, const float* dout, int64_t N,
                         const float* normalized) {
  const int64_t D = m.cfg.d_model;
  Tensor raw = Tensor::uninit({N, D}), draw = Tensor::uninit({N, D});
  matmul(raw.ptr(), x, W.mat(), opt(b), N, m.precision);
  post_norm_backward(m.cfg, draw.ptr(), dw, dout, raw.ptr(), norm_w, N, normalized);
  return draw;
}

// Final norm and unembedding: dlogits [BT,V'] -> dresid [BT,D] (+=).
void unembed_backward(const Model& m, const ForwardRecord& rec, const Dims& d,
                      const Tensor& dlogits, Weights* g, const HookGrads& hg, float* dresid) {
  const bool subset = !rec.vocab_rows.empty();
  const int64_t V = rec.unembed.columns();
  const MatRef W_U = rec.unembed.W();  // [V',D], any dtype
  const int64_t D = d.D;
  Tensor uncapped;  // Gemma 2: d/d the logits before the final soft-cap
  if (m.cfg.final_softcap > 0) {
    uncapped = dlogits;
    rec.unembed.softcap_backward(uncapped.ptr(), rec.logits.ptr(), uncapped.numel() / V);
  }
  const Tensor& dlog = m.cfg.final_softcap > 0 ? uncapped : dlogits;

  // Only rows with a non-zero gradient enter the GEMMs (a metric at the last position has one per
  // sequence). Row r of dlogits is position pos(r).
  const bool packed = !rec.logit_positions.empty();
  const int64_t R = packed ? static_cast<int64_t>(rec.logit_positions.size()) : d.BT;
  auto pos = [&](int64_t r) { return packed ? rec.logit_positions[r] : r; };
  std::vector<int64_t> live;
  for (int64_t r = 0; r < R; ++r) {
    const float* row = dlog.ptr() + r * V;
    if (std::any_of(row, row + V, [](float x) { return x != 0.0f; })) live.push_back(r);
  }
  const int64_t n = static_cast<int64_t>(live.size());
  const bool all = !packed && n == d.BT;
  Tensor dl_live, x_live;  // [n,V'], [n,D]
  if (!all) {
    dl_live = Tensor({n, V});
    x_live = Tensor({n, D});
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(dl_live.ptr() + i * V, dlog.ptr() + live[i] * V, V * sizeof(float));
      std::memcpy(x_live.ptr() + i * D, rec.ln_final.ptr() + pos(live[i]) * D, D * sizeof(float));
    }
  }
  const float* dl = all ? dlog.ptr() : dl_live.ptr();
  const float* x = all ? rec.ln_final.ptr() : x_live.ptr();

  Tensor dnormed({d.B, d.T, D});
  Tensor dn_live({n, D});
  gemm(all ? dnormed.ptr() : dn_live.ptr(), D, dl, V, n, W_U, false, m.precision);
  if (!all)  // positions are distinct (forward_record checks), so each row lands once
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(dnormed.ptr() + pos(live[i]) * D, dn_live.ptr() + i * D, D * sizeof(float));

  if (g && n > 0) {
    const bool has_b = !g->b_U.empty();
    if (!subset) {
      sgemm(true, false, V, D, n, 1.0f, dl, V, x, D, 1.0f, g->W_U.ptr(), D);
      if (has_b) bias_backward(g->b_U.ptr(), dl, n, V, V);
    } else {  // gradient of the gathered rows, scattered back
      Tensor dW({V, D}), db({V});
      sgemm(true, false, V, D, n, 1.0f, dl, V, x, D, 0.0f, dW.ptr(), D);
      bias_backward(db.ptr(), dl, n, V, V);
      for (int64_t i = 0; i < V; ++i) {
        const int64_t row = rec.vocab_rows[i];
        add_into(g->W_U.ptr() + row * D, dW.ptr() + i * D, D);
        if (has_b) g->b_U.data[row] += db.data[i];
      }
    }
  }
  hg.put_normalized(Hook::ln_final_normalized, -1, {d.B, d.T, D}, dnormed.ptr(), m.w.lnf_w);
  norm_rows_backward(m.cfg, dresid, g ? opt(g->lnf_w) : nullptr, g ? opt(g->lnf_b) : nullptr,
                dnormed.ptr(), rec.resid_final.ptr(), m.w.lnf_w, m.w.lnf_b, d.BT,
                rec.normalized_at(Hook::ln_final_normalized, -1));
}

// MLP of layer l: dout = d/d mlp_out [BT,D] -> dmlp_in [BT,D] (overwritten).
void mlp_backward(const Model& m, int l, const LayerRecord& r, const ForwardRecord& rec,
                  const Dims& d, const float* dout,
                  float* dmlp_in, LayerWeights* g, const HookGrads& hg) {
  const ModelConfig& c = m.cfg;
  const LayerWeights& lw = m.w.layers[l];
  const int64_t BT = d.BT, D = d.D, F = d.F;
  hg.put(Hook::mlp_out, l, {d.B, d.T, D}, dout);
  Tensor draw;  // Gemma 2: through ln2_post
  if (c.post_norms) {
    hg.put_normalized(Hook::ln2_post_normalized, l, {d.B, d.T, D}, dout, lw.ln2_post_w);
    draw = through_post_norm(m, r.mlp_post.ptr(), lw.W_out, lw.b_out, lw.ln2_post_w,
                             g ? opt(g->ln2_post_w) : nullptr, dout, BT,
                             rec.normalized_at(Hook::ln2_post_normalized, l));
    dout = draw.ptr();
  }

  Tensor dpost({d.B, d.T, F});
  linear_backward(dpost.ptr(), g ? g->W_out.ptr() : nullptr, g ? opt(g->b_out) : nullptr, dout,
                  r.mlp_post.ptr(), lw.W_out, BT, m.precision);
  hg.put(Hook::mlp_post, l, {d.B, d.T, F}, dpost.ptr());

  Tensor dpre({d.B, d.T, F}), dnormed({d.B, d.T, D});
  float* gW_in = g ? g->W_in.ptr() : nullptr;
  float* gb_in = g ? opt(g->b_in) : nullptr;
  if (gated(c.act)) {  // post = act(gate) * up; up was not hooked: recompute it
    Tensor up({BT, F}), dup({BT, F});
    matmul(up.ptr(), r.ln2.ptr(), lw.W_in.mat(), opt(lw.b_in), BT, m.precision);
    mlp_activation_backward(c, dpre.ptr(), dup.ptr(), r.mlp_pre.ptr(), up.ptr(), dpost.ptr(), BT * F);
    linear_backward(dnormed.ptr(), gW_in, gb_in, dup.ptr(), r.ln2.ptr(), lw.W_in, BT, m.precision);
    linear_backward(dnormed.ptr(), g ? g->W_gate.ptr() : nullptr, nullptr, dpre.ptr(),
                    r.ln2.ptr(), lw.W_gate, BT, m.precision);
  } else {
    mlp_activation_backward(c, dpre.ptr(), nullptr, r.mlp_pre.ptr(), nullptr, dpost.ptr(), BT * F);
    linear_backward(dnormed.ptr(), gW_in, gb_in, dpre.ptr(), r.ln2.ptr(), lw.W_in, BT, m.precision);
  }
  hg.put(Hook::mlp_pre, l, {d.B, d.T, F}, dpre.ptr());
  hg.put_normalized(Hook::ln2_normalized, l, {d.B, d.T, D}, dnormed.ptr(), lw.ln2_w);

  std::fill(dmlp_in, dmlp_in + BT * D, 0.0f);
  norm_rows_backward(c, dmlp_in, g ? g->ln2_w.ptr() : nullptr, g ? opt(g->ln2_b) : nullptr,
                dnormed.ptr(), r.mlp_in.ptr(), lw.ln2_w, lw.ln2_b, BT,
                rec.normalized_at(Hook::ln2_normalized, l));
  hg.put(Hook::mlp_in, l, {d.B, d.T, D}, dmlp_in);
}

// n per-head copies [BT,n,D] of x [BT,D]: the split q/k/v input of a forward that did not split.
Tensor broadcast_heads(const float* x, int64_t BT, int64_t n, int64_t D) {
  Tensor out({BT, n, D});
  for (int64_t r = 0; r < BT; ++r)
    for (int64_t h = 0; h < n; ++h)
      std::memcpy(out.ptr() + (r * n + h) * D, x + r * D, D * sizeof(float));
  return out;
}

// One of q/k/v seen per head: head h reads its own input row X[r,h,:] through ln1 and the columns
// col0 + h dh .. + dh of W_qkv. Returns dX [BT,n,D] (the hook_{q,k,v}_input gradient) and, if g,
// accumulates the W_qkv and ln1 gradients.
Tensor per_head_input_backward(const ModelConfig& c, const LayerWeights& lw, const Dims& d,
                               const float* X, const float* dqkv, int64_t n, int64_t col0,
                               LayerWeights* g, Precision prec) {
  const int64_t BT = d.BT, D = d.D, dh = d.dh, W = d.W;
  Tensor dn({BT, n, D});
  for (int64_t h = 0; h < n; ++h)  // dn[:,h,:] = dy_h W_h^T
    gemm(dn.ptr() + h * D, n * D, dqkv + col0 + h * dh, W, BT,
         lw.W_qkv.mat().block(0, D, col0 + h * dh, dh).t(), false, prec);
  if (g) {
    Tensor normed = norm_forward(c, X, lw.ln1_w, lw.ln1_b, BT * n);
    for (int64_t h = 0; h < n; ++h)  // dW_h += normed_h^T dy_h
      sgemm(true, false, D, dh, BT, 1.0f, normed.ptr() + h * D, n * D, dqkv + col0 + h * dh, W,
            1.0f, g->W_qkv.ptr() + col0 + h * dh, W);
  }
  Tensor dX({d.B, d.T, n, D});
  norm_rows_backward(c, dX.ptr(), g ? g->ln1_w.ptr() : nullptr, g ? opt(g->ln1_b) : nullptr, dn.ptr(),
                X, lw.ln1_w, lw.ln1_b, BT * n);
  return dX;
}

// dres [BT,D] += the sum over heads of dX [BT,n,D].
void sum_heads_into(float* dres, const Tensor& dX, int64_t BT, int64_t n, int64_t D) {
#pragma omp parallel for schedule(static) if (BT * n * D > 65536)
  for (int64_t r = 0; r < BT; ++r)
    for (int64_t h = 0; h < n; ++h) {
      const float* src = dX.ptr() + (r * n + h) * D;
      for (int64_t i = 0; i < D; ++i) dres[r * D + i] += src[i];
    }
}

// ln1 and the q/k/v projection, given dqkv [BT,W]: dresid (+=), dpos (+=, shortformer).
void qkv_input_backward(const Model& m, int l, const LayerRecord& r, const ForwardRecord& rec,
                        const Dims& d, const float* dqkv, float* dresid, float* dpos,
                        LayerWeights* g, const HookGrads& hg) {
  const ModelConfig& c = m.cfg;
  const LayerWeights& lw = m.w.layers[l];
  const int64_t BT = d.BT, D = d.D, W = d.W;
  const int64_t k_col = d.H * d.dh, v_col = (d.H + d.Hk) * d.dh;
  const bool shortformer = c.positions == Positions::Shortformer;
  if (g && !g->b_qkv.empty()) bias_backward(g->b_qkv.ptr(), dqkv, BT, W, W);

  Tensor qk_in;  // what q and k read: resid (+ positions for shortformer models)
  const float* qk_x = r.resid_pre.ptr();
  if (shortformer) {
    qk_in = r.resid_pre;
    add_into(qk_in.ptr(), rec.pos.ptr(), qk_in.numel());
    qk_x = qk_in.ptr();
  }
  struct Part { Hook hook; int64_t n, col; const Tensor* split_in; const float* x; bool has_pos; };
  const Part parts[3] = {{Hook::q_input, d.H, 0, &r.q_input, qk_x, shortformer},
                         {Hook::k_input, d.Hk, k_col, &r.k_input, qk_x, shortformer},
                         {Hook::v_input, d.Hk, v_col, &r.v_input, r.resid_pre.ptr(), false}};

  if (r.split_qkv()) {  // the forward normalised and projected each head's own input
    for (const Part& p : parts) {
      Tensor dX = per_head_input_backward(c, lw, d, p.split_in->ptr(), dqkv, p.n, p.col, g, m.precision);
      hg.put(p.hook, l, {d.B, d.T, p.n, D}, dX.ptr());
      sum_heads_into(dresid, dX, BT, p.n, D);
      if (p.has_pos) sum_heads_into(dpos, dX, BT, p.n, D);
    }
    return;
  }

  // One normalised input for all heads: a GEMM per group of columns reading the same input.
  auto columns = [&](int64_t col0, int64_t ncols, const float* normed, float* dnormed) {
    gemm(dnormed, D, dqkv + col0, W, BT, lw.W_qkv.mat().block(0, D, col0, ncols).t(), false,
         m.precision);
    if (g)
      sgemm(true, false, D, ncols, BT, 1.0f, normed, D, dqkv + col0, W, 1.0f,
            g->W_qkv.ptr() + col0, W);
  };
  float* gln_w = g ? g->ln1_w.ptr() : nullptr;
  float* gln_b = g ? opt(g->ln1_b) : nullptr;
  Tensor dnormed({d.B, d.T, D});
  if (shortformer) {
    Tensor normed_qk = norm_forward(c, qk_x, lw.ln1_w, lw.ln1_b, BT);
    Tensor dn_qk({BT, D}), dx({BT, D});
    columns(0, v_col, normed_qk.ptr(), dn_qk.ptr());
    norm_rows_backward(c, dx.ptr(), gln_w, gln_b, dn_qk.ptr(), qk_x, lw.ln1_w, lw.ln1_b, BT);
    add_into(dresid, dx.ptr(), BT * D);
    add_into(dpos, dx.ptr(), BT * D);
    columns(v_col, W - v_col, r.ln1.ptr(), dnormed.ptr());  // ln1.hook_normalized feeds only v
  } else {
    columns(0, W, r.ln1.ptr(), dnormed.ptr());
  }
  hg.put_normalized(Hook::ln1_normalized, l, {d.B, d.T, D}, dnormed.ptr(), lw.ln1_w);
  norm_rows_backward(c, dresid, gln_w, gln_b, dnormed.ptr(), r.resid_pre.ptr(), lw.ln1_w, lw.ln1_b, BT,
                     rec.normalized_at(Hook::ln1_normalized, l));

  for (const Part& p : parts)  // per-head input gradients, for the hook points only
    if (hg.wants(p.hook, l)) {
      Tensor X = broadcast_heads(p.x, BT, p.n, D);
      Tensor dX = per_head_input_backward(c, lw, d, X.ptr(), dqkv, p.n, p.col, nullptr, m.precision);
      hg.put(p.hook, l, {d.B, d.T, p.n, D}, dX.ptr());
    }
}

// Attention of layer l: dattn = d/d attn_out [BT,D] -> dresid (+=), dpos (+=, shortformer).
void attention_block_backward(const Model& m, int l, const LayerRecord& r,
                              const ForwardRecord& rec, const Dims& d, const float* dattn,
                              float* dresid, float* dpos, LayerWeights* g, const HookGrads& hg) {
  const ModelConfig& c = m.cfg;
  const LayerWeights& lw = m.w.layers[l];
  const int64_t B = d.B, T = d.T, BT = d.BT, D = d.D, H = d.H, Hk = d.Hk, dh = d.dh;
  hg.put(Hook::attn_out, l, {B, T, D}, dattn);
  Tensor draw;  // Gemma 2: through ln1_post
  if (c.post_norms) {
    hg.put_normalized(Hook::ln1_post_normalized, l, {B, T, D}, dattn, lw.ln1_post_w);
    draw = through_post_norm(m, r.z.ptr(), lw.W_O, lw.b_O, lw.ln1_post_w,
                             g ? opt(g->ln1_post_w) : nullptr, dattn, BT,
                             rec.normalized_at(Hook::ln1_post_normalized, l));
    dattn = draw.ptr();
  }
  if (hg.wants(Hook::result, l)) {  // attn_out = sum_h result_h + b_O
    Tensor dres({B, T, H, D});
    for (int64_t i = 0; i < BT; ++i)
      for (int64_t h = 0; h < H; ++h)
        std::memcpy(dres.ptr() + (i * H + h) * D, dattn + i * D, D * sizeof(float));
    hg.put(Hook::result, l, dres.shape, dres.ptr());
  }

  Tensor dz({B, T, H, dh});
  linear_backward(dz.ptr(), g ? g->W_O.ptr() : nullptr, g ? opt(g->b_O) : nullptr, dattn,
                  r.z.ptr(), lw.W_O, BT, m.precision);
  hg.put(Hook::z, l, dz.shape, dz.ptr());

  // Per (batch, kv head): the heads of one group accumulate into the same dk, dv rows.
  const Attention attn(c, l);
  const int64_t group = H / Hk;
  Tensor dq({B, T, H, dh}), dk({B, T, Hk, dh}), dv({B, T, Hk, dh});
  Tensor dpattern, dscores;  // [B,H,T,T], only when requested
  if (hg.wants(Hook::pattern, l)) dpattern = Tensor({B, H, T, T});
  if (hg.wants(Hook::attn_scores, l)) dscores = Tensor({B, H, T, T});
#pragma omp parallel for collapse(2) schedule(static) if (B * H * T * T * dh > 65536)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t kv = 0; kv < Hk; ++kv) {
      std::vector<float> scratch(4 * T * T);
      for (int64_t h = kv * group; h < (kv + 1) * group; ++h) {
        const int64_t pat = (b * H + h) * T * T, qo = b * T * H * dh + h * dh,
                      ko = b * T * Hk * dh + kv * dh;
        float* dp = dpattern.empty() ? scratch.data() : dpattern.ptr() + pat;
        float* ds = dscores.empty() ? scratch.data() + T * T : dscores.ptr() + pat;
        attn.backward(dq.ptr() + qo, dk.ptr() + ko, dv.ptr() + ko, dp, ds, scratch.data() + 2 * T * T,
                      dz.ptr() + qo, H * dh, r.pattern.ptr() + pat, r.q.ptr() + qo, H * dh,
                      r.k.ptr() + ko, r.v.ptr() + ko, Hk * dh, T);
      }
    }
  if (!dpattern.empty()) hg.put(Hook::pattern, l, dpattern.shape, dpattern.ptr());
  if (!dscores.empty()) hg.put(Hook::attn_scores, l, dscores.shape, dscores.ptr());
  for (int64_t b = 0; b < B; ++b) {
    attn.rotate_backward(dq.ptr() + b * T * H * dh, T, H, H * dh);
    attn.rotate_backward(dk.ptr() + b * T * Hk * dh, T, Hk, Hk * dh);
  }
  hg.put(Hook::q, l, dq.shape, dq.ptr());
  hg.put(Hook::k, l, dk.shape, dk.ptr());
  hg.put(Hook::v, l, dv.shape, dv.ptr());

  Tensor dqkv({BT, d.W});  // q | k | v blocks, as W_qkv's columns
#pragma omp parallel for schedule(static) if (BT * d.W > 65536)
  for (int64_t i = 0; i < BT; ++i) {
    float* row = dqkv.ptr() + i * d.W;
    std::memcpy(row, dq.ptr() + i * H * dh, H * dh * sizeof(float));
    std::memcpy(row + H * dh, dk.ptr() + i * Hk * dh, Hk * dh * sizeof(float));
    std::memcpy(row + (H + Hk) * dh, dv.ptr() + i * Hk * dh, Hk * dh * sizeof(float));
  }
  qkv_input_backward(m, l, r, rec, d, dqkv.ptr(), dresid, dpos, g, hg);
}

void check_record(const Model& m, const ForwardRecord& rec, const Tensor& dlogits) {
  const ModelConfig& c = m.cfg;
  if (rec.B <= 0 || static_cast<int>(rec.layers.size()) != c.n_layers || rec.ln_final.empty())
    throw Error("backward: the ForwardRecord was not filled by forward_record for this model");
  const int64_t V = rec.vocab_rows.empty() ? c.vocab_size : rec.vocab_rows.size();
  if (!rec.logit_positions.empty()) {
    const int64_t P = static_cast<int64_t>(rec.logit_positions.size());
    if (dlogits.numel() != P * V)
      throw Error("backward: dlogits has " + std::to_string(dlogits.numel()) +
                  " elements, the forward's logits were [" + std::to_string(P) + "," + std::to_string(V) + "]");
    return;
  }
  if (dlogits.numel() != int64_t{rec.B} * rec.T * V)
    throw Error("backward: dlogits has " + std::to_string(dlogits.numel()) +
                " elements, the forward's logits were [" +
                std::to_string(rec.B) + "," + std::to_string(rec.T) + "," + std::to_string(V) + "]");
}

}  // namespace

Gradients Gradients::zeros_like(const Model& m) {
  // f32 zeros of each parameter's logical shape, whatever the parameter's dtype
  auto z = [](const auto& t) { return t.empty() ? Tensor() : Tensor(t.shape); };
  Gradients g;
  const Weights& w = m.w;
  g.w.W_E = z(w.W_E);
  g.w.W_pos = z(w.W_pos);
  g.w.lnf_w = z(w.lnf_w);
  g.w.lnf_b = z(w.lnf_b);
  g.w.W_U = z(w.W_U);
  g.w.b_U = z(w.b_U);
  g.w.processed = w.processed;
  for (const LayerWeights& l : w.layers)
    g.w.layers.push_back({z(l.ln1_w), z(l.ln1_b), z(l.W_qkv), z(l.b_qkv), z(l.W_O), z(l.b_O),
                          z(l.ln2_w), z(l.ln2_b), z(l.W_in), z(l.b_in), z(l.W_gate), z(l.W_out),
                          z(l.b_out), z(l.ln1_post_w), z(l.ln2_post_w)});
  return g;
}

void Gradients::zero() {
  for_each_tensor(w, [](auto& t) { std::fill(t.data.begin(), t.data.end(), 0.0f); });
}

Tensor forward_record(const Model& m, const Batch& batch, ForwardRecord* rec, const Hooks* hooks,
                      const std::vector<int32_t>& vocab_rows, const std::vector<int64_t>& logit_positions) {
  const ModelConfig& c = m.cfg;
  {
    std::vector<int64_t> sorted = logit_positions;
    std::sort(sorted.begin(), sorted.end());
    const int64_t BT = int64_t{batch.B} * batch.T;
    if (!sorted.empty() && (sorted.front() < 0 || sorted.back() >= BT ||
                            std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()))
      throw Error("logit_positions must be distinct positions b*T+t below B*T = " + std::to_string(BT));
  }
  for (size_t i = 0; i < vocab_rows.size(); ++i)
    if (vocab_rows[i] < 0 || vocab_rows[i] >= c.vocab_size || (i && vocab_rows[i] <= vocab_rows[i - 1]))
      throw Error("vocab_rows must be strictly increasing token ids below the vocabulary size (" +
                  std::to_string(c.vocab_size) + "); entry " + std::to_string(i) + " is " +
                  std::to_string(vocab_rows[i]));
  *rec = ForwardRecord{};
  rec->B = batch.B;
  rec->T = batch.T;
  rec->tokens = batch.tokens;
  rec->vocab_rows = vocab_rows;
  rec->logit_positions = logit_positions;
  rec->layers.resize(c.n_layers);

  // Recording hooks run after the caller's at each point, so they see the values the forward used.
  Hooks h = hooks ? *hooks : Hooks();
  auto keep = [&h](Hook p, int l, Tensor* dst) {
    h.add({p, l}, [dst](const HookPoint&, Tensor& t) { *dst = t; });
  };
  // Where the caller hooks a norm's hook_normalized, the value its hooks left (the weight's
  // gradient reads it).
  auto keep_normalized = [&h, hooks, rec](Hook p, int l) {
    if (!hooks || !hooks->active(p, l)) return;
    h.add({p, l}, [rec](const HookPoint& at, Tensor& t) { rec->normalized[at] = t; });
  };
  // A norm's hook_normalized comes before its weight and bias; the backward reads the output.
  auto keep_norm_output = [&h, &keep_normalized](Hook p, int l, Tensor* dst, const Tensor* w,
                                                 const Tensor* b) {
    keep_normalized(p, l);
    h.add({p, l}, [dst, w, b](const HookPoint&, Tensor& t) {
      *dst = t;
      norm_affine(dst->ptr(), *w, *b, dst->numel() / w->numel());
    });
  };
  auto keep_rotated = [&h, &c](Hook p, int l, Tensor* dst) {  // hook_q/k come before rotary
    h.add({p, l}, [dst, attn = Attention(c, l)](const HookPoint&, Tensor& t) {
      *dst = t;
      const int64_t B = t.dim(0), T = t.dim(1), n = t.dim(2), dh = t.dim(3);
      for (int64_t b = 0; b < B; ++b) attn.rotate(dst->ptr() + b * T * n * dh, T, n, n * dh);
    });
  };
  for (int l = 0; l < c.n_layers; ++l) {
    check_cancelled();
    LayerRecord& r = rec->layers[l];
    keep(Hook::resid_pre, l, &r.resid_pre);
    const LayerWeights& lw = m.w.layers[l];
    keep_norm_output(Hook::ln1_normalized, l, &r.ln1, &lw.ln1_w, &lw.ln1_b);
    if (hooks && (hooks->active(Hook::q_input, l) || hooks->active(Hook::k_input, l) ||
                  hooks->active(Hook::v_input, l))) {
      keep(Hook::q_input, l, &r.q_input);
      keep(Hook::k_input, l, &r.k_input);
      keep(Hook::v_input, l, &r.v_input);
    }
    keep_rotated(Hook::q, l, &r.q);
    keep_rotated(Hook::k, l, &r.k);
    keep(Hook::v, l, &r.v);
    keep(Hook::pattern, l, &r.pattern);
    keep(Hook::z, l, &r.z);
    if (c.post_norms) keep_normalized(Hook::ln1_post_normalized, l);
    if (!c.attn_only) {
      keep(Hook::mlp_in, l, &r.mlp_in);
      keep_norm_output(Hook::ln2_normalized, l, &r.ln2, &lw.ln2_w, &lw.ln2_b);
      keep(Hook::mlp_pre, l, &r.mlp_pre);
      keep(Hook::mlp_post, l, &r.mlp_post);
      if (c.post_norms) keep_normalized(Hook::ln2_post_normalized, l);
    }
  }
  if (c.positions == Positions::Shortformer) keep(Hook::pos_embed, -1, &rec->pos);
  keep(Hook::resid_post, c.n_layers - 1, &rec->resid_final);
  keep_norm_output(Hook::ln_final_normalized, -1, &rec->ln_final, &m.w.lnf_w, &m.w.lnf_b);
  forward(m, batch, &h, {LogitsAt::None});

  // The unembedding's input rows: every position, or the requested ones gathered.
  rec->unembed = Unembedding(m, vocab_rows);
  const int64_t V = rec->unembed.columns();
  if (logit_positions.empty()) {
    Tensor logits = Tensor::uninit({batch.B, batch.T, V});
    rec->unembed.logits(logits.ptr(), rec->ln_final.ptr(), int64_t{batch.B} * batch.T);
    if (c.final_softcap > 0) rec->logits = logits;  // the soft-cap's backward reads them
    return logits;
  }
  const int64_t P = static_cast<int64_t>(logit_positions.size());
  Tensor rows = Tensor::uninit({P, c.d_model});
  gather_rows(rows.ptr(), rec->ln_final.ptr(), logit_positions, c.d_model);
  Tensor logits = Tensor::uninit({P, V});
  rec->unembed.logits(logits.ptr(), rows.ptr(), P);
  if (c.final_softcap > 0) rec->logits = logits;
  return logits;
}

void backward(const Model& m, const ForwardRecord& rec, const Tensor& dlogits, Gradients* grads,
              const BackwardRequest& req, ActivationCache* hook_grads) {
  check_record(m, rec, dlogits);
  const ModelConfig& c = m.cfg;
  const Dims d(c, rec.B, rec.T);
  const HookGrads hg(c, req, hook_grads);
  Weights* g = nullptr;
  if (grads) {
    if (grads->w.layers.empty()) *grads = Gradients::zeros_like(m);
    g = &grads->w;
  }
  const std::vector<int64_t> btd = {d.B, d.T, d.D};

  Tensor dresid(btd);  // d/d residual stream, walking down the layers
  unembed_backward(m, rec, d, dlogits, g, hg, dresid.ptr());
  Tensor dpos;         // shortformer: d/d hook_pos_embed through the q/k inputs
  if (c.positions == Positions::Shortformer) dpos = Tensor(btd);
  Tensor dattn(btd), dmlp_in(btd);
  // Without parameter gradients, the layers below the lowest requested point are skipped.
  const int lowest = g ? -1 : hg.lowest_layer(c.n_layers);
  for (int l = c.n_layers - 1; l >= std::max(lowest, 0); --l) {
    check_cancelled();
    const LayerRecord& r = rec.layers[l];
    LayerWeights* gl = g ? &g->layers[l] : nullptr;
    hg.put(Hook::resid_post, l, btd, dresid.ptr());
    if (!c.attn_only) {
      mlp_backward(m, l, r, rec, d, dresid.ptr(), dmlp_in.ptr(), gl, hg);
      if (c.parallel_residual) {  // resid_post = resid_pre + attn_out + mlp_out(resid_pre)
        dattn = dresid;
        add_into(dresid.ptr(), dmlp_in.ptr(), d.BT * d.D);
      } else {                    // resid_mid = resid_pre + attn_out; resid_post = resid_mid + mlp_out
        add_into(dresid.ptr(), dmlp_in.ptr(), d.BT * d.D);
        hg.put(Hook::resid_mid, l, btd, dresid.ptr());
        dattn = dresid;
      }
    } else {
      dattn = dresid;
    }
    attention_block_backward(m, l, r, rec, d, dattn.ptr(), dresid.ptr(), opt(dpos), gl, hg);
    hg.put(Hook::resid_pre, l, btd, dresid.ptr());
  }

  if (lowest >= 0) return;
  // resid_pre[0] = W_E[tokens] (+ W_pos[t] for learned positions)
  hg.put(Hook::embed, -1, btd, dresid.ptr());
  const float* dpos_total = c.positions == Positions::Learned ? dresid.ptr()
                            : c.positions == Positions::Shortformer ? dpos.ptr() : nullptr;
  if (dpos_total) hg.put(Hook::pos_embed, -1, btd, dpos_total);
  if (!g) return;
  if (c.embed_scale != 1.0f)  // resid_pre[0] = W_E[token] * embed_scale (Gemma)
    for (int64_t i = 0; i < d.BT * d.D; ++i) dresid.data[i] *= c.embed_scale;
  for (int64_t i = 0; i < d.BT; ++i)  // serial: tokens repeat, and the order stays fixed
    add_into(g->W_E.ptr() + int64_t{rec.tokens[i]} * d.D, dresid.ptr() + i * d.D, d.D);
  if (dpos_total && !g->W_pos.empty())
    for (int64_t b = 0; b < d.B; ++b) add_into(g->W_pos.ptr(), dpos_total + b * d.T * d.D, d.T * d.D);
}

float train_step_loss_and_grad(const Model& m, const Batch& batch,
                               const std::vector<int32_t>& targets,
                               const std::vector<int32_t>& vocab_rows, Gradients* grads,
                               const std::vector<float>& row_log_count) {
  const int64_t BT = int64_t{batch.B} * batch.T;
  if (static_cast<int64_t>(targets.size()) != BT)
    throw Error("train step: " + std::to_string(targets.size()) + " targets for a batch of " +
                std::to_string(batch.B) + "x" + std::to_string(batch.T) + " tokens");
  // Targets as column indices of the (restricted) logits.
  std::vector<int32_t> cols(BT, -1);
  int64_t n_valid = 0;
  for (int64_t i = 0; i < BT; ++i) {
    const int32_t t = targets[i];
    if (t < 0) continue;
    if (vocab_rows.empty()) {
      cols[i] = t;  // range-checked by the loss
    } else {
      auto it = std::lower_bound(vocab_rows.begin(), vocab_rows.end(), t);
      if (it == vocab_rows.end() || *it != t)
        throw Error("train step: target token " + std::to_string(t) +
                    " is not in vocab_rows: the vocabulary subset must include every target");
      cols[i] = static_cast<int32_t>(it - vocab_rows.begin());
    }
    ++n_valid;
  }
  if (n_valid == 0) throw Error("train step: every target is -1 (ignored): nothing to learn from");

  ForwardRecord rec;
  Tensor logits = forward_record(m, batch, &rec, nullptr, vocab_rows);
  const int64_t V = logits.dim(2);
  if (!row_log_count.empty()) {
    if (static_cast<int64_t>(row_log_count.size()) != V)
      throw Error("train step: " + std::to_string(row_log_count.size()) + " row counts for " +
                  std::to_string(V) + " logit columns");
    float* x = logits.ptr();
    for (int64_t i = 0; i < BT; ++i)
      for (int64_t v = 0; v < V; ++v) x[i * V + v] += row_log_count[static_cast<size_t>(v)];
  }
  Tensor dlogits(logits.shape);
  std::vector<float> losses(BT);
  cross_entropy_forward_backward(losses.data(), grads ? dlogits.ptr() : nullptr, logits.ptr(),
                                 cols.data(), BT, V, 1.0f / static_cast<float>(n_valid));
  double sum = 0.0;
  for (float x : losses) sum += x;
  if (grads) {
    if (grads->w.layers.empty()) *grads = Gradients::zeros_like(m);
    else grads->zero();
    backward(m, rec, dlogits, grads);
  }
  return static_cast<float>(sum / static_cast<double>(n_valid));
}

}  // namespace cs
