#include "model/process_weights.h"

#include <cstring>
#include <memory>

namespace cs {

namespace {

// Processed weights of a bf16/f16 checkpoint: exact precision keeps them as exact f32 results
// (the checkpoint's function, computed in f32); bf16 precision rounds them back to the
// checkpoint's dtype (keep_dtype), so the model keeps its size.

// Runs edit(f32 weight, canonical layout): an f32 weight is edited in place; a bf16/f16 one
// through an f32 copy, rounded back (owned) when keep_dtype. Used by the LayerNorm steps, whose
// models are small; RMSNorm folding streams instead (Weight::scale_along).
template <class Fn>
void edit_as_f32(Weight& w, bool keep_dtype, Fn edit) {
  if (w.empty()) return;
  if (w.is_f32()) return edit(w);
  const DType dt = w.dtype();
  Weight f(w.to_tensor());
  w.release_pages();
  edit(f);
  w = keep_dtype ? Weight::narrowed(f.to_tensor(), dt) : std::move(f);
}

// W [D, N] reads a normalised residual: fold scale w and shift b of the norm into it.
// b_out[N] += b @ W; W[d,:] *= w[d]; then (LayerNorm) center each column over d.
void fold_norm_into_reader(Weight& W, Tensor* bias, const Tensor& w, const Tensor& b, bool center,
                           bool keep_dtype) {
  if (!center && (!bias || b.empty())) {  // RMSNorm: a scale per input row, any dtype
    W.scale_along(0, w.ptr(), keep_dtype);
    return;
  }
  edit_as_f32(W, keep_dtype, [&](Weight& W) {
  const int64_t D = W.dim(0), N = W.dim(1);
  if (bias && !b.empty())
    for (int64_t d = 0; d < D; ++d)
      for (int64_t n = 0; n < N; ++n) bias->data[n] += b.data[d] * W.data[d * N + n];
  for (int64_t d = 0; d < D; ++d)
    for (int64_t n = 0; n < N; ++n) W.data[d * N + n] *= w.data[d];
  if (!center) return;
  for (int64_t n = 0; n < N; ++n) {
    double mean = 0;
    for (int64_t d = 0; d < D; ++d) mean += W.data[d * N + n];
    mean /= D;
    for (int64_t d = 0; d < D; ++d) W.data[d * N + n] -= static_cast<float>(mean);
  }
  });
}

// Rows of [R, D] writing to the residual: subtract each row's mean over D.
template <class T>
void center_rows(T& W) {
  if (W.empty()) return;
  const int64_t D = W.dim(-1), R = W.numel() / D;
  for (int64_t r = 0; r < R; ++r) {
    double mean = 0;
    for (int64_t d = 0; d < D; ++d) mean += W.data[r * D + d];
    mean /= D;
    for (int64_t d = 0; d < D; ++d) W.data[r * D + d] -= static_cast<float>(mean);
  }
}

void reset_norm(Tensor& w, Tensor& b) {
  for (float& x : w.data) x = 1.0f;
  for (float& x : b.data) x = 0.0f;
}

Tensor ensure_bias(const Tensor& b, int64_t n) { return b.empty() ? Tensor({n}) : b; }

}  // namespace

void process_weights(Model& m) {
  if (m.w.processed) return;
  const bool keep = m.precision == Precision::BF16;
  const ModelConfig& c = m.cfg;
  const bool ln = c.norm == Norm::LayerNorm;
  const int64_t D = c.d_model, dh = c.d_head, H = c.n_heads, Hk = c.n_kv_heads;

  // 1. fold_ln
  for (LayerWeights& lw : m.w.layers) {
    lw.b_qkv = ensure_bias(lw.b_qkv, c.qkv_width());
    fold_norm_into_reader(lw.W_qkv, &lw.b_qkv, lw.ln1_w, lw.ln1_b, ln, keep);
    reset_norm(lw.ln1_w, lw.ln1_b);
    if (!c.attn_only) {
      lw.b_in = ensure_bias(lw.b_in, c.d_mlp);
      if (!lw.W_gate.empty()) fold_norm_into_reader(lw.W_gate, nullptr, lw.ln2_w, lw.ln2_b, ln, keep);
      fold_norm_into_reader(lw.W_in, &lw.b_in, lw.ln2_w, lw.ln2_b, ln, keep);
      reset_norm(lw.ln2_w, lw.ln2_b);
    }
  }
  if (!ln) {  // RMSNorm: W_U [V, D] reads the normalised residual along its columns
    m.w.W_U.scale_along(1, m.w.lnf_w.ptr(), keep);
    m.w.b_U = ensure_bias(m.w.b_U, c.vocab_size);
    reset_norm(m.w.lnf_w, m.w.lnf_b);
  } else edit_as_f32(m.w.W_U, keep, [&](Weight& W_U) {
    // W_U is [V, D]: as a reader it is W_U^T [D, V].
    Weight WUt(Tensor({D, c.vocab_size}));
    for (int64_t v = 0; v < c.vocab_size; ++v)
      for (int64_t d = 0; d < D; ++d) WUt.data[d * c.vocab_size + v] = W_U.data[v * D + d];
    m.w.b_U = ensure_bias(m.w.b_U, c.vocab_size);
    fold_norm_into_reader(WUt, &m.w.b_U, m.w.lnf_w, m.w.lnf_b, ln, keep);
    for (int64_t v = 0; v < c.vocab_size; ++v)
      for (int64_t d = 0; d < D; ++d) W_U.data[v * D + d] = WUt.data[d * c.vocab_size + v];
    reset_norm(m.w.lnf_w, m.w.lnf_b);
  });

  // 2. center_writing_weights (only meaningful before a LayerNorm, which removes the mean).
  auto center = [keep](Weight& W) { edit_as_f32(W, keep, [](Weight& x) { center_rows(x); }); };
  if (ln) {
    center(m.w.W_E);
    if (c.positions == Positions::Learned) center(m.w.W_pos);
    for (LayerWeights& lw : m.w.layers) {
      center(lw.W_O);
      lw.b_O = ensure_bias(lw.b_O, D);
      center_rows(lw.b_O);
      if (!c.attn_only) {
        center(lw.W_out);
        lw.b_out = ensure_bias(lw.b_out, D);
        center_rows(lw.b_out);
      }
    }
  }

  // 3. center_unembed: logits are shift-invariant over the vocabulary.
  if (ln) {
    const int64_t V = c.vocab_size;
    edit_as_f32(m.w.W_U, keep, [&](Weight& W_U) {
      std::vector<double> mean(D, 0.0);
      for (int64_t v = 0; v < V; ++v)
        for (int64_t d = 0; d < D; ++d) mean[d] += W_U.data[v * D + d];
      for (int64_t v = 0; v < V; ++v)
        for (int64_t d = 0; d < D; ++d) W_U.data[v * D + d] -= static_cast<float>(mean[d] / V);
    });
    double bm = 0;
    for (float x : m.w.b_U.data) bm += x;
    for (float& x : m.w.b_U.data) x -= static_cast<float>(bm / V);
  }

  // 4. fold_value_biases: a constant v bias contributes a constant b_V W_O (patterns sum to 1).
  for (LayerWeights& lw : m.w.layers) {
    lw.b_O = ensure_bias(lw.b_O, D);
    const int64_t v_col = (H + Hk) * dh, group = H / Hk;
    const MatRef W_O = lw.W_O.mat();  // any dtype; f32 reads the same elements as before
    for (int64_t h = 0; h < H; ++h) {
      const float* bv = lw.b_qkv.ptr() + v_col + (h / group) * dh;
      for (int64_t j = 0; j < dh; ++j) {
        if (bv[j] == 0.0f) continue;  // adds nothing (Llama: every v bias is zero)
        if (lw.W_O.is_f32())
          for (int64_t d = 0; d < D; ++d) lw.b_O.data[d] += bv[j] * lw.W_O.data[(h * dh + j) * D + d];
        else
          for (int64_t d = 0; d < D; ++d) lw.b_O.data[d] += bv[j] * W_O.at(h * dh + j, d);
      }
    }
    for (int64_t j = v_col; j < v_col + Hk * dh; ++j) lw.b_qkv.data[j] = 0.0f;
  }
  m.w.processed = true;
}

Model expand_kv_heads(const Model& m) {
  Model e = m;
  const ModelConfig& c = m.cfg;
  if (c.n_kv_heads == c.n_heads) return e;
  const int64_t H = c.n_heads, Hk = c.n_kv_heads, dh = c.d_head, group = H / Hk;
  const int64_t W = c.qkv_width(), W2 = 3 * H * dh;
  e.cfg.n_kv_heads = c.n_heads;
  // Source column of expanded column j: q as is, then head h's k/v from kv head h / group.
  auto src_col = [&](int64_t j) {
    if (j < H * dh) return j;
    const int64_t block = (j - H * dh) / (H * dh);  // 0 = k, 1 = v
    const int64_t h = (j - H * dh - block * H * dh) / dh, i = j % dh;
    return H * dh + block * Hk * dh + (h / group) * dh + i;
  };
  for (size_t l = 0; l < m.w.layers.size(); ++l) {
    const LayerWeights& a = m.w.layers[l];
    LayerWeights& b = e.w.layers[l];
    const int64_t D = a.W_qkv.dim(0);
    if (a.W_qkv.transposed()) {  // half, stored [W, D]: each canonical column is a stored row
      const MatRef src = a.W_qkv.mat();
      auto bits = std::make_shared<std::vector<uint16_t>>(static_cast<size_t>(W2 * D));
      for (int64_t j = 0; j < W2; ++j)
        std::memcpy(bits->data() + j * D, static_cast<const uint16_t*>(src.p) + src_col(j) * src.ld,
                    D * sizeof(uint16_t));
      const uint16_t* p = bits->data();
      b.W_qkv = Weight::half(a.W_qkv.dtype(), {D, W2}, true, p, std::move(bits));
    } else {
      const Tensor in = a.W_qkv.to_tensor();
      Tensor out({D, W2});
      for (int64_t r = 0; r < D; ++r)
        for (int64_t j = 0; j < W2; ++j) out.data[r * W2 + j] = in.data[r * W + src_col(j)];
      b.W_qkv = Weight::narrowed(out, a.W_qkv.dtype());
    }
    if (!a.b_qkv.empty()) {
      b.b_qkv = Tensor({W2});
      for (int64_t j = 0; j < W2; ++j) b.b_qkv.data[j] = a.b_qkv.data[src_col(j)];
    }
  }
  return e;
}

}  // namespace cs
