// The blocks a transformer layer is made of, each written once for every architecture that
// ModelConfig describes: the norm, one head's q/k/v projection and attention (scale, causal mask,
// rotary, grouped-query heads), the MLP with its activation, and the unembedding. forward()
// (transformer.cpp) composes them with hook points in between, backward() (backward.cpp) reads
// the same rules, and ACDC's incremental engine (baselines/acdc.cpp) recomputes single heads and
// MLPs with them, so an architecture feature (a score soft-cap, a sliding window, a new
// activation) is added here, in one place.
// Shapes: N rows, D d_model, H query heads, Hk key/value heads, dh d_head, F d_mlp, T tokens.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/hooks.h"
#include "model/model.h"
#include "ops/gemm.h"
#include "ops/rotary.h"

namespace cs {

// out[N,D] = the model's norm (LayerNorm or RMSNorm, c.norm_eps) of x[N,D] with weights w and
// bias b (empty: none). mean, rstd [N]: the statistics the backward needs (null: not kept;
// RMSNorm writes no mean).
void norm_rows(const ModelConfig& c, float* out, const float* x, const Tensor& w, const Tensor& b,
               int64_t N, float* mean = nullptr, float* rstd = nullptr);
// norm_rows split where TransformerLens hooks a norm (hook_normalized): out = x centred
// (LayerNorm) and divided by its scale, then tap() may read or change out, then out = out * w + b.
// The same numbers as norm_rows when tap leaves out alone; without a tap it is norm_rows.
void norm_rows_tapped(const ModelConfig& c, float* out, const float* x, const Tensor& w,
                      const Tensor& b, int64_t N, const std::function<void()>& tap);
// x[N,D] = x * w + b in place (b empty: none): a norm's weight and bias applied to its
// hook_normalized value.
void norm_affine(float* x, const Tensor& w, const Tensor& b, int64_t N);
// dx[N,D] += d/dx of norm_rows given dout[N,D] and its input x; dw, db [D] += (null: skipped).
// normalized [N,D], if given: the hook_normalized value the weight multiplied, as a hook left it;
// dw reads it instead of the value recomputed from x (dx does not: a hook is the identity in the
// backward).
void norm_rows_backward(const ModelConfig& c, float* dx, float* dw, float* db, const float* dout,
                        const float* x, const Tensor& w, const Tensor& b, int64_t N,
                        const float* normalized = nullptr);

// The parts of W_qkv's columns: q heads, then k heads, then v heads (weights.h).
enum class Qkv { Q = 0, K = 1, V = 2 };
// First column of head h of part x in W_qkv [D, (H + 2 Hk) dh].
int64_t qkv_column(const ModelConfig& c, Qkv x, int64_t h);
// One head's q, k or v before rotary: out[N,dh] (row stride ldo) = in[N,D] (row stride ldi, the
// normalised input) W_qkv[:, its dh columns] + b_qkv, through gemm() in precision p.
void head_projection(const ModelConfig& c, const LayerWeights& lw, Qkv x, int64_t h,
                     const float* in, int64_t ldi, int64_t N, float* out, int64_t ldo, Precision p);
// One head's output (hook_result without b_O): out[N,D] (row stride ldo) = z[N,dh] (row stride
// ldz) W_O[h*dh:(h+1)*dh, :], in precision p.
void head_output(const ModelConfig& c, const LayerWeights& lw, int64_t h, const float* z,
                 int64_t ldz, int64_t N, float* out, int64_t ldo, Precision p);

// The attention rules of one layer: which key/value head a query head reads, the rotary
// embedding, the score scale (1/sqrt(dh), or Gemma 2's query_pre_attn_scalar^-1/2), the score
// soft-cap (Gemma 2: cap tanh(s / cap), before the mask), the causal mask and, on the layers that
// have one, the sliding window (Gemma 2's even layers: a query sees its last `window` keys). One head on one sequence of T keys at a time;
// like ops/attention.h, each call covers the query rows at positions q0..T-1 (R = T - q0; q0 = 0:
// every row, q0 = T - 1: the last only), q and z pointing at the row of position q0.
class Attention {
 public:
  Attention(const ModelConfig& c, int layer);

  int64_t kv_head(int64_t h) const { return h / group_; }  // grouped-query: H / Hk heads share one
  float scale() const { return scale_; }                   // scores = scale * q k^T

  // Rotary embedding of q or k rows x[T,n,dh] (row stride ld) at positions pos0..pos0+T-1, in
  // place; nothing for models without rotary positions. rotate_backward is its transpose.
  void rotate(float* x, int64_t T, int64_t n, int64_t ld, int64_t pos0 = 0) const;
  void rotate_backward(float* dx, int64_t T, int64_t n, int64_t ld, int64_t pos0 = 0) const;

