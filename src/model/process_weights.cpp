#include "model/process_weights.h"

namespace cs {

namespace {

// W [D, N] reads a normalised residual: fold scale w and shift b of the norm into it.
// b_out[N] += b @ W; W[d,:] *= w[d]; then (LayerNorm) center each column over d.
void fold_norm_into_reader(Tensor& W, Tensor* bias, const Tensor& w, const Tensor& b, bool center) {
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
}

// Rows of [R, D] writing to the residual: subtract each row's mean over D.
void center_rows(Tensor& W) {
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
  const ModelConfig& c = m.cfg;
  const bool ln = c.norm == Norm::LayerNorm;
  const int64_t D = c.d_model, dh = c.d_head, H = c.n_heads, Hk = c.n_kv_heads;

  // 1. fold_ln
  for (LayerWeights& lw : m.w.layers) {
    lw.b_qkv = ensure_bias(lw.b_qkv, c.qkv_width());
    fold_norm_into_reader(lw.W_qkv, &lw.b_qkv, lw.ln1_w, lw.ln1_b, ln);
    reset_norm(lw.ln1_w, lw.ln1_b);
    if (!c.attn_only) {
      lw.b_in = ensure_bias(lw.b_in, c.d_mlp);
      if (!lw.W_gate.empty()) fold_norm_into_reader(lw.W_gate, nullptr, lw.ln2_w, lw.ln2_b, ln);
      fold_norm_into_reader(lw.W_in, &lw.b_in, lw.ln2_w, lw.ln2_b, ln);
      reset_norm(lw.ln2_w, lw.ln2_b);
    }
  }
  {
    // W_U is [V, D]: as a reader it is W_U^T [D, V].
    Tensor WUt({D, c.vocab_size});
    for (int64_t v = 0; v < c.vocab_size; ++v)
      for (int64_t d = 0; d < D; ++d) WUt.data[d * c.vocab_size + v] = m.w.W_U.data[v * D + d];
    m.w.b_U = ensure_bias(m.w.b_U, c.vocab_size);
    fold_norm_into_reader(WUt, &m.w.b_U, m.w.lnf_w, m.w.lnf_b, ln);
    for (int64_t v = 0; v < c.vocab_size; ++v)
      for (int64_t d = 0; d < D; ++d) m.w.W_U.data[v * D + d] = WUt.data[d * c.vocab_size + v];
    reset_norm(m.w.lnf_w, m.w.lnf_b);
  }

  // 2. center_writing_weights (only meaningful before a LayerNorm, which removes the mean).
  if (ln) {
    center_rows(m.w.W_E);
    if (c.positions == Positions::Learned) center_rows(m.w.W_pos);
    for (LayerWeights& lw : m.w.layers) {
      center_rows(lw.W_O);
      lw.b_O = ensure_bias(lw.b_O, D);
      center_rows(lw.b_O);
      if (!c.attn_only) {
        center_rows(lw.W_out);
        lw.b_out = ensure_bias(lw.b_out, D);
        center_rows(lw.b_out);
      }
    }
  }

  // 3. center_unembed: logits are shift-invariant over the vocabulary.
  if (ln) {
    const int64_t V = c.vocab_size;
    std::vector<double> mean(D, 0.0);
    for (int64_t v = 0; v < V; ++v)
      for (int64_t d = 0; d < D; ++d) mean[d] += m.w.W_U.data[v * D + d];
    for (int64_t v = 0; v < V; ++v)
      for (int64_t d = 0; d < D; ++d) m.w.W_U.data[v * D + d] -= static_cast<float>(mean[d] / V);
    double bm = 0;
    for (float x : m.w.b_U.data) bm += x;
    for (float& x : m.w.b_U.data) x -= static_cast<float>(bm / V);
  }

  // 4. fold_value_biases: a constant v bias contributes a constant b_V W_O (patterns sum to 1).
  for (LayerWeights& lw : m.w.layers) {
    lw.b_O = ensure_bias(lw.b_O, D);
    const int64_t v_col = (H + Hk) * dh, group = H / Hk;
    for (int64_t h = 0; h < H; ++h) {
      const float* bv = lw.b_qkv.ptr() + v_col + (h / group) * dh;
      for (int64_t j = 0; j < dh; ++j)
        for (int64_t d = 0; d < D; ++d) lw.b_O.data[d] += bv[j] * lw.W_O.data[(h * dh + j) * D + d];
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
    b.W_qkv = Tensor({D, W2});
    for (int64_t r = 0; r < D; ++r)
      for (int64_t j = 0; j < W2; ++j) b.W_qkv.data[r * W2 + j] = a.W_qkv.data[r * W + src_col(j)];
    if (!a.b_qkv.empty()) {
      b.b_qkv = Tensor({W2});
      for (int64_t j = 0; j < W2; ++j) b.b_qkv.data[j] = a.b_qkv.data[src_col(j)];
    }
  }
  return e;
}

}  // namespace cs
