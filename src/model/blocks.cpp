#include "model/blocks.h"

#include <cmath>
#include <cstring>
#include <string>

#include "ops/activations.h"
#include "ops/activations_backward.h"
#include "ops/attention.h"
#include "ops/attention_backward.h"
#include "ops/error.h"
#include "ops/layernorm.h"
#include "ops/layernorm_backward.h"
#include "ops/gemm.h"
#include "ops/matmul.h"
#include "ops/rotary.h"
#include "ops/softcap.h"

namespace cs {

namespace {
const float* opt(const Tensor& t) { return t.empty() ? nullptr : t.ptr(); }
}  // namespace

void norm_rows(const ModelConfig& c, float* out, const float* x, const Tensor& w, const Tensor& b,
               int64_t N, float* mean, float* rstd) {
  if (c.norm == Norm::LayerNorm)
    layernorm_forward(out, mean, rstd, x, w.ptr(), opt(b), N, c.d_model, c.norm_eps);
  else
    rmsnorm_forward(out, rstd, x, w.ptr(), N, c.d_model, c.norm_eps);
}

void norm_rows_tapped(const ModelConfig& c, float* out, const float* x, const Tensor& w,
                      const Tensor& b, int64_t N, const std::function<void()>& tap) {
  if (!tap) {
    norm_rows(c, out, x, w, b, N);
    return;
  }
  // A unit weight: (x - mean) * rstd * 1 is exactly (x - mean) * rstd.
  thread_local Tensor ones;
  if (ones.numel() != c.d_model) ones = Tensor({c.d_model}, 1.0f);
  norm_rows(c, out, x, ones, Tensor(), N);
  tap();
  norm_affine(out, w, b, N);
}

void norm_affine(float* x, const Tensor& w, const Tensor& b, int64_t N) {
  const int64_t D = w.numel();
  const float* pw = w.ptr();
  const float* pb = b.empty() ? nullptr : b.ptr();
#pragma omp parallel for schedule(static) if (N * D > 65536)
  for (int64_t i = 0; i < N; ++i) {
    float* r = x + i * D;
    if (pb)
      for (int64_t d = 0; d < D; ++d) r[d] = r[d] * pw[d] + pb[d];
    else
      for (int64_t d = 0; d < D; ++d) r[d] = r[d] * pw[d];
  }
}

void norm_rows_backward(const ModelConfig& c, float* dx, float* dw, float* db, const float* dout,
                        const float* x, const Tensor& w, const Tensor& b, int64_t N,
                        const float* normalized) {
  const int64_t D = c.d_model;
  if (normalized && (dw || db)) {  // y = normalized * w + b with the hook's value
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < D; ++j) {
        if (dw) dw[j] += dout[n * D + j] * normalized[n * D + j];
        if (db) db[j] += dout[n * D + j];
      }
    dw = db = nullptr;
  }
  // The statistics are recomputed rather than recorded: one cheap pass over x.
  std::vector<float> normed(static_cast<size_t>(N * c.d_model)), mean(N), rstd(N);
  norm_rows(c, normed.data(), x, w, b, N, mean.data(), rstd.data());
  if (c.norm == Norm::LayerNorm)
    layernorm_backward(dx, dw, db, dout, x, w.ptr(), mean.data(), rstd.data(), N, c.d_model);
  else
    rmsnorm_backward(dx, dw, dout, x, w.ptr(), rstd.data(), N, c.d_model);
}

int64_t qkv_column(const ModelConfig& c, Qkv x, int64_t h) {
  const int64_t before = x == Qkv::Q ? 0 : x == Qkv::K ? c.n_heads : c.n_heads + c.n_kv_heads;
  return (before + h) * c.d_head;
}

void head_projection(const ModelConfig& c, const LayerWeights& lw, Qkv x, int64_t h,
                     const float* in, int64_t ldi, int64_t N, float* out, int64_t ldo, Precision p) {
  const int64_t D = c.d_model, dh = c.d_head, col = qkv_column(c, x, h);
  gemm(out, ldo, in, ldi, N, lw.W_qkv.mat().block(0, D, col, dh), false, p);
  if (lw.b_qkv.empty()) return;
  const float* bias = lw.b_qkv.ptr() + col;
  for (int64_t r = 0; r < N; ++r)
    for (int64_t j = 0; j < dh; ++j) out[r * ldo + j] += bias[j];
}