  // s[R,T] = scale q k^T, soft-capped, keys after the query or outside the window -inf
  // (hook_attn_scores, as TransformerLens: after the cap and the mask).
  void scores(float* s, const float* q, int64_t ldq, const float* k, int64_t ldk, int64_t T,
              int64_t q0 = 0) const;
  // In place: scores [R,T] -> pattern (hook_pattern).
  void softmax(float* p, int64_t T, int64_t q0 = 0) const;
  // z[R,dh] (row stride ldz) = p[R,T] v[T,dh] (row stride ldv).
  void values(float* z, int64_t ldz, const float* p, const float* v, int64_t ldv, int64_t T,
              int64_t q0 = 0) const;
  // The three in a row; p is scratch [R,T] and ends as the pattern.
  void head(float* z, int64_t ldz, float* p, const float* q, int64_t ldq, const float* k,
            const float* v, int64_t ldkv, int64_t T, int64_t q0 = 0) const;
  // Backward of head() over all T rows, given the pattern p [T,T] it saved and dz [T,dh]:
  // dp, ds [T,T] (overwritten: d/d hook_pattern, d/d hook_attn_scores), dq [T,dh] (overwritten),
  // dk, dv [T,dh] (accumulated: grouped-query heads share them); scratch [2,T,T].
  void backward(float* dq, float* dk, float* dv, float* dp, float* ds, float* scratch,
                const float* dz, int64_t ldz, const float* p, const float* q, int64_t ldq,
                const float* k, const float* v, int64_t ldkv, int64_t T) const;
  float softcap() const { return softcap_; }  // 0: none
  int64_t window() const { return window_; }  // 0: full causal attention

 private:
  int64_t dh_, group_, rotary_dim_, window_;
  float scale_, softcap_;
  Rope rope_;
  bool rotary_;
};

// Caller-owned buffers of one MLP call on N rows, so nothing is allocated per call: normed [N,D];
// pre, post [N,F]; up [N,F] for gated MLPs only (else unused, may be null).
struct MlpBuffers {
  float* normed;
  float* pre;
  float* up;
  float* post;
};
// The MLP of one layer: out[N,D] from the residual x[N,D] it reads. normed = ln2(x);
// pre = normed W_in + b_in, or for gated MLPs pre = normed W_gate (the gate) and
// up = normed W_in + b_in; post = act(pre), gated: act(pre) * up; out = post W_out + b_out.
// The products go through gemm() in precision p (the weights in any dtype).
// tap(h), if given, runs once each of ln2_normalized (x/scale, before ln2's weight), mlp_pre and
// mlp_post (and, with post-norms, ln2_post_normalized, in out) is in its buffer, and may change it
// (the forward's hooks).
// Gemma 2 (c.post_norms): out is then ln2_post(post W_out), TransformerLens's hook_mlp_out.
void mlp(const ModelConfig& c, const LayerWeights& lw, const float* x, int64_t N,
         const MlpBuffers& buf, float* out, Precision p,
         const std::function<void(Hook)>& tap = nullptr);

// Gemma 2's norms on a block's output before it joins the residual stream, in place on x[N,D]:
// ln1_post on the attention's output (TransformerLens: applied before hook_attn_out), ln2_post on
// the MLP's (inside mlp()). Nothing for models without post-norms. post_norm_backward: dx[N,D]
// (overwritten) from dout and the norm's input x; dw [D] += (null: skipped); normalized as for
// norm_rows_backward.
// tap, if given, runs at ln1_post/ln2_post's hook_normalized (see norm_rows_tapped).
void post_norm(const ModelConfig& c, const Tensor& w, float* x, int64_t N,
               const std::function<void()>& tap = nullptr);
void post_norm_backward(const ModelConfig& c, float* dx, float* dw, const float* dout,
                        const float* x, const Tensor& w, int64_t N,
                        const float* normalized = nullptr);
// post[n] = act(pre) (gated: act(pre) * up), the model's activation.
void mlp_activation(const ModelConfig& c, float* post, const float* pre, const float* up,
                    int64_t n);
// Its backward: dpre[n] = d/dpre (overwritten), dup[n] = d/dup (gated only, overwritten).
void mlp_activation_backward(const ModelConfig& c, float* dpre, float* dup, const float* pre,
                             const float* up, const float* dpost, int64_t n);

// The unembedding, over the whole vocabulary or the columns `ids` (in their order; the rows of
// W_U, in W_U's dtype, and entries of b_U are gathered once): logits[N,K] = x[N,D] W_U[ids]^T +
// b_U[ids], through gemm() in the model's precision (a subset gives the same numbers as the
// whole vocabulary's product at those columns). Gemma 2 soft-caps them: cap tanh(logits / cap)
// (final_logit_softcapping), and softcap_backward turns d/d logits into d/d the uncapped ones.
class Unembedding {
 public:
  Unembedding() = default;
  explicit Unembedding(const Model& m, std::vector<int32_t> ids = {});

  int64_t columns() const { return K_; }
  const std::vector<int32_t>& ids() const { return ids_; }  // empty: the whole vocabulary
  MatRef W() const;                                         // [K,D], any dtype
  const float* b() const;                                   // [K], or null without a bias
  // logits[N,K] from final-normalised rows x[N,D].
  void logits(float* out, const float* x, int64_t N) const;
  // In place on d[N,K], given the logits y[N,K] logits() returned; nothing without a soft-cap.
  void softcap_backward(float* d, const float* y, int64_t N) const;
  // logits[n,K] at the rows `rows` (flattened b*T+t) of the final residual stream resid[*,D]:
  // the final norm of those rows only, then the unembedding.
  void logits_at(float* out, const float* resid, const std::vector<int64_t>& rows) const;

 private:
  const Model* m_ = nullptr;
  std::vector<int32_t> ids_;
  Weight W_rows_;           // [K,D] for a subset, in W_U's dtype
  Tensor b_rows_;           // [K] for a subset (empty without a bias)
  int64_t K_ = 0, D_ = 0;
};

// dst[n,width] = rows `rows` of src[*,width].
void gather_rows(float* dst, const float* src, const std::vector<int64_t>& rows, int64_t width);

}  // namespace cs
