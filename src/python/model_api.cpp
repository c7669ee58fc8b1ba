#include "python/model_api.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <chrono>
#include <mutex>
#include <utility>
#include <vector>

#include "model/bos.h"
#include "model/hook_list.h"
#include "model/hooks.h"
#include "model/process_weights.h"
#include "model/transformer.h"
#include "ops/error.h"
#include "python/arrays.h"
#include "python/interrupt.h"

namespace cs::py_bind {

namespace {

PyModel load(const std::string& path, bool process_weights) {
  Interruptible interruptible;
  py::gil_scoped_release nogil;
  PyModel r;
  r.model = load_model(path, {.process_weights = process_weights});
  r.tok = Tokenizer::for_model_dir(r.model.dir);
  r.name = path;
  r.processed = process_weights;
  r.default_prepend_bos = default_prepend_bos(r.model.dir, r.tok).prepend;  // as the CLI
  return r;
}

// The configuration under TransformerLens's HookedTransformerConfig names, plus our own.
py::dict config(const PyModel& pm) {
  const ModelConfig& c = pm.model.cfg;
  py::dict d;
  d["model_name"] = pm.name;
  d["original_architecture"] = c.model_type;
  d["family"] = c.family;
  d["n_layers"] = c.n_layers;
  d["n_heads"] = c.n_heads;
  d["n_key_value_heads"] = c.n_kv_heads;
  d["d_model"] = c.d_model;
  d["d_head"] = c.d_head;
  d["d_mlp"] = c.d_mlp;
  d["n_ctx"] = c.n_ctx;
  d["d_vocab"] = c.vocab_size;
  d["eps"] = c.norm_eps;
  d["normalization_type"] = std::string(c.norm == Norm::LayerNorm ? "LN" : "RMS") + (pm.processed ? "Pre" : "");
  d["act_fn"] = c.act == Activation::GeluNew  ? "gelu_new"
                : c.act == Activation::GeluErf ? "gelu"
                : c.act == Activation::SwiGLU  ? "silu"
                : c.act == Activation::GeGLU   ? "gelu_pytorch_tanh"
                                               : "relu";
  d["gated_mlp"] = gated(c.act);
  d["positional_embedding_type"] = c.positions == Positions::Learned  ? "standard"
                                   : c.positions == Positions::Rotary ? "rotary"
                                                                      : "shortformer";
  d["rotary_dim"] = c.rotary_dim;
  d["rotary_base"] = c.rope.theta;
  d["attn_only"] = c.attn_only;
  d["parallel_attn_mlp"] = c.parallel_residual;
  d["tied_embeddings"] = c.tied_embeddings;
  d["default_prepend_bos"] = pm.default_prepend_bos;
  d["processed_weights"] = pm.processed;
  d["dtype"] = "float32";
  d["dtype_on_disk"] = c.dtype_on_disk;
  d["n_params"] = pm.model.parameter_count();
  d["dir"] = pm.model.dir;
  d["description"] = c.describe();
  return d;
}

py::str utf8(const std::string& bytes) {  // a token may end inside a character: "\ufffd" as HF
  return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "replace"));
}

// texts -> [B, T] int64 (TransformerLens's to_tokens), right-padded with the pad id (EOS, as
// TransformerLens sets GPT-2's pad token; 0 without one).
py::array_t<int64_t> to_tokens(const PyModel& pm, const std::vector<std::string>& texts, bool prepend_bos) {
  const Tokenizer& tok = pm.tok;
  if (prepend_bos && tok.bos_id() < 0) throw Error("prepend_bos: this tokenizer has no BOS token; pass prepend_bos=False");
  std::vector<std::vector<int>> ids(texts.size());
  size_t T = 0;
  {
    py::gil_scoped_release nogil;
    for (size_t i = 0; i < texts.size(); ++i) {
      if (prepend_bos) ids[i].push_back(tok.bos_id());
      const std::vector<int> e = tok.encode(texts[i]);
      ids[i].insert(ids[i].end(), e.begin(), e.end());
      T = std::max(T, ids[i].size());
    }
  }
  const int64_t pad = tok.eos_id() >= 0 ? tok.eos_id() : 0;
  py::array_t<int64_t> out({static_cast<py::ssize_t>(texts.size()), static_cast<py::ssize_t>(T)});
  auto o = out.mutable_unchecked<2>();
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t t = 0; t < T; ++t) o(i, t) = t < ids[i].size() ? ids[i][t] : pad;
  return out;
}

