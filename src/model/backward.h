// Reverse-mode gradients of the forward pass in transformer.h, for every architecture it runs
// (GPT-2, attention-only, NeoX, Llama: LayerNorm/RMSNorm, learned/shortformer/rotary positions,
// GELU/ReLU/SwiGLU, grouped-query attention, parallel residual):
//  - parameter gradients, for training;
//  - d(metric)/d(activation) at TransformerLens hook points, for attribution methods (attribution
//    patching, EAP, EAP-IG).
// Usage: logits = forward_record(m, batch, &rec, hooks); dlogits = d metric / d logits;
//        backward(m, rec, dlogits, &grads, {points}, &hook_grads).
#pragma once
#include <cstdint>
#include <map>
#include <vector>

#include "model/batch.h"
#include "model/blocks.h"
#include "model/hooks.h"
#include "model/model.h"

namespace cs {

// Parameter gradients in the canonical layout of Weights (empty where the model has no such
// parameter). Tied embeddings: the gradient reaching W_E through the token lookup and the one
// reaching W_U through the unembedding are kept apart in w.W_E and w.W_U; a trainer of a tied
// model sums them.
struct Gradients {
  Weights w;

  static Gradients zeros_like(const Model& m);
  void zero();  // every tensor to 0, shapes kept
};

// What one block's backward needs, as the forward used it (the value after that point's hooks).
struct LayerRecord {
  Tensor resid_pre;                  // [B,T,D]     block input (ln1 input)
  Tensor ln1;                        // [B,T,D]     ln1's output: hook_normalized * w + b (empty on the split path)
  Tensor q_input, k_input, v_input;  // [B,T,H|Hk,D] split q/k/v inputs, only when the forward
                                     //             split them (a hook on one of them was active)
  Tensor q, k;                       // [B,T,H|Hk,dh] after rotary: what the scores read
  Tensor v;                          // [B,T,Hk,dh]
  Tensor pattern;                    // [B,H,T,T]
  Tensor z;                          // [B,T,H,dh]
  Tensor mlp_in, ln2;                // [B,T,D]     ln2: its output (empty for attention-only models)
  Tensor mlp_pre, mlp_post;          // [B,T,F]     (SwiGLU: pre is the gate)

  bool split_qkv() const { return !q_input.empty(); }
};

// Activation record of one forward pass (llm.c's ActivationTensors). Independent of the Model
// object: any number of records may share one model.
struct ForwardRecord {
  int B = 0, T = 0;
  std::vector<int32_t> tokens;       // [B,T]
  Tensor pos;                        // [B,T,D] hook_pos_embed, shortformer models only
  std::vector<LayerRecord> layers;
  Tensor resid_final;                // [B,T,D] input of the final norm
  Tensor ln_final;                   // [B,T,D] the final norm's output: hook_normalized * w + b
  std::vector<int32_t> vocab_rows;   // logit columns = these token ids (sorted); empty: all V
  Unembedding unembed;               // over vocab_rows
  Tensor logits;                     // the logits forward_record returned (soft-capped models only)
  std::vector<int64_t> logit_positions;  // logit rows = these positions b*T+t; empty: all B*T
  // A norm's hook_normalized [B,T,D] as the caller's hooks left it (x/scale, before the weight),
  // kept only where the caller hooked that point: the norm weight's gradient reads it.
  std::map<HookPoint, Tensor> normalized;

  const float* normalized_at(Hook h, int layer) const {
    auto it = normalized.find({h, layer});
    return it == normalized.end() ? nullptr : it->second.ptr();
  }
};

// Hook points whose gradient backward() reports. Every point of hooks.h is supported; the gradient
// has the activation's TransformerLens shape. q/k/v are the hook_q/k/v values (before rotary);
// hook_q_input/k_input/v_input are per-head copies of the residual whether or not the forward split
// them; hook_result's gradient is the same [B,T,D] slice for each head. A point the forward did not
// pass through (ln1.hook_normalized of a layer whose q/k/v inputs were split) is left out.
struct BackwardRequest {
  std::vector<HookPoint> points;
};

// Runs forward() with `hooks` (patching hooks included) plus recording hooks that run after them,
// fills *rec, and returns logits [B,T,V] (or [B,T,V'] for V' = vocab_rows.size(), sorted ids).
// With logit_positions (flattened b*T+t, each in range), only those rows are unembedded and the
// logits are [P,V'] in that order, P = logit_positions.size(): a metric read at one position per
// prompt then skips the other T-1 rows of a vocabulary-wide unembedding, forward and backward.
// `hooks` are copied: a stateful hook must keep its state behind a pointer or reference.
Tensor forward_record(const Model& m, const Batch& batch, ForwardRecord* rec,
                      const Hooks* hooks = nullptr, const std::vector<int32_t>& vocab_rows = {},
                      const std::vector<int64_t>& logit_positions = {});

// Loss-agnostic backward: given dlogits (the shape forward_record returned: [P,V'] rows of
// rec.logit_positions when it was given), accumulates (+=)
// parameter gradients into *grads (allocated as zeros if empty; nullptr skips them, which is
// faster when only hook gradients are wanted) and writes d/d activation for each requested point
// into (*hook_grads)[point.name()].
// Hooks are the identity in the backward (straight-through): a patched activation passes its
// gradient on unchanged, so gradients are those of the unpatched graph at the patched values.
// Rows of dlogits that are all zero (positions the metric ignores) cost nothing in the unembedding.
void backward(const Model& m, const ForwardRecord& rec, const Tensor& dlogits, Gradients* grads,
              const BackwardRequest& req = {}, ActivationCache* hook_grads = nullptr);

// One training step's loss and gradient: mean next-token cross-entropy over targets [B,T]
// (-1 = ignored), with the softmax taken over vocab_rows only (sorted token ids that include
// every target; empty = whole vocabulary). Overwrites *grads (zeroed first). Returns the mean loss.
// row_log_count (empty, or one per vocab_rows entry) is added to each column's logit before the
// softmax: a row that stands for k identical unembedding rows gets log k, which makes the
// restricted softmax equal the full one when every id left out shares that row.
float train_step_loss_and_grad(const Model& m, const Batch& batch,
                               const std::vector<int32_t>& targets,
                               const std::vector<int32_t>& vocab_rows, Gradients* grads,
                               const std::vector<float>& row_log_count = {});

}  // namespace cs
