// `sweep`'s combined table: one row per job (model x task x method x seed), its numbers read from
// the job's own compare.json (so they are the individual run's numbers), a failed job with its
// one-line error; as markdown, CSV, JSON and one self-contained HTML page with the ROC and
// faithfulness plots of every job, one section per task.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cs {

struct SweepOutcome {
  std::string model, task, method;  // the job's labels (model folder name, task name)
  uint64_t seed = 0;
  std::string dir;                  // the job's compare folder
  bool ok = false;                  // finished: dir holds its compare.json
  bool reused = false;              // finished by an earlier sweep run (skipped this time)
  std::string error;                // a failed job's one-line error
  std::string compare_json;         // the job's compare.json text (ok jobs)
};

// One job's numbers, from its compare.json (NaN where the run has none): means over trials.
struct SweepRow {
  const SweepOutcome* job = nullptr;
  double node_auc = 0, node_auc_of_mean = 0, edge_auc = 0, precision_at_k = 0, faithfulness_at_k = 0,
         cpr = 0, cmd = 0, seconds = 0;
  int k = 0, trials = 0;
};

// Throws cs::Error naming the folder when an ok job's compare.json lacks its method.
std::vector<SweepRow> sweep_rows(const std::vector<SweepOutcome>& jobs);

std::string sweep_markdown(const std::vector<SweepOutcome>& jobs, const std::string& plan);
// Columns: model,task,method,seed,status,node_auc,node_auc_of_mean_scores,edge_auc,
// precision_at_k,faithfulness_at_k,cpr,cmd,seconds,k,trials,dir,error (numbers with 17
// significant digits, empty where the run has none).
std::string sweep_csv(const std::vector<SweepOutcome>& jobs);
std::string sweep_json(const std::vector<SweepOutcome>& jobs, const std::string& plan);
// Sections: summary (the table), one per task ("task-<name>": ROC plot and faithfulness plot of
// every finished job of that task), failed (when a job failed).
std::string sweep_html(const std::vector<SweepOutcome>& jobs, const std::string& plan);

}  // namespace cs
