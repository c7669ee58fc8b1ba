// Task metrics on last-position logits [B,V], one value per prompt (batched), plus their mean.
// Every metric computes in double precision. Shapes and token ids are checked; a bad id or a
// size mismatch throws cs::Error.
#pragma once
#include <vector>

#include "ops/tensor.h"

namespace cs {

// Logit difference per prompt: logit(answer[b]) - max_{w in wrong[b]} logit(w).
// With one wrong token this is the IOI metric logit(IO) - logit(S) (Wang et al. 2022); with
// several it is the docstring metric logit(C) - max over the other argument names (Heimersheim &
// Janiak 2023). wrong[b] must not be empty.
std::vector<double> logit_diff(const Tensor& logits /*[B,V]*/, const std::vector<int>& answer,
                               const std::vector<std::vector<int>>& wrong);

// Greater-than probability difference (Hanna et al. 2023), softmax over the full vocabulary:
// sum_{i > threshold[b]} p(year_tokens[i]) - sum_{i <= threshold[b]} p(year_tokens[i]).
// year_tokens[i] is the token of the number i ("00".."99" for GPT-2: 100 ids); threshold[b] is
// the prompt's YY as an index into year_tokens.
std::vector<double> prob_diff(const Tensor& logits /*[B,V]*/, const std::vector<int>& year_tokens,
                              const std::vector<int>& threshold);

// 1 if logit(answer[b]) is strictly greater than the logit of every token in wrong[b]; with
// wrong[b] empty, 1 if answer[b] is the argmax over the vocabulary (ties count as a miss).
// `wrong` may be empty altogether (argmax accuracy for every prompt).
std::vector<double> accuracy(const Tensor& logits /*[B,V]*/, const std::vector<int>& answer,
                             const std::vector<std::vector<int>>& wrong);

// KL(clean || patched) per prompt, sum_v p_clean(v) (log p_clean(v) - log p_patched(v)), in nats:
// ACDC's default search metric.
std::vector<double> kl_div(const Tensor& clean_logits /*[B,V]*/, const Tensor& logits /*[B,V]*/);

double mean(const std::vector<double>& x);  // throws on empty input

}  // namespace cs
