#include "cli/sweep_plan.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/commands.h"
#include "cli/method_flags.h"
#include "compare/methods.h"
#include "interp/task.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

namespace fs = std::filesystem;

namespace {

using json = nlohmann::json;

std::string resolve(const fs::path& base, const std::string& p) {
  const fs::path x(p);
  return x.is_absolute() ? x.string() : (base / x).lexically_normal().string();
}

std::vector<std::string> string_list(const json& j, const std::string& key, const std::string& where) {
  if (!j.contains(key)) throw Error(where + ": no \"" + key + "\" list; give at least one entry");
  const json& v = j[key];
  if (!v.is_array() || v.empty()) throw Error(where + ": \"" + key + "\" must be a non-empty list of strings");
  std::vector<std::string> out;
  for (const json& x : v) {
    if (!x.is_string() || x.get<std::string>().empty())
      throw Error(where + ": \"" + key + "\" must hold non-empty strings, got " + x.dump());
    const std::string s = x.get<std::string>();
    if (std::find(out.begin(), out.end(), s) != out.end())
      throw Error(where + ": \"" + key + "\" lists '" + s + "' twice");
    out.push_back(s);
  }
  return out;
}

// A flag value as compare's command line spells it.
std::string option_value(const json& v, const std::string& name, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return v.dump();
  throw Error(where + ": option \"" + name + "\" must be a string or a number (a toggle: true or false), got " + v.dump());
}

// Folder names, unique within the plan: a second "gpt2" becomes "gpt2-2".
std::vector<std::string> unique_labels(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  std::map<std::string, int> seen;
  for (const std::string& n : names) {
    const int k = ++seen[n];
    out.push_back(k == 1 ? n : n + "-" + std::to_string(k));
  }
  return out;
}

// The plan's "seeds": distinct integers in [0, kMaxSeed]; {0} when absent.
std::vector<uint64_t> seed_list(const json& j, const std::string& path) {
  if (!j.contains("seeds")) return {0};
  const json& s = j["seeds"];
  if (!s.is_array() || s.empty()) throw Error(path + ": \"seeds\" must be a non-empty list of non-negative integers");
  std::vector<uint64_t> seeds;
  for (const json& x : s) {
    if (!x.is_number_unsigned() && !(x.is_number_integer() && x.get<int64_t>() >= 0))
      throw Error(path + ": \"seeds\" must hold non-negative integers, got " + x.dump());
    const uint64_t v = x.get<uint64_t>();
    if (v > static_cast<uint64_t>(kMaxSeed)) throw Error(path + ": seed " + x.dump() + " is above " + std::to_string(kMaxSeed));
    if (std::find(seeds.begin(), seeds.end(), v) != seeds.end()) throw Error(path + ": \"seeds\" lists " + x.dump() + " twice");
    seeds.push_back(v);
  }
  return seeds;
}

}  // namespace

