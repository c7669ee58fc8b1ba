// The model half of the Python module: a loaded model with its tokenizer, tokens in and out,
// and one forward entry point that caches and hooks by TransformerLens names. The TransformerLens-
// style surface (names_filter, fwd_hooks, ActivationCache) is python/circuitscan/model.py; this is
// what it calls.
#pragma once
#include <pybind11/pybind11.h>

#include <string>

#include "model/model.h"
#include "model/tokenizer.h"

namespace cs::py_bind {

struct PyModel {
  Model model;
  Tokenizer tok;
  std::string name;                 // as the user gave it (a directory or a hub id)
  bool default_prepend_bos = true;  // config.json's default_prepend_bos, else TransformerLens's
  bool processed = false;           // TransformerLens weight processing applied
};

void bind_model(pybind11::module_& m);

}  // namespace cs::py_bind
