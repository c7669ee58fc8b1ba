// EAP and EAP-IG (eap.h): sender activation differences and receiver input gradients, contracted
// over (batch, position, d_model) with one GEMM per receiver group. Shapes: B batch, T tokens,
// D d_model, K = B T D, S senders, R receivers.
#include "attribution/eap.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>

#include "interp/metric_grad.h"
#include "interp/task_metric.h"
#include "model/backward.h"
#include "model/transformer.h"
#include "ops/error.h"
#include "ops/matmul.h"
#include "ops/timer.h"

namespace cs {

namespace {

// Sender and receiver indices in forward-pass order (EAP-IG's forward_index / backward_index):
// senders input, a0.*, m0, a1.*, m1, ...; receivers a0.*.q, a0.*.k, a0.*.v, m0, a1.*.q, ..., output.
struct Layout {
  int L, H, M;  // M = 1 with MLPs
  bool parallel;
  int n_send, n_recv;
  explicit Layout(const ModelConfig& c)
      : L(c.n_layers), H(c.n_heads), M(c.attn_only ? 0 : 1), parallel(c.parallel_residual),
        n_send(1 + L * (H + M)), n_recv(L * (3 * H + M) + 1) {}
  int head_send(int l, int h) const { return 1 + l * (H + M) + h; }
  int mlp_send(int l) const { return 1 + l * (H + 1) + H; }
  int head_recv(int l, int x, int h) const { return l * (3 * H + M) + x * H + h; }
  int mlp_recv(int l) const { return l * (3 * H + 1) + 3 * H; }
  int out_recv() const { return n_recv - 1; }
  // The senders a receiver reads are a prefix of the sender order.
  int head_prefix(int l) const { return 1 + l * (H + M); }
  int mlp_prefix(int l) const { return 1 + l * (H + 1) + (parallel ? 0 : H); }
};

// fn(sender, row bt of [B*T], x[D]) for every sender activation of a forward pass.
using SenderFn = std::function<void(int, int64_t, const float*)>;

void add_sender_hooks(Hooks& hooks, const Layout& g, int64_t D, const SenderFn& fn) {
  hooks.add({Hook::embed, -1}, [fn, D](const HookPoint&, Tensor& t) {
    const int64_t BT = t.dim(0) * t.dim(1);
    for (int64_t i = 0; i < BT; ++i) fn(0, i, t.ptr() + i * D);
  });
  for (int l = 0; l < g.L; ++l) {
    hooks.add({Hook::result, l}, [fn, D, l, g](const HookPoint&, Tensor& t) {  // [B,T,H,D]
      const int64_t BT = t.dim(0) * t.dim(1);
      for (int64_t i = 0; i < BT; ++i)
        for (int h = 0; h < g.H; ++h) fn(g.head_send(l, h), i, t.ptr() + (i * g.H + h) * D);
    });
    if (g.M)
      hooks.add({Hook::mlp_out, l}, [fn, D, l, g](const HookPoint&, Tensor& t) {
        const int64_t BT = t.dim(0) * t.dim(1);
        for (int64_t i = 0; i < BT; ++i) fn(g.mlp_send(l), i, t.ptr() + i * D);
      });
  }
}

// Per-position means of every sender over the reference prompts (interp/ablation.h's Mean):
// mean [T_ref, S, D] over the prompts longer than t, fallback [S, D] over every real position.
struct SenderMeans {
  int64_t T = 0;
  std::vector<float> mean, fallback;
};

SenderMeans sender_means(const Model& m, const Layout& g, const TokenizedTask& task, size_t n,
                         size_t batch, int* forwards) {
  const int64_t D = m.cfg.d_model, S = g.n_send;
  const auto& seqs = task.corrupt.empty() ? task.clean : task.corrupt;
  int64_t T = 0;
  for (size_t i = 0; i < n; ++i) T = std::max<int64_t>(T, static_cast<int64_t>(seqs[i].size()));
  std::vector<double> sum(static_cast<size_t>(T * S * D), 0.0), all(static_cast<size_t>(S * D), 0.0);
  std::vector<int64_t> count(T, 0);
  int64_t total = 0;
  for (size_t first = 0; first < n; first += batch) {
    const size_t nb = std::min(batch, n - first);
    const Batch ref = task.corrupt.empty() ? clean_batch(task, first, nb) : corrupt_batch(task, first, nb);
    Hooks hooks;
    add_sender_hooks(hooks, g, D, [&](int s, int64_t bt, const float* x) {
      const int64_t b = bt / ref.T, t = bt % ref.T;
      if (t >= ref.lengths[b]) return;  // padding
      if (s == 0) ++count[t], ++total;  // the embedding comes first, once per position
      double* dst = sum.data() + (t * S + s) * D;
      double* tot = all.data() + s * D;
      for (int64_t j = 0; j < D; ++j) dst[j] += x[j], tot[j] += x[j];
    });
    forward(m, ref, &hooks, {LogitsAt::None});
    ++*forwards;
  }
  SenderMeans r;
  r.T = T;
  r.mean.resize(sum.size());
  r.fallback.resize(all.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < S * D; ++j)
      r.mean[t * S * D + j] = static_cast<float>(sum[t * S * D + j] / static_cast<double>(count[t]));
  for (int64_t j = 0; j < S * D; ++j) r.fallback[j] = static_cast<float>(all[j] / static_cast<double>(total));
  return r;
}

// dM/dlogits [B,V'] of scale * sum_b metric_b, from the last-position logits [B,V'].
Tensor metric_dlogits(const TokenizedTask& task, const Tensor& last, size_t first,
                      const std::vector<int32_t>& vocab, double scale, double* sum) {
  std::vector<double> values;
  Tensor g = task_metric_grad(task, last, first, vocab, scale, &values);
  if (sum)
    for (double v : values) *sum += v;
  return g;
}

// score[u, v] += w * <delta[u], dM/d in_v> over K = B T D, for every sender u upstream of v.
// delta [S, K]; grads holds the receiver input gradients of one backward.
void add_scores(const Layout& g, const Tensor& delta, const ActivationCache& grads, int64_t K,
                int64_t D, double w, std::vector<double>& score) {
  std::vector<float> pack, tmp;
  auto contract = [&](int P, int R, const float* G, int recv0) {  // receivers recv0 .. recv0+R-1
    tmp.assign(static_cast<size_t>(P) * R, 0.0f);
    sgemm(false, true, P, R, K, 1.0f, delta.ptr(), K, G, K, 0.0f, tmp.data(), R);
    for (int u = 0; u < P; ++u)
      for (int r = 0; r < R; ++r)
        score[static_cast<size_t>(u) * g.n_recv + recv0 + r] += w * tmp[static_cast<size_t>(u) * R + r];
  };
  const int64_t BT = K / D;
  const Hook letters[3] = {Hook::q_input, Hook::k_input, Hook::v_input};
  pack.resize(static_cast<size_t>(3 * g.H) * K);
  for (int l = 0; l < g.L; ++l) {
    for (int x = 0; x < 3; ++x) {  // [B,T,n,D] -> pack[x*H + h] = [B*T*D]; GQA: n = Hk heads
      const Tensor& gr = grads.at(HookPoint{letters[x], l}.name());
      const int64_t n = gr.dim(2), group = g.H / n;
      for (int h = 0; h < g.H; ++h) {
        float* dst = pack.data() + static_cast<int64_t>(x * g.H + h) * K;
        for (int64_t i = 0; i < BT; ++i)
          std::memcpy(dst + i * D, gr.ptr() + (i * n + h / group) * D, D * sizeof(float));
      }
    }
    contract(g.head_prefix(l), 3 * g.H, pack.data(), g.head_recv(l, 0, 0));
    if (g.M)
      contract(g.mlp_prefix(l), 1, grads.at(HookPoint{Hook::mlp_in, l}.name()).ptr(), g.mlp_recv(l));
  }
  contract(g.n_send, 1, grads.at(HookPoint{Hook::resid_post, g.L - 1}.name()).ptr(), g.out_recv());
}

std::string head_name(int l, int h) { return "a" + HeadId{l, h}.str(); }

}  // namespace

EdgeAttribution edge_attribution(const Model& m, const TokenizedTask& task,
                                 const MethodSettings& s, int ig_steps) {
  const ModelConfig& c = m.cfg;
  if (ig_steps < 0) throw Error("EAP-IG: steps must be at least 1, got " + std::to_string(ig_steps));
  if (c.post_norms)  // a^abl - a^clean of a head is not what its edge adds to the residual stream
    throw Error("EAP: " + c.family + " normalises the sum of its heads (and its MLP's output) before "
                "adding it to the residual stream (post-norms), so a head's edge is not separable; "
                "use a node-level method (discover, activation patching, HISP)");
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(s.n_prompts, 0)), task.size());
  if (n == 0) throw Error("EAP: the task has no prompts");
  const Layout g(c);
  const int64_t D = c.d_model;

  int64_t T_max = 1;
  for (size_t i = 0; i < n; ++i) T_max = std::max<int64_t>(T_max, static_cast<int64_t>(task.clean[i].size()));
  size_t batch = n;
  if (s.params.count("batch")) {
    batch = static_cast<size_t>(std::max(1.0, s.param("batch", 1)));
  } else {  // sender differences + receiver gradients (+ packed copies) per prompt
    const double per_prompt = 4.0 * T_max * D * (g.n_send + 2.0 * g.n_recv);
    const double budget = s.param("memory_mb", 1024) * 1048576.0;
    batch = static_cast<size_t>(std::clamp(std::floor(budget / per_prompt), 1.0, static_cast<double>(n)));
  }
  const int k0 = static_cast<int>(s.param("ig_k0", 0));

  EdgeAttribution r;
  SenderMeans means;
  if (s.ablation == AblationKind::Mean) means = sender_means(m, g, task, n, batch, &r.forward_passes);

  BackwardRequest req;
  for (int l = 0; l < c.n_layers; ++l) {
    for (Hook h : {Hook::q_input, Hook::k_input, Hook::v_input}) req.points.push_back({h, l});
    if (g.M) req.points.push_back({Hook::mlp_in, l});
  }
  req.points.push_back({Hook::resid_post, c.n_layers - 1});

  std::vector<double> score(static_cast<size_t>(g.n_send) * g.n_recv, 0.0);
  const double scale = 1.0 / static_cast<double>(n);  // M is the mean over all n prompts
  double metric_sum = 0;
  for (size_t first = 0; first < n; first += batch) {
    const size_t nb = std::min(batch, n - first);
    const Batch clean = clean_batch(task, first, nb);
    const int64_t BT = int64_t{clean.B} * clean.T, K = BT * D;
    ++r.batches;

    // delta[u] = a_u^abl - a_u^clean, [S, K]
    Tensor delta({g.n_send, K});
    auto accumulate = [&](float sign) -> SenderFn {
      return [&delta, K, D, sign](int u, int64_t bt, const float* x) {
        float* d = delta.ptr() + u * K + bt * D;
        for (int64_t j = 0; j < D; ++j) d[j] += sign * x[j];
      };
    };
    if (s.ablation == AblationKind::Resample) {
      const Batch corrupt = corrupt_batch(task, first, nb);
      for (int b = 0; b < clean.B; ++b)
        if (corrupt.lengths[b] != clean.lengths[b])
          throw Error("EAP: corrupt prompt " + std::to_string(first + b) + " has " +
                      std::to_string(corrupt.lengths[b]) + " tokens, its clean prompt " +
                      std::to_string(clean.lengths[b]) + ": patching pairs them position by position");
      Hooks hooks;
      add_sender_hooks(hooks, g, D, accumulate(+1.0f));
      forward(m, corrupt, &hooks, {LogitsAt::None});
      ++r.forward_passes;
    } else if (s.ablation == AblationKind::Mean) {
      for (int u = 0; u < g.n_send; ++u)
        for (int64_t i = 0; i < BT; ++i) {
          const int64_t t = i % clean.T;
          const float* src = t < means.T ? means.mean.data() + (t * g.n_send + u) * D
                                         : means.fallback.data() + u * D;
          std::memcpy(delta.ptr() + u * K + i * D, src, D * sizeof(float));
        }
    }
    Hooks clean_hooks;
    add_sender_hooks(clean_hooks, g, D, accumulate(-1.0f));
    const std::vector<int32_t> vocab = metric_vocab(task, first, nb);

    if (ig_steps == 0) {  // EAP: gradients of the clean run
      ForwardRecord rec;
      Tensor logits = forward_record(m, clean, &rec, &clean_hooks, vocab, clean.last_positions());
      ++r.forward_passes;
      Tensor dl = metric_dlogits(task, logits, first, vocab, scale, &metric_sum);
      ActivationCache grads;
      backward(m, rec, dl, nullptr, req, &grads);
      ++r.backward_passes;
      add_scores(g, delta, grads, K, D, 1.0, score);
      continue;
    }
    // EAP-IG: gradients averaged over inputs e^abl + (k/m)(e^clean - e^abl) = e^clean + (1 - k/m) delta[input]
    Tensor clean_logits = forward(m, clean, &clean_hooks, {LogitsAt::Last});
    ++r.forward_passes;
    std::vector<double> values;
    task_metric_grad(task, clean_logits, first, {}, scale, &values);
    for (double v : values) metric_sum += v;
    for (int k = k0; k < k0 + ig_steps; ++k) {
      const float beta = 1.0f - static_cast<float>(k) / static_cast<float>(ig_steps);
      Hooks interp;
      interp.add({Hook::embed, -1}, [&delta, K, beta](const HookPoint&, Tensor& t) {
        const float* d = delta.ptr();  // sender 0: the input
        for (int64_t i = 0; i < K; ++i) t.data[i] += beta * d[i];
      });
      ForwardRecord rec;
      Tensor logits = forward_record(m, clean, &rec, &interp, vocab, clean.last_positions());
      ++r.forward_passes;
      Tensor dl = metric_dlogits(task, logits, first, vocab, scale, nullptr);
      ActivationCache grads;
      backward(m, rec, dl, nullptr, req, &grads);
      ++r.backward_passes;
      add_scores(g, delta, grads, K, D, 1.0 / ig_steps, score);
    }
  }
  r.clean_metric = metric_sum * scale;

  // Names, edges, and their scores.
  std::map<std::string, int> send_idx, recv_idx;
  r.nodes.push_back("input");
  for (int l = 0; l < c.n_layers; ++l) {
    for (int h = 0; h < c.n_heads; ++h) {
      r.nodes.push_back(head_name(l, h));
      for (int x = 0; x < 3; ++x) recv_idx[head_name(l, h) + "." + "qkv"[x]] = g.head_recv(l, x, h);
    }
    if (g.M) {
      r.nodes.push_back("m" + std::to_string(l));
      recv_idx["m" + std::to_string(l)] = g.mlp_recv(l);
    }
  }
  recv_idx["output"] = g.out_recv();
  for (int u = 0; u < g.n_send; ++u) send_idx[r.nodes[u]] = u;
  r.node_signed.assign(g.n_send, 0.0);
  for (int u = 0; u < g.n_send; ++u)
    for (int v = 0; v < g.n_recv; ++v) r.node_signed[u] += score[static_cast<size_t>(u) * g.n_recv + v];

  r.edges = full_graph_edges(c.n_layers, c.n_heads, g.M == 1);
  const size_t E = r.edges.size();
  r.edge_signed.assign(E, 0.0);
  r.edge_abs.assign(E, 0.0);
  std::vector<double> in_sum(g.n_recv, 0.0), in_max(g.n_recv, 0.0);
  std::vector<size_t> internal;
  for (size_t e = 0; e < E; ++e) {
    auto u = send_idx.find(r.edges[e].from);
    auto v = recv_idx.find(r.edges[e].to);
    if (u == send_idx.end() || v == recv_idx.end()) {
      internal.push_back(e);
      continue;
    }
    const double sc = score[static_cast<size_t>(u->second) * g.n_recv + v->second];
    r.edge_signed[e] = sc;
    r.edge_abs[e] = std::fabs(sc);
    in_sum[v->second] += sc;
    in_max[v->second] = std::max(in_max[v->second], std::fabs(sc));
  }
  for (size_t e : internal) {  // "aL.H.x" -> "aL.H"
    auto v = recv_idx.find(r.edges[e].from);
    if (v == recv_idx.end() || !is_head_internal_edge(r.edges[e]))
      throw Error("EAP: unexpected edge " + r.edges[e].from + " -> " + r.edges[e].to);
    r.edge_signed[e] = in_sum[v->second];
    r.edge_abs[e] = in_max[v->second];
  }
  return r;
}

