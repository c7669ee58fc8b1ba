#include "interp/path_patching.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "model/transformer.h"
#include "ops/error.h"

namespace cs {

namespace {

Hook input_hook(QKV x) {
  return x == QKV::Q ? Hook::q_input : x == QKV::K ? Hook::k_input : Hook::v_input;
}

// dst[:, :, slot, :] = src[:, :, slot, :] for activations [B,T,n,f].
void copy_slot(Tensor& dst, const Tensor& src, int64_t slot) {
  const int64_t BT = dst.dim(0) * dst.dim(1), n = dst.dim(2), f = dst.dim(3);
  for (int64_t r = 0; r < BT; ++r)
    std::memcpy(dst.ptr() + (r * n + slot) * f, src.ptr() + (r * n + slot) * f, f * sizeof(float));
}

void check_same_shape(const Tensor& t, const Tensor& ref, const std::string& name) {
  if (t.shape != ref.shape)
    throw Error("path patching: " + name + " is " + t.shape_str() + " in this run but " +
                ref.shape_str() + " in the cache: use the clean batch the cache was built from");
}

}  // namespace

PathPatchCache cache_for_path_patching(const Model& m, const Batch& clean, const Batch& corrupt) {
  if (clean.B != corrupt.B || clean.T != corrupt.T)
    throw Error(
        "path patching: clean batch [" + std::to_string(clean.B) + "," + std::to_string(clean.T) +
        "] and corrupted batch [" + std::to_string(corrupt.B) + "," + std::to_string(corrupt.T) +
        "] differ in shape: pair every clean prompt with a corrupted prompt of the same length");
  const ModelConfig& c = m.cfg;
  PathPatchCache cache;
  cache.B = clean.B;
  cache.T = clean.T;
  Hooks hc, hx;
  for (int l = 0; l < c.n_layers; ++l) {
    hc.cache({Hook::z, l}, &cache.clean);
    if (!c.attn_only) hc.cache({Hook::mlp_out, l}, &cache.clean);
    hx.cache({Hook::z, l}, &cache.corrupt);
  }
  cache.clean_logits = forward(m, clean, &hc, {LogitsAt::Last});
  forward(m, corrupt, &hx, {LogitsAt::None});
  return cache;
}

Tensor path_patch(const Model& m, const Batch& clean, const PathPatchCache& cache,
                  std::pair<int, int> sender, const std::vector<Receiver>& receivers) {
  const ModelConfig& c = m.cfg;
  const int Ls = sender.first, Hs = sender.second;  // not a binding: clang 14 cannot capture those
  if (Ls < 0 || Ls >= c.n_layers || Hs < 0 || Hs >= c.n_heads)
    throw Error("path patching: sender " + HeadId{Ls, Hs}.str() +
                " is not a head of the model");
  if (clean.B != cache.B || clean.T != cache.T)
    throw Error("path patching: the batch differs in shape from the one the cache was built from");
  const int group = c.n_heads / c.n_kv_heads;
  int last_receiver_layer = -1;
  for (const Receiver& r : receivers) {
    if (r.layer <= Ls || r.layer >= c.n_layers || r.head < 0 || r.head >= c.n_heads)
      throw Error("path patching: receiver " + std::to_string(r.layer) + "." +
                  std::to_string(r.head) + "." + to_string(r.input) +
                  " must be a head of the model in a layer after the sender's (" +
                  std::to_string(Ls) + ")");
    last_receiver_layer = std::max(last_receiver_layer, r.layer);
  }

  // Step 2: sender corrupted, every other head and every MLP at or after the sender's layer
  // frozen clean (earlier ones see only clean inputs and need no hook).
  Hooks freeze;
  const int stop = receivers.empty() ? c.n_layers - 1 : last_receiver_layer;
  for (int l = Ls; l <= stop; ++l) {
    const std::string zn = HookPoint{Hook::z, l}.name();
    const Tensor* clean_z = &cache.clean.at(zn);
    if (l == Ls) {
      const Tensor* corrupt_z = &cache.corrupt.at(zn);
      freeze.add({Hook::z, l}, [corrupt_z, Hs](const HookPoint& p, Tensor& z) {
        check_same_shape(z, *corrupt_z, p.name());
        copy_slot(z, *corrupt_z, Hs);
      });
    } else {
      freeze.add({Hook::z, l}, [clean_z](const HookPoint& p, Tensor& z) {
        check_same_shape(z, *clean_z, p.name());
        std::memcpy(z.ptr(), clean_z->ptr(), z.numel() * sizeof(float));
      });
    }
    if (!c.attn_only) {
      const Tensor* clean_mlp = &cache.clean.at(HookPoint{Hook::mlp_out, l}.name());
      freeze.add({Hook::mlp_out, l}, [clean_mlp](const HookPoint& p, Tensor& out) {
        check_same_shape(out, *clean_mlp, p.name());
        std::memcpy(out.ptr(), clean_mlp->ptr(), out.numel() * sizeof(float));
      });
    }
  }
  if (receivers.empty()) return forward(m, clean, &freeze, {LogitsAt::Last});

  ActivationCache recorded;  // "blocks.L.hook_q_input" -> [B,T,H,D] (k/v: [B,T,Hkv,D])
  std::map<HookPoint, std::vector<int64_t>> slots;  // hook point -> patched head (or kv head)
  for (const Receiver& r : receivers) {
    HookPoint p{input_hook(r.input), r.layer};
    slots[p].push_back(r.input == QKV::Q ? r.head : r.head / group);
  }
  for (const auto& [p, s] : slots) freeze.cache(p, &recorded);
  forward(m, clean, &freeze, {LogitsAt::None, last_receiver_layer});

  // Step 3: a clean run with only the receivers' inputs patched.
  Hooks patch;
  for (auto& [p, s] : slots) {
    const Tensor* rec = &recorded.at(p.name());
    std::vector<int64_t> heads = s;
    patch.add(p, [rec, heads](const HookPoint& hp, Tensor& in) {
      check_same_shape(in, *rec, hp.name());
      for (int64_t h : heads) copy_slot(in, *rec, h);
    });
  }
  return forward(m, clean, &patch, {LogitsAt::Last});
}

Tensor path_patch(const Model& m, const Batch& clean, const Batch& corrupt,
                  std::pair<int, int> sender, const std::vector<Receiver>& receivers) {
  return path_patch(m, clean, cache_for_path_patching(m, clean, corrupt), sender, receivers);
}

}  // namespace cs
