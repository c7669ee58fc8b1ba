// Discrete sparse autoencoder of O'Neill & Bui (2024), "Sparse Autoencoders Enable Scalable
// and Reliable Circuit Identification in Language Models" (arXiv 2405.12522). Model-free: it
// takes activation rows (one per (prompt, head)) and returns codes. Spec:
// docs/method.md. Reference code: github.com/charlieoneill11/sae-circuits
// (src/sae.py, src/train.py).
//
//   x_c   = x - b_pre                                 // tied pre-encoder bias, init 0
//   f     = relu(W_enc x_c + b_enc)                   // W_enc [n_features, d_in]
//   x_hat = W_dec f + b_pre                           // W_dec [d_in, n_features], no bias
//   loss  = mean((x_hat - x)^2) + l1 * mean_rows(sum_j f_j)
//
// Unit norm: the reference's ConstrainedUnitNormLinear stores weight [out, in] and normalises
// dim=-1, for the encoder AND the decoder. For W_enc that is each feature's encoder vector
// (length d_in). For W_dec [d_in, n_features] it is each of the d_in ROWS (length n_features),
// not the dictionary atoms (columns), despite that class's docstring. kRows reproduces the
// reference (and so the paper's numbers); kAtoms is the usual dictionary-learning choice
// (Anthropic 2023: each decoder column unit norm), offered as a variant.
// Before each Adam step the gradient component along each constrained vector is removed
// (reference: backward hook); after the step each vector is renormalised (reference: in
// forward). Adam as torch.optim.Adam (betas 0.9/0.999, eps 1e-8, no weight decay), full batch.
//
// Init (seeded, deterministic): W_enc, W_dec ~ N(0,1) then unit-normalised on the constrained
// axis (the reference does the same: normal_, then normalize; that is uniform on the sphere, so
// no Kaiming scale is needed); b_enc ~ U(-1/sqrt(d_in), 1/sqrt(d_in)) (torch nn.Linear bias
// init, as the reference); b_pre = 0 (reference: geometric median is None -> zeros).
// The RNG is splitmix64 + Box-Muller, so values differ from torch's, not in distribution.
//
// Determinism: a seed gives bit-identical parameters, losses and codes on any thread count:
// sums over rows run in fixed chunks added in order, and every GEMM is the same set of
// single-threaded sgemm calls whatever the thread count. Threading and the dense/sparse
// backward: see sae_step.h and sae_backward.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "ops/aligned.h"

namespace cs {

// Which axis of the decoder W_dec [d_in, n_features] is held at unit norm (see above).
enum class SaeDecoderNorm {
  kRows,   // reference code: each row (one per input dim, length n_features)
  kAtoms,  // each column = dictionary atom (length d_in)
};

// How the backward computes the four products that involve f (sae_backward.cpp): dense GEMMs, or
// loops over the non-zero activations only. kAuto picks per epoch from the measured density;
// the two agree to float rounding. kDense / kSparse exist for tests and benchmarks.
enum class SaeKernels { kAuto, kDense, kSparse };

struct SaeConfig {
  int n_features = 200;
  float l1 = 0.02f;  // lambda: 0.02 IOI / greater-than, 0.05 docstring
  float lr = 1e-3f;
  int epochs = 500;
  uint64_t seed = 0;
  SaeDecoderNorm decoder_norm = SaeDecoderNorm::kRows;
  SaeKernels kernels = SaeKernels::kAuto;
};

// Raw loss gradients (before the unit-norm projection), same shapes as the parameters.
struct SaeGrads {
  std::vector<float> W_enc;  // (n_features, d_in)
  std::vector<float> b_enc;  // (n_features)
  std::vector<float> W_dec;  // (d_in, n_features)
  std::vector<float> b_pre;  // (d_in)
};

class Sae {
 public:
  Sae(int64_t d_in, const SaeConfig& cfg);

  // Full-batch Adam for cfg.epochs epochs on X (n, d_in) row-major. Continues from the current
  // parameters and Adam state (a second call trains further). Appends each epoch's loss
  // (measured before that epoch's step) to loss_history() and returns the last one.
  // Throws cs::Error on bad sizes or a non-finite loss (NaN/Inf in X).
  float train(const float* X, int64_t n);

  void encode(const float* X, int64_t n, float* F) const;    // F: (n, n_features), post-ReLU
  void codes(const float* X, int64_t n, int32_t* out) const;  // (n): argmax_j f_j, ties -> lowest j

  // Loss and raw gradients at the current parameters (used by finite-difference tests).
  float loss_and_grad(const float* X, int64_t n, SaeGrads* grads) const;

  int64_t d_in() const { return d_in_; }
  int64_t n_features() const { return n_feat_; }
  const SaeConfig& config() const { return cfg_; }
  int64_t steps() const { return step_; }                 // Adam steps taken
  int64_t sparse_steps() const { return sparse_steps_; }  // of which used sparse kernels
  const std::vector<float>& loss_history() const { return loss_history_; }

  // Parameters, writable (e.g. to load a trained SAE); keep their sizes.
  std::vector<float>& W_enc() { return W_enc_; }  // (n_features, d_in)
  std::vector<float>& b_enc() { return b_enc_; }  // (n_features)
  std::vector<float>& W_dec() { return W_dec_; }  // (d_in, n_features)
  std::vector<float>& b_pre() { return b_pre_; }  // (d_in)
  const std::vector<float>& W_enc() const { return W_enc_; }
  const std::vector<float>& b_enc() const { return b_enc_; }
  const std::vector<float>& W_dec() const { return W_dec_; }
  const std::vector<float>& b_pre() const { return b_pre_; }

 private:
  int64_t d_in_, n_feat_;
  SaeConfig cfg_;
  std::vector<float> W_enc_, b_enc_, W_dec_, b_pre_;
  // Adam moments, one allocation each, carved [W_enc | b_enc | W_dec | b_pre].
  AlignedVector<float> adam_m_, adam_v_;
  int64_t step_ = 0, sparse_steps_ = 0;
  std::vector<float> loss_history_;
};

}  // namespace cs
