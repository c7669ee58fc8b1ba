// The task's own metric on last-position logits: IOI/docstring logit difference, greater-than
// probability difference, accuracy for induction and answer-only user tasks.
#pragma once
#include <string>
#include <vector>

#include "interp/task.h"
#include "model/batch.h"
#include "model/model.h"
#include "ops/tensor.h"

namespace cs {

// logits [n,V] for prompts [first, first + n) of the task.
std::vector<double> task_metric(const TokenizedTask& task, const Tensor& logits, size_t first = 0);
const char* metric_name(MetricKind k);
// What the task's metric measures, for every place it is printed: "logit difference",
// "probability difference", or for accuracy what counts as right and what chance is:
// "accuracy: answer logit above the wrong token's (chance 0.5)" when every prompt has one wrong
// token (induction), "top-1 accuracy: answer is the argmax" when none has, else both rules.
std::string metric_label(const TokenizedTask& task);

// The vocabulary ids whose logits the metric reads (answers and wrong answers, sorted), or empty
// when it reads them all (probability difference; accuracy without wrong answers).
std::vector<int> metric_columns(const TokenizedTask& task);
// The task with its answer and wrong ids renumbered as indices into `columns` (sorted, as
// metric_columns gives them), so task_metric reads logits [n,K] of those columns alone
// (ForwardOptions::vocab_columns) and gives the same values.
TokenizedTask on_columns(const TokenizedTask& task, const std::vector<int>& columns);

// Batches of prompts as model input, in task order.
Batch clean_batch(const TokenizedTask& task, size_t first, size_t n);
Batch corrupt_batch(const TokenizedTask& task, size_t first, size_t n);

// Mean task metric of the unablated model over the first n prompts.
double model_metric(const Model& m, const TokenizedTask& task, size_t n);

}  // namespace cs