// [T] or [B, T] integer ids -> a Batch (every row full length).
Batch batch_of(const py::array& tokens, int vocab_size) {
  if (!py::isinstance<py::array_t<int64_t>>(tokens) && !py::isinstance<py::array_t<int32_t>>(tokens) &&
      !(tokens.dtype().kind() == 'i' || tokens.dtype().kind() == 'u'))
    throw Error("tokens must be integer ids (dtype " + std::string(py::str(tokens.dtype())) + "): use model.to_tokens(text)");
  if (tokens.ndim() != 1 && tokens.ndim() != 2)
    throw Error("tokens must be [pos] or [batch, pos], got " + std::to_string(tokens.ndim()) + " dimensions");
  const auto ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(tokens);
  const int64_t B = tokens.ndim() == 2 ? tokens.shape(0) : 1, T = tokens.shape(tokens.ndim() - 1);
  if (B == 0 || T == 0) throw Error("tokens are empty (shape " + shape_str(shape_of(tokens)) + "): give at least one token");
  Batch b;
  b.B = static_cast<int>(B);
  b.T = static_cast<int>(T);
  b.tokens.resize(static_cast<size_t>(B * T));
  const int64_t* p = ids.data();
  for (int64_t i = 0; i < B * T; ++i) {
    if (p[i] < 0 || p[i] >= vocab_size)
      throw Error("token id " + std::to_string(p[i]) + " is outside the vocabulary (size " +
                  std::to_string(vocab_size) + "): the tokenizer does not match the model");
    b.tokens[i] = static_cast<int32_t>(p[i]);
  }
  b.lengths.assign(b.B, b.T);
  return b;
}

HookPoint point_of(const Model& m, const std::string& name) {
  const HookPoint p = HookPoint::parse(name);
  if (p.layer >= m.cfg.n_layers)
    throw Error("hook " + p.name() + ": the model has only " + std::to_string(m.cfg.n_layers) + " layers");
  return p;
}

// Runs a Python hook fn(activation, hook) on the activation t. The array handed over owns t's
// buffer for the call (no copy); afterwards the buffer moves back, unless the hook kept a
// reference to the array (then t gets a copy and the kept array stays valid). A returned array
// replaces the activation (TransformerLens), after a shape check.
void call_python_hook(const py::object& fn, const py::object& hook, const HookPoint& p, Tensor& t) {
  py::gil_scoped_acquire gil;
  auto* owned = new Tensor(std::move(t));
  py::array_t<float> arr(owned->shape, owned->ptr(),
                         py::capsule(owned, [](void* q) { delete static_cast<Tensor*>(q); }));
  py::object ret = fn(arr, hook);
  if (arr.ref_count() > 1) t = *owned;  // kept (or viewed by ret): copy, leave the array intact
  else t = std::move(*owned);
  if (ret.is_none() || ret.is(arr)) return;
  const FloatArray r = FloatArray::ensure(ret);
  if (!r) {
    PyErr_Clear();
    throw Error("hook " + p.name() + " returned " + std::string(py::str(py::type::of(ret).attr("__name__"))) +
                ": return None (after editing the activation in place) or an array of its shape");
  }
  if (shape_of(r) != t.shape)
    throw Error("hook " + p.name() + " returned an array of shape " + shape_str(shape_of(r)) +
                ", the activation is " + shape_str(t.shape) + ": return an array of the same shape");
  std::copy(r.data(), r.data() + t.numel(), t.ptr());
}

// The one forward entry point: tokens -> (logits or None, {hook name: activation}).
//   cache:   names to cache, in any order (the dict comes out in forward order)
//   strict:  whether a cached name that this model's forward never visits is an error
//   hooks:   [(name, fn, hook object)], run before the caches at the same point
//   logits:  "all" [B,T,V] or "none"
py::tuple run(const PyModel& pm, const py::array& tokens, const std::vector<std::string>& cache_names, bool strict,
              const std::vector<std::tuple<std::string, py::object, py::object>>& py_hooks, const std::string& logits) {
  const Model& m = pm.model;
  if (logits != "all" && logits != "none") throw Error("return_type must be 'logits' or None, got '" + logits + "'");
  const Batch batch = batch_of(tokens, m.cfg.vocab_size);
  std::vector<HookPoint> points;
  for (const std::string& n : cache_names) points.push_back(point_of(m, n));
  Hooks hooks;
  for (const auto& [name, fn, hook] : py_hooks)
    hooks.add(point_of(m, name), [fn, hook](const HookPoint& p, Tensor& t) { call_python_hook(fn, hook, p, t); });
  std::vector<std::pair<std::string, Tensor>> cache;  // in forward order
  for (const HookPoint& p : points)
    hooks.add(p, [&cache](const HookPoint& hp, Tensor& t) { cache.emplace_back(hp.name(), t); });
  Tensor out;
  {
    Interruptible interruptible;
    py::gil_scoped_release nogil;
    out = forward(m, batch, &hooks, {logits == "all" ? LogitsAt::All : LogitsAt::None});
  }
  if (strict)
    for (const HookPoint& p : points) {
      bool found = false;
      for (const auto& c : cache) found = found || c.first == p.name();
      if (!found)
        throw Error("hook " + p.name() + ": the forward pass of this " + m.cfg.model_type +
                    " model has no such point: model.hook_names() lists the ones it has");
    }
  py::dict d;
  for (auto& [name, t] : cache) d[py::str(name)] = to_numpy(std::move(t));
  py::object lg = py::none();
  if (logits == "all") lg = to_numpy(std::move(out));
  return py::make_tuple(lg, d);
}