SweepPlan load_sweep_plan(const std::string& path, const std::string& out_override) {
  const std::string text = read_input_file(path, kMaxSmallJsonBytes);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + "); see `circuitscan sweep --help` for the format");
  }
  if (!j.is_object()) throw Error(path + ": a plan is a JSON object with models, tasks, methods, seeds and options");
  static const std::set<std::string> keys = {"models", "tasks", "methods", "seeds", "options", "out"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!keys.count(it.key()))
      throw Error(path + ": unknown key \"" + it.key() + "\" (a plan has models, tasks, methods, seeds, options, out)");
  const fs::path base = fs::absolute(fs::path(path)).parent_path();

  SweepPlan plan;
  plan.path = path;
  if (!out_override.empty()) plan.out = out_override;
  else if (j.contains("out") && j["out"].is_string() && !j["out"].get<std::string>().empty())
    plan.out = resolve(base, j["out"].get<std::string>());
  else if (j.contains("out")) throw Error(path + ": \"out\" must be a non-empty string (a folder)");
  else throw Error(path + ": no output folder: give \"out\" in the plan or --out");

  std::vector<std::string> models, model_names;
  for (const std::string& m : string_list(j, "models", path)) {
    const std::string dir = resolve(base, m);
    if (!fs::is_directory(dir) || !fs::exists(fs::path(dir) / "config.json"))
      throw Error(path + ": model '" + m + "' is not a model folder (" + dir + " has no config.json)");
    models.push_back(dir);
    model_names.push_back(fs::path(dir).filename().string());
  }
  const std::vector<std::string> model_labels = unique_labels(model_names);

  const std::vector<std::string> builtin = builtin_task_names();
  std::vector<std::string> tasks, task_names;
  for (const std::string& t : string_list(j, "tasks", path)) {
    if (std::find(builtin.begin(), builtin.end(), t) != builtin.end()) {
      tasks.push_back(t), task_names.push_back(t);
      continue;
    }
    if (fs::path(t).extension() != ".jsonl") {
      std::string names;
      for (const auto& b : builtin) names += (names.empty() ? "" : ", ") + b;
      throw Error(path + ": task '" + t + "' is neither a builtin task (" + names + ") nor a .jsonl file");
    }
    const std::string file = resolve(base, t);
    check_input_file(file, kMaxLargeInputBytes);
    tasks.push_back(file), task_names.push_back(fs::path(file).stem().string());
  }
  const std::vector<std::string> task_labels = unique_labels(task_names);

  const std::vector<std::string> methods = string_list(j, "methods", path);
  for (const std::string& m : methods) {
    try {
      parse_method(m);
    } catch (const UsageError& e) {
      throw Error(path + ": " + e.what());
    }
  }

  const std::vector<uint64_t> seeds = seed_list(j, path);

  // compare's options, shared by every job; the ones sweep sets per job are refused.
  std::vector<std::string> options;
  if (j.contains("options")) {
    const json& o = j["options"];
    if (!o.is_object()) throw Error(path + ": \"options\" must be an object of compare's flags, e.g. {\"prompts\": 100}");
    static const std::set<std::string> per_job = {"task", "methods", "seed", "out", "help"};
    for (auto it = o.begin(); it != o.end(); ++it) {
      const std::string name = it.key();
      if (per_job.count(name))
        throw Error(path + ": option \"" + name + "\" is set by the plan itself (tasks, methods, seeds, out), not by options");
      if (it.value().is_boolean()) {
        if (it.value().get<bool>()) options.push_back("--" + name);
        continue;
      }
      options.push_back("--" + name + "=" + option_value(it.value(), name, path));
    }
  }

  for (size_t mi = 0; mi < models.size(); ++mi)
    for (size_t ti = 0; ti < tasks.size(); ++ti)
      for (const std::string& method : methods)
        for (uint64_t seed : seeds) {
          SweepJob job;
          job.model = models[mi], job.model_label = model_labels[mi];
          job.task = tasks[ti], job.task_label = task_labels[ti];
          job.method = method, job.seed = seed;
          job.dir = (fs::path(plan.out) / "jobs" / job.model_label / job.task_label / method /
                     ("seed-" + std::to_string(seed))).string();
          job.args = {job.model, "--task", job.task, "--methods", method, "--seed", std::to_string(seed)};
          job.args.insert(job.args.end(), options.begin(), options.end());
          job.args.push_back("--out");
          job.args.push_back(job.dir);
          plan.jobs.push_back(std::move(job));
        }

  // Every job's arguments through compare's declarations: a bad option or value is refused now.
  for (const SweepJob& job : plan.jobs) {
    std::vector<char*> argv;
    for (const std::string& a : job.args) argv.push_back(const_cast<char*>(a.c_str()));
    try {
      Args a = compare_args();
      a.parse(static_cast<int>(argv.size()), argv.data());
      MethodOptions checked;
      method_options_from_flags(a, checked);  // compare's checks across flags (e.g. --acdc-sweep 1)
    } catch (const UsageError& e) {
      throw Error(path + ": options: " + e.what());
    }
  }
  return plan;
}

bool sweep_job_complete(const SweepJob& job) {
  const fs::path d(job.dir);
  std::error_code ec;
  for (const char* f : {"compare.md", "compare.html", "compare.json"})
    if (!fs::is_regular_file(d / f, ec)) return false;
  try {
    const json j = json::parse(read_input_file((d / "compare.json").string(), kMaxLargeInputBytes));
    for (const json& m : j.at("methods"))
      if (m.at("method").get<std::string>() == job.method) return true;
  } catch (const std::exception&) {
  }
  return false;
}

}  // namespace cs
