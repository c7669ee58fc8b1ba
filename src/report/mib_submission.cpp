#include "report/mib_submission.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "attribution/mib_faithfulness.h"
#include "ops/error.h"
#include "ops/files.h"
#include "ops/format.h"

namespace cs {

std::string mib_folder_name(const std::string& task, const std::string& model) {
  if (task.empty() || model.empty()) throw Error("MIB submission: the task and the model need names");
  std::string t = task, m = model;
  std::replace(t.begin(), t.end(), '_', '-');
  std::replace(m.begin(), m.end(), '_', '-');
  return t + "_" + m;
}

std::string mib_model_name(const std::string& model_dir) {
  std::filesystem::path p(model_dir);
  if (!p.has_filename()) p = p.parent_path();  // "dir/" names "dir"
  return p.filename().string();
}

std::vector<double> mib_circuit_fractions() {
  std::vector<double> p = mib_edge_fractions();
  p.erase(std::remove(p.begin(), p.end(), 1.0), p.end());  // 100 %: the full model, not submitted
  return p;
}

std::string mib_circuit_file_name(double p) { return "circuit_" + fmt("%g", p) + ".json"; }

std::vector<std::string> mib_files(MibForm form) {
  if (form == MibForm::Importances) return {"importances.json"};
  std::vector<std::string> names;
  for (double p : mib_circuit_fractions()) names.push_back(mib_circuit_file_name(p));
  return names;
}

ScoredGraph mib_circuit(const ScoredGraph& g, double p) {
  ScoredGraph c = g;
  std::vector<double> rank(g.edge_scores.size());
  for (size_t e = 0; e < rank.size(); ++e) rank[e] = std::fabs(g.edge_scores[e]);
  keep_top_edges(c, rank, static_cast<int>(p * g.graph.n_edges()));  // Python's int(p * E)
  return c;
}

void check_mib_folder(const std::string& folder, MibForm form) {
  const MibForm other = form == MibForm::Importances ? MibForm::Circuits : MibForm::Importances;
  for (const std::string& f : mib_files(other))
    if (std::filesystem::exists(std::filesystem::path(folder) / f))
      throw Error("--mib " + folder + ": holds " + f + ", a file of MIB's other submission form (a folder holds one " +
                  "form); remove it or use another --mib directory");
}

void write_mib_submission(const std::string& dir, const std::string& task, const std::string& model,
                          const ScoredGraph& g, MibForm form) {
  const std::string folder = (std::filesystem::path(dir) / mib_folder_name(task, model)).string();
  check_mib_folder(folder, form);
  StagedDir out(folder);
  if (form == MibForm::Importances) {
    write_file_atomic(out.path("importances.json"), graph_json(g));
  } else {
    for (double p : mib_circuit_fractions()) write_file_atomic(out.path(mib_circuit_file_name(p)), graph_json(mib_circuit(g, p)));
  }
  out.commit();
}

}  // namespace cs
