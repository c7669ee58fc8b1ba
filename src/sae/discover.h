// `discover`: the whole discrete-SAE pipeline on a model and a task, over several trials, with
// the evaluation against a ground truth when one is given.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "evaluation/ground_truth.h"
#include "evaluation/roc.h"
#include "sae/sae_method.h"
#include "interp/faithfulness.h"
#include "interp/head_outputs.h"
#include "interp/task.h"
#include "model/model.h"

namespace cs {

enum class Level { Node, Edge };

struct DiscoverOptions {
  SaeMethodOptions sae;
  PositionReduce position = PositionReduce::Mean;
  std::string position_name;        // for PositionReduce::Named: a task position ("S2", "YY")
  int trials = 1;
  uint64_t seed = 0;                // trial t uses seed + t
  Level level = Level::Node;
  // Node ranking: "paper" |P \ N| (O'Neill & Bui), "null" the null-corrected score of
  // code_null.h, "causal" the null-corrected score confirmed by one attribution-patching pass
  // (mean of the two normalised ranks; see discover.cpp), "confirmed" the paper's score confirmed
  // by the same pass.
  std::string score = "paper";
  int top_k = -1;                   // circuit = top-k heads; -1: ground-truth size, else threshold
  double threshold = -1;            // when top_k < 0 and >= 0: size = heads whose softmax of the
                                    // paper's |P \ N| is >= threshold (the ranking picks which)
  bool faithfulness = true;
  FaithfulnessOptions faith;
  std::function<void(const std::string&, double)> progress;  // (phase, fraction done)
};

struct TrialEval {
  double auc = 0;
  Confusion at_k{};                 // top-k with k = ground-truth size
};

struct DiscoverResult {
  std::vector<SaeTrial> trials;
  std::vector<std::vector<double>> head_scores;  // per trial: the ranking used (node raw or edge counts)
  std::vector<double> mean_scores, std_scores;   // over trials, per head
  std::vector<double> mean_softmax;              // softmax of mean scores (paper's circuit threshold)
  std::vector<double> mean_edge_U;               // mean over trials [HT, HT] (edge level)
  std::vector<int> circuit;                      // chosen heads (index layer*H+head), best first
  std::vector<TrialEval> evals;                  // with a truth: per trial
  std::optional<RocCurve> roc;                   // with a truth: of the mean scores
  std::optional<TrialEval> mean_eval;            // with a truth: of the mean scores
  std::optional<FaithfulnessCurve> faith;
  double circuit_faithfulness = 0;               // fraction of the full metric kept by `circuit`
  std::vector<double> attribution;               // "causal": |attribution patching| per head
  double seconds_collect = 0, seconds_train = 0, seconds_codes = 0, seconds_scores = 0,
         seconds_faithfulness = 0, seconds_total = 0;
  double collect_flops = 0, train_flops = 0;
  int n_positive = 0, n_negative = 0;
};

// Mean of the two normalised ranks (ties averaged): the "causal" score's combination.
std::vector<double> combine_ranks(const std::vector<double>& a, const std::vector<double>& b);

DiscoverResult discover(const Model& m, const TokenizedTask& task, const DiscoverOptions& opts,
                        const GroundTruth* truth);

}  // namespace cs