MethodResult to_method_result(const EdgeAttribution& a, const std::string& method, int n_layers,
                              int n_heads, const MethodSettings& s) {
  const int mode = static_cast<int>(s.param("head_score", 0));
  if (mode != 0 && mode != 1)
    throw Error(method + ": head_score must be 0 (node attribution) or 1 (edge sum), got " +
                std::to_string(mode));
  MethodResult r;
  r.method = method;
  std::map<std::string, size_t> node_idx;
  for (size_t i = 0; i < a.nodes.size(); ++i) node_idx[a.nodes[i]] = i;
  r.head_scores.assign(static_cast<size_t>(n_layers) * n_heads, 0.0);
  for (int l = 0; l < n_layers; ++l)
    for (int h = 0; h < n_heads; ++h)
      r.head_scores[static_cast<size_t>(l) * n_heads + h] = std::fabs(a.node_signed[node_idx.at(head_name(l, h))]);
  if (mode == 1) {
    std::fill(r.head_scores.begin(), r.head_scores.end(), 0.0);
    std::map<std::string, size_t> head_of;  // "aL.H" and "aL.H.q/k/v" -> head index
    for (int l = 0; l < n_layers; ++l)
      for (int h = 0; h < n_heads; ++h) {
        const size_t i = static_cast<size_t>(l) * n_heads + h;
        head_of[head_name(l, h)] = i;
        for (const char* x : {".q", ".k", ".v"}) head_of[head_name(l, h) + x] = i;
      }
    for (size_t e = 0; e < a.edges.size(); ++e) {
      if (is_head_internal_edge(a.edges[e])) continue;
      const double v = std::fabs(a.edge_signed[e]);
      if (auto it = head_of.find(a.edges[e].from); it != head_of.end()) r.head_scores[it->second] += v;
      if (auto it = head_of.find(a.edges[e].to); it != head_of.end()) r.head_scores[it->second] += v;
    }
  }
  r.edges = a.edges;
  r.edge_scores = a.edge_abs;
  for (size_t i = 0; i < a.nodes.size(); ++i)
    if (a.nodes[i][0] == 'm') r.stats["mlp." + a.nodes[i].substr(1)] = std::fabs(a.node_signed[i]);
  r.stats["input"] = std::fabs(a.node_signed.at(0));
  r.stats["clean_metric"] = a.clean_metric;
  r.stats["forward_passes"] = a.forward_passes;
  r.stats["backward_passes"] = a.backward_passes;
  return r;
}

MethodResult eap(const Model& m, const TokenizedTask& task, const MethodSettings& s) {
  const Timer timer;
  MethodResult r = to_method_result(edge_attribution(m, task, s, 0), "eap", m.cfg.n_layers,
                                    m.cfg.n_heads, s);
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