// Every hook name a forward of this shape of model may visit, in forward order within a layer:
// the model-level points and each layer's. optional: also those TransformerLens computes only
// when asked (hook_result, the split hook_q/k/v_input), which change the computation path.
std::vector<std::string> candidate_hook_names(const PyModel& pm, bool optional) {
  const ModelConfig& c = pm.model.cfg;
  std::vector<std::string> r;
  auto is_optional = [](Hook h) { return h == Hook::q_input || h == Hook::k_input || h == Hook::v_input || h == Hook::result; };
  for (Hook h : {Hook::embed, Hook::pos_embed}) r.push_back(HookPoint{h, -1}.name());
  for (int l = 0; l < c.n_layers; ++l)
    for (int h = static_cast<int>(Hook::resid_pre); h <= static_cast<int>(Hook::resid_post); ++h)
      if (optional || !is_optional(static_cast<Hook>(h))) r.push_back(HookPoint{static_cast<Hook>(h), l}.name());
  r.push_back(HookPoint{Hook::ln_final_normalized, -1}.name());
  return r;
}

// bench/python_overhead.py's peer: the same caching forward as a C++ caller writes it (Hooks::cache
// into an ActivationCache), timed inside C++ with no Python in the loop; seconds per call.
std::vector<double> cpp_run_with_cache_seconds(const PyModel& pm, const py::array& tokens,
                                               const std::vector<std::string>& names, int repeats) {
  const Model& m = pm.model;
  const Batch batch = batch_of(tokens, m.cfg.vocab_size);
  std::vector<HookPoint> points;
  for (const std::string& n : names) points.push_back(point_of(m, n));
  std::vector<double> seconds;
  py::gil_scoped_release nogil;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    Hooks hooks;
    ActivationCache cache;
    for (const HookPoint& p : points) hooks.cache(p, &cache);
    const Tensor logits = forward(m, batch, &hooks);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (logits.empty()) throw Error("benchmark: no logits");
  }
  return seconds;
}

}  // namespace

const Model& model_with_weights(PyModel& pm, bool processed) {
  if (pm.processed == processed) return pm.model;
  static std::mutex making;  // two Python threads may start runs on one model (the GIL is released)
  std::lock_guard<std::mutex> lock(making);
  if (!pm.twin) {
    // Loaded again as the CLI loads it, not processed from a copy: matrices may be views shared
    // with pm.model (bf16 checkpoints), and processing must give the CLI's numbers exactly.
    pm.twin = std::make_shared<Model>(
        load_model(pm.model.dir, {.process_weights = processed, .precision = pm.model.precision}));
  }
  return *pm.twin;
}

void bind_model(py::module_& m) {
  py::class_<PyModel>(m, "Model")
      .def_static("load", &load, py::arg("path"), py::arg("process_weights") = false)
      .def_property_readonly("name", [](const PyModel& p) { return p.name; })
      .def_property_readonly("dir", [](const PyModel& p) { return p.model.dir; })
      .def_property_readonly("processed", [](const PyModel& p) { return p.processed; })
      .def_property_readonly("default_prepend_bos", [](const PyModel& p) { return p.default_prepend_bos; })
      .def_property_readonly("bos_id", [](const PyModel& p) { return p.tok.bos_id(); })
      .def_property_readonly("eos_id", [](const PyModel& p) { return p.tok.eos_id(); })
      .def("config", &config)
      .def("to_tokens", &to_tokens, py::arg("texts"), py::arg("prepend_bos"))
      .def("encode", [](const PyModel& p, const std::string& s) { return p.tok.encode(s); })
      .def("decode", [](const PyModel& p, const std::vector<int>& ids) {
        for (int id : ids)
          if (id < 0 || id >= p.tok.vocab_size())
            throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                        std::to_string(p.tok.vocab_size()) + ")");
        return utf8(p.tok.decode(ids));
      })
      .def("token_texts", [](const PyModel& p, const std::vector<int>& ids) {
        py::list r;
        for (int id : ids) {
          if (id < 0 || id >= p.tok.vocab_size())
            throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                        std::to_string(p.tok.vocab_size()) + ")");
          r.append(utf8(p.tok.token_text(id)));
        }
        return r;
      })
      .def("single_token", [](const PyModel& p, const std::string& s) { return p.tok.single_token(s); })
      .def("run", &run, py::arg("tokens"), py::arg("cache"), py::arg("strict"), py::arg("hooks"), py::arg("logits"))
      .def("candidate_hook_names", &candidate_hook_names, py::arg("optional"))
      .def("hook_names", [](const PyModel& p) {  // every point the forward visits, in forward order
        std::vector<std::string> names;
        py::gil_scoped_release nogil;
        for (const HookShape& s : hook_shapes(p.model, 1, 1)) names.push_back(s.point.name());
        return names;
      })
      .def("match_hooks", [](const PyModel& p, const std::string& pattern) {  // as `run --cache PATTERN`
        std::vector<std::string> names;
        py::gil_scoped_release nogil;
        for (const HookPoint& h : match_hooks(pattern, hook_shapes(p.model, 1, 1))) names.push_back(h.name());
        return names;
      })
      .def("_cpp_run_with_cache_seconds", &cpp_run_with_cache_seconds, py::arg("tokens"), py::arg("names"),
           py::arg("repeats"));
}

}  // namespace cs::py_bind
