#include "attribution/edge_patching.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "model/hooks.h"
#include "model/transformer.h"
#include "ops/error.h"
#include "ops/position_mean.h"

namespace cs {

namespace {

// In place: every row (b, t) of a [B, T, F] array becomes the mean over the prompts that reach
// position t (t < length), as ablation.h's Mean.
void to_position_mean(float* a, int B, int T, int64_t F, const std::vector<int>& lengths) {
  std::vector<float> mean(static_cast<size_t>(T * F));
  position_mean(mean.data(), nullptr, a, B, T, F, lengths.data());
  for (int b = 0; b < B; ++b) std::memcpy(a + int64_t{b} * T * F, mean.data(), T * F * sizeof(float));
}

// Hooks that copy the sender outputs (and, when qkv != null, hook_q/k/v) of a run into flat
// arrays laid out as EdgeActivations'. zero = true overwrites every sender output with 0 first.
void add_sender_hooks(Hooks& hk, const Graph& g, int64_t BT, int64_t D, int64_t dh,
                      float* out, float* qkv, bool zero) {
  const int H = g.n_heads();
  hk.add({Hook::resid_pre, 0}, [=](const HookPoint&, Tensor& t) {
    if (zero) std::fill(t.data.begin(), t.data.end(), 0.0f);
    std::memcpy(out, t.ptr(), BT * D * sizeof(float));
  });
  for (int l = 0; l < g.n_layers(); ++l) {
    hk.add({Hook::result, l}, [=, &g](const HookPoint&, Tensor& t) {  // [B,T,H,D]
      if (zero) std::fill(t.data.begin(), t.data.end(), 0.0f);
      for (int h = 0; h < H; ++h) {
        float* dst = out + g.head_sender(l, h) * BT * D;
        for (int64_t r = 0; r < BT; ++r)
          std::memcpy(dst + r * D, t.ptr() + (r * H + h) * D, D * sizeof(float));
      }
    });
    if (g.has_mlps())
      hk.add({Hook::mlp_out, l}, [=, &g](const HookPoint&, Tensor& t) {
        if (zero) std::fill(t.data.begin(), t.data.end(), 0.0f);
        std::memcpy(out + g.mlp_sender(l) * BT * D, t.ptr(), BT * D * sizeof(float));
      });
    if (!qkv) continue;
    const Hook letters[3] = {Hook::q, Hook::k, Hook::v};
    for (int x = 0; x < 3; ++x)
      hk.add({letters[x], l}, [=](const HookPoint&, Tensor& t) {  // [B,T,H,dh]
        for (int h = 0; h < H; ++h) {
          float* dst = qkv + ((int64_t{l} * H + h) * 3 + x) * BT * dh;
          for (int64_t r = 0; r < BT; ++r)
            std::memcpy(dst + r * dh, t.ptr() + (r * H + h) * dh, dh * sizeof(float));
        }
      });
  }
}

}  // namespace

std::string post_norm_edge_note(const ModelConfig& c) {
  if (!c.post_norms) return "";
  return c.family + " normalises its heads' sum (post-norms): as in EAP-IG and MIB, a head's edges "
         "carry its output before that norm (hook_result), a first-order account; MLP edges are exact";
}

int residual_site(const Graph& g, int r) {
  if (r == g.logits_receiver()) return 2 * g.n_layers();
  const Node n = g.receiver_node(r);
  return 2 * n.layer + (n.kind == NodeKind::Mlp ? 1 : 0);
}

EdgeActivations collect_edge_activations(const Model& m, const Graph& g, const Batch& clean,
                                         const Batch* corrupt, AblationKind kind) {
  const ModelConfig& c = m.cfg;
  if (c.n_kv_heads != c.n_heads)
    throw Error("edge patching needs one key/value input per head; this model has " + std::to_string(c.n_heads) +
                " query heads sharing " + std::to_string(c.n_kv_heads) +
                " key/value heads (grouped-query attention): run it on expand_kv_heads(model)");
  if (g.n_layers() != c.n_layers || g.n_heads() != c.n_heads || g.has_mlps() == c.attn_only)
    throw Error("edge patching: the graph is not this model's");
  EdgeActivations a;
  a.B = clean.B;
  a.T = clean.T;
  a.D = c.d_model;
  a.dh = c.d_head;
  a.lengths = clean.lengths;
  const int64_t BT = a.BT(), D = a.D, dh = a.dh;
  if (kind != AblationKind::Zero) {
    if (!corrupt) throw Error("edge patching: " + to_string(kind) + " ablation needs corrupt prompts");
    if (corrupt->B != clean.B || corrupt->T != clean.T || corrupt->lengths != clean.lengths)
      throw Error("edge patching: the corrupt prompts must pair with the clean ones token for token "
                  "(same count and lengths); got [" + std::to_string(corrupt->B) + "," +
                  std::to_string(corrupt->T) + "] for clean [" + std::to_string(clean.B) + "," +
                  std::to_string(clean.T) + "]");
  }
  const size_t out_n = static_cast<size_t>(g.n_senders()) * BT * D;
  const size_t qkv_n = static_cast<size_t>(n_qkv_switches(g)) * BT * dh;
  a.clean_out.assign(out_n, 0.0f);
  a.abl_out.assign(out_n, 0.0f);
  a.clean_in.assign(static_cast<size_t>(n_residual_sites(g)) * BT * D, 0.0f);
  a.clean_qkv.assign(qkv_n, 0.0f);
  a.abl_qkv.assign(qkv_n, 0.0f);

  // Clean run: senders, q/k/v, residual sites, positions, logits.
  Hooks hk;
  add_sender_hooks(hk, g, BT, D, dh, a.clean_out.data(), a.clean_qkv.data(), false);
  auto keep_site = [&](Hook p, int l, int site) {
    float* dst = a.clean_in.data() + site * BT * D;
    hk.add({p, l}, [=](const HookPoint&, Tensor& t) { std::memcpy(dst, t.ptr(), BT * D * sizeof(float)); });
  };
  for (int l = 0; l < g.n_layers(); ++l) {
    keep_site(Hook::resid_pre, l, 2 * l);
    if (g.has_mlps()) keep_site(Hook::mlp_in, l, 2 * l + 1);
  }
  keep_site(Hook::resid_post, g.n_layers() - 1, 2 * g.n_layers());
  if (c.positions == Positions::Shortformer) {
    a.pos.assign(static_cast<size_t>(BT * D), 0.0f);
    float* dst = a.pos.data();
    hk.add({Hook::pos_embed, -1}, [=](const HookPoint&, Tensor& t) { std::memcpy(dst, t.ptr(), BT * D * sizeof(float)); });
  }
  a.clean_logits = forward(m, clean, &hk, {LogitsAt::Last});

  // Ablated run.
  Hooks hx;
  add_sender_hooks(hx, g, BT, D, dh, a.abl_out.data(), a.abl_qkv.data(), kind == AblationKind::Zero);
  forward(m, kind == AblationKind::Zero ? clean : *corrupt, &hx, {LogitsAt::None});
  if (kind == AblationKind::Zero) std::fill(a.abl_out.begin(), a.abl_out.end(), 0.0f);
  if (kind == AblationKind::Mean) {
    for (int s = 0; s < g.n_senders(); ++s)
      to_position_mean(a.abl_out.data() + s * BT * D, a.B, a.T, D, a.lengths);
    for (size_t i = 0; i < static_cast<size_t>(n_qkv_switches(g)); ++i)
      to_position_mean(a.abl_qkv.data() + i * BT * dh, a.B, a.T, dh, a.lengths);
  }
  return a;
}

std::vector<float> sum_of_senders(const Model& m, const Graph& g, const EdgeActivations& act, int r) {
  if (r < 0 || r >= g.n_receivers()) throw Error("sum_of_senders: no receiver " + std::to_string(r));
  const int64_t BT = act.BT(), D = act.D;
  std::vector<float> sum(static_cast<size_t>(BT * D), 0.0f);
  auto add = [&](const float* x, bool broadcast) {
    for (int64_t i = 0; i < BT; ++i)
      for (int64_t d = 0; d < D; ++d) sum[i * D + d] += broadcast ? x[d] : x[i * D + d];
  };
  for (int e : g.edges_into(r)) add(act.clean(g.edge_sender(e)), false);
  // Attention biases of the layers whose heads feed r.
  const int site = residual_site(g, r);
  const int layers = site == 2 * g.n_layers() ? g.n_layers() : site / 2 + (site % 2 && !g.parallel());
  for (int l = 0; l < layers; ++l)
    if (!m.w.layers[l].b_O.empty()) add(m.w.layers[l].b_O.ptr(), true);
  return sum;
}

Tensor edge_patched_logits(const Model& m, const Graph& g, const EdgeActivations& act, const Batch& clean,
                           const std::vector<char>& kept, const std::vector<char>& kept_qkv) {
  if (kept.size() != static_cast<size_t>(g.n_edges()))
    throw Error("edge_patched_logits: " + std::to_string(kept.size()) + " flags for " +
                std::to_string(g.n_edges()) + " edges");
  if (!kept_qkv.empty() && kept_qkv.size() != static_cast<size_t>(n_qkv_switches(g)))
    throw Error("edge_patched_logits: " + std::to_string(kept_qkv.size()) + " q/k/v flags for " +
                std::to_string(n_qkv_switches(g)) + " head inputs");
  if (clean.B != act.B || clean.T != act.T)
    throw Error("edge_patched_logits: the batch differs from the one the activations came from");
  const int64_t BT = act.BT(), D = act.D, dh = act.dh;
  const int H = g.n_heads();
  std::vector<std::vector<float>> online(g.n_senders());
  Hooks hk;
  auto capture = [&](int s, const float* src, int64_t stride, int64_t offset) {
    online[s].resize(static_cast<size_t>(BT * D));
    for (int64_t r = 0; r < BT; ++r)
      std::memcpy(online[s].data() + r * D, src + r * stride + offset, D * sizeof(float));
  };
  // x[row r at stride/offset] += ablated(s) - online(s) for every removed edge into receiver.
  auto patch = [&](int receiver, float* x, int64_t stride, int64_t offset) {
    for (int e : g.edges_into(receiver)) {
      if (kept[e]) continue;
      const int s = g.edge_sender(e);
      const float* ab = act.ablated(s);
      const float* on = online[s].data();
      for (int64_t r = 0; r < BT; ++r) {
        float* row = x + r * stride + offset;
        for (int64_t d = 0; d < D; ++d) row[d] += ab[r * D + d] - on[r * D + d];
      }
    }
  };
  hk.add({Hook::resid_pre, 0}, [&](const HookPoint&, Tensor& t) { capture(0, t.ptr(), D, 0); });
  const Hook inputs[3] = {Hook::q_input, Hook::k_input, Hook::v_input};
  const Hook letters[3] = {Hook::q, Hook::k, Hook::v};
  for (int l = 0; l < g.n_layers(); ++l) {
    for (int x = 0; x < 3; ++x) {
      hk.add({inputs[x], l}, [&, l, x](const HookPoint&, Tensor& t) {  // [B,T,H,D]
        for (int h = 0; h < H; ++h) patch(g.head_receiver(l, h, static_cast<QKV>(x)), t.ptr(), H * D, h * D);
      });
      if (kept_qkv.empty()) continue;
      hk.add({letters[x], l}, [&, l, x](const HookPoint&, Tensor& t) {  // [B,T,H,dh]
        for (int h = 0; h < H; ++h) {
          if (kept_qkv[qkv_switch(g, l, h, static_cast<QKV>(x))]) continue;
          const float* src = act.qkv(true, l, h, x, H);
          for (int64_t r = 0; r < BT; ++r)
            std::memcpy(t.ptr() + (r * H + h) * dh, src + r * dh, dh * sizeof(float));
        }
      });
    }
    hk.add({Hook::result, l}, [&, l](const HookPoint&, Tensor& t) {
      for (int h = 0; h < H; ++h) capture(g.head_sender(l, h), t.ptr(), H * D, h * D);
    });
    if (g.has_mlps()) {
      hk.add({Hook::mlp_in, l}, [&, l](const HookPoint&, Tensor& t) { patch(g.mlp_receiver(l), t.ptr(), D, 0); });
      hk.add({Hook::mlp_out, l}, [&, l](const HookPoint&, Tensor& t) { capture(g.mlp_sender(l), t.ptr(), D, 0); });
    }
  }
  hk.add({Hook::resid_post, g.n_layers() - 1},
         [&](const HookPoint&, Tensor& t) { patch(g.logits_receiver(), t.ptr(), D, 0); });
  return forward(m, clean, &hk, {LogitsAt::Last});
}

}  // namespace cs