void head_output(const ModelConfig& c, const LayerWeights& lw, int64_t h, const float* z,
                 int64_t ldz, int64_t N, float* out, int64_t ldo, Precision p) {
  const int64_t dh = c.d_head;
  gemm(out, ldo, z, ldz, N, lw.W_O.mat().block(h * dh, dh, 0, c.d_model), false, p);
}

Attention::Attention(const ModelConfig& c, int layer)
    : dh_(c.d_head), group_(c.n_heads / c.n_kv_heads), rotary_dim_(c.rotary_dim),
      window_(c.window(layer)), scale_(c.attention_scale()), softcap_(c.attn_softcap),
      rope_(c.rope), rotary_(c.positions == Positions::Rotary) {}

void Attention::rotate(float* x, int64_t T, int64_t n, int64_t ld, int64_t pos0) const {
  if (rotary_) rotary_forward(x, T, n, dh_, ld, rotary_dim_, rope_, pos0);
}

void Attention::rotate_backward(float* dx, int64_t T, int64_t n, int64_t ld, int64_t pos0) const {
  if (rotary_) rotary_backward(dx, T, n, dh_, ld, rotary_dim_, rope_, pos0);
}

void Attention::scores(float* s, const float* q, int64_t ldq, const float* k, int64_t ldk,
                       int64_t T, int64_t q0) const {
  attention_scores(s, q, ldq, k, ldk, T, dh_, scale_, q0);
  if (softcap_ > 0)  // the causal entries of each row only: the masked ones stay -inf
    for (int64_t r = 0; r < T - q0; ++r) softcap_forward(s + r * T, 1, q0 + r + 1, T, softcap_);
  mask_outside_window(s, T - q0, T, T, q0, window_);
}

void Attention::softmax(float* p, int64_t T, int64_t q0) const { causal_softmax(p, T, q0); }

void Attention::values(float* z, int64_t ldz, const float* p, const float* v, int64_t ldv,
                       int64_t T, int64_t q0) const {
  attention_values(z, ldz, p, v, ldv, T, dh_, q0);
}

void Attention::head(float* z, int64_t ldz, float* p, const float* q, int64_t ldq, const float* k,
                     const float* v, int64_t ldkv, int64_t T, int64_t q0) const {
  scores(p, q, ldq, k, ldkv, T, q0);
  softmax(p, T, q0);
  values(z, ldz, p, v, ldkv, T, q0);
}

void Attention::backward(float* dq, float* dk, float* dv, float* dp, float* ds, float* scratch,
                         const float* dz, int64_t ldz, const float* p, const float* q, int64_t ldq,
                         const float* k, const float* v, int64_t ldkv, int64_t T) const {
  // The window needs nothing here: its masked entries have pattern 0, so their ds is 0.
  if (softcap_ <= 0) {
    attention_backward(dq, dk, dv, dp, ds, dz, ldz, p, q, ldq, k, v, ldkv, T, dh_, scale_);
    return;
  }
  float* y = scratch;  // the capped scores, recomputed (one q k^T per head)
  scores(y, q, ldq, k, ldkv, T);
  attention_backward_softcap(dq, dk, dv, dp, ds, scratch + T * T, dz, ldz, p, y, softcap_, q, ldq,
                             k, v, ldkv, T, dh_, scale_);
}

void post_norm(const ModelConfig& c, const Tensor& w, float* x, int64_t N,
               const std::function<void()>& tap) {
  if (c.post_norms) norm_rows_tapped(c, x, x, w, Tensor(), N, tap);  // row by row: in place is safe
}

void post_norm_backward(const ModelConfig& c, float* dx, float* dw, const float* dout,
                        const float* x, const Tensor& w, int64_t N, const float* normalized) {
  std::memset(dx, 0, static_cast<size_t>(N * c.d_model) * sizeof(float));
  norm_rows_backward(c, dx, dw, nullptr, dout, x, w, Tensor(), N, normalized);
}

void mlp_activation(const ModelConfig& c, float* post, const float* pre, const float* up,
                    int64_t n) {
  switch (c.act) {
    case Activation::GeluNew: gelu_new_forward(post, pre, n); return;
    case Activation::GeluErf: gelu_erf_forward(post, pre, n); return;
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) post[i] = pre[i] > 0 ? pre[i] : 0.0f;
      return;
    case Activation::SwiGLU: swiglu_forward(post, pre, up, n); return;
    case Activation::GeGLU: geglu_forward(post, pre, up, n); return;
  }
}

