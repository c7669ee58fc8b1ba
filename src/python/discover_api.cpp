#include "python/discover_api.h"

#include <pybind11/stl.h>

#include "interp/task.h"

namespace cs::py_bind {

namespace py = pybind11;

void bind_discover(py::module_& m) {
  m.def("builtin_tasks", &builtin_task_names);
}

}  // namespace cs::py_bind
