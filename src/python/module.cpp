// circuitscan._core: the Python frontend of the engine (pybind11). Errors arrive in Python as
// circuitscan.Error carrying the CLI's one-line message (circuitscan.UsageError, also a
// ValueError, for what the CLI exits 2 on: unknown options, bad option values); Ctrl-C during a
// computation raises KeyboardInterrupt (python/interrupt.h).
#include <pybind11/pybind11.h>

#include "ops/error.h"
#include "ops/process_setup.h"
#include "python/discover_api.h"
#include "python/interrupt.h"
#include "python/model_api.h"

namespace py = pybind11;

namespace cs::py_bind {

namespace {
PyObject* g_error = nullptr;        // circuitscan.Error
PyObject* g_usage_error = nullptr;  // circuitscan.UsageError
// The exception a signal handler raised while the engine ran (owned; taken by restore_interrupt).
PyObject *g_int_type = nullptr, *g_int_value = nullptr, *g_int_tb = nullptr;
}  // namespace

bool python_interrupted() {
  py::gil_scoped_acquire gil;
  if (g_int_type) return true;
  if (PyErr_CheckSignals() == 0) return false;
  keep_python_error();
  return true;
}

void keep_python_error() {
  if (g_int_type) {  // the first one stops the run; later ones are dropped
    PyErr_Clear();
    return;
  }
  PyErr_Fetch(&g_int_type, &g_int_value, &g_int_tb);
}

void raise_kept_error() {
  if (!g_int_type) return;
  restore_interrupt();
  throw py::error_already_set();
}

void restore_interrupt() {
  if (g_int_type) {
    PyErr_Restore(g_int_type, g_int_value, g_int_tb);  // steals the references
    g_int_type = g_int_value = g_int_tb = nullptr;
  } else {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
  }
}

}  // namespace cs::py_bind

PYBIND11_MODULE(_core, m) {
  using namespace cs::py_bind;
  m.doc() = "circuitscan engine (C++); use the circuitscan package, which wraps it";
  cs::setup_process(nullptr);  // the allocator settings of the CLI (no re-exec inside Python)

  g_error = PyErr_NewException("circuitscan.Error", PyExc_Exception, nullptr);
  py::object bases = py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError));
  g_usage_error = PyErr_NewException("circuitscan.UsageError", bases.ptr(), nullptr);
  m.attr("Error") = py::handle(g_error);
  m.attr("UsageError") = py::handle(g_usage_error);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const cs::Cancelled&) {
      restore_interrupt();
    } catch (const cs::UsageError& e) {
      PyErr_SetString(g_usage_error, e.what());
    } catch (const cs::Error& e) {
      PyErr_SetString(g_error, e.what());
    }
  });

  bind_model(m);
  bind_discover(m);
}