void mlp_activation_backward(const ModelConfig& c, float* dpre, float* dup, const float* pre,
                             const float* up, const float* dpost, int64_t n) {
  switch (c.act) {
    case Activation::GeluNew: gelu_new_backward(dpre, pre, dpost, n); return;
    case Activation::GeluErf: gelu_erf_backward(dpre, pre, dpost, n); return;
    case Activation::Relu: relu_backward(dpre, pre, dpost, n); return;
    case Activation::SwiGLU: swiglu_backward(dpre, dup, pre, up, dpost, n); return;
    case Activation::GeGLU: geglu_backward(dpre, dup, pre, up, dpost, n); return;
  }
}

void mlp(const ModelConfig& c, const LayerWeights& lw, const float* x, int64_t N,
         const MlpBuffers& buf, float* out, Precision p, const std::function<void(Hook)>& tap) {
  const int64_t F = c.d_mlp;
  auto tapped = [&](Hook h) {
    if (tap) tap(h);
  };
  norm_rows_tapped(c, buf.normed, x, lw.ln2_w, lw.ln2_b, N,
                   tap ? std::function<void()>([&] { tap(Hook::ln2_normalized); }) : nullptr);
  if (gated(c.act)) {
    matmul(buf.pre, buf.normed, lw.W_gate.mat(), nullptr, N, p);
    matmul(buf.up, buf.normed, lw.W_in.mat(), opt(lw.b_in), N, p);
  } else {
    matmul(buf.pre, buf.normed, lw.W_in.mat(), opt(lw.b_in), N, p);
  }
  tapped(Hook::mlp_pre);
  mlp_activation(c, buf.post, buf.pre, buf.up, N * F);
  tapped(Hook::mlp_post);
  matmul(out, buf.post, lw.W_out.mat(), opt(lw.b_out), N, p);
  post_norm(c, lw.ln2_post_w, out, N,
            tap ? std::function<void()>([&] { tap(Hook::ln2_post_normalized); }) : nullptr);
  (void)F;
}

Unembedding::Unembedding(const Model& m, std::vector<int32_t> ids)
    : m_(&m), ids_(std::move(ids)), D_(m.cfg.d_model) {
  const int64_t V = m.cfg.vocab_size;
  K_ = ids_.empty() ? V : static_cast<int64_t>(ids_.size());
  if (ids_.empty()) return;
  Tensor rows = Tensor::uninit({K_, D_});
  if (!m.w.b_U.empty()) b_rows_ = Tensor::uninit({K_});
  for (int64_t i = 0; i < K_; ++i) {
    const int32_t id = ids_[static_cast<size_t>(i)];
    if (id < 0 || id >= V)
      throw Error("unembedding: vocabulary column " + std::to_string(id) +
                  " is outside the vocabulary (size " + std::to_string(V) + ")");
    m.w.W_U.rows_f32(id, 1, rows.ptr() + i * D_);
    if (!b_rows_.empty()) b_rows_.data[i] = m.w.b_U.data[id];
  }
  // Back in W_U's dtype (exact: the values came from it), so gemm() treats them as it treats W_U.
  W_rows_ = m.w.W_U.is_f32() ? Weight(std::move(rows)) : Weight::narrowed(rows, m.w.W_U.dtype());
}

MatRef Unembedding::W() const { return ids_.empty() ? m_->w.W_U.mat() : W_rows_.mat(); }
const float* Unembedding::b() const { return ids_.empty() ? opt(m_->w.b_U) : opt(b_rows_); }

void Unembedding::logits(float* out, const float* x, int64_t N) const {
  matmul(out, x, W().t(), b(), N, m_->precision);
  if (m_->cfg.final_softcap > 0) softcap_forward(out, N, K_, K_, m_->cfg.final_softcap);
}

void Unembedding::softcap_backward(float* d, const float* y, int64_t N) const {
  if (m_->cfg.final_softcap > 0) cs::softcap_backward(d, y, N, K_, K_, m_->cfg.final_softcap);
}

void Unembedding::logits_at(float* out, const float* resid, const std::vector<int64_t>& rows) const {
  const Model& m = *m_;
  const int64_t n = static_cast<int64_t>(rows.size());
  std::vector<float> x(static_cast<size_t>(n * D_)), normed(x.size());
  gather_rows(x.data(), resid, rows, D_);
  norm_rows(m.cfg, normed.data(), x.data(), m.w.lnf_w, m.w.lnf_b, n);
  logits(out, normed.data(), n);
}

void gather_rows(float* dst, const float* src, const std::vector<int64_t>& rows, int64_t width) {
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(dst + static_cast<int64_t>(i) * width, src + rows[i] * width, width * sizeof(float));
}

}  // namespace cs
