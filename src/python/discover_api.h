// The methods half of the Python module: tasks, discover and compare, run through the same option
// declarations and code paths as the CLI commands.
#pragma once
#include <pybind11/pybind11.h>

namespace cs::py_bind {

void bind_discover(pybind11::module_& m);

}  // namespace cs::py_bind
