#include "python/discover_api.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "cli/compare_command.h"
#include "cli/discover_command.h"
#include "cli/task_flags.h"
#include "ops/error.h"
#include "python/arrays.h"
#include "python/interrupt.h"
#include "python/model_api.h"
#include "report/circuit_report.h"

namespace cs::py_bind {

namespace py = pybind11;

namespace {

// A discover run as Python sees it: the result and the record circuit.json is written from.
struct PyDiscoverRun {
  DiscoverResult r;
  RunInfo info;
  std::vector<std::string> warnings;
};

// The command's flags parsed from what the Python wrapper made of the keyword arguments
// ("--name=value", one per option, in the CLI's spelling), after the model's directory.
void parse_flags(Args& a, const std::string& model_dir, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {model_dir};
  for (const std::string& f : flags) {
    if (f == "--help" || f.rfind("--", 0) != 0) throw UsageError("malformed option '" + f + "'");
    argv.push_back(f);
  }
  std::vector<char*> ptrs;
  for (std::string& s : argv) ptrs.push_back(s.data());
  a.parse(static_cast<int>(ptrs.size()), ptrs.data());
}

// The command line that would run the same (for circuit.json and the report).
std::string command_line(const char* command, const std::string& model_dir, const std::vector<std::string>& flags,
                         bool task_list) {
  std::string s = std::string("circuitscan ") + command + " " + model_dir;
  for (const std::string& f : flags) s += " " + f;
  if (task_list) s += "  # with the task given as a Python list";
  return s;
}

// A task given as a list of JSONL records (the Python wrapper dumps each dict as one line), with
// the prompt count, seed and BOS of the flags; errors name the item as "task list:N".
std::optional<TokenizedTask> task_from_records(const Args& a, const Tokenizer& tok, const std::string& model_dir,
                                               const std::optional<std::string>& records) {
  if (!records) return std::nullopt;
  return jsonl_task_from_text(*records, "task list", tok, task_options_from_flags(a, tok, model_dir, ""));
}

// Calls a Python progress(phase, fraction) from inside the engine (any thread); an exception it
// raises stops the run at the next poll and comes out of the call. The function refers to
// `progress` without owning it (no reference counting without the GIL): the caller's argument
// outlives the run.
std::function<void(const std::string&, double)> progress_fn(const py::object& progress) {
  if (progress.is_none()) return {};
  const py::object* fn = &progress;
  return [fn](const std::string& phase, double f) {
    py::gil_scoped_acquire gil;
    try {
      (*fn)(phase, f);
    } catch (py::error_already_set& e) {
      e.restore();
      keep_python_error();
    }
  };
}

PyDiscoverRun* py_discover(PyModel& pm, const std::vector<std::string>& flags, const std::optional<std::string>& records,
                           const py::object& progress) {
  Args a = discover_args();
  parse_flags(a, pm.model.dir, flags);
  check_discover_flags(a);
  auto run = std::make_unique<PyDiscoverRun>();
  {
    Interruptible interruptible;
    py::gil_scoped_release nogil;
    const Model& m = model_with_weights(pm, discover_processes_weights(a));
    DiscoverPlan plan = plan_discover(a, m, pm.tok, task_from_records(a, pm.tok, m.dir, records));
    plan.options.discover.progress = progress_fn(progress);
    run->r = run_discover(m, plan);
    run->info = discover_run_info(a, m, plan, run->r, command_line("discover", m.dir, flags, records.has_value()));
    run->warnings = plan.task.warnings;
  }
  raise_kept_error();
  return run.release();
}

py::array_t<double> heads(const std::vector<double>& v, int L, int H) {  // [L*H] -> [L, H] (one copy)
  if (v.empty()) return py::array_t<double>(std::vector<py::ssize_t>{0});
  if (static_cast<int>(v.size()) != L * H) throw Error("internal: " + std::to_string(v.size()) + " head scores for " +
                                                        std::to_string(L) + " x " + std::to_string(H) + " heads");
  py::array_t<double> a({L, H});
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

// {edge name: score} over the graph's edges the method scored (interp/graph.h names, EAP-IG's:
// "a0.h1->a2.h3<q>"), mean over trials; empty when it scores none.
py::dict edge_scores(const PyDiscoverRun& run) {
  py::dict d;
  if (!run.r.graph) return d;
  const Graph& g = run.r.graph->graph;
  const std::vector<double>& s = run.r.mean_edge_scores;
  for (int e = 0; e < g.n_edges() && static_cast<size_t>(e) < s.size(); ++e)
    if (!std::isnan(s[static_cast<size_t>(e)])) d[py::str(g.edge_name(e))] = s[static_cast<size_t>(e)];
  return d;
}

// The circuit on the graph (graph.json): {"nodes": [names in the graph], "edges": [names]}.
py::dict circuit_graph(const PyDiscoverRun& run) {
  py::dict d;
  py::list nodes, edges;
  if (run.r.graph) {
    const ScoredGraph& sg = *run.r.graph;
    for (int n = 0; n < sg.graph.n_senders(); ++n)
      if (sg.node_in_graph[static_cast<size_t>(n)]) nodes.append(sg.graph.sender_name(n));
    nodes.append("logits");
    for (int e = 0; e < sg.graph.n_edges(); ++e)
      if (sg.edge_in_graph[static_cast<size_t>(e)]) edges.append(sg.graph.edge_name(e));
  }
  d["nodes"] = nodes;
  d["edges"] = edges;
  return d;
}

// compare.json's content (the Python wrapper makes its rows), as `compare --out` writes it.
std::string run_compare(PyModel& pm, const std::vector<std::string>& flags, const std::optional<std::string>& records,
                        const py::object& progress) {
  Args a = compare_args();
  parse_flags(a, pm.model.dir, flags);
  compare_options(a);
  std::string json;
  {
    Interruptible interruptible;
    py::gil_scoped_release nogil;
    const Model& m = model_with_weights(pm, true);
    ComparePlan plan = plan_compare(a, m, pm.tok, task_from_records(a, pm.tok, m.dir, records));
    plan.options.progress = progress_fn(progress);
    const std::vector<MethodRow> rows = compare(m, plan.task, plan.truth ? &*plan.truth : nullptr, plan.options);
    json = compare_json(rows, compare_info(m, plan, pm.name));
  }
  raise_kept_error();
  return json;
}

}  // namespace

void bind_discover(py::module_& m) {
  m.def("builtin_tasks", &builtin_task_names);
  m.def("methods", [] {
    std::vector<std::string> names;
    for (const MethodInfo& i : method_table()) names.push_back(i.name);
    return names;
  });
  m.def("help", [](const std::string& command) {
    if (command == "discover") return discover_args().help();
    if (command == "compare") return compare_args().help();
    throw UsageError("help: no command '" + command + "' here (discover, compare)");
  });
  m.def("discover", &py_discover, py::arg("model"), py::arg("flags"), py::arg("records"), py::arg("progress"));
  m.def("compare", &run_compare, py::arg("model"), py::arg("flags"), py::arg("records"), py::arg("progress"));

  py::class_<PyDiscoverRun>(m, "DiscoverRun")
      .def("circuit_json", [](const PyDiscoverRun& r) { return circuit_json(r.r, r.info); })
      .def("save", [](const PyDiscoverRun& r, const std::string& dir) {
        py::gil_scoped_release nogil;
        write_outputs(dir, r.r, r.info);
      })
      .def_property_readonly("scores", [](const PyDiscoverRun& r) { return heads(r.r.mean_scores, r.info.n_layers, r.info.n_heads); })
      .def_property_readonly("scores_std", [](const PyDiscoverRun& r) { return heads(r.r.std_scores, r.info.n_layers, r.info.n_heads); })
      .def_property_readonly("paper_scores", [](const PyDiscoverRun& r) { return heads(r.r.paper_scores, r.info.n_layers, r.info.n_heads); })
      .def_property_readonly("paper_softmax", [](const PyDiscoverRun& r) { return heads(r.r.paper_softmax, r.info.n_layers, r.info.n_heads); })
      .def_property_readonly("trial_scores", [](const PyDiscoverRun& r) {
        py::list l;
        for (const auto& s : r.r.head_scores) l.append(heads(s, r.info.n_layers, r.info.n_heads));
        return l;
      })
      .def_property_readonly("circuit", [](const PyDiscoverRun& r) {
        std::vector<std::pair<int, int>> c;
        for (int h : r.r.circuit) c.push_back({h / r.info.n_heads, h % r.info.n_heads});
        return c;
      })
      .def_property_readonly("edge_scores", &edge_scores)
      .def_property_readonly("circuit_graph", &circuit_graph)
      .def("graph_json", [](const PyDiscoverRun& r) { return r.r.graph ? graph_json(*r.r.graph) : std::string(); })
      .def_property_readonly("mlp_scores", [](const PyDiscoverRun& r) {
        std::vector<double> v = r.r.mean_mlp_scores;
        return py::array_t<double>(static_cast<py::ssize_t>(v.size()), v.data());
      })
      .def_property_readonly("warnings", [](const PyDiscoverRun& r) { return r.warnings; })
      .def_property_readonly("command_line", [](const PyDiscoverRun& r) { return r.info.command_line; });
}

}  // namespace cs::py_bind
