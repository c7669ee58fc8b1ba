// The model half of the Python module: a loaded model with its tokenizer, tokens in and out,
// and one forward entry point that caches and hooks by TransformerLens names. The TransformerLens-
// style surface (names_filter, fwd_hooks, ActivationCache) is python/circuitscan/model.py; this is
// what it calls.
#pragma once
#include <pybind11/pybind11.h>

#include <memory>
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
  // The same model with the other weights (processed or raw), made when a run asks for them
  // (discover and compare run on processed weights, as the CLI, unless told otherwise).
  std::shared_ptr<Model> twin;
};

// pm's model with processed (TransformerLens) or raw weights: the loaded one, or its twin.
const Model& model_with_weights(PyModel& pm, bool processed);

void bind_model(pybind11::module_& m);

}  // namespace cs::py_bind
