// Gradient of the task metric with respect to the last-position logits, for attribution methods
// (attribution patching, EAP, EAP-IG) that backpropagate the metric through the model.
//
//   LogitDiff  logit(answer) - max_w logit(w): +1 at the answer, -1 at the wrong token that attains
//              the max (the subgradient autograd takes)
//   ProbDiff   sum_i s_i p(year_i), s_i = +1 above the threshold, -1 at or below it; softmax over
//              the whole vocabulary: d/dz_j = p_j (s_j - sum_i s_i p_i)
//   Accuracy   not differentiable; its stand-in is the logit difference against the prompt's wrong
//              tokens when it has some (the induction task does), else log p(answer)
#pragma once
#include <cstdint>
#include <vector>

#include "interp/task.h"
#include "ops/tensor.h"

namespace cs {

// Token ids the (differentiable) metric reads for prompts [first, first + n): sorted and unique,
// or empty when it needs the whole vocabulary (ProbDiff, log p). Pass it as forward_record's
// vocab_rows so the unembedding computes only those columns.
std::vector<int32_t> metric_vocab(const TokenizedTask& task, size_t first, size_t n);

// logits [n, V'] at each prompt's last position, columns = `vocab` (empty: all V), prompts
// [first, first + n). Returns d(scale * sum_b metric_b)/d logits, shape [n, V']; fills *values
// with the differentiable metric per prompt (equal to task_metric except for Accuracy tasks).
Tensor task_metric_grad(const TokenizedTask& task, const Tensor& logits, size_t first,
                        const std::vector<int32_t>& vocab, double scale,
                        std::vector<double>* values = nullptr);

}  // namespace cs
