#include "report/mib_submission.h"

#include <algorithm>
#include <filesystem>

#include "ops/error.h"
#include "ops/files.h"

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

void write_mib_submission(const std::string& dir, const std::string& task, const std::string& model,
                          const ScoredGraph& g) {
  const std::string json = graph_json(g);
  StagedDir out((std::filesystem::path(dir) / mib_folder_name(task, model)).string());
  write_file_atomic(out.path("importances.json"), json);
  out.commit();
}

}  // namespace cs
