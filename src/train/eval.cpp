// evaluate_heldout (trainer.h): the four task scores on prompts whose key words are held out
// (holdout.h), so they never occurred in the corpus's task documents.
#include <set>

#include "interp/metrics.h"
#include "interp/task.h"
#include "model/transformer.h"
#include "ops/error.h"
#include "train/corpus.h"
#include "train/holdout.h"
#include "train/trainer.h"

namespace cs {
namespace {

// Last-position logits [B,V] of equal-length prompts, in chunks of 64.
Tensor last_logits(const Model& m, const std::vector<std::vector<int>>& seqs) {
  Tensor out;
  for (size_t b = 0; b < seqs.size(); b += 64) {
    std::vector<std::vector<int>> part(seqs.begin() + static_cast<long>(b),
                                       seqs.begin() + static_cast<long>(std::min(seqs.size(), b + 64)));
    ForwardOptions fo;
    fo.logits = LogitsAt::Last;
    Tensor l = forward(m, Batch::from_sequences(part), nullptr, fo);
    if (out.empty()) out.shape = {0, l.dim(1)};
    out.data.insert(out.data.end(), l.data.begin(), l.data.end());
    out.shape[0] += l.dim(0);
  }
  return out;
}

// Prompts of a task whose fields `keys` are all held out; asks for more until n are kept.
TokenizedTask heldout_prompts(TokenizedTask (*gen)(const Tokenizer&, const TaskOptions&),
                              const Tokenizer& tok, int n, uint64_t seed,
                              const std::vector<std::string>& keys) {
  TokenizedTask kept;
  for (uint64_t round = 0; static_cast<int>(kept.size()) < n && round < 8; ++round) {
    TaskOptions o;
    o.n = 20 * n;
    o.seed = seed * 7919 + round;
    TokenizedTask t = gen(tok, o);
    kept.name = t.name, kept.year_tokens = t.year_tokens;
    for (size_t i = 0; i < t.size() && static_cast<int>(kept.size()) < n; ++i) {
      bool ok = true;
      for (const auto& k : keys) ok = ok && is_heldout(t.prompts[i].fields.at(k));
      if (!ok) continue;
      kept.clean.push_back(t.clean[i]);
      kept.answer.push_back(t.answer[i]);
      kept.wrong.push_back(t.wrong[i]);
      if (!t.threshold.empty()) kept.threshold.push_back(t.threshold[i]);
      kept.prompts.push_back(t.prompts[i]);
    }
  }
  if (kept.size() == 0) throw Error("evaluate: no " + kept.name + " prompt uses held-out words only");
  return kept;
}

// Argmax over the full vocabulary == the repeated token, for each token of the second half that
// induction can predict (x2..xk, read off positions k..2k-2) of n sequences x1..xk x1..xk
// (k = 20 distinct words of pool). The second x1 follows nothing that announces the repeat, and
// the last position's next token would be a third copy the sequence does not have: neither counts.
double induction_accuracy(const Model& m, const std::vector<int>& pool, int n, uint64_t seed) {
  const int k = std::min<int>(20, static_cast<int>(pool.size()));
  if (k < 2) throw Error("evaluate: too few words for induction prompts");
  SplitMix64 r(seed, 0x1d0);
  int hit = 0, total = 0;
  for (int b0 = 0; b0 < n; b0 += 8) {
    std::vector<std::vector<int>> seqs;
    for (int b = b0; b < std::min(n, b0 + 8); ++b) {
      std::vector<int> x;
      for (int i : r.distinct(static_cast<int>(pool.size()), k)) x.push_back(pool[static_cast<size_t>(i)]);
      x.insert(x.end(), x.begin(), x.end());
      seqs.push_back(x);
    }
    const Tensor l = forward(m, Batch::from_sequences(seqs));  // [B,2k,V]
    const int64_t V = l.dim(2), T = l.dim(1);
    for (size_t b = 0; b < seqs.size(); ++b)
      for (int p = k; p + 1 < 2 * k; ++p) {  // next token after p is x[p-k+1]
        const float* row = l.ptr() + (static_cast<int64_t>(b) * T + p) * V;
        const int want = seqs[b][static_cast<size_t>(p - k + 1)];
        int arg = 0;
        for (int64_t v = 1; v < V; ++v)
          if (row[v] > row[arg]) arg = static_cast<int>(v);
        hit += arg == want, ++total;
      }
  }
  return static_cast<double>(hit) / total;
}

}  // namespace

TaskScores evaluate_heldout(const Model& m, const Tokenizer& tok, int n, uint64_t seed) {
  TaskScores s;
  {  // IOI: accuracy among all the names, logit diff IO - S
    TokenizedTask t = heldout_prompts(ioi_task, tok, n, seed, {"IO", "S"});
    std::vector<int> name_ids;
    for (const auto& nm : ioi_names(tok)) name_ids.push_back(tok.single_token(" " + nm));
    std::vector<std::vector<int>> others;
    for (int a : t.answer) {
      others.emplace_back();
      for (int id : name_ids)
        if (id != a) others.back().push_back(id);
    }
    const Tensor l = last_logits(m, t.clean);
    s.ioi_acc = mean(accuracy(l, t.answer, others));
    s.ioi_logit_diff = mean(logit_diff(l, t.answer, t.wrong));
    s.n_ioi = static_cast<int>(t.size());
  }
  {
    TokenizedTask t = heldout_prompts(greater_than_task, tok, n, seed, {"noun"});
    s.gt_prob_diff = mean(prob_diff(last_logits(m, t.clean), t.year_tokens, t.threshold));
    s.n_gt = static_cast<int>(t.size());
  }
  {
    TokenizedTask t = heldout_prompts(docstring_task, tok, n, seed, {"C"});
    s.docstring_acc = mean(accuracy(last_logits(m, t.clean), t.answer, t.wrong));
    s.n_docstring = static_cast<int>(t.size());
  }
  // induction: x1..xk x1..xk of held-out words (and, as a diagnostic, of train words)
  s.induction_acc = induction_accuracy(m, lexicon_pool_split(tok, true), std::max(1, n / 2), seed);
  s.induction_acc_train = induction_accuracy(m, lexicon_pool_split(tok, false), std::max(1, n / 2), seed);
  s.n_induction = std::max(1, n / 2);
  return s;
}

}  // namespace cs
